"""Exports of one experiment: CSV of per-trial metrics, a self-contained HTML report, a PNG figure."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import yaml

from embedxfer.errors import EmbedxferError
from embedxfer.figures import ExperimentData, build_figure, figures_for, load_experiment_data
from embedxfer.stats import summarize


def metrics_csv(data: ExperimentData) -> str:
    """One row per trial: condition, seed, params, status and every final metric."""
    return data.trials.to_csv(index=False)


def config_yaml(data: ExperimentData) -> str:
    return yaml.safe_dump(data.result["config"], sort_keys=False)


def html_report(data: ExperimentData) -> str:
    """A single HTML file: config, summary table and every figure of the kind, plotly.js inlined once."""
    result = data.result
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>embedxfer {html.escape(result['experiment_id'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}"
        "pre{background:#f6f8fa;padding:1rem}</style></head><body>",
        f"<h1>Experiment {html.escape(result['experiment_id'])}</h1>",
        f"<p>kind <b>{html.escape(result['kind'])}</b>, status <b>{html.escape(result['status'])}</b>, "
        f"{len(result['trials'])} trials</p>",
        f"<h2>Config</h2><pre>{html.escape(config_yaml(data))}</pre>",
    ]
    metrics = [c for c in data.trials.columns if str(c).startswith(("test_", "val_"))]
    table = summarize(data.completed(), ["condition"], metrics)
    if not table.empty:
        parts.append("<h2>Summary (mean and 95% interval over seeds)</h2>")
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.4f}"))
    parts.append("<h2>Figures</h2>")
    parts.extend(figures_html(data, [spec.name for spec in figures_for(data.kind)]))
    parts.append("</body></html>")
    return "\n".join(parts)


def figures_html(data: ExperimentData, names: list[str]) -> list[str]:
    """HTML fragments for figures; the first carries plotly.js so the page works offline."""
    out = []
    for i, name in enumerate(names):
        fig = build_figure(data, name)
        out.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    return out


def figure_png(fig, *, width: int = 1000, height: int = 600) -> bytes:
    """Render a figure to PNG with kaleido, which drives a locally installed Chromium."""
    if not _chromium_path():
        raise EmbedxferError(
            "PNG export needs Chromium or Chrome installed (e.g. `apt install chromium`); export HTML instead."
        )
    try:
        return fig.to_image(format="png", width=width, height=height)
    except Exception as exc:  # kaleido reports browser problems in many shapes
        raise EmbedxferError(f"PNG export failed ({type(exc).__name__}: {exc}); export HTML instead.") from None


def _chromium_path() -> str | None:
    import os

    for name in (os.environ.get("BROWSER_PATH"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and (path := shutil.which(name)):
            os.environ.setdefault("BROWSER_PATH", path)
            return path
    return None


def export_experiment(experiment_id: str, fmt: str, output: Path, store=None) -> Path:
    """Write an experiment's CSV, HTML report or primary-figure PNG to `output`."""
    from embedxfer.store import Store

    data = load_experiment_data(store or Store(), experiment_id)
    output = Path(output)
    if fmt == "csv":
        output.write_text(metrics_csv(data))
    elif fmt == "html":
        output.write_text(html_report(data))
    elif fmt == "png":
        specs = figures_for(data.kind)
        if not specs:
            raise EmbedxferError(f"Experiment kind {data.kind!r} has no figures to export.")
        output.write_bytes(figure_png(build_figure(data, specs[0].name)))
    else:
        raise EmbedxferError(f"Unknown export format {fmt!r}; use csv, html or png.")
    return output
