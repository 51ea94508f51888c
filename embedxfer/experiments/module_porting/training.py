"""One host with a module and a task head: build it, evaluate it, train it for a number of steps.

Both phases of the study use these: the origin trains its module for `origin_steps`; each receiving condition is
evaluated at step 0 (zero-shot) and trained for `receiver_steps`. Only the module and the head train (the host is
frozen by `adapters`' train_adapter); AdamW without weight decay, clip 1.0, the config's schedule.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embedxfer.experiments.module_porting.config import ModulePortingConfig
from embedxfer.porting.techniques import ModuleSpec
from embedxfer.trials import TrialContext

if TYPE_CHECKING:
    from torch import nn

    from embedxfer.data import EncodedSplit
    from embedxfer.heads import OutputSpec
    from embedxfer.tasks import Task


@dataclass
class Host:
    """A host model (private copy) with the module attached and a fresh head, and its encoded task splits."""

    checkpoint: str
    family: str
    num_layers: int
    hidden_size: int
    model: nn.Module  # SequenceModel: .backbone (with the module), .head
    output: OutputSpec
    splits: dict[str, EncodedSplit]

    def module_parameters(self) -> dict[str, nn.Parameter]:
        """The module's tensors by canonical name, and the head's as head.weight / head.bias."""
        from embedxfer.porting.modules import module_parameters

        found = module_parameters(self.model.backbone, self.family)
        return found | {f"head.{k}": v for k, v in self.model.head.named_parameters()}


def build_host(checkpoint: str, spec: ModuleSpec, task: Task, config: ModulePortingConfig, seed: int) -> Host:
    """A private copy of `checkpoint` with the module attached (initialised from `seed`) and a fresh head (same
    seed), plus the task's train split and capped val/test splits in this host's tokenization."""
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.data import encode_split
    from embedxfer.finetuning import capped, task_model
    from embedxfer.porting.modules import attach

    shared = load_checkpoint(checkpoint)
    backbone = copy.deepcopy(shared.model)  # the shared instance is never changed
    attach(backbone, spec, shared.info.family, seed)
    model, output = task_model(backbone, shared.info.hidden_size, task, config.pooling, seed)

    def encode(split):
        return encode_split(split, task.modality, shared.tokenizer, config.max_length)

    splits = {
        "train": encode(task.train),
        "val": encode(capped(task.val, config.eval_size)),
        "test": encode(capped(task.test, config.eval_size)),
    }
    info = shared.info
    return Host(checkpoint, info.family, info.num_layers, info.hidden_size, model, output, splits)


def _settings(config: ModulePortingConfig, steps: int, seed: int):
    from embedxfer.engine import TrainSettings

    return TrainSettings(
        epochs=float(steps),  # never the limit: max_steps is
        max_steps=steps,
        lr=config.lr,
        optimizer="adamw",
        weight_decay=0.0,
        schedule=config.schedule,
        batch_size=config.batch_size,
        grad_clip=1.0,
        eval_every=config.eval_every,
        seed=seed,
    )


def evaluate_host(host: Host, split: str, config: ModulePortingConfig, device: str, metric: str) -> dict[str, float]:
    """{loss, <metric>} of the host on one split (eval mode: no dropout), and for classes macro_f1 and the split's
    majority_rate."""
    from embedxfer.devices import resolve_device
    from embedxfer.engine import predict
    from embedxfer.heads import task_scores

    target = resolve_device(device)
    out = predict(
        host.model.to(target),  # zero-shot comes before training has moved the model
        host.splits[split],
        classes=host.output.classes,
        device=target,
        settings=_settings(config, 1, 0),
    )
    return {"loss": out.loss, **task_scores(out.predicted, out.labels, metric)}


def prefixed(scores: dict[str, float], prefix: str) -> dict[str, float]:
    """{"accuracy": .., "loss": ..} -> {"<prefix>_accuracy": .., "<prefix>_loss": ..}."""
    return {f"{prefix}_{name}": value for name, value in scores.items()}


def train_host(
    host: Host, config: ModulePortingConfig, steps: int, seed: int, ctx: TrialContext, device: str, metric: str
) -> dict[str, Any]:
    """Train module and head for `steps` (validating every eval_every and at the end); the run's metrics and its
    evaluation rows under "evals"."""
    from embedxfer.devices import resolve_device
    from embedxfer.engine import train_model

    result = train_model(
        host.model,
        host.splits["train"],
        classes=host.output.classes,
        metric=metric,
        settings=_settings(config, steps, seed),
        evals={"val": host.splits["val"]},
        ctx=ctx,
        device=resolve_device(device),
    )
    return result.metrics(host.model) | {"evals": result.evals}
