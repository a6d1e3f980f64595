"""Per-size recipes: learning rate and batch size as power laws of the parameter count N.

lr(N) = lr_ref · (N / n_ref)^lr_exponent and batch(N) = batch_ref · (N / n_ref)^batch_exponent,
the batch rounded to a multiple of `batch_multiple`. The defaults, lr ∝ N^(-1/3) and
batch ∝ N^(2/3), are the exponents issue 19 attributes to OLMo-core's ladder configurator
(not checked against its source here). `lr_check` adds arms at lr · 2^±1 at the smallest
and largest size of a sweep, so a fit can tell whether a rung's best lr is at an edge.

Not yet wired into `SweepConfig` (a `recipe:` key): `resolve` is the table `validate` would
show.
"""

from __future__ import annotations

from pydantic import Field

from configs.base import FrozenModel


class RecipeConfig(FrozenModel):
    """lr and batch as functions of N; explicit per-trial values win over it."""

    n_ref: float = Field(1e5, gt=0, description="Reference parameter count N at which lr_ref and batch_ref hold.")
    lr_ref: float = Field(3e-3, gt=0, description="Learning rate at n_ref.")
    lr_exponent: float = Field(-1 / 3, description="lr ∝ N^lr_exponent (default -1/3).")
    batch_ref: int = Field(32, ge=1, description="Batch size (sequences) at n_ref.")
    batch_exponent: float = Field(2 / 3, description="batch ∝ N^batch_exponent (default 2/3).")
    batch_multiple: int = Field(8, ge=1, description="The resolved batch is rounded to a multiple of this (at least one).")
    warmup_fraction: float = Field(0.1, ge=0, lt=1, description="Warm-up steps as a share of each trial's steps.")
    lr_check: bool = Field(False, description="Add lr ×2 and ×½ arms at the smallest and largest size.")

    def lr(self, n: float) -> float:
        """Learning rate at N."""
        return self.lr_ref * (n / self.n_ref) ** self.lr_exponent

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
