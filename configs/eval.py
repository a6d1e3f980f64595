"""`EvalConfig`: the probes that read the distortion vector during training (issue 10).

Each probe is a hook with its own cadence (`trainers/probes/`); every probe reads the
held-out domains of the trial's task. docs/architecture.md ("Definitions") defines the quantities:

* **Weight stability** `stability/phi_weight`: by default the *retained gain*
  φ = 1 − (L̃ − L)/(L₀ − L), where L is the weighted mean held-out loss on a fixed subset of
  each domain, L̃ its mean over k copies in which every weight matrix W gets Gaussian noise of
  std ε·‖W‖_F/√numel(W) (antithetic pairs (+Z, −Z), which cancel the first-order term of
  each pair's ΔL), and L₀ the same subset's loss of the untrained model, measured once at
  step 0 (`init/probe_loss`). `phi_form: relative` logs the earlier −(L̃ − L)/L instead;
  the raw L and L̃ are logged either way, so the analysis can compute both forms
  (`configs.metrics.phi_of` holds the definition and its clip rules).
* **Input stability** `stability/phi_input`: the same, with a fraction p of the input
  tokens replaced by uniformly random tokens instead of perturbing the weights.
* **Training stability** `stability/training_kl/<domain>`: the mean KL(p_prev ‖ p_now)
  between the model's predictions on the probe subset at consecutive probes (small =
  further training no longer changes what the model predicts).
* **Rate–distortion** (last step): per-domain held-out loss with every weight matrix
  quantized symmetrically per row to each of `ratedist_bits` bits.
* **Calibration** (chosen steps): per domain, the temperature T* minimizing held-out
  cross-entropy, the loss at T* and the top-1 expected calibration error at T = 1.

Probes are opt-in: `probes` lists the ones a trial runs (default none, so a ladder trial
pays nothing for them); the other fields tune those listed. A cadence of `null` follows `train.eval_every`, so φ(t) lands on the same steps as the
distortion vector and `val/loss` (what the stability-optimal stop t* is compared with); `0`
turns the probe off. The metastable threshold φ₀ is not a training setting: it is chosen
when the sweep is analysed (`scalinglab distortion --phi0`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from configs.base import FrozenModel


class EvalConfig(FrozenModel):
    """Probes of the distortion vector: stability φ, rate–distortion and calibration."""

    probes: list[str] = Field(
        default_factory=list,
        description=(
            "Probes this trial runs, by name (trainers/probes/registry.py): phi_weight, phi_input, "
            "training_kl, calibration, ratedist; [] = none. The settings below only tune the listed ones."
        ),
    )

    probe_examples: int = Field(
        256, ge=1,
        description="Held-out sequences per domain in the fixed probe subset (drawn once per trial, seeded).",
    )
    probe_seed: int = Field(0, ge=0, description="Seeds the probe subset and every probe's noise (with the trial seed and step).")
    phi_weight_every: int | None = Field(
        None, ge=0,
        description="Weight-perturbation stability every this many steps and at the last step; null = train.eval_every; 0 = off.",
    )
    phi_weight_epsilon: float = Field(
        0.1, gt=0,
        description="ε: each weight matrix W gets Gaussian noise of std ε·‖W‖_F/√numel(W).",
    )
    phi_weight_draws: int = Field(2, ge=1, description="k: noise draws averaged per weight-stability probe, in antithetic pairs (+Z, −Z).")
    phi_input_every: int | None = Field(
        None, ge=0,
        description="Input-perturbation stability every this many steps and at the last step; null = train.eval_every; 0 = off.",
    )
    phi_input_fraction: float = Field(
        0.1, gt=0, le=1, description="p: share of input tokens replaced by uniformly random tokens."
    )
    phi_input_draws: int = Field(2, ge=1, description="Random-token draws averaged per input-stability probe.")
    phi_form: Literal["retained_gain", "relative"] = Field(
        "retained_gain",
        description=(
            "Form of the logged φ: `retained_gain` 1 − (L̃ − L)/(L₀ − L), L₀ the untrained model's loss "
            "(0 when nothing was gained yet); `relative` −(L̃ − L)/L, the earlier form, largest at "
            "initialization by construction. The raw losses are logged either way."
        ),
    )
    training_kl_every: int | None = Field(
        None, ge=0,
        description="Training stability (KL between consecutive probes' predictions) every this many steps; null = train.eval_every; 0 = off.",
    )
    training_kl_positions: int = Field(
        4096, ge=1,
        description="Scored positions per domain whose predictions the training-KL probe keeps (memory: positions × vocab × 4 bytes).",
    )
    calibration_steps: list[int] = Field(
        default_factory=list,
        description="Steps (1-based) at which temperature and calibration are probed, besides the last step.",
    )
    calibration_at_last_step: bool = Field(True, description="Probe temperature and calibration at the last step.")
    calibration_bins: int = Field(15, ge=2, description="Equal-width confidence bins of the expected calibration error.")
    calibration_examples: int | None = Field(
        None, ge=1,
        description="Held-out sequences per domain for calibration; null = the whole set, within the logits budget.",
    )
    ratedist_bits: list[int] = Field(
        default_factory=lambda: [8, 6, 4, 2],
        description="Bit widths of the end-of-training rate–distortion probe (symmetric, per row); [] = off.",
    )

    @field_validator("probes")
    @classmethod
    def _probes_unique(cls, names: list[str]) -> list[str]:
        # Names are checked against the registry when the trial starts (configs cannot import trainers/).
        if len(set(names)) != len(names):
            raise ValueError(f"eval.probes {names} repeats a probe; list each once")
        return names

    @field_validator("calibration_steps")
    @classmethod
    def _steps_positive_and_unique(cls, steps: list[int]) -> list[int]:
        bad = [s for s in steps if s < 1]
        if bad:
            raise ValueError(f"eval.calibration_steps has steps {bad} < 1; steps count from 1 (the first step taken)")
        if len(set(steps)) != len(steps):
            raise ValueError(f"eval.calibration_steps {steps} repeats a step; list each step once")
        return sorted(steps)

    @field_validator("ratedist_bits")
    @classmethod
    def _bits_in_range(cls, bits: list[int]) -> list[int]:
        # 1 bit symmetric has no non-zero level; above 16 the probe is indistinguishable from fp32.
        bad = [b for b in bits if not 2 <= b <= 16]
        if bad:
            raise ValueError(f"eval.ratedist_bits {bad} outside 2..16; symmetric per-row quantization needs 2 ≤ bits ≤ 16")
        if len(set(bits)) != len(bits):
            raise ValueError(f"eval.ratedist_bits {bits} repeats a width; list each once")
        return sorted(bits, reverse=True)

    def cadence(self, every: int | None, eval_every: int) -> int:
        """Steps between runs of a probe whose setting is `every` (0 = off)."""
        return eval_every if every is None else every
