"""The one training/evaluation loop every experiment uses.

Design choices (docs/architecture.md, "Performance"):
- batches come length-bucketed and dynamically padded (`embedxfer.data`);
- losses stay on the device and are read back only every `log_every` steps (one host sync per
  log, not per step); NaN/inf is detected at that point and pinned to its exact step;
- bf16 autocast (where the GPU computes bf16 natively) and the fused AdamW kernel on CUDA; plain fp32 on CPU,
  seeded and deterministic;
- a cancel token is checked every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from embedxfer.data import EncodedSplit, batch_order, collate
from embedxfer.devices import bf16_supported
from embedxfer.errors import ConfigError
from embedxfer.heads import predictions, task_loss, task_metric
from embedxfer.trials import TrialContext, TrialDiverged

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("linear", "constant")


@dataclass
class TrainSettings:
    """Optimisation settings for one training run."""

    epochs: float = 3.0
    max_steps: int | None = None
    lr: float = 2e-5
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    schedule: str = "linear"
    warmup_ratio: float = 0.0
    batch_size: int = 32
    eval_batch_size: int = 64
    grad_clip: float | None = 1.0
    #: evaluate on the validation sets every this many steps (None: only at the end)
    eval_every: int | None = None
    log_every: int = 10
    seed: int = 0
    bf16: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}.")
        if self.lr <= 0 or not math.isfinite(self.lr):
            raise ConfigError(f"lr must be a positive number, got {self.lr}.")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("batch_size must be at least 1.")
        if self.epochs <= 0 and not self.max_steps:
            raise ConfigError("epochs must be positive (or max_steps set).")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {self.max_steps}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}.")


@dataclass
class TrainResult:
    steps: int
    seconds: float
    examples_seen: int
    train_loss: float
    #: evaluation rows: {"step": int, "<split>_loss": float, "<split>_<metric>": float}
    evals: list[dict[str, float]] = field(default_factory=list)
    #: on CUDA, the most memory torch's allocator held in this process while training (several trials sharing one
    #: process and device, as thread workers do, count together)
    peak_gpu_memory_mb: float | None = None
    #: on CUDA, whether the forward passes ran under bf16 autocast (None on CPU, which always runs fp32)
    bf16_autocast: bool | None = None

    @property
    def examples_per_second(self) -> float:
        return self.examples_seen / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"examples_per_second": self.examples_per_second}

    def metrics(self, model: nn.Module) -> dict[str, float]:
        """The last evaluation row and the run's own figures, under the names every kind's summaries read."""
        final = self.evals[-1] if self.evals else {}
        return {
            **{k: v for k, v in final.items() if k != "step"},
            "train_loss": self.train_loss,
            "steps": float(self.steps),
            "train_seconds": self.seconds,
            "examples_per_second": self.examples_per_second,
            "trainable_parameters": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
            **({} if self.peak_gpu_memory_mb is None else {"peak_gpu_memory_mb": self.peak_gpu_memory_mb}),
            **({} if self.bf16_autocast is None else {"bf16_autocast": float(self.bf16_autocast)}),
        }


def threshold_metrics(evals: list[dict[str, float]], name: str, threshold: float | None) -> dict[str, float]:
    """`reached_threshold` (0/1) and, when reached, `steps_to_threshold`: the first evaluated step whose `name` is at
    least `threshold` (nothing without a threshold)."""
    if threshold is None:
        return {}
    step = next((row["step"] for row in evals if row.get(name, -math.inf) >= threshold), None)
    if step is None:
        return {"reached_threshold": 0.0}
    return {"reached_threshold": 1.0, "steps_to_threshold": float(step)}


def total_steps(n_examples: int, settings: TrainSettings) -> int:
    per_epoch = math.ceil(n_examples / settings.batch_size)
    steps = math.ceil(per_epoch * settings.epochs)
    return min(steps, settings.max_steps) if settings.max_steps else steps


def make_optimizer(
    params: list[nn.Parameter] | list[dict[str, Any]], settings: TrainSettings, device: torch.device
) -> torch.optim.Optimizer:
    fused = device.type == "cuda"  # the fused kernel exists for CUDA tensors only
    cls = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=settings.lr, weight_decay=settings.weight_decay, eps=1e-8, fused=fused)


def make_schedule(optimizer: torch.optim.Optimizer, settings: TrainSettings, steps: int):
    warmup = int(settings.warmup_ratio * steps)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if settings.schedule == "constant":
            return 1.0
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocasts_bf16(device: torch.device, settings: TrainSettings) -> bool:
    """bf16 autocast is used on CUDA devices that compute in bf16 natively (`devices.bf16_supported`), unless the
    settings turn it off."""
    return device.type == "cuda" and settings.bf16 and bf16_supported(str(device))


def _autocast(device: torch.device, settings: TrainSettings):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocasts_bf16(device, settings))


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@dataclass
class Predictions:
    """A model's predictions on a split, in batch order (labels alongside), and the mean loss."""

    loss: float
    predicted: np.ndarray
    labels: np.ndarray


@torch.no_grad()
def predict(
    model: nn.Module,
    split: EncodedSplit,
    *,
    classes: int,
    batch_size: int = 64,
    device: torch.device | None = None,
    settings: TrainSettings | None = None,
) -> Predictions:
    """Predictions and mean loss of `model` on a split (batches sorted by length: least padding)."""
    device = device or next(model.parameters()).device
    settings = settings or TrainSettings()
    was_training = model.training
    model.eval()
    losses, preds, labels = [], [], []
    for indices in batch_order(split.lengths(), batch_size, shuffle=False, seed=0):
        batch = _to_device(collate(split, indices), device)
        target = batch.pop("labels")
        with _autocast(device, settings):
            logits = model(**batch)
        losses.append(task_loss(logits, target, classes) * len(indices))
        preds.append(predictions(logits, classes).cpu())
        labels.append(target.cpu())
    model.train(was_training)
    loss = float(torch.stack(losses).sum().item() / len(split))
    return Predictions(loss, torch.cat(preds).numpy(), torch.cat(labels).numpy())


