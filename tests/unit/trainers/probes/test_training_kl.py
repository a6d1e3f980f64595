"""Training stability: the KL between consecutive probes' predictions (trainers/probes/training_kl.py)."""

from __future__ import annotations

import math

import pytest
import torch

from trainers.probes.training_kl import mean_kl

# (p_prev, p_now, KL(p_prev ‖ p_now)) per position, worked out by hand
CASES = [
    ([[0.5, 0.5]], [[0.5, 0.5]], 0.0),
    ([[0.5, 0.5]], [[0.9, 0.1]], 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)),
    ([[0.9, 0.1]], [[0.5, 0.5]], 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)),  # not symmetric
    ([[1.0, 0.0], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]], 0.5 * math.log(2.0)),  # mean over 2 positions
]


@pytest.mark.parametrize("previous,now,expected", CASES)
def test_mean_kl(previous: list[list[float]], now: list[list[float]], expected: float) -> None:
    log = lambda rows: torch.tensor(rows, dtype=torch.float64).log()  # noqa: E731
    assert mean_kl(log(previous), log(now)) == pytest.approx(expected, abs=1e-12)
