"""Trial keys in the run store: each trial's identity and, once it completed, what it depended on; copying a
finished trial's results into a new trial that reuses it; the measured trials learned estimates read.

The rules (what a key is, when a dependency still holds) live in `embedxfer.planning`; these are the rows.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from embedxfer.store.db import Database


class TrialKeys(Database):
    """The trial_keys table and reuse copies (a mixin of `embedxfer.store.Store`)."""

    artifacts_root: Path  # from ArtifactStore

    def add_trial_keys(self, rows: Iterable[tuple[str, str, float | None]]) -> None:
        """(trial_id, identity, formula seconds) for trials just created."""
        rows = list(rows)

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO trial_keys (trial_id, identity, deps, estimate_s) VALUES (?, ?, NULL, ?)",
                rows,
            )

        if rows:
            self._write(insert)

    def reuse_candidates(self, identities: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """{identity: [(trial_id, deps)]}: completed trials with recorded dependencies, those that ran before those
        that were reused (a preview then names the trial that ran), newest first."""
        wanted = sorted(set(identities))
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        if not wanted:
            return found

        def query(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
            rows: list[tuple[str, str, str]] = []
            for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
                chunk = wanted[start : start + 500]
                rows += conn.execute(
                    "SELECT k.identity, k.trial_id, k.deps FROM trial_keys k JOIN trials t ON t.id = k.trial_id "
                    f"WHERE k.identity IN ({', '.join('?' * len(chunk))}) AND t.status = 'completed' "
                    "AND k.deps IS NOT NULL ORDER BY t.reused_from IS NOT NULL, t.finished_at DESC, t.id DESC",
                    chunk,
                ).fetchall()
            return rows

        for identity, trial_id, deps in self._read(query):
            found.setdefault(identity, []).append((trial_id, json.loads(deps)))
        return found

    def copy_trial(self, source_id: str, target_id: str) -> bool:
        """Make queued trial `target_id` a completed copy of completed trial `source_id`: final and per-step
        metrics, step counts, device, dependencies and artifacts (hard links where the file system allows),
        `reused_from` naming the trial that actually ran. False (nothing changed) when the source is no longer
        completed or the target no longer queued."""

        def update(conn: sqlite3.Connection) -> bool:
            source = conn.execute(
                "SELECT status, step, total_steps, device, backend, reused_from FROM trials WHERE id = ?",
                (source_id,),
            ).fetchone()
            if source is None or source[0] != "completed":
                return False
            now = time.time()
            origin = source[5] or source_id
            cur = conn.execute(
                "UPDATE trials SET status = 'completed', step = ?, total_steps = ?, device = ?, backend = ?, "
                "reused_from = ?, started_at = ?, finished_at = ?, error = NULL WHERE id = ? AND status = 'queued'",
                (source[1], source[2], source[3], source[4], origin, now, now, target_id),
            )
            if cur.rowcount != 1:
                return False
            for table, columns in (("final_metrics", "name, value"), ("step_metrics", "step, name, value")):
                conn.execute(f"DELETE FROM {table} WHERE trial_id = ?", (target_id,))
                conn.execute(
                    f"INSERT INTO {table} (trial_id, {columns}) SELECT ?, {columns} FROM {table} WHERE trial_id = ?",
                    (target_id, source_id),
                )
            conn.execute(
                "UPDATE trial_keys SET deps = (SELECT deps FROM trial_keys WHERE trial_id = ?) WHERE trial_id = ?",
                (source_id, target_id),
            )
            conn.execute(
                "UPDATE experiments SET updated_at = ? WHERE id = (SELECT experiment_id FROM trials WHERE id = ?)",
                (now, target_id),
            )
            return True

        if not self._write(update):
            return False
        _link_tree(self.artifacts_root / source_id, self.artifacts_root / target_id)
        return True

    def measured_trials(self, kind: str) -> list[dict[str, Any]]:
        """Completed trials of `kind` that ran here (not reused) with a formula estimate: trial_id, condition,
        device, seconds (wall), estimate_s and deps."""

        def query(conn: sqlite3.Connection) -> list[tuple]:
            return conn.execute(
                "SELECT t.id, t.condition, t.device, t.finished_at - t.started_at, k.estimate_s, k.deps "
                "FROM trials t JOIN trial_keys k ON k.trial_id = t.id JOIN experiments e ON e.id = t.experiment_id "
                "WHERE e.kind = ? AND t.status = 'completed' AND t.reused_from IS NULL AND k.estimate_s > 0 "
                "AND k.deps IS NOT NULL AND t.started_at IS NOT NULL AND t.finished_at >= t.started_at "
                "ORDER BY t.finished_at DESC LIMIT 2000",
                (kind,),
            ).fetchall()

        keys = ("trial_id", "condition", "device", "seconds", "estimate_s", "deps")
        return [{**dict(zip(keys, row, strict=True)), "deps": json.loads(row[5])} for row in self._read(query)]


def _link_tree(source: Path, target: Path) -> None:
    """Copy a trial's artifact folder; hard links cost no space, and artifacts are only ever replaced whole
    (`write_atomic`), never edited in place, so a link cannot change under its other name."""
    if not source.is_dir():
        return

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy, dirs_exist_ok=True)
