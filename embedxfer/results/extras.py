"""What a kind shows and hands out besides figures: named tables (the run page's tabs and the HTML report) and
file downloads (the run page's buttons and `embedxfer export ID --format <name>`). A kind declares them in its
package, like its figures, so they appear everywhere without page code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import get_kind
from embedxfer.experiments.outputs import DownloadSpec, TableSpec

if TYPE_CHECKING:
    import pandas as pd

    from embedxfer.results.data import ExperimentData


def tables_for(kind: str) -> list[TableSpec]:
    """The tables kind `kind` declares (none for a kind that is not installed)."""
    try:
        return list(get_kind(kind).tables)
    except EmbedxferError:
        return []


PAIRED_TITLE = "Paired comparisons (per seed, 95% interval)"


def kind_tables(kind: str) -> list[tuple[str, Callable[[ExperimentData], pd.DataFrame]]]:
    """(title, build) of every table a kind adds to the summary: its paired comparisons (as shown: the interval
    as text), then its declared tables; the run page's tabs and the HTML report both read this list."""
    try:
        registered = get_kind(kind)
    except EmbedxferError:
        return []
    paired = [(PAIRED_TITLE, _shown(registered.paired))] if registered.paired else []
    return paired + [(spec.title, spec.build) for spec in registered.tables]


def _shown(paired: Callable[[ExperimentData], pd.DataFrame]) -> Callable[[ExperimentData], pd.DataFrame]:
    """The paired builder as tables show it: low and high as one interval text column ('n=1, no interval' for one
    paired seed), through the one helper that `show` uses too."""
    from embedxfer.results.summary import with_interval_text

    return lambda data: with_interval_text(paired(data))


def downloads_for(kind: str) -> list[DownloadSpec]:
    """The downloads kind `kind` declares (none for a kind that is not installed)."""
    try:
        return list(get_kind(kind).downloads)
    except EmbedxferError:
        return []
