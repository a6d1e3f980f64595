"""Document-level train / held-out split (trainers/data/corpus.py)."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.data.corpus import SEPARATOR, clean_documents, corpus_hash, split_documents
from trainers.data.sources import Document


def documents(num: int, seed: int = 0) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [Document(f"doc{i}", f"doc {i}: " + "x" * int(rng.integers(50, 500))) for i in range(num)]


def test_dedup_drops_exact_copies_empty_documents_and_separators() -> None:
    docs = [Document("a", "same"), Document("b", "same"), Document("c", "  \n"), Document("d", f"x{SEPARATOR}y"),
            Document("e", "other")]
    cleaned = clean_documents(docs)
    assert [d.key for d in cleaned.documents] == ["a", "e"]
    assert (cleaned.num_duplicates, cleaned.num_empty, cleaned.num_with_separator) == (1, 1, 1)


def test_split_is_disjoint_complete_and_by_whole_document() -> None:
    cleaned = clean_documents(documents(200))
    split = split_documents(cleaned, num_test_bytes=5000, split_seed=0)
    train, test = set(split.train_hashes), set(split.test_hashes)
    assert not train & test
    assert train | test == set(cleaned.hashes)
    assert {d.text for d in split.train}.isdisjoint(d.text for d in split.test)
    # Held out until the budget is reached: at least the budget, short of it without the last one.
    assert split.test_bytes >= 5000 > split.test_bytes - len(split.test[-1].text.encode())


def test_split_is_deterministic_and_independent_of_input_order() -> None:
    docs = documents(100)
    first = split_documents(clean_documents(docs), 3000, split_seed=0)
    shuffled = split_documents(clean_documents(docs[::-1]), 3000, split_seed=0)
    assert first.test_hashes == shuffled.test_hashes
    assert split_documents(clean_documents(docs), 3000, split_seed=1).test_hashes != first.test_hashes


def test_adding_documents_never_moves_a_document_across_the_split() -> None:
    small = split_documents(clean_documents(documents(50)), 10**9, split_seed=0)
    # With an unbounded budget everything but one document is held out, in split order.
    assert len(small.train) == 1 and len(small.test) == 49


def test_training_cap_leaves_the_held_out_split_alone() -> None:
    cleaned = clean_documents(documents(100))
    full = split_documents(cleaned, 3000, split_seed=0)
    capped = split_documents(cleaned, 3000, split_seed=0, max_train_bytes=4000)
    assert capped.test_hashes == full.test_hashes
    assert 4000 <= capped.train_bytes < 4000 + 600
    assert capped.train_hashes == full.train_hashes[: len(capped.train)]


def test_one_document_cannot_be_split() -> None:
    with pytest.raises(ValueError, match=r"1 document\(s\) after filtering; a split needs at least 2"):
        split_documents(clean_documents(documents(1)), 100, split_seed=0)


def test_corpus_hash_changes_with_any_document() -> None:
    docs = documents(20)
    base = corpus_hash({"a": split_documents(clean_documents(docs), 500, 0)})
    docs[3] = Document("doc3", "edited")
    assert corpus_hash({"a": split_documents(clean_documents(docs), 500, 0)}) != base
