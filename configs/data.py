"""The data section of a trial: which task, and how much of it.

Three tasks. `anchor` and `markov` are synthetic and generated per trial; `text` is real
text from named domains (folders, JSONL, Parquet, Hugging Face datasets or built-in corpora),
split into train / held-out by document and tokenized once per (corpus, tokenizer) into a
memory-mapped cache shared by every trial (`trainers/data/text_cache.py`).

Only cheap checks live here (names, weights, built-in names, that a path exists); what needs
the documents (a domain empty after filtering, a held-out split shorter than `seq_len`) is
checked when the corpus is built, before any trial starts (`prepare_text_data`).
"""

from __future__ import annotations

import codecs
import glob
import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from configs.base import FrozenModel

ANCHOR_VOCAB_SIZE = 128
"""Vocabulary of the composite anchor task (anchors 1..4, keys 20..99, answers 4..109)."""

BYTE_VOCAB_SIZE = 256
"""Vocabulary of the byte tokenizer: one token per byte value, no special tokens."""

DEFAULT_BPE_VOCAB_SIZE = 4096
"""BPE vocabulary when `tokenizer.vocab_size` is not given."""

BUILTIN_CORPORA = {
    "python_code": "Python source of the running interpreter's standard library (tests excluded)",
    "python_prose": "English prose: docstrings and comments extracted from that standard library",
    "licenses": "Legal text: license files shipped with the installed distributions and Python",
}
"""Corpora that need no download: `source: "builtin:<name>"`."""

BUILTIN_PREFIX = "builtin:"
HF_PREFIX = "hf:"
TEXT_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
"""File sources read as records (a field per record); any other file is one text document."""

DEFAULT_CACHE_DIR = "~/.cache/scalinglab/text"
CACHE_ENV = "SCALINGLAB_CACHE"


class TokenizerConfig(FrozenModel):
    """How text becomes tokens: raw bytes, or a byte-level BPE trained on the training split."""

    kind: Literal["byte", "bpe"] = Field("byte", description="`byte`: 256 tokens, one per byte; `bpe`: byte-level BPE.")
    vocab_size: int | None = Field(
        None, ge=BYTE_VOCAB_SIZE + 1, le=2**32,
        description=f"`bpe` only: vocabulary size (default {DEFAULT_BPE_VOCAB_SIZE}); the byte tokenizer has 256.",
    )

    @model_validator(mode="after")
    def _vocab_for_kind(self) -> TokenizerConfig:
        if self.kind == "byte" and self.vocab_size is not None:
            raise ValueError(
                f"data.tokenizer.vocab_size ({self.vocab_size}) is for kind 'bpe'; the byte tokenizer "
                f"always has {BYTE_VOCAB_SIZE} tokens — remove vocab_size or set kind: bpe"
            )
        return self

    @property
    def model_vocab_size(self) -> int:
        """Number of token ids the model needs."""
        if self.kind == "byte":
            return BYTE_VOCAB_SIZE
        return self.vocab_size or DEFAULT_BPE_VOCAB_SIZE


def _base_of_glob(pattern: str) -> str:
    """The leading path of `pattern` before its first component with a glob character."""
    parts = Path(pattern).parts
    fixed = parts[: next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts))]
    return str(Path(*fixed)) if fixed else "."


