"""The learning-rate schedule (trainers/schedule.py), one expected value per step.

Written like torchtitan's `test_lr_scheduler.py`: peak lr 1.0, warmup 3, 10 steps,
min_lr_ratio 0.1. Warm-up is (step+1)/3; the decay runs over steps 3..9, i.e. progress
p = (step − 3)/6, with linear 1 − 0.9·p and cosine 0.1 + 0.45·(1 + cos πp).
"""

from __future__ import annotations

import math

import pytest

from configs import OptimConfig
from trainers.schedule import lr_at

WARMUP = [1 / 3, 2 / 3, 1.0]  # steps 0, 1, 2

EXPECTED = {
    # p:          0     1/6    2/6   3/6   4/6   5/6    1
    "linear": WARMUP + [1.0, 0.85, 0.70, 0.55, 0.40, 0.25, 0.10],
    # cos πp:     1   √3/2   1/2    0   −1/2  −√3/2   −1
    "cosine": WARMUP + [1.0, 0.1 + 0.45 * (1 + math.sqrt(3) / 2), 0.775, 0.55, 0.325,
                        0.1 + 0.45 * (1 - math.sqrt(3) / 2), 0.10],
    "constant": WARMUP + [1.0] * 7,
}


@pytest.mark.parametrize("schedule", EXPECTED)
def test_every_step(schedule: str) -> None:
    optim = OptimConfig(lr=1.0, warmup_steps=3, schedule=schedule, min_lr_ratio=0.1)  # type: ignore[arg-type]
    got = [lr_at(step, optim, num_steps=10) for step in range(10)]
    assert got == pytest.approx(EXPECTED[schedule], rel=1e-12, abs=1e-15)


def test_cosine_decimals_written_out() -> None:
    # 0.1 + 0.45·(1 + 0.8660254) = 0.93971143; 0.1 + 0.45·(1 − 0.8660254) = 0.16028857.
    optim = OptimConfig(lr=1.0, warmup_steps=3, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at(4, optim, 10) == pytest.approx(0.93971143, abs=1e-8)
    assert lr_at(8, optim, 10) == pytest.approx(0.16028857, abs=1e-8)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_scales_with_peak_lr(schedule: str) -> None:
    unit = OptimConfig(lr=1.0, warmup_steps=3, schedule=schedule, min_lr_ratio=0.1)  # type: ignore[arg-type]
    scaled = OptimConfig(lr=3e-3, warmup_steps=3, schedule=schedule, min_lr_ratio=0.1)  # type: ignore[arg-type]
    for step in range(10):
        assert lr_at(step, scaled, 10) == pytest.approx(3e-3 * lr_at(step, unit, 10), rel=1e-12)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_stays_at_min_lr_after_the_last_step(schedule: str) -> None:
    optim = OptimConfig(lr=1.0, warmup_steps=3, schedule=schedule, min_lr_ratio=0.1)  # type: ignore[arg-type]
    assert [lr_at(s, optim, 10) for s in (9, 10, 50)] == pytest.approx([0.1, 0.1, 0.1])


def test_no_warmup_starts_at_peak() -> None:
    optim = OptimConfig(lr=1.0, warmup_steps=0, schedule="linear", min_lr_ratio=0.0)
    # Decay over steps 0..4: p = step/4.
    assert [lr_at(s, optim, 5) for s in range(5)] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])


