"""Tests for the sparse Zipf Markov language (trainers/data/markov.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trainers.data.markov import (
    MarkovSource,
    make_language_domains,
    make_markov_source,
    mixture_entropy_rate,
    sample_domain_mixture,
)

# Confidence half-width in standard errors: a false failure has probability ~6e-7 per check.
Z_SCORE = 5.0


@pytest.fixture(scope="module")
def source() -> MarkovSource:
    return make_markov_source(vocab_size=128, support=16, zipf_exponent=1.1, seed=0)


def test_two_state_chain_known_answer() -> None:
    # P(0->1) = p = 1/2, P(1->0) = q = 1/4: pi = (q, p) / (p + q) = (1/3, 2/3);
    # H = pi_0 h(1/2) + pi_1 h(1/4) = ln2/3 + (2/3)(-1/4 ln 1/4 - 3/4 ln 3/4).
    chain = MarkovSource(np.array([[0.5, 0.5], [0.25, 0.75]]))
    np.testing.assert_allclose(chain.stationary, [1 / 3, 2 / 3], rtol=1e-14)
    assert chain.entropy_rate_nats == pytest.approx(0.6059391565991873, rel=1e-14)


def test_doubly_stochastic_chain_known_answer() -> None:
    # Doubly stochastic -> uniform pi; each row's entropy is -(1/2 ln 1/2) - 2(1/4 ln 1/4).
    chain = MarkovSource(
        np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
    )
    np.testing.assert_allclose(chain.stationary, [1 / 3] * 3, rtol=1e-14)
    assert chain.entropy_rate_nats == pytest.approx(1.5 * math.log(2), rel=1e-14)


def test_entropy_rate_matches_explicit_sum() -> None:
    small = make_markov_source(vocab_size=6, support=3, zipf_exponent=1.1, seed=4)
    p, pi = small.transition, small.stationary
    expected = sum(
        -pi[i] * p[i, j] * math.log(p[i, j]) for i in range(6) for j in range(6) if p[i, j] > 0
    )
    assert small.entropy_rate_nats == pytest.approx(expected, rel=1e-12)


def test_matrix_is_stochastic_stationary_and_sparse(source: MarkovSource) -> None:
    p = source.transition
    assert p.shape == (128, 128) and p.min() >= 0
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-14)
    np.testing.assert_allclose(source.stationary @ p, source.stationary, atol=1e-15)
    assert source.stationary.sum() == pytest.approx(1.0, abs=1e-14)
    # Zipf support plus at most a self-loop and one cycle successor.
    assert (p > 0).sum(axis=1).max() <= 16 + 2
    assert 0 < source.entropy_rate_nats < math.log(18)


def test_zipf_weights_without_backbone() -> None:
    # Full support makes the Zipf part alone ergodic, so backbone_weight 0 is allowed.
    dense = make_markov_source(vocab_size=8, support=8, zipf_exponent=1.5, seed=1,
                               backbone_weight=0.0)
    zipf = np.arange(1, 9) ** -1.5
    for row in dense.transition:
        np.testing.assert_allclose(np.sort(row)[::-1], zipf / zipf.sum(), rtol=1e-14)


def test_backbone_mass() -> None:
    # Each row: (1 - w) on the Zipf support + w/2 self-loop + w/2 on its cycle successor.
    chain = make_markov_source(vocab_size=32, support=4, zipf_exponent=1.1, seed=2,
                               backbone_weight=0.2)
    assert np.all(np.diag(chain.transition) >= 0.1 - 1e-15)
    successor = (chain.transition >= 0.1 - 1e-15) & ~np.eye(32, dtype=bool)
    assert np.all(successor.sum(axis=1) >= 1)


def test_empirical_conditional_entropy_matches_rate(source: MarkovSource) -> None:
    tokens = source.sample(400, 256, np.random.default_rng(10))
    surprisal = -np.log(source.transition[tokens[:, :-1], tokens[:, 1:]])  # (B, T-1)
    # Sequences are independent, so the CLT applies to per-sequence means even though
    # tokens within a sequence are correlated.
    per_seq = surprisal.mean(axis=1)
    stderr = per_seq.std(ddof=1) / math.sqrt(len(per_seq))
    assert abs(per_seq.mean() - source.entropy_rate_nats) < Z_SCORE * stderr


def test_first_prediction_already_at_the_floor(source: MarkovSource) -> None:
    # x_0 ~ pi, so even the first transition has conditional entropy exactly H (iid draws).
    tokens = source.sample(20_000, 2, np.random.default_rng(11))
    surprisal = -np.log(source.transition[tokens[:, 0], tokens[:, 1]])
    stderr = surprisal.std(ddof=1) / math.sqrt(len(surprisal))
    assert abs(surprisal.mean() - source.entropy_rate_nats) < Z_SCORE * stderr


def test_first_token_drawn_from_stationary(source: MarkovSource) -> None:
    first = source.sample(20_000, 1, np.random.default_rng(12))[:, 0]
    pi = source.stationary
    surprisal = -np.log(pi[first])
    entropy_pi = float(-(pi * np.log(pi)).sum())
    stderr = surprisal.std(ddof=1) / math.sqrt(len(surprisal))
    assert abs(surprisal.mean() - entropy_pi) < Z_SCORE * stderr


def test_transition_frequencies_match_matrix() -> None:
    # Distinct probabilities per row, including a zero, catch off-by-one CDF indexing.
    matrix = np.array([[0.1, 0.0, 0.9], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    chain = MarkovSource(matrix)
    tokens = chain.sample(500, 200, np.random.default_rng(14))
    counts = np.zeros((3, 3))
    np.add.at(counts, (tokens[:, :-1].ravel(), tokens[:, 1:].ravel()), 1)
    visits = counts.sum(axis=1, keepdims=True)
    # Binomial sd per cell given the visits (dependence across rows does not enter).
    stderr = np.sqrt(matrix * (1 - matrix) / visits)
    assert np.all(np.abs(counts / visits - matrix) <= Z_SCORE * stderr)
    assert counts[0, 1] == 0


def test_samples_use_only_allowed_transitions(source: MarkovSource) -> None:
    tokens = source.sample(64, 128, np.random.default_rng(13))
    assert tokens.dtype == np.int64 and tokens.shape == (64, 128)
    assert tokens.min() >= 0 and tokens.max() < 128
    assert np.all(source.transition[tokens[:, :-1], tokens[:, 1:]] > 0)


def test_deterministic_in_seed() -> None:
    first = make_markov_source(64, 8, 1.1, seed=5)
    second = make_markov_source(64, 8, 1.1, seed=5)
    other = make_markov_source(64, 8, 1.1, seed=6)
    np.testing.assert_array_equal(first.transition, second.transition)
    assert not np.array_equal(first.transition, other.transition)
    np.testing.assert_array_equal(
        first.sample(8, 32, np.random.default_rng(0)),
        second.sample(8, 32, np.random.default_rng(0)),
    )


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        ([[1.0, 0.0], [0.0, 1.0]], r"reducible \(2 strongly connected classes\)"),
        ([[0.0, 1.0], [1.0, 0.0]], r"periodic \(period 2\)"),
        ([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], r"periodic \(period 3\)"),
        ([[0.5, 0.5, 0.0]], r"shape \(1, 3\); it must be square"),
        ([[0.5, 0.6], [0.5, 0.5]], r"rows must sum to 1 \(worst row is off by 0.1\)"),
        ([[1.5, -0.5], [0.5, 0.5]], r"negative entry \(-0.5\)"),
        ([[np.nan, 1.0], [0.5, 0.5]], r"finite entries"),
    ],
)
def test_bad_transition_matrices(matrix: list[list[float]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MarkovSource(np.array(matrix))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vocab_size": 1}, r"vocab_size \(1\) must be ≥ 2"),
        ({"support": 0}, r"support \(0\) must be in \[1, vocab_size \(16\)\]"),
        ({"support": 17}, r"support \(17\) must be in \[1, vocab_size \(16\)\]"),
        ({"zipf_exponent": -1.0}, r"zipf_exponent \(-1.0\) must be finite and ≥ 0"),
        ({"backbone_weight": 1.0}, r"backbone_weight \(1.0\) must be in \[0, 1\)"),
        # One successor per token and no backbone: never both irreducible and aperiodic.
        ({"support": 1, "backbone_weight": 0.0}, r"raise backbone_weight above 0"),
    ],
)
def test_bad_source_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"vocab_size": 16, "support": 4, "zipf_exponent": 1.1, "seed": 0}
    with pytest.raises(ValueError, match=match):
        make_markov_source(**{**args, **kwargs})


def test_sample_rejects_bad_sizes(source: MarkovSource) -> None:
    with pytest.raises(ValueError, match=r"seq_len \(0\) must be ≥ 1"):
        source.sample(4, 0, np.random.default_rng(0))


def test_language_domains() -> None:
    domains = make_language_domains(3, vocab_size=64, support=8, zipf_exponent=1.1, seed=0)
    assert len(domains) == 3 and {d.vocab_size for d in domains} == {64}
    assert not np.array_equal(domains[0].transition, domains[1].transition)
    again = make_language_domains(3, vocab_size=64, support=8, zipf_exponent=1.1, seed=0)
    np.testing.assert_array_equal(domains[2].transition, again[2].transition)


def test_language_domains_per_domain_exponents() -> None:
    # Steeper Zipf weights concentrate each row, lowering the entropy rate.
    flat, steep = make_language_domains(2, 64, 16, zipf_exponent=[0.5, 2.0], seed=0)
    assert steep.entropy_rate_nats < flat.entropy_rate_nats
    with pytest.raises(ValueError, match=r"zipf_exponent has 2 values but num_domains is 3"):
        make_language_domains(3, 64, 16, zipf_exponent=[0.5, 2.0], seed=0)


def test_mixture_entropy_rate_known_answer() -> None:
    two_state = MarkovSource(np.array([[0.5, 0.5], [0.25, 0.75]]))  # H = 0.60594...
    uniform = MarkovSource(np.full((2, 2), 0.5))  # H = ln 2
    expected = 0.25 * 0.6059391565991873 + 0.75 * math.log(2)
    assert mixture_entropy_rate([two_state, uniform], [0.25, 0.75]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([0.5, 0.6], r"weights sum to 1.1; they must sum to 1"),
        ([1.0], r"weights has shape \(1,\); need one per source \(2\)"),
        ([1.5, -0.5], r"must be finite and non-negative"),
    ],
)
def test_mixture_rejects_bad_weights(weights: list[float], match: str) -> None:
    sources = [MarkovSource(np.full((2, 2), 0.5))] * 2
    with pytest.raises(ValueError, match=match):
        mixture_entropy_rate(sources, weights)


def test_mixture_rejects_mismatched_vocabularies() -> None:
    sources = [MarkovSource(np.full((2, 2), 0.5)), MarkovSource(np.full((3, 3), 1 / 3))]
    with pytest.raises(ValueError, match=r"different vocab sizes \[2, 3\]"):
        mixture_entropy_rate(sources, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"sources is empty"):
        mixture_entropy_rate([], [])


def test_sample_domain_mixture() -> None:
    domains = make_language_domains(2, vocab_size=64, support=4, seed=1)
    tokens, ids = sample_domain_mixture(
        domains, 2_000, 16, np.random.default_rng(0), weights=[0.2, 0.8]
    )
    assert tokens.shape == (2_000, 16) and ids.shape == (2_000,)
    # Binomial(2000, 0.2): sd = sqrt(2000 * 0.2 * 0.8) ~ 17.9.
    assert abs((ids == 0).sum() - 400) < Z_SCORE * 17.9
    for d, source in enumerate(domains):
        rows = tokens[ids == d]
        assert np.all(source.transition[rows[:, :-1], rows[:, 1:]] > 0)
    again, again_ids = sample_domain_mixture(
        domains, 2_000, 16, np.random.default_rng(0), weights=[0.2, 0.8]
    )
    np.testing.assert_array_equal(tokens, again)
    np.testing.assert_array_equal(ids, again_ids)


def _closed_form_entropy_rate(transition: np.ndarray) -> float:
    """H = Σ_i π_i H(P_i·), π the left eigenvector of P for eigenvalue 1 (independent of the source code)."""
    eigenvalues, eigenvectors = np.linalg.eig(transition.T)
    pi = np.real(eigenvectors[:, np.argmin(np.abs(eigenvalues - 1.0))])
    pi = pi / pi.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        row_entropy = -np.where(transition > 0, transition * np.log(transition), 0.0).sum(axis=1)
    return float(pi @ row_entropy)


def test_markov_task_has_the_exact_floor_of_each_domain() -> None:
    from configs import DataConfig, TrainConfig
    from trainers.data.tasks import build_task

    data = DataConfig(task="markov", seq_len=8, num_train=None, num_test=16, vocab_size=32, support=4, num_domains=3)
    task = build_task(data, TrainConfig(), seed=0)
    assert list(task.floors) == list(task.domains) == ["lang0", "lang1", "lang2"]
    for floor, source in zip(task.floors.values(), task.fresh_sources):
        assert floor == pytest.approx(_closed_form_entropy_rate(source.transition), rel=1e-10)
    assert len(set(task.floors.values())) == 3  # distinct sources, distinct floors
    assert task.entropy_floor == pytest.approx(np.mean(list(task.floors.values())), rel=1e-12)


def test_evaluation_logs_every_domain_floor() -> None:
    from configs import DataConfig, InitConfig, ModelConfig, TrainConfig
    from configs import metrics as M
    from trainers.data.tasks import build_task
    from trainers.evaluate import evaluate
    from trainers.model import build_model

    data = DataConfig(task="markov", seq_len=8, num_train=None, num_test=16, vocab_size=32, support=4, num_domains=2)
    task = build_task(data, TrainConfig(), seed=0)
    model = build_model(ModelConfig(n_layer=1, n_head=1, d_model=16, d_ff=32), InitConfig(), 32, 8, seed=0)
    values = evaluate(model, task, "cpu")
    assert {values[M.floor_key(d)] for d in ("lang0", "lang1")} == set(task.floors.values())
    assert M.bpb_key("lang0") not in values  # bits per byte is for text only