class DomainConfig(FrozenModel):
    """One named text source: an evaluation domain and a share of the training mix."""

    name: str = Field(
        ..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Domain name, used in metric keys (`distortion/<name>`, `bpb/<name>`).",
    )
    source: str = Field(
        ...,
        description=(
            "A folder (every UTF-8 text file under it), a glob (`/data/src/**/*.md`), a .jsonl/.jsonl.gz "
            "or .parquet file, a text file, a `datasets` save_to_disk folder, `hf:<dataset name>` or "
            f"`builtin:<name>` ({', '.join(BUILTIN_CORPORA)}). Relative paths resolve against the "
            "current directory when the config is loaded."
        ),
    )
    weight: float = Field(1.0, gt=0, description="Share of training sequences drawn from this domain (normalized).")
    text_field: str = Field("text", min_length=1, description="Field holding the text in JSONL/Parquet/HF records.")
    split: str = Field("train", min_length=1, description="`hf:` sources: the dataset split to read.")
    max_bytes: int | None = Field(
        None, ge=1, description="Cap on this domain's training text in bytes (documents in split order); null = all."
    )
    encoding: str = Field(
        "utf-8", min_length=1,
        description="Folder / glob / text-file sources: the files' text encoding (e.g. `latin-1`); files it "
                    "cannot decode are skipped and counted by `validate`.",
    )
    errors: Literal["strict", "replace", "ignore"] = Field(
        "strict", description="Folder / glob / text-file sources: undecodable bytes skip the file (`strict`), "
                              "become U+FFFD (`replace`) or are dropped (`ignore`).",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise ValueError(f"unknown text encoding '{encoding}'; use a Python codec name such as utf-8 or latin-1") from None

    @model_serializer(mode="wrap")
    def _omit_default_decoding(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `domains` is trial identity (configs/identity.py): leaving the decoding out at its
        # defaults keeps every existing trial's hash; a non-default one changes the tokens, so it
        # enters the hash.
        dumped: dict[str, Any] = handler(self)
        if dumped.get("encoding") == "utf-8" and dumped.get("errors") == "strict":
            dumped.pop("encoding")
            dumped.pop("errors")
        return dumped

    @field_validator("source")
    @classmethod
    def _source_exists(cls, source: str) -> str:
        if source.startswith(BUILTIN_PREFIX):
            name = source.removeprefix(BUILTIN_PREFIX)
            if name not in BUILTIN_CORPORA:
                raise ValueError(
                    f"unknown built-in corpus '{source}'; use one of "
                    f"{', '.join(BUILTIN_PREFIX + n for n in BUILTIN_CORPORA)}"
                )
            return source
        if source.startswith(HF_PREFIX):
            _require_datasets(source)
            return source
        return _absolute_existing(source)

    @property
    def kind(self) -> Literal["builtin", "hf", "glob", "records", "folder", "file"]:
        """How the source is read (see `source`)."""
        if self.source.startswith(BUILTIN_PREFIX):
            return "builtin"
        if self.source.startswith(HF_PREFIX) or _is_saved_dataset(self.source):
            return "hf"
        if glob.has_magic(self.source):
            return "glob"
        if self.source.endswith(TEXT_SUFFIXES):
            return "records"
        return "folder" if os.path.isdir(self.source) else "file"


def _absolute_existing(source: str) -> str:
    """`source` made absolute (trials run in other folders); its path, or glob base, must exist."""
    expanded = os.path.expanduser(source)
    base = _base_of_glob(expanded) if glob.has_magic(expanded) else expanded
    if not os.path.exists(base):
        what = f"glob '{source}': its folder '{base}'" if base != expanded else f"path '{source}'"
        raise ValueError(
            f"source {what} does not exist; fix the path, or use a built-in corpus "
            f"({', '.join(BUILTIN_PREFIX + n for n in BUILTIN_CORPORA)}) or hf:<name>"
        )
    if _is_saved_dataset(expanded):
        _require_datasets(source)
    return os.path.abspath(expanded)


def _is_saved_dataset(path: str) -> bool:
    """A folder written by `datasets`' save_to_disk (a Dataset or a DatasetDict)."""
    return any(os.path.isfile(os.path.join(path, marker)) for marker in ("state.json", "dataset_dict.json"))


def _require_datasets(source: str) -> None:
    if importlib.util.find_spec("datasets") is None:
        raise ValueError(
            f"source '{source}' needs the optional `datasets` package, which is not installed; "
            "pip install 'scalinglab[hf]', or export the data to .jsonl/.parquet"
        )


def _count(value: Any) -> Any:
    """Accept counts written as `1e6` (a string to YAML 1.1) or 1.0e6 (a float) if integral."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class DataConfig(FrozenModel):
    """Which task, and how much of it."""

    task: Literal["text", "anchor", "markov"] = Field(
        "anchor",
        description="`anchor`: composite anchor task; `markov`: synthetic language; `text`: real text domains.",
    )
    seq_len: int = Field(9, ge=4, description="Tokens per sequence (context length).")
    num_train: int | None = Field(
        20_000, ge=1, description="Synthetic tasks: training sequences; null = fresh data, one epoch of num_steps·batch."
    )
    num_test: int = Field(2_000, ge=1, description="Synthetic tasks: held-out sequences per evaluation domain.")
    vocab_size: int = Field(256, ge=8, description="`markov` only: vocabulary size.")
    support: int = Field(32, ge=1, description="`markov` only: next-token support per token.")
    zipf_exponent: float = Field(1.1, gt=0, description="`markov` only: Zipf exponent of emissions.")
    num_domains: int = Field(2, ge=1, description="`markov` only: number of sources (domains).")
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig, description="`text` only: the tokenizer.")
    domains: tuple[DomainConfig, ...] = Field((), description="`text` only: the named sources, at least one.")
    num_train_tokens: int | None = Field(
        None, ge=1,
        description=(
            "`text` only: training tokens available (split over domains by weight, each domain's first "
            "documents in split order); null = the whole training split. D, the tokens trained on, is "
            "train.num_steps·batch_size·seq_len; beyond this pool the sampler starts a new epoch."
        ),
    )
    num_test_tokens: int = Field(
        65_536, ge=1,
        description=(
            "`text` only: held-out text per domain, in bytes of whole documents (= tokens for the byte "
            "tokenizer; BPE evaluates the same documents in fewer tokens)."
        ),
    )
    split_seed: int = Field(0, ge=0, description="`text` only: seed of the document order that picks held-out documents.")
    cache_dir: str | None = Field(
        None, description=f"`text` only: token cache folder; null = ${CACHE_ENV} or {DEFAULT_CACHE_DIR}."
    )

    @field_validator("num_train_tokens", "num_test_tokens", mode="before")
    @classmethod
    def _integral_count(cls, value: Any) -> Any:
        return _count(value)

    @field_validator("cache_dir")
    @classmethod
    def _absolute_cache(cls, cache_dir: str | None) -> str | None:
        return None if cache_dir is None else os.path.abspath(os.path.expanduser(cache_dir))

    @model_validator(mode="after")
    def _task_rules(self) -> DataConfig:
        if self.task == "markov" and self.support > self.vocab_size:
            raise ValueError(
                f"data.support ({self.support}) must be ≤ data.vocab_size ({self.vocab_size}); "
                "lower support or raise vocab_size"
            )
        if self.task == "anchor" and self.num_train is None:
            raise ValueError(
                "data.num_train (null) must be set for task 'anchor', which is a fixed "
                "dataset trained for several epochs; give a number of sequences, e.g. 20000"
            )
        if self.task == "text":
            _check_text_domains(self.domains)
        elif self.domains:
            raise ValueError(
                f"data.domains ({len(self.domains)} given) is for task 'text' but data.task is "
                f"'{self.task}'; set task: text or remove domains"
            )
        return self

    @property
    def model_vocab_size(self) -> int:
        """Model vocabulary: fixed by the anchor task, configured for the others."""
        if self.task == "anchor":
            return ANCHOR_VOCAB_SIZE
        return self.tokenizer.model_vocab_size if self.task == "text" else self.vocab_size

    @property
    def scored_positions(self) -> int:
        """Positions per sequence whose logits are computed (the anchor task scores the last)."""
        return 1 if self.task == "anchor" else self.seq_len

    def num_tokens(self, num_steps: int, batch_size: int) -> int:
        """D: tokens a run of `num_steps` optimizer steps of `batch_size` sequences trains on.

        Every task trains on exactly batch_size sequences of seq_len tokens per step (text
        repeats its pool in a new epoch rather than stopping early), so D is their product.
        """
        return num_steps * batch_size * self.seq_len

    @property
    def domain_weights(self) -> dict[str, float]:
        """`text`: each domain's normalized share of training sequences (sums to 1)."""
        total = sum(d.weight for d in self.domains)
        return {d.name: d.weight / total for d in self.domains}

    @property
    def resolved_cache_dir(self) -> Path:
        """The token cache folder: `cache_dir`, else $SCALINGLAB_CACHE, else the default."""
        chosen = self.cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR
        return Path(os.path.expanduser(chosen)).resolve()


def _check_text_domains(domains: tuple[DomainConfig, ...]) -> None:
    if not domains:
        raise ValueError(
            "data.domains is empty; task 'text' needs at least one domain, e.g. "
            "domains: [{name: code, source: 'builtin:python_code'}]"
        )
    names = [d.name for d in domains]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"data.domains has duplicate names {duplicates}; give every domain its own name "
            "(names become metric keys)"
        )
