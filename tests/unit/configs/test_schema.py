"""Validation rules of the schemas (configs/schema.py) and their error messages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from configs import ConfigError, TrialConfig, parse_sweep
from configs.schema import DataConfig, ModelConfig, flatten
from configs.train import TrainConfig


def sweep(**fields: Any) -> dict[str, Any]:
    return {"name": "t", **fields}


# Each row: a sweep mapping and regexes its ConfigError message must contain (all of them).
INVALID_SWEEPS = {
    "unknown nested key, with a spelling hint": (
        sweep(base={"model": {"d_modle": 64}}),
        [r"base\.model\.d_modle = 64", r"Extra inputs are not permitted", r"did you mean 'd_model'\?"],
    ),
    "unknown top-level key, with a spelling hint": (
        sweep(seed=[1]),
        [r"seed = \[1\]", r"did you mean 'seeds'\?"],
    ),
    "unknown key with no close match lists the allowed fields": (
        sweep(base={"init": {"zzz": 1}}),
        [r"base\.init\.zzz = 1", r"allowed: rate, scheme, std"],
    ),
    "unknown section": (
        sweep(base={"optimizer": {"lr": 1e-3}}),
        [r"base\.optimizer", r"did you mean 'optim'\?"],
    ),
    "wrong type": (
        sweep(base={"train": {"num_steps": "many"}}),
        [r"base\.train\.num_steps = 'many'", r"valid integer", r"fix the value"],
    ),
    "negative size": (
        sweep(base={"model": {"d_model": -4}}),
        [r"base\.model\.d_model = -4", r"greater than or equal to 1", r"satisfy the bound"],
    ),
    "zero layers": (
        sweep(base={"model": {"n_layer": 0}}),
        [r"base\.model\.n_layer = 0", r"greater than or equal to 1"],
    ),
    "heads must divide width": (
        sweep(base={"model": {"d_model": 64, "n_head": 3}}),
        [r"base\.model: model\.d_model \(64\) must be divisible by model\.n_head \(3\)", r"divisors of d_model"],
    ),
    "warmup equal to num_steps": (
        sweep(base={"optim": {"warmup_steps": 100}, "train": {"num_steps": 100}}),
        [
            r"optim\.warmup_steps \(100\) must be less than train\.num_steps \(100\)",
            r"lower warmup_steps or raise num_steps",
        ],
    ),
    "warmup above num_steps": (
        sweep(base={"optim": {"warmup_steps": 500}, "train": {"num_steps": 200}}),
        [r"optim\.warmup_steps \(500\) must be less than train\.num_steps \(200\)"],
    ),
    "unknown task": (
        sweep(base={"data": {"task": "wiki"}}),
        [r"base\.data\.task = 'wiki'", r"'anchor' or 'markov'", r"use one of the allowed values"],
    ),
    "unknown schedule": (
        sweep(base={"optim": {"schedule": "step"}}),
        [r"base\.optim\.schedule = 'step'", r"'cosine', 'linear', 'constant' or 'wsd'"],
    ),
    "checkpoint_every not a multiple of eval_every": (
        sweep(base={"train": {"eval_every": 100, "checkpoint_every": 250}}),
        [
            r"train\.checkpoint_every \(250\) must be a multiple of train\.eval_every \(100\)",
            r"e\.g\. checkpoint_every: 200",
        ],
    ),
    "checkpoint_every below eval_every suggests eval_every": (
        sweep(base={"train": {"eval_every": 100, "checkpoint_every": 30}}),
        [r"checkpoint_every \(30\)", r"e\.g\. checkpoint_every: 100"],
    ),
    "batch not divisible by micro-batch": (
        sweep(base={"train": {"batch_size": 512, "micro_batch_size": 100}}),
        [
            r"train\.batch_size \(512\) must be a multiple of train\.micro_batch_size \(100\)",
            r"pick a divisor of batch_size",
        ],
    ),
    "markov support above vocab": (
        sweep(base={"data": {"task": "markov", "vocab_size": 16, "support": 32}}),
        [r"data\.support \(32\) must be ≤ data\.vocab_size \(16\)"],
    ),
    "anchor needs a fixed dataset": (
        sweep(base={"data": {"task": "anchor", "num_train": None}}),
        [r"data\.num_train \(null\) must be set for task 'anchor'"],
    ),
    "init rate out of range": (
        sweep(base={"init": {"rate": 0}}),
        [r"base\.init\.rate = 0", r"greater than 0"],
    ),
    "unknown init scheme": (
        sweep(base={"init": {"scheme": "xavier"}}),
        [r"base\.init\.scheme = 'xavier'", r"'fan_in' or 'reference'", r"use one of the allowed values"],
    ),
    "unknown weight decay mode": (
        sweep(base={"optim": {"weight_decay_mode": "coupled"}}),
        [r"base\.optim\.weight_decay_mode = 'coupled'", r"'decoupled' or 'l2'"],
    ),
    "decay_norms_and_biases is a boolean": (
        sweep(base={"optim": {"decay_norms_and_biases": "sometimes"}}),
        [r"base\.optim\.decay_norms_and_biases = 'sometimes'", r"valid boolean"],
    ),
    "bad model preset name": (
        sweep(base={"model": "gpt_huge"}),
        [r"model preset 'gpt_huge' does not exist", r"available: .*gpt_debug"],
    ),
    "bad sweep name": (
        sweep(name="has space"),
        [r"name = 'has space'", r"pattern"],
    ),
    "no seeds": (
        sweep(seeds=[]),
        [r"seeds = \[\]", r"at least 1 item"],
    ),
    "micro-batch does not split over the workers": (
        sweep(base={"train": {"batch_size": 60, "micro_batch_size": 15}}, resources={"workers_per_trial": 2}),
        [r"train\.micro_batch_size \(15\) must be divisible by resources\.workers_per_trial \(2\)",
         r"multiple of 2"],
    ),
    "no workers": (
        sweep(resources={"workers_per_trial": 0}),
        [r"resources\.workers_per_trial = 0", r"greater than or equal to 1"],
    ),
    "ZeRO-3 with weight-editing probes": (
        sweep(base={"train": {"zero_stage": 3}, "eval": {"probes": ["phi_weight", "ratedist"]}}),
        [r"train\.zero_stage 3 shards the parameters", r"eval\.phi_weight_every and eval\.ratedist_bits",
         r"drop phi_weight and ratedist from eval\.probes", r"set eval\.phi_weight_every: 0 and eval\.ratedist_bits: \[\]"],
    ),
}


@pytest.mark.parametrize("raw, patterns", INVALID_SWEEPS.values(), ids=INVALID_SWEEPS.keys())
def test_invalid_sweep_message(raw: dict[str, Any], patterns: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sweep(raw)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), f"{pattern!r} not in:\n{info.value}"


@pytest.mark.parametrize("eval_section", [
    {"probes": ["phi_weight", "ratedist"], "phi_weight_every": 0, "ratedist_bits": []},  # listed, turned off
    {},  # not listed: probes are opt-in
    {"probes": ["phi_input", "calibration"]},  # listed, but they do not edit weights
])
def test_zero3_without_weight_editing_probes_is_valid(eval_section: dict) -> None:
    raw = sweep(base={"train": {"zero_stage": 3}, "eval": eval_section})
    (trial,) = parse_sweep(raw).trials()
    assert trial.train.zero_stage == 3


def test_layout_splits_each_micro_batch_over_the_workers() -> None:
    layout = TrainConfig(batch_size=64, micro_batch_size=32).layout(2)
    assert (layout.micro_per_worker, layout.grad_accum_steps) == (16, 2)
    # rank 1's rows of the second micro-batch: the second half of rows 32..63
    assert layout.worker_slice(32, 1) == slice(48, 64)


def test_config_error_is_a_value_error() -> None:
    # STYLE §7: bad user input raises ValueError (callers may catch either).
    with pytest.raises(ValueError, match=r"d_modle"):
        parse_sweep(sweep(base={"model": {"d_modle": 64}}))


def test_every_problem_gets_its_own_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_sweep(sweep(base={"model": {"d_modle": 64, "n_layer": -1}}))
    lines = str(info.value).splitlines()
    assert any("base.model.d_modle" in line for line in lines)
    assert any("base.model.n_layer = -1" in line for line in lines)


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match=r"top level must be a mapping"):
        parse_sweep(["name", "t"])


def test_schemas_are_frozen_and_strict() -> None:
    trial = TrialConfig()
    with pytest.raises(ValueError, match=r"frozen"):
        trial.seed = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"d_modle"):
        ModelConfig(d_modle=64)  # type: ignore[call-arg]


def test_cross_field_rules_on_the_sub_configs_directly() -> None:
    with pytest.raises(ValueError, match=r"model\.d_model \(10\) must be divisible by model\.n_head \(4\)"):
        ModelConfig(d_model=10, n_head=4)
    with pytest.raises(ValueError, match=r"train\.batch_size \(10\) must be a multiple of train\.micro_batch_size \(4\)"):
        TrainConfig(batch_size=10, micro_batch_size=4)
    with pytest.raises(ValueError, match=r"data\.support \(9\) must be ≤ data\.vocab_size \(8\)"):
        DataConfig(task="markov", vocab_size=8, support=9)


@pytest.mark.parametrize(
    "batch_size, micro_batch_size, micro, accum",
    [(512, None, 512, 1), (512, 512, 512, 1), (512, 128, 128, 4), (96, 32, 32, 3), (7, 1, 1, 7)],
)
def test_batch_arithmetic(batch_size: int, micro_batch_size: int | None, micro: int, accum: int) -> None:
    train = TrainConfig(batch_size=batch_size, micro_batch_size=micro_batch_size, eval_every=1, checkpoint_every=1)
    assert (train.micro_batch, train.grad_accum_steps) == (micro, accum)
    assert train.micro_batch * train.grad_accum_steps == train.batch_size


def test_warmup_just_below_num_steps_is_valid() -> None:
    trial = TrialConfig.model_validate({"optim": {"warmup_steps": 99}, "train": {"num_steps": 100}})
    assert trial.optim.warmup_steps == 99


def test_config_hash_ignores_sweep_name_but_not_content() -> None:
    a = TrialConfig(sweep="one")
    assert a.config_hash == TrialConfig(sweep="two").config_hash
    assert a.config_hash != TrialConfig(seed=1).config_hash
    assert re.fullmatch(r"[0-9a-f]{64}", a.config_hash)
    assert a.trial_id == a.config_hash[:10]


def test_round_trip_through_dict_keeps_identity() -> None:
    # The dict is the transport format to Ray; re-validation must give the same trial.
    trial = TrialConfig.model_validate({"model": {"d_model": 32}, "seed": 3})
    again = TrialConfig.model_validate(trial.model_dump())
    assert again == trial and again.trial_id == trial.trial_id


def test_flatten_and_flat_params() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    flat = TrialConfig(seed=5).flat_params()
    assert flat["seed"] == 5 and flat["model.d_model"] == 64 and flat["train.micro_batch_size"] is None
    assert all(not isinstance(v, dict) for v in flat.values())


def test_defaults_match_the_reference_code() -> None:
    # fan_in init is today's behaviour; AdamW on every parameter is the reference code's.
    trial = TrialConfig()
    assert trial.init.scheme == "fan_in"
    assert (trial.optim.weight_decay_mode, trial.optim.decay_norms_and_biases) == ("decoupled", True)


def test_new_options_are_part_of_the_trial_identity() -> None:
    base = TrialConfig()
    variants = [
        TrialConfig.model_validate({"init": {"scheme": "reference"}}),
        TrialConfig.model_validate({"optim": {"weight_decay_mode": "l2"}}),
        TrialConfig.model_validate({"optim": {"decay_norms_and_biases": False}}),
    ]
    assert len({base.config_hash, *(v.config_hash for v in variants)}) == 4
    flat = variants[0].flat_params()
    assert flat["init.scheme"] == "reference" and flat["optim.weight_decay_mode"] == "decoupled"
