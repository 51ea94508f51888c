"""Trial rows of the run store: statuses, progress, cancel requests, interrupted trials and resume.

A trial row records who runs it (pid and host), so a process that starts later can tell which `queued` or
`running` trials belong to a process that died (`mark_interrupted`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedxfer.errors import StoreError
from embedxfer.store.db import Database
from embedxfer.store.rows import TRIAL_COLUMNS, parse_trial, trial_id_for
from embedxfer.trials import FINISHED_STATUSES, RESUMABLE_STATUSES, TRIAL_STATUSES

RESUMABLE = RESUMABLE_STATUSES
__all__ = ["RESUMABLE", "TrialRows", "pid_alive", "trial_id_for"]


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


class TrialRows(Database):
    """The trials table (a mixin of `embedxfer.store.Store`, which also provides `_experiment_row`)."""

    _host: str

    def list_trials(self, experiment_id: str) -> list[dict[str, Any]]:
        """The experiment's trials in order (dicts: trial_id, experiment_id, idx, condition, seed, params, status,
        step, total_steps, error, started_at, finished_at, owner_pid, owner_host, device, cancel_requested)."""

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            self._experiment_row(conn, experiment_id)
            rows = conn.execute(
                f"SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = ? ORDER BY idx", (experiment_id,)
            ).fetchall()
            return [parse_trial(r) for r in rows]

        return self._read(query)

    def get_trial(self, trial_id: str) -> dict[str, Any]:
        row = self._read(
            lambda conn: conn.execute(f"SELECT {TRIAL_COLUMNS} FROM trials WHERE id = ?", (trial_id,)).fetchone()
        )
        if row is None:
            raise StoreError(f"No trial {trial_id!r} in the store; `embedxfer show EXPERIMENT_ID` lists its trials.")
        return parse_trial(row)

    def cancel_requested(self, trial_ids: Sequence[str]) -> set[str]:
        """Which of `trial_ids` someone (maybe another process) asked to cancel, in one read."""
        if not trial_ids:
            return set()
        marks = ", ".join("?" * len(trial_ids))
        rows = self._read(
            lambda conn: conn.execute(
                f"SELECT id FROM trials WHERE id IN ({marks}) AND (cancel_requested OR status = 'cancelled')",
                tuple(trial_ids),
            ).fetchall()
        )
        return {row[0] for row in rows}

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

    def start_trial(self, trial_id: str, device: str, backend: str = "thread") -> bool:
        """Mark a queued trial running in this process on `device`, run by `backend` (thread, ray). False if it is no
        longer queued (e.g. another process cancelled it meanwhile), in which case it must not run."""

        def update(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE trials SET status = 'running', started_at = ?, finished_at = NULL, error = NULL, step = 0, "
                "owner_pid = ?, owner_host = ?, device = ?, backend = ? "
                "WHERE id = ? AND status = 'queued' AND cancel_requested = 0",
                (now, os.getpid(), self._host, device, backend, trial_id),
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
        self,
        trial_id: str,
        status: str,
        *,
        error: str | None = None,
        step: int | None = None,
        metrics: dict[str, float] | None = None,
        only_if: Sequence[str] | None = None,
        deps: dict[str, Any] | None = None,
    ) -> bool:
        """End a trial: status (completed, failed, diverged, cancelled, interrupted), error, final metrics and what
        a completed trial depended on (`deps`, for reuse), in one transaction: a later plan never sees the trial
        completed without its key. With `only_if`, only a trial whose current status is one of those changes;
        returns whether it changed."""
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
            if deps is not None:
                text = json.dumps(deps, sort_keys=True)
                conn.execute("UPDATE trial_keys SET deps = ? WHERE trial_id = ?", (text, trial_id))
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
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM trials WHERE experiment_id = ? AND status IN ({marks}) ORDER BY idx",
                    (experiment_id, *RESUMABLE),
                )
            ]
            self._requeue_rows(conn, ids)
            conn.execute("UPDATE experiments SET updated_at = ? WHERE id = ?", (time.time(), experiment_id))
            return ids

        ids = self._write(update)
        for trial_id in ids:
            shutil.rmtree(self.artifacts_root / trial_id, ignore_errors=True)
        if ids:
            self.add_event(experiment_id, f"resumed {len(ids)} trial(s)")
        return [self.get_trial(trial_id) for trial_id in ids]

    def requeue_trial(self, trial_id: str) -> bool:
        """Queue a running trial again from scratch (a backend retrying a trial whose worker died): clear its
        step, metrics and artifacts. False if it was not running."""

        def update(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT status FROM trials WHERE id = ?", (trial_id,)).fetchone()
            if row is None or row[0] != "running":
                return False
            self._requeue_rows(conn, [trial_id])
            self._touch(conn, trial_id, time.time())
            return True

        changed = self._write(update)
        if changed:
            shutil.rmtree(self.artifacts_root / trial_id, ignore_errors=True)
        return changed

    def _requeue_rows(self, conn: sqlite3.Connection, ids: list[str]) -> None:
        for trial_id in ids:
            conn.execute(
                "UPDATE trials SET status = 'queued', step = 0, total_steps = NULL, error = NULL, "
                "started_at = NULL, finished_at = NULL, device = NULL, backend = NULL, cancel_requested = 0, "
                "owner_pid = ?, owner_host = ? WHERE id = ?",
                (os.getpid(), self._host, trial_id),
            )
            conn.execute("DELETE FROM step_metrics WHERE trial_id = ?", (trial_id,))
            conn.execute("DELETE FROM final_metrics WHERE trial_id = ?", (trial_id,))

    def activity(self, since: float) -> dict[str, int]:
        """Counts for a sidebar: trials running, queued, and finished since `since` (unix seconds)."""

        def query(conn: sqlite3.Connection) -> dict[str, int]:
            sql = "SELECT status, count(*) FROM trials WHERE status IN ('running', 'queued') GROUP BY status"
            counts = dict(conn.execute(sql).fetchall())
            done = conn.execute("SELECT count(*) FROM trials WHERE finished_at >= ?", (since,)).fetchone()[0]
            return {"running": counts.get("running", 0), "queued": counts.get("queued", 0), "finished": done}

        return self._read(query)
