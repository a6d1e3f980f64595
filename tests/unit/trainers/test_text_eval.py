"""Held-out metrics of the text task (trainers/evaluate.py): distortion, bits per byte, weights."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from configs import DataConfig, InitConfig, ModelConfig, TrainConfig
from configs import metrics as M
from trainers.data.tasks import build_task
from trainers.evaluate import evaluate
from trainers.model import build_model

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


@pytest.fixture
def config(tmp_path: Path) -> DataConfig:
    """Two domains written here: a folder of files and a JSONL, uneven weights."""
    rng = np.random.default_rng(0)
    (tmp_path / "a").mkdir()
    for i in range(8):
        (tmp_path / "a" / f"{i}.txt").write_text(" ".join(rng.choice(WORDS, 300)) + " — ünïcode")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"text": " ".join(rng.choice(WORDS[:4], 200))}) + "\n"
                                              for _ in range(10)))
    return DataConfig.model_validate({
        "task": "text", "seq_len": 16, "num_test_tokens": 1500, "cache_dir": str(tmp_path / "cache"),
        "domains": [{"name": "a", "source": str(tmp_path / "a"), "weight": 3.0},
                    {"name": "b", "source": str(tmp_path / "b.jsonl"), "weight": 1.0}]})


def metrics_of(data: DataConfig) -> tuple[dict[str, float], object]:
    task = build_task(data, TrainConfig(), seed=0)
    model = build_model(ModelConfig(n_layer=1, n_head=1, d_model=16, d_ff=32), InitConfig(), task.vocab_size,
                        task.seq_len, seed=0)
    return evaluate(model, task, "cpu"), task


def test_byte_tokenizer_bpb_is_nats_per_token_over_ln2_exactly(config: DataConfig) -> None:
    values, task = metrics_of(config)
    for domain in ("a", "b"):
        assert values[M.bpb_key(domain)] == values[M.distortion_key(domain)] / math.log(2)  # bitwise
    assert task.domain_bytes == {d: s.targets.size for d, s in task.domains.items()}  # type: ignore[attr-defined]


def test_val_loss_and_bpb_are_weight_averaged(config: DataConfig) -> None:
    values, _ = metrics_of(config)
    expected = 0.75 * values[M.distortion_key("a")] + 0.25 * values[M.distortion_key("b")]
    assert values[M.VAL_LOSS] == pytest.approx(expected, rel=1e-12)
    assert values[M.VAL_BPB] == pytest.approx(expected / math.log(2), rel=1e-12)
    assert not any(key.startswith(M.FLOOR_PREFIX) for key in values)  # real text has no known floor


def test_bpe_bpb_divides_summed_nats_by_the_bytes_of_the_same_text(config: DataConfig) -> None:
    bpe = config.model_copy(update={"tokenizer": config.tokenizer.model_copy(update={"kind": "bpe", "vocab_size": 300})})
    values, task = metrics_of(bpe)
    byte_values, byte_task = metrics_of(config)
    for domain, held_out in task.domains.items():  # type: ignore[attr-defined]
        tokens, nbytes = held_out.targets.size, task.domain_bytes[domain]  # type: ignore[attr-defined]
        assert tokens < nbytes  # BPE merges bytes
        assert values[M.bpb_key(domain)] == pytest.approx(values[M.distortion_key(domain)] * tokens / nbytes / math.log(2))
        # Same held-out documents for both tokenizers, up to the last window's cut.
        assert abs(nbytes - byte_task.domain_bytes[domain]) <= 2 * 16 * 8  # type: ignore[attr-defined]


def test_distortion_is_mean_cross_entropy_over_every_target(config: DataConfig) -> None:
    values, task = metrics_of(config)
    model = build_model(ModelConfig(n_layer=1, n_head=1, d_model=16, d_ff=32), InitConfig(), 256, 16, seed=0)
    held_out = task.domains["a"]  # type: ignore[attr-defined]
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(held_out.inputs))
        expected = F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(held_out.targets).flatten())
    assert values[M.distortion_key("a")] == pytest.approx(float(expected), rel=1e-5)
