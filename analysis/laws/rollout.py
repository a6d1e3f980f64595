"""Rollout validation (OLMo-core's rollout CV): fit on the k smallest sizes, predict the next.

For every k that leaves at least NUM_PARAMS + 1 fitted runs, the law is fitted with a
prediction interval (`analysis.laws.predict`) on the runs of the k smallest distinct N
and predicts every run of the (k+1)-th size. The errors show how the extrapolation
improves as the ladder grows; `covered` whether the interval held the observed loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError
from analysis.laws.predict import NUM_PARAMS, predict_interval


def rollout(table: pd.DataFrame, *, num_resamples: int = 300, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per predicted run: k, N, D, loss, pred, pred_lo, pred_hi, rel_err, covered.

    Raises:
        AnalysisInputError: if no k leaves NUM_PARAMS + 1 runs to fit and a larger size to predict.
    """
    sizes = np.unique(table["N"].to_numpy(dtype=np.float64))
    out = []
    for k in range(1, sizes.size):
        fitted, target = table[table["N"] <= sizes[k - 1]], table[table["N"] == sizes[k]]
        if len(fitted) < NUM_PARAMS + 1:
            continue
        pred = predict_interval(fitted["N"], fitted["D"], fitted["loss"], target["N"], target["D"],
                                num_resamples=num_resamples, level=level, seed=seed)
        loss = target["loss"].to_numpy(dtype=np.float64)
        out.append(pd.DataFrame({"k": k, "N": pred.n, "D": pred.d, "loss": loss, "pred": pred.pred,
                                 "pred_lo": pred.lo, "pred_hi": pred.hi,
                                 "rel_err": np.abs(pred.pred - loss) / loss,
                                 "covered": (pred.lo <= loss) & (loss <= pred.hi)}))
    if not out:
        raise AnalysisInputError(f"rollout needs at least {NUM_PARAMS + 1} runs below some size and a larger size to "
                                 f"predict; the table has {len(table)} runs over {sizes.size} sizes.")
    return pd.concat(out, ignore_index=True)
