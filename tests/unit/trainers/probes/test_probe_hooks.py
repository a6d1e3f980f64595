"""The probes as hooks: built from `trial.eval`, placed after evaluation, logged on cadence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from configs import TrialConfig
from configs import metrics as M
from trainers import InMemoryTracker, run_trial
from trainers.loop import default_hooks
from trainers.probes import PROBES, probe_hooks


ALL_PROBES = list(PROBES)


def tiny_trial(**eval_section: Any) -> TrialConfig:
    """A tiny trial that lists every registered probe unless `probes` says otherwise."""
    eval_section.setdefault("probes", ALL_PROBES)
    return TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 32},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 256, "num_test": 64},
        "optim": {"lr": 1e-2, "warmup_steps": 2},
        "train": {"num_steps": 10, "batch_size": 16, "eval_every": 4, "checkpoint_every": 8},
        "eval": eval_section,
    })


def test_no_probe_runs_unless_listed() -> None:
    assert probe_hooks(tiny_trial(probes=[])) == []
    hooks = default_hooks(tiny_trial(probes=[]), lambda metrics, checkpoint: None)
    assert [h.name for h in hooks] == ["divergence", "evaluate", "held-out divergence", "log", "checkpoint", "report"]
    assert [h.name for h in probe_hooks(tiny_trial(probes=["calibration", "phi_input"]))] == ["phi_input", "calibration"]


def test_an_unknown_probe_name_lists_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"eval.probes names unknown probes \['phi_wieght'\]; registered probes: \['calibration', "):
        probe_hooks(tiny_trial(probes=["phi_wieght"]))


def test_listed_probes_follow_evaluation_and_can_be_turned_off() -> None:
    hooks = default_hooks(tiny_trial(), lambda metrics, checkpoint: None)
    names = [(h.name, h.every, h.at_last_step) for h in hooks]
    assert names[1:8] == [("evaluate", 4, True), ("held-out divergence", 4, True), ("phi_weight", 4, True),
                          ("phi_input", 4, True), ("training_kl", 4, True), ("calibration", 1, True),
                          ("rate-distortion", 10, True)]
    off = tiny_trial(phi_weight_every=0, phi_input_every=0, training_kl_every=0, calibration_at_last_step=False,
                     ratedist_bits=[])
    assert probe_hooks(off) == []
    assert [h.every for h in probe_hooks(tiny_trial(phi_weight_every=3, phi_input_every=0, training_kl_every=0,
                                                    calibration_at_last_step=False, ratedist_bits=[]))] == [3]


def test_a_trial_logs_every_probe_on_its_cadence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])
    tracker = InMemoryTracker()
    trial = tiny_trial(calibration_steps=[4], ratedist_bits=[8, 2], probe_examples=32)
    result = run_trial(trial, tracking=tracker, checkpoint_root=tmp_path / "ckpt")
    history = tracker.history
    assert set(history[M.PHI_WEIGHT]) == {4, 8, 10} == set(history[M.PHI_INPUT]) == set(history[M.VAL_LOSS])
    assert set(history[M.calibration_t_opt_key("ood")]) == {4, 10}
    assert set(history[M.ratedist_key(2, "id")]) == {10}
    assert {M.ratedist_key(8, "ood"), M.calibration_ece_key("id"), M.calibration_loss_at_t_key("id")} <= set(history)
    assert M.PHI_WEIGHT in result.final  # reported with the final evaluation
    for domain in ("id", "ood"):  # the first KL is against the untrained model's predictions
        assert set(history[M.training_kl_key(domain)]) == {4, 8, 10}
        assert all(kl >= 0 for kl in history[M.training_kl_key(domain)].values())
    # the untrained reference and the measured init, once, at step 0
    assert set(history[M.INIT_PROBE_LOSS]) == {0} == set(history[M.init_distortion_key("ood")])
    assert set(history[M.INIT_GAMMA_EFF]) == {0}
    # φ is the retained gain of the logged raw losses
    reference = history[M.INIT_PROBE_LOSS][0]
    for step in (4, 8, 10):
        clean, noisy = history[M.PROBE_LOSS][step], history[M.WEIGHT_NOISE_LOSS][step]
        assert history[M.PHI_WEIGHT][step] == M.phi_of(clean, noisy, reference)
        assert history[M.PHI_INPUT][step] == M.phi_of(clean, history[M.INPUT_NOISE_LOSS][step], reference)


def test_the_relative_form_is_a_named_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])
    tracker = InMemoryTracker()
    trial = tiny_trial(phi_form="relative", calibration_at_last_step=False, ratedist_bits=[], probe_examples=16)
    run_trial(trial, tracking=tracker, checkpoint_root=tmp_path / "ckpt")
    h = tracker.history
    assert h[M.PHI_WEIGHT][10] == -(h[M.WEIGHT_NOISE_LOSS][10] - h[M.PROBE_LOSS][10]) / h[M.PROBE_LOSS][10]


def test_a_resumed_trial_logs_the_probe_values_of_an_uninterrupted_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])
    trial = tiny_trial(calibration_at_last_step=False, ratedist_bits=[], probe_examples=16)
    checkpoints: dict[int, Path] = {}

    def keep(metrics: dict[str, float], checkpoint: Path | None) -> None:
        if checkpoint is not None:
            checkpoints[int(metrics["step"])] = checkpoint

    whole = InMemoryTracker()
    run_trial(trial, keep, tracking=whole, checkpoint_root=tmp_path / "a")
    resumed = InMemoryTracker()
    run_trial(trial, tracking=resumed, resume_from=checkpoints[8], checkpoint_root=tmp_path / "b")
    for key in (M.PHI_WEIGHT, M.PHI_INPUT, M.training_kl_key("id")):
        assert set(resumed.history[key]) == {10}
        assert resumed.history[key][10] == pytest.approx(whole.history[key][10], rel=1e-5)


def test_an_untrained_model_has_no_retained_gain_and_the_relative_form_is_at_its_top(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At lr 1e-6 three steps leave the model at its initialization (L moves < 1e-3 nats).

    Retained gain: L₀ − L ≈ 0, so φ = 0 (tolerance 0.02: the rule, not a coincidence of the
    draws). The relative form −(L̃ − L)/L sits within 0.01 of its upper bound 0 there, above
    anything a trained model reaches — why it cannot test the stability hypothesis.
    """
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])
    trial = TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 32},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 256, "num_test": 64},
        "optim": {"lr": 1e-6, "warmup_steps": 0}, "train": {"num_steps": 3, "batch_size": 16, "eval_every": 1},
        "eval": {"probes": ["phi_weight"], "calibration_at_last_step": False, "ratedist_bits": [], "probe_examples": 64},
    })
    tracker = InMemoryTracker()
    run_trial(trial, tracking=tracker, checkpoint_root=tmp_path / "ckpt")
    h = tracker.history
    for step in (1, 2, 3):
        assert abs(h[M.PROBE_LOSS][step] - h[M.INIT_PROBE_LOSS][0]) < 1e-3
        assert abs(h[M.PHI_WEIGHT][step]) <= 0.02
        assert -0.01 <= M.phi_of(h[M.PROBE_LOSS][step], h[M.WEIGHT_NOISE_LOSS][step], None, "relative") <= 0
