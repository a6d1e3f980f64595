"""Tables of the probes: rate–distortion, temperature/calibration and training stability.

Rate–distortion and calibration read the runs table (the last logged value of each
`ratedist/<bits>/<d>` and `calibration/…/<d>` key), beside the run's final full-precision
distortion `distortion/<d>`. Rate–distortion also gives the retained gain at each width,
1 − (L_b − L)/(L₀ − L) with L₀ the untrained model's loss on the domain
(`init/distortion/<d>`), the same form as φ (`configs.metrics.phi_of`). The training-KL
table reads the history.
"""

from __future__ import annotations

import pandas as pd

from analysis.distortion.data import DistortionData, with_axes
from configs import metrics as M


def ratedist_table(data: DistortionData) -> pd.DataFrame:
    """run_id, sweep axes, bits, domain, loss, full (final fp distortion), extra = loss − full."""
    parsed = [(key, M.parse_ratedist_key(key)) for key in data.runs.columns]
    keys = [(key, found) for key, found in parsed if found is not None and found[1] in data.domains]
    rows = []
    for _, run in data.runs.iterrows():
        for key, (bits, domain) in keys:
            if pd.notna(run[key]):
                full = float(run[M.distortion_key(domain)])
                untrained = run.get(M.init_distortion_key(domain), float("nan"))
                gain = M.phi_of(full, float(run[key]), float(untrained)) if pd.notna(untrained) else float("nan")
                rows.append({"run_id": run["run_id"], "bits": bits, "domain": domain, "loss": float(run[key]),
                             "full": full, "extra": float(run[key]) - full, "retained_gain": gain})
    columns = ["run_id", "bits", "domain", "loss", "full", "extra", "retained_gain"]
    return with_axes(pd.DataFrame(rows, columns=columns), data)


def training_kl_table(data: DistortionData) -> pd.DataFrame:
    """run_id, sweep axes, step, domain, kl: training stability at every probe (long form)."""
    keys = {M.training_kl_key(d): d for d in data.domains if M.training_kl_key(d) in data.history}
    if not keys:
        return pd.DataFrame(columns=["run_id", "step", "domain", "kl"])
    long = data.history.melt(id_vars=["run_id", "step"], value_vars=list(keys), var_name="key", value_name="kl")
    long = long.dropna(subset=["kl"]).assign(domain=lambda t: t["key"].map(keys)).drop(columns="key")
    return with_axes(long[["run_id", "step", "domain", "kl"]].reset_index(drop=True), data)


def calibration_table(data: DistortionData) -> pd.DataFrame:
    """run_id, sweep axes, domain, t_opt, loss_at_t, ece, loss (final distortion at T = 1)."""
    rows = []
    for _, run in data.runs.iterrows():
        for domain in data.domains:
            key = M.calibration_t_opt_key(domain)
            if key in run and pd.notna(run[key]):
                rows.append({"run_id": run["run_id"], "domain": domain, "t_opt": float(run[key]),
                             "loss_at_t": float(run.get(M.calibration_loss_at_t_key(domain), float("nan"))),
                             "ece": float(run.get(M.calibration_ece_key(domain), float("nan"))),
                             "loss": float(run[M.distortion_key(domain)])})
    return with_axes(pd.DataFrame(rows, columns=["run_id", "domain", "t_opt", "loss_at_t", "ece", "loss"]), data)
