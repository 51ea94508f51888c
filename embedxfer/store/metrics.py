"""Per-step metrics, final metrics and the event log of the run store (a mixin over `Database`).

Step metrics are many small rows written while a trial trains: `MetricBuffer` batches them so a trial does
not commit once per step. Final metrics are one row per (trial, metric) and are written together with the
trial's final status (`Store.finish_trial`), so a reader never sees a completed trial without its results.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from embedxfer.store.db import Database


class MetricsAndEvents(Database):
    """The metrics and events tables; `Store` adds experiments, trials and artifacts."""

    def log_step_metrics(self, trial_id: str, rows: Iterable[tuple[int, str, float]]) -> int:
        """Store (step, name, value) rows in one transaction (a repeated step/name overwrites); returns the count."""
        batch = [(trial_id, int(step), str(name), _as_float(value)) for step, name, value in rows]
        if batch:
            self._write(lambda conn: conn.executemany("INSERT OR REPLACE INTO step_metrics VALUES (?, ?, ?, ?)", batch))
        return len(batch)

    @staticmethod
    def _insert_final(conn: sqlite3.Connection, trial_id: str, metrics: dict[str, float]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO final_metrics VALUES (?, ?, ?)",
            [(trial_id, str(k), _as_float(v)) for k, v in metrics.items()],
        )

    def set_final_metrics(self, trial_id: str, metrics: dict[str, float]) -> None:
        self._write(lambda conn: self._insert_final(conn, trial_id, metrics))

    def final_metrics(self, trial_id: str) -> dict[str, float | None]:
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT name, value FROM final_metrics WHERE trial_id = ? ORDER BY name", (trial_id,)
            ).fetchall()
        )
        return dict(rows)

    def step_metrics(self, trial_id: str, names: Sequence[str] | None = None) -> Any:
        """A trial's per-step metrics as a DataFrame (step, name, value), sorted by name then step."""
        import pandas as pd

        sql = "SELECT step, name, value FROM step_metrics WHERE trial_id = ?"
        args: list[Any] = [trial_id]
        if names:
            sql += f" AND name IN ({', '.join('?' * len(names))})"
            args += list(names)
        rows = self._read(lambda conn: conn.execute(sql + " ORDER BY name, step", args).fetchall())
        return pd.DataFrame(rows, columns=["step", "name", "value"]).astype({"value": float})

    def experiment_step_metrics(self, experiment_id: str, names: Sequence[str] | None = None) -> Any:
        """Per-step metrics of all the experiment's trials: trial_id, condition, seed, step, name, value."""
        import pandas as pd

        sql = (
            "SELECT t.id, t.condition, t.seed, m.step, m.name, m.value FROM step_metrics m "
            "JOIN trials t ON t.id = m.trial_id WHERE t.experiment_id = ?"
        )
        args: list[Any] = [experiment_id]
        if names:
            sql += f" AND m.name IN ({', '.join('?' * len(names))})"
            args += list(names)
        rows = self._read(lambda conn: conn.execute(sql + " ORDER BY t.idx, m.name, m.step", args).fetchall())
        columns = ["trial_id", "condition", "seed", "step", "name", "value"]
        return pd.DataFrame(rows, columns=columns).astype({"value": float})

    def add_event(self, experiment_id: str, message: str, *, trial_id: str | None = None, level: str = "info") -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO events (experiment_id, trial_id, time, level, message) VALUES (?, ?, ?, ?, ?)",
                (experiment_id, trial_id, time.time(), level, message),
            )
        )

    def events(self, experiment_id: str, *, trial_id: str | None = None, limit: int | None = None) -> list[dict]:
        """Events oldest first (dicts: time, level, message, trial_id); `limit` keeps the newest."""
        sql = "SELECT id, time, level, message, trial_id FROM events WHERE experiment_id = ?"
        args: list[Any] = [experiment_id]
        if trial_id:
            sql += " AND trial_id = ?"
            args.append(trial_id)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [{"time": r[1], "level": r[2], "message": r[3], "trial_id": r[4]} for r in reversed(rows)]


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class MetricBuffer:
    """Collects a trial's per-step metrics and writes them in batches (every `max_rows` rows or `max_seconds`)
    instead of one commit per step. Call `flush()` at the end of the trial."""

    def __init__(
        self, store: MetricsAndEvents, trial_id: str, *, max_rows: int = 500, max_seconds: float = 2.0
    ) -> None:
        self.store, self.trial_id = store, trial_id
        self.max_rows, self.max_seconds = max_rows, max_seconds
        self._rows: list[tuple[int, str, float]] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def add(self, step: int, metrics: dict[str, float]) -> None:
        with self._lock:
            self._rows.extend((int(step), name, value) for name, value in metrics.items())
            due = len(self._rows) >= self.max_rows or time.monotonic() - self._last_flush >= self.max_seconds
        if due:
            self.flush()

    def flush_if_due(self) -> int:
        """Flush when rows have waited `max_seconds`: a trial that stops logging (evaluating, waiting) still shows
        its latest rows, since `add` only checks when a row comes in."""
        with self._lock:
            due = bool(self._rows) and time.monotonic() - self._last_flush >= self.max_seconds
        return self.flush() if due else 0

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
        return self.store.log_step_metrics(self.trial_id, rows) if rows else 0
