"""Tokenizers for the text task: raw bytes, or a byte-level BPE trained locally.

Both map text to ids whose byte lengths add up to the text's UTF-8 length, and both expose
`token_bytes` (bytes each id stands for). That table is what bits per byte needs: the bytes
a run of target tokens covers is the sum of their entries, whatever the tokenizer.

* `byte`: id = byte value, 256 ids, each one byte.
* `bpe`: `tokenizers`' BPE with the byte-level pre-tokenizer (GPT-2's byte-to-character
  alphabet, so every byte is a base token and nothing is ever unknown), no normalizer and no
  special tokens; trained on the training split only, so held-out text never shapes the
  vocabulary. Every character of a byte-level token stands for exactly one byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from configs.data import BYTE_VOCAB_SIZE, TokenizerConfig
from trainers.data.corpus import SEPARATOR

TOKENIZER_FILE = "tokenizer.json"


def token_dtype(vocab_size: int) -> type[np.unsignedinteger]:
    """The smallest unsigned dtype of the cache arrays that holds every id."""
    return np.uint16 if vocab_size <= 2**16 else np.uint32


class TextTokenizer:
    """Encodes documents into one token stream; knows how many bytes each id covers.

    Holds the trained `tokenizers.Tokenizer` for BPE (None for bytes).
    """

    def __init__(self, config: TokenizerConfig, bpe: object | None = None) -> None:
        self.config = config
        self.vocab_size = config.model_vocab_size
        self._bpe = bpe
        self.token_bytes = self._token_bytes()
        self.separator_id = self._encode(SEPARATOR)[0]

    @classmethod
    def train(cls, config: TokenizerConfig, texts: Sequence[str]) -> TextTokenizer:
        """The byte tokenizer, or a BPE trained on `texts` (the training split)."""
        if config.kind == "byte":
            return cls(config)
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=config.model_vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[], show_progress=False,
        )
        bpe.train_from_iterator(texts, trainer=trainer, length=len(texts))
        return cls(config, bpe)

    @classmethod
    def load(cls, config: TokenizerConfig, folder: Path) -> TextTokenizer:
        """The tokenizer a cache folder was built with."""
        if config.kind == "byte":
            return cls(config)
        from tokenizers import Tokenizer

        return cls(config, Tokenizer.from_file(str(folder / TOKENIZER_FILE)))

    def save(self, folder: Path) -> None:
        """Write the trained BPE next to the arrays it produced (nothing for bytes)."""
        if self._bpe is not None:
            self._bpe.save(str(folder / TOKENIZER_FILE))  # type: ignore[attr-defined]

    @property
    def learned_vocab_size(self) -> int:
        """Ids actually in use (BPE may learn fewer merges than asked on a small corpus)."""
        if self._bpe is None:
            return BYTE_VOCAB_SIZE
        return int(self._bpe.get_vocab_size())  # type: ignore[attr-defined]

    def _token_bytes(self) -> npt.NDArray[np.int64]:
        if self._bpe is None:
            return np.ones(BYTE_VOCAB_SIZE, dtype=np.int64)
        table = np.zeros(self.vocab_size, dtype=np.int64)  # ids never learned cover 0 bytes
        for token, token_id in self._bpe.get_vocab().items():  # type: ignore[attr-defined]
            table[token_id] = len(token)  # byte-level alphabet: one character per byte
        return table

    def _encode(self, text: str) -> list[int]:
        if self._bpe is None:
            return list(text.encode("utf-8"))
        ids: list[int] = self._bpe.encode(text).ids  # type: ignore[attr-defined]
        return ids

    def encode_stream(self, texts: Sequence[str]) -> npt.NDArray[np.unsignedinteger]:
        """All `texts` as one stream of ids, documents joined by the separator token.

        Checks the bytes identity: the ids' byte lengths add up to the joined text's bytes.
        """
        dtype = token_dtype(self.vocab_size)
        joined = SEPARATOR.join(texts)
        if self._bpe is None:
            stream = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8).astype(dtype)
        else:
            parts: list[npt.NDArray[np.int64]] = []
            for i, encoding in enumerate(self._bpe.encode_batch(list(texts))):  # type: ignore[attr-defined]
                if i:
                    parts.append(np.array([self.separator_id], dtype=np.int64))
                parts.append(np.asarray(encoding.ids, dtype=np.int64))
            stream = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
        covered = int(self.token_bytes[stream].sum())
        expected = len(joined.encode("utf-8"))
        if covered != expected:
            raise RuntimeError(f"tokenizer byte count is off: ids cover {covered} bytes, text has {expected}")
        return stream
