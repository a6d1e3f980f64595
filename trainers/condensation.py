"""Condensation: how many distinct directions the neurons of a weight matrix point in.

Small-initialization training condenses neurons: many rows of a weight matrix align with a
few directions (Zhang et al. 2024, arXiv 2405.05409, cosine-similarity heatmaps of W_Q).
``effective_neurons`` turns that picture into one number, logged per evaluation as a
complexity measure (docs/architecture.md, "Complexity measures").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

FloatArray = npt.NDArray[np.float64]

DEFAULT_THRESHOLD = 0.7
"""Cosine above which two neurons count as condensed together (docs/architecture.md)."""


def _as_weight_matrix(weights: npt.ArrayLike) -> FloatArray:
    """Validate a (num_neurons, fan_in) matrix and promote it to float64."""
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"weights has shape {array.shape}; pass a non-empty (num_neurons, fan_in) matrix"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("weights has non-finite entries; condensation needs finite weights")
    return array


def cosine_matrix(weights: npt.ArrayLike) -> FloatArray:
    """Pairwise cosine similarity between neurons' input-weight vectors.

    Args:
        weights: Shape (num_neurons, fan_in); row i is neuron i's input weights (the layout
            of ``torch.nn.Linear.weight``).

    Returns:
        Shape (num_neurons, num_neurons), entries in [-1, 1]. A zero row has no direction:
        its cosine with every row, itself included, is 0 rather than NaN.

    Raises:
        ValueError: If ``weights`` is not a non-empty finite 2-D matrix.
    """
    array = _as_weight_matrix(weights)
    norms = np.linalg.norm(array, axis=1, keepdims=True)  # (n, 1)
    # Dividing a zero row by 1 keeps it zero, so its dot products are 0, not 0/0.
    unit = array / np.where(norms > 0, norms, 1.0)  # (n, fan_in)
    # Rounding can push |cos| of parallel rows a hair past 1.
    return np.clip(unit @ unit.T, -1.0, 1.0)


def effective_neurons(weights: npt.ArrayLike, threshold: float = DEFAULT_THRESHOLD) -> int:
    """Number of groups of condensed neurons.

    Grouping rule: link two neurons when their cosine similarity is strictly greater than
    ``threshold``; the groups are the connected components of that graph. "All pairwise
    cosines > threshold" is not transitive (a, b and b, c can be close while a, c are not),
    so cliques would depend on the order neurons are visited; the transitive closure makes
    the count well defined and order independent. Anti-parallel neurons (cosine -1) are not
    grouped: they point in opposite directions.

    Zero rows have no direction and belong to no group, so they do not count; a matrix of
    zeros has 0 effective neurons.

    Args:
        weights: Shape (num_neurons, fan_in), rows are neurons' input weights.
        threshold: Cosine above which two neurons are linked, in [-1, 1).

    Returns:
        The number of groups, between 0 and num_neurons.

    Raises:
        ValueError: If ``weights`` is not a non-empty finite 2-D matrix, or ``threshold``
            is outside [-1, 1).
    """
    if not -1.0 <= threshold < 1.0:
        raise ValueError(
            f"threshold ({threshold}) must be in [-1, 1); cosines never exceed 1, so no "
            f"neurons would be grouped"
        )
    array = _as_weight_matrix(weights)
    linked = cosine_matrix(array) > threshold  # (n, n)
    _, labels = connected_components(csr_matrix(linked.astype(np.int8)), directed=False)
    has_direction = np.linalg.norm(array, axis=1) > 0
    return int(np.unique(labels[has_direction]).size)
