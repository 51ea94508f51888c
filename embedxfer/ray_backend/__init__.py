"""The Ray backend: every trial a Ray task, on a local Ray or an existing cluster; the driver writes the store.

Pieces, each with one job (docs/architecture.md, "Backends"):

- `settings`  -- `RaySettings` (address, CPUs and GPUs per trial, retries) from CLI options or EMBEDXFER_RAY_*
- `needs`     -- what a config's workers need on their node (local folders, files, bundled checkpoints)
- `cluster`   -- connecting to Ray, describing its nodes, checking every node has what a config needs
- `mailbox`   -- the actor through which running trials send progress and metrics and hear about cancels
- `remote`    -- what runs inside a Ray task: one trial, with its artifacts shipped back as bytes
- `manager`   -- `RayJobManager`, the driver: submits tasks, writes the store, handles cancels and lost workers

Only `manager`, `cluster` and `remote` import ray, and only when used: `make app` works without Ray installed.
"""

from embedxfer.ray_backend.settings import RAY_INSTALL_HINT, RaySettings

__all__ = ["RAY_INSTALL_HINT", "RaySettings"]
