"""N, D, C (configs/metrics.py) against counts written out by hand, and the metric keys."""

from __future__ import annotations

import re

import pytest

from configs import TrialConfig
from configs import metrics as M

# (n_layer, d_model, d_ff, N) with the per-block arithmetic in the comment:
#   attention 4·d² + 4·d, MLP 2·d·d_ff + d_ff + d, two LayerNorms 4·d; final LayerNorm 2·d.
NUM_PARAMS = [
    # attn 4·64²+4·64 = 16,640; MLP 2·64·256+256+64 = 33,088; norms 256 → 49,984/block;
    # 2·49,984 + 128 = 100,096.
    (2, 64, 256, 100_096),
    # gpt_debug: attn 4·16²+64 = 1,088; MLP 2·16·64+64+16 = 2,128; norms 64 → 3,280; + 32.
    (1, 16, 64, 3_312),
    # gpt_anchor_reference: attn 4·400²+1,600 = 641,600; MLP 2·400·1200+1200+400 = 961,600;
    # norms 1,600 → 1,604,800/block; 2·1,604,800 + 800 = 3,210,400.
    (2, 400, 1200, 3_210_400),
    # attn 4·8²+32 = 288; MLP 2·8·8+8+8 = 144; norms 32 → 464/block; 3·464 + 16 = 1,408.
    (3, 8, 8, 1_408),
]

# (n_layer, d_model, d_ff, seq_len, vocab, flops per token)
#   = 6·(N + d_model·vocab) + 6·n_layer·seq_len·d_model: weights incl. the head, plus attention.
FLOPS_PER_TOKEN = [
    # head 64·256 = 16,384; 6·(100,096 + 16,384) = 698,880; attention 6·2·9·64 = 6,912.
    (2, 64, 256, 9, 256, 705_792),
    # head 16·64 = 1,024; 6·(3,312 + 1,024) = 26,016; attention 6·1·16·16 = 1,536.
    (1, 16, 64, 16, 64, 27_552),
    # head 400·128 = 51,200; 6·(3,210,400 + 51,200) = 19,569,600; attention 6·2·9·400 = 43,200.
    (2, 400, 1200, 9, 128, 19_612_800),
    # head 8·8 = 64; 6·1,472 = 8,832; attention 6·3·100·8 = 14,400 (dominates a wide context).
    (3, 8, 8, 100, 8, 23_232),
]


@pytest.mark.parametrize("n_layer, d_model, d_ff, expected", NUM_PARAMS)
def test_num_params(n_layer: int, d_model: int, d_ff: int, expected: int) -> None:
    assert M.num_params(n_layer, d_model, d_ff) == expected


@pytest.mark.parametrize("n_layer, d_model, d_ff, seq_len, vocab, expected", FLOPS_PER_TOKEN)
def test_flops_per_token(n_layer: int, d_model: int, d_ff: int, seq_len: int, vocab: int, expected: int) -> None:
    assert M.flops_per_token(n_layer, d_model, d_ff, seq_len, vocab) == expected


def test_head_share_at_d_model_32() -> None:
    # Porian et al. 2024: without the head, C is badly understated for small models. At d32,
    # 2 layers, d_ff 128, vocab 256: N = 2·(4,224 + 8,352 + 128) + 64 = 25,472; head 8,192.
    with_head = M.flops_per_token(2, 32, 128, 1, 256) - 6 * 2 * 1 * 32
    assert with_head == 6 * (25_472 + 8_192)
    assert 1 - 6 * 25_472 / with_head == pytest.approx(0.243, abs=1e-3)  # 24 % of the weight FLOPs


def test_compute_flops_is_per_token_times_tokens() -> None:
    # 705,792 FLOPs/token × 1,000 tokens.
    assert M.compute_flops(2, 64, 256, 9, 256, 1_000) == 705_792_000
    assert M.compute_flops(1, 16, 64, 16, 64, 0) == 0


def test_6nd_is_a_named_alternative() -> None:
    assert M.FLOPS_CONVENTIONS == ("scalinglab", "6nd")
    assert M.flops_6nd(100_096, 10) == 6_005_760


def test_trial_n_d_c() -> None:
    # The demo sweep's shape: gpt_anchor (2 × 64 × 256), seq 9, 1200 steps of 512 sequences.
    trial = TrialConfig.model_validate(
        {
            "model": {"n_layer": 2, "d_model": 64, "d_ff": 256},
            "data": {"seq_len": 9},
            "train": {"num_steps": 1200, "batch_size": 512, "eval_every": 100, "checkpoint_every": 400},
        }
    )
    assert trial.num_params == 100_096
    assert trial.num_tokens == 5_529_600  # 1200 · 512 · 9
    # The anchor task computes logits at the last position only: per token 6·100,096 + 6,912
    # (attention) = 607,488 → 3,359,165,644,800; plus the head once per sequence,
    # 6·64·128 = 49,152 × 614,400 sequences = 30,198,988,800.
    assert trial.compute_flops == pytest.approx(3_389_364_633_600, rel=1e-12)


def test_language_model_counts_the_head_at_every_position() -> None:
    trial = TrialConfig.model_validate(
        {"model": {"n_layer": 2, "d_model": 64, "d_ff": 256},
         "data": {"task": "markov", "seq_len": 9, "vocab_size": 256, "num_train": None},
         "train": {"num_steps": 10, "batch_size": 4, "eval_every": 5, "checkpoint_every": 10},
         "optim": {"warmup_steps": 2}}
    )
    assert trial.compute_flops == 705_792 * 10 * 4 * 9


def test_trial_n_d_c_ignore_micro_batch_and_heads() -> None:
    # N, D and C depend on shape and tokens only, not on how a batch is split or on n_head.
    base = {"model": {"n_layer": 1, "d_model": 16, "d_ff": 64}, "data": {"seq_len": 16},
            "train": {"num_steps": 10, "batch_size": 8, "eval_every": 5, "checkpoint_every": 10},
            "optim": {"warmup_steps": 2}}
    a = TrialConfig.model_validate(base)
    b = TrialConfig.model_validate({**base, "model": {**base["model"], "n_head": 4},
                                    "train": {**base["train"], "micro_batch_size": 2}})
    # Per token 6·3,312 + 6·16·128/16 (head at the last of 16 positions) + 6·16·16 = 22,176.
    assert (a.num_params, a.num_tokens, a.compute_flops) == (3_312, 1_280, 28_385_280)
    assert (b.num_params, b.num_tokens, b.compute_flops) == (a.num_params, a.num_tokens, a.compute_flops)


def test_metric_keys_are_slash_namespaced_and_unique() -> None:
    keys = {name: value for name, value in vars(M).items() if name.isupper() and isinstance(value, str)}
    metric_keys = {n: v for n, v in keys.items() if not n.startswith(("TAG_", "FLOPS_")) and n != "TRIAL_CONFIG_ARTIFACT"}
    for name, key in metric_keys.items():
        assert re.fullmatch(r"[a-z_]+/[a-z0-9_/]*", key), f"{name} = {key!r}"
    assert len(set(metric_keys.values())) == len(metric_keys)
    assert len(set(keys.values())) == len(keys)


def test_key_helpers() -> None:
    assert M.distortion_key("lang0") == "distortion/lang0"
    assert M.ood_pair_key(3, 4) == "task/ood_acc/3_4"
