"""Analysis of tracked runs: reads MLflow only, fits laws, draws figures, logs analyses back.

Where things live (each concept in one module, imported from its home):

- `analysis.load`: the single MLflow reader (`load_runs`, `load_history`, `NoRunsError`).
- `analysis.record`: `log_analysis_run`, one analysis run per kind and experiment.
- `analysis.errors`: `AnalysisInputError`, the base of every error a user can fix.
- `analysis.laws`: scaling laws — forms, fitters, bootstrap, hold-out, compute-optimal
  allocation, FLOPs conventions, density, plots and the report the CLI calls.
- `analysis.phase`: complexity-control phase table, figures and report.

Imports only `configs` from this project; never torch, ray, trainers or cluster.
"""
