"""A trial's identity (configs/identity.py): what enters the hash, what does not, and version 1."""

from __future__ import annotations

from typing import Any

import pytest

from configs import ConfigError, TrialConfig, parse_sweep
from configs import metrics as M
from configs import runs
from configs.identity import ADDED_AT_DEFAULT, IDENTITY_FIELDS, IDENTITY_VERSION, NOT_IDENTITY

ADDED_AT_DEFAULT_BY_NAME = {path.removeprefix("optim."): default for path, default in ADDED_AT_DEFAULT.items()}

# Version 1's hash of the default trial (also pinned in tests/unit/trainers/test_cooldown.py).
DEFAULT_V1_HASH = "93d4e071ba1292c31ec94d934270d3159cddc5ebca894ce9dbdbf2ab3bd1e151"
# Version 2's hash of the default trial: a change here retrains every finished trial of every sweep.
DEFAULT_V2_HASH = "663bb6bd27a30b48a47a78b33cfbbbf483ee0b22c925c5781d490152429dc592"


@pytest.mark.parametrize(("change", "same"), [  # same: the same config hash
    # execution and measurement: the same weights
    ({"train": {"num_threads": 2}}, True),
    ({"train": {"precision": "fp32"}}, True),
    ({"train": {"micro_batch_size": 128}}, True),
    ({"train": {"zero_stage": 2}}, True),
    ({"train": {"eval_every": 50}}, True),
    ({"train": {"checkpoint_every": 1000}}, True),
    ({"eval": {"phi_weight_every": 50}}, True),
    ({"eval": {"phi_form": "relative"}}, True),
    ({"eval": {"ratedist_bits": []}}, True),
    ({"data": {"cache_dir": "/tmp/elsewhere"}}, True),
    ({"sweep": "another"}, True),
    # what is trained
    ({"init": {"rate": 0.7}}, False),
    ({"optim": {"lr": 1e-3}}, False),
    ({"seed": 1}, False),
    ({"model": {"d_model": 32}}, False),
    ({"train": {"num_steps": 1000}}, False),
    ({"train": {"batch_size": 256}}, False),
    ({"data": {"num_train": 10_000}}, False),
    ({"optim": {"cooldown_fraction": 0.1}}, False),  # one rule: no field counts only sometimes
    ({"optim": {"decay_embeddings": False}}, False),  # added later: off its default it counts
    ({"optim": {"mup_d_model_ref": 64}}, False),
])
def test_what_changes_the_hash(change: dict[str, Any], same: bool) -> None:
    base, changed = TrialConfig(), TrialConfig.model_validate(change)  # one field off the defaults
    assert changed != base
    assert (changed.config_hash == base.config_hash) is same
    # An eval change keeps the hash but is another measurement: its trial id carries it.
    measured_apart = "eval" in change
    assert (changed.measurement_hash == base.measurement_hash) is not measured_apart
    assert (changed.trial_id == base.trial_id) is (same and not measured_apart)


def test_every_config_field_is_decided() -> None:
    # A new field fails here until it joins IDENTITY_FIELDS or NOT_IDENTITY (with its reason).
    flat = TrialConfig().flat_params()
    outside = [path for path in flat if any(path == g or path.startswith(f"{g}.") for g in NOT_IDENTITY)]
    assert sorted(set(flat) - set(outside)) == sorted(IDENTITY_FIELDS)
    assert not set(outside) & set(IDENTITY_FIELDS)
    assert all(reason for reason in NOT_IDENTITY.values())


def test_default_hashes_of_both_versions_are_pinned() -> None:
    trial = TrialConfig()
    assert (trial.config_hash_v1, trial.config_hash) == (DEFAULT_V1_HASH, DEFAULT_V2_HASH)
    assert trial.trial_id == DEFAULT_V2_HASH[:10]
    assert runs.recorded_hashes(trial) == (DEFAULT_V2_HASH, DEFAULT_V1_HASH)


def test_version_one_still_hashes_eval_settings() -> None:
    # Runs logged before version 2 are found by the rule they were logged under.
    probes = TrialConfig.model_validate({"eval": {"phi_weight_every": 50}})
    assert probes.config_hash_v1 != DEFAULT_V1_HASH and probes.config_hash == DEFAULT_V2_HASH


def test_runs_carry_the_identity_version() -> None:
    tags = runs.trial_tags(TrialConfig(sweep="s"))
    assert tags[M.TAG_IDENTITY_VERSION] == str(IDENTITY_VERSION) == "2"
    assert runs.identity_tags(TrialConfig(sweep="s")).items() <= tags.items()


