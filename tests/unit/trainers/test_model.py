"""The GPT decoder (trainers/model.py): γ-initialization (both schemes), parameter count, causality."""

from __future__ import annotations

import math

import pytest
import torch

from configs import InitConfig, ModelConfig
from configs import metrics as M
from trainers.model import GPT, build_model, init_stds, weight_matrices

# Confidence half-width in standard errors: a false failure has probability ~6e-7 per check.
Z_SCORE = 5.0
VOCAB, SEQ_LEN = 128, 16
WIDE = ModelConfig(n_layer=2, n_head=4, d_model=128, d_ff=512)


def expected_weight_names(n_layer: int) -> set[str]:
    names = {"tok_emb.weight", "pos_emb.weight", "head.weight"}
    for i in range(n_layer):
        names |= {f"blocks.{i}.attn.{m}.weight" for m in ("q", "k", "v", "proj")}
        names |= {f"blocks.{i}.mlp.{m}.weight" for m in ("fc", "out")}
    return names


def test_weight_matrices_are_every_matrix_gamma_applies_to() -> None:
    model = build_model(WIDE, InitConfig(), VOCAB, SEQ_LEN, seed=0)
    assert set(weight_matrices(model)) == expected_weight_names(WIDE.n_layer)


# σ of every weight matrix of STD_MODEL (d_model 128, d_ff 512, 3 layers), written out by hand:
# 128^-0.5 = 0.0883883, 512^-0.5 = 0.0441942, 128^-1 = 0.0078125, 512^-1 = 0.0019531;
# `reference` divides attn.proj and mlp.out by √(2·3) = 2.4494897:
# 0.0883883/2.4494897 = 0.0360844, 0.0078125/2.4494897 = 0.0031894, 0.02/2.4494897 = 0.0081650.
STD_MODEL = ModelConfig(n_layer=3, n_head=4, d_model=128, d_ff=512)
STD_VOCAB, STD_SEQ_LEN = 256, 128
MATRIX_KINDS = ("tok_emb", "pos_emb", "q", "k", "v", "proj", "fc", "out", "head")
STD_TABLE = {
    #                          tok_emb    pos_emb    q          k          v          proj       fc         out        head
    ("fan_in", 0.5, None):    (0.0883883, 0.0883883, 0.0883883, 0.0883883, 0.0883883, 0.0883883, 0.0883883, 0.0441942, 0.0883883),
    ("fan_in", 1.0, None):    (0.0078125, 0.0078125, 0.0078125, 0.0078125, 0.0078125, 0.0078125, 0.0078125, 0.0019531, 0.0078125),
    ("fan_in", 1.0, 0.02):    (0.02,      0.02,      0.02,      0.02,      0.02,      0.02,      0.02,      0.02,      0.02),
    ("reference", 0.5, None): (0.0883883, 0.0883883, 0.0883883, 0.0883883, 0.0883883, 0.0360844, 0.0883883, 0.0360844, 0.0883883),
    ("reference", 1.0, None): (0.0078125, 0.0078125, 0.0078125, 0.0078125, 0.0078125, 0.0031894, 0.0078125, 0.0031894, 0.0078125),
    ("reference", 1.0, 0.02): (0.02,      0.02,      0.02,      0.02,      0.02,      0.0081650, 0.02,      0.0081650, 0.02),
}
# Measured σ within 3 %: the smallest matrices (W_Q/K/V/O and the position table) hold
# 128·128 = 16,384 draws, so sqrt(mean(w²)) has relative standard error 1/sqrt(2n) = 0.55 %
# (delta method on a chi-square with n degrees of freedom; the mean is known to be 0) and
# 3 % is 5.4 standard errors. The draws are seeded, so the check is deterministic too.
STD_RTOL = 0.03


def matrix_kind(name: str) -> str:
    """`blocks.1.attn.q.weight` → `q`; `tok_emb.weight` → `tok_emb`."""
    return name.split(".")[-2]


@pytest.mark.parametrize("scheme, rate, std", STD_TABLE, ids=[f"{s}-γ{r}-std{d}" for s, r, d in STD_TABLE])
def test_init_std_of_every_matrix_matches_the_table(scheme: str, rate: float, std: float | None) -> None:
    init = InitConfig(scheme=scheme, rate=rate, std=std)  # type: ignore[arg-type]
    model = build_model(STD_MODEL, init, STD_VOCAB, STD_SEQ_LEN, seed=1)
    expected = dict(zip(MATRIX_KINDS, STD_TABLE[(scheme, rate, std)]))
    matrices = weight_matrices(model)
    assert set(matrices) == expected_weight_names(STD_MODEL.n_layer)
    for name, w in matrices.items():
        w = w.detach().double()
        sigma = expected[matrix_kind(name)]
        measured = float(w.pow(2).mean().sqrt())
        assert abs(measured / sigma - 1) < STD_RTOL, f"{name}: measured σ {measured:.5g}, table {sigma:.5g}"
        assert abs(float(w.mean())) < Z_SCORE * sigma / math.sqrt(w.numel()), f"{name}: mean {float(w.mean()):.3g}"
    # The σ the code draws with is the table's, to the table's 5 significant digits.
    for name, sigma in init_stds(model, init).items():
        assert sigma == pytest.approx(expected[matrix_kind(name)], rel=1e-4), name


