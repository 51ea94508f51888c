"""Reading checkpoints' ArchInfo in a child process, so a page never waits for it on its first render.

The first look at the bundled ONNX and GGUF checkpoints takes seconds (importing onnx and reading smollm2's GGUF
metadata, ~6 s on 2 cores); after that `arch_info` answers from its disk cache. The dashboard asks the shared
`Warmer` for the catalog's ids at start-up and shows "reading…" for any not known yet. The reading happens in a
child process (``python -m embedxfer.checkpoints.warm ID ...``), not a thread: a thread would hold the GIL for
those seconds and slow the very page render it is meant to spare. The child writes the disk cache and prints one
JSON line per id; a small thread here reads the lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

from embedxfer.checkpoints.arch import arch_info, known_arch_info
from embedxfer.checkpoints.info import ArchInfo
from embedxfer.errors import EmbedxferError

#: How long a failed read is reported before it is tried again (a folder may have been fixed meanwhile).
RETRY_SECONDS = 30.0


class Warmer:
    """Reads the ArchInfo of requested ids in a child process; `result(id)` is the ArchInfo, the error reading
    raised, or None while it is pending."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[str] = []
        self._results: dict[str, ArchInfo | EmbedxferError] = {}
        self._read_at: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def request(self, ids: Iterable[str]) -> None:
        """Read every id not known yet (in the background); returns at once."""
        with self._lock:
            for checkpoint_id in ids:
                if checkpoint_id not in self._results and checkpoint_id not in self._queue:
                    self._queue.append(checkpoint_id)
            if self._queue and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._work, name="embedxfer-arch-info", daemon=True)
                self._thread.start()

    def result(self, checkpoint_id: str) -> ArchInfo | EmbedxferError | None:
        known = known_arch_info(checkpoint_id)
        if known is not None:
            return known
        with self._lock:
            found = self._results.get(checkpoint_id)
            if isinstance(found, EmbedxferError) and time.monotonic() - self._read_at[checkpoint_id] > RETRY_SECONDS:
                del self._results[checkpoint_id]
                return None
            return found

    def _work(self) -> None:
        while True:
            with self._lock:
                batch = list(self._queue)
            if not batch:
                return
            for checkpoint_id, result in _read_in_child(batch):
                with self._lock:
                    self._results[checkpoint_id] = result
                    self._read_at[checkpoint_id] = time.monotonic()
            with self._lock:
                self._queue = [c for c in self._queue if c not in batch]


def _read_in_child(ids: list[str]) -> list[tuple[str, ArchInfo | EmbedxferError]]:
    """Run this module as a child on `ids`; every id gets a result, even if the child dies."""
    results: dict[str, ArchInfo | EmbedxferError] = {}
    try:
        child = subprocess.run(
            [sys.executable, "-m", "embedxfer.checkpoints.warm", *ids], capture_output=True, text=True, check=False
        )
        lines = child.stdout.splitlines()
    except OSError as exc:
        lines = []
        failure = f"could not start a reader process ({exc})"
    else:
        failure = f"the reader process stopped ({child.stderr.strip().splitlines()[-1:] or child.returncode})"
    for line in lines:
        try:
            item = json.loads(line)
            results[item["id"]] = ArchInfo(**item["info"]) if "info" in item else EmbedxferError(item["error"])
        except (ValueError, KeyError, TypeError):
            continue
    return [(i, results.get(i) or EmbedxferError(f"Cannot read checkpoint {i}: {failure}.")) for i in ids]


def shared_warmer() -> Warmer:
    """The process-wide warmer (one reader at a time per process, however many sessions ask)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Warmer()
        return _SHARED


_SHARED: Warmer | None = None
_SHARED_LOCK = threading.Lock()


def main(ids: list[str]) -> int:
    """Read each id's ArchInfo (filling the disk cache) and print one JSON line per id: {"id", "info"|"error"}."""
    for checkpoint_id in ids:
        try:
            line = {"id": checkpoint_id, "info": arch_info(checkpoint_id).to_dict()}
        except EmbedxferError as exc:
            line = {"id": checkpoint_id, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - shown for that row, never raised
            line = {"id": checkpoint_id, "error": f"Cannot read checkpoint {checkpoint_id} ({type(exc).__name__})."}
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
