"""Synthetic language for scaling ladders: sparse Markov sources with exact entropy rates.

Each source is a first-order Markov chain over ``vocab_size`` tokens. Row i of the transition
matrix puts Zipf weights ``rank^-zipf_exponent`` on a random support of ``support`` tokens
and mixes in a small ``backbone_weight`` spread over a per-source backbone: a self-loop plus
one step along a random Hamiltonian cycle through all tokens. The cycle makes the chain
irreducible and the self-loops make it aperiodic, whatever the random supports are, so the
stationary distribution pi is unique and sequences started from pi are stationary.

Everything is computed exactly from the final matrix, backbone included:
``H = sum_i pi_i * H(P_i.)`` nats/token. Since ``sample`` draws the first token from pi, every
next-token prediction x_t -> x_{t+1} has true conditional entropy exactly H given the previous
token (the source is first-order, so the longer context adds nothing), so H is the floor of
the per-token loss and a fitted irreducible term can be checked against it (docs/architecture.md,
"Synthetic language task"). Several sources sharing a vocabulary act as several domains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_VOCAB_SIZE = 512
"""Vocabulary of the scaling-ladder language: small enough that embeddings stay a minor
share of N for the smallest ladder models."""

DEFAULT_SUPPORT = 32
"""Successors per token: sparse enough that the source has learnable structure."""

DEFAULT_ZIPF_EXPONENT = 1.1
"""Zipf exponent of each row's weights, close to natural-language word frequencies."""

DEFAULT_BACKBONE_WEIGHT = 0.01
"""Probability mass each row gives its backbone (self-loop + cycle successor)."""

_ROW_SUM_TOL = 1e-9  # Row sums this far from 1 are user errors, not float rounding.
_STATIONARY_TOL = 1e-12  # max |pi P - pi| accepted from the linear solve.


@dataclass(frozen=True, eq=False)  # eq=False: field-wise == on arrays is ambiguous.
class MarkovSource:
    """An ergodic first-order Markov source whose entropy rate is computed exactly.

    Construct it from a transition matrix; the stationary distribution, the entropy rate
    and the sampling tables are derived in ``__post_init__`` so they cannot disagree.

    Attributes:
        transition: Row-stochastic matrix, ``transition[i, j] = P(next=j | current=i)``,
            shape (V, V).
        stationary: The unique pi with ``pi @ transition == pi``, shape (V,).
        entropy_rate_nats: ``sum_i pi_i H(transition[i])``, the per-token loss floor.

    Raises:
        ValueError: If ``transition`` is not square, not row-stochastic, reducible or
            periodic.
    """

    transition: FloatArray
    stationary: FloatArray = field(init=False)
    entropy_rate_nats: float = field(init=False)
    _first_cdf: FloatArray = field(init=False, repr=False)  # (V,)
    _next_tokens: IntArray = field(init=False, repr=False)  # (V, K) nonzero columns per row
    _next_cdf: FloatArray = field(init=False, repr=False)  # (V, K), padded with 2.0

    def __post_init__(self) -> None:
        transition = np.asarray(self.transition, dtype=np.float64)
        _check_stochastic(transition)
        _check_ergodic(transition)
        stationary = _solve_stationary(transition)
        next_tokens, next_cdf = _compact_cdf(transition)
        from scipy.special import entr  # here, not at the top: every trial imports this module

        values = {
            "transition": transition,
            "stationary": stationary,
            "entropy_rate_nats": float(stationary @ entr(transition).sum(axis=1)),
            "_first_cdf": _normalized_cumsum(stationary),
            "_next_tokens": next_tokens,
            "_next_cdf": next_cdf,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)  # Frozen: derived fields are set once here.

    @property
    def vocab_size(self) -> int:
        """Number of tokens V."""
        return int(self.transition.shape[0])

    def sample(self, num_seqs: int, seq_len: int, rng: np.random.Generator) -> IntArray:
        """Draw stationary sequences by inverse-CDF sampling, vectorized across sequences.

        Args:
            num_seqs: Number of independent sequences.
            seq_len: Tokens per sequence.
            rng: Source of randomness; the output is a function of its state.

        Returns:
            Token ids, shape (num_seqs, seq_len); the first token is drawn from pi.

        Raises:
            ValueError: If ``num_seqs`` or ``seq_len`` is < 1.
        """
        _check_positive(num_seqs=num_seqs, seq_len=seq_len)
        uniforms = rng.random((num_seqs, seq_len))  # (B, T), each in [0, 1)
        tokens = np.empty((num_seqs, seq_len), dtype=np.int64)  # (B, T)
        # cdf[-1] is exactly 1.0 > u, so the index stays inside the vocabulary.
        tokens[:, 0] = np.searchsorted(self._first_cdf, uniforms[:, 0], side="right")
        for t in range(1, seq_len):
            cdf = self._next_cdf[tokens[:, t - 1]]  # (B, K)
            # Count of cdf entries <= u is the inverse-CDF index; padding (2.0) never counts.
            index = (cdf <= uniforms[:, t, None]).sum(axis=1)  # (B,)
            tokens[:, t] = self._next_tokens[tokens[:, t - 1], index]
        return tokens


