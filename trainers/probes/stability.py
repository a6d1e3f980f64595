"""Stability φ under weight noise and under input noise (docs/architecture.md, "Stability φ").

A probe measures the clean loss L (mean held-out loss on the probe subset) and L̃, its mean
over k perturbed copies; `Perturbation.phi` turns them into φ in either form of
`configs.metrics.phi_of`: by default the retained gain φ = 1 − (L̃ − L)/(L₀ − L), the share
of what training gained over the untrained model (loss L₀, measured at step 0 by
`trainers.probes.reference`) that survives the perturbation — 0 for an untrained model,
near 1 for a solution the noise does not disturb. The earlier relative form −(L̃ − L)/L is
a named variant: it is largest at initialization by construction.

Weight noise: every weight matrix W (`trainers.model.weight_matrices`: embeddings, Q, K, V,
O, both MLP matrices and the head; LayerNorm gains and biases are left alone) gets
W + ε·rms(W)·Z, Z ~ N(0, I), rms(W) = ‖W‖_F/√numel(W), so the noise is relative to each
matrix's own scale and γ-initialization (which sets that scale) does not decide φ by
itself. The weights are copied before and copied back after, so the trained model is
restored bit for bit, also when an evaluation raises.

Draws come in antithetic pairs (+Z, −Z) (`antithetic_draws`). Each draw is still N(0, I),
so the mean is the same unbiased estimate of E[ΔL]; but L(W + σZ) − L(W) = σ gᵀZ +
(σ²/2) ZᵀHZ + O(σ³), and the first-order term — zero-mean, yet the largest part of a single
draw's ΔL wherever the held-out gradient g ≠ 0 — cancels exactly within a pair. With
independent draws, k = 2 left φ dominated by that term (measured on the anchor task: φ
jumped by ±0.02 between neighbouring evaluations at ε = 0.05).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from configs import metrics as M
from trainers.data.tasks import EvalSet, TaskData
from trainers.model import GPT, weight_matrices
from trainers.probes.subsets import eval_mode, mean_loss


@contextmanager
def restored_weights(model: torch.nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Yield the weight matrices to edit in place; every one is restored exactly on exit."""
    matrices = weight_matrices(model)  # type: ignore[arg-type]  # any module: its 2-D parameters
    saved = {name: w.detach().clone() for name, w in matrices.items()}
    try:
        yield matrices
    finally:
        with torch.no_grad():
            for name, w in matrices.items():
                w.copy_(saved[name])


Draw = tuple[int, float]  # (seed of Z, sign): the perturbation is sign·ε·rms(W)·Z


def antithetic_draws(pair_seeds: list[int], num_draws: int) -> list[Draw]:
    """`num_draws` draws as antithetic pairs: (s₀, +1), (s₀, −1), (s₁, +1), … (odd k: last unpaired).

    Raises:
        ValueError: fewer pair seeds than ⌈num_draws/2⌉.
    """
    if len(pair_seeds) < (num_draws + 1) // 2:
        raise ValueError(f"{num_draws} draws need {(num_draws + 1) // 2} pair seeds, got {len(pair_seeds)}")
    return [(pair_seeds[j // 2], 1.0 if j % 2 == 0 else -1.0) for j in range(num_draws)]


@torch.no_grad()
def add_weight_noise(matrices: dict[str, torch.Tensor], epsilon: float, seed: int, sign: float = 1.0) -> None:
    """W += sign·ε·rms(W)·Z for every matrix, Z standard normal from a generator seeded by `seed`."""
    for w in matrices.values():
        generator = torch.Generator(device=w.device).manual_seed(seed)
        seed += 1  # one stream per matrix, so adding a matrix does not shift the others' noise
        rms = w.float().pow(2).mean().sqrt()
        noise = torch.randn(w.shape, generator=generator, device=w.device, dtype=torch.float32)
        w.add_((sign * epsilon * rms * noise).to(w.dtype))


@dataclass(frozen=True)
class Perturbation:
    """A probe's two losses: `clean` L and `perturbed` L̃ (mean over the draws), nats/token."""

    clean: float
    perturbed: float

    def phi(self, reference: float | None, form: str = "retained_gain") -> float:
        """φ in `form` (`configs.metrics.phi_of`), against the untrained reference loss L₀."""
        return M.phi_of(self.clean, self.perturbed, reference, form)


def weight_noise(model: torch.nn.Module, loss: Callable[[], float], epsilon: float, draws: list[Draw]) -> Perturbation:
    """L and L̃ of any model whose every 2-D parameter is a weight matrix, for a loss closure.

    `loss()` evaluates the current weights; it is called once clean and once per draw with
    that draw's noise added (and removed again before the next draw).
    """
    clean = loss()
    noisy = []
    for seed, sign in draws:
        with restored_weights(model) as matrices:
            add_weight_noise(matrices, epsilon, seed, sign)
            noisy.append(loss())
    return Perturbation(clean, float(np.mean(noisy)))


def weight_perturbation(model: GPT, task: TaskData, sets: dict[str, EvalSet], device: str,
               epsilon: float, draws: list[Draw]) -> Perturbation:
    """Weight-perturbation losses on the probe subset, averaged over `draws` (module doc)."""
    with eval_mode(model):
        return weight_noise(model, lambda: mean_loss(model, task, sets, device), epsilon, draws)


def replace_tokens(data: EvalSet, fraction: float, vocab_size: int, seed: int) -> EvalSet:
    """A copy of `data` with each input token, with probability `fraction`, drawn uniformly
    from the vocabulary (targets unchanged: the model must still answer the clean question)."""
    rng = np.random.default_rng(seed)
    hit = rng.random(data.inputs.shape) < fraction
    inputs = np.where(hit, rng.integers(0, vocab_size, data.inputs.shape), data.inputs)
    return EvalSet(inputs.astype(data.inputs.dtype), data.targets)


def input_perturbation(model: GPT, task: TaskData, sets: dict[str, EvalSet], device: str,
              fraction: float, seeds: list[int]) -> Perturbation:
    """Input-perturbation losses: one random-token draw per seed, averaged."""
    with eval_mode(model):
        clean = mean_loss(model, task, sets, device)
        noisy = []
        for seed in seeds:
            perturbed = {name: replace_tokens(data, fraction, task.vocab_size, seed + i)
                         for i, (name, data) in enumerate(sets.items())}
            noisy.append(mean_loss(model, task, perturbed, device))
    return Perturbation(clean, float(np.mean(noisy)))
