"""The SQLite side of the run store: schema (version 2), per-thread connections, retried transactions.

WAL mode lets one process write while others read. Each thread gets its own connection (a forked child
opens a fresh one). Writes run in ``BEGIN IMMEDIATE`` transactions and are retried with backoff while
another connection holds the write lock, so two processes writing at once wait instead of failing.
Bump SCHEMA_VERSION when a table changes and teach `Database` to migrate older files; a store written by
a newer version is refused with a clear StoreError instead of being misread.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from embedxfer import paths
from embedxfer.errors import StoreError

T = TypeVar("T")

SCHEMA_VERSION = 3

SCHEMA_SQL = (
    """CREATE TABLE IF NOT EXISTS experiments (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL,           -- JSON, as submitted (with "kind")
        created_at REAL NOT NULL,       -- unix seconds
        updated_at REAL NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS experiments_created ON experiments (created_at)",
    """CREATE TABLE IF NOT EXISTS trials (
        id TEXT PRIMARY KEY,            -- <experiment_id>-t<idx:03d>
        experiment_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        condition TEXT NOT NULL,
        seed INTEGER NOT NULL,
        params TEXT NOT NULL,           -- JSON
        status TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER,
        error TEXT,
        started_at REAL,
        finished_at REAL,
        owner_pid INTEGER,              -- the process that queued / runs it, for mark_interrupted
        owner_host TEXT,
        device TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        backend TEXT,                   -- what ran it: thread | ray (schema 2)
        reused_from TEXT                -- the finished trial whose results it holds instead of running (schema 3)
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS trials_experiment ON trials (experiment_id, idx)",
    "CREATE INDEX IF NOT EXISTS trials_status ON trials (status)",
    "CREATE INDEX IF NOT EXISTS trials_finished ON trials (finished_at)",
    """CREATE TABLE IF NOT EXISTS step_metrics (
        trial_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL,                     -- NULL for NaN
        PRIMARY KEY (trial_id, name, step)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS final_metrics (
        trial_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (trial_id, name)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id TEXT NOT NULL,
        trial_id TEXT,
        time REAL NOT NULL,
        level TEXT NOT NULL,            -- info | warning | error
        message TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_experiment ON events (experiment_id, id)",
    """CREATE TABLE IF NOT EXISTS trial_keys (
        trial_id TEXT PRIMARY KEY,
        identity TEXT NOT NULL,         -- kind, condition, params, seed, version (planning/keys.py)
        deps TEXT,                      -- JSON, once completed: what it read and the values it saw; NULL: no reuse
        estimate_s REAL                 -- the kind's formula seconds per trial when it was planned
    )""",
    "CREATE INDEX IF NOT EXISTS trial_keys_identity ON trial_keys (identity)",
)


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Database:
    """Connections and transactions for ``<root>/store.sqlite`` (root defaults to the embedxfer home)."""

    def __init__(self, root: str | os.PathLike | None = None, *, lock_timeout: float = 120.0) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else paths.home()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "store.sqlite"
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        # (owning thread, connection): lets close() reach every connection, and connections of threads that
        # ended (Streamlit runs each rerun in a new thread) get closed instead of piling up.
        # A connection inherited through fork is dropped, never closed or used (SQLite forbids that).
        self._all_conns: list[tuple[int, weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._init_schema()

    # ---------------------------------------------------------------- connections and transactions
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            # SQLite's own busy wait (short) plus our retry loop (up to lock_timeout) ride out other writers.
            busy = min(5.0, self.lock_timeout)
            conn = sqlite3.connect(self.path, timeout=busy, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses at most the last commit
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Cannot open the store {self.path}: {exc}; check the file or move it away.") from None
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._conns_lock:
            alive = []
            for pid, thread_ref, other in self._all_conns:
                if pid != os.getpid():
                    continue
                thread = thread_ref()
                if thread is None or not thread.is_alive():
                    _close_quietly(other)
                else:
                    alive.append((pid, thread_ref, other))
            alive.append((os.getpid(), weakref.ref(threading.current_thread()), conn))
            self._all_conns = alive
        return conn

    def _transaction(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run `fn` in one transaction; retry with backoff while another connection holds the lock."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        while True:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = fn(conn)
                    conn.execute("COMMIT")
                    return result
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise StoreError(f"The store {self.path} failed: {exc}.") from None
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"The store {self.path} stayed locked for {self.lock_timeout:.0f} s; another process "
                        "holds it. Try again, or stop the other embedxfer process."
                    ) from None
                time.sleep(delay * (1.0 + random.random()))
                delay = min(delay * 2.0, 0.25)
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> StoreError:
        return StoreError(f"The store {self.path} is unreadable ({exc}); move it away to start afresh.")

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._transaction(fn, write=True)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._transaction(fn, write=False)

    def _init_schema(self) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:  # switching to WAL needs a moment of exclusive access
            try:
                self._conn().execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise StoreError(f"Cannot open the store {self.path}: {exc}.") from None
                time.sleep(0.02)
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from None

        def init(conn: sqlite3.Connection) -> None:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            found = row[0] if row else None
            if found is not None and found > SCHEMA_VERSION:
                raise StoreError(
                    f"The store {self.path} was written by a newer embedxfer (schema {found}, this version reads "
                    f"{SCHEMA_VERSION}); upgrade embedxfer or set EMBEDXFER_HOME to another folder."
                )
            for statement in SCHEMA_SQL:
                conn.execute(statement)
            if found is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif found < SCHEMA_VERSION:
                _migrate(conn, found)

        self._write(init)

    def close(self) -> None:
        """Close every connection this store opened (call once no thread uses it any more)."""
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for pid, _, conn in conns:
            if pid == os.getpid():
                _close_quietly(conn)
        self._local = threading.local()


def _migrate(conn: sqlite3.Connection, found: int) -> None:
    """Bring a store of an older schema up to SCHEMA_VERSION in place (older rows keep their values)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(trials)")}
    if found < 2 and "backend" not in columns:  # 2: which backend ran a trial
        conn.execute("ALTER TABLE trials ADD COLUMN backend TEXT")
    if found < 3 and "reused_from" not in columns:  # 3: reused trials (the trial_keys table is created above)
        conn.execute("ALTER TABLE trials ADD COLUMN reused_from TEXT")
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass
