"""Grid expansion (configs/grid.py): count, order, values, ids, presets, errors."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from configs import ConfigError, SweepConfig, parse_sweep
from configs.grid import check_grid_path
from configs.models import available_models, resolve_model

BASE: dict[str, Any] = {
    "model": "gpt_debug",
    "data": {"task": "anchor", "seq_len": 9, "num_train": 100, "num_test": 10},
    "optim": {"warmup_steps": 2},
    "train": {"num_steps": 20, "batch_size": 8, "eval_every": 5, "checkpoint_every": 10},
}


def grid_sweep(grid: dict[str, list[Any]], seeds: list[int] | None = None, **base: Any) -> dict[str, Any]:
    return {"name": "g", "base": {**BASE, **base}, "grid": grid, "seeds": seeds or [0]}


def test_count_is_product_times_seeds_in_yaml_order_seeds_innermost() -> None:
    grid = {"init.rate": [0.3, 0.5, 0.8], "optim.weight_decay": [0.0, 0.1], "model.d_ff": [32, 64]}
    trials = parse_sweep(grid_sweep(grid, seeds=[7, 8])).trials()
    assert len(trials) == 3 * 2 * 2 * 2
    got = [(t.init.rate, t.optim.weight_decay, t.model.d_ff, t.seed) for t in trials]
    expected = list(itertools.product([0.3, 0.5, 0.8], [0.0, 0.1], [32, 64], [7, 8]))
    assert got == expected


def test_grid_order_follows_the_mapping_not_the_alphabet() -> None:
    grid = {"optim.weight_decay": [0.0, 0.1], "init.rate": [0.3, 0.8]}
    trials = parse_sweep(grid_sweep(grid)).trials()
    assert [(t.optim.weight_decay, t.init.rate) for t in trials] == [(0.0, 0.3), (0.0, 0.8), (0.1, 0.3), (0.1, 0.8)]


def test_each_trial_keeps_the_base_and_the_sweep_name() -> None:
    trials = parse_sweep(grid_sweep({"init.rate": [0.3, 0.8]})).trials()
    for trial in trials:
        assert trial.sweep == "g"
        assert (trial.model.n_layer, trial.model.d_model, trial.model.d_ff) == (1, 16, 64)  # gpt_debug
        assert (trial.train.num_steps, trial.data.num_train, trial.optim.warmup_steps) == (20, 100, 2)


def test_trial_ids_stable_across_loads_and_distinct() -> None:
    raw = grid_sweep({"init.rate": [0.3, 0.8], "optim.weight_decay": [0.0, 0.1]}, seeds=[0, 1])
    first = [t.trial_id for t in parse_sweep(raw).trials()]
    second = [t.trial_id for t in parse_sweep(raw).trials()]
    assert first == second
    assert len(set(first)) == len(first) == 8


def test_grid_over_model_presets_resolves_them() -> None:
    trials = parse_sweep(grid_sweep({"model": ["gpt_debug", "gpt_anchor"]})).trials()
    shapes = [(t.model.n_layer, t.model.n_head, t.model.d_model, t.model.d_ff) for t in trials]
    assert shapes == [(1, 1, 16, 64), (2, 1, 64, 256)]


def test_grid_over_a_model_field_on_top_of_a_preset_base() -> None:
    trials = parse_sweep(grid_sweep({"model.d_model": [16, 32]})).trials()
    assert [(t.model.n_layer, t.model.d_model, t.model.d_ff) for t in trials] == [(1, 16, 64), (1, 32, 64)]


def test_grid_values_are_validated_per_point() -> None:
    raw = grid_sweep({"model.d_model": [16, 30]}, model={"n_head": 4})
    with pytest.raises(ConfigError, match=r"grid point \{'model\.d_model': 30\}[\s\S]*d_model \(30\) must be divisible by model\.n_head \(4\)"):
        parse_sweep(raw)


def test_cross_field_error_in_base_fixed_by_every_grid_point_is_accepted() -> None:
    raw = grid_sweep({"train.num_steps": [50, 60]}, optim={"warmup_steps": 30},
                     train={**BASE["train"], "num_steps": 10})
    assert [t.train.num_steps for t in parse_sweep(raw).trials()] == [50, 60]


def test_cross_field_error_at_one_grid_point_names_the_point() -> None:
    raw = grid_sweep({"train.num_steps": [50, 20]}, optim={"warmup_steps": 30})
    with pytest.raises(ConfigError, match=r"grid point \{'train\.num_steps': 20\}[\s\S]*optim\.warmup_steps \(30\) must be less than train\.num_steps \(20\)"):
        parse_sweep(raw)


def test_empty_grid_list() -> None:
    with pytest.raises(ConfigError, match=r"grid\['init\.rate'\] is an empty list; give at least one value"):
        parse_sweep(grid_sweep({"init.rate": []}))


@pytest.mark.parametrize(
    "path, message",
    [
        ("optim.learning_rate", r"grid key 'optim\.learning_rate' is not a config field; fields of 'optim': .*\blr\b"),
        ("lr", r"grid key 'lr': 'lr' is not a trial section; use one of model, init, optim, data, train"),
        ("seed", r"grid key 'seed': 'seed' is not a trial section.*seeds go in `seeds:`"),
        ("sweep", r"'sweep' is not a trial section"),
        ("optim", r"grid key 'optim' must name a field, e\.g\. 'optim\.<field>'"),
        ("model.d_model.x", r"grid key 'model\.d_model\.x' is not a config field; fields of 'model'"),
    ],
)
def test_unknown_grid_path(path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_grid_path(path)
    with pytest.raises(ConfigError, match=message):
        parse_sweep(grid_sweep({path: [1]}))


def test_known_grid_paths() -> None:
    for path in ("model", "model.d_model", "init.rate", "optim.lr", "data.num_train", "train.batch_size"):
        check_grid_path(path)


def test_duplicate_trials_from_grid_values() -> None:
    with pytest.raises(ConfigError, match=r"trials 0 and 1 resolve to the same config \(trial id [0-9a-f]{10}\); remove the duplicate"):
        parse_sweep(grid_sweep({"init.rate": [0.5, 0.5]}))


def test_duplicate_trials_from_seeds() -> None:
    with pytest.raises(ConfigError, match=r"trials 1 and 2 resolve to the same config"):
        parse_sweep(grid_sweep({}, seeds=[0, 1, 1]))


def test_duplicate_trials_from_equivalent_values() -> None:
    # 0.5 and 0.50 are the same value; a preset and its spelled-out fields are the same model.
    with pytest.raises(ConfigError, match=r"trials 0 and 1 resolve to the same config"):
        parse_sweep(grid_sweep({"model": ["gpt_debug", {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64}]}))


def test_bad_model_preset_in_grid() -> None:
    with pytest.raises(ConfigError, match=r"model preset 'gpt_hug' does not exist; available: (\w+, )*gpt_debug\b"):
        parse_sweep(grid_sweep({"model": ["gpt_debug", "gpt_hug"]}))


def test_no_grid_gives_one_trial_per_seed() -> None:
    trials = parse_sweep(grid_sweep({}, seeds=[3, 1, 2])).trials()
    assert [t.seed for t in trials] == [3, 1, 2]


def test_expansion_does_not_mutate_the_sweep() -> None:
    sweep = SweepConfig.model_validate(grid_sweep({"model": ["gpt_debug", "gpt_anchor"], "init.rate": [0.3]}))
    before = sweep.model_dump()
    sweep.trials()
    sweep.trials()
    assert sweep.model_dump() == before
    assert sweep.base["model"] == "gpt_debug"


def test_model_presets() -> None:
    assert {"gpt_debug", "gpt_anchor", "gpt_anchor_reference"} <= set(available_models())
    assert resolve_model("gpt_debug") == {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64}
    assert resolve_model({"d_model": 8}) == {"d_model": 8}  # not a name: passes through
    with pytest.raises(ConfigError, match=r"model preset 'nope' does not exist"):
        resolve_model("nope")


def test_preset_and_model_field_in_grid_do_not_depend_on_key_order() -> None:
    field_first = grid_sweep({"model.d_model": [32], "model": ["gpt_anchor"]})
    preset_first = grid_sweep({"model": ["gpt_anchor"], "model.d_model": [32]})
    assert [t.model.d_model for t in parse_sweep(preset_first).trials()] == [32]
    assert [t.model.d_model for t in parse_sweep(field_first).trials()] == [32]
