"""Connecting to Ray, describing the cluster, and checking every node has what a config needs, before submitting.

A local Ray (no address) is started by this process with no dashboard and its workers' output kept out of
the driver's terminal; it ends with the process. Joining a cluster (``auto``, ``ray://host:port``) leaves
the cluster running when the driver goes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from embedxfer.errors import EmbedxferError
from embedxfer.ray_backend.needs import Need
from embedxfer.ray_backend.settings import RAY_INSTALL_HINT, RaySettings

#: environment a local Ray's workers get from the driver, so they read the same store home, caches and roots
FORWARDED_PREFIXES = ("EMBEDXFER_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EmbedxferError(
            f"The Ray backend needs the `ray` package, which is not installed; {RAY_INSTALL_HINT}."
        ) from None
    return ray


def connect(settings: RaySettings) -> Callable[[], None] | None:
    """Make sure this process is connected to Ray as `settings` say. Returns how to disconnect when this call
    started the connection, None when the process was connected already (tests, notebooks: left as it is).

    Ray's local processes die with the *thread* that started them (Linux's parent-death signal is per thread),
    and a dashboard's script threads end after every rerun; so off the main thread the connection is made, and
    held, by a thread of its own that lives until `disconnect` is called."""
    ray = import_ray()
    if ray.is_initialized():
        return None
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
        "logging_level": "warning",
    }
    if settings.local:
        options["num_cpus"] = settings.local_cpus or os.cpu_count() or 1
        options["address"] = "local"
    else:
        options["address"] = settings.address
    if threading.current_thread() is threading.main_thread():
        _init(ray, options, settings)
        return ray.shutdown
    started, release, failure = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            _init(ray, options, settings)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failure.append(exc)
        started.set()
        if not failure:
            release.wait()
            ray.shutdown()

    threading.Thread(target=hold, name="embedxfer-ray-connection", daemon=True).start()
    started.wait()
    if failure:
        raise failure[0]
    return release.set


def _init(ray: Any, options: dict[str, Any], settings: RaySettings) -> None:
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EmbedxferError(
            f"Cannot connect to {settings.where()}: {exc}. Check the address (`ray status` on the head node prints "
            "it), or leave --address out to start a local Ray."
        ) from None


def worker_env(settings: RaySettings) -> dict[str, str]:
    """Environment sent with every trial: this process's EMBEDXFER_*/HF_* settings for a local Ray (same
    machine, same paths); nothing for a cluster, whose nodes keep their own homes and caches."""
    if not settings.local:
        return {}
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES)}


def describe() -> dict[str, Any]:
    """{"nodes", "cpus", "gpus"} of the connected cluster (alive nodes, total resources)."""
    ray = import_ray()
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {"nodes": len(nodes), "cpus": float(resources.get("CPU", 0)), "gpus": float(resources.get("GPU", 0))}


def check_nodes(needs: list[Need], where: str) -> None:
    """Ask every alive node which `needs` it lacks (one small task pinned to each node); EmbedxferError naming
    what is missing where, before anything is submitted."""
    ray = import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from embedxfer.ray_backend.remote import node_facts

    probe = ray.remote(num_cpus=0, max_retries=0)(node_facts)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {
        n.get("NodeManagerAddress", n["NodeID"]): probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)
        ).remote([need.to_dict() for need in needs])
        for n in nodes
    }
    reports = {node: ray.get(ref) for node, ref in refs.items()}
    problem = missing_message(reports, where)
    if problem:
        raise EmbedxferError(problem)


def missing_message(reports: dict[str, dict[str, Any]], where: str) -> str | None:
    """One sentence from {node: node_facts(...)}: what is missing on which nodes, or None when nothing is."""
    import embedxfer

    lines = []
    for node, report in sorted(reports.items()):
        missing = list(report.get("missing") or [])
        version = report.get("version")
        if version is not None and version != embedxfer.__version__:
            missing.append(f"embedxfer {embedxfer.__version__} (the node has {version})")
        if missing:
            lines.append(f"on node {node}: {'; '.join(missing)}")
    if not lines:
        return None
    return (
        f"Nothing was submitted: {len(lines)} of {len(reports)} node(s) of {where} lack what this experiment needs "
        f"({' | '.join(lines)}). Put these at the same path on every node (a shared folder), or install "
        "embedxfer with its requirements there."
    )
