"""The pre-launch scan of text domains: what it counts, what it refuses, and that `run` refuses
before anything is written (issue 18, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from configs import ConfigError, DataConfig
from configs.identity import identity_hash
from configs.schema import TrialConfig
from trainers.data.scan import refuse_problems, scan_data
from trainers.data.sources import fingerprint

LATIN = "café naïve résumé ".encode("latin-1") * 40


def mixed_folder(root: Path, corpus) -> Path:  # type: ignore[no-untyped-def]
    """Twelve UTF-8 documents (+ a binary and a hidden file), a duplicate, a Latin-1 and an empty file."""
    corpus.write_folder(root)
    (root / "dup.txt").write_bytes((root / "part0" / "doc00.txt").read_bytes())
    (root / "latin.txt").write_bytes(LATIN)
    (root / "empty.txt").write_text("")
    return root


def text_data(source: Path, **domain: object) -> DataConfig:
    return DataConfig(task="text", seq_len=16, tokenizer={"kind": "byte"}, num_test_tokens=2000,
                      domains=[{"name": "d", "source": str(source), **domain}])


@pytest.mark.parametrize("decoding, binary, undecodable, documents", [
    ({}, 1, 1, 12),                                  # the Latin-1 file is skipped, and said to be
    ({"encoding": "latin-1"}, 1, 0, 13),             # latin-1 decodes every byte: the file is read
    ({"errors": "replace"}, 1, 0, 13),
])
def test_scan_counts_every_kind_of_file(corpus, tmp_path: Path, decoding: dict[str, str], binary: int,  # type: ignore[no-untyped-def]
                                        undecodable: int, documents: int) -> None:
    [scan] = scan_data(text_data(mixed_folder(tmp_path / "mixed", corpus), **decoding))
    assert (scan.skipped_binary, scan.skipped_undecodable, scan.empty, scan.duplicates, scan.documents) == (
        binary, undecodable, 1, 1, documents)
    assert scan.train_documents + scan.test_documents == documents and scan.test_documents >= 1
    assert scan.test_bytes >= 2000 and not scan.problems
    assert bool(scan.warnings) == bool(undecodable)


@pytest.mark.parametrize("files, data, match", [
    ({"a.txt": "one document only"}, {}, r"1 document\(s\) after filtering.*at least 2 documents"),
    ({"a.txt": "", "b.txt": ""}, {}, r"0 document\(s\) after filtering"),
    ({"a.txt": "short text a", "b.txt": "short text b"}, {}, r"held-out split has 12 bytes.*lower data.seq_len"),
    ({"a.txt": "x" * 40, "b.txt": "y" * 40}, {"num_test_tokens": 20, "num_train_tokens": 8},
     r"no training sequence of seq_len \+ 1 = 17 tokens \(40 training bytes, num_train_tokens = 8\)"),
])
def test_scan_refuses_a_domain_too_small_with_the_fix(tmp_path: Path, files: dict[str, str],
                                                      data: dict[str, int], match: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    config = text_data(tmp_path).model_copy(update=data)
    with pytest.raises(ConfigError, match=match):
        refuse_problems(scan_data(config))


def test_default_decoding_keeps_trial_hashes_and_cache_keys(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    folder = corpus.write_folder(tmp_path / "f")
    plain, explicit = text_data(folder), text_data(folder, encoding="UTF8", errors="strict")
    assert plain.domains[0].model_dump() == explicit.domains[0].model_dump()
    assert "encoding" not in plain.domains[0].model_dump() and "encoding" not in fingerprint(plain.domains[0])
    latin = text_data(folder, encoding="latin-1")
    assert fingerprint(latin.domains[0])["encoding"] == "iso8859-1"
    trial = lambda d: TrialConfig(data=d, train={"num_steps": 10, "batch_size": 2},  # noqa: E731
                                  optim={"warmup_steps": 1})
    assert identity_hash(trial(plain).flat_params()) == identity_hash(trial(explicit).flat_params())
    assert identity_hash(trial(plain).flat_params()) != identity_hash(trial(latin).flat_params())


def test_unknown_encoding_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown text encoding 'klingon'.*latin-1"):
        text_data(tmp_path, encoding="klingon")


def sweep_file(tmp_path: Path, source: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: scan_test\nbase:\n  data:\n    task: text\n    seq_len: 16\n    tokenizer: {kind: byte}\n"
        f"    num_test_tokens: 2000\n    domains:\n      - {{name: d, source: '{source}'}}\n"
        "  train: {num_steps: 10, batch_size: 2}\n  optim: {warmup_steps: 1}\n")
    return path


def test_validate_prints_the_scan(tmp_path: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["validate", str(sweep_file(tmp_path, mixed_folder(tmp_path / "m", corpus)))],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "files read" in result.output and "not decodable" in result.output
    assert "1 of 16 files are not utf-8 text and are skipped; set the domain's encoding" in result.output


def test_run_refuses_a_one_document_domain_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.txt").write_text("a single document")
    workdir = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", str(sweep_file(tmp_path, tmp_path / "one")), "--workdir", str(workdir)])
    assert result.exit_code == 2
    assert "data error" in result.output and "at least 2 documents" in result.output
    assert not workdir.exists()  # no MLflow store, no experiment, no lock files
