"""Scaling laws: fitted forms, their fitters and the analyses built on them.

- `forms`: the pure functional forms (Kaplan, Chinchilla, sigmoid score map).
- `result`: `FitResult` and `predict_loss`; `inputs`: input checks shared by fitters.
- `chinchilla`, `kaplan`: the fitters; `bootstrap`: percentile intervals; `holdout`:
  extrapolation error on the largest runs.
- `flops`: FLOPs conventions and the C = k N D relation; `compute_optimal`: allocation
  (approach 3) and IsoFLOP profiles (approach 2); `lines`: OLS lines with t-intervals.
- `density`: the density law; `points`: points from an experiment; `plots`; `report`: the
  orchestration the CLI calls.
"""