def _check_positive(**counts: int) -> None:
    """Reject counts below 1, naming the argument."""
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} ({value}) must be ≥ 1; raise {name}")


def _check_stochastic(transition: FloatArray) -> None:
    """Reject matrices that are not square, finite, non-negative and row-stochastic."""
    if transition.ndim != 2 or transition.shape[0] != transition.shape[1]:
        raise ValueError(f"transition has shape {transition.shape}; it must be square (V, V)")
    if transition.shape[0] == 0 or not np.all(np.isfinite(transition)):
        raise ValueError("transition must be non-empty with finite entries")
    if transition.min() < 0:
        raise ValueError(f"transition has a negative entry ({transition.min():.3g})")
    worst = float(np.abs(transition.sum(axis=1) - 1.0).max())
    if worst > _ROW_SUM_TOL:
        raise ValueError(
            f"transition rows must sum to 1 (worst row is off by {worst:.3g}); normalize rows"
        )


def _check_ergodic(transition: FloatArray) -> None:
    """Reject reducible or periodic chains: their pi is not unique or not the limit."""
    # scipy.sparse costs ~0.13 s to import; only Markov trials pay it (each trial actor imports this module)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components, shortest_path

    graph = csr_matrix((transition > 0).astype(np.int8))
    num_classes, _ = connected_components(graph, directed=True, connection="strong")
    if num_classes > 1:
        raise ValueError(
            f"transition is reducible ({num_classes} strongly connected classes), so its "
            f"stationary distribution is not unique; raise backbone_weight above 0"
        )
    # For an irreducible chain the period is gcd over edges u->v of (d(u) + 1 - d(v)),
    # d = BFS depth from any root: every closed walk length is a sum of such terms.
    depth = shortest_path(graph, directed=True, unweighted=True, indices=0).astype(np.int64)
    rows, cols = graph.nonzero()
    period = int(np.gcd.reduce(np.abs(depth[rows] + 1 - depth[cols])))
    if period > 1:
        raise ValueError(
            f"transition is periodic (period {period}), so sequences started anywhere but pi "
            f"never settle; raise backbone_weight above 0 (its self-loops break periods)"
        )


def _solve_stationary(transition: FloatArray) -> FloatArray:
    """Solve ``pi (P - I) = 0, sum(pi) = 1`` exactly (unique for an irreducible chain)."""
    num_states = transition.shape[0]
    system = transition.T - np.eye(num_states)
    # One balance equation is redundant (columns of P - I sum to 0); normalization replaces it.
    system[-1, :] = 1.0
    rhs = np.zeros(num_states)
    rhs[-1] = 1.0
    stationary = np.linalg.solve(system, rhs)
    residual = float(np.abs(stationary @ transition - stationary).max())
    if residual > _STATIONARY_TOL or stationary.min() <= 0:
        raise RuntimeError(
            f"stationary solve is inaccurate (residual {residual:.3g}, min "
            f"{stationary.min():.3g}); the transition matrix is too ill-conditioned"
        )
    return stationary.astype(np.float64)


def _normalized_cumsum(weights: FloatArray) -> FloatArray:
    """Cumulative sum scaled so the last entry is exactly 1.0 (x / x == 1 in IEEE)."""
    cumulative = np.cumsum(weights, axis=-1)
    return cumulative / cumulative[..., -1:]


