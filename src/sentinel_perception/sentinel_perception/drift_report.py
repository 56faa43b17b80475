"""A drift report a person can read: one PNG per metric and an HTML page.

Why: "brightness PSI 3.1" is enough for an alert, not for deciding whether to
retrain. The report overlays the live window on the training baseline for
every metric, so the model team sees *how* the data moved (darker, foggier,
a class that vanished). matplotlib with the Agg backend: no display needed.
No rclpy.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use('Agg')  # headless: must precede pyplot's import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sentinel_perception.drift import (Baseline, MetricBaseline, MetricResult,  # noqa: E402
                                       WindowResult, describe)

FIGURE_SIZE = (5.0, 3.0)   # inches
FIGURE_DPI = 100           # px per inch: 500 x 300 px plots
HISTOGRAM_BINS = 30        # bins of the overlaid histograms


def _plot_metric(metric: MetricResult, reference: MetricBaseline, path: Path) -> None:
    figure, axes = plt.subplots(figsize=FIGURE_SIZE, dpi=FIGURE_DPI)
    try:
        if reference.categorical:
            positions = np.arange(len(reference.categories))
            axes.bar(positions - 0.2, reference.shares, width=0.4, label='baseline')
            axes.bar(positions + 0.2, metric.live_shares, width=0.4, label='live')
            axes.set_xticks(positions, reference.categories, rotation=30, ha='right')
            axes.set_ylabel('share of detections')
        else:
            live = np.asarray(metric.live_samples, dtype=float)
            both = np.concatenate([np.asarray(reference.samples), live])
            bins = np.histogram_bin_edges(both, bins=HISTOGRAM_BINS).tolist()
            axes.hist(reference.samples, bins=bins, density=True, alpha=0.5, label='baseline')
            axes.hist(live, bins=bins, density=True, alpha=0.5, label='live')
            axes.set_ylabel('density')
        state = 'DRIFTED' if metric.drifted else 'ok'
        axes.set_title(f'{metric.name}: PSI {metric.psi:.2f} ({state})')
        axes.legend()
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)


def write_report(directory: Path, result: WindowResult, baseline: Baseline,
                 model_version: str, when: datetime | None = None) -> Path:
    """Write ``<directory>/<time>-<camera>/index.html`` with its plots; returns the HTML path."""
    moment = when or datetime.now(UTC)
    folder = directory / f'{moment.strftime("%Y%m%dT%H%M%SZ")}-{result.camera_id or "all"}'
    folder.mkdir(parents=True, exist_ok=True)
    references = baseline.cameras.get(result.camera_id, baseline.metrics) if result.camera_id \
        else baseline.metrics
    rows = []
    for metric in result.metrics:
        image = folder / f'{metric.name}.png'
        _plot_metric(metric, references[metric.name], image)
        ks = (f'{metric.ks_statistic:.3f}' if math.isfinite(metric.ks_statistic) else '–')
        p_value = f'{metric.p_value:.2e}' if math.isfinite(metric.p_value) else '–'
        rows.append(
            f'<tr><td>{html.escape(metric.name)}</td><td>{metric.psi:.3f}</td>'
            f'<td>{metric.threshold:.2f}</td><td>{ks}</td><td>{p_value}</td>'
            f'<td>{metric.sample_count}</td><td>{"yes" if metric.drifted else "no"}</td></tr>')
    plots = ''.join(f'<img src="{html.escape(m.name)}.png" alt="{html.escape(m.name)}">'
                    for m in result.metrics)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px}}img{{margin:4px}}</style></head><body>
<h1>Drift report: {html.escape(result.camera_id or 'all cameras')}</h1>
<p>{html.escape(describe(result))}</p>
<p>Model {html.escape(model_version or 'unknown')}; baseline from
{html.escape(baseline.source or 'an unnamed dataset')} ({baseline.image_count} images);
window of {result.frame_count} frames, {result.window_end - result.window_start:.0f} s;
written {moment.isoformat()}.</p>
<table><tr><th>metric</th><th>PSI</th><th>threshold</th><th>KS D</th><th>p</th>
<th>samples</th><th>drifted</th></tr>{''.join(rows)}</table>
<div>{plots}</div></body></html>
"""
    index = folder / 'index.html'
    temporary = folder / '.index.html.tmp'
    temporary.write_text(page, encoding='utf-8')
    temporary.replace(index)
    return index
