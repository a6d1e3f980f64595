"""Small text corpora written by the tests themselves (no download, no built-in corpus).

The writers are plain functions, handed to tests through the `corpus` fixture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from configs import DataConfig

WORDS = ("the of and to in is that for it as with was on be by this are from or an which "
         "model data loss scaling law token domain split cache sample batch train held out").split()


def prose(rng: np.random.Generator, num_words: int) -> str:
    """Seeded pseudo-English: words drawn with Zipf-like frequencies, a newline every 12."""
    probs = 1.0 / np.arange(1, len(WORDS) + 1)
    words = rng.choice(WORDS, size=num_words, p=probs / probs.sum())
    lines = [" ".join(words[i : i + 12]) for i in range(0, num_words, 12)]
    return "\n".join(lines) + "\n"


def write_folder(root: Path, num_docs: int = 12, num_words: int = 300, seed: int = 0) -> Path:
    """A folder of UTF-8 text files (nested), plus a binary file and a hidden file to skip."""
    rng = np.random.default_rng(seed)
    for i in range(num_docs):
        path = root / f"part{i % 3}" / f"doc{i:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"document {i} ünïcödé\n" + prose(rng, num_words), encoding="utf-8")
    (root / "image.bin").write_bytes(b"\x89PNG\x00\x01\x02")
    (root / ".hidden.txt").write_text("never read")
    return root


def write_jsonl(path: Path, num_docs: int = 20, num_words: int = 200, seed: int = 1, field: str = "text") -> Path:
    """A JSONL file with one document per line in `field`."""
    rng = np.random.default_rng(seed)
    path.write_text("".join(json.dumps({field: prose(rng, num_words), "id": i}) + "\n" for i in range(num_docs)))
    return path


def write_parquet(path: Path, num_docs: int = 20, num_words: int = 200, seed: int = 2) -> Path:
    """A Parquet file with a `text` column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    pq.write_table(pa.table({"text": [prose(rng, num_words) for _ in range(num_docs)]}), path)
    return path


def text_config(tmp_path: Path, **overrides: Any) -> DataConfig:
    """A 2-domain text config (folder + JSONL) on corpora written under `tmp_path`."""
    folder = write_folder(tmp_path / "corpus") if not (tmp_path / "corpus").exists() else tmp_path / "corpus"
    jsonl = tmp_path / "web.jsonl"
    if not jsonl.exists():
        write_jsonl(jsonl)
    fields: dict[str, Any] = {
        "task": "text", "seq_len": 16, "num_test_tokens": 2000, "cache_dir": str(tmp_path / "cache"),
        "domains": [{"name": "mine", "source": str(folder)}, {"name": "web", "source": str(jsonl), "weight": 0.5}],
    }
    fields.update(overrides)
    return DataConfig.model_validate(fields)


class Corpus:
    """The writers above, bound to a test's `tmp_path`."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.prose = prose
        self.write_folder = write_folder
        self.write_jsonl = write_jsonl
        self.write_parquet = write_parquet

    def config(self, **overrides: Any) -> DataConfig:
        """`text_config` under this test's folder."""
        return text_config(self.tmp_path, **overrides)


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    """Corpus writers and a 2-domain text config, all under `tmp_path`."""
    return Corpus(tmp_path)
