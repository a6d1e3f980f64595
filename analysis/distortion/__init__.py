"""Reading the distortion vector of a sweep (issue 10): `scalinglab distortion`.

- `data`: the experiment's runs and per-step histories from MLflow (`analysis.load` only).
- `trajectories`: D_i(t), the path in the (D₁, D₂) plane or the first two principal
  components, excess distortion D_i − H_i, rebalancing intervals.
- `stopping`: t* = argmax φ(t) against early stopping and the best-OOD step; the
  metastable region Φ = {(run, step): φ ≥ φ₀} over the sweep's axes; φ per phase.
- `pareto`: non-dominated final distortion vectors at comparable compute, by N.
- `laws`: one Chinchilla or Kaplan law per distortion component, with bootstrap intervals.
- `probes`: the end-of-training rate–distortion and calibration tables.
- `plots`, `html`: the figures and the self-contained HTML report; `report`: the
  orchestration the CLI calls.

Imports only `configs` and `analysis` (docs/architecture.md layers): no torch, no ray.
"""
