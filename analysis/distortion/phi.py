"""Stability φ recomputed from the raw probe losses, in a form named by the caller.

Trials log the losses behind φ — the clean probe loss L (`stability/probe_loss`), the
perturbed ones L̃ (`stability/weight_noise_loss`, `stability/input_noise_loss`) and the
untrained reference L₀ (`init/probe_loss`, step 0) — so the analysis computes φ in either
form of `configs.metrics.phi_of` whatever form the trial logged: `retained_gain` (default)
or the earlier `relative`, never mixing the two. Runs from before the raw losses were logged
carry only the relative form; they are refused for `retained_gain` with that reason.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.distortion.data import DistortionData
from analysis.errors import AnalysisInputError
from configs import metrics as M

#: φ column → the perturbed-loss column it is computed from.
PERTURBED = {M.PHI_WEIGHT: M.WEIGHT_NOISE_LOSS, M.PHI_INPUT: M.INPUT_NOISE_LOSS}


def phi_column(clean: pd.Series, perturbed: pd.Series, reference: pd.Series, form: str) -> pd.Series:
    """`phi_of` row by row (NaN where a loss is missing)."""
    values = [M.phi_of(c, p, None if pd.isna(r) else r, form) if pd.notna(c) and pd.notna(p) else np.nan
              for c, p, r in zip(clean, perturbed, reference)]
    return pd.Series(values, index=clean.index, dtype=float)


def with_phi_form(data: DistortionData, form: str) -> DistortionData:
    """`data` with its φ columns recomputed in `form` from the raw losses.

    Raises:
        AnalysisInputError: an unknown form, or `retained_gain` asked of runs that logged no
            raw probe losses or no untrained reference.
    """
    if form not in M.PHI_FORMS:
        raise AnalysisInputError(f"--phi-form {form!r} is not one of {', '.join(M.PHI_FORMS)}")
    history = data.history.copy()
    logged_phi = [k for k in PERTURBED if k in history]
    if not logged_phi:
        return data
    if M.PROBE_LOSS not in history:
        if form == "relative":
            return data  # runs from before the raw losses: what they logged is the relative form
        raise AnalysisInputError("these runs logged φ only in the earlier relative form (no stability/probe_loss); "
                                 "pass --phi-form relative, or rerun them for the retained-gain φ")
    reference = _reference_per_row(data, history)
    if form == "retained_gain" and reference.isna().all():
        raise AnalysisInputError("these runs logged no untrained reference loss (init/probe_loss at step 0); "
                                 "pass --phi-form relative, or rerun them")
    for key in logged_phi:
        if PERTURBED[key] in history:
            history[key] = phi_column(history[M.PROBE_LOSS], history[PERTURBED[key]], reference, form)
    return replace(data, history=history)


def _reference_per_row(data: DistortionData, history: pd.DataFrame) -> pd.Series:
    if M.INIT_PROBE_LOSS not in data.runs:
        return pd.Series(np.nan, index=history.index)
    by_run = data.runs.set_index("run_id")[M.INIT_PROBE_LOSS]
    return history["run_id"].map(by_run).astype(float)
