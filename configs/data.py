"""The data section of a trial: which task, and how much of it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from configs.base import FrozenModel

ANCHOR_VOCAB_SIZE = 128
"""Vocabulary of the composite anchor task (anchors 1..4, keys 20..99, answers 4..109)."""


class DataConfig(FrozenModel):
    """Which synthetic task, and how much of it."""

    task: Literal["anchor", "markov"] = Field(
        "anchor", description="`anchor`: composite anchor task; `markov`: synthetic language."
    )
    seq_len: int = Field(9, ge=4, description="Tokens per sequence (context length).")
    num_train: int | None = Field(
        20_000, ge=1, description="Training sequences; null = fresh data, one epoch of num_steps·batch."
    )
    num_test: int = Field(2_000, ge=1, description="Held-out sequences per evaluation domain.")
    vocab_size: int = Field(256, ge=8, description="`markov` only: vocabulary size.")
    support: int = Field(32, ge=1, description="`markov` only: next-token support per token.")
    zipf_exponent: float = Field(1.1, gt=0, description="`markov` only: Zipf exponent of emissions.")
    num_domains: int = Field(2, ge=1, description="`markov` only: number of sources (domains).")

    @model_validator(mode="after")
    def _support_fits_vocab(self) -> DataConfig:
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
        return self

    @property
    def model_vocab_size(self) -> int:
        """Model vocabulary: fixed by the anchor task, configured for the synthetic language."""
        return ANCHOR_VOCAB_SIZE if self.task == "anchor" else self.vocab_size

    @property
    def scored_positions(self) -> int:
        """Positions per sequence whose logits are computed (the anchor task scores the last)."""
        return 1 if self.task == "anchor" else self.seq_len

    def num_tokens(self, num_steps: int, batch_size: int) -> int:
        """D: tokens a run of `num_steps` optimizer steps of `batch_size` sequences trains on."""
        return num_steps * batch_size * self.seq_len
