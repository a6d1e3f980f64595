"""Reading text domains (trainers/data/sources.py, builtin.py): every source kind, in order."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest

from configs import DataConfig
from configs.data import DomainConfig
from configs.errors import ConfigError
from trainers.data import builtin
from trainers.data.sources import check_hub_reachable, fingerprint, read_documents


def domain(source: str, **fields: object) -> DomainConfig:
    return DomainConfig.model_validate({"name": "d", "source": source, **fields})


def test_a_folder_reads_every_text_file_recursively_in_sorted_order(corpus, tmp_path: Path) -> None:
    root = corpus.write_folder(tmp_path / "c", num_docs=6)
    docs, num_files = read_documents(domain(str(root)))
    assert [d.key for d in docs] == sorted(f"part{i % 3}/doc{i:02d}.txt" for i in range(6))
    assert num_files == 7  # the six documents and the binary file; the hidden file is not listed
    assert all(d.text.startswith("document ") for d in docs)


def test_a_glob_selects_matching_files(corpus, tmp_path: Path) -> None:
    root = corpus.write_folder(tmp_path / "c", num_docs=6)
    docs, _ = read_documents(domain(str(root / "part1" / "*.txt")))
    assert [d.key for d in docs] == ["doc01.txt", "doc04.txt"]
    docs, _ = read_documents(domain(str(root / "**" / "doc0[0-2].txt")))
    assert len(docs) == 3


def test_jsonl_gzip_and_parquet_records(corpus, tmp_path: Path) -> None:
    plain = corpus.write_jsonl(tmp_path / "a.jsonl", num_docs=5, field="body")
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    from_plain, _ = read_documents(domain(str(plain), text_field="body"))
    from_gzip, _ = read_documents(domain(str(packed), text_field="body"))
    assert [d.text for d in from_plain] == [d.text for d in from_gzip] and len(from_plain) == 5
    parquet, _ = read_documents(domain(str(corpus.write_parquet(tmp_path / "a.parquet", num_docs=4))))
    assert len(parquet) == 4


def test_a_record_without_the_text_field_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"content": "x"}) + "\n")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: no string field 'text'.*set the domain's text_field"):
        read_documents(domain(str(path)))


def test_a_parquet_without_the_column_lists_the_columns(corpus, tmp_path: Path) -> None:
    path = corpus.write_parquet(tmp_path / "a.parquet")
    with pytest.raises(ConfigError, match=r"no column 'body' \(columns: text\)"):
        read_documents(domain(str(path), text_field="body"))


def test_fingerprint_follows_content_not_timestamps(corpus, tmp_path: Path) -> None:
    root = corpus.write_folder(tmp_path / "c", num_docs=4)
    before = fingerprint(domain(str(root)))
    (root / "part0" / "doc00.txt").touch()
    assert fingerprint(domain(str(root))) == before
    (root / "part0" / "doc00.txt").write_text("changed text")
    assert fingerprint(domain(str(root)))["inputs_sha256"] != before["inputs_sha256"]


def test_an_unreachable_hub_fails_fast_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"cannot reach 127\.0\.0\.1:9.*looks offline.*save_to_disk"):
        check_hub_reachable("hf:wikitext", host=("127.0.0.1", 9))  # discard port: refused at once
    assert time.monotonic() - started < 5


def test_hf_sources_without_datasets_installed_fail_before_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"needs the optional `datasets` package.*scalinglab\[hf\]"):
        DataConfig(task="text", domains=[{"name": "wiki", "source": "hf:wikitext"}])


def test_builtin_inputs_are_sorted_and_real() -> None:
    code = builtin.builtin_inputs("python_code")
    assert [k for k, _ in code] == sorted(k for k, _ in code) and len(code) > 100
    assert not any(k.startswith(("test/", "site-packages/")) for k, _ in code)
    legal = builtin.builtin_inputs("licenses")
    assert "python/LICENSE.txt" in dict(legal) and len(legal) > 10


def test_prose_extraction_keeps_docstrings_and_worded_comments() -> None:
    source = '"""Module doc."""\n\n# a helpful comment\n# that continues\nx = 1  # noqa\n\n' \
             'def f():\n    """Function doc."""\n    # XXX\n    return x\n'
    assert builtin.extract_prose(source) == "Module doc.\n\na helpful comment that continues\n\nFunction doc."
    assert builtin.extract_prose("def broken(:\n") == ""


@pytest.mark.slow
def test_every_builtin_corpus_holds_at_least_a_megabyte_after_dedup() -> None:
    from trainers.data.corpus import clean_documents

    for name in ("python_code", "python_prose", "licenses"):
        docs, _ = read_documents(domain(f"builtin:{name}"))
        cleaned = clean_documents(docs)
        assert sum(len(d.text.encode()) for d in cleaned.documents) >= 1_000_000, name
