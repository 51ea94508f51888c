"""Which devices trials run on, and how many worker threads each device gets: decided here, for the CLI and the
dashboard alike.

Workers are written ``DEVICE[=COUNT]`` separated by commas, e.g. ``cpu=1`` or ``cuda:0=1,cpu=1`` (``cpu:2``
means two CPU workers too). `configured_workers` reads them from ``EMBEDXFER_WORKERS``; without it each visible
CUDA device gets EMBEDXFER_GPU_PACK workers (default 4) that share it by memory (`embedxfer.gpu_packing`), plus
one on CPU. Explicit counts run exactly as given. A trial's config asks for a device (``auto``, ``cpu``,
``cuda``, ``cuda:N``) and `may_run` says which workers may take it.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from embedxfer.errors import ConfigError
from embedxfer.gpu_packing import check_cap, pack_cap

if TYPE_CHECKING:
    import torch

ENV_WORKERS = "EMBEDXFER_WORKERS"
_WORKER_KEY = re.compile(r"^(cpu|cuda|cuda:\d+)$")


def resolve_device(device: str = "auto") -> torch.device:
    """auto -> cuda when available, else cpu; ConfigError when cuda is asked for and absent."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but no CUDA GPU is available; use 'auto' or 'cpu'.")
    return torch.device(device)


def may_have_gpu() -> bool:
    """False only when this is Linux and no GPU driver is loaded (no NVIDIA or ROCm device files): then CUDA
    cannot be available and torch need not be imported (~2 s) to find that out, e.g. on a page's first render."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return True
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/kfd"))


class PackedWorkers(dict[str, int]):
    """The default workers of a machine with GPUs: `gpu_pack` threads per GPU, which start trials only while their
    estimated memory fits the device (`embedxfer.gpu_packing`). Counts given explicitly (EMBEDXFER_WORKERS,
    --workers, a mapping passed to the job manager) are plain dicts and run exactly as given."""

    def __init__(self, workers: Mapping[str, int], gpu_pack: int) -> None:
        super().__init__(workers)
        self.gpu_pack = gpu_pack


def visible_gpus() -> list[str]:
    """``cuda:N`` for each CUDA device torch sees (none without torch or a driver)."""
    if not may_have_gpu():
        return []
    try:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    except ImportError:
        return []


def default_workers(gpu_pack: int | None = None) -> dict[str, int]:
    """`gpu_pack` workers per visible CUDA device (default EMBEDXFER_GPU_PACK, else 4), then one on CPU."""
    gpus = visible_gpus()
    if not gpus:
        return {"cpu": 1}
    cap = pack_cap() if gpu_pack is None else check_cap(gpu_pack)
    return PackedWorkers({**dict.fromkeys(gpus, cap), "cpu": 1}, cap)


@functools.cache
def bf16_supported(device: str) -> bool:
    """Whether a CUDA device computes in bf16 natively (NVIDIA from compute capability 8.0, ROCm's GPUs); the
    engine autocasts to bf16 only there, since emulated bf16 is slower than fp32."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return False
    with torch.cuda.device(torch.device(device)):
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def cpu_threads() -> int:
    """Threads torch uses on CPU (its default: the cores this process may run on), without importing torch."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_workers(text: str, *, source: str = ENV_WORKERS) -> dict[str, int]:
    """``"cpu=1,cuda:0=1"`` -> {"cpu": 1, "cuda:0": 1}; a bare device is one worker, a bare number N is N on CPU."""
    workers: dict[str, int] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        device, sep, count = item.partition("=")
        device = device.strip()
        if not sep and device.isdigit():
            device, count = "cpu", device
        elif not sep and device.startswith("cpu:"):
            device, count = "cpu", device[4:]
        try:
            n = int(count) if count.strip() else 1
        except ValueError:
            raise ConfigError(
                f"{source} item {item!r} must be DEVICE or DEVICE=COUNT, e.g. cpu=1 or cuda:0=1."
            ) from None
        workers[device] = workers.get(device, 0) + n
    if not workers:
        raise ConfigError(f"{source} names no workers; use e.g. cpu=1.")
    return workers


def configured_workers(text: str | None = None, *, gpu_pack: int | None = None) -> dict[str, int]:
    """Workers from `text` (a CLI option), else from EMBEDXFER_WORKERS, else `default_workers(gpu_pack)`."""
    if text is not None and text.strip():
        return parse_workers(text, source="--workers")
    env = os.environ.get(ENV_WORKERS, "")
    return parse_workers(env) if env.strip() else default_workers(gpu_pack)


def worker_devices(workers: Mapping[str, int], *, check_devices: bool = True) -> list[str]:
    """Validate a {device: count} mapping; one device name per worker thread, cuda devices first."""
    devices: list[str] = []
    for key, count in workers.items():
        if not _WORKER_KEY.match(str(key)):
            raise ConfigError(f"Worker device {key!r} must be cpu, cuda or cuda:N.")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ConfigError(f"Worker count for {key!r} must be a whole number >= 0, got {count!r}.")
        device = "cuda:0" if key == "cuda" else key
        if check_devices and device.startswith("cuda") and count:
            import torch

            index = int(device.split(":")[1])
            if not torch.cuda.is_available() or index >= torch.cuda.device_count():
                raise ConfigError(f"Worker device {device} is not available here; use cpu or a visible GPU.")
        devices += [device] * count
    if not devices:
        raise ConfigError("The job manager needs at least one worker, e.g. workers={'cpu': 1}.")
    return sorted(devices, key=lambda d: (d == "cpu", d))


def may_run(requested: str, worker: str, *, cuda_idle: bool) -> bool:
    """Whether a worker on `worker` may take a trial whose config asks for `requested`.

    ``cpu`` -> cpu workers only; ``cuda`` -> any cuda worker; ``cuda:N`` -> that device; ``auto`` -> a cuda
    worker, or the cpu worker when no cuda worker is idle (`cuda_idle` says whether one is).
    """
    if requested == "cpu":
        return worker == "cpu"
    if requested == "cuda":
        return worker.startswith("cuda")
    if requested.startswith("cuda:"):
        return worker == requested
    return worker.startswith("cuda") or not cuda_idle
