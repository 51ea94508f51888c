"""Which backend runs trials: worker threads in this process (`thread`, the default) or Ray tasks (`ray`).

The CLI's `--backend` and the dashboard's EMBEDXFER_BACKEND choose; both managers have the same interface
(`embedxfer.job_base.ManagerBase`), so nothing else needs to know which one it got.
"""

from __future__ import annotations

from collections.abc import Mapping

from embedxfer.job_base import ManagerBase
from embedxfer.ray_backend.settings import RaySettings, configured_backend
from embedxfer.store import Store


def open_manager(
    store: Store | None = None,
    *,
    backend: str | None = None,
    workers: Mapping[str, int] | None = None,
    ray_settings: RaySettings | None = None,
) -> ManagerBase:
    """A job manager of `backend` (default: EMBEDXFER_BACKEND, else thread). `workers` is for the thread backend
    (EMBEDXFER_WORKERS by default), `ray_settings` for Ray (EMBEDXFER_RAY_* by default)."""
    if configured_backend(backend) == "ray":
        from embedxfer.ray_backend.manager import RayJobManager

        return RayJobManager(store, ray_settings)
    from embedxfer.jobs import JobManager

    return JobManager(store, workers)
