"""Deterministic expansion of a sweep's grid into trials."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from configs.errors import ConfigError, format_validation_error
from configs.models import resolve_model
from configs.schema import TrialConfig

# Top-level TrialConfig fields a grid path may start with ("sweep" is set by the sweep). An
# `eval.*` grid makes measurement runs of one identity (configs/identity.py).
_SECTIONS = ("model", "init", "optim", "data", "train", "eval", "seed")


def check_grid_path(path: str) -> None:
    """Raise ConfigError unless `path` names a real TrialConfig field (or a model preset)."""
    head, *rest = path.split(".")
    if head not in _SECTIONS or head == "seed":
        raise ConfigError(
            f"grid key '{path}': '{head}' is not a trial section; use one of "
            f"{', '.join(s for s in _SECTIONS if s != 'seed')} (sweep seeds go in `seeds:`)"
        )
    field_model: type[BaseModel] = TrialConfig.model_fields[head].annotation  # type: ignore[assignment]
    if not rest:
        if head != "model":
            raise ConfigError(f"grid key '{path}' must name a field, e.g. '{head}.<field>'")
        return
    (leaf,) = rest if len(rest) == 1 else (None,)
    if leaf is None or leaf not in field_model.model_fields:
        allowed = ", ".join(sorted(field_model.model_fields))
        raise ConfigError(f"grid key '{path}' is not a config field; fields of '{head}': {allowed}")


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    head, *rest = path.split(".")
    if not rest:
        tree[head] = resolve_model(value) if head == "model" else value
        return
    section = tree.setdefault(head, {})
    section[rest[0]] = value


def resolved_base(base: dict[str, Any]) -> dict[str, Any]:
    """A copy of a sweep's `base` with a model preset name replaced by its fields."""
    base = copy.deepcopy(base)
    if isinstance(base.get("model"), str):
        base["model"] = resolve_model(base["model"])
    return base


# Fills a grid point's raw tree before validation (a sweep's `recipe:`, configs/recipe.py).
Prepare = Callable[[dict[str, Any]], dict[str, Any]]


def expand_grid(
    sweep_name: str, base: dict[str, Any], grids: list[dict[str, list[Any]]], seeds: list[int],
    prepare: Prepare | None = None,
) -> list[TrialConfig]:
    """Product of grid values (in YAML order) × seeds → validated `TrialConfig`s.

    A list of grids expands to the concatenation of each product, in list order. `prepare`,
    when given, rewrites each point's raw tree (base + grid values) just before validation.

    Raises:
        ConfigError: an empty value list, an unknown path, or a grid point whose resolved
            trial is invalid (the message names the grid point).
    """
    resolved = resolved_base(base)
    trials: list[TrialConfig] = []
    for grid in grids:
        trials += _expand_one(grid, resolved, sweep_name, seeds, prepare)
    _check_unique(trials)
    return trials


def _expand_one(
    grid: dict[str, list[Any]], base: dict[str, Any], sweep_name: str, seeds: list[int], prepare: Prepare | None
) -> list[TrialConfig]:
    for path, values in grid.items():
        check_grid_path(path)
        if not values:
            raise ConfigError(f"grid['{path}'] is an empty list; give at least one value")
    # A model preset replaces the whole model section, so it is applied before model.* fields.
    paths = sorted(grid, key=lambda path: path != "model")
    trials = []
    for combo in itertools.product(*(grid[p] for p in paths)):
        for seed in seeds:
            tree = copy.deepcopy(base)
            for path, value in zip(paths, combo):
                _set_path(tree, path, value)
            tree.update(sweep=sweep_name, seed=seed)
            tree = prepare(tree) if prepare else tree
            trials.append(_validate_point(tree, dict(zip(paths, combo))))
    return trials


def _validate_point(tree: dict[str, Any], point: dict[str, Any]) -> TrialConfig:
    try:
        return TrialConfig.model_validate(tree)
    except ValidationError as err:
        where = f"grid point {point}" if point else "base"
        raise ConfigError(format_validation_error(err, prefix="base", where=where, model=TrialConfig)) from None


def _check_unique(trials: list[TrialConfig]) -> None:
    seen: dict[str, int] = {}
    for i, trial in enumerate(trials):
        if trial.trial_id in seen:
            first, flat = trials[seen[trial.trial_id]].flat_params(), trial.flat_params()
            differ = sorted(path for path, value in flat.items() if first[path] != value)
            if differ:
                raise ConfigError(
                    f"trials {seen[trial.trial_id]} and {i} train the same model (trial id {trial.trial_id}): "
                    f"they differ only in {', '.join(differ)}, outside a trial's identity (configs/identity.py) "
                    "and its measurement (eval.*): execution settings train and measure the same thing; "
                    "give each value its own sweep, or drop it from the grid"
                )
            raise ConfigError(
                f"trials {seen[trial.trial_id]} and {i} resolve to the same config "
                f"(trial id {trial.trial_id}); remove the duplicate grid values or seeds"
            )
        seen[trial.trial_id] = i
