"""From raw documents to a domain's train / held-out split: filter, deduplicate, split.

Pure functions over `Document`s (no tokenizer involved, so every tokenizer sees the same
held-out text and bits per byte compare across tokenizers).

* Filtering drops empty documents and any containing `SEPARATOR` (the byte that joins
  documents into one stream, which must stay unambiguous).
* Deduplication keeps the first document of each exact content (SHA-256 of its UTF-8 bytes),
  in input order.
* The split is by document: documents are ordered by SHA-256(split_seed, content hash) — a
  deterministic shuffle independent of file names — and the first ones, until their bytes
  reach the held-out budget, are held out; the rest is training text. Every document lands
  in exactly one split, and the same document always lands in the same one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from trainers.data.sources import Document

SEPARATOR = "\x1e"
"""ASCII record separator, written between documents in a token stream (one byte, one
token for every tokenizer), so the model sees where a document ends."""


def content_hash(text: str) -> str:
    """SHA-256 of a document's UTF-8 bytes: the identity used for dedup and splitting."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CleanedDocuments:
    """A domain's documents after filtering and dedup, with what was dropped."""

    documents: list[Document]
    hashes: list[str]
    num_empty: int
    num_duplicates: int
    num_with_separator: int


def clean_documents(documents: Iterable[Document]) -> CleanedDocuments:
    """Drop empty documents and documents containing `SEPARATOR`; keep one copy of each text."""
    kept: list[Document] = []
    hashes: list[str] = []
    seen: set[str] = set()
    empty = duplicates = with_separator = 0
    for doc in documents:
        if not doc.text.strip():
            empty += 1
            continue
        if SEPARATOR in doc.text:
            with_separator += 1
            continue
        digest = content_hash(doc.text)
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        kept.append(doc)
        hashes.append(digest)
    return CleanedDocuments(kept, hashes, empty, duplicates, with_separator)


@dataclass(frozen=True)
class DomainSplit:
    """A domain's documents split by document: training text and held-out text."""

    train: list[Document]
    test: list[Document]
    train_hashes: list[str]
    test_hashes: list[str]

    @property
    def train_bytes(self) -> int:
        """UTF-8 bytes of the training documents."""
        return sum(len(d.text.encode("utf-8")) for d in self.train)

    @property
    def test_bytes(self) -> int:
        """UTF-8 bytes of the held-out documents."""
        return sum(len(d.text.encode("utf-8")) for d in self.test)


def split_order(hashes: list[str], split_seed: int) -> list[int]:
    """Indices of the documents in split order: sorted by SHA-256(split_seed, content hash)."""
    keys = [hashlib.sha256(f"{split_seed}:{h}".encode()).hexdigest() for h in hashes]
    return sorted(range(len(hashes)), key=keys.__getitem__)


def split_documents(
    cleaned: CleanedDocuments, num_test_bytes: int, split_seed: int, max_train_bytes: int | None = None
) -> DomainSplit:
    """Hold out whole documents, in split order, until they hold `num_test_bytes` bytes.

    At least one document always stays in training. With `max_train_bytes`, training keeps
    documents in split order while its bytes are below the cap (the cap never touches the
    held-out split, so evaluations stay comparable across caps).

    Raises:
        ValueError: fewer than two documents (nothing to split).
    """
    if len(cleaned.documents) < 2:
        raise ValueError(f"{len(cleaned.documents)} document(s) after filtering; a split needs at least 2")
    order = split_order(cleaned.hashes, split_seed)
    test_idx: list[int] = []
    held = 0
    for i in order[:-1]:  # the last one in split order always trains
        if held >= num_test_bytes:
            break
        test_idx.append(i)
        held += len(cleaned.documents[i].text.encode("utf-8"))
    train_idx = order[len(test_idx):]
    if max_train_bytes is not None:
        train_idx = _cap(train_idx, cleaned.documents, max_train_bytes)
    pick = lambda idx, items: [items[i] for i in idx]  # noqa: E731
    return DomainSplit(pick(train_idx, cleaned.documents), pick(test_idx, cleaned.documents),
                       pick(train_idx, cleaned.hashes), pick(test_idx, cleaned.hashes))


def _cap(indices: list[int], documents: list[Document], max_bytes: int) -> list[int]:
    kept, total = [], 0
    for i in indices:
        if total >= max_bytes:
            break
        kept.append(i)
        total += len(documents[i].text.encode("utf-8"))
    return kept


def corpus_hash(splits: dict[str, DomainSplit]) -> str:
    """SHA-256 of the whole corpus: each domain's name and its documents, split by split."""
    digest = hashlib.sha256()
    for name, split in splits.items():
        digest.update(f"domain {name}\ntrain {','.join(split.train_hashes)}\n".encode())
        digest.update(f"test {','.join(split.test_hashes)}\n".encode())
    return digest.hexdigest()
