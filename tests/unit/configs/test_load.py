"""The YAML loader (configs/load.py): files, presets, and that shipped sweeps load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from configs import ConfigError, load_sweep
from configs.load import SWEEPS_DIR, resolve_sweep_path

SHIPPED_SWEEPS = sorted(SWEEPS_DIR.glob("*.yaml"))

TINY_SWEEP = """\
name: tiny
base:
  model: gpt_debug
  data: {task: anchor, seq_len: 9, num_train: 100, num_test: 10}
  optim: {warmup_steps: 2}
  train: {num_steps: 20, batch_size: 8, eval_every: 5, checkpoint_every: 10}
grid:
  init.rate: [0.3, 0.8]
  optim.weight_decay: [0.0, 0.1]
seeds: [0, 1]
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_sweep_from_a_file(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, TINY_SWEEP))
    assert sweep.name == "tiny" and sweep.experiment_name == "tiny"
    trials = sweep.trials()
    assert len(trials) == 2 * 2 * 2
    assert [(t.init.rate, t.optim.weight_decay, t.seed) for t in trials[:3]] == [(0.3, 0.0, 0), (0.3, 0.0, 1), (0.3, 0.1, 0)]
    assert trials[0].model.d_model == 16  # gpt_debug resolved


def test_trial_ids_stable_across_two_loads(tmp_path: Path) -> None:
    path = write(tmp_path, TINY_SWEEP)
    assert [t.trial_id for t in load_sweep(path).trials()] == [t.trial_id for t in load_sweep(str(path)).trials()]


def test_demo_preset_by_name_resolves_the_model_preset() -> None:
    sweep = load_sweep("demo")
    assert sweep.name == "demo"
    trials = sweep.trials()
    assert len(trials) == 4  # init.rate × weight_decay × one seed
    assert [(t.init.rate, t.optim.weight_decay) for t in trials] == [(0.3, 0.01), (0.3, 0.1), (0.8, 0.01), (0.8, 0.1)]
    for trial in trials:  # gpt_anchor
        assert (trial.model.n_layer, trial.model.n_head, trial.model.d_model, trial.model.d_ff) == (2, 1, 64, 256)
    assert load_sweep("preset:demo").trials() == trials
    assert load_sweep(SWEEPS_DIR / "demo.yaml").trials() == trials  # the file itself, by path


@pytest.mark.parametrize("path", SHIPPED_SWEEPS, ids=[p.stem for p in SHIPPED_SWEEPS])
def test_every_shipped_sweep_loads(path: Path) -> None:
    sweep = load_sweep(path)
    trials = sweep.trials()
    assert trials and len({t.trial_id for t in trials}) == len(trials)
    assert all(t.sweep == sweep.name for t in trials)


def test_shipped_sweeps_exist() -> None:
    assert "demo" in [p.stem for p in SHIPPED_SWEEPS]


@pytest.mark.parametrize(
    "spec, message",
    [
        # A path that does not exist is an error even when its stem names a preset.
        ("nope/demo.yaml", r"sweep file 'nope/demo\.yaml' does not exist; to run the preset of that name, write `demo`"),
        ("demo.yaml", r"sweep file 'demo\.yaml' does not exist; to run the preset of that name, write `demo`"),
        ("./missing.yml", r"sweep file '\./missing\.yml' does not exist$"),
        # A bare name is a preset, never a file.
        ("no_such_preset", r"'no_such_preset' is not a sweep preset \(presets: .*demo.*\)$"),
        ("preset:nope", r"'nope' is not a sweep preset"),
    ],
)
def test_paths_and_presets_never_shadow_each_other(
    spec: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        resolve_sweep_path(spec)


def test_a_bare_name_that_is_a_local_file_says_how_to_run_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY_SWEEP, name="mysweep")
    with pytest.raises(ConfigError, match=r"'mysweep' is not a sweep preset .*; if you meant a file, write \./mysweep"):
        resolve_sweep_path("mysweep")
    assert load_sweep("./mysweep").name == "tiny"


@pytest.mark.parametrize(
    "text, key, line, first",
    [
        ("name: a\nname: b\n", "name", 2, 1),
        # The case that trained the wrong experiment: `train:` twice inside base.
        ("name: t\nbase:\n  train: {num_steps: 5000}\n  seed: 1\n  train: {num_steps: 20}\n", "train", 5, 3),
        ("name: t\ngrid:\n  - {init.rate: [0.3], init.rate: [0.5]}\n", "init.rate", 3, 3),
    ],
)
def test_duplicated_keys_at_any_depth_are_errors(tmp_path: Path, text: str, key: str, line: int, first: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"line {line}: key '{re.escape(key)}' is defined twice \(first on line {first}\)"):
        load_sweep(path)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, TINY_SWEEP.replace("seq_len: 9", "seq_lne: 9"))
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: invalid config:\n  base\.data\.seq_lne = 9: .*did you mean 'seq_len'\?"):
        load_sweep(path)


def test_not_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}:2:1: not valid YAML"):
        load_sweep(path)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_top_level_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"top level must be a mapping with at least `name:`"):
        load_sweep(path)


def test_missing_name(tmp_path: Path) -> None:
    path = write(tmp_path, "base: {}\n")
    with pytest.raises(ConfigError, match=r"name: Field required; add it"):
        load_sweep(path)


def test_grid_error_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, TINY_SWEEP.replace("init.rate:", "init.rat:"))
    with pytest.raises(ConfigError, match=r"grid key 'init\.rat' is not a config field; fields of 'init': rate, scheme, std"):
        load_sweep(path)
