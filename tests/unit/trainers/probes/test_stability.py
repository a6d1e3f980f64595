"""Stability φ (trainers/probes/stability.py): a closed form, exact restore, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from configs import TrialConfig
from trainers.data.tasks import build_task
from trainers.model import build_model
from trainers.probes.stability import (
    add_weight_noise,
    antithetic_draws,
    input_perturbation,
    replace_tokens,
    restored_weights,
    weight_noise,
    weight_perturbation,
)
from trainers.probes.subsets import ProbeSubsets


def test_phi_of_a_linear_least_squares_model_matches_its_closed_form() -> None:
    """Linear model ŷ = W x, W ∈ R^{m×d}, L(W) = (1/2n) Σ_i ‖W x_i − y_i‖².

    With W̃ = W + σZ, Z_jk iid N(0, 1) and σ = ε·rms(W) (rms(W)² = ‖W‖²_F/(m d)):
    L(W̃) = L(W) + (σ/n) Σ_i (W x_i − y_i)ᵀ Z x_i + (σ²/2n) Σ_i ‖Z x_i‖².
    The cross term has mean 0 and E‖Z x‖² = m ‖x‖², so, exactly (L is quadratic in W):

        E[ΔL] = (ε² ‖W‖²_F / (m d)) · (m/2) · mean_i ‖x_i‖² = ε² ‖W‖²_F mean_i ‖x_i‖² / (2d),

    and the retained-gain E[φ] = 1 − E[ΔL]/(L₀ − L(W)) with L₀ = L(0), the loss of the zero
    model (an exact reference: any L₀ > L works the same way). Averaged over k draws, φ has the standard error of the draws'
    mean; the test asks for agreement within 4 of those, for independent draws and for
    antithetic pairs (+Z, −Z), whose pair mean loses the cross term entirely:
    ½[L(W + σZ) + L(W − σZ)] − L(W) = (σ²/2n) Σ_i ‖Z x_i‖². Targets sit close to W x (small
    residuals) so that the independent draws' cross term does not drown the σ² term.
    """
    gen = torch.Generator().manual_seed(0)
    n, d, m = 64, 5, 3
    x = torch.randn(n, d, generator=gen)
    model = torch.nn.Linear(d, m, bias=False).requires_grad_(False)
    model.weight.copy_(torch.randn(m, d, generator=gen))
    y = model(x) + 0.05 * torch.randn(n, m, generator=gen)

    def loss() -> float:
        return float(0.5 * ((model(x) - y) ** 2).sum(1).mean())

    epsilon, num_pairs = 0.3, 200
    clean = loss()
    expected_rise = epsilon**2 * float(model.weight.pow(2).sum()) * float(x.pow(2).sum(1).mean()) / (2 * d)
    # independent draws: every draw's own ΔL, mean within 4 standard errors of the closed form
    def rise(draws: list[tuple[int, float]]) -> float:
        result = weight_noise(model, loss, epsilon, draws)
        return result.perturbed - result.clean

    plain = [rise([(seed, 1.0)]) for seed in range(2 * num_pairs)]
    assert abs(np.mean(plain) - expected_rise) < 4 * np.std(plain) / np.sqrt(len(plain))
    # antithetic pairs: the pair means are iid, and far less spread (the cross term cancels)
    pairs = [rise(antithetic_draws([seed], 2)) for seed in range(num_pairs)]
    stderr = np.std(pairs) / np.sqrt(num_pairs)
    assert abs(np.mean(pairs) - expected_rise) < 4 * stderr
    assert stderr < 0.05 * expected_rise  # tight: the check is not vacuous
    result = weight_noise(model, loss, epsilon, antithetic_draws(list(range(num_pairs)), 2 * num_pairs))
    assert result.perturbed - clean == pytest.approx(np.mean(pairs), rel=1e-9)  # the k draws are averaged
    reference = float(0.5 * (y**2).sum(1).mean())  # L(W = 0)
    expected_phi = 1 - expected_rise / (reference - clean)
    assert 0.5 < expected_phi < 0.99  # a value in the informative range, not a clip
    assert result.phi(reference) == pytest.approx(expected_phi, abs=4 * stderr / (reference - clean))
    assert result.phi(None, "relative") == pytest.approx(-expected_rise / clean, abs=4 * stderr / clean)


def test_antithetic_pairs_remove_the_first_order_noise() -> None:
    """Far from the least-squares optimum the cross term σ·gᵀZ dominates one draw's ΔL; a pair
    (+Z, −Z) cancels it, so its mean spreads far less than the mean of two independent draws."""
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 5, generator=gen), torch.randn(64, 3, generator=gen)
    model = torch.nn.Linear(5, 3, bias=False).requires_grad_(False)
    model.weight.copy_(torch.randn(3, 5, generator=gen))

    def loss() -> float:
        return float(0.5 * ((model(x) - y) ** 2).sum(1).mean())

    two_plain = [weight_noise(model, loss, 0.1, [(2 * s, 1.0), (2 * s + 1, 1.0)]).perturbed for s in range(100)]
    one_pair = [weight_noise(model, loss, 0.1, antithetic_draws([s], 2)).perturbed for s in range(100)]
    assert np.std(one_pair) < 0.2 * np.std(two_plain)


def test_antithetic_draws() -> None:
    assert antithetic_draws([7, 9], 3) == [(7, 1.0), (7, -1.0), (9, 1.0)]
    with pytest.raises(ValueError, match="4 draws need 2 pair seeds, got 1"):
        antithetic_draws([7], 4)


def test_weight_noise_has_std_epsilon_times_rms_per_matrix() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(200, 300), torch.nn.Linear(300, 10))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with restored_weights(model) as matrices:
        add_weight_noise(matrices, 0.2, seed=3)
        for name, w in matrices.items():
            rms = before[name].pow(2).mean().sqrt()
            assert float((w.detach() - before[name]).std() / rms) == pytest.approx(0.2, rel=0.05)
        assert torch.equal(model[0].bias, before["0.bias"])  # biases are not weight matrices


def _tiny_anchor() -> tuple[TrialConfig, torch.nn.Module, object]:
    trial = TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 32},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 256, "num_test": 64},
        "optim": {"warmup_steps": 1}, "train": {"num_steps": 4, "batch_size": 8},
    })
    task = build_task(trial.data, trial.train, trial.seed)
    return trial, build_model(trial.model, trial.init, task.vocab_size, task.seq_len, seed=0), task


def test_probes_restore_every_parameter_bit_exactly_and_are_deterministic() -> None:
    _, model, task = _tiny_anchor()
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    sets = ProbeSubsets(32, seed=1).of(task)  # type: ignore[arg-type]
    first = weight_perturbation(model, task, sets, "cpu", 0.3, antithetic_draws([5], 2))  # type: ignore[arg-type]
    second = weight_perturbation(model, task, sets, "cpu", 0.3, antithetic_draws([5], 2))  # type: ignore[arg-type]
    input_perturbation(model, task, sets, "cpu", 0.5, [7])  # type: ignore[arg-type]
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name
    assert first == second and first.perturbed > first.clean
    assert model.training  # the probe's eval mode is undone


def test_weights_are_restored_when_the_loss_raises() -> None:
    model = torch.nn.Linear(4, 4)
    before = model.weight.detach().clone()

    def broken() -> float:
        if not torch.equal(model.weight, before):
            raise RuntimeError("evaluation failed")
        return 1.0

    with pytest.raises(RuntimeError, match="evaluation failed"):
        weight_noise(model, broken, 0.5, [(0, 1.0)])
    assert torch.equal(model.weight, before)


def test_replace_tokens_hits_the_requested_share_and_keeps_targets() -> None:
    _, _, task = _tiny_anchor()
    data = task.domains["id"]  # type: ignore[attr-defined]
    noisy = replace_tokens(data, 0.25, 100, seed=0)
    changed = float((noisy.inputs != data.inputs).mean())
    assert 0.15 < changed < 0.25  # 25 % drawn, a few redrawn to the same token
    assert noisy.targets is data.targets and noisy.inputs.dtype == data.inputs.dtype
    assert np.array_equal(noisy.inputs, replace_tokens(data, 0.25, 100, seed=0).inputs)
