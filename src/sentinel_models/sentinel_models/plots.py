"""Figures of a model card: the confusion matrix, drawn with matplotlib.

Why our own: ultralytics' plots are switched off (they download a font, and
the figure should describe the held-out evaluation, which is ours).
matplotlib comes with the train extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Figure size (inches) and resolution (dots per inch).
FIGURE_SIZE = (5.5, 4.8)
DPI = 120


def draw_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: Path,
                          title: str = 'Confusion matrix (held-out, IoU 0.5)') -> None:
    """Save a confusion matrix (rows truth, columns predicted; background last) as PNG.

    Cells are coloured by the share of their truth row and annotated with counts.
    """
    import matplotlib

    matplotlib.use('Agg')  # no display: files only
    import matplotlib.pyplot as plt

    labels = [*names, 'background']
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    figure, axes = plt.subplots(figsize=FIGURE_SIZE, dpi=DPI)
    image = axes.imshow(shares, cmap='Blues', vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label='share of the truth row')
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha='right')
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel('predicted')
    axes.set_ylabel('truth')
    axes.set_title(title)
    for r in range(counts.shape[0]):
        for c in range(counts.shape[1]):
            if r == counts.shape[0] - 1 and c == counts.shape[1] - 1:
                continue  # background predicted as background is not counted
            axes.text(c, r, f'{int(counts[r, c])}', ha='center', va='center',
                      color='white' if shares[r, c] > 0.5 else 'black', fontsize=9)
    figure.tight_layout()
    figure.savefig(path, bbox_inches='tight')  # keep the axis labels inside the image
    plt.close(figure)
