"""The probe registry: a probe's name in `eval.probes` → the builder of its hooks.

Probes are opt-in per sweep (`eval.probes: [phi_weight, calibration]`; default none, so a
ladder trial pays nothing for them). A builder takes the trial and its fixed probe subset
(`trainers.probes.subsets`) and returns the probe's hooks — none if its own `eval` settings
turn it off (a cadence of 0, `ratedist_bits: []`). Adding a probe: its module (hook body,
using metric keys from configs/metrics.py), its settings in configs/eval.py, and one line
here (docs/architecture.md, "How to add a probe").
"""

from __future__ import annotations

from collections.abc import Callable

from configs import TrialConfig
from trainers.hooks import Hook
from trainers.probes.hooks import calibration_hooks, phi_input_hooks, phi_weight_hooks, ratedist_hooks
from trainers.probes.reference import probe_subsets
from trainers.probes.subsets import ProbeSubsets
from trainers.probes.training_kl import training_kl_hook

ProbeBuilder = Callable[[TrialConfig, ProbeSubsets], list[Hook]]

PROBES: dict[str, ProbeBuilder] = {
    "phi_weight": phi_weight_hooks,
    "phi_input": phi_input_hooks,
    "training_kl": training_kl_hook,
    "calibration": calibration_hooks,
    "ratedist": ratedist_hooks,
}


def probe_hooks(trial: TrialConfig) -> list[Hook]:
    """The hooks of the probes `trial.eval.probes` names, in the registry's order."""
    unknown = [name for name in trial.eval.probes if name not in PROBES]
    if unknown:
        raise ValueError(
            f"eval.probes names unknown probes {unknown}; registered probes: {sorted(PROBES)} "
            "(trainers/probes/registry.py); list only those"
        )
    if not trial.eval.probes:
        return []
    subsets = probe_subsets(trial)
    return [hook for name, build in PROBES.items() if name in trial.eval.probes for hook in build(trial, subsets)]
