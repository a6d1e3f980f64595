"""Text-config validation before anything launches: each error names field, value and fix.

Cheap checks run when the sweep is parsed (configs/data.py); content checks (an empty
domain, a held-out split shorter than seq_len) when the cache is prepared (test_text_cache).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from configs import ConfigError, DataConfig, TrialConfig, parse_sweep


def sweep(data: dict[str, Any], grid: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    return {"name": "t", "base": {"model": "gpt_debug", "data": {"task": "text", "seq_len": 32, **data},
                                  "optim": {"warmup_steps": 1}, "train": {"num_steps": 10}},
            "grid": grid or {}}


def test_unknown_builtin_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"base\.data\.domains\.0\.source: unknown built-in corpus 'builtin:wiki'; "
                                          r"use one of builtin:python_code, builtin:python_prose, builtin:licenses"):
        parse_sweep(sweep({"domains": [{"name": "w", "source": "builtin:wiki"}]}))


def test_missing_path_names_it_and_the_alternatives(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"domains\.1\.source: source path '{tmp_path}/nope' does not exist; fix the path"):
        parse_sweep(sweep({"domains": [{"name": "a", "source": "builtin:licenses"},
                                       {"name": "b", "source": str(tmp_path / "nope")}]}))


def test_missing_glob_folder_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"source glob '.*/gone/\*\*/\*\.md': its folder '.*/gone' does not exist"):
        parse_sweep(sweep({"domains": [{"name": "a", "source": str(tmp_path / "gone" / "**" / "*.md")}]}))


def test_duplicate_domain_names() -> None:
    with pytest.raises(ConfigError, match=r"data\.domains has duplicate names \['code'\]; give every domain its own name"):
        parse_sweep(sweep({"domains": [{"name": "code", "source": "builtin:python_code"},
                                       {"name": "code", "source": "builtin:python_prose"}]}))


@pytest.mark.parametrize("weight", [0, -1.5])
def test_non_positive_weight(weight: float) -> None:
    with pytest.raises(ConfigError, match=rf"base\.data\.domains\.0\.weight = {weight}: Input should be greater than 0; "
                                          r"change the value"):
        parse_sweep(sweep({"domains": [{"name": "code", "source": "builtin:python_code", "weight": weight}]}))


def test_text_without_domains_and_domains_without_text() -> None:
    with pytest.raises(ConfigError, match=r"data\.domains is empty; task 'text' needs at least one domain"):
        parse_sweep(sweep({}))
    with pytest.raises(ConfigError, match=r"data\.domains \(1 given\) is for task 'text' but data\.task is 'markov'"):
        parse_sweep(sweep({"task": "markov", "domains": [{"name": "c", "source": "builtin:python_code"}]}))


def test_bad_domain_name_and_byte_vocab() -> None:
    with pytest.raises(ConfigError, match=r"domains\.0\.name = 'my code'.*pattern"):
        parse_sweep(sweep({"domains": [{"name": "my code", "source": "builtin:python_code"}]}))
    with pytest.raises(ConfigError, match=r"data\.tokenizer\.vocab_size \(512\) is for kind 'bpe'"):
        parse_sweep(sweep({"tokenizer": {"kind": "byte", "vocab_size": 512},
                           "domains": [{"name": "c", "source": "builtin:python_code"}]}))


def test_a_data_ladder_in_scientific_notation_and_the_vocab_from_the_tokenizer(tmp_path: Path) -> None:
    parsed = parse_sweep(sweep({"domains": [{"name": "c", "source": "builtin:python_code"}],
                                "tokenizer": {"kind": "bpe", "vocab_size": 1024}},
                               grid={"data.num_train_tokens": ["1e6", 2.0e6, 4_000_000]}))
    trials = parsed.trials()
    assert [t.data.num_train_tokens for t in trials] == [1_000_000, 2_000_000, 4_000_000]
    assert {t.vocab_size for t in trials} == {1024}
    assert all(t.num_tokens == 10 * t.train.batch_size * 32 for t in trials)  # D = tokens trained on


def test_relative_paths_become_absolute_so_trials_in_other_folders_find_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "texts").mkdir()
    monkeypatch.chdir(tmp_path)
    data = DataConfig(task="text", domains=[{"name": "a", "source": "texts"}], cache_dir="cache")
    assert data.domains[0].source == str(tmp_path / "texts") and data.cache_dir == str(tmp_path / "cache")
    trial = TrialConfig.model_validate({"data": data.model_dump()})
    assert TrialConfig.model_validate(trial.model_dump(mode="json")) == trial  # Ray's round trip
