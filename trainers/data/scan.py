"""A text config's domains scanned before launch: what will be read, kept and split, and what is too small.

`validate` prints it and `run` checks it before Ray or MLflow start, so an empty folder, a
skipped Latin-1 file or a domain too small for `seq_len` is reported in a second, not after
the cluster came up. It reads the documents exactly as the token cache does (`read_domain`,
`clean_documents`, `split_documents`), so what it counts is what trials train on.

Tokens are counted for the byte tokenizer (one per byte). A BPE vocabulary is only learned
when the cache is built, so for BPE the scan shows bytes (an upper bound on tokens) and the
size checks use bytes; the build checks the tokens again (`text_cache.check_fits`).
"""

from __future__ import annotations

from dataclasses import dataclass

from configs.data import DataConfig, DomainConfig
from configs.errors import ConfigError
from trainers.data.corpus import clean_documents, split_documents
from trainers.data.sources import read_domain


@dataclass(frozen=True)
class DomainScan:
    """One domain as the token cache would see it: `problems` refuse the launch, `warnings` do not."""

    name: str
    files_read: int
    skipped_binary: int
    skipped_undecodable: int
    empty: int
    documents: int
    duplicates: int
    train_documents: int
    test_documents: int
    train_bytes: int
    test_bytes: int
    byte_tokens: bool
    problems: tuple[str, ...]
    warnings: tuple[str, ...]

    def row(self) -> dict[str, object]:
        """The scan as a table row (tokens shown only where they are known before the build)."""
        unit = "tokens" if self.byte_tokens else "bytes"
        return {"domain": self.name, "files read": self.files_read, "binary": self.skipped_binary,
                "not decodable": self.skipped_undecodable, "empty": self.empty, "documents": self.documents,
                "duplicates": self.duplicates, "train docs": self.train_documents,
                "test docs": self.test_documents, f"train {unit}": self.train_bytes,
                f"test {unit}": self.test_bytes, "ok": "yes" if not self.problems else "NO"}


def scan_domain(index: int, domain: DomainConfig, data: DataConfig) -> DomainScan:
    """Read, clean and split one domain; collect every size problem with its fix."""
    report = read_domain(domain)
    cleaned = clean_documents(report.documents)
    where = f"data.domains[{index}] '{domain.name}' ({domain.source})"
    problems, warnings = [], []
    if report.num_undecodable:
        warnings.append(
            f"{where}: {report.num_undecodable} of {report.num_files} files are not {domain.encoding} text and are "
            "skipped; set the domain's encoding (e.g. encoding: latin-1) or errors: replace to read them")
    train = test = None
    if len(cleaned.documents) < 2:
        problems.append(
            f"{where}: {len(cleaned.documents)} document(s) after filtering and dedup ({report.num_files} files, "
            f"{report.num_binary} binary); the held-out split is by document, so give at least 2 documents")
    else:
        split = split_documents(cleaned, data.num_test_tokens, data.split_seed, domain.max_bytes)
        train, test = split.train_bytes, split.test_bytes
        problems += _size_problems(where, data, domain, train, test)
    split_docs = (0, 0) if train is None else (len(split.train), len(split.test))
    return DomainScan(domain.name, report.num_files - report.num_binary - report.num_undecodable,
                      report.num_binary, report.num_undecodable, cleaned.num_empty, len(cleaned.documents), cleaned.num_duplicates,
                      split_docs[0], split_docs[1], train or 0, test or 0,
                      data.tokenizer.kind == "byte", tuple(problems), tuple(warnings))


def _size_problems(where: str, data: DataConfig, domain: DomainConfig, train: int, test: int) -> list[str]:
    """The same rules as `text_cache.check_fits`, on byte counts (exact for the byte tokenizer)."""
    problems, T = [], data.seq_len
    if test < T + 1:
        problems.append(
            f"{where}: the held-out split has {test} bytes, fewer than seq_len + 1 = {T + 1}; lower data.seq_len "
            f"below {test}, raise data.num_test_tokens ({data.num_test_tokens}), or add documents")
    share = data.domain_weights[domain.name]
    pool = (train - 1) // T if data.num_train_tokens is None else min((train - 1) // T,
                                                                      int(data.num_train_tokens * share) // T)
    if pool < 1:
        problems.append(
            f"{where}: no training sequence of seq_len + 1 = {T + 1} tokens ({train} training bytes, "
            f"num_train_tokens = {data.num_train_tokens}); add documents, lower seq_len or data.num_test_tokens "
            "(held-out text is taken first), or raise num_train_tokens")
    return problems


def scan_data(data: DataConfig) -> list[DomainScan]:
    """Every domain of a text config, scanned (empty for the synthetic tasks)."""
    return [scan_domain(i, d, data) for i, d in enumerate(data.domains)] if data.task == "text" else []


def refuse_problems(scans: list[DomainScan]) -> None:
    """Raise one `ConfigError` listing every domain problem, or return.

    Raises:
        ConfigError: one line per problem, each naming the domain, the value and the fix.
    """
    problems = [p for scan in scans for p in scan.problems]
    if problems:
        raise ConfigError("; ".join(problems) if len(problems) == 1 else "\n  " + "\n  ".join(problems))