def evaluate(
    model: nn.Module,
    split: EncodedSplit,
    *,
    classes: int,
    metric: str,
    batch_size: int = 64,
    device: torch.device | None = None,
    settings: TrainSettings | None = None,
) -> dict[str, float]:
    """Loss and metric of `model` on a split."""
    out = predict(model, split, classes=classes, batch_size=batch_size, device=device, settings=settings)
    return {"loss": out.loss, metric: task_metric(metric, out.predicted, out.labels)}


def train_model(
    model: nn.Module,
    train: EncodedSplit,
    *,
    classes: int,
    metric: str,
    settings: TrainSettings,
    evals: dict[str, EncodedSplit] | None = None,
    ctx: TrialContext | None = None,
    device: torch.device | str = "cpu",
    on_eval: Callable[[int, dict[str, float]], None] | None = None,
    lr_scales: Mapping[str, float] | None = None,
) -> TrainResult:
    """Train the trainable parameters of `model` on `train`; evaluate `evals` periodically and at the end.

    `lr_scales` maps parameter names to a learning-rate multiplier (their own optimizer group; the schedule
    scales every group alike). Raises TrialDiverged on a non-finite loss and TrialCancelled when ctx.cancel is set.
    """
    device = torch.device(device) if isinstance(device, str) else device
    ctx = ctx or TrialContext(trial_id="local")
    evals = evals or {}
    torch.manual_seed(settings.seed)
    model.to(device).train()
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    if not params:
        raise ConfigError("Nothing to train: every parameter is frozen.")
    optimizer = make_optimizer(_lr_groups(named, settings.lr, lr_scales) if lr_scales else params, settings, device)
    steps = total_steps(len(train), settings)
    scheduler = make_schedule(optimizer, settings, steps)
    result = TrainResult(steps=0, seconds=0.0, examples_seen=0, train_loss=float("nan"))

    window: list[torch.Tensor] = []  # per-step losses since the last log, still on the device
    logged_losses: list[float] = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    step, epoch = 0, 0
    ctx.report({"step": 0, "total": steps, "phase": "train"})
    while step < steps:
        for indices in batch_order(
            train.lengths(), settings.batch_size, shuffle=True, seed=settings.seed * 1000 + epoch
        ):
            if step >= steps:
                break
            ctx.check_cancel()
            batch = _to_device(collate(train, indices), device)
            target = batch.pop("labels")
            with _autocast(device, settings):
                logits = model(**batch)
            loss = task_loss(logits, target, classes)
            loss.backward()
            if settings.grad_clip:
                nn.utils.clip_grad_norm_(params, settings.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            window.append(loss.detach())
            step += 1
            result.examples_seen += len(indices)
            if step % settings.log_every == 0 or step == steps:
                mean_loss = _flush_window(window, step)
                logged_losses.append(mean_loss)
                ctx.log_metrics(step, {"train_loss": mean_loss, "lr": scheduler.get_last_lr()[0]})
                ctx.report({"step": step, "total": steps, "loss": mean_loss, "phase": "train"})
            if settings.eval_every and step % settings.eval_every == 0 and step < steps:
                _run_evals(model, evals, step, classes, metric, settings, device, ctx, result, on_eval)
        epoch += 1
    result.seconds = time.perf_counter() - start
    if device.type == "cuda":
        result.peak_gpu_memory_mb = torch.cuda.max_memory_allocated(device) / 2**20
        result.bf16_autocast = autocasts_bf16(device, settings)
    result.steps = step
    result.train_loss = logged_losses[-1] if logged_losses else float("nan")
    _run_evals(model, evals, step, classes, metric, settings, device, ctx, result, on_eval)
    return result


def _lr_groups(named: list[tuple[str, nn.Parameter]], lr: float, scales: Mapping[str, float]) -> list[dict[str, Any]]:
    """One optimizer group per distinct multiplier (1.0 for parameters `scales` does not name)."""
    groups: dict[float, list[nn.Parameter]] = {}
    for name, param in named:
        groups.setdefault(float(scales.get(name, 1.0)), []).append(param)
    return [{"params": ps, "lr": lr * factor} for factor, ps in groups.items()]


def _flush_window(window: list[torch.Tensor], step: int) -> float:
    """Read the buffered losses back (one host sync) and stop at the first non-finite one."""
    losses = torch.stack(window).float().cpu().numpy()
    window.clear()
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        raise TrialDiverged(step=step - len(losses) + int(bad[0]) + 1, loss=float(losses[bad[0]]))
    return float(losses.mean())


def _run_evals(model, evals, step, classes, metric, settings, device, ctx, result, on_eval) -> None:
    if not evals:
        return
    ctx.report({"step": step, "phase": "eval"})
    row: dict[str, float] = {"step": step}
    for name, split in evals.items():
        scores = evaluate(
            model,
            split,
            classes=classes,
            metric=metric,
            batch_size=settings.eval_batch_size,
            device=device,
            settings=settings,
        )
        row.update({f"{name}_{k}": v for k, v in scores.items()})
    result.evals.append(row)
    ctx.log_metrics(step, {k: v for k, v in row.items() if k != "step"})
    ctx.report({"step": step, "phase": "train", **{k: v for k, v in row.items() if k != "step"}})
    if on_eval:
        on_eval(step, row)