def test_a_grid_over_an_execution_setting_names_it() -> None:
    raw = {"name": "threads", "base": {"train": {"num_steps": 200}}, "grid": {"train.num_threads": [1, 2]}}
    with pytest.raises(ConfigError, match=r"trials 0 and 1 train the same model .*differ only in "
                                          r"train\.num_threads, outside a trial's identity"):
        parse_sweep(raw).trials()


def test_a_grid_over_an_eval_key_makes_measurement_runs_of_one_identity() -> None:
    raw = {"name": "eps", "base": {"train": {"num_steps": 200}, "eval": {"probes": ["phi_weight"]}},
           "grid": {"eval.phi_weight_epsilon": [0.1, 0.5]}}
    trials = parse_sweep(raw).trials()
    assert [t.eval.phi_weight_epsilon for t in trials] == [0.1, 0.5]
    assert len({t.config_hash for t in trials}) == 1  # one training
    assert len({t.measurement_hash for t in trials}) == 2  # two measurements
    assert len({t.trial_id for t in trials}) == 2
    assert all(t.trial_id == f"{t.config_hash[:10]}-m{t.measurement_hash[:6]}" for t in trials)
    tags = [runs.trial_tags(t) for t in trials]
    assert [tag[M.TAG_MEASUREMENT_HASH] for tag in tags] == [t.measurement_hash for t in trials]


def test_a_grid_over_probe_lists_is_accepted() -> None:
    raw = {"name": "probes", "base": {"train": {"num_steps": 200}},
           "grid": {"eval.probes": [["phi_weight"], ["phi_weight", "calibration"]]}}
    trials = parse_sweep(raw).trials()
    assert len(trials) == 2 and len({t.config_hash for t in trials}) == 1 and len({t.trial_id for t in trials}) == 2


@pytest.mark.parametrize("path, values", [
    ("train.num_threads", [1, 2]),
    ("train.precision", ["fp32", "bf16"]),
    ("train.micro_batch_size", [32, 64]),
    ("train.checkpoint_every", [100, 1000]),
])
def test_a_grid_over_an_execution_setting_is_still_refused(path: str, values: list[Any]) -> None:
    raw = {"name": "exec", "base": {"train": {"num_steps": 200}, "eval": {"probes": ["phi_weight"]}},
           "grid": {path: values}}
    with pytest.raises(ConfigError, match=rf"differ only in {path.replace('.', '[.]')}, outside a trial's identity"):
        parse_sweep(raw).trials()


# Trial ids a sweep that does not vary eval had before measurements were keyed (pinned by
# computing them on main at 2263c56): run names and checkpoint folders must not move.
UNCHANGED_SWEEP_IDS = {
    ("init.rate", 0.5): "a8d928b937",
    ("init.rate", 0.7): "11d886f78b",
}


def test_a_sweep_that_does_not_vary_eval_keeps_its_trial_ids() -> None:
    raw = {"name": "rates", "base": {"train": {"num_steps": 200}}, "grid": {"init.rate": [0.5, 0.7]}}
    trials = parse_sweep(raw).trials()
    assert {("init.rate", t.init.rate): t.trial_id for t in trials} == UNCHANGED_SWEEP_IDS
    assert all(t.trial_id == t.config_hash[:10] for t in trials)
    assert TrialConfig().trial_id == DEFAULT_V2_HASH[:10]


def test_fields_added_later_at_their_defaults_keep_every_pinned_hash_and_id() -> None:
    # optim.decay_embeddings / optim.mup_d_model_ref (ADDED_AT_DEFAULT), written out at their
    # defaults, in a sweep started before they existed: the same ids, v2 and v1 hashes.
    defaults = {"decay_embeddings": True, "mup_d_model_ref": None}
    assert defaults == ADDED_AT_DEFAULT_BY_NAME
    raw = {"name": "rates", "base": {"train": {"num_steps": 200}, "optim": defaults}, "grid": {"init.rate": [0.5, 0.7]}}
    trials = parse_sweep(raw).trials()
    assert {("init.rate", t.init.rate): t.trial_id for t in trials} == UNCHANGED_SWEEP_IDS
    explicit = TrialConfig.model_validate({"optim": defaults})
    assert (explicit.config_hash_v1, explicit.config_hash) == (DEFAULT_V1_HASH, DEFAULT_V2_HASH)


def test_a_field_added_later_off_its_default_moves_both_hashes() -> None:
    off = TrialConfig.model_validate({"optim": {"decay_embeddings": False}})
    assert off.config_hash != DEFAULT_V2_HASH and off.config_hash_v1 != DEFAULT_V1_HASH
    assert off.flat_params()["optim.decay_embeddings"] is False  # logged as a param either way
