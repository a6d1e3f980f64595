"""The retained-gain φ on the demo's composing cell: it rises from its untrained value.

The demo's γ 0.8, λ 0.1 cell (`configs/sweeps/demo.yaml`) reaches phase 3 (ID ≥ 0.9,
OOD ≥ 0.5). A stability measure that can test the theory must start low on the untrained
model and end higher on this composing solution; the earlier relative form does the
opposite (largest at initialization), which the test also shows. One plain trial through
DeepSpeed, no Ray (45 s on one core).
"""

from __future__ import annotations

import pytest

from configs import load_sweep
from configs import metrics as M
from trainers import InMemoryTracker, run_trial

pytestmark = [pytest.mark.integration]


def test_the_demo_phase_3_run_ends_with_higher_phi_than_at_step_0() -> None:
    trial = next(t for t in load_sweep("demo").trials() if t.init.rate == 0.8 and t.optim.weight_decay == 0.1)
    tracker = InMemoryTracker()
    result = run_trial(trial, tracking=tracker)
    h = tracker.history
    assert result.final[M.ID_ACC] >= 0.9 and result.final[M.OOD_ACC_BEST] >= 0.5  # really phase 3
    reference, last = h[M.INIT_PROBE_LOSS][0], trial.train.num_steps
    untrained = M.phi_of(reference, reference, reference)  # the untrained model: no gain to retain
    assert untrained == 0.0
    assert h[M.PHI_WEIGHT][last] > untrained + 0.5
    relative = {s: M.phi_of(h[M.PROBE_LOSS][s], h[M.WEIGHT_NOISE_LOSS][s], None, "relative") for s in h[M.PROBE_LOSS]}
    first = min(relative)
    assert relative[last] < relative[first]  # the old form falls as the model learns
