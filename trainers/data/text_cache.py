"""The token cache: each (corpus, tokenizer) tokenized once, into memory-mapped arrays.

Layout under the cache folder (`DataConfig.resolved_cache_dir`)::

    <key>/manifest.json          what went in: per domain files, documents, bytes, tokens;
                                 corpus hash, Python version, tokenizer, timings
    <key>/<i>.train.bin          domain i's training stream (uint16, or uint32 past 65,536 ids)
    <key>/<i>.test.bin           domain i's held-out stream, trimmed to num_test_tokens bytes
    <key>/token_bytes.npy        bytes each id covers (bits per byte)
    <key>/tokenizer.json         the trained BPE (bpe only)
    <key>.lock                   held while building
    pins/<identity>.json         the key last prepared for a data config (see `open_for_trial`)

`key` hashes the inputs' content (`sources.fingerprint`: every input file's SHA-256), the
domain names, caps and split settings and the tokenizer — not the weights, the sequence
length or the training budget, so every trial of a sweep shares one entry. A build happens in
a temporary folder renamed into place at the end, under a `filelock.FileLock`: a second
process waits for the first, then finds the finished entry (a cache hit), so concurrent
trials never race or build twice.

The driver should call `prepare_sweep_text_data([t.data for t in trials])` (or
`prepare_text_data` per data config) before trials start; a trial that finds no entry builds
it itself under the same lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from filelock import FileLock, Timeout

from configs.data import DataConfig, DomainConfig
from configs.errors import ConfigError
from trainers.data.builtin import python_version
from trainers.data.corpus import DomainSplit, clean_documents, corpus_hash, split_documents
from trainers.data.sources import fingerprint, read_documents
from trainers.data.text_tokenizer import TextTokenizer, token_dtype

CACHE_FORMAT = 1
"""Bump when the layout or the build changes: old entries are then simply not found."""

LOCK_TIMEOUT_S = 3600.0  # a waiting trial gives up (with a message) after an hour
MANIFEST = "manifest.json"
PINS = "pins"  # <cache>/pins/<data identity>.json → the key a driver prepared for it


@dataclass(frozen=True)
class TextCacheInfo:
    """A ready cache entry: where it is, whether this call built it, and its manifest."""

    key: str
    path: Path
    built: bool
    manifest: dict[str, Any]


def cache_key(data: DataConfig, prints: list[dict[str, Any]] | None = None) -> str:
    """Content key of the (corpus, tokenizer, split) a text config tokenizes to.

    Args:
        data: the text data config.
        prints: the domains' `sources.fingerprint`s, if already computed (they read every input).
    """
    prints = prints if prints is not None else [fingerprint(d) for d in data.domains]
    identity = {
        "format": CACHE_FORMAT,
        "domains": [{"name": d.name, "max_bytes": d.max_bytes, **p} for d, p in zip(data.domains, prints)],
        "tokenizer": data.tokenizer.model_dump(mode="json"),
        "num_test_tokens": data.num_test_tokens,
        "split_seed": data.split_seed,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def prepare_text_data(data: DataConfig) -> TextCacheInfo:
    """Make sure the token cache of `data` exists (build it once, under a lock) and fits it.

    Call this from the driver before any trial starts: it runs the content checks that the
    schema cannot (a domain empty after filtering, a held-out split or training pool shorter
    than one sequence) and turns them into config errors while nothing has launched yet. It
    also pins the entry: trials of this data config then read exactly this corpus, even if an
    input changes while the sweep runs (`open_for_trial`).

    Raises:
        ConfigError: a content problem; the message names the domain, the value and the fix.
    """
    if data.task != "text":
        raise ValueError(f"prepare_text_data needs data.task 'text', got '{data.task}'")
    prints = [fingerprint(d) for d in data.domains]
    info = _ensure(data, cache_key(data, prints), prints)
    _write_pin(data, info.key)
    return info


def open_for_trial(data: DataConfig) -> TextCacheInfo:
    """The entry a trial reads: the one its inputs hash to, unless they changed since it was pinned.

    If the inputs no longer hash to the pinned entry (a file edited, a package installed —
    `builtin:licenses` follows the installed distributions — after the driver prepared the
    cache), the trial reads the pinned entry, so every trial of a sweep sees the same corpus,
    and warns; run the driver (or `prepare_text_data`) again to adopt the new inputs.
    """
    prints = [fingerprint(d) for d in data.domains]
    key, pinned = cache_key(data, prints), _read_pin(data)
    if pinned == key:
        return _ensure(data, key, prints)
    if pinned is None or not (data.resolved_cache_dir / pinned / MANIFEST).is_file():
        info = _ensure(data, key, prints)  # no driver prepared it: the first trial builds and pins
        _write_pin(data, info.key)
        return info
    manifest = json.loads((data.resolved_cache_dir / pinned / MANIFEST).read_text())
    moved = [d["name"] for d, p in zip(manifest["domains"], prints) if d["fingerprint"] != p]
    warnings.warn(
        f"text inputs of domain(s) {moved} changed since the token cache {pinned} was prepared; this "
        "trial reads the prepared corpus (as the sweep's other trials do). Prepare again to use the new inputs",
        RuntimeWarning, stacklevel=2,
    )
    check_fits(data, manifest)
    return TextCacheInfo(pinned, data.resolved_cache_dir / pinned, False, manifest)


def _ensure(data: DataConfig, key: str, prints: list[dict[str, Any]]) -> TextCacheInfo:
    """The entry `key`, built first (once, under its lock) if no process has built it yet."""
    root = data.resolved_cache_dir
    entry = root / key
    built = False
    if not (entry / MANIFEST).is_file():
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / f"{key}.lock"), timeout=LOCK_TIMEOUT_S)
        try:
            with lock:
                if not (entry / MANIFEST).is_file():  # another process may have built it meanwhile
                    _build(data, key, entry, prints)
                    built = True
        except Timeout:
            raise RuntimeError(
                f"waited {LOCK_TIMEOUT_S:.0f} s for {lock.lock_file}; another process is building the "
                "token cache (or died holding the lock: remove the .lock file)"
            ) from None
    manifest = json.loads((entry / MANIFEST).read_text())
    check_fits(data, manifest)
    return TextCacheInfo(key, entry, built, manifest)


def _pin_path(data: DataConfig) -> Path:
    identity = json.dumps(data.model_dump(mode="json", include=_KEY_FIELDS), sort_keys=True)
    return data.resolved_cache_dir / PINS / f"{hashlib.sha256(identity.encode()).hexdigest()[:20]}.json"


def _write_pin(data: DataConfig, key: str) -> None:
    path = _pin_path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, "pinned_unix": time.time()}))
    os.replace(tmp, path)  # atomic: a reader sees the old pin or the new one


def _read_pin(data: DataConfig) -> str | None:
    path = _pin_path(data)
    key: str | None = json.loads(path.read_text())["key"] if path.is_file() else None
    return key


def prepare_sweep_text_data(datas: Iterable[DataConfig]) -> list[TextCacheInfo]:
    """`prepare_text_data` for a sweep: once per distinct cache entry, fit-checked for every trial.

    Trials that differ only in what the key leaves out (weights, seq_len, num_train_tokens)
    share one entry, so a sweep fingerprints and builds each corpus once. Non-text configs
    are skipped.

    Args:
        datas: the trials' data sections (e.g. ``[t.data for t in sweep.trials()]``).

    Returns:
        One `TextCacheInfo` per distinct entry, in first-seen order.

    Raises:
        ConfigError: as `prepare_text_data`, for the first trial whose data does not fit.
    """
    infos: dict[str, TextCacheInfo] = {}
    for data in datas:
        if data.task != "text":
            continue
        same_entry = json.dumps(data.model_dump(mode="json", include=_KEY_FIELDS), sort_keys=True)
        if same_entry in infos:
            check_fits(data, infos[same_entry].manifest)
        else:
            infos[same_entry] = prepare_text_data(data)
    return list(infos.values())


# DataConfig fields the cache key depends on (plus the cache folder it lives in); not weights.
_KEY_FIELDS: dict[str, Any] = {
    "domains": {"__all__": {"name", "source", "text_field", "split", "max_bytes", "encoding", "errors"}},
    "tokenizer": True, "num_test_tokens": True, "split_seed": True, "cache_dir": True,
}


def _split_domain(
    index: int, domain: DomainConfig, data: DataConfig, print_: dict[str, Any]
) -> tuple[DomainSplit, dict[str, Any]]:
    raw, num_files = read_documents(domain)
    cleaned = clean_documents(raw)
    where = f"data.domains[{index}] (name '{domain.name}', source '{domain.source}')"
    if not cleaned.documents:
        raise ConfigError(
            f"{where}: no text documents after filtering ({num_files} input files, {len(raw)} documents, "
            f"{cleaned.num_empty} empty); point source at UTF-8 text, or fix the glob / text_field"
        )
    if len(cleaned.documents) < 2:
        raise ConfigError(
            f"{where}: only 1 document after filtering and dedup; the held-out split is by document, "
            "so give at least 2 (e.g. split the file into several)"
        )
    split = split_documents(cleaned, data.num_test_tokens, data.split_seed, domain.max_bytes)
    stats = {"name": domain.name, "source": domain.source, "fingerprint": print_,
             "num_files": num_files, "num_documents": len(cleaned.documents),
             "num_duplicates": cleaned.num_duplicates, "num_empty": cleaned.num_empty,
             "num_with_separator": cleaned.num_with_separator,
             "bytes": sum(len(d.text.encode("utf-8")) for d in cleaned.documents),
             "train_documents": len(split.train), "train_bytes": split.train_bytes,
             "test_documents": len(split.test), "test_bytes": split.test_bytes}
    return split, stats


def _trim_to_bytes(stream: npt.NDArray[Any], token_bytes: npt.NDArray[np.int64], budget: int) -> npt.NDArray[Any]:
    """The longest prefix of `stream` covering at most `budget` bytes (same text for any tokenizer)."""
    covered = np.cumsum(token_bytes[stream])
    return stream[: int(np.searchsorted(covered, budget, side="right"))]


def _build(data: DataConfig, key: str, entry: Path, prints: list[dict[str, Any]]) -> None:
    """Read, split and tokenize every domain into a temporary folder, then rename it to `entry`."""
    started = time.perf_counter()
    splits, stats = {}, []
    for i, (domain, print_) in enumerate(zip(data.domains, prints)):
        splits[domain.name], domain_stats = _split_domain(i, domain, data, print_)
        stats.append(domain_stats)
    tokenizer = TextTokenizer.train(data.tokenizer, [d.text for s in splits.values() for d in s.train])
    tmp = entry.parent / f"{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        manifest = _write_arrays(data, tokenizer, splits, stats, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest.update(key=key, corpus_hash=corpus_hash(splits), build_seconds=time.perf_counter() - started)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))  # last file: marks the entry complete
    shutil.rmtree(entry, ignore_errors=True)  # only a hand-damaged entry (no manifest) can be there
    os.replace(tmp, entry)


def _write_arrays(
    data: DataConfig, tokenizer: TextTokenizer, splits: dict[str, DomainSplit], stats: list[dict[str, Any]],
    tmp: Path,
) -> dict[str, Any]:
    """Tokenize each split into `tmp`; return the manifest without key, hash and build time."""
    tokenize_started = time.perf_counter()
    for i, (name, split) in enumerate(splits.items()):
        train = tokenizer.encode_stream([d.text for d in split.train])
        test = _trim_to_bytes(tokenizer.encode_stream([d.text for d in split.test]), tokenizer.token_bytes,
                              data.num_test_tokens)
        train.tofile(tmp / f"{i}.train.bin")
        test.tofile(tmp / f"{i}.test.bin")
        stats[i].update(train_tokens=len(train), test_tokens=len(test),
                        eval_bytes=int(tokenizer.token_bytes[test].sum()))
    tokenize_seconds = time.perf_counter() - tokenize_started
    np.save(tmp / "token_bytes.npy", tokenizer.token_bytes)
    tokenizer.save(tmp)
    total_bytes = sum(s["train_bytes"] + s["test_bytes"] for s in stats)
    return {
        "format": CACHE_FORMAT, "python": python_version(),
        "tokenizer": data.tokenizer.model_dump(mode="json"), "vocab_size": tokenizer.vocab_size,
        "learned_vocab_size": tokenizer.learned_vocab_size, "separator_id": tokenizer.separator_id,
        "dtype": np.dtype(token_dtype(tokenizer.vocab_size)).name, "num_test_tokens": data.num_test_tokens,
        "split_seed": data.split_seed, "domains": stats, "created_unix": time.time(), "builder_pid": os.getpid(),
        "tokenize_seconds": tokenize_seconds, "tokenize_mb_per_s": total_bytes / 1e6 / max(tokenize_seconds, 1e-9),
    }


def domain_pool_windows(data: DataConfig, manifest: dict[str, Any]) -> dict[str, int]:
    """Training windows (seq_len + 1 tokens, stride seq_len) each domain may sample from.

    With `num_train_tokens`, domain d gets its weight's share of that pool, from the start
    of its training stream (documents in split order, so a smaller pool is a subset).
    """
    weights = data.domain_weights
    windows = {}
    for stats in manifest["domains"]:
        available = max(stats["train_tokens"] - 1, 0) // data.seq_len
        if data.num_train_tokens is not None:
            available = min(available, int(data.num_train_tokens * weights[stats["name"]]) // data.seq_len)
        windows[stats["name"]] = available
    return windows


def check_fits(data: DataConfig, manifest: dict[str, Any]) -> None:
    """Every domain has at least one held-out and one training sequence of seq_len + 1 tokens.

    Raises:
        ConfigError: naming the domain, the value and the fix.
    """
    pool = domain_pool_windows(data, manifest)
    for i, stats in enumerate(manifest["domains"]):
        where = f"domain '{stats['name']}' (data.domains[{i}])"
        if stats["test_tokens"] < data.seq_len + 1:
            raise ConfigError(
                f"data.seq_len ({data.seq_len}) is larger than the held-out split of {where}: "
                f"{stats['test_tokens']} tokens; lower seq_len below {stats['test_tokens']}, raise "
                "data.num_test_tokens, or add documents"
            )
        if pool[stats["name"]] < 1:
            raise ConfigError(
                f"{where} has no training sequence of seq_len + 1 = {data.seq_len + 1} tokens "
                f"({stats['train_tokens']} training tokens, data.num_train_tokens = {data.num_train_tokens}); "
                "raise num_train_tokens or the domain's weight, lower seq_len, or add documents"
            )


def open_stream(entry: Path, index: int, split: str, manifest: dict[str, Any]) -> np.memmap[Any, np.dtype[Any]]:
    """Domain `index`'s token stream of `split` ('train' or 'test'), memory-mapped read-only."""
    path = entry / f"{index}.{split}.bin"
    return np.memmap(path, dtype=np.dtype(manifest["dtype"]), mode="r")


def load_token_bytes(entry: Path) -> npt.NDArray[np.int64]:
    """Bytes each id covers, as saved by the build."""
    table: npt.NDArray[np.int64] = np.load(entry / "token_bytes.npy")
    return table
