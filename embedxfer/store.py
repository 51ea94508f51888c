"""The run store: experiments, trials, metrics and events in SQLite; artifacts in folders.

Layout under the embedxfer home (`EMBEDXFER_HOME`, default ``~/.embedxfer``)::

    store.sqlite                 WAL mode, so a CLI run can write while the dashboard reads
    artifacts/<trial_id>/<name>  curves, projections, module weights; written atomically

Connections, locking and the schema live in `embedxfer.store_db`, metrics and events in `embedxfer.store_metrics`,
artifact files in `embedxfer.store_artifacts`, row shaping and the public JSON in `embedxfer.store_views`.
Times are unix seconds (float).

Trial statuses (see `embedxfer.experiments.base.TRIAL_STATUSES`) and the derived experiment status:

- ``running``  some trial is running
- ``queued``   none running, some queued
- ``interrupted``  none running or queued, some interrupted (the process running them died)
- ``cancelled``  all finished and the user cancelled at least one trial
- ``completed``  every trial completed
- ``failed``     none completed (each failed or diverged)
- ``partial``    some completed, the others failed or diverged

Resume semantics: `reset_trials_for_resume` re-queues every trial that is not completed and not owned
by a live process, i.e. the statuses in `RESUMABLE` (interrupted, cancelled, failed, diverged).
Call `mark_interrupted` first so queued/running trials of dead processes become resumable.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedxfer.errors import StoreError
from embedxfer.experiments.base import FINISHED_STATUSES, TRIAL_STATUSES, TrialSpec
from embedxfer.store_artifacts import ArtifactStore, write_atomic
from embedxfer.store_metrics import MetricBuffer, MetricsAndEvents
from embedxfer.store_views import experiment_json, experiment_status, mentions, metrics_frame, parse_trial

__all__ = ["RESUMABLE", "MetricBuffer", "Store", "new_experiment_id", "pid_alive", "trial_id_for", "write_atomic"]

RESUMABLE = ("interrupted", "cancelled", "failed", "diverged")
_TRIAL_COLUMNS = (
    "id, experiment_id, idx, condition, seed, params, status, step, total_steps, error, started_at, "
    "finished_at, owner_pid, owner_host, device, cancel_requested"
)


def new_experiment_id(now: float | None = None) -> str:
    """A short, readable id that sorts by creation time (UTC), e.g. ``20261122-031500-a1b2``."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return f"{stamp:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def trial_id_for(experiment_id: str, idx: int) -> str:
    return f"{experiment_id}-t{idx:03d}"


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (unknown -> assume alive, so nothing is wrongly marked)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C there
        try:
            import psutil

            return psutil.pid_exists(pid)
        except ImportError:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process that its parent has not reaped yet still answers kill(pid, 0); it is dead all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


class Store(ArtifactStore, MetricsAndEvents):
    """The run store: experiments, trials, metrics, events and artifacts under `root` (default: embedxfer home)."""

    def __init__(self, root: str | os.PathLike | None = None, *, lock_timeout: float = 120.0) -> None:
        self._host = socket.gethostname()
        super().__init__(root, lock_timeout=lock_timeout)

    # ---------------------------------------------------------------- experiments
    def create_experiment(
        self, kind: str, config: dict[str, Any], trials: Sequence[TrialSpec], name: str | None = None,
        *, note: str = "",
    ) -> str:  # fmt: skip
        """Store an experiment and its trials (all `queued`, owned by this process); returns its id."""
        now = time.time()
        config_text = json.dumps(config, default=str)
        pid = os.getpid()

        def insert(conn: sqlite3.Connection) -> str:
            for _ in range(20):  # the 4 hex digits can collide within one second
                experiment_id = new_experiment_id(now)
                if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone() is None:
                    break
            else:
                raise StoreError("Could not find a free experiment id; try again.")
            conn.execute(
                "INSERT INTO experiments (id, kind, name, config, created_at, updated_at, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (experiment_id, kind, name or "", config_text, now, now, note or ""),
            )
            conn.executemany(
                "INSERT INTO trials (id, experiment_id, idx, condition, seed, params, status, step, owner_pid, "
                "owner_host) VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
                [
                    (trial_id_for(experiment_id, i), experiment_id, i, spec.condition, int(spec.seed),
                     json.dumps(spec.params, default=str), pid, self._host)
                    for i, spec in enumerate(trials)
                ],
            )  # fmt: skip
            return experiment_id

        experiment_id = self._write(insert)
        self.add_event(experiment_id, f"created with {len(trials)} trial(s)")
        return experiment_id

    def _experiment_row(self, conn: sqlite3.Connection, experiment_id: str) -> dict[str, Any]:
        row = conn.execute(
            "SELECT id, kind, name, config, created_at, updated_at, note FROM experiments WHERE id = ?",
            (experiment_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"No experiment {experiment_id!r} in the store; run `embedxfer runs` to list them.")
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM trials WHERE experiment_id = ? GROUP BY status", (experiment_id,)
            ).fetchall()
        )
        return self._experiment_dict(row, counts)

    @staticmethod
    def _experiment_dict(row: Sequence[Any], counts: dict[str, int]) -> dict[str, Any]:
        return {
            "experiment_id": row[0], "kind": row[1], "name": row[2], "config": json.loads(row[3]),
            "created_at": row[4], "updated_at": row[5], "note": row[6], "status": experiment_status(counts),
            "counts": counts, "n_trials": sum(counts.values()),
        }  # fmt: skip

    def get_experiment(self, experiment_id: str) -> dict[str, Any]:
        """The experiment as a dict: experiment_id, kind, name, config, created_at, updated_at (unix seconds),
        note, status (derived, see module doc), counts ({status: n}), n_trials. StoreError if unknown."""
        return self._read(lambda conn: self._experiment_row(conn, experiment_id))

    def resolve_experiment_id(self, text: str) -> str:
        """An exact id, or a unique prefix or suffix of one (e.g. the 4-hex tail), to the full id."""
        text = text.strip()

        def find(conn: sqlite3.Connection) -> list[str]:
            exact = conn.execute("SELECT id FROM experiments WHERE id = ?", (text,)).fetchall()
            if exact or not text:
                return [r[0] for r in exact]
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = conn.execute(
                "SELECT id FROM experiments WHERE id LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\'",
                (escaped + "%", "%" + escaped),
            ).fetchall()
            return [r[0] for r in rows]

        found = self._read(find)
        if len(found) == 1:
            return found[0]
        if not found:
            raise StoreError(f"No experiment {text!r} in the store; run `embedxfer runs` to list them.")
        shown = ", ".join(found[:3])
        raise StoreError(f"{text!r} matches {len(found)} experiments ({shown}, ...); give more of the id.")

    def list_experiments(
        self, kind: str | None = None, status: str | None = None, checkpoint: str | None = None,
        task: str | None = None, limit: int | None = 200,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Experiments newest first, as `get_experiment` dicts, filtered by kind, derived status, a checkpoint id
        mentioned anywhere in the config, or task (any config field whose name contains 'task')."""

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT id, kind, name, config, created_at, updated_at, note FROM experiments"
            args: list[Any] = []
            if kind:
                sql += " WHERE kind = ?"
                args.append(kind)
            rows = conn.execute(sql + " ORDER BY created_at DESC, id DESC", args).fetchall()
            counts: dict[str, dict[str, int]] = {}
            for exp_id, st, n in conn.execute("SELECT experiment_id, status, count(*) FROM trials GROUP BY 1, 2"):
                counts.setdefault(exp_id, {})[st] = n
            out = []
            for row in rows:
                item = self._experiment_dict(row, counts.get(row[0], {}))
                if status and item["status"] != status:
                    continue
                if checkpoint and not mentions(item["config"], checkpoint):
                    continue
                if task and not mentions(item["config"], task, key_part="task"):
                    continue
                out.append(item)
                if limit is not None and len(out) >= limit:
                    break
            return out

        return self._read(query)

    def set_note(self, experiment_id: str, note: str) -> None:
        self._update_experiment(experiment_id, "note = ?", (note,))

    def set_name(self, experiment_id: str, name: str) -> None:
        self._update_experiment(experiment_id, "name = ?", (name,))

    def _update_experiment(self, experiment_id: str, assignment: str, args: tuple) -> None:
        def update(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                f"UPDATE experiments SET {assignment}, updated_at = ? WHERE id = ?", (*args, time.time(), experiment_id)
            )
            if cur.rowcount == 0:
                raise StoreError(f"No experiment {experiment_id!r} in the store; run `embedxfer runs` to list them.")

        self._write(update)

    def delete_experiment(self, experiment_id: str, *, force: bool = False) -> None:
        """Delete the experiment's rows and artifact folders. Refuses while trials are queued or running in a
        live process, unless `force`."""

        def delete(conn: sqlite3.Connection) -> list[str]:
            exp = self._experiment_row(conn, experiment_id)
            if not force and exp["status"] in ("queued", "running"):
                raise StoreError(f"Experiment {experiment_id} is still {exp['status']}; cancel it first.")
            trial_ids = [r[0] for r in conn.execute("SELECT id FROM trials WHERE experiment_id = ?", (experiment_id,))]
            sub = "(SELECT id FROM trials WHERE experiment_id = ?)"
            conn.execute(f"DELETE FROM step_metrics WHERE trial_id IN {sub}", (experiment_id,))
            conn.execute(f"DELETE FROM final_metrics WHERE trial_id IN {sub}", (experiment_id,))
            for table in ("events", "trials"):
                conn.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (experiment_id,))
            conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))
            return trial_ids

        for trial_id in self._write(delete):
            shutil.rmtree(self.artifacts_root / trial_id, ignore_errors=True)

    # ---------------------------------------------------------------- trials
    def list_trials(self, experiment_id: str) -> list[dict[str, Any]]:
        """The experiment's trials in order (dicts: trial_id, experiment_id, idx, condition, seed, params, status,
        step, total_steps, error, started_at, finished_at, owner_pid, owner_host, device, cancel_requested)."""

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            self._experiment_row(conn, experiment_id)
            rows = conn.execute(f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE experiment_id = ? ORDER BY idx",
                                (experiment_id,)).fetchall()  # fmt: skip
            return [parse_trial(r) for r in rows]

        return self._read(query)

    def get_trial(self, trial_id: str) -> dict[str, Any]:
        row = self._read(
            lambda conn: conn.execute(f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE id = ?", (trial_id,)).fetchone()
        )
        if row is None:
            raise StoreError(f"No trial {trial_id!r} in the store; `embedxfer show EXPERIMENT_ID` lists its trials.")
        return parse_trial(row)

    def unfinished_trials(self, experiment_id: str) -> list[dict[str, Any]]:
        """Trials that are not completed (including any still queued or running in a live process)."""
        return [t for t in self.list_trials(experiment_id) if t["status"] != "completed"]

    def _touch(self, conn: sqlite3.Connection, trial_id: str, now: float) -> None:
        conn.execute(
            "UPDATE experiments SET updated_at = ? WHERE id = (SELECT experiment_id FROM trials WHERE id = ?)",
            (now, trial_id),
        )

    def set_trial_status(
        self, trial_id: str, status: str, *, error: str | None = None, step: int | None = None
    ) -> None:
        """Set a trial's status (and error/step); finished statuses also set finished_at."""
        if status in FINISHED_STATUSES or status == "interrupted":
            self.finish_trial(trial_id, status, error=error, step=step)
            return
        if status not in TRIAL_STATUSES:
            raise ValueError(f"unknown trial status {status!r}; one of {', '.join(TRIAL_STATUSES)}")

        def update(conn: sqlite3.Connection) -> None:
            now = time.time()
            cur = conn.execute(
                "UPDATE trials SET status = ?, error = ?, step = coalesce(?, step) WHERE id = ?",
                (status, error, step, trial_id),
            )
            if cur.rowcount == 0:
                raise StoreError(f"No trial {trial_id!r} in the store.")
            self._touch(conn, trial_id, now)

        self._write(update)

    def start_trial(self, trial_id: str, device: str) -> bool:
        """Mark a queued trial running in this process on `device`. False if it is no longer queued (e.g. another
        process cancelled it meanwhile), in which case it must not run."""

        def update(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE trials SET status = 'running', started_at = ?, finished_at = NULL, error = NULL, step = 0, "
                "owner_pid = ?, owner_host = ?, device = ? WHERE id = ? AND status = 'queued' AND cancel_requested = 0",
                (now, os.getpid(), self._host, device, trial_id),
            )
            if cur.rowcount:
                self._touch(conn, trial_id, now)
            return cur.rowcount == 1

        return self._write(update)

    def update_progress(self, trial_id: str, step: int | None, total: int | None) -> bool:
        """Persist a running trial's step/total; returns True if someone asked (maybe from another process) to
        cancel it."""

        def update(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "UPDATE trials SET step = coalesce(?, step), total_steps = coalesce(?, total_steps) WHERE id = ?",
                (step, total, trial_id),
            )
            row = conn.execute("SELECT cancel_requested, status FROM trials WHERE id = ?", (trial_id,)).fetchone()
            return bool(row and (row[0] or row[1] == "cancelled"))

        return self._write(update)

    def finish_trial(
        self, trial_id: str, status: str, *, error: str | None = None, step: int | None = None,
        metrics: dict[str, float] | None = None, only_if: Sequence[str] | None = None,
    ) -> bool:  # fmt: skip
        """End a trial: status (completed, failed, diverged, cancelled, interrupted), error, final metrics, in one
        transaction. With `only_if`, only a trial whose current status is one of those changes; returns whether
        it changed."""
        if status not in FINISHED_STATUSES and status != "interrupted":
            raise ValueError(f"finish_trial needs a finished status, got {status!r}")

        def update(conn: sqlite3.Connection) -> bool:
            now = time.time()
            sql = "UPDATE trials SET status = ?, error = ?, step = coalesce(?, step), finished_at = ? WHERE id = ?"
            args: list[Any] = [status, error, step, now, trial_id]
            if only_if is not None:
                sql += f" AND status IN ({', '.join('?' * len(only_if))})"
                args += list(only_if)
            if conn.execute(sql, args).rowcount == 0:
                if conn.execute("SELECT 1 FROM trials WHERE id = ?", (trial_id,)).fetchone() is None:
                    raise StoreError(f"No trial {trial_id!r} in the store.")
                return False
            if metrics:
                self._insert_final(conn, trial_id, metrics)
            self._touch(conn, trial_id, now)
            return True

        return self._write(update)

    def request_cancel(self, experiment_id: str | None = None, trial_id: str | None = None) -> list[str]:
        """Cancel by id: queued trials become `cancelled` at once; running ones get `cancel_requested`, which their
        worker (in any process) sees within about a second. Returns the ids of the trials affected."""
        if (experiment_id is None) == (trial_id is None):
            raise ValueError("give exactly one of experiment_id or trial_id")
        where, arg = ("experiment_id = ?", experiment_id) if experiment_id else ("id = ?", trial_id)

        def update(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            sql = f"SELECT id FROM trials WHERE {where} AND status IN ('running', 'queued') ORDER BY id"
            affected = [r[0] for r in conn.execute(sql, (arg,))]
            conn.execute(f"UPDATE trials SET cancel_requested = 1 WHERE {where} AND status = 'running'", (arg,))
            conn.execute(
                f"UPDATE trials SET status = 'cancelled', finished_at = ?, error = 'cancelled before it started' "
                f"WHERE {where} AND status = 'queued'",
                (now, arg),
            )
            return affected

        return self._write(update)

    def mark_interrupted(self) -> int:
        """Trials queued or running on this host whose owning process is gone become `interrupted`; returns how
        many. Completed and other finished trials are never touched."""

        def update(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            rows = conn.execute(
                "SELECT id, experiment_id, owner_pid FROM trials WHERE status IN ('queued', 'running') "
                "AND owner_host = ? AND owner_pid IS NOT NULL AND owner_pid != ?",
                (self._host, os.getpid()),
            ).fetchall()
            dead = [r for r in rows if not pid_alive(int(r[2]))]
            now = time.time()
            for trial_id, experiment_id, pid in dead:
                conn.execute(
                    "UPDATE trials SET status = 'interrupted', finished_at = ?, error = ? WHERE id = ?",
                    (now, f"the process running it (pid {pid}) stopped", trial_id),
                )
                conn.execute("UPDATE experiments SET updated_at = ? WHERE id = ?", (now, experiment_id))
            return dead

        dead = self._write(update)
        per_experiment: dict[str, int] = {}
        for _, experiment_id, _ in dead:
            per_experiment[experiment_id] = per_experiment.get(experiment_id, 0) + 1
        for experiment_id, n in per_experiment.items():
            message = f"{n} trial(s) interrupted: the process running them stopped"
            self.add_event(experiment_id, message, level="warning")
        return len(dead)

    def reset_trials_for_resume(self, experiment_id: str) -> list[dict[str, Any]]:
        """Re-queue the experiment's resumable trials (status in RESUMABLE) for this process: clear their step,
        error, metrics and artifacts. Returns the re-queued trials. Atomic, so two resumes never both take a trial."""

        def update(conn: sqlite3.Connection) -> list[str]:
            self._experiment_row(conn, experiment_id)
            marks = ", ".join("?" * len(RESUMABLE))
            ids = [r[0] for r in conn.execute(
                f"SELECT id FROM trials WHERE experiment_id = ? AND status IN ({marks}) ORDER BY idx",
                (experiment_id, *RESUMABLE))]  # fmt: skip
            for trial_id in ids:
                conn.execute(
                    "UPDATE trials SET status = 'queued', step = 0, total_steps = NULL, error = NULL, "
                    "started_at = NULL, finished_at = NULL, device = NULL, cancel_requested = 0, "
                    "owner_pid = ?, owner_host = ? WHERE id = ?",
                    (os.getpid(), self._host, trial_id),
                )
                conn.execute("DELETE FROM step_metrics WHERE trial_id = ?", (trial_id,))
                conn.execute("DELETE FROM final_metrics WHERE trial_id = ?", (trial_id,))
            conn.execute("UPDATE experiments SET updated_at = ? WHERE id = ?", (time.time(), experiment_id))
            return ids

        ids = self._write(update)
        for trial_id in ids:
            shutil.rmtree(self.artifacts_root / trial_id, ignore_errors=True)
        if ids:
            self.add_event(experiment_id, f"resumed {len(ids)} trial(s)")
        return [self.get_trial(trial_id) for trial_id in ids]

    def activity(self, since: float) -> dict[str, int]:
        """Counts for a sidebar: trials running, queued, and finished since `since` (unix seconds)."""

        def query(conn: sqlite3.Connection) -> dict[str, int]:
            sql = "SELECT status, count(*) FROM trials WHERE status IN ('running', 'queued') GROUP BY status"
            counts = dict(conn.execute(sql).fetchall())
            done = conn.execute("SELECT count(*) FROM trials WHERE finished_at >= ?", (since,)).fetchone()[0]
            return {"running": counts.get("running", 0), "queued": counts.get("queued", 0), "finished": done}

        return self._read(query)

    # ---------------------------------------------------------------- results
    def _snapshot(self, experiment_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict]]:
        """Experiment, trials and {trial_id: {metric: value}} read in one transaction, so they agree."""

        def query(conn: sqlite3.Connection) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, dict]]:
            experiment = self._experiment_row(conn, experiment_id)
            rows = conn.execute(f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE experiment_id = ? ORDER BY idx",
                                (experiment_id,)).fetchall()  # fmt: skip
            metrics: dict[str, dict[str, float | None]] = {}
            for trial_id, name, value in conn.execute(
                "SELECT m.trial_id, m.name, m.value FROM final_metrics m JOIN trials t ON t.id = m.trial_id "
                "WHERE t.experiment_id = ? ORDER BY m.name", (experiment_id,)):  # fmt: skip
                metrics.setdefault(trial_id, {})[name] = value
            return experiment, [parse_trial(r) for r in rows], metrics

        return self._read(query)

    def final_metrics_frame(self, experiment_id: str) -> Any:
        """One row per trial: trial_id, idx, condition, seed, status, error, the params (nested dicts flattened
        with dots; a name clashing with a column gets a ``param.`` prefix), then one column per final metric."""
        _, trials, metrics = self._snapshot(experiment_id)
        return metrics_frame(trials, metrics)

    def experiment_json(self, experiment_id: str) -> dict[str, Any]:
        """The public JSON object of `embedxfer show --json` (DESIGN.md, "Public interfaces")."""
        return experiment_json(*self._snapshot(experiment_id))
