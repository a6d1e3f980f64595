"""Tests of the Chinchilla fitter (analysis.laws.chinchilla) and its search and objective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import AnalysisInputError, TooFewPointsError
from analysis.laws import forms
from analysis.laws.chinchilla import fit_batch, fit_chinchilla
from analysis.laws.objective import Design, evaluate
from analysis.laws.result import FitResult, predict_loss
from bench import reference_fits

DATA = Path(__file__).parent / "data"
N_VALUES = np.geomspace(1e6, 1e9, 6)
D_VALUES = np.geomspace(1e8, 1e11, 6)
#: Tight L-BFGS-B options: SciPy's default ftol is absolute below f = 1 (2.2e-9, ~1e-5 of
#: these objectives), which stops the reference loop short of the optimum.
TIGHT = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000}


def grid_points() -> tuple[np.ndarray, np.ndarray]:
    n, d = np.meshgrid(N_VALUES, D_VALUES, indexing="ij")
    return n.ravel(), d.ravel()


@st.composite
def true_params(draw: st.DrawFn) -> dict[str, float]:
    """E in [1, 3], exponents in [0.25, 0.5]; A and B set so each power-law term is
    0.5-2 nats at the grid's geometric centre (A ~ 1e2-1e5), so every term is
    identifiable from the grid."""
    alpha = draw(st.floats(0.25, 0.5))
    beta = draw(st.floats(0.25, 0.5))
    n_mid, d_mid = np.sqrt(N_VALUES[0] * N_VALUES[-1]), np.sqrt(D_VALUES[0] * D_VALUES[-1])
    return {"E": draw(st.floats(1.0, 3.0)), "alpha": alpha, "beta": beta,
            "A": draw(st.floats(0.5, 2.0)) * n_mid**alpha,
            "B": draw(st.floats(0.5, 2.0)) * d_mid**beta}


def chinchilla(p: dict[str, float], n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return forms.chinchilla_loss(n, d, p["E"], p["A"], p["B"], p["alpha"], p["beta"])


@settings(derandomize=True, max_examples=8, deadline=None)
@given(p=true_params(), seed=st.integers(0, 2**16))
def test_chinchilla_recovers_parameters_within_noise(p: dict[str, float], seed: int) -> None:
    sigma = 0.005  # multiplicative lognormal noise on the loss
    n, d = grid_points()
    clean = chinchilla(p, n, d)
    noisy = clean * np.exp(np.random.default_rng(seed).normal(0.0, sigma, n.size))
    got = fit_chinchilla(n, d, noisy).params
    # On this 6x6 grid the exponents' estimates spread by ~0.8 sigma and E's by ~2 sigma
    # (relative), measured over repeated draws; 5 and 10 sigma leave >5 standard errors.
    assert abs(got["alpha"] - p["alpha"]) <= 5 * sigma
    assert abs(got["beta"] - p["beta"]) <= 5 * sigma
    assert abs(got["E"] / p["E"] - 1) <= 10 * sigma
    # The fitted surface must sit closer to the truth than the noise does.
    rms = np.sqrt(np.mean(np.log(chinchilla(got, n, d) / clean) ** 2))
    assert rms <= sigma


@settings(derandomize=True, max_examples=8, deadline=None)
@given(p=true_params())
def test_chinchilla_noise_free_is_exact(p: dict[str, float]) -> None:
    n, d = grid_points()
    got = fit_chinchilla(n, d, chinchilla(p, n, d))
    for key in ("E", "A", "B", "alpha", "beta"):
        assert got.params[key] == pytest.approx(p[key], rel=1e-6), key
    assert got.objective < 1e-20  # Newton drives the residuals to rounding
    assert got.num_starts >= 1 and got.num_starts_at_optimum >= 1


def test_units_invariance_rescaling_n_changes_a_only() -> None:
    n, d = grid_points()
    p = {"E": 1.8, "A": 400.0, "B": 900.0, "alpha": 0.34, "beta": 0.3}
    loss = chinchilla(p, n, d) * np.exp(np.random.default_rng(3).normal(0, 0.005, n.size))
    base = fit_chinchilla(n, d, loss)
    scale = 1e3  # N in thousands of parameters: A / (N/k)^alpha = (A k^alpha) / N^alpha
    scaled = fit_chinchilla(n / scale, d, loss)
    for key in ("alpha", "beta", "E"):
        assert scaled.params[key] == pytest.approx(base.params[key], rel=1e-9), key
    assert scaled.params["A"] == pytest.approx(base.params["A"] * scale ** -base.params["alpha"],
                                               rel=1e-8)
    assert scaled.objective == pytest.approx(base.objective, rel=1e-12)


def test_matches_the_scipy_reference_loop_at_tight_tolerance() -> None:
    """The reference loop shares no code with the fitter; from a few grid starts (the
    full 4,500 take minutes) it must land on the same optimum, not a better one."""
    n, d = grid_points()
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    loss = chinchilla(p, n, d) * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size))
    starts = np.array([[6.0, 6.0, 0.5, 0.3, 0.3], [5.0, 10.0, 0.0, 0.5, 0.5],
                       [10.0, 5.0, 1.0, 1.0, 0.5], [0.0, 0.0, -1.0, 0.5, 0.5]])
    ref = reference_fits.fit_chinchilla_reference(n, d, loss, starts=starts, options=TIGHT)
    got = fit_chinchilla(n, d, loss)
    assert got.objective <= ref.objective * (1 + 1e-12)
    for key in ("E", "A", "B", "alpha", "beta"):
        assert got.params[key] == pytest.approx(ref.params[key], rel=1e-6), key


def test_objective_matches_the_usual_reference_implementation() -> None:
    """Our objective (LSE form, exact derivatives) is the function Besiroglu et al.'s code
    minimizes (scipy.special.logsumexp + scipy.special.huber), at arbitrary parameters."""
    n, d = grid_points()
    loss = chinchilla({"E": 2.0, "A": 500.0, "B": 800.0, "alpha": 0.3, "beta": 0.3}, n, d)
    loss = loss * np.exp(np.random.default_rng(1).normal(0, 0.01, n.size))
    design = Design.build(n, d, loss)
    for theta in ([6.0, 7.0, 0.5, 0.35, 0.25], [3.0, 9.0, 0.8, 0.2, 0.4]):
        usual = reference_fits.huber_loss_objective(np.array(theta), n, d, loss, 0.05)
        ours = evaluate(design.to_internal(np.array(theta)), design, None, 0.05).f[0]
        assert ours == pytest.approx(usual, rel=1e-12)


def test_known_answer_checked_in_dataset() -> None:
    # Hoffmann et al. 2022's fitted law on a 4 x 5 grid; the losses are rounded to 10
    # digits, which moves the optimum by ~1e-6 relative, hence 1e-5.
    table = pd.read_csv(DATA / "chinchilla_grid_20.csv")
    got = fit_chinchilla(table["N"], table["D"], table["loss"]).params
    expected = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key


def test_epoch_ai_chinchilla_points_give_the_previous_fitters_answer() -> None:
    """Epoch AI's 240 reconstructed Chinchilla runs (data/README.md): same optimum as the
    previous 4,500-start fitter to 1e-6, objective no worse, in well under a second."""
    table = pd.read_csv(DATA / "epoch_chinchilla_240.csv")
    got = fit_chinchilla(table["N"], table["D"], table["loss"])
    previous = {"E": 1.8172180982986028, "A": 477.8258234230233, "B": 2143.417661756714,
                "alpha": 0.3473104930788505, "beta": 0.3671724396087407}
    for key, value in previous.items():
        assert got.params[key] == pytest.approx(value, rel=1e-6), key
    assert got.objective <= 0.0010182740178006065
    assert got.fit_seconds < 1.0  # ~0.02 s alone on one core; generous for shared CPUs


def test_a_batch_of_weighted_problems_equals_separate_fits() -> None:
    """Problem r of a batch (bootstrap counts) is the fit of its points repeated by count."""
    n, d = grid_points()
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    loss = chinchilla(p, n, d) * np.exp(np.random.default_rng(5).normal(0, 0.01, n.size))
    counts = np.random.default_rng(6).multinomial(n.size, np.full(n.size, 1 / n.size), 3)
    batch = fit_batch(Design.build(n, d, loss), loss, counts.astype(float))
    for r in range(3):
        rep = np.repeat(np.arange(n.size), counts[r])
        alone = fit_chinchilla(n[rep], d[rep], loss[rep])
        assert batch.objective[r] == pytest.approx(alone.objective, rel=1e-9)
        assert batch.theta[r, 3] == pytest.approx(alone.params["alpha"], rel=1e-7)


@pytest.mark.parametrize(
    ("n", "d", "loss", "error", "match"),
    [
        ([], [], [], AnalysisInputError, r"`n` is empty"),
        ([1e6, np.nan, 1e7, 1e8, 1e9, 1e6], [1e9] * 6, [3.0] * 6, AnalysisInputError,
         r"`n` has 1 non-finite value"),
        ([1e6] * 6, [1e9] * 6, [3.0, -1.0, 2.0, 2.0, 2.0, 2.0], AnalysisInputError,
         r"`loss` must be > 0 but has 1"),
        ([1e6] * 6, [1e9] * 5, [3.0] * 6, AnalysisInputError,
         r"lengths differ: \{'n': 6, 'd': 5, 'loss': 6\}"),
        ([1e6] * 4, [1e9] * 4, [3.0] * 4, TooFewPointsError,
         r"the Chinchilla law \(5 free parameters\) needs ≥ 5 runs, found 4; add at least 1"),
    ],
)
def test_chinchilla_refuses_bad_input(n: list[float], d: list[float], loss: list[float],
                                      error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fit_chinchilla(n, d, loss)


def test_predict_needs_d_for_chinchilla() -> None:
    result = FitResult("chinchilla", {"E": 1.0, "A": 1.0, "B": 1.0, "alpha": 0.3,
                                      "beta": 0.3}, 0.0, 1, 1, 0.0, 5)
    with pytest.raises(ValueError, match="`d` is required"):
        predict_loss(result, [1e6])
