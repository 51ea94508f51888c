"""Per-process singletons for the pages: the job manager (and its store), device facts, cached lookups.

One `JobManager` per server process and store folder, held by `st.cache_resource`: its worker threads
outlive any browser tab, so a run keeps going when the tab closes, and every tab reads the same live
state from it and from the store. Nothing here trains; pages submit configs and read results.

Environment:
    EMBEDXFER_HOME     the store folder (default ~/.embedxfer)
    EMBEDXFER_BACKEND  thread (default) or ray, as the CLI's --backend
    EMBEDXFER_WORKERS  worker threads of the thread backend, read by `embedxfer.devices` exactly as the CLI reads it
    EMBEDXFER_RAY_*    the Ray backend's address and per-trial resources (`embedxfer.ray_backend.settings`)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import streamlit as st

from embedxfer import paths
from embedxfer.devices import ENV_WORKERS
from embedxfer.ray_backend.settings import ENV_ADDRESS, ENV_BACKEND, ENV_CPUS, ENV_GPUS, ENV_RETRIES

if TYPE_CHECKING:
    from embedxfer.job_base import ManagerBase
    from embedxfer.store import Store

#: settings that choose the manager: a change gets a new one (the cache key holds their values)
_MANAGER_ENV = (ENV_BACKEND, ENV_WORKERS, ENV_ADDRESS, ENV_CPUS, ENV_GPUS, ENV_RETRIES)


def _release(manager: ManagerBase) -> None:
    # Only runs when the cache is cleared (tests, "Clear cache"): stop taking trials; running ones end
    # `interrupted` at their next step so `resume` can pick them up.
    manager.shutdown(wait=False)


@st.cache_resource(show_spinner="Starting the job manager…", on_release=_release)
def _manager_for(home: str, settings: tuple[str, ...]) -> ManagerBase:
    """`settings` (the values of _MANAGER_ENV) are part of the cache key: a changed setting gets its own manager."""
    from embedxfer.backends import open_manager
    from embedxfer.store import Store

    return open_manager(Store(home))


def job_manager() -> ManagerBase:
    """The process-wide job manager for the current EMBEDXFER_HOME and backend settings (created on first use)."""
    return _manager_for(str(paths.home()), tuple(os.environ.get(name, "") for name in _MANAGER_ENV))


def store() -> Store:
    return job_manager().store


@st.cache_resource(show_spinner=False)
def device_facts() -> dict[str, Any]:
    """CPU or the CUDA devices' names and memory. torch is imported only where a GPU driver is loaded (without one
    there is no CUDA to ask about), so a CPU machine's first page render does not wait ~2 s for it."""
    from embedxfer.devices import cpu_threads, may_have_gpu

    if not may_have_gpu():
        return {"cuda": False, "devices": [], "threads": cpu_threads()}
    import torch

    facts: dict[str, Any] = {"cuda": torch.cuda.is_available(), "devices": [], "threads": torch.get_num_threads()}
    if facts["cuda"]:
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            facts["devices"].append({"index": i, "name": props.name, "total": props.total_memory})
    return facts


def gpu_memory_in_use(index: int) -> int | None:
    """Bytes in use on CUDA device `index` (all processes), or None when it cannot be read."""
    import torch  # already imported by device_facts

    try:
        free, total = torch.cuda.mem_get_info(index)
    except Exception:  # noqa: BLE001 - a driver hiccup must not break the sidebar
        try:
            return int(torch.cuda.memory_reserved(index))
        except Exception:  # noqa: BLE001
            return None
    return int(total - free)


# --- catalog lookups (cheap, but used on every render of the forms) -------------------------------------------------


@st.cache_data(ttl=30, show_spinner=False)
def _checkpoint_ids(home: str, extra: str) -> list[str]:
    from embedxfer.workspace import known_checkpoint_ids

    return known_checkpoint_ids()


@st.cache_data(ttl=30, show_spinner=False)
def _task_names(home: str) -> list[str]:
    from embedxfer.workspace import known_task_names

    return known_task_names()


def checkpoint_ids() -> list[str]:
    """Checkpoint ids to offer: installed bundled ones, then EMBEDXFER_EXTRA_CHECKPOINTS and dashboard additions."""
    from embedxfer.workspace import ENV_EXTRA_CHECKPOINTS

    return _checkpoint_ids(str(paths.home()), os.environ.get(ENV_EXTRA_CHECKPOINTS, ""))


def task_names() -> list[str]:
    """Built-in task names, then data files registered in the dashboard."""
    return _task_names(str(paths.home()))


def clear_catalog_caches() -> None:
    """After adding or removing a checkpoint or task, so every widget offers the new list at once."""
    _checkpoint_ids.clear()
    _task_names.clear()


def arch_warmer() -> Any:
    """The process-wide background reader of checkpoints' ArchInfo (see `embedxfer.checkpoints.warm`)."""
    from embedxfer.checkpoints.warm import shared_warmer

    return shared_warmer()


def warm_catalog() -> None:
    """Start reading every offered checkpoint's ArchInfo in the background (cheap once they are known)."""
    try:
        arch_warmer().request(checkpoint_ids())
    except Exception:  # noqa: BLE001 - warming is an optimisation; the Checkpoints page reports real problems
        pass
