"""Weight decay modes (trainers/optim.py): one real engine step against a hand-computed update.

Adam's first step, written out (bias corrections cancel the (1 − β) factors):
m̂ = g, v̂ = g², so the step is −lr·g/(|g| + ε). On top of it:

* decoupled (AdamW): W₁ = W₀·(1 − lr·λ) − lr·g/(|g| + ε), g = ∇loss;
* l2 (Adam on loss + λ‖W‖²): W₁ = W₀ − lr·g'/(|g'| + ε), g' = ∇loss + 2λ·W₀.

λ = 0.5 and lr = 0.1 make both terms visible: LayerNorm gains start at 1, so a decayed gain
moves by lr·λ = 0.05 beyond the Adam step in `decoupled` mode, and 2λW = 1 is comparable to
the loss gradient in `l2` mode. Gradient clipping is off so the formulas are exact.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from configs import ModelConfig, TrialConfig
from trainers.data.tasks import EvalSet
from trainers.engine import create_engine
from trainers.evaluate import sequence_loss
from trainers.loop import train_step
from trainers.model import build_model
from trainers.optim import LossSpec, build_optimizer, l2_penalty, loss_spec, split_decayed

LR, LAMBDA, EPS = 0.1, 0.5, 1e-8
VOCAB, SEQ_LEN = 16, 6


def trial(mode: str, decay_all: bool) -> TrialConfig:
    return TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 8, "d_ff": 16},
        "optim": {"lr": LR, "weight_decay": LAMBDA, "weight_decay_mode": mode,
                  "decay_norms_and_biases": decay_all, "grad_clip": 0.0, "warmup_steps": 0},
        "train": {"num_steps": 10, "batch_size": 4, "eval_every": 5, "checkpoint_every": 10},
    })


def batch() -> EvalSet:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, size=(4, SEQ_LEN + 1))
    return EvalSet(tokens[:, :-1].copy(), tokens[:, 1:].copy())


def hand_computed_step(model: torch.nn.Module, data: EvalSet, mode: str, decay_all: bool) -> dict[str, torch.Tensor]:
    """The parameters after one step, by the formulas in the module docstring."""
    x, y = torch.from_numpy(data.inputs), torch.from_numpy(data.targets)
    sequence_loss(model, x, y, "all").backward()  # type: ignore[arg-type]
    after = {}
    for name, w in model.named_parameters():
        assert w.grad is not None
        decays = decay_all or w.dim() == 2
        w0, g = w.detach(), w.grad.detach()
        if mode == "l2" and decays:
            g = g + 2 * LAMBDA * w0
        shrink = 1 - LR * LAMBDA if mode == "decoupled" and decays else 1.0
        after[name] = w0 * shrink - LR * g / (g.abs() + EPS)
    return after


@pytest.mark.parametrize("mode", ["decoupled", "l2"])
@pytest.mark.parametrize("decay_all", [True, False], ids=["decay-all", "matrices-only"])
def test_one_step_equals_the_hand_computed_update(mode: str, decay_all: bool) -> None:
    t = trial(mode, decay_all)
    model = build_model(t.model, t.init, VOCAB, SEQ_LEN, seed=0)
    expected = hand_computed_step(copy.deepcopy(model), batch(), mode, decay_all)
    engine = create_engine(t, model, "cpu")
    train_step(engine, batch(), LR, t.train.layout(1), loss_spec(model, t.optim, "all"))
    for name, w in model.named_parameters():
        torch.testing.assert_close(w.detach(), expected[name], rtol=1e-5, atol=1e-6, msg=name)
    ln_gain = model.blocks[0].ln1.weight.detach()  # started at 1: shows whether norms decayed
    assert not torch.allclose(ln_gain, torch.ones_like(ln_gain))


def test_the_modes_differ_and_matrices_only_leaves_norms_undecayed() -> None:
    gains = {}
    for mode, decay_all in (("decoupled", True), ("decoupled", False), ("l2", True)):
        t = trial(mode, decay_all)
        model = build_model(t.model, t.init, VOCAB, SEQ_LEN, seed=0)
        train_step(create_engine(t, model, "cpu"), batch(), LR, t.train.layout(1), loss_spec(model, t.optim, "all"))
        gains[(mode, decay_all)] = model.ln_f.weight.detach().clone()
    # Decoupled decay moves a decayed gain by exactly lr·λ beyond the Adam step.
    torch.testing.assert_close(gains[("decoupled", False)] - gains[("decoupled", True)],
                               torch.full((8,), LR * LAMBDA), rtol=0, atol=1e-6)
    assert not torch.allclose(gains[("l2", True)], gains[("decoupled", True)])


def test_l2_penalty_is_lambda_times_the_squared_norm_as_written() -> None:
    a, b = torch.nn.Parameter(torch.tensor([[1.0, 2.0]])), torch.nn.Parameter(torch.tensor([3.0]))
    penalty = l2_penalty(LossSpec("all", 0.25, (a, b)))
    assert penalty is not None and float(penalty.detach()) == 0.25 * (1 + 4 + 9)  # λ‖W‖², not λ/2‖W‖²
    penalty.backward()
    assert a.grad is not None and torch.equal(a.grad, 2 * 0.25 * a.detach())  # gradient 2λW
    assert l2_penalty(LossSpec("all")) is None


@pytest.mark.parametrize(
    "mode, decay_all, optimizer, groups, penalized",
    [
        ("decoupled", True, torch.optim.AdamW, [(True, LAMBDA)], 0),
        ("decoupled", False, torch.optim.AdamW, [(True, LAMBDA), (False, 0.0)], 0),
        ("l2", True, torch.optim.Adam, [(None, 0.0)], "all"),
        ("l2", False, torch.optim.Adam, [(None, 0.0)], "matrices"),
    ],
)
def test_optimizer_and_loss_spec_by_mode(mode: str, decay_all: bool, optimizer: type, groups: list[tuple[bool | None, float]],
                                         penalized: object) -> None:
    t = trial(mode, decay_all)
    model = build_model(ModelConfig(n_layer=1, d_model=8, d_ff=16), t.init, VOCAB, SEQ_LEN, seed=0)
    built = build_optimizer(model, t.optim)
    assert type(built) is optimizer
    assert [g["weight_decay"] for g in built.param_groups] == [decay for _, decay in groups]
    for group, (matrices, _) in zip(built.param_groups, groups):
        if matrices is not None and not decay_all:
            assert all((p.dim() == 2) == matrices for p in group["params"])
    spec = loss_spec(model, t.optim, "last")
    decayed, kept = split_decayed(model, decay_all)
    if penalized == 0:
        assert spec == LossSpec("last")
    else:
        assert spec.l2_coef == LAMBDA and list(spec.l2_params) == decayed
        assert (penalized == "all") == (not kept)
