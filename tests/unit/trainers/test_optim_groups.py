"""Parameter groups (trainers/optim.py): which parameters decay, μP's per-group lr, and that the
DeepSpeed engine keeps the groups and `train_step` runs each at lr · lr_scale.

The model is the one-layer GPT; its parameters by kind (names as `named_parameters` gives them):
embeddings `tok_emb.weight`, `pos_emb.weight`; hidden matrices Q, K, V, O, MLP up and down;
the output matrix `head.weight`; vectors: every bias and LayerNorm gain/shift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from configs import TrialConfig
from trainers.checkpoint import TrainState, load_checkpoint, save_checkpoint
from trainers.data.tasks import EvalSet
from trainers.engine import create_engine
from trainers.evaluate import sequence_loss
from trainers.model import build_model
from trainers.optim import build_optimizer, loss_spec, lr_scales, param_groups, split_decayed
from trainers.train_step import train_step

VOCAB, SEQ_LEN, LR = 16, 6, 0.01
EMBEDDINGS = {"tok_emb.weight", "pos_emb.weight"}
HIDDEN = {f"blocks.0.attn.{m}.weight" for m in ("q", "k", "v", "proj")} | {"blocks.0.mlp.fc.weight", "blocks.0.mlp.out.weight"}
OUTPUT = {"head.weight"}


def trial(d_model: int = 16, train: dict[str, Any] | None = None, **optim: Any) -> TrialConfig:
    return TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": d_model, "d_ff": 4 * d_model},
        "optim": {"lr": LR, "grad_clip": 0.0, "warmup_steps": 0, **optim},
        "train": {"num_steps": 10, "batch_size": 4, "eval_every": 5, "checkpoint_every": 10, **(train or {})},
    })


def model_of(t: TrialConfig) -> torch.nn.Module:
    return build_model(t.model, t.init, VOCAB, SEQ_LEN, seed=0)


def scale_by_name(model: torch.nn.Module, t: TrialConfig) -> dict[str, float]:
    scales = lr_scales(model, t.optim)
    return {name: scales[id(p)] for name, p in model.named_parameters()}


# (d_model, mup_d_model_ref) → lr_scale of hidden and output matrices, by hand: d_ref / d_model.
@pytest.mark.parametrize(("d_model", "ref", "matrix_scale"), [(16, 16, 1.0), (32, 16, 0.5), (64, 16, 0.25), (32, None, 1.0)])
def test_mup_scales_hidden_and_output_matrices_by_the_width_ratio_and_nothing_else(d_model: int, ref: int | None,
                                                                                   matrix_scale: float) -> None:
    t = trial(d_model, mup_d_model_ref=ref)
    model = model_of(t)
    scales = scale_by_name(model, t)
    assert {name for name, s in scales.items() if s != 1.0} == (HIDDEN | OUTPUT if matrix_scale != 1.0 else set())
    assert {scales[name] for name in HIDDEN | OUTPUT} == {matrix_scale}
    assert {s for name, s in scales.items() if name not in HIDDEN | OUTPUT} == {1.0}  # embeddings, norms, biases
    # The optimizer's groups: one lr per group, lr = optim.lr · lr_scale, every parameter once.
    groups = build_optimizer(model, t.optim).param_groups
    assert all(g["lr"] == pytest.approx(LR * g["lr_scale"]) for g in groups)
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in model.parameters())
    in_group = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert {name: in_group[id(p)] for name, p in model.named_parameters()} == scales


# (decay_norms_and_biases, decay_embeddings) → the parameter kinds that decay, by hand.
@pytest.mark.parametrize(("norms", "embeddings", "decayed_kinds"), [
    (True, True, "all"),
    (True, False, "all but embeddings"),
    (False, True, "matrices"),
    (False, False, "hidden and output matrices"),
])
def test_which_parameters_decay(norms: bool, embeddings: bool, decayed_kinds: str) -> None:
    model = model_of(trial())
    names = {name for name, _ in model.named_parameters()}
    expected = {"all": names, "all but embeddings": names - EMBEDDINGS, "matrices": EMBEDDINGS | HIDDEN | OUTPUT,
                "hidden and output matrices": HIDDEN | OUTPUT}[decayed_kinds]
    decayed, kept = split_decayed(model, norms, embeddings)
    by_id = {id(p): name for name, p in model.named_parameters()}
    assert {by_id[id(p)] for p in decayed} == expected and {by_id[id(p)] for p in kept} == names - expected


def test_groups_are_keyed_by_decay_and_scale() -> None:
    t = trial(32, weight_decay=0.1, decay_embeddings=False, mup_d_model_ref=16)
    keys = [(g["weight_decay"], g["lr_scale"]) for g in param_groups(model_of(t), t.optim)]
    # decaying groups first, larger scales first: norms and biases at 1, matrices at 1/2; embeddings kept
    assert keys == [(0.1, 1.0), (0.1, 0.5), (0.0, 1.0)]
    l2 = trial(32, weight_decay=0.1, weight_decay_mode="l2", mup_d_model_ref=16)
    assert [(g["weight_decay"], g["lr_scale"]) for g in param_groups(model_of(l2), l2.optim)] == [(0.0, 1.0), (0.0, 0.5)]


def batch() -> EvalSet:
    tokens = np.random.default_rng(0).integers(0, VOCAB, size=(4, SEQ_LEN + 1))
    return EvalSet(tokens[:, :-1].copy(), tokens[:, 1:].copy())


def largest_move(before: dict[str, torch.Tensor], model: torch.nn.Module, names: set[str]) -> float:
    after = dict(model.named_parameters())
    return max(float((after[n].detach().float() - before[n]).abs().max()) for n in names)


@pytest.mark.parametrize(("stage", "precision"), [(0, "fp32"), (1, "fp32"), (2, "fp32"), (1, "bf16"), (3, "fp32")])
def test_the_engine_keeps_the_groups_and_a_step_runs_each_at_its_scaled_lr(stage: int, precision: str) -> None:
    t = trial(32, weight_decay=0.0, mup_d_model_ref=16, train={"zero_stage": stage, "precision": precision})
    model = model_of(t)
    before = {name: p.detach().float().clone() for name, p in model.named_parameters()}
    engine = create_engine(t, model, "cpu")
    train_step(engine, batch(), 2 * LR, t.train.layout(1), loss_spec(model, t.optim, "all"))
    assert sorted((g["lr"], g["lr_scale"]) for g in engine.optimizer.param_groups) == [(LR, 0.5), (2 * LR, 1.0)]
    if stage == 3 or precision == "bf16":
        return  # ZeRO-3 holds shards, bf16 rounds the step: the group lr above is the check
    # Adam's first step moves an entry by lr·g/(|g| + ε) ≈ lr wherever |g| ≫ ε (no decay, no clipping).
    assert largest_move(before, model, HIDDEN | OUTPUT) == pytest.approx(LR, rel=1e-3)
    assert largest_move(before, model, EMBEDDINGS) == pytest.approx(2 * LR, rel=1e-3)


def test_a_checkpoint_restores_the_group_scales(tmp_path: Path) -> None:
    t = trial(32, mup_d_model_ref=16, train={"zero_stage": 1})
    first = create_engine(t, model_of(t), "cpu")
    train_step(first, batch(), LR, t.train.layout(1), loss_spec(first.module, t.optim, "all"))
    save_checkpoint(first, tmp_path, TrainState(step=1))
    second = create_engine(t, model_of(t), "cpu")
    load_checkpoint(second, tmp_path)
    assert sorted(g["lr_scale"] for g in second.optimizer.param_groups) == [0.5, 1.0]


def test_one_decoupled_step_with_mup_and_undecayed_embeddings_equals_the_hand_computed_update() -> None:
    # Adam's first step (test_optim.py's docstring): W₁ = W₀·(1 − lr_p·λ) − lr_p·g/(|g| + ε), with
    # lr_p = lr · 16/32 on hidden and output matrices and lr elsewhere, λ = 0 on the embeddings.
    lam, eps = 0.5, 1e-8
    t = trial(32, weight_decay=lam, decay_embeddings=False, mup_d_model_ref=16)
    model = model_of(t)
    x, y = torch.from_numpy(batch().inputs), torch.from_numpy(batch().targets)
    reference = model_of(t)
    sequence_loss(reference, x, y, "all").backward()  # type: ignore[arg-type]
    expected = {}
    for name, w in reference.named_parameters():
        assert w.grad is not None
        lr_p = LR * (0.5 if name in HIDDEN | OUTPUT else 1.0)
        shrink = 1.0 if name in EMBEDDINGS else 1 - lr_p * lam
        expected[name] = w.detach() * shrink - lr_p * w.grad / (w.grad.abs() + eps)
    train_step(create_engine(t, model, "cpu"), batch(), LR, t.train.layout(1), loss_spec(model, t.optim, "all"))
    for name, w in model.named_parameters():
        torch.testing.assert_close(w.detach(), expected[name], rtol=1e-5, atol=1e-6, msg=name)


def test_mup_on_a_model_without_one_embedding_width_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"optim\.mup_d_model_ref needs one embedding width .* has \[\]"):
        lr_scales(torch.nn.Sequential(torch.nn.Linear(4, 4)), trial(mup_d_model_ref=16).optim)
