"""The token cache (trainers/data/text_cache.py): built once, keyed by content, race-free."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from configs.errors import ConfigError
from trainers.data.text_cache import cache_key, open_stream, prepare_text_data
from trainers.data.text_tokenizer import TextTokenizer

ROOT = Path(__file__).resolve().parents[4]


def test_second_build_is_a_cache_hit_by_content_hash(corpus) -> None:
    config = corpus.config()
    first = prepare_text_data(config)
    second = prepare_text_data(config.model_copy(update={"seq_len": 32}))  # not part of the key
    assert first.built and not second.built
    assert first.key == second.key == cache_key(config) and first.path == second.path
    assert second.manifest["corpus_hash"] == first.manifest["corpus_hash"]
    (corpus.tmp_path / "corpus" / "part0" / "doc00.txt").write_text("new content for one document\n" * 20)
    third = prepare_text_data(config)
    assert third.built and third.key != first.key and third.manifest["corpus_hash"] != first.manifest["corpus_hash"]


def test_manifest_records_what_went_in(corpus) -> None:
    manifest = prepare_text_data(corpus.config()).manifest
    mine, web = manifest["domains"]
    assert (mine["num_files"], mine["num_documents"]) == (13, 12)  # a binary file is skipped
    assert web["num_documents"] == 20 and manifest["python"].count(".") == 2
    assert mine["train_documents"] + mine["test_documents"] == 12
    assert mine["bytes"] == mine["train_bytes"] + mine["test_bytes"]
    # Byte tokenizer: one token per byte, documents joined by one separator byte.
    assert mine["train_tokens"] == mine["train_bytes"] + mine["train_documents"] - 1
    assert mine["test_tokens"] == mine["eval_bytes"] <= 2000 and manifest["dtype"] == "uint16"


def test_held_out_stream_is_the_held_out_documents(corpus) -> None:
    info = prepare_text_data(corpus.config())
    test = bytes(np.asarray(open_stream(info.path, 0, "test", info.manifest), dtype=np.uint8)).decode("utf-8", "ignore")
    train = bytes(np.asarray(open_stream(info.path, 0, "train", info.manifest), dtype=np.uint8)).decode("utf-8")
    first_line = test.split("\n", 1)[0]  # "document <i> ünïcödé": unique per document
    assert first_line.startswith("document ") and first_line not in train


def test_bpe_is_trained_on_the_training_split_only(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainers.data.corpus import clean_documents, split_documents
    from trainers.data.sources import read_documents

    config = corpus.config(tokenizer={"kind": "bpe", "vocab_size": 400}, num_test_tokens=3000)
    seen: list[str] = []
    train = TextTokenizer.train.__func__  # type: ignore[attr-defined]

    def spy(cls: type[TextTokenizer], tokenizer: object, texts: list[str]) -> TextTokenizer:
        seen.extend(texts)
        return train(cls, tokenizer, texts)  # type: ignore[no-any-return]

    monkeypatch.setattr(TextTokenizer, "train", classmethod(spy))
    info = prepare_text_data(config)
    splits = [split_documents(clean_documents(read_documents(d)[0]), 3000, 0) for d in config.domains]
    assert sorted(seen) == sorted(doc.text for s in splits for doc in s.train)
    assert set(seen).isdisjoint(doc.text for s in splits for doc in s.test)
    assert 256 < info.manifest["learned_vocab_size"] <= 400 == info.manifest["vocab_size"]
    reloaded = TextTokenizer.load(config.tokenizer, info.path)
    assert reloaded.encode_stream(["document 1"]).tolist() == reloaded.encode_stream(["document 1"]).tolist()
    # Bytes identity of the stored arrays: the ids cover exactly the held-out text's bytes.
    assert info.manifest["domains"][0]["eval_bytes"] <= 3000


def test_two_processes_building_at_once_build_exactly_once(corpus) -> None:
    config = corpus.config(tokenizer={"kind": "bpe", "vocab_size": 600})
    config_file = corpus.tmp_path / "config.json"
    config_file.write_text(config.model_dump_json())
    go = corpus.tmp_path / "go"
    script = textwrap.dedent(f"""
        import json, os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from configs import DataConfig
        from trainers.data.text_cache import prepare_text_data
        config = DataConfig.model_validate_json(Path({str(config_file)!r}).read_text())
        while not os.path.exists({str(go)!r}):  # both start building at the same moment
            time.sleep(0.005)
        info = prepare_text_data(config)
        print(json.dumps({{"built": info.built, "key": info.key, "pid": os.getpid(),
                          "builder": info.manifest["builder_pid"]}}))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.0)  # let both import and wait at the start line
    go.touch()
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(r["built"] for r in results) == [False, True]
    assert results[0]["key"] == results[1]["key"]
    builder = next(r["pid"] for r in results if r["built"])
    assert all(r["builder"] == builder for r in results)  # both read the one entry it wrote
    entries = [p for p in Path(config.resolved_cache_dir).iterdir() if p.is_dir() and p.name != "pins"]
    assert [p.name for p in entries] == [results[0]["key"]]  # no leftover temporary folder


