"""Composite anchor task: the complexity-control benchmark.

Zhang et al. 2024, "Initialization is critical to whether transformers fit composite
functions by reasoning or memorizing" (arXiv 2405.05409). A sequence holds a key
``x`` followed by two adjacent anchors ``a1, a2`` somewhere in a run of noise tokens; the
answer ``g(g(x; a1); a2)`` is predicted at the last position. Each anchor adds a fixed shift,
so the answer is ``x + s(a1) + s(a2)``.

Vocabulary layout (``VOCAB_SIZE`` = 128):

- token 0 is unused (padding);
- tokens 1..4 are the anchors a, b, c, d (``ANCHOR_SHIFTS``);
- tokens 20..99 are keys and noise (``KEY_LOW``..``KEY_HIGH``);
- answers span 20 - 16 = 4 .. 99 + 10 = 109, so 128 covers every target.

The pairs (c, d) and (d, c) are never trained (``OOD_PAIRS``); train and the in-distribution
test share the other 14 ordered pairs (``ID_PAIRS``) but no sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from configs.data import ANCHOR_VOCAB_SIZE

IntArray = npt.NDArray[np.int64]

VOCAB_SIZE = ANCHOR_VOCAB_SIZE
"""Model vocabulary size (defined in configs, which counts FLOPs with it)."""

KEY_LOW = 20
"""Smallest key/noise token (inclusive)."""

KEY_HIGH = 99
"""Largest key/noise token (inclusive)."""

ANCHOR_SHIFTS: dict[int, int] = {1: 5, 2: 1, 3: -2, 4: -8}
"""Anchor token -> additive shift: a=1 -> +5, b=2 -> +1, c=3 -> -2, d=4 -> -8 (docs/architecture.md)."""

OOD_PAIRS: tuple[tuple[int, int], ...] = ((3, 4), (4, 3))
"""Ordered anchor pairs never seen in training: (c, d) and (d, c)."""

ID_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (p, q) for p in ANCHOR_SHIFTS for q in ANCHOR_SHIFTS if (p, q) not in OOD_PAIRS
)
"""The 14 ordered anchor pairs shared by train and the in-distribution test."""

MIN_SEQ_LEN = 4

# Lookup table token -> shift, so targets are one vectorized gather.
_SHIFT_TABLE = np.zeros(max(ANCHOR_SHIFTS) + 1, dtype=np.int64)
for _token, _shift in ANCHOR_SHIFTS.items():
    _SHIFT_TABLE[_token] = _shift

# Rejection sampling of the disjoint ID test: rounds before giving up, and the largest
# candidate batch per round (bounds memory when almost every ID sequence is in train).
_MAX_DEDUP_ROUNDS = 64
_MAX_DEDUP_DRAW = 4_000_000


@dataclass(frozen=True, eq=False)  # eq=False: field-wise == on arrays is ambiguous.
class TokenSet:
    """A batch of anchor-task sequences with their answers and generating factors.

    Attributes:
        inputs: Token ids, shape (n, seq_len).
        targets: Answer token predicted at the last position, shape (n,).
        pairs: Anchor tokens (a1, a2) in sequence order, shape (n, 2).
        keys: Key token x, shape (n,).
        anchor_pos: Position of the first anchor a1 (the key sits one before), shape (n,).
    """

    inputs: IntArray
    targets: IntArray
    pairs: IntArray
    keys: IntArray
    anchor_pos: IntArray

    def __post_init__(self) -> None:
        n = self.inputs.shape[0]
        if self.inputs.ndim != 2 or self.pairs.shape != (n, 2):
            raise ValueError(
                f"inputs {self.inputs.shape} must be (n, seq_len) and pairs {self.pairs.shape} "
                f"must be (n, 2) with the same n; build TokenSets with make_anchor_splits"
            )
        for name in ("targets", "keys", "anchor_pos"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"{name} has shape {getattr(self, name).shape} but inputs hold {n} "
                    f"sequences; every per-sequence field must have shape ({n},)"
                )

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass(frozen=True, eq=False)
class AnchorSplits:
    """The three evaluation splits of the anchor task.

    Attributes:
        train: Sequences over ``ID_PAIRS``.
        id_test: Sequences over ``ID_PAIRS``, none equal to any train sequence.
        ood_test: Sequences over ``OOD_PAIRS`` only.
    """

    train: TokenSet
    id_test: TokenSet
    ood_test: TokenSet


def compose_targets(keys: IntArray, pairs: IntArray) -> IntArray:
    """Apply both anchors to the keys: ``g(g(x; a1); a2) = x + s(a1) + s(a2)``.

    Args:
        keys: Key tokens, shape (n,).
        pairs: Anchor tokens, shape (n, 2).

    Returns:
        Answer tokens, shape (n,).
    """
    return keys + _SHIFT_TABLE[pairs[:, 0]] + _SHIFT_TABLE[pairs[:, 1]]


def _sample_tokens(
    num: int, seq_len: int, pair_table: IntArray, rng: np.random.Generator
) -> TokenSet:
    """Draw ``num`` sequences with anchor pairs uniform over the rows of ``pair_table``."""
    inputs = rng.integers(KEY_LOW, KEY_HIGH + 1, size=(num, seq_len), dtype=np.int64)
    # Key at i, anchors at i+1 and i+2 <= seq_len-1: i is uniform on 0..seq_len-3.
    key_pos = rng.integers(0, seq_len - 2, size=num, dtype=np.int64)
    pairs = pair_table[rng.integers(0, len(pair_table), size=num)]
    rows = np.arange(num)
    # The key is the noise token already drawn at key_pos: same uniform law, one draw fewer.
    keys = inputs[rows, key_pos].copy()
    inputs[rows, key_pos + 1] = pairs[:, 0]
    inputs[rows, key_pos + 2] = pairs[:, 1]
    return TokenSet(inputs, compose_targets(keys, pairs), pairs, keys, key_pos + 1)


def _select(tokens: TokenSet, mask: npt.NDArray[np.bool_]) -> TokenSet:
    """Rows of ``tokens`` where ``mask`` holds."""
    return TokenSet(
        tokens.inputs[mask],
        tokens.targets[mask],
        tokens.pairs[mask],
        tokens.keys[mask],
        tokens.anchor_pos[mask],
    )


def _concat(parts: list[TokenSet]) -> TokenSet:
    """Stack token sets row-wise."""
    return TokenSet(
        *(
            np.concatenate([getattr(p, name) for p in parts])
            for name in ("inputs", "targets", "pairs", "keys", "anchor_pos")
        )
    )


def _row_keys(inputs: IntArray) -> npt.NDArray[np.void]:
    """One opaque byte-string per row so ``np.isin`` compares whole sequences exactly."""
    # Every token is < 128, so uint8 is lossless and makes the rows short to sort.
    packed = np.ascontiguousarray(inputs.astype(np.uint8))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def _count_distinct_sequences(seq_len: int, num_pairs: int) -> int:
    """Distinct sequences over ``num_pairs`` pairs: positions x pairs x (key + noise) fills."""
    # Anchors (1..4) never collide with key/noise (20..99), so the factors are independent.
    return (seq_len - 2) * num_pairs * (KEY_HIGH - KEY_LOW + 1) ** (seq_len - 2)


def _num_unseen_sequences(seq_len: int, train_keys: npt.NDArray[np.void]) -> int:
    """ID sequences outside the train set (a lower bound when it already shows plenty)."""
    space = _count_distinct_sequences(seq_len, len(ID_PAIRS))
    if 2 * len(train_keys) <= space:
        # Repeats in train only add room; the bound already leaves >= half the space.
        return space - len(train_keys)
    return space - int(np.unique(train_keys).size)


def _sample_disjoint(
    num: int, seq_len: int, train: TokenSet, rng: np.random.Generator
) -> TokenSet:
    """Rejection-sample ``num`` ID sequences that equal no train sequence.

    Raises:
        ValueError: If fewer than ``num`` ID sequences lie outside the train set.
    """
    train_keys = _row_keys(train.inputs)
    space = _count_distinct_sequences(seq_len, len(ID_PAIRS))
    unseen = _num_unseen_sequences(seq_len, train_keys)
    if num > unseen:
        raise ValueError(
            f"num_test ({num}) exceeds the {unseen} ID sequences outside the num_train "
            f"({len(train)}) train sequences (seq_len {seq_len} allows only {space} distinct "
            f"ID sequences); lower data.num_train or data.num_test, or raise data.seq_len"
        )
    # Size each round by the acceptance rate so a crowded space needs few rounds.
    acceptance = unseen / space
    pair_table = np.asarray(ID_PAIRS, dtype=np.int64)
    kept: list[TokenSet] = []
    num_kept = 0
    for _ in range(_MAX_DEDUP_ROUNDS):
        num_draw = min(int(2 * (num - num_kept) / acceptance) + 1024, _MAX_DEDUP_DRAW)
        draw = _sample_tokens(num_draw, seq_len, pair_table, rng)
        fresh = _select(draw, ~np.isin(_row_keys(draw.inputs), train_keys))
        kept.append(fresh)
        num_kept += len(fresh)
        if num_kept >= num:
            return _select(_concat(kept), np.arange(num_kept) < num)
    raise ValueError(
        f"drew only {num_kept} of num_test ({num}) ID-test sequences outside the train set "
        f"in {_MAX_DEDUP_ROUNDS} rounds ({unseen} of {space} ID sequences are unseen); "
        f"lower data.num_train or data.num_test, or raise data.seq_len"
    )


def _check_split_args(num_train: int, num_test: int, seq_len: int) -> None:
    """Reject split sizes and lengths the task cannot hold."""
    if seq_len < MIN_SEQ_LEN:
        raise ValueError(
            f"seq_len ({seq_len}) must be ≥ {MIN_SEQ_LEN} to hold key + anchor pair + "
            f"answer position; raise data.seq_len"
        )
    if num_train < 1:
        raise ValueError(f"num_train ({num_train}) must be ≥ 1; raise data.num_train")
    if num_test < 1:
        raise ValueError(f"num_test ({num_test}) must be ≥ 1; raise data.num_test")


def make_anchor_splits(num_train: int, num_test: int, seq_len: int, seed: int) -> AnchorSplits:
    """Build the train / ID-test / OOD-test splits of the composite anchor task.

    Anchor pairs are uniform over ``ID_PAIRS`` (train, ID test) or ``OOD_PAIRS`` (OOD test);
    the key position, key and noise are uniform. Each split draws from its own child of
    ``SeedSequence(seed)``, so the train set does not depend on ``num_test``.

    Args:
        num_train: Number of training sequences.
        num_test: Number of sequences in each of the ID and OOD test splits.
        seq_len: Sequence length (the paper uses 9).
        seed: Seed of every random draw; equal seeds give equal splits.

    Returns:
        The three splits; ID test and train share no sequence.

    Raises:
        ValueError: If ``seq_len`` < 4, a count is < 1, or the ID sequence space is too
            small to hold ``num_test`` sequences outside the train set.
    """
    _check_split_args(num_train, num_test, seq_len)
    train_rng, id_rng, ood_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    id_table = np.asarray(ID_PAIRS, dtype=np.int64)
    train = _sample_tokens(num_train, seq_len, id_table, train_rng)
    id_test = _sample_disjoint(num_test, seq_len, train, id_rng)
    ood_table = np.asarray(OOD_PAIRS, dtype=np.int64)
    ood_test = _sample_tokens(num_test, seq_len, ood_table, ood_rng)
    return AnchorSplits(train=train, id_test=id_test, ood_test=ood_test)


def swap_anchor_pair(tokens: TokenSet) -> TokenSet:
    """The same sequences with the two anchors swapped; key and noise held fixed.

    Used for commutativity on OOD pairs: (c, d) becomes (d, c). Since shifts add, the
    recomputed targets equal the original ones.

    Args:
        tokens: Sequences to swap.

    Returns:
        A new TokenSet; ``tokens`` is not modified.
    """
    rows = np.arange(len(tokens))
    swapped = tokens.pairs[:, ::-1].copy()
    inputs = tokens.inputs.copy()
    inputs[rows, tokens.anchor_pos] = swapped[:, 0]
    inputs[rows, tokens.anchor_pos + 1] = swapped[:, 1]
    targets = compose_targets(tokens.keys, swapped)
    return TokenSet(inputs, targets, swapped, tokens.keys.copy(), tokens.anchor_pos.copy())
