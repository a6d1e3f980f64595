"""Scaling laws: fitted forms, their fitters and the analyses built on them.

- `forms`: the pure functional forms (Kaplan, Chinchilla, sigmoid score map).
- `result`: `FitResult` and `predict_loss`; `inputs`: input checks shared by the fitters.
- `chinchilla`: the approach-3 fit, built from `objective` (Huber objective with exact
  gradient and Hessian), `search` (variable projection over an (alpha, beta) grid) and
  `newton` (batched damped Newton); `kaplan`: single-variable laws.
- `bootstrap`: percentile intervals, every resample re-running the full search;
  `holdout`: extrapolation error on the largest runs; `compare`: joint fits with shared
  exponents and effective-compute multipliers.
- `flops`: FLOPs conventions and the C = k N D relation; `compute_optimal`: allocation
  (approach 3) and IsoFLOP profiles (approach 2); `lines`: OLS lines with t-intervals.
- `density`: the density law; `points`: points from an experiment or a CSV; `plots`;
  `report`: the orchestration the CLI calls.
"""
