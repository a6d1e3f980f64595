"""Read a text domain's raw documents, whatever its source, and fingerprint its inputs.

A source (`configs.data.DomainConfig.source`) is a folder, a glob, a JSONL/Parquet file, a
plain text file, a `datasets` save_to_disk folder, `hf:<name>` or `builtin:<name>`. Every
reader yields documents in a deterministic order (sorted paths, then record order), so the
same inputs always give the same corpus.

`fingerprint` identifies the inputs by content (SHA-256 of every input file) without
extracting anything: it is what the token cache is keyed by, cheap enough for every trial to
recompute at start-up (reading the inputs, not parsing them).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import importlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from configs.data import BUILTIN_PREFIX, HF_PREFIX, DomainConfig
from configs.errors import ConfigError
from trainers.data.builtin import EXTRACTOR_VERSION, builtin_inputs, builtin_texts, python_version

HUB_HOST = ("huggingface.co", 443)
HUB_PROBE_TIMEOUT_S = 3.0  # offline machines must fail in seconds, not hang on HTTP retries


@dataclass(frozen=True)
class Document:
    """One document: where it came from (a path or path:record) and its text."""

    key: str
    text: str


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(domain: DomainConfig) -> list[tuple[str, Path]]:
    """(key, path) of every file the domain reads, sorted; empty for a hub dataset."""
    kind = domain.kind
    if kind == "builtin":
        return builtin_inputs(domain.source.removeprefix(BUILTIN_PREFIX))
    if kind == "hf" and domain.source.startswith(HF_PREFIX):
        return []
    if kind == "glob":
        return _glob_files(domain.source)
    if kind in ("folder", "hf"):
        return _folder_files(Path(domain.source))
    return [(Path(domain.source).name, Path(domain.source))]


def _folder_files(root: Path) -> list[tuple[str, Path]]:
    """Every non-hidden file under `root`, recursively, by relative path."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(folder, name)
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _glob_files(pattern: str) -> list[tuple[str, Path]]:
    matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    base = os.path.commonpath(matches) if len(matches) > 1 else os.path.dirname(matches[0]) if matches else ""
    return [(os.path.relpath(p, base), Path(p)) for p in matches]


def fingerprint(domain: DomainConfig) -> dict[str, Any]:
    """What identifies the domain's documents: how it is read and the hash of every input."""
    files = input_files(domain)
    digest = hashlib.sha256()
    for key, path in files:
        digest.update(f"{key}\0{_sha256_file(path)}\n".encode())
    identity: dict[str, Any] = {"kind": domain.kind, "source": domain.source, "num_files": len(files),
                                "inputs_sha256": digest.hexdigest()}
    if domain.kind == "builtin":  # the interpreter and the extractor decide what comes out
        identity.update(python=python_version(), extractor=EXTRACTOR_VERSION, source=domain.source)
    if domain.encoding != "utf-8" or domain.errors != "strict":  # decides which files become which text
        identity.update(encoding=domain.encoding, errors=domain.errors)
    if domain.kind in ("records", "hf"):
        identity.update(text_field=domain.text_field, split=domain.split if domain.kind == "hf" else None)
    return identity


@dataclass(frozen=True)
class ReadReport:
    """A domain's raw documents and what happened to its input files."""

    documents: list[Document]
    num_files: int
    num_binary: int = 0
    num_undecodable: int = 0


def read_documents(domain: DomainConfig) -> tuple[list[Document], int]:
    """The domain's raw documents in deterministic order, and how many input files were read.

    Raises:
        ConfigError: as `read_domain`.
    """
    report = read_domain(domain)
    return report.documents, report.num_files


