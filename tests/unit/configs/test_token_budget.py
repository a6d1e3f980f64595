"""A text data ladder is one grid key: `data.num_train_tokens` sets num_steps when it is not given."""

from __future__ import annotations

import pytest

from configs import TrialConfig, parse_sweep

TEXT = {"task": "text", "seq_len": 128, "tokenizer": {"kind": "byte"},
        "domains": [{"name": "code", "source": "builtin:python_code"}]}


@pytest.mark.parametrize(
    "tokens, batch, steps",
    [
        (1_000_000, 32, 245),  # ⌈1e6 / 4,096⌉ = 245 → D = 1,003,520
        ("2e6", 32, 489),  # ⌈2e6 / 4,096⌉ = 488.3 → 489
        (4_096, 32, 1),
        (4_000_000, 64, 489),  # ⌈4e6 / 8,192⌉
    ],
)
def test_num_steps_from_the_token_budget(tokens: object, batch: int, steps: int) -> None:
    trial = TrialConfig.model_validate({"data": {**TEXT, "num_train_tokens": tokens},
                                        "train": {"batch_size": batch, "eval_every": 1, "checkpoint_every": 1},
                                        "optim": {"warmup_steps": 0}})
    assert trial.train.num_steps == steps
    assert trial.num_tokens == steps * batch * 128
    assert TrialConfig.model_validate(trial.model_dump()).trial_id == trial.trial_id  # stable in transport


def test_an_explicit_num_steps_wins() -> None:
    trial = TrialConfig.model_validate({"data": {**TEXT, "num_train_tokens": 1_000_000},
                                        "train": {"num_steps": 10, "batch_size": 32, "eval_every": 5,
                                                  "checkpoint_every": 10}, "optim": {"warmup_steps": 2}})
    assert trial.train.num_steps == 10


def test_a_data_ladder_is_one_grid_key() -> None:
    sweep = parse_sweep({"name": "ladder", "base": {"data": TEXT, "optim": {"warmup_steps": 0},
                                                    "train": {"batch_size": 32, "eval_every": 1, "checkpoint_every": 1}},
                         "grid": {"data.num_train_tokens": [1e6, 2e6, 4e6]}})
    assert [t.train.num_steps for t in sweep.trials()] == [245, 489, 977]
