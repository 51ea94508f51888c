"""Exports of one experiment: CSV of per-trial metrics, the config as YAML, a self-contained HTML report (config,
the summary table, every figure), a figures-only HTML page, and a PNG of a figure."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import yaml

from embedxfer.errors import EmbedxferError
from embedxfer.results.claims import claims_for, claims_table
from embedxfer.results.data import ExperimentData, load_experiment_data
from embedxfer.results.extras import downloads_for, kind_tables
from embedxfer.results.figures import build_figure, figures_for
from embedxfer.results.html import FigureWriter, html_page
from embedxfer.results.paper_tables import TABLE_FORMATS
from embedxfer.results.summary import summary_table

_REPORT_STYLE = (
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}"
    "pre{background:#f6f8fa;padding:1rem}"
)


def metrics_csv(data: ExperimentData) -> str:
    """One row per trial: condition, seed, params, status and every final metric."""
    return data.trials.to_csv(index=False)


def config_yaml(data: ExperimentData) -> str:
    return yaml.safe_dump(data.result["config"], sort_keys=False)


def html_report(data: ExperimentData) -> str:
    """A single HTML file: config, the summary table (the same one the run page shows) and every figure."""
    result = data.result
    body = [
        f"<h1>Experiment {html.escape(result['experiment_id'])}</h1>",
        f"<p>kind <b>{html.escape(result['kind'])}</b>, status <b>{html.escape(result['status'])}</b>, "
        f"{len(result['trials'])} trials, primary metric <b>{html.escape(data.primary_metric)}</b></p>",
        f"<h2>Config</h2><pre>{html.escape(config_yaml(data))}</pre>",
    ]
    if claims_for(data.kind):
        body.append("<h2>Claims (the papers' findings checked on this run's data)</h2>")
        body.append(claims_table(data).to_html(index=False, na_rep="–"))
    table = summary_table(result, data.primary_metric)
    if not table.empty:
        body.append("<h2>Summary (mean and 95% interval over seeds)</h2>")
        body.append(table.to_html(index=False, na_rep="–"))
    body.extend(_kind_tables_html(data))
    body.append("<h2>Figures</h2>")
    body.extend(figures_html(data, [spec.name for spec in figures_for(data.kind)]))
    return html_page(f"embedxfer {result['experiment_id']}", body, style=_REPORT_STYLE)


def _kind_tables_html(data: ExperimentData) -> list[str]:
    """The kind's paired comparisons and its own tables (e.g. a port report), as headed HTML tables."""
    body = []
    for title, build in kind_tables(data.kind):
        frame = build(data)
        if not frame.empty:
            body += [f"<h2>{html.escape(title)}</h2>", frame.to_html(index=False, na_rep="–")]
    return body


def figures_html(data: ExperimentData, names: list[str]) -> list[str]:
    """HTML fragments for figures; the first carries plotly.js so the page works offline."""
    writer = FigureWriter()
    return [writer.fragment(build_figure(data, name)) for name in names]


def figures_document(data: ExperimentData, names: list[str]) -> str:
    """The figures alone, as one HTML file."""
    return html_page(f"{data.experiment_id} figures", figures_html(data, names))


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


def export_formats(kind: str | None = None) -> list[str]:
    """csv, html, png, latex and markdown (the tables), and the named downloads of `kind` (e.g. module_porting's
    `modules`)."""
    return ["csv", "html", "png", *TABLE_FORMATS, *(spec.name for spec in downloads_for(kind or ""))]


def export_experiment(experiment_id: str, fmt: str, output: Path | None = None, store=None) -> Path:
    """Write an experiment's CSV, HTML report, primary-figure PNG or one of its kind's downloads to `output`
    (default `<id>.<format>`, or `<id>-<name>.<suffix>` for a download)."""
    from embedxfer.store import Store

    store = store or Store()
    data = load_experiment_data(store, store.resolve_experiment_id(experiment_id))
    download = next((spec for spec in downloads_for(data.kind) if spec.name == fmt), None)
    if download is not None:
        output = Path(output or download.file_name(data.experiment_id))
        output.write_bytes(download.build(data))
        return output
    if fmt in TABLE_FORMATS:
        suffix, _, _, document = TABLE_FORMATS[fmt]
        output = Path(output or f"{data.experiment_id}.{suffix}")
        output.write_text(document(data))
        return output
    output = Path(output or f"{data.experiment_id}.{fmt}")
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
        raise EmbedxferError(
            f"Unknown export format {fmt!r} for a {data.kind} experiment; use {', '.join(export_formats(data.kind))}."
        )
    return output
