"""The driver's summary tells finished, diverged, failed and killed trials apart."""

from __future__ import annotations

import pytest

from cluster.outcomes import DIVERGED_FLAG, TrialOutcome, classify, summary_lines
from configs import metrics as M

CASES = [
    ("finished", {"step": 60.0, M.TRAIN_LOSS: 1.2}, None, TrialOutcome("t", "finished")),
    ("diverged", {"step": 6.0, M.TRAIN_LOSS: 4.7e11, M.LEARNING_RATE: 1000.0, DIVERGED_FLAG: 1.0}, None,
     TrialOutcome("t", "diverged", "diverged at step 6, train loss 4.7e+11, lr 1000")),
    ("diverged to nan", {"step": 3.0, M.TRAIN_LOSS: float("nan"), M.LEARNING_RATE: 0.5, DIVERGED_FLAG: 1.0}, None,
     TrialOutcome("t", "diverged", "diverged at step 3, train loss nan, lr 0.5")),
    ("failed", {"step": 20.0}, RuntimeError("boom\nCUDA out of memory"), TrialOutcome("t", "failed", "RuntimeError: CUDA out of memory")),
    ("killed", {"step": 20.0}, None, TrialOutcome("t", "killed", "stopped at step 20 of 60")),
    ("killed before a report", {}, None, TrialOutcome("t", "killed", "stopped at step 0 of 60")),
]


@pytest.mark.parametrize(("metrics", "error", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(metrics: dict[str, float], error: BaseException | None, expected: TrialOutcome) -> None:
    assert classify("t", metrics, error, num_steps=60) == expected


def test_summary_counts_each_outcome_and_names_the_others() -> None:
    outcomes = [TrialOutcome("a", "finished"), TrialOutcome("b", "diverged", "diverged at step 6, lr 1000"),
                TrialOutcome("c", "killed", "stopped at step 2 of 60")]
    assert summary_lines(outcomes) == [
        "3 trials: 1 finished, 1 diverged, 0 failed, 1 killed",
        "  b: diverged at step 6, lr 1000",
        "  c: stopped at step 2 of 60",
    ]