def test_warmup_one_step_before_the_last() -> None:
    # warmup 4 of 5 steps: the last step is the first decay step (p = 0), so it stays at
    # peak; the clamped decay length of 1 reaches min lr one step later.
    optim = OptimConfig(lr=1.0, warmup_steps=4, schedule="linear", min_lr_ratio=0.5)
    assert [lr_at(s, optim, 5) for s in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert lr_at(5, optim, 5) == pytest.approx(0.5)


# --- wsd: warm-up 3, 10 steps, cooldown_fraction 0.3 → decay over the last k = 3 steps (7, 8, 9),
# lr − 0.9·(step − 6)/3: 0.7, 0.4, 0.1. Steps 3..6 hold the peak (stable phase).
WSD_CASES = [
    # (num_steps, cooldown_fraction, expected lr for every step)
    (10, 0.3, WARMUP + [1.0, 1.0, 1.0, 1.0, 0.7, 0.4, 0.1]),
    # k = round(0.2·10) = 2: steps 8, 9 → 1 − 0.45, 1 − 0.9.
    (10, 0.2, WARMUP + [1.0, 1.0, 1.0, 1.0, 1.0, 0.55, 0.1]),
    # k = round(0.04·10) = 0 → clamped to 1: only the last step decays, straight to min lr.
    (10, 0.04, WARMUP + [1.0] * 6 + [0.1]),
    # A cool-down branch ending at step 6 of a longer run: its own 6-step wsd schedule,
    # k = round(0.5·6) = 3 → steps 3, 4, 5 at 0.7, 0.4, 0.1.
    (6, 0.5, WARMUP + [0.7, 0.4, 0.1]),
]


@pytest.mark.parametrize(("num_steps", "cooldown_fraction", "expected"), WSD_CASES)
def test_wsd_every_step(num_steps: int, cooldown_fraction: float, expected: list[float]) -> None:
    optim = OptimConfig(lr=1.0, warmup_steps=3, schedule="wsd", min_lr_ratio=0.1, cooldown_fraction=cooldown_fraction)
    got = [lr_at(step, optim, num_steps) for step in range(num_steps)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_wsd_stays_at_min_lr_after_the_last_step() -> None:
    optim = OptimConfig(lr=2e-3, warmup_steps=3, schedule="wsd", min_lr_ratio=0.1, cooldown_fraction=0.3)
    assert [lr_at(s, optim, 10) for s in (9, 10, 50)] == pytest.approx([2e-4] * 3)


def test_wsd_branch_shares_the_stable_prefix() -> None:
    # A branch ending at step 40 of a 100-step run follows the run's lr until it starts.
    optim = OptimConfig(lr=1.0, warmup_steps=5, schedule="wsd", min_lr_ratio=0.0, cooldown_fraction=0.25)
    start = 40 - 10  # k = round(0.25·40) = 10
    assert [lr_at(s, optim, 40) for s in range(start)] == [lr_at(s, optim, 100) for s in range(start)]
    assert lr_at(start, optim, 40) == pytest.approx(0.9) and lr_at(39, optim, 40) == 0.0


# (weight_decay, mode, steps) → Π_t (1 − lr_t·λ) by hand, on a constant lr 0.01 with no warm-up
SHRINKAGE_CASES = [
    (0.0, "decoupled", 10, 1.0),
    (1.0, "decoupled", 0, 1.0),
    (1.0, "decoupled", 1, 0.99),
    (1.0, "decoupled", 3, 0.99**3),
    (0.1, "decoupled", 5, 0.999**5),
    (1.0, "l2", 3, 0.98**3),  # plain-gradient-descent equivalent of 2λW
]


@pytest.mark.parametrize("decay,mode,steps,expected", SHRINKAGE_CASES)
def test_decay_shrinkage(decay: float, mode: str, steps: int, expected: float) -> None:
    from trainers.schedule import decay_shrinkage

    optim = OptimConfig(lr=0.01, warmup_steps=0, schedule="constant", weight_decay=decay, weight_decay_mode=mode)
    assert decay_shrinkage(steps, optim, 10) == pytest.approx(expected, rel=1e-12)


def test_decay_shrinkage_of_the_old_text_complexity_arm() -> None:
    """λ 1 at lr 3e-3, cosine over 250 steps with 50 warm-up: ≈ 0.69 of each decayed weight is left."""
    from trainers.schedule import decay_shrinkage

    optim = OptimConfig(lr=3e-3, warmup_steps=50, schedule="cosine", weight_decay=1.0)
    assert 0.66 < decay_shrinkage(250, optim, 250) < 0.72
