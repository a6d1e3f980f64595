"""Figures of the complexity-control study: the (γ, λ) phase diagram and γ curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from analysis.phase.table import WEIGHT_DECAY, WIDTH  # noqa: E402

COMMUTATIVITY_MARK = 0.7  # cells below this commutativity get a marker (docs/architecture.md / issue 3)


def _panel(ax: Axes, cells: pd.DataFrame, id_min: float) -> AxesImage:
    xs = sorted(cells["init_value"].unique())
    ys = sorted(cells[WEIGHT_DECAY].unique())
    grid = cells.pivot_table(index=WEIGHT_DECAY, columns="init_value", values="ood_acc").reindex(index=ys, columns=xs)
    image: AxesImage = ax.imshow(grid.to_numpy(), origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for _, cell in cells.iterrows():
        x, y = xs.index(cell["init_value"]), ys.index(cell[WEIGHT_DECAY])
        if cell["id_acc"] < id_min:
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor="white", lw=0))
        comm = cell.get("commutativity", np.nan)
        if np.isfinite(comm) and comm < COMMUTATIVITY_MARK:
            ax.plot(x + 0.32, y + 0.32, marker="x", color="red", ms=7, mew=2)
        color = "black" if cell["ood_acc"] > 0.6 else "white"
        ax.text(x, y, f"{int(cell['phase'])}\n{cell['ood_acc']:.2f}", ha="center", va="center", color=color, fontsize=8)
    ax.set_xticks(range(len(xs)), [f"{v:.3g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_ylabel("weight decay λ")
    return image


def plot_phase_diagram(cells: pd.DataFrame, path: Path, id_min: float = 0.9) -> Path:
    """Heatmap of OOD accuracy over init × λ, one panel per (scheme, width).

    Each cell prints its phase and OOD accuracy; hatched cells have ID accuracy < `id_min`;
    a red × marks commutativity < 0.7 on the unseen pairs.
    """
    panels = list(cells.groupby(["scheme", WIDTH]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1, 3.8), squeeze=False)
    images = []
    for ax, ((scheme, width), group) in zip(axes[0], panels):
        images.append(_panel(ax, group, id_min))
        label = "initialization rate γ" if scheme == "rate" else "fixed init σ"
        ax.set(xlabel=label, title=f"d_model {width:g}" + ("" if scheme == "rate" else " (fixed σ)"))
    fig.colorbar(images[-1], ax=axes[0].tolist(), label="OOD accuracy")
    fig.suptitle("Composite anchor task: phase (1/2/3) and OOD accuracy; /// = ID acc < 0.9, × = commutativity < 0.7",
                 fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_gamma_curves(cells: pd.DataFrame, path: Path) -> Path:
    """ID / OOD accuracy and effective neurons of layer-1 W_Q against γ.

    One line per λ when the sweep has one width; one line per width (at the smallest λ)
    when it has several, which is what the width study compares.
    """
    rate_cells = cells[cells["scheme"] == "rate"]
    by_width = rate_cells[WIDTH].nunique() > 1
    if by_width:
        rate_cells = rate_cells[np.isclose(rate_cells[WEIGHT_DECAY], rate_cells[WEIGHT_DECAY].min())]
    fig, (acc_ax, neuron_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    for value, group in rate_cells.groupby(WIDTH if by_width else WEIGHT_DECAY):
        label = f"d={value:g}" if by_width else f"λ={value:g}"
        group = group.sort_values("init_value")
        (line,) = acc_ax.plot(group["init_value"], group["ood_acc"], "o-", label=f"OOD, {label}")
        acc_ax.plot(group["init_value"], group["id_acc"], "s--", color=line.get_color(), alpha=0.6, label=f"ID, {label}")
        if "effective_neurons" in group:
            neuron_ax.plot(group["init_value"], group["effective_neurons"], "o-", label=label)
    acc_ax.set(xlabel="initialization rate γ", ylabel="accuracy (seed mean)", ylim=(-0.02, 1.02), title="ID and OOD accuracy")
    neuron_ax.set(xlabel="initialization rate γ", ylabel="effective neurons (cos > 0.7 groups)",
                  title="condensation of layer-1 W_Q")
    acc_ax.legend(fontsize=7)
    if neuron_ax.lines:
        neuron_ax.legend(fontsize=7)
    else:  # an empty panel with an empty legend would look like a drawing bug
        neuron_ax.text(0.5, 0.5, "no effective-neuron measure logged", ha="center", va="center",
                       transform=neuron_ax.transAxes, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
