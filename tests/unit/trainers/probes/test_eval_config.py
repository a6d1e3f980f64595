"""The `eval` section of a trial (configs/eval.py): defaults, cadences and its validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from configs import TrialConfig
from configs.eval import EvalConfig


def test_defaults_probe_at_every_evaluation_and_stay_out_of_the_trial_identity() -> None:
    cfg = EvalConfig()
    assert cfg.cadence(cfg.phi_weight_every, 100) == 100 and cfg.cadence(0, 100) == 0
    assert cfg.ratedist_bits == [8, 6, 4, 2] and cfg.calibration_at_last_step
    other = TrialConfig.model_validate({"eval": {"phi_weight_epsilon": 0.2}})
    assert other.config_hash == TrialConfig().config_hash  # probes measure; they train nothing
    assert TrialConfig().flat_params()["eval.phi_weight_epsilon"] == 0.1
    assert TrialConfig.model_validate(other.model_dump()) == other  # the Ray transport round trip


@pytest.mark.parametrize(("section", "message"), [
    ({"calibration_steps": [0, 5]}, r"eval.calibration_steps has steps \[0\] < 1"),
    ({"calibration_steps": [5, 5]}, r"repeats a step"),
    ({"ratedist_bits": [8, 1]}, r"eval.ratedist_bits \[1\] outside 2..16"),
    ({"ratedist_bits": [4, 4]}, r"repeats a width"),
    ({"phi_input_fraction": 1.5}, r"less than or equal to 1"),
    ({"phi_weight_epsilon": 0}, r"greater than 0"),
    ({"phi_weight_every": -1}, r"greater than or equal to 0"),
    ({"phi0": -0.1}, r"Extra inputs are not permitted"),  # φ₀ is an analysis setting
])
def test_bad_eval_settings_are_refused(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrialConfig.model_validate({"eval": section})


def test_lists_are_normalised() -> None:
    cfg = EvalConfig(calibration_steps=[30, 10], ratedist_bits=[2, 8])
    assert cfg.calibration_steps == [10, 30] and cfg.ratedist_bits == [8, 2]
