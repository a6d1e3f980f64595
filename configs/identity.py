"""A trial's identity: the config fields that define *what is trained*, hashed under a version.

Two trials with the same identity train the same weights, so the driver runs one of them
once (a rerun skips a finished one) and analysis keeps one run of it. The identity is
`IDENTITY_FIELDS`, an explicit list of flattened config paths (`TrialConfig.flat_params`);
every other field is listed in `NOT_IDENTITY` with the reason it does not change the
weights. A unit test fails on a field in neither list, so a new field needs a decision.

Measurement is not identity: every `eval.*` field, `eval.probes` (which opt-in probes run)
included, changes what is measured, not what is trained, so it never enters the hash. It is a
second, separate key: the *measurement* (`measurement_hash`, of the whole `eval` section, logged
as tag `scalinglab.measurement_hash`). A grid may sweep `eval.*` keys: its trials share one
identity hash and are distinct measurement runs. The driver runs each (identity, measurement)
once and skips a finished one; analysis keeps one run per (identity, measurement). A grid whose
trials differ only in execution knobs (the other `NOT_IDENTITY` fields) is still refused
(`configs/grid.py`): they would train and measure the same thing.

The rule that keeps old ids: a trial's id (and so its run name and checkpoint folder) is the
first 10 hex digits of its identity hash, with `-m<6 hex of the measurement hash>` appended
only when its `eval` section differs from `EvalConfig()`'s defaults (`trial_id`). Runs logged
before measurements were keyed carry no measurement tag; such a run counts for every
measurement of its identity, as it did then (`configs/runs.py`, `same_measurement`), so no
finished trial of an old sweep is trained again.

Changing `IDENTITY_FIELDS` changes every trial's hash: bump `IDENTITY_VERSION` and keep the
old rule as a fallback lookup (as `identity_hash_v1` is kept), or a rerun of an old sweep
trains its finished trials again. A new training field joins `ADDED_AT_DEFAULT` instead: it
enters the hash only off the default it was added with, so no existing hash moves.

Version 1 (runs without the `scalinglab.identity_version` tag) hashed the whole config but the
sweep name, with exceptions for fields added later. `identity_hash_v1` keeps it, frozen, so a
rerun of a sweep started before version 2 still finds its finished trials (`configs/runs.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

IDENTITY_VERSION = 2

_TRAINED: dict[str, tuple[str, ...]] = {
    "model": ("n_layer", "n_head", "d_model", "d_ff", "norm", "activation"),
    "init": ("scheme", "rate", "std"),
    "optim": ("lr", "weight_decay", "weight_decay_mode", "decay_norms_and_biases", "beta1", "beta2",
              "warmup_steps", "schedule", "min_lr_ratio", "cooldown_fraction", "grad_clip"),
    # Held-out sizes and split_seed count too: text holds out whole documents, so they decide
    # which documents are trained on.
    "data": ("task", "seq_len", "num_train", "num_test", "vocab_size", "support", "zipf_exponent",
             "num_domains", "tokenizer.kind", "tokenizer.vocab_size", "domains", "num_train_tokens",
             "num_test_tokens", "split_seed"),
    # cooldowns: the branches are runs this trial trains; a new branch must not count as done.
    "train": ("num_steps", "batch_size", "cooldowns"),
}
ADDED_AT_DEFAULT: dict[str, Any] = {"optim.decay_embeddings": True, "optim.mup_d_model_ref": None}
"""Identity fields added after version 2, with the default each had when added (frozen here).

A field at that default is left out of `identity_content`, so every trial hashed before it
existed keeps its hash (and id) without a version bump; off it, it enters the hash. Unlike
`cooldown_fraction` in version 1, whether it counts depends on its own value only.
"""

IDENTITY_FIELDS: tuple[str, ...] = ("seed", *(f"{section}.{name}" for section, names in _TRAINED.items()
                                              for name in names), *ADDED_AT_DEFAULT)
"""Flattened config paths whose values make up a trial's identity (version 2)."""

