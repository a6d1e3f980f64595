"""Known-answer tests of per-size recipes (configs.recipe)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from configs.recipe import RecipeConfig


def test_resolved_table_by_hand() -> None:
    recipe = RecipeConfig(n_ref=1e5, lr_ref=3e-3, batch_ref=32, batch_multiple=8, warmup_fraction=0.1)
    rows = recipe.resolve([1e5, 8e5, 1.25e4], [1000, 2000, 500])
    # 8x N: lr / 8^(1/3) = lr / 2, batch * 8^(2/3) = 4x; N/8: lr * 2, batch / 4 = 8.
    assert [r["lr"] for r in rows] == pytest.approx([3e-3, 1.5e-3, 6e-3])
    assert [r["batch"] for r in rows] == [32, 128, 8]
    assert [r["warmup_steps"] for r in rows] == [100, 200, 50]


def test_lr_check_adds_two_arms_at_the_smallest_and_largest_size_only() -> None:
    rows = RecipeConfig(lr_check=True).resolve([1.25e4, 1e5, 8e5], [100, 100, 100])
    arms = [(r["N"], r["arm"]) for r in rows]
    assert arms == [(1.25e4, "recipe"), (1.25e4, "lr/2"), (1.25e4, "lr*2"), (1e5, "recipe"),
                    (8e5, "recipe"), (8e5, "lr/2"), (8e5, "lr*2")]
    assert rows[1]["lr"] == pytest.approx(rows[0]["lr"] / 2) and rows[2]["lr"] == pytest.approx(rows[0]["lr"] * 2)


def test_batch_never_drops_below_one_multiple() -> None:
    assert RecipeConfig(batch_multiple=8).batch(1.0) == 8


@pytest.mark.parametrize(("field", "value"), [("lr_ref", 0.0), ("warmup_fraction", 1.0), ("bogus", 1)])
def test_bad_fields_are_rejected_by_name(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        RecipeConfig(**{field: value})


@pytest.mark.parametrize(("fields", "exponent", "lr_at_8x"), [
    ({}, -1 / 3, 1.5e-3),  # lr / 8^(1/3)
    ({"lr_exponent": -0.5}, -0.5, 3e-3 / 8 ** 0.5),
    ({"lr_scaling": "mup", "d_model_ref": 64}, 0.0, 3e-3),  # μP: width is the trainer's per-group rule
    ({"lr_scaling": "mup", "d_model_ref": 64, "lr_exponent": -1.0}, -1.0, 3e-3 / 8),
])
def test_the_lr_exponent_in_force(fields: dict[str, object], exponent: float, lr_at_8x: float) -> None:
    recipe = RecipeConfig(n_ref=1e5, lr_ref=3e-3, **fields)  # type: ignore[arg-type]
    assert recipe.exponent == pytest.approx(exponent) and recipe.lr(8e5) == pytest.approx(lr_at_8x)
