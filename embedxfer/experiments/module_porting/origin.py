"""The module every condition of a (technique, origin host, seed) starts from, trained once and cached on disk.

The `origin` trial and the `ported` / `sampled` trials of the same seed need the same trained module. Whichever
runs first trains it (or reads it from `origin_module`) under a per-key lock; the others wait on the lock and read
it, so the order in which workers pick trials does not matter and `resume` never retrains it. The key holds
everything the module depends on (origin weights fingerprint, technique and its hyperparameters or the module
file's hash, task content, train size, seed, steps, optimisation, evaluation subset), so a cached module is never
stale. Only the `origin` trial logs the training curve; a receiving trial that trains it logs nothing of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.module_porting.config import ModulePortingConfig
from embedxfer.planning.keys import file_identity
from embedxfer.porting.techniques import ModuleSpec, module_spec
from embedxfer.trials import TrialContext

if TYPE_CHECKING:
    import torch

_FORMAT = 2  # 2: test metrics include macro_f1 and majority_rate
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_TENSORS, _META, _ZIP = "module.safetensors", "meta.json", "module.zip"


@dataclass
class OriginModule:
    """A trained module on its origin host: tensors by canonical name (head.* included), metrics and curve."""

    tensors: dict[str, torch.Tensor]
    metrics: dict[str, float]
    evals: list[dict[str, float]]
    cached: bool
    #: the module and head in the adapters format, zipped (what the origin trial offers for download)
    archive: bytes = b""


def spec_for(config: ModulePortingConfig, technique: str, family: str) -> ModuleSpec:
    """The module of `technique` under this config: from `origin_module` when given, else the config's
    hyperparameters."""
    if config.origin_module:
        from embedxfer.porting.files import read_module

        return read_module(config.origin_module, family).spec
    return module_spec(technique, **config.hyperparameters(technique))


def origin_key(config: ModulePortingConfig, spec: ModuleSpec, origin: str, seed: int, task_hash: str) -> str:
    from embedxfer.checkpoints import checkpoint_fingerprint

    parts: list[Any] = [
        _FORMAT,
        checkpoint_fingerprint(origin),
        spec.technique,
        spec.hyperparameters,
        spec.raw,
        file_identity(config.origin_module) if config.origin_module else None,
        task_hash,
        config.train_size,
        seed,
        config.origin_steps,
        config.lr,
        config.schedule,
        config.batch_size,
        config.max_length,
        config.pooling,
        config.eval_size,
        config.eval_every,
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _lock(digest: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(digest, threading.Lock())


def obtain_origin(
    config: ModulePortingConfig, technique: str, origin: str, seed: int, ctx: TrialContext, *, log: bool
) -> OriginModule:
    """The trained origin module for (technique, origin, seed): from the cache, or trained now (its curve logged
    into `ctx` only when `log`)."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.paths import cache_dir
    from embedxfer.tasks import load_task

    task = load_task(config.task)
    spec = spec_for(config, technique, arch_info(origin).family)
    digest = origin_key(config, spec, origin, seed, task.content_hash())
    folder = cache_dir("porting", digest)
    lock = _lock(digest)
    ctx.report({"phase": "origin module"})
    while not lock.acquire(timeout=0.5):  # another trial is training it: wait, but stay cancellable
        ctx.check_cancel()
    try:
        if (folder / _META).is_file():
            return _read(folder)
        quiet = ctx if log else dataclasses.replace(ctx, log_metrics=_ignore_metrics, report=_origin_phase(ctx))
        module = _train(config, spec, origin, seed, task.subsample(config.train_size, seed=seed), quiet)
        _write(folder, module)
        return module
    finally:
        lock.release()


def _ignore_metrics(step: int, metrics: dict[str, float]) -> None:
    """A receiving trial that trains the origin module does not log the origin's curve as its own."""


def _origin_phase(ctx: TrialContext):
    def report(progress: dict[str, Any]) -> None:
        ctx.report({**progress, "phase": f"origin module: {progress.get('phase', 'train')}"})

    return report


def _train(config: ModulePortingConfig, spec: ModuleSpec, origin: str, seed: int, task, ctx: TrialContext):
    from embedxfer.experiments.module_porting.training import build_host, evaluate_host, prefixed, train_host

    host = build_host(origin, spec, task, config, seed)
    device = ctx.device_for(config.device)
    metrics: dict[str, Any] = {"origin_from_file": 0.0}
    steps = config.origin_steps
    if config.origin_module:
        steps = _load_file(config.origin_module, host, steps)
        metrics["origin_from_file"] = 1.0
    ctx.check_cancel()
    evals: list[dict[str, float]] = []
    if steps:
        trained = train_host(host, config, steps, seed, ctx, device, task.metric)
        evals = trained.pop("evals")
        metrics |= trained
    ctx.report({"phase": "test"})
    metrics |= prefixed(evaluate_host(host, "test", config, device, task.metric), "test")
    tensors = {name: p.detach().cpu().clone() for name, p in host.module_parameters().items()}
    metrics["module_parameters"] = float(sum(t.numel() for n, t in tensors.items() if not n.startswith("head.")))
    about = {"technique": spec.technique, "host": origin, "task": config.task, "seed": seed, "metrics": metrics}
    archive = module_archive(host, {"embedxfer_module.json": about})
    return OriginModule(tensors, metrics, evals, cached=False, archive=archive)


def module_archive(host, extra: dict[str, Any]) -> bytes:
    """The host's module and head in the adapters format with `extra` JSON files beside them, as zip bytes."""
    import tempfile

    from embedxfer.porting.files import save_module, zip_folder

    with tempfile.TemporaryDirectory(prefix="embedxfer-module-") as tmp:
        return zip_folder(save_module(Path(tmp), host.model.backbone, host.model.head, extra=extra))


def _load_file(path: str, host, steps: int) -> int:
    """Put a module file's tensors into the origin host (complete or not at all). The module is used as loaded:
    with the file's head nothing trains (0 steps); without one, only a fresh head trains for `steps`."""
    import torch

    from embedxfer.porting.files import check_complete, read_module

    file = read_module(path, host.family)
    params = host.module_parameters()
    module = {n: p for n, p in params.items() if not n.startswith("head.")}
    check_complete(file, {n: tuple(p.shape) for n, p in module.items()}, host.checkpoint)
    with torch.no_grad():
        for name, param in module.items():
            param.copy_(file.tensors[name])
        if file.head is not None:
            for name, value in file.head.items():
                if name not in params or tuple(params[name].shape) != tuple(value.shape):
                    raise ConfigError(
                        f"Module file {path}: its head {name} {tuple(value.shape)} does not fit this task's head "
                        f"{tuple(params[name].shape) if name in params else '(none)'}; was it trained on another task?"
                    )
                params[name].copy_(value)
    if file.head is not None:
        return 0
    for param in module.values():
        param.requires_grad_(False)
    return steps


def _write(folder: Path, module: OriginModule) -> None:
    from safetensors.torch import save

    from embedxfer.paths import write_atomic

    tensors = {name: t.contiguous() for name, t in module.tensors.items()}
    write_atomic(folder / _TENSORS, save(tensors))
    write_atomic(folder / _ZIP, module.archive)
    write_atomic(folder / _META, {"metrics": module.metrics, "evals": module.evals})  # last: marks it complete


def _read(folder: Path) -> OriginModule:
    from safetensors.torch import load

    meta = json.loads((folder / _META).read_text())
    tensors = load((folder / _TENSORS).read_bytes())
    archive = (folder / _ZIP).read_bytes()
    return OriginModule(tensors, meta["metrics"], meta["evals"], cached=True, archive=archive)
