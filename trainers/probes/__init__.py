"""Probes of the distortion vector during training: stability φ, rate–distortion, calibration.

Each probe is a `trainers.hooks.Hook` with its own cadence, configured by the trial's
`eval` section (`configs/eval.py`) and added by `trainers.loop.default_hooks`:

- `stability`: φ under Gaussian weight noise (`stability/phi_weight`) and under random
  input tokens (`stability/phi_input`), on a fixed held-out subset (`subsets`);
- `quantize`: held-out loss per domain with weights quantized per row (`ratedist/…`);
- `calibration`: per-domain temperature T*, loss at T* and top-1 ECE (`calibration/…`);
- `registry`: `PROBES` (name → hook builder) and `probe_hooks(trial)`, the hooks of `eval.probes`.
"""

from trainers.probes.registry import PROBES, probe_hooks

__all__ = ["PROBES", "probe_hooks"]
