"""Checkpoints (trainers/checkpoint.py): bit-exact resume, and loads that cannot run code.

Engines are tiny (one layer, d_model 16) and share the process's gloo group; the first
`create_engine` pays DeepSpeed's start-up.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from configs import TrialConfig
from trainers.checkpoint import TrainState, load_checkpoint, save_checkpoint
from trainers.engine import create_engine
from trainers.model import build_model

VOCAB, SEQ = 32, 8


def engine_for(zero_stage: int = 0, precision: str = "fp32", seed: int = 0) -> Any:
    trial = TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64},
        "optim": {"warmup_steps": 1},
        "train": {"num_steps": 10, "eval_every": 5, "checkpoint_every": 10, "batch_size": 8,
                  "zero_stage": zero_stage, "precision": precision},
    })
    return create_engine(trial, build_model(trial.model, trial.init, VOCAB, SEQ, seed=seed), "cpu")


def steps(engine: Any, count: int) -> list[float]:
    """`count` optimizer steps on batches drawn from torch's global RNG; the losses."""
    losses = []
    for _ in range(count):
        x = torch.randint(0, VOCAB, (8, SEQ))
        loss = engine(x).float().logsumexp(-1).mean()
        engine.backward(loss)
        engine.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("zero_stage, precision", [(0, "fp32"), (1, "fp32"), (2, "bf16")])
def test_round_trip_resumes_bit_exactly(tmp_path: Path, zero_stage: int, precision: str) -> None:
    torch.manual_seed(0)
    np.random.seed(0)
    first = engine_for(zero_stage, precision)
    steps(first, 3)
    state = TrainState(step=3, loss_sum=1.5, loss_count=2, best={"x": 0.25}, run_id="r", train_seconds=0.5)
    save_checkpoint(first, tmp_path, state)
    expected_losses, expected_draw = steps(first, 3), np.random.rand(4)

    torch.manual_seed(123)  # scramble both RNGs and start from other weights
    np.random.seed(123)
    second = engine_for(zero_stage, precision, seed=1)
    assert load_checkpoint(second, tmp_path) == state
    assert steps(second, 3) == expected_losses  # exact: same weights, optimizer state and batches
    assert np.array_equal(np.random.rand(4), expected_draw)


def test_client_state_is_plain_values(tmp_path: Path) -> None:
    engine = engine_for()
    save_checkpoint(engine, tmp_path, TrainState(step=1))
    (states,) = (tmp_path / "step1").glob("mp_rank_*_model_states.pt")
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(states)) == []  # no numpy, no classes


class Payload:
    """Pickles as a call to `open(marker, "w")`: loading it runs code that leaves a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.marker), "w")


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path: Path) -> None:
    engine = engine_for()
    save_checkpoint(engine, tmp_path / "ckpt", TrainState(step=2))
    (states,) = (tmp_path / "ckpt" / "step2").glob("mp_rank_*_model_states.pt")
    marker = tmp_path / "code-ran"
    tampered = {**torch.load(states, weights_only=True), "payload": Payload(marker)}
    torch.save(tampered, states)

    with pytest.raises(pickle.UnpicklingError, match=r"(?s)Weights only load failed.*Unsupported global: GLOBAL io\.open"):
        load_checkpoint(engine, tmp_path / "ckpt")
    assert not marker.exists()
    torch.load(states, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()


def test_a_checkpoint_with_the_old_numpy_rng_state_still_loads(tmp_path: Path) -> None:
    # Written before the numpy state was saved as plain values: an ndarray inside.
    engine = engine_for()
    np.random.seed(7)
    old_style = {"train_state": {"step": 4}, "torch_rng": torch.get_rng_state(),
                 "numpy_rng": np.random.get_state(legacy=False)}
    engine.save_checkpoint(str(tmp_path), tag="step4", client_state=old_style)
    expected = np.random.rand(3)
    np.random.seed(99)
    assert load_checkpoint(engine, tmp_path).step == 4
    assert np.array_equal(np.random.rand(3), expected)
