"""Per-size recipes: learning rate and batch size as power laws of the parameter count N.

lr(N) = lr_ref · (N / n_ref)^lr_exponent and batch(N) = batch_ref · (N / n_ref)^batch_exponent,
the batch rounded to a multiple of `batch_multiple`. The defaults, lr ∝ N^(-1/3) and
batch ∝ N^(2/3), are the exponents of OLMo-core's ladder run configurator (checked in
`olmo_core/model_ladder/wsds_chinchilla_run_configurator.py`: lr = 0.0047·(N/108M)^(-1/3),
halved for its WSD schedule, and batch = 2048·160·(N/108M)^(2/3) tokens, both after Porian
et al. 2024); their constants are for 108M-parameter models and are not ours. `lr_check` adds arms at lr · 2^±1 at the smallest
and largest size of a sweep, so a fit can tell whether a rung's best lr is at an edge.

`lr_scaling: mup` replaces the lr power law by μP's width rule for Adam (Yang et al. 2022,
"Tensor Programs V", Table 3): every trial gets optim.lr = lr_ref and optim.mup_d_model_ref =
d_model_ref, so the trainer runs hidden and output weight matrices at lr_ref · d_model_ref /
d_model and embeddings, norms and biases at lr_ref (trainers/optim.py). Only the lr rule: the
initialization stays the sweep's `init.*` (γ is a science factor here; μP's init variances and
output multiplier are not applied). `decay_embeddings` / `decay_norms_and_biases` set which
parameters weight decay reaches, per trial.

A sweep's `recipe:` key (configs/sweep.py) applies it: `fill` sets each grid point's
optim.lr, train.batch_size, optim.warmup_steps (and the decay / μP fields it names) from its N
unless base or the grid gives them (explicit values win), and `lr_arms` adds the lr_check trials.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from configs import metrics
from configs.base import FrozenModel
from configs.schema import ModelConfig, TrainConfig, TrialConfig


class RecipeConfig(FrozenModel):
    """lr and batch as functions of N; explicit per-trial values win over it."""

    n_ref: float = Field(1e5, gt=0, description="Reference parameter count N at which lr_ref and batch_ref hold.")
    lr_ref: float = Field(
        3e-3, gt=0, description="Learning rate at n_ref (under `lr_scaling: mup`: of embeddings, norms and biases "
                                "at every size, and of the matrices at d_model_ref).")
    lr_exponent: float | None = Field(
        None,
        description="lr ∝ N^lr_exponent; null = -1/3 under `lr_scaling: power`, 0 under `mup` (a value there "
                    "multiplies every group's lr by (N/n_ref)^lr_exponent on top of μP's width rule).",
    )
    lr_scaling: Literal["power", "mup"] = Field(
        "power",
        description="`power`: one lr per trial, lr_ref·(N/n_ref)^lr_exponent. `mup`: μP for Adam — hidden and "
                    "output matrices at lr·d_model_ref/d_model, embeddings, norms and biases at lr (init unchanged).",
    )
    d_model_ref: int | None = Field(
        None, ge=1, description="`lr_scaling: mup` only (and required there): the width at which lr_ref was tuned.",
    )
    decay_embeddings: bool | None = Field(
        None, description="Sets optim.decay_embeddings of every trial that leaves it unset; null = leave the default.",
    )
    decay_norms_and_biases: bool | None = Field(
        None, description="Sets optim.decay_norms_and_biases of every trial that leaves it unset; null = leave the default.",
    )
    batch_ref: int = Field(32, ge=1, description="Batch size (sequences) at n_ref.")
    batch_exponent: float = Field(2 / 3, description="batch ∝ N^batch_exponent (default 2/3).")
    batch_multiple: int = Field(8, ge=1, description="The resolved batch is rounded to a multiple of this (at least one).")
    warmup_fraction: float = Field(0.1, ge=0, lt=1, description="Warm-up steps as a share of each trial's steps.")
    lr_check: bool = Field(False, description="Add lr ×2 and ×½ arms at the smallest and largest size.")

    @model_validator(mode="after")
    def _reference_width_with_mup_only(self) -> RecipeConfig:
        if self.lr_scaling == "mup" and self.d_model_ref is None:
            raise ValueError("recipe.lr_scaling: mup needs recipe.d_model_ref (null), the width at which "
                             "lr_ref was tuned; e.g. d_model_ref: 64")
        if self.lr_scaling == "power" and self.d_model_ref is not None:
            raise ValueError(f"recipe.d_model_ref ({self.d_model_ref}) is read only under lr_scaling: mup "
                             "(got power); set lr_scaling: mup or drop d_model_ref")
        return self

    @property
    def exponent(self) -> float:
        """The lr exponent in force: lr_exponent, else -1/3 (`power`) or 0 (`mup`: width is μP's)."""
        if self.lr_exponent is not None:
            return self.lr_exponent
        return -1 / 3 if self.lr_scaling == "power" else 0.0

    def lr(self, n: float) -> float:
        """Learning rate at N (under `mup`, that of embeddings, norms and biases; matrices scale by width)."""
        return self.lr_ref * (n / self.n_ref) ** self.exponent

    def batch(self, n: float) -> int:
        """Batch size at N, rounded to a multiple of batch_multiple (at least one multiple)."""
        raw = self.batch_ref * (n / self.n_ref) ** self.batch_exponent
        return max(self.batch_multiple, int(round(raw / self.batch_multiple)) * self.batch_multiple)

    def resolve(self, sizes: list[float], num_steps: list[int]) -> list[dict[str, float]]:
        """One row per (N, steps): N, lr, batch, warmup_steps, and the lr_check arms when asked."""
        rows = []
        for n, steps in zip(sizes, num_steps):
            lr = self.lr(n)
            row = {"N": n, "lr": lr, "batch": self.batch(n), "warmup_steps": int(self.warmup_fraction * steps),
                   "arm": "recipe"}
            rows.append(row)
            if self.lr_check and n in (min(sizes), max(sizes)):
                rows += [{**row, "lr": lr * factor, "arm": arm} for arm, factor in (("lr/2", 0.5), ("lr*2", 2.0))]
        return rows

    def fill(self, tree: dict[str, Any]) -> dict[str, Any]:
        """A grid point's raw tree with lr, batch and warm-up resolved from its N where it leaves them unset."""
        sections = [tree.get(k, {}) for k in ("model", "optim", "train")]
        if not all(isinstance(section, dict) for section in sections):
            return tree  # a malformed section is reported by the trial's own validation, naming the point
        try:
            model = ModelConfig.model_validate(sections[0])
        except ValidationError:
            return tree
        n = metrics.num_params(model.n_layer, model.d_model, model.d_ff)
        optim, train = dict(tree.get("optim", {})), dict(tree.get("train", {}))
        optim.setdefault("lr", self.lr(n))
        for key, value in self._optim_fields().items():
            optim.setdefault(key, value)
        train.setdefault("batch_size", self.batch(n))
        # Steps after the batch is known: a token budget gives fewer steps at a larger batch.
        steps = TrialConfig._steps_from_token_budget({**tree, "train": train})["train"].get(
            "num_steps", TrainConfig.model_fields["num_steps"].default)
        optim.setdefault("warmup_steps", int(self.warmup_fraction * int(steps)))
        return {**tree, "optim": optim, "train": train}

    def _optim_fields(self) -> dict[str, Any]:
        """The optim fields the recipe sets besides lr and warm-up (those it leaves null are not set)."""
        fields = {"decay_embeddings": self.decay_embeddings, "decay_norms_and_biases": self.decay_norms_and_biases,
                  "mup_d_model_ref": self.d_model_ref if self.lr_scaling == "mup" else None}
        return {key: value for key, value in fields.items() if value is not None}

    def lr_arms(self, trials: list[TrialConfig]) -> list[TrialConfig]:
        """With lr_check, lr/2 and 2·lr copies of every trial at the smallest and largest N.

        An arm that is already a trial of the sweep (an explicit lr grid) is not added twice.
        """
        if not self.lr_check or not trials:
            return []
        sizes = [t.num_params for t in trials]
        seen = {t.trial_id for t in trials}
        arms = []
        for trial in (t for t in trials if t.num_params in (min(sizes), max(sizes))):
            for factor in (0.5, 2.0):
                raw = trial.model_dump()  # carries num_steps, so only the lr changes
                raw["optim"]["lr"] *= factor
                arm = TrialConfig.model_validate(raw)
                if arm.trial_id not in seen:
                    seen.add(arm.trial_id)
                    arms.append(arm)
        return arms
