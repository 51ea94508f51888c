"""What a kind declares about its results, and the read-only view of an experiment it declares them over.

Kinds declare figures (FigureSpec), tables (TableSpec), downloads (DownloadSpec), their papers' claims
(ClaimSpec) and what they can do with a pair of checkpoints (Support); each builder takes an ExperimentData. This
module sits below both `experiments/` and `results/`: the kinds and the registry import it, `results/` fills and
reads it, and no kind imports `results/` (tests/test_structure.py checks that, type-only imports included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


@dataclass
class ExperimentData:
    """One experiment's results: the public JSON, a per-trial frame, per-step metrics and its primary metric."""

    result: dict[str, Any]  # the JSON of `embedxfer show --json`
    trials: pd.DataFrame  # one row per trial: condition, seed, status, params..., metrics...
    steps: pd.DataFrame  # long format: trial_id, condition, seed, step, name, value
    primary_metric: str  # e.g. test_accuracy; the kind decides (embedxfer.results.summary)
    #: the store folder the trials' artifacts live in (maps, curves); a path, so the data stays picklable
    store_root: str | None = None
    #: the kind's group params (ExperimentKind.group_params): trial params that, with the condition, define a group
    group_params: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.result["kind"]

    @property
    def experiment_id(self) -> str:
        return self.result["experiment_id"]

    def completed(self) -> pd.DataFrame:
        return self.trials[self.trials["status"] == "completed"] if not self.trials.empty else self.trials

    def artifact(self, trial_id: str, name: str) -> bytes:
        """A stored artifact of one of this experiment's trials (figures of the explorer kinds read their maps)."""
        from embedxfer.store import Store

        if self.store_root is None:
            raise ValueError(f"experiment {self.experiment_id}: no store to read artifact {name!r} from")
        return Store(self.store_root).read_artifact(trial_id, name)


@dataclass(frozen=True)
class FigureSpec:
    """A named figure of a kind: `name` goes into board URLs and file names, `title` onto tabs and tiles."""

    name: str
    title: str
    build: Callable[[ExperimentData], go.Figure]


@dataclass(frozen=True)
class TableSpec:
    """A named table of a kind: `build(data)` gives a frame (empty when there is nothing to show yet)."""

    name: str
    title: str
    build: Callable[[ExperimentData], pd.DataFrame]


@dataclass(frozen=True)
class DownloadSpec:
    """A named file of a kind: `build(data)` gives its bytes; the file is `<experiment id>-<name>.<suffix>`."""

    name: str
    label: str
    suffix: str
    mime: str
    build: Callable[[ExperimentData], bytes]

    def file_name(self, experiment_id: str) -> str:
        return f"{experiment_id}-{self.name}.{self.suffix}"


#: A claim's verdicts on one run's data (experiments/claims.py states the rules).
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")


@dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict on one scope of a run (a train size, a source and target, a task...), with the value the
    rule read (a paired difference: mean, 95% interval, n) or, when not tested, what the run must add."""

    verdict: str
    scope: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0
    #: what was compared, or for "not tested" what to add (e.g. "add `random` to conditions")
    detail: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class ClaimSpec:
    """A paper's finding as a kind declares it: one sentence, its source, the published value(s) with their
    setting, the rule in words, and `evaluate(data)` giving one ClaimResult per scope of the run."""

    name: str
    statement: str
    source: str
    rule: str
    evaluate: Callable[[ExperimentData], list[ClaimResult]]
    #: the paper's number(s) and setting, e.g. "100% (GPT-2, bit-xor, 5 bits)"; None where it gives only plots
    published: str | None = None


#: Support levels, best first.
LEVELS = ("yes", "adjusted", "no")


@dataclass(frozen=True)
class Support:
    """Whether an experiment can use a checkpoint pair: `level` is yes, adjusted (with a stated change) or no."""

    level: str
    note: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"support level must be one of {LEVELS}, got {self.level!r}")

    def short(self) -> str:
        return {"yes": "yes", "adjusted": "with " + self.note, "no": "no"}[self.level]
