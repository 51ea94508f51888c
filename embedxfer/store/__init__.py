"""The run store: experiments, trials, metrics and events in SQLite; artifacts in folders. Rows, not science:
summaries and the public experiment JSON are computed by `embedxfer.results`.

Layout under the embedxfer home (`EMBEDXFER_HOME`, default ``~/.embedxfer``)::

    store.sqlite                 WAL mode, so a CLI run can write while the dashboard reads
    artifacts/<trial_id>/<name>  curves, projections, module weights; written atomically

One module per concern, each a mixin of `Store`: `db` (connections, locking, schema), `experiments`
(experiment rows, snapshots), `trials` (trial rows: statuses, progress, cancel, interrupted, resume), `metrics`
(per-step and final metrics, events), `keys` (trial keys and reuse copies), `artifacts` (files); `rows` shapes
rows into dicts and frames.
Times are unix seconds (float). Statuses and the derived experiment status are defined in `embedxfer.trials`.

Resume semantics: `reset_trials_for_resume` re-queues every trial that is not completed and not owned
by a live process, i.e. the statuses in `RESUMABLE` (interrupted, cancelled, failed, diverged).
Call `mark_interrupted` first so queued/running trials of dead processes become resumable.
"""

from __future__ import annotations

import os
import socket

from embedxfer.store.artifacts import ArtifactStore, write_atomic
from embedxfer.store.experiments import ExperimentRows, Snapshot, new_experiment_id
from embedxfer.store.keys import TrialKeys
from embedxfer.store.metrics import MetricBuffer, MetricsAndEvents
from embedxfer.store.trials import RESUMABLE, TrialRows, pid_alive, trial_id_for

__all__ = [
    "RESUMABLE",
    "MetricBuffer",
    "Snapshot",
    "Store",
    "new_experiment_id",
    "pid_alive",
    "trial_id_for",
    "write_atomic",
]


class Store(ExperimentRows, TrialRows, TrialKeys, MetricsAndEvents, ArtifactStore):
    """The run store: experiments, trials, metrics, events and artifacts under `root` (default: embedxfer home)."""

    def __init__(self, root: str | os.PathLike | None = None, *, lock_timeout: float = 120.0) -> None:
        self._host = socket.gethostname()
        super().__init__(root, lock_timeout=lock_timeout)
