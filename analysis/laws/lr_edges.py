"""Under-tuned rungs: a size whose best learning rate is at the edge of its lr arms.

With a recipe's `lr_check` a size is trained at lr/2, lr and 2·lr. When the lowest loss is at
the smallest or largest lr tried, the optimum may lie outside the arms and the rung's loss is
an overestimate of what that size can reach, which biases the fitted law (the concern of
OLMo-core PR #554 as issue 19 describes it).
"""

from __future__ import annotations

import pandas as pd

LR_COLUMN = "optim.lr"


def under_tuned_rungs(table: pd.DataFrame, lr_column: str = LR_COLUMN) -> list[dict[str, float]]:
    """Sizes N with >= 3 distinct lr whose best lr is the smallest or largest tried.

    Returns:
        One dict per such size: N, best_lr, lr_min, lr_max, edge ("low" or "high").
    """
    if lr_column not in table.columns:
        return []
    out = []
    for n, group in table.groupby("N"):
        lrs = group[lr_column].astype(float)
        if lrs.nunique() < 3:
            continue
        best = float(lrs.loc[group["loss"].astype(float).idxmin()])
        if best in (lrs.min(), lrs.max()):
            out.append({"N": float(n), "best_lr": best, "lr_min": float(lrs.min()), "lr_max": float(lrs.max()),
                        "edge": "low" if best == lrs.min() else "high"})
    return out
