"""Rate–distortion quantization and the temperature / calibration probe, by hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch

from configs import TrialConfig
from trainers.data.tasks import build_task
from trainers.model import build_model
from trainers.probes.calibration import expected_calibration_error, fit_temperature
from trainers.probes.quantize import quantize_rows, rate_distortion


def test_quantize_rows_by_hand() -> None:
    w = torch.tensor([[1.0, -0.5, 0.26, 0.0], [0.0, 0.0, 0.0, 0.0], [-2.0, 1.0, 0.4, 2.0]])
    # 2 bits: levels {-s, 0, s} with s = max|row|; 0.5/1 rounds to 0 (ties to even), 0.26 → 0
    assert torch.equal(quantize_rows(w, 2), torch.tensor([[1.0, -0.0, 0.0, 0.0], [0.0] * 4, [-2.0, 0.0, 0.0, 2.0]]))
    # 3 bits: 3 levels per sign, s = max|row| / 3
    expected = torch.tensor([[1.0, -2 / 3, 1 / 3, 0.0], [0.0] * 4, [-2.0, 4 / 3, 2 / 3, 2.0]])
    assert torch.allclose(quantize_rows(w, 3), expected)
    w8 = torch.randn(16, 32, generator=torch.Generator().manual_seed(0))
    step = w8.abs().amax(1, keepdim=True) / 127
    assert ((quantize_rows(w8, 8) - w8).abs() <= step / 2 + 1e-7).all()  # error ≤ half a level


def test_rate_distortion_rises_as_bits_fall_and_restores_the_model() -> None:
    trial = TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 32},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 256, "num_test": 64},
        "optim": {"warmup_steps": 1}, "train": {"num_steps": 4, "batch_size": 8},
    })
    task = build_task(trial.data, trial.train, trial.seed)
    model = build_model(trial.model, trial.init, task.vocab_size, task.seq_len, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    curve = rate_distortion(model, task, "cpu", [16, 2])
    assert set(curve) == {16, 2} and set(curve[16]) == {"id", "ood"}
    assert all(p.equal(q) for p, q in zip(model.parameters(), before))
    assert curve[2]["id"] != pytest.approx(curve[16]["id"], rel=1e-3)


def test_temperature_recovers_the_scale_of_over_confident_logits() -> None:
    # Targets drawn from softmax(z); the model reports 3·z, so T* ≈ 3 and CE at T* ≈ CE(z).
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 10, generator=gen)
    y = torch.multinomial(torch.softmax(z, -1), 1, generator=gen).squeeze(1)
    t_opt, loss = fit_temperature(3 * z, y)
    assert t_opt == pytest.approx(3.0, rel=0.03)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(z, y)), rel=0.01)
    assert loss <= float(torch.nn.functional.cross_entropy(3 * z, y))


def test_ece_by_hand() -> None:
    # Two-class logits whose top-1 confidences are 0.9, 0.9, 0.6, 0.6 (ln 9 and ln 1.5 margins).
    logits = torch.tensor([[math.log(9), 0.0], [math.log(9), 0.0], [math.log(1.5), 0.0], [0.0, math.log(1.5)]])
    targets = torch.tensor([0, 1, 0, 1])  # the 0.9 bin is half right, the 0.6 bin all right
    # bins of width 0.1: |0.5 − 0.9|·2/4 + |1.0 − 0.6|·2/4 = 0.4
    assert expected_calibration_error(logits, targets, 10) == pytest.approx(0.4)
    assert expected_calibration_error(logits[:1], targets[:1], 10) == pytest.approx(0.1)
