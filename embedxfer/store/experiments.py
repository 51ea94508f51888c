"""Experiment rows of the run store: create, find, list, rename, delete, and read one experiment whole.

`snapshot` reads an experiment, its trials and their final metrics in one transaction, so the three agree;
`embedxfer.results` turns a snapshot into summaries, frames and the public JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from embedxfer.errors import StoreError
from embedxfer.store.db import Database
from embedxfer.store.rows import TRIAL_COLUMNS, mentions, metrics_frame, parse_trial, trial_id_for
from embedxfer.trials import ACTIVE_STATUSES, TrialSpec, experiment_status


def new_experiment_id(now: float | None = None) -> str:
    """A short, readable id that sorts by creation time (UTC), e.g. ``20261122-031500-a1b2``."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return f"{stamp:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Snapshot:
    """One experiment as stored: its dict (see `get_experiment`), its trials in order and their final metrics."""

    experiment: dict[str, Any]
    trials: list[dict[str, Any]]
    #: {trial_id: {metric: value}}; a NaN metric is stored as None
    metrics: dict[str, dict[str, float | None]]

    def metrics_frame(self) -> Any:
        """One row per trial: trial_id, idx, condition, seed, status, error, the params (nested dicts flattened
        with dots; a name clashing with a column gets a ``param.`` prefix), then one column per final metric."""
        return metrics_frame(self.trials, self.metrics)


class ExperimentRows(Database):
    """The experiments table (a mixin of `embedxfer.store.Store`)."""

    _host: str
    artifacts_root: Any  # from ArtifactStore
    add_event: Any  # from MetricsAndEvents

    def create_experiment(
        self,
        kind: str,
        config: dict[str, Any],
        trials: Sequence[TrialSpec],
        name: str | None = None,
        *,
        note: str = "",
    ) -> str:
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
                    (
                        trial_id_for(experiment_id, i),
                        experiment_id,
                        i,
                        spec.condition,
                        int(spec.seed),
                        json.dumps(spec.params, default=str),
                        pid,
                        self._host,
                    )
                    for i, spec in enumerate(trials)
                ],
            )
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
            "experiment_id": row[0],
            "kind": row[1],
            "name": row[2],
            "config": json.loads(row[3]),
            "created_at": row[4],
            "updated_at": row[5],
            "note": row[6],
            "status": experiment_status(counts),
            "counts": counts,
            "n_trials": sum(counts.values()),
        }

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
        self,
        kind: str | None = None,
        status: str | None = None,
        checkpoint: str | None = None,
        task: str | None = None,
        limit: int | None = 200,
    ) -> list[dict[str, Any]]:
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
            if not force and exp["status"] in ACTIVE_STATUSES:
                raise StoreError(f"Experiment {experiment_id} is still {exp['status']}; cancel it first.")
            trial_ids = [r[0] for r in conn.execute("SELECT id FROM trials WHERE experiment_id = ?", (experiment_id,))]
            sub = "(SELECT id FROM trials WHERE experiment_id = ?)"
            conn.execute(f"DELETE FROM step_metrics WHERE trial_id IN {sub}", (experiment_id,))
            conn.execute(f"DELETE FROM final_metrics WHERE trial_id IN {sub}", (experiment_id,))
            conn.execute(f"DELETE FROM trial_keys WHERE trial_id IN {sub}", (experiment_id,))
            for table in ("events", "trials"):
                conn.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (experiment_id,))
            conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))
            return trial_ids

        for trial_id in self._write(delete):
            shutil.rmtree(self.artifacts_root / trial_id, ignore_errors=True)

    def snapshot(self, experiment_id: str) -> Snapshot:
        """Experiment, trials and {trial_id: {metric: value}} read in one transaction, so they agree."""

        def query(conn: sqlite3.Connection) -> Snapshot:
            experiment = self._experiment_row(conn, experiment_id)
            rows = conn.execute(
                f"SELECT {TRIAL_COLUMNS} FROM trials WHERE experiment_id = ? ORDER BY idx", (experiment_id,)
            ).fetchall()
            metrics: dict[str, dict[str, float | None]] = {}
            query = (
                "SELECT m.trial_id, m.name, m.value FROM final_metrics m JOIN trials t ON t.id = m.trial_id "
                "WHERE t.experiment_id = ? ORDER BY m.name"
            )
            for trial_id, name, value in conn.execute(query, (experiment_id,)):
                metrics.setdefault(trial_id, {})[name] = value
            return Snapshot(experiment, [parse_trial(r) for r in rows], metrics)

        return self._read(query)

    def final_metrics_frame(self, experiment_id: str) -> Any:
        """`Snapshot.metrics_frame` of the experiment."""
        return self.snapshot(experiment_id).metrics_frame()