def _compact_cdf(transition: FloatArray) -> tuple[IntArray, FloatArray]:
    """Per-row nonzero columns and their CDF, padded to the widest row.

    Sampling over K << V nonzero entries keeps each step O(B * K), and excluding zero
    entries means a zero-probability token can never be drawn.
    """
    nonzero = transition > 0
    width = int(nonzero.sum(axis=1).max())
    # Stable sort puts each row's nonzero columns first, in column order.
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :width]  # (V, K)
    probs = np.take_along_axis(transition, order, axis=1)  # (V, K), zeros only in padding
    cdf = _normalized_cumsum(probs)  # (V, K); padding repeats 1.0 until replaced below
    padding = ~np.take_along_axis(nonzero, order, axis=1)
    cdf[padding] = 2.0  # Never <= u in [0, 1): padding is never selected.
    return order.astype(np.int64), cdf


def _check_source_args(
    vocab_size: int, support: int, zipf_exponent: float, backbone_weight: float
) -> None:
    """Reject source parameters that cannot define a sparse Zipf chain."""
    if vocab_size < 2:
        raise ValueError(f"vocab_size ({vocab_size}) must be ≥ 2; raise data.vocab_size")
    if not 1 <= support <= vocab_size:
        raise ValueError(
            f"support ({support}) must be in [1, vocab_size ({vocab_size})]; "
            f"set data.support inside that range"
        )
    if not (np.isfinite(zipf_exponent) and zipf_exponent >= 0):
        raise ValueError(f"zipf_exponent ({zipf_exponent}) must be finite and ≥ 0")
    if not 0 <= backbone_weight < 1:
        raise ValueError(f"backbone_weight ({backbone_weight}) must be in [0, 1)")


def _zipf_rows(
    vocab_size: int, support: int, zipf_exponent: float, rng: np.random.Generator
) -> FloatArray:
    """Rows with Zipf weights on a random support, ranks in random order."""
    # argsort of iid uniforms is a uniform random permutation per row: its first
    # `support` entries are a uniform subset without replacement, already in random rank order.
    columns = rng.random((vocab_size, vocab_size)).argsort(axis=1)[:, :support]  # (V, k)
    weights = np.arange(1, support + 1, dtype=np.float64) ** -zipf_exponent
    rows = np.zeros((vocab_size, vocab_size))
    rows[np.arange(vocab_size)[:, None], columns] = weights / weights.sum()
    return rows


def _backbone_rows(vocab_size: int, rng: np.random.Generator) -> FloatArray:
    """Half self-loop, half successor on one random cycle through every token."""
    cycle = rng.permutation(vocab_size)
    rows = np.zeros((vocab_size, vocab_size))
    rows[cycle, np.roll(cycle, -1)] += 0.5
    rows[np.arange(vocab_size), np.arange(vocab_size)] += 0.5
    return rows


def make_markov_source(
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    support: int = DEFAULT_SUPPORT,
    zipf_exponent: float = DEFAULT_ZIPF_EXPONENT,
    seed: int | np.random.SeedSequence = 0,
    backbone_weight: float = DEFAULT_BACKBONE_WEIGHT,
) -> MarkovSource:
    """Build a sparse Zipf Markov source: ``P = (1 - w) * Zipf + w * backbone``.

    Args:
        vocab_size: Number of tokens V.
        support: Tokens each row's Zipf part can move to (drawn without replacement).
        zipf_exponent: Exponent s of the weights ``rank^-s``; 0 gives uniform rows.
        seed: Seed of the supports, rank orders and backbone cycle.
        backbone_weight: Mass w moved to the backbone; > 0 guarantees ergodicity.

    Returns:
        The source, with exact stationary distribution and entropy rate.

    Raises:
        ValueError: On out-of-range arguments, or if ``backbone_weight`` is 0 and the
            Zipf part alone is reducible or periodic.
    """
    _check_source_args(vocab_size, support, zipf_exponent, backbone_weight)
    rng = np.random.default_rng(seed)
    zipf = _zipf_rows(vocab_size, support, zipf_exponent, rng)
    backbone = _backbone_rows(vocab_size, rng)
    return MarkovSource((1.0 - backbone_weight) * zipf + backbone_weight * backbone)