def read_domain(domain: DomainConfig) -> ReadReport:
    """The domain's raw documents, with how many input files were skipped as binary or undecodable.

    Raises:
        ConfigError: a record without a text field, a missing `datasets` package, or a hub
            dataset that cannot be reached.
    """
    kind = domain.kind
    if kind == "builtin":
        inputs = builtin_inputs(domain.source.removeprefix(BUILTIN_PREFIX))
        name = domain.source.removeprefix(BUILTIN_PREFIX)
        return ReadReport([Document(k, t) for k, t in builtin_texts(name, inputs)], len(inputs))
    if kind == "hf":
        return ReadReport(list(_hf_documents(domain)), 1)
    if kind == "records":
        reader = _parquet_documents if domain.source.endswith(".parquet") else _jsonl_documents
        return ReadReport(list(reader(Path(domain.source), domain.text_field)), 1)
    files = input_files(domain)
    documents, binary, undecodable = [], 0, 0
    for key, path in files:
        text = _read_text(path, domain.encoding, domain.errors)
        if isinstance(text, str):
            documents.append(Document(key, text))
        elif text is _BINARY:
            binary += 1
        else:
            undecodable += 1
    return ReadReport(documents, len(files), binary, undecodable)


_BINARY, _UNDECODABLE = object(), object()


def _read_text(path: Path, encoding: str, errors: str) -> str | object:
    """A file's text; `_BINARY` if it holds a NUL byte, `_UNDECODABLE` if `encoding` cannot read it."""
    try:
        data = path.read_bytes()
    except OSError:
        return _UNDECODABLE
    if b"\0" in data:
        return _BINARY
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError:
        return _UNDECODABLE


def _record_text(record: Any, field: str, where: str) -> str:
    if not isinstance(record, dict) or not isinstance(record.get(field), str):
        raise ConfigError(
            f"{where}: no string field '{field}' in this record; set the domain's text_field "
            "to the field that holds the text"
        )
    text: str = record[field]
    return text


def _jsonl_documents(path: Path, field: str) -> Iterator[Document]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        for number, line in enumerate(handle, start=1):
            if line.strip():
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ConfigError(f"{where}: not valid JSON ({err.msg}); fix the line or remove it") from None
                yield Document(f"{path.name}:{number}", _record_text(record, field, where))


def _parquet_documents(path: Path, field: str) -> Iterator[Document]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if field not in schema.names:
        raise ConfigError(
            f"{path}: no column '{field}' (columns: {', '.join(schema.names)}); set the domain's text_field"
        )
    for number, text in enumerate(pq.read_table(path, columns=[field]).column(field).to_pylist()):
        if isinstance(text, str):
            yield Document(f"{path.name}:{number}", text)


def _import_datasets(source: str) -> Any:
    try:
        return importlib.import_module("datasets")
    except ImportError:
        raise ConfigError(
            f"source '{source}' needs the optional `datasets` package, which is not installed; "
            "pip install 'scalinglab[hf]', or export the data to .jsonl/.parquet"
        ) from None


def check_hub_reachable(source: str, host: tuple[str, int] = HUB_HOST) -> None:
    """Fail in seconds when the Hugging Face hub cannot be reached (offline machines).

    Skipped when HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set: `datasets` then reads its local
    cache only, and fails fast itself.
    """
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return
    try:
        socket.create_connection(host, timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as err:
        raise ConfigError(
            f"source '{source}': cannot reach {host[0]}:{host[1]} ({err}); this machine looks offline. "
            "Save the dataset with `save_to_disk` elsewhere and point source at that folder, or set "
            "HF_HUB_OFFLINE=1 to read the local datasets cache"
        ) from None


def _hf_documents(domain: DomainConfig) -> Iterator[Document]:
    datasets = _import_datasets(domain.source)
    if domain.source.startswith(HF_PREFIX):
        name = domain.source.removeprefix(HF_PREFIX)
        check_hub_reachable(domain.source)
        os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")  # bounded waits, even on a flaky link
        dataset = datasets.load_dataset(name, split=domain.split)
    else:
        dataset = datasets.load_from_disk(domain.source)
        if hasattr(dataset, "keys"):  # a DatasetDict: pick the split
            if domain.split not in dataset:
                raise ConfigError(f"{domain.source}: no split '{domain.split}' (has {sorted(dataset)}); set split")
            dataset = dataset[domain.split]
    if domain.text_field not in dataset.column_names:
        raise ConfigError(
            f"{domain.source}: no column '{domain.text_field}' (columns: {', '.join(dataset.column_names)}); "
            "set the domain's text_field"
        )
    for number, text in enumerate(dataset[domain.text_field]):
        if isinstance(text, str):
            yield Document(f"{domain.split}:{number}", text)
