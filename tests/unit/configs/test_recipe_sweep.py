"""A sweep's `recipe:` key: lr / batch / warm-up resolved per trial from N (configs/recipe.py, configs/sweep.py)."""

from __future__ import annotations

from typing import Any

import pytest

from configs.errors import ConfigError
from configs.load import parse_sweep

# 1-layer, d_ff = 4·d: N = 12·d² + 15·d (configs.metrics.num_params), so
# d=32 -> N = 12768 and d=64 -> N = 50112, a ratio of 3.9248.
SMALL = {"n_layer": 1, "n_head": 1, "d_model": 32, "d_ff": 128}
LARGE = {"n_layer": 1, "n_head": 1, "d_model": 64, "d_ff": 256}
RECIPE = {"n_ref": 12768, "lr_ref": 3e-3, "batch_ref": 32, "batch_multiple": 8, "warmup_fraction": 0.1}


def _sweep(recipe: dict[str, Any], grid: dict[str, list[Any]] | None = None, base: dict[str, Any] | None = None):
    base = {"data": {"task": "markov", "seq_len": 16, "num_train_tokens": 2_048_000}, **(base or {})}
    return parse_sweep({"name": "r", "base": base, "grid": grid or {"model": [SMALL, LARGE]}, "recipe": recipe})


def test_resolved_lr_batch_warmup_table_by_hand() -> None:
    trials = _sweep(RECIPE).trials()
    # lr = 3e-3 · 3.9248^(-1/3) = 1.902e-3; batch = 32 · 3.9248^(2/3) = 79.6 -> 80 (multiple of 8).
    # steps = 2,048,000 tokens / (batch · 16): 4000 at batch 32, 1600 at batch 80; warm-up 10 %.
    table = [(t.num_params, t.optim.lr, t.train.batch_size, t.train.num_steps, t.optim.warmup_steps) for t in trials]
    assert table == [(12768, pytest.approx(3e-3), 32, 4000, 400),
                     (50112, pytest.approx(1.902e-3, rel=1e-3), 80, 1600, 160)]


@pytest.mark.parametrize(
    ("where", "grid", "base", "expect"),
    [
        ("grid lr", {"model": [SMALL, LARGE], "optim.lr": [1e-3]}, None, lambda t: t.optim.lr == 1e-3),
        ("base batch", None, {"train": {"batch_size": 16}}, lambda t: t.train.batch_size == 16),
        ("base warm-up", None, {"optim": {"warmup_steps": 7}}, lambda t: t.optim.warmup_steps == 7),
    ],
)
def test_explicit_values_win_over_the_recipe(where: str, grid: Any, base: Any, expect: Any) -> None:
    trials = _sweep(RECIPE, grid=grid, base=base).trials()
    assert len(trials) == 2 and all(expect(t) for t in trials), where


def test_explicit_batch_still_gets_the_recipe_lr_and_its_steps_follow_the_batch() -> None:
    small, large = _sweep(RECIPE, base={"train": {"batch_size": 16}}).trials()
    assert (small.train.num_steps, large.train.num_steps) == (8000, 8000)
    assert large.optim.lr == pytest.approx(1.902e-3, rel=1e-3) and large.optim.warmup_steps == 800


def test_lr_check_adds_two_arms_at_the_smallest_and_largest_size_only() -> None:
    middle = {"n_layer": 1, "n_head": 1, "d_model": 48, "d_ff": 192}
    trials = _sweep({**RECIPE, "lr_check": True}, grid={"model": [SMALL, middle, LARGE]}).trials()
    assert len(trials) == 3 + 2 * 2
    by_size: dict[int, list[float]] = {}
    for t in trials:
        by_size.setdefault(t.num_params, []).append(t.optim.lr)
    assert sorted(len(v) for v in by_size.values()) == [1, 3, 3]
    assert sorted(by_size[12768]) == pytest.approx([1.5e-3, 3e-3, 6e-3])


def test_lr_check_does_not_duplicate_an_explicit_lr_grid_value() -> None:
    trials = _sweep({**RECIPE, "lr_check": True}, grid={"model": [SMALL], "optim.lr": [1e-3, 2e-3]}).trials()
    # arms of 1e-3: 5e-4 and 2e-3 (already a trial); arms of 2e-3: 1e-3 (a trial) and 4e-3.
    assert sorted(t.optim.lr for t in trials) == pytest.approx([5e-4, 1e-3, 2e-3, 4e-3])


def test_no_recipe_keeps_the_trial_defaults() -> None:
    sweep = parse_sweep({"name": "r", "base": {"train": {"num_steps": 500}}, "grid": {"model": [SMALL, LARGE]}})
    assert sweep.recipe is None and {t.optim.lr for t in sweep.trials()} == {3e-3}


