"""An experiment's tables as people paste them into papers and slides: the summary (mean [95% CI] per condition), the
kind's paired comparisons and its claims, as one booktabs LaTeX document or as Markdown tables.

Both writers are plain string building (no tabulate or jinja dependency); `embedxfer export ID --format latex` and
`--format markdown` and the run page's downloads use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from embedxfer.experiments.outputs import ExperimentData

#: characters LaTeX reads as commands, and the text that prints them
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
#: the non-ASCII characters embedxfer's tables use, in forms pdflatex knows without extra packages
_LATEX_UNICODE = {
    "−": "$-$",
    "÷": r"$\div$",
    "→": r"$\to$",
    "×": r"$\times$",
    "–": "--",
    "…": r"\ldots{}",
    "≥": r"$\geq$",
}


def paper_tables(data: ExperimentData) -> list[tuple[str, pd.DataFrame]]:
    """(title, frame) of every table worth pasting: the summary, the kind's paired comparisons and its own tables
    (intervals as text), and the claims."""
    from embedxfer.results.claims import claims_for, claims_table
    from embedxfer.results.extras import kind_tables
    from embedxfer.results.summary import summary_table

    tables = [("Mean and 95% interval over seeds, per condition", summary_table(data.result, data.primary_metric))]
    tables += [(title, build(data)) for title, build in kind_tables(data.kind)]
    if claims_for(data.kind):
        claims = claims_table(data)[["claim", "scope", "this run", "verdict", "published"]]
        tables.append(("Claims checked on this run's data", claims))
    return [(title, frame) for title, frame in tables if not frame.empty]


def _cell(value: Any) -> str:
    """A table cell as text: numbers to 4 significant digits, missing values as a dash."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def latex_escape(text: str) -> str:
    escaped = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for ch, replacement in _LATEX_UNICODE.items():
        escaped = escaped.replace(ch, replacement)
    return "".join(ch if ord(ch) < 128 else "?" for ch in escaped)  # anything else would stop pdflatex


def latex_table(title: str, frame: pd.DataFrame) -> str:
    """One booktabs table (a float with a caption)."""
    columns = [latex_escape(str(c)) for c in frame.columns]
    lines = [
        r"\begin{table}[ht]",
        r"\centering\small",
        rf"\caption{{{latex_escape(title)}}}",
        rf"\begin{{tabular}}{{{'l' * len(columns)}}}",
        r"\toprule",
        " & ".join(columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(latex_escape(_cell(v)) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def latex_document(data: ExperimentData) -> str:
    """Every table of the experiment as one LaTeX document that compiles with pdflatex (booktabs only)."""
    body = "\n\n".join(latex_table(title, frame) for title, frame in paper_tables(data))
    title = latex_escape(f"embedxfer experiment {data.experiment_id} ({data.kind})")
    return "\n".join(
        [
            r"\documentclass{article}",
            r"\usepackage{booktabs}",
            r"\usepackage[margin=1.5cm,landscape]{geometry}",
            r"\begin{document}",
            rf"\section*{{{title}}}",
            body,
            r"\end{document}",
            "",
        ]
    )


def _markdown_cell(value: Any) -> str:
    return _cell(value).replace("|", r"\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(_markdown_cell(c) for c in frame.columns) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def markdown_document(data: ExperimentData) -> str:
    """Every table of the experiment as Markdown, each under a heading."""
    parts = [f"# Experiment {data.experiment_id} ({data.kind})"]
    parts += [f"## {title}\n\n{markdown_table(frame)}" for title, frame in paper_tables(data)]
    return "\n\n".join(parts) + "\n"


#: the table formats: name (`export --format`) -> (file suffix, MIME type, download label, the document builder)
TABLE_FORMATS = {
    "latex": ("tex", "text/x-tex", "Tables (LaTeX)", latex_document),
    "markdown": ("md", "text/markdown", "Tables (Markdown)", markdown_document),
}