def test_an_empty_domain_is_a_config_error_naming_it(corpus) -> None:
    empty = corpus.tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "blob.bin").write_bytes(b"\x00\x01")
    config = corpus.config(domains=[{"name": "mine", "source": str(corpus.write_folder(corpus.tmp_path / "c"))},
                                    {"name": "nothing", "source": str(empty)}])
    with pytest.raises(ConfigError, match=r"data\.domains\[1\] \(name 'nothing'.*no text documents after filtering"):
        prepare_text_data(config)


def test_seq_len_longer_than_the_held_out_split_is_a_config_error(corpus) -> None:
    with pytest.raises(ConfigError, match=r"data\.seq_len \(600\) is larger than the held-out split of domain "
                                          r"'mine'.*500 tokens.*raise data\.num_test_tokens"):
        prepare_text_data(corpus.config(seq_len=600, num_test_tokens=500))


def test_a_training_pool_shorter_than_a_sequence_is_a_config_error(corpus) -> None:
    with pytest.raises(ConfigError, match=r"domain 'web'.*no training sequence of seq_len \+ 1 = 17 tokens"):
        prepare_text_data(corpus.config(num_train_tokens=40))



def test_a_sweep_prepares_each_corpus_once_and_checks_every_trial(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    from configs import DataConfig
    from trainers.data import text_cache

    calls: list[DataConfig] = []
    prepare = text_cache.prepare_text_data

    def counted(data: DataConfig) -> text_cache.TextCacheInfo:
        calls.append(data)
        return prepare(data)

    monkeypatch.setattr(text_cache, "prepare_text_data", counted)
    base = corpus.config()
    reweighted = base.model_copy(update={"domains": (base.domains[0], base.domains[1].model_copy(update={"weight": 2.0}))})
    datas = [base, base.model_copy(update={"seq_len": 32}), reweighted, DataConfig(task="markov"),
             base.model_copy(update={"num_test_tokens": 1000})]
    infos = text_cache.prepare_sweep_text_data(datas)
    assert len(infos) == len(calls) == 2 and infos[0].key != infos[1].key
    with pytest.raises(ConfigError, match=r"data\.seq_len \(3000\) is larger than the held-out split"):
        text_cache.prepare_sweep_text_data([base, base.model_copy(update={"seq_len": 3000})])


def test_trials_keep_reading_the_prepared_corpus_when_an_input_changes_mid_sweep(corpus) -> None:
    from trainers.data.text_cache import open_for_trial

    config = corpus.config()
    prepared = prepare_text_data(config)  # the driver, before trials start
    assert open_for_trial(config).key == prepared.key
    corpus.write_jsonl(corpus.tmp_path / "web.jsonl", seed=7)  # new texts: as if a package had been installed
    with pytest.warns(RuntimeWarning, match=r"inputs of domain\(s\) \['web'\] changed since the token cache"):
        during = open_for_trial(config)
    assert during.key == prepared.key and not during.built
    again = prepare_text_data(config)  # the driver of the next sweep adopts the new inputs
    assert again.built and again.key != prepared.key and open_for_trial(config).key == again.key