def make_language_domains(
    num_domains: int,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    support: int = DEFAULT_SUPPORT,
    zipf_exponent: float | Sequence[float] = DEFAULT_ZIPF_EXPONENT,
    seed: int = 0,
    backbone_weight: float = DEFAULT_BACKBONE_WEIGHT,
) -> list[MarkovSource]:
    """Several independent sources over one vocabulary: one per evaluation domain.

    Args:
        num_domains: Number of sources.
        vocab_size: Shared vocabulary size.
        support: Successors per token in every source.
        zipf_exponent: One exponent for all domains, or one per domain (domains with
            different exponents have different entropy rates).
        seed: Root seed; domain d uses child d of ``SeedSequence(seed)``.
        backbone_weight: Backbone mass of every source.

    Returns:
        ``num_domains`` sources.

    Raises:
        ValueError: If ``num_domains`` < 1 or the exponents do not match ``num_domains``.
    """
    _check_positive(num_domains=num_domains)
    exponents = np.atleast_1d(np.asarray(zipf_exponent, dtype=np.float64))
    if exponents.size == 1:
        exponents = np.repeat(exponents, num_domains)
    if len(exponents) != num_domains:
        raise ValueError(
            f"zipf_exponent has {len(exponents)} values but num_domains is {num_domains}; "
            f"give one exponent or one per domain"
        )
    seeds = np.random.SeedSequence(seed).spawn(num_domains)
    return [
        make_markov_source(vocab_size, support, float(s), child, backbone_weight)
        for s, child in zip(exponents, seeds)
    ]


def _check_weights(weights: Sequence[float] | FloatArray, num_sources: int) -> FloatArray:
    """Validate mixture weights: one per source, non-negative, summing to 1."""
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (num_sources,):
        raise ValueError(f"weights has shape {array.shape}; need one per source ({num_sources})")
    if not np.all(np.isfinite(array)) or array.min() < 0:
        raise ValueError(f"weights ({array.tolist()}) must be finite and non-negative")
    if abs(array.sum() - 1.0) > _ROW_SUM_TOL:
        raise ValueError(f"weights sum to {array.sum():.6g}; they must sum to 1")
    return array


def _check_sources(sources: Sequence[MarkovSource]) -> None:
    """Reject an empty domain list or domains on different vocabularies."""
    if not sources:
        raise ValueError("sources is empty; pass at least one MarkovSource")
    sizes = sorted({s.vocab_size for s in sources})
    if len(sizes) > 1:
        raise ValueError(f"sources have different vocab sizes {sizes}; domains must share one")


def mixture_entropy_rate(
    sources: Sequence[MarkovSource], weights: Sequence[float] | FloatArray
) -> float:
    """Per-token loss floor of a sequence-level domain mixture: ``sum_d w_d H_d``.

    This is exact for a predictor told each sequence's domain. A predictor that must infer
    the domain in context pays an extra ``I(domain; x_{t+1} | x_{<=t})`` at step t; summed
    over a sequence that extra is at most ``H(weights)`` nats, so it fades as 1/seq_len.

    Args:
        sources: One source per domain.
        weights: Probability of each domain; non-negative, summing to 1.

    Returns:
        The weighted entropy rate in nats/token.
    """
    _check_sources(sources)
    array = _check_weights(weights, len(sources))
    return float(array @ np.array([s.entropy_rate_nats for s in sources]))


def sample_domain_mixture(
    sources: Sequence[MarkovSource],
    num_seqs: int,
    seq_len: int,
    rng: np.random.Generator,
    weights: Sequence[float] | FloatArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Draw sequences whose domain is drawn per sequence from ``weights``.

    Args:
        sources: One source per domain, sharing a vocabulary.
        num_seqs: Number of sequences.
        seq_len: Tokens per sequence.
        rng: Source of randomness (domains first, then each domain's tokens).
        weights: Domain probabilities; uniform when None.

    Returns:
        ``(tokens, domain_ids)`` with shapes (num_seqs, seq_len) and (num_seqs,).
    """
    _check_sources(sources)
    _check_positive(num_seqs=num_seqs, seq_len=seq_len)
    probs = (
        np.full(len(sources), 1.0 / len(sources))
        if weights is None
        else _check_weights(weights, len(sources))
    )
    domain_ids = rng.choice(len(sources), size=num_seqs, p=probs).astype(np.int64)
    tokens = np.empty((num_seqs, seq_len), dtype=np.int64)
    for domain, source in enumerate(sources):
        rows = np.flatnonzero(domain_ids == domain)
        if rows.size:
            tokens[rows] = source.sample(rows.size, seq_len, rng)
    return tokens, domain_ids
