"""The two forms of stability φ (`configs.metrics.phi_of`), with values worked out by hand."""

from __future__ import annotations

import math

import pytest

from configs import metrics as M

# (clean L, perturbed L̃, reference L₀, form, expected φ)
CASES = [
    (1.0, 1.5, 3.0, "retained_gain", 0.75),  # gain 2, 0.5 of it lost
    (1.0, 1.0, 3.0, "retained_gain", 1.0),  # the noise changes nothing: all gain kept
    (1.0, 0.8, 3.0, "retained_gain", 1.1),  # the noise lowers the loss: kept above 1
    (1.0, 3.5, 3.0, "retained_gain", 0.0),  # lost more than the whole gain: clipped at 0
    (3.0, 3.2, 3.0, "retained_gain", 0.0),  # untrained (no gain): 0 by rule
    (3.1, 3.2, 3.0, "retained_gain", 0.0),  # worse than untrained: 0 by rule
    (1.0, 1.5, None, "relative", -0.5),  # the earlier form ignores L₀
    (3.0, 3.0, 3.0, "relative", 0.0),  # ... and is at its maximum for an unmoved model
    (0.0, 0.1, None, "relative", -0.1 / 1e-12),  # zero loss counts as 1e-12
]


@pytest.mark.parametrize("clean,perturbed,reference,form,expected", CASES)
def test_phi_of(clean: float, perturbed: float, reference: float | None, form: str, expected: float) -> None:
    assert M.phi_of(clean, perturbed, reference, form) == pytest.approx(expected, rel=1e-12)


def test_phi_of_refuses_an_unknown_form_and_a_missing_reference() -> None:
    with pytest.raises(ValueError, match="'absolute' is not one of"):
        M.phi_of(1.0, 1.1, 2.0, "absolute")
    with pytest.raises(ValueError, match="needs the untrained reference loss"):
        M.phi_of(1.0, 1.1, None)
    assert math.isfinite(M.phi_of(1.0, 1.1, 2.0))