def test_fan_in_scheme_draws_what_it_drew_before_schemes_existed() -> None:
    # `fan_in` is the default and today's behaviour: same draws, bit for bit, as σ = fan_in^-γ.
    model = build_model(WIDE, InitConfig(rate=0.7), VOCAB, SEQ_LEN, seed=3)
    generator = torch.Generator().manual_seed(3)
    for name, w in weight_matrices(model).items():
        expected = torch.empty_like(w).normal_(0.0, w.shape[1] ** -0.7, generator=generator)
        assert torch.equal(w, expected), name


def test_fan_in_is_the_second_dimension() -> None:
    # Distinct fan-ins make a swapped dimension visible: fc has fan_in 128, out has 512,
    # so their stds differ by a factor 4^γ.
    model = build_model(WIDE, InitConfig(rate=1.0), VOCAB, SEQ_LEN, seed=2)
    fc, out = model.blocks[0].mlp.fc.weight.detach(), model.blocks[0].mlp.out.weight.detach()
    assert (fc.shape, out.shape) == ((512, 128), (128, 512))
    ratio = float(fc.double().pow(2).mean().sqrt() / out.double().pow(2).mean().sqrt())
    assert ratio == pytest.approx(4.0, rel=2 * Z_SCORE / math.sqrt(2 * fc.numel()))


def test_matrices_are_independent_draws() -> None:
    model = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=0)
    attn = model.blocks[0].attn
    assert not torch.equal(attn.q.weight, attn.k.weight)
    assert not torch.equal(model.blocks[0].attn.q.weight, model.blocks[1].attn.q.weight)


def test_layernorms_are_ones_and_biases_zero() -> None:
    model = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=4)
    one_d = {name: p for name, p in model.named_parameters() if p.dim() == 1}
    assert one_d, "expected LayerNorm and bias parameters"
    for name, p in one_d.items():
        if ".ln" in f".{name}" and name.endswith(".weight"):
            assert torch.equal(p, torch.ones_like(p)), name
        else:
            assert name.endswith(".bias"), name
            assert torch.equal(p, torch.zeros_like(p)), name
    assert model.head.bias is None  # untied head without bias


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(n_layer=1, n_head=1, d_model=16, d_ff=64),
        ModelConfig(n_layer=2, n_head=4, d_model=64, d_ff=256, norm="post", activation="relu"),
        ModelConfig(n_layer=3, n_head=2, d_model=24, d_ff=40, norm="pre", activation="relu"),
        ModelConfig(n_layer=2, n_head=1, d_model=40, d_ff=120, norm="post", activation="gelu"),
    ],
    ids=["debug", "post-relu", "pre-relu", "post-gelu"],
)
def test_num_params_matches_metrics(cfg: ModelConfig) -> None:
    model = GPT(cfg, vocab_size=50, seq_len=7)
    assert model.num_non_embedding_params() == M.num_params(cfg.n_layer, cfg.d_model, cfg.d_ff)
    embedding = 50 * cfg.d_model + 7 * cfg.d_model + cfg.d_model * 50
    assert sum(p.numel() for p in model.parameters()) == M.num_params(cfg.n_layer, cfg.d_model, cfg.d_ff) + embedding


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_causal_mask(norm: str) -> None:
    cfg = ModelConfig(n_layer=2, n_head=2, d_model=32, d_ff=64, norm=norm)  # type: ignore[arg-type]
    model = build_model(cfg, InitConfig(rate=0.3), VOCAB, SEQ_LEN, seed=5).eval()
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, VOCAB, (3, SEQ_LEN), generator=gen)
    changed = idx.clone()
    t = 6
    changed[:, t] = (idx[:, t] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(idx), model(changed)  # (B, T, vocab)
    assert before.shape == (3, SEQ_LEN, VOCAB)
    torch.testing.assert_close(after[:, :t], before[:, :t])
    # The changed position and every later one do see the change.
    for pos in range(t, SEQ_LEN):
        assert (after[:, pos] - before[:, pos]).abs().max() > 1e-4, pos


def test_last_only_equals_full_last_position() -> None:
    model = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=6).eval()
    idx = torch.randint(0, VOCAB, (4, SEQ_LEN), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, last = model(idx), model(idx, last_only=True)
    assert last.shape == (4, VOCAB)
    torch.testing.assert_close(last, full[:, -1])


def test_shorter_inputs_than_context() -> None:
    model = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=6).eval()
    idx = torch.randint(0, VOCAB, (2, SEQ_LEN), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, prefix = model(idx), model(idx[:, :5])
    torch.testing.assert_close(prefix, full[:, :5])  # causal: a prefix sees the same context


def test_deterministic_by_seed() -> None:
    a = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=7).state_dict()
    b = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=7).state_dict()
    c = build_model(WIDE, InitConfig(rate=0.5), VOCAB, SEQ_LEN, seed=8).state_dict()
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["blocks.0.attn.q.weight"], c["blocks.0.attn.q.weight"])

