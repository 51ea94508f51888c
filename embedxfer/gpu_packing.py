"""How many trials share one GPU on the thread backend (README, "GPU packing"; docs/architecture.md, "Backends").

One small trial at a time leaves a GPU mostly idle: the Ray backend measured 1.00x / 1.97x / 3.47x the examples/s
with 1 / 2 / 4 trials per H200 (README, "Sweeps on Ray"). So the default workers give each visible GPU `cap`
threads (EMBEDXFER_GPU_PACK, default 4), and a thread starts a queued trial on its device only when `admits` says
so: always on an idle device, else while fewer than `cap` trials run there and the estimates of the running trials
plus the new one stay within the device's budget (its free memory when the manager started, times
BUDGET_FRACTION). A trial's estimate (`trial_bytes`) comes from the plan's model sizes. Estimates can be wrong, so
a trial that still runs out of memory beside others runs again alone (`embedxfer.jobs`).

The decisions are small pure functions over plain numbers, so tests give them stand-in figures; only `free_bytes`
and `trial_bytes` read the outside world (CUDA, checkpoint files).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from embedxfer.errors import ConfigError

if TYPE_CHECKING:
    from embedxfer.experiments import BaseConfig
    from embedxfer.trials import TrialSpec

ENV_GPU_PACK = "EMBEDXFER_GPU_PACK"
#: trials per GPU by default: the Ray measurements above gained 3.47x at four; more mostly wait on each other
DEFAULT_CAP = 4
#: the share of a device's free memory that packed trials may plan to fill (allocator fragmentation, cuBLAS
#: workspaces and the CUDA context of new threads are not in the estimates)
BUDGET_FRACTION = 0.9
#: bytes per parameter of a trained model: fp32 weights, gradients, AdamW's two moments, autocast's bf16 copy
TRAIN_BYTES_PER_PARAM = 4 + 4 + 8 + 2
#: bytes per parameter of a model that is only run forward (features, token tables)
FORWARD_BYTES_PER_PARAM = 4
#: sequence length assumed for a training kind whose config has no max_length (its task decides the length)
DEFAULT_LENGTH = 128


def check_cap(cap: Any, source: str = "gpu_pack") -> int:
    """`cap` as a whole number of trials per GPU (>= 1); ConfigError naming `source` otherwise."""
    try:
        value = int(str(cap).strip())
    except ValueError:
        value = 0
    if value < 1 or isinstance(cap, bool):
        raise ConfigError(f"{source} must be a whole number of trials per GPU, at least 1, got {cap!r}.")
    return value


def pack_cap(environ: dict[str, str] | None = None) -> int:
    """The most trials one GPU runs at once: EMBEDXFER_GPU_PACK, else DEFAULT_CAP (1 turns packing off)."""
    text = (os.environ if environ is None else environ).get(ENV_GPU_PACK, "").strip()
    return check_cap(text, ENV_GPU_PACK) if text else DEFAULT_CAP


def budget(free: int | None, fraction: float = BUDGET_FRACTION) -> int | None:
    """Bytes packed trials may plan to use on a device with `free` bytes free; None when unknown (then only the
    cap limits packing)."""
    return None if free is None else int(free * fraction)


def admits(
    running: Sequence[int],
    new: int,
    *,
    budget: int | None,
    cap: int | None,
    alone: bool = False,
    held: bool = False,
) -> bool:
    """Whether a device running trials with the estimated bytes `running` may start a trial estimated at `new`.

    An idle device takes any trial: an estimate above the budget may be wrong, and the trial's own outcome says
    whether it fits. `alone`: the new trial must have the device to itself (it ran out of memory beside others);
    `held`: a trial running there has it to itself. `cap` None means no limit on the count (explicit workers).
    """
    if not running:
        return True
    if alone or held:
        return False
    if cap is not None and len(running) >= cap:
        return False
    return budget is None or sum(running) + new <= budget


def model_bytes(num_parameters: int, *, trains: bool) -> int:
    """Memory a model's parameters take on the device, with gradients and optimizer state when it trains."""
    return num_parameters * (TRAIN_BYTES_PER_PARAM if trains else FORWARD_BYTES_PER_PARAM)


def activation_bytes(*, batch_size: int, length: int, hidden: int, ffn: int, heads: int, layers: int) -> int:
    """Activations a training step keeps for the backward pass: per token and block about 18*hidden + 4*ffn bytes
    (the block's inputs, attention and MLP intermediates in bf16, norms in fp32) plus 5 bytes per attention score
    and head (scores, softmax, dropout mask). For minilm-l6 at batch 32 and 64 tokens this and `model_bytes` give
    588 MiB against the 528 MiB measured (README, "Sweeps on Ray")."""
    per_token_block = 18 * hidden + 4 * ffn + 5 * heads * length
    return batch_size * length * layers * per_token_block


def checkpoints_of(config: BaseConfig, spec: TrialSpec | None = None) -> list[str]:
    """Checkpoint ids the config names (fields whose role is checkpoint or checkpoints); with `spec`, only those
    the trial names in its condition or params when it names any (a probing trial loads one of the list)."""
    names: list[str] = []
    for f in dataclasses.fields(config):
        role, value = f.metadata.get("role"), getattr(config, f.name)
        if role == "checkpoint" and isinstance(value, str) and value:
            names.append(value)
        elif role == "checkpoints" and isinstance(value, list | tuple):
            names += [v for v in value if isinstance(v, str) and v]
    names = list(dict.fromkeys(names))
    if spec is None:
        return names
    named = [n for n in names if n == spec.condition or any(n == v for v in spec.params.values())]
    return named or names


def trial_bytes(config: BaseConfig, spec: TrialSpec | None = None) -> int:
    """Estimated peak GPU memory of one trial, from the sizes of the checkpoints it names: trained (the config has
    a batch_size) or only run forward, plus a training step's activations. 0 when nothing is known (a checkpoint
    whose facts cannot be read counts 0): then only the cap limits how many share a device."""
    from embedxfer.checkpoints import arch_info

    trains = isinstance(getattr(config, "batch_size", None), int)
    total = 0
    for checkpoint in checkpoints_of(config, spec):
        try:
            info = arch_info(checkpoint)
        except Exception:  # noqa: BLE001 - an estimate must never fail a submit; the trial reports its own error
            continue
        total += model_bytes(info.num_parameters, trains=trains)
        if trains:
            total += activation_bytes(
                batch_size=config.batch_size,  # type: ignore[attr-defined]
                length=int(getattr(config, "max_length", None) or DEFAULT_LENGTH),
                hidden=info.hidden_size,
                ffn=info.ffn_size,
                heads=info.num_heads,
                layers=info.num_layers,
            )
    return total


def free_bytes(device: str) -> int | None:
    """Free memory of a CUDA device now (torch.cuda.mem_get_info), None when it cannot be read."""
    try:
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    except Exception:  # noqa: BLE001 - no budget is a safe answer: the cap and the OOM requeue still apply
        return None
