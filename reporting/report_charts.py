"""The report's figures as PNG bytes (matplotlib's Agg canvas; no pyplot, no display, no global state)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

# Colour-blind-safe (Okabe-Ito) colours for the per-level curves.
LEVEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")


class ChartsUnavailableError(LookupError):
    """matplotlib is not installed; the message says how to install it."""


def require_matplotlib() -> None:
    """Fails early, in one line, when the charts cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ChartsUnavailableError(
            "the run report draws its charts with matplotlib, which is not installed: "
            "pip install matplotlib (it is in requirements.lock)") from None


def _figure(width: float, height: float):  # noqa: ANN202
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:  # noqa: ANN001
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def precision_coverage_levels(curves: Sequence[tuple[int, np.ndarray, np.ndarray]],
                              served: Sequence[tuple[int, float, float]]) -> bytes:
    """One precision-vs-coverage line per level; `served`: (level, coverage, precision) markers."""
    figure = _figure(7.5, 5.0)
    ax = figure.add_subplot()
    for level, coverage, precision in curves:
        colour = LEVEL_COLOURS[(level - 1) % len(LEVEL_COLOURS)]
        ax.plot(coverage, precision, color=colour, linewidth=1.8, label=f"level {level}", drawstyle="steps-post")
    for level, coverage, precision in served:
        if np.isfinite(coverage) and np.isfinite(precision):
            ax.plot([coverage], [precision], marker="o", markersize=7, markeredgecolor="black",
                    color=LEVEL_COLOURS[(level - 1) % len(LEVEL_COLOURS)], linestyle="none")
    ax.plot([], [], marker="o", color="white", markeredgecolor="black", linestyle="none",
            label="served (configured floors)")
    _axes(ax, "coverage at the level (share of eval products served that deep)", "precision at the level (among covered)")
    ax.set_title("Precision vs coverage per level (one confidence threshold swept)")
    return _png(figure)


def precision_coverage_hierarchical(coverage: np.ndarray, precision: np.ndarray, recall: np.ndarray,
                                    served: tuple[float, float] | None) -> bytes:
    """Hierarchical precision and recall against coverage; `served`: the (coverage, precision) marker."""
    figure = _figure(7.5, 5.0)
    ax = figure.add_subplot()
    ax.plot(coverage, precision, color="#222222", linewidth=2.2, label="hierarchical precision")
    ax.plot(coverage, recall, color="#888888", linewidth=1.4, linestyle="--", label="hierarchical recall")
    if served and all(np.isfinite(served)):
        ax.plot([served[0]], [served[1]], marker="o", markersize=8, color="#D55E00", markeredgecolor="black",
                linestyle="none", label="served (configured floors)")
    _axes(ax, "coverage (share of eval products with a prediction)", "hierarchical precision / recall")
    ax.set_title("Hierarchical precision vs coverage")
    return _png(figure)


def _axes(ax, xlabel: str, ylabel: str) -> None:  # noqa: ANN001
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.legend(loc="lower left", fontsize=8, frameon=True)


def confusion_heatmap(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str]) -> bytes:
    """Counts annotated; colour is the share of the row (the true category) predicted as the column."""
    n_rows, n_cols = matrix.shape
    figure = _figure(max(5.0, 1.2 + 0.55 * n_cols + 2.2), max(3.5, 1.8 + 0.42 * n_rows))
    ax = figure.add_subplot()
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(n_cols), labels=[_short(label) for label in col_labels], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), labels=[_short(label) for label in row_labels], fontsize=8)
    ax.set_xlabel("predicted level-1 category (decoded path)")
    ax.set_ylabel("true level-1 category")
    for i in range(n_rows):
        for j in range(n_cols):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.55 else "black")
    colourbar = figure.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    colourbar.set_label("share of the true category", fontsize=8)
    ax.set_title("Level-1 confusion (eval split)")
    return _png(figure)


def _short(label: str, width: int = 34) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
