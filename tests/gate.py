"""The test's side of the `gated` kind (tests/gated_kind.py): a gate folder that held trials wait on."""

from __future__ import annotations

import time
from pathlib import Path

from embedxfer.plugins import ENV_PLUGINS

#: the plugin file; import it only through `embedxfer.plugins.load_plugin` (it registers the kind on import)
GATED_KIND = Path(__file__).with_name("gated_kind.py")
#: file names shared with tests/gated_kind.py
OPEN, WAITING = "open", "waiting-"


def plugin_env() -> dict[str, str]:
    """Environment that makes another process (CLI, dashboard, Ray worker) know the `gated` kind."""
    return {ENV_PLUGINS: str(GATED_KIND)}


class Gate:
    """A gate folder: held trials wait at it until the test calls `open`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def config(self, **fields) -> dict:
        """A `gated` experiment config waiting on this gate."""
        return {"kind": "gated", "gate": str(self.folder), **fields}

    def open(self, seed: int | None = None) -> None:
        """Let every held trial go on, or only the trials of `seed`."""
        (self.folder / (OPEN if seed is None else f"{OPEN}-{seed}")).touch()

    def waiting(self) -> list[str]:
        """Trial ids that have reached the gate (they may since have gone on or ended)."""
        return sorted(p.name.removeprefix(WAITING) for p in self.folder.glob(f"{WAITING}*"))

    def wait_for(self, count: int = 1, *, timeout: float = 240.0) -> list[str]:
        """Until `count` trials have reached the gate (the timeout only guards against a hang)."""
        deadline = time.monotonic() + timeout
        while len(self.waiting()) < count:
            assert time.monotonic() < deadline, f"no {count} trial(s) reached the gate {self.folder}"
            time.sleep(0.05)
        return self.waiting()
