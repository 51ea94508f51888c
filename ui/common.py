"""Small rendering helpers shared by the pages: statuses, times, sizes and experiment labels."""

from __future__ import annotations

import html
import time
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

import streamlit as st

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import mentioned
from embedxfer.trials import ACTIVE_STATUSES

ACTIVE = ACTIVE_STATUSES
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/play_circle:",
    "completed": ":material/check_circle:",
    "partial": ":material/incomplete_circle:",
    "failed": ":material/error:",
    "diverged": ":material/warning:",
    "cancelled": ":material/cancel:",
    "interrupted": ":material/pause_circle:",
}

#: Pages, by path relative to app.py (st.switch_page / st.page_link resolve these against the router).
PAGE_HOME = "app_pages/home.py"
PAGE_CHECKPOINTS = "app_pages/checkpoints.py"
PAGE_DATA = "app_pages/data.py"
PAGE_NEW = "app_pages/new_experiment.py"
PAGE_RUNS = "app_pages/runs.py"
PAGE_BOARD = "app_pages/board.py"
PAGE_EXPLORE = "app_pages/explore.py"


def status_text(status: str) -> str:
    """Plain status for tables and select boxes (they show no icons)."""
    return status


def status_md(status: str) -> str:
    """Status with a Material icon, for markdown, captions and link labels."""
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def fmt_time(ts: float | None) -> str:
    """Local date and time, or a dash."""
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def fmt_ago(ts: float | None) -> str:
    if ts is None:
        return "–"
    seconds = max(0.0, time.time() - ts)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return fmt_time(ts)


def fmt_count(n: int | float | None) -> str:
    """22713216 -> 22.7M."""
    if n is None:
        return "–"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


def fmt_bytes(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**30:.1f} GiB"


def mentioned_checkpoints(config: dict[str, Any], *, short: bool = True) -> list[str]:
    """The checkpoints an experiment config names (its checkpoint-role fields); local folders as `…/name` unless
    short=False."""
    checkpoints = mentioned(config, ("checkpoint", "checkpoints"))
    return [short_checkpoint(c) for c in checkpoints] if short else checkpoints


def mentioned_tasks(config: dict[str, Any]) -> list[str]:
    """The tasks an experiment config names, uploaded files by their file name."""
    return [short_task(t) for t in mentioned(config, ("task",))]


def checkpoints_and_tasks(config: dict[str, Any], *, short: bool = True) -> str:
    """`…/my-bert · tweets-binary`: what an experiment ran on, for a caption (full folder paths with short=False)."""
    return " · ".join([*mentioned_checkpoints(config, short=short), *mentioned_tasks(config)])


def counted(n: int, noun: str) -> str:
    """`1 trial`, `3 trials` (regular plurals only)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def short_task(name: str | None) -> str:
    """`file:/long/path/data-ab12.csv?text=t&label=l` -> `file:data-ab12.csv?text=t&label=l`; others unchanged."""
    name = name or ""
    if name.startswith("file:"):
        path, sep, query = name[5:].partition("?")
        return f"file:{path.rsplit('/', 1)[-1]}{sep}{unquote_plus(query)}"
    return name


def short_checkpoint(checkpoint_id: str) -> str:
    """A local folder id `/long/path/to/my-bert` -> `…/my-bert` (for table headers); bundled and hub ids unchanged."""
    if checkpoint_id.startswith("hub:") or "/" not in checkpoint_id:
        return checkpoint_id
    return "…/" + checkpoint_id.rstrip("/").rsplit("/", 1)[-1]


def experiment_label(exp: dict[str, Any]) -> str:
    name = f" · {exp['name']}" if exp.get("name") else ""
    return f"{exp['experiment_id']}{name} · {exp['kind']} · {status_text(exp['status'])}"


def show_error(exc: BaseException) -> None:
    """A user error as its one sentence; anything else as one line naming the exception (never a traceback)."""
    if isinstance(exc, EmbedxferError):
        st.error(str(exc))
    else:
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


PRE_STYLE = (
    "font-family: 'Source Code Pro', monospace; font-size: 0.8rem; background: #f6f7f9; border-radius: 0.5rem;"
    " padding: 0.75rem 1rem; margin: 0; max-height: 24rem; overflow: auto; white-space: pre;"
)


def show_text_block(text: str) -> None:
    """Preformatted text (a config, a traceback) in a scrollable box that can be selected and copied.

    Not `st.code`: its syntax highlighter is a lazily loaded component that adds about 0.2 s to every full page
    load on a 2-core machine, even inside a collapsed expander (bench/page_latency.py); a plain <pre> costs nothing.
    """
    st.html(f'<pre style="{PRE_STYLE}">{html.escape(text)}</pre>')