NOT_IDENTITY: dict[str, str] = {
    "sweep": "a label: the same training in two sweeps is the same trial (the driver looks runs up per sweep tag)",
    "data.cache_dir": "where this machine keeps the token cache; the tokens are the same",
    "train.micro_batch_size": "splits the same global batch into forward passes; each step averages the same sequences",
    "train.eval_every": "measurement cadence: evaluation reads the model and no training RNG; the last step is always evaluated",
    "train.checkpoint_every": "crash recovery: a resumed trial continues exactly",
    "train.zero_stage": "shards the same optimizer over workers (tests/integration/test_multiworker.py)",
    "train.precision": "numeric execution (`auto` depends on the device): the same objective, different rounding",
    "train.num_threads": "CPU threads of the trial's process",
    "eval": "probes read the model and restore what they perturb; they never change the weights (the measurement key, below)",
}
"""Config fields (or whole sections) outside the identity, each with the reason."""


def identity_content(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The identity of a flattened config: `IDENTITY_FIELDS` and their values, with the version.

    `ADDED_AT_DEFAULT` fields are left out at their defaults (old hashes stay put).

    Raises:
        KeyError: `flat` lacks an identity field (it is not a whole trial's flat config).
    """
    content = {path: flat[path] for path in IDENTITY_FIELDS}
    for path, default in ADDED_AT_DEFAULT.items():
        if content[path] == default:
            del content[path]
    return {"identity_version": IDENTITY_VERSION, **content}


def identity_hash(flat: Mapping[str, Any]) -> str:
    """SHA-256 of `identity_content` (JSON, sorted keys): a trial's config hash."""
    return _sha256(identity_content(flat))


MEASUREMENT_ID_DIGITS = 6
"""Hex digits of the measurement hash a trial id carries when its eval section is not the default."""


def measurement_hash(eval_section: Mapping[str, Any]) -> str:
    """SHA-256 of a trial's `eval` section (`EvalConfig.model_dump(mode="json")`, sorted JSON): what it measures."""
    return _sha256({"eval": dict(eval_section)})


def trial_id(config_hash: str, eval_section: Mapping[str, Any], default_eval: Mapping[str, Any]) -> str:
    """A trial's short id: 10 hex digits of its identity hash, plus `-m<measurement>` off the default eval."""
    if dict(eval_section) == dict(default_eval):
        return config_hash[:10]  # ids of sweeps that measure the default way stay as they were
    return f"{config_hash[:10]}-m{measurement_hash(eval_section)[:MEASUREMENT_ID_DIGITS]}"


# The defaults of the eval fields version 1 left out when at their default, frozen here so a
# later change of a default cannot move old hashes.
_V1_EVAL_ADDED_LATER = {"phi_form": "retained_gain", "training_kl_every": None, "training_kl_positions": 4096}


def identity_hash_v1(tree: dict[str, Any]) -> str:
    """Version 1's hash of a config tree (`TrialConfig.model_dump(mode="json")`), frozen.

    Everything but the sweep name; `optim.cooldown_fraction` only under `wsd`,
    `train.cooldowns` only when set, three eval fields only off their defaults (fields
    added after trials were hashed), never `eval.probes` (added in version 2's time), and
    `ADDED_AT_DEFAULT` fields only off their defaults. Its input is today's full dump: a field added to
    `TrialConfig` from now on must be dropped here too, or old sweeps' finished trials stop
    matching (the pinned default hash in tests/unit/trainers/test_cooldown.py catches it).
    """
    content = json.loads(json.dumps({k: v for k, v in tree.items() if k != "sweep"}))  # a deep copy
    if content["optim"]["schedule"] != "wsd":
        del content["optim"]["cooldown_fraction"]
    if not content["train"]["cooldowns"]:
        del content["train"]["cooldowns"]
    for key, default in _V1_EVAL_ADDED_LATER.items():
        if content["eval"][key] == default:
            del content["eval"][key]
    content["eval"].pop("probes", None)  # added after version 2 (opt-in probes): never in a v1 hash
    for path, default in ADDED_AT_DEFAULT.items():  # added after version 2: only off their defaults
        section, name = path.split(".")
        if content[section][name] == default:
            del content[section][name]
    return _sha256(content)


def _sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
