"""A 2-trial text sweep on three user domains through Ray Tune + DeepSpeed + MLflow, read back.

The corpora are written by the test (a folder of files, a JSONL, a Parquet file), as a user
with their own text would; nothing is downloaded and no code changes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from analysis.load import load_runs
from cluster.sweep import run_sweep
from configs import metrics as M
from configs import parse_sweep
from trainers.data.text_cache import prepare_text_data

pytestmark = [pytest.mark.integration, pytest.mark.ray]

DOMAINS = ("notes", "web", "table")
NUM_STEPS, BATCH, SEQ_LEN = 40, 16, 32


def _write_corpora(root: Path) -> list[dict[str, object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    words = "the a of to and in model loss token data law scale split cache batch".split()
    text = lambda n: " ".join(rng.choice(words, n))  # noqa: E731
    (root / "notes" / "deep").mkdir(parents=True)
    for i in range(8):
        (root / "notes" / ("deep" if i % 2 else "") / f"{i}.md").write_text(f"# note {i}\n" + text(300))
    (root / "web.jsonl").write_text("".join(json.dumps({"text": text(200)}) + "\n" for _ in range(12)))
    pq.write_table(pa.table({"text": [text(200) for _ in range(12)]}), root / "table.parquet")
    return [{"name": "notes", "source": str(root / "notes")},
            {"name": "web", "source": str(root / "web.jsonl"), "weight": 0.5},
            {"name": "table", "source": str(root / "table.parquet"), "weight": 0.5}]


def test_text_sweep_logs_every_domain_and_analysis_reads_it(tmp_path: Path) -> None:
    domains = _write_corpora(tmp_path)
    sweep = parse_sweep({
        "name": "text-e2e",
        "base": {
            "model": "gpt_debug",
            "data": {"task": "text", "seq_len": SEQ_LEN, "num_test_tokens": 1024, "domains": domains,
                     "cache_dir": str(tmp_path / "cache")},
            "optim": {"warmup_steps": 5},
            "train": {"num_steps": NUM_STEPS, "batch_size": BATCH, "eval_every": 20, "checkpoint_every": 40},
        },
        "grid": {"data.num_train_tokens": [4000, 8000]},
        "resources": {"cpus_per_trial": 1, "max_failures": 1},
    })
    info = prepare_text_data(sweep.trials()[0].data)  # what the driver does before trials start
    assert info.built and [d["name"] for d in info.manifest["domains"]] == list(DOMAINS)

    result = run_sweep(sweep, tmp_path / "work", num_cpus=2)
    assert result.num_failed == 0
    runs = load_runs(result.target.uri, result.target.experiment)
    assert len(runs) == 2 and sorted(runs["data.num_train_tokens"]) == [4000, 8000]
    assert (runs["D"] == NUM_STEPS * BATCH * SEQ_LEN).all()
    for domain in DOMAINS:
        distortion, bpb = runs[M.distortion_key(domain)], runs[M.bpb_key(domain)]
        assert distortion.between(0, math.log(256)).all()
        np.testing.assert_allclose(bpb, distortion / math.log(2), rtol=1e-12)  # byte tokenizer
    weighted = sum(w * runs[M.distortion_key(d)] for d, w in zip(DOMAINS, (0.5, 0.25, 0.25)))
    np.testing.assert_allclose(runs[M.VAL_LOSS], weighted, rtol=1e-9)
    assert runs[M.VAL_BPB].gt(0).all()
    # Both trials found the driver's cache entry: nothing was tokenized again.
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir() and p.name != "pins"] == [info.key]