@pytest.mark.parametrize(
    ("recipe", "match"),
    [({"lr_ref": -1.0}, r"recipe\.lr_ref"), ({"warmup_fraction": 1.5}, r"recipe\.warmup_fraction"),
     ({"lr_exponnet": -0.5}, r"lr_exponnet.*did you mean 'lr_exponent'")],
)
def test_a_bad_recipe_is_a_config_error_naming_the_field(recipe: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _sweep({**RECIPE, **recipe})


def test_a_resolved_batch_that_an_explicit_micro_batch_does_not_divide_names_the_grid_point() -> None:
    rule = r"(?s)grid point .*batch_size \(32\) must be a multiple of train.micro_batch_size \(3\)"
    with pytest.raises(ConfigError, match=rule):
        _sweep(RECIPE, base={"train": {"micro_batch_size": 3}}).trials()


def test_a_malformed_section_is_reported_by_the_trial_validation_not_the_recipe() -> None:
    with pytest.raises(ConfigError, match=r"(?s)base\.optim.*valid dictionary"):
        _sweep(RECIPE, base={"optim": "fast"}).trials()


# Trial ids of this recipe sweep with lr_check, computed on main at 3ae49d3 (before the decay /
# μP recipe fields and optim fields existed): run names and checkpoint folders must not move.
RECIPE_SWEEP_IDS = [(32, 3e-3, "21e6b19e20"), (64, 1.9019e-3, "5b6c574030"), (32, 1.5e-3, "cff44f3cb2"),
                    (32, 6e-3, "69d7a4272c"), (64, 9.5094e-4, "d86f13435e"), (64, 3.8037e-3, "eb761aab80")]


def test_an_existing_recipe_sweep_keeps_its_trial_ids() -> None:
    trials = _sweep({**RECIPE, "lr_check": True}).trials()
    assert [(t.model.d_model, t.optim.lr, t.trial_id) for t in trials] == [
        (d, pytest.approx(lr, rel=1e-4), trial_id) for d, lr, trial_id in RECIPE_SWEEP_IDS]
    assert all(t.optim.decay_embeddings and t.optim.mup_d_model_ref is None for t in trials)


def test_mup_gives_every_width_the_reference_lr_and_the_reference_width() -> None:
    small, large = _sweep({**RECIPE, "lr_scaling": "mup", "d_model_ref": 32}).trials()
    # lr_ref at both sizes (the trainer runs matrices at 3e-3 · 32/64 = 1.5e-3 at d=64); batch as under power.
    assert [(t.optim.lr, t.optim.mup_d_model_ref, t.train.batch_size) for t in (small, large)] == [
        (pytest.approx(3e-3), 32, 32), (pytest.approx(3e-3), 32, 80)]
    # An explicit lr_exponent under mup multiplies on top: 3.9248^(-1/2) = 0.50476.
    _, steeper = _sweep({**RECIPE, "lr_scaling": "mup", "d_model_ref": 32, "lr_exponent": -0.5}).trials()
    assert steeper.optim.lr == pytest.approx(3e-3 * 0.50476, rel=1e-4)


@pytest.mark.parametrize(("recipe", "base", "grid", "expect"), [
    ({"decay_embeddings": False}, None, None, [(False, True, None)] * 2),
    ({"decay_norms_and_biases": False}, None, None, [(True, False, None)] * 2),
    ({"decay_embeddings": False}, {"optim": {"decay_embeddings": True}}, None, [(True, True, None)] * 2),
    ({"decay_embeddings": False}, None, {"model": [SMALL], "optim.decay_embeddings": [True, False]},
     [(True, True, None), (False, True, None)]),
    ({"lr_scaling": "mup", "d_model_ref": 32}, {"optim": {"mup_d_model_ref": 16}}, None, [(True, True, 16)] * 2),
    ({"lr_scaling": "mup", "d_model_ref": 32}, {"optim": {"mup_d_model_ref": None}}, None, [(True, True, None)] * 2),
])
def test_decay_and_mup_fields_fill_unset_trials_and_explicit_values_win(recipe: Any, base: Any, grid: Any,
                                                                        expect: list[tuple[bool, bool, int | None]]) -> None:
    trials = _sweep({**RECIPE, **recipe}, grid=grid, base=base).trials()
    got = [(t.optim.decay_embeddings, t.optim.decay_norms_and_biases, t.optim.mup_d_model_ref) for t in trials]
    assert got == expect


@pytest.mark.parametrize(("recipe", "match"), [
    ({"lr_scaling": "mup"}, r"recipe\.lr_scaling: mup needs recipe\.d_model_ref"),
    ({"d_model_ref": 64}, r"recipe\.d_model_ref \(64\) is read only under lr_scaling: mup"),
    ({"lr_scaling": "mop", "d_model_ref": 64}, r"lr_scaling"),
])
def test_a_bad_mup_recipe_names_the_field_and_the_fix(recipe: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _sweep({**RECIPE, **recipe})
