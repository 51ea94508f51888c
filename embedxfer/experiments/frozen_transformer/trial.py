"""frozen_transformer trials: one per (seed, task, lr, condition). A trial builds the condition's backbone (the
checkpoint, a random init, statistics-only noise or an LSTM), wraps it in new input and output layers
(`model.py`), trains exactly the condition's groups with Adam at a constant lr (clip 1.0), validates every
`eval_every` steps (the learning curves, steps to threshold), tests, and for `pretrained` stores the attention
maps of a few fixed test examples (`attention.py`).
"""

from __future__ import annotations

from typing import Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.frozen_transformer.config import (
    GROUPS,
    TRAINABLE_PRESETS,
    FrozenTransformerConfig,
    ladder_name,
    ladder_rungs,
)
from embedxfer.trials import TrialContext, TrialSpec

#: what each condition's backbone starts from and what it trains ("config": the config's trainable set)
CONDITION_SETUP = {
    "pretrained": ("pretrained", "config"),
    "random": ("random", "config"),
    "statistics-only": ("statistics", "config"),
    "scratch-full": ("random", "all"),
    "lstm": ("lstm", "all"),
}
CONDITION_MEANING = {
    "pretrained": "the checkpoint's blocks, frozen except the trainable groups",
    "random": "the same architecture freshly initialised, frozen the same way: what pretraining adds",
    "statistics-only": "noise with each pretrained tensor's mean and std, frozen the same way: rules out that the "
    "weights' scale alone explains the gain",
    "scratch-full": "a random init with every parameter trained: the fully trained transformer",
    "lstm": "a 3-layer LSTM of the same width between the same input and output layers, all trained",
}
_ACCURACY_RANGE = (0.0, 1.0)
_PEARSON_RANGE = (-1.0, 1.0)


def empty_groups(family: str) -> dict[str, str]:
    """{group: why it has no parameters} for a family (llama: positions, rotary embeddings have no weights)."""
    from embedxfer.parts.resolve import loaded_spec

    spec = loaded_spec(family)
    if spec is None or "embed.positions" in spec.embed:
        return {}
    return {"positions": spec.missing_hint.get("embed.positions", f"{family} has no position embeddings")}


def _check_task(name: str, threshold: float | None):
    from embedxfer.tasks import load_task

    task = load_task(name)
    if task.modality not in ("vectors", "tokens"):
        raise ConfigError(
            f"Task {task.name!r} is a {task.modality} task; frozen_transformer feeds vectors through a new input "
            "layer or token ids through a new embedding table (bit-xor, bit-memory, digits, listops, or a vector or "
            "token task of your own). For text, use the finetune kind."
        )
    low, high = _PEARSON_RANGE if task.metric == "pearson" else _ACCURACY_RANGE
    if threshold is not None and not low <= threshold <= high:
        raise ConfigError(
            f"Field 'threshold' is {threshold}, outside {task.metric}'s range [{low:g}, {high:g}] for task "
            f"{task.name!r}; use e.g. 0.9 (or leave it empty)."
        )
    return task


def plan_conditions(config: FrozenTransformerConfig, family: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """[(condition, backbone init, trainable groups)]; ladder rungs that add only empty groups are left out (the
    notes say so)."""
    chosen = tuple(config.trainable)
    empty = set(empty_groups(family))
    if not set(chosen) - empty:
        raise ConfigError(
            f"Field 'trainable' ({'+'.join(chosen)}) has no parameters on a {family} checkpoint: "
            + "; ".join(f"{g}: {why}" for g, why in empty_groups(family).items())
            + ". Add groups, e.g. fpt."
        )
    rows = []
    for condition in config.conditions:
        init, which = CONDITION_SETUP[condition]
        rows.append((condition, init, chosen if which == "config" else GROUPS))
    if config.ladder:
        previous: set[str] = set()
        for rung in ladder_rungs():
            if set(rung) - empty != previous:
                rows.append((ladder_name(rung), "pretrained", rung))
            previous = set(rung) - empty
    return rows


def expand(config: FrozenTransformerConfig) -> list[TrialSpec]:
    """Check the checkpoint, tasks, threshold and trainable set now, so bad input fails at submit."""
    from embedxfer.checkpoints import arch_info

    info = arch_info(config.checkpoint)
    tasks = [_check_task(name, config.threshold) for name in config.task_list()]
    if len({t.metric for t in tasks}) > 1:
        raise ConfigError("Field 'tasks' mixes metrics (accuracy and pearson); run them as separate experiments.")
    for task in tasks:
        if config.train_size is not None and config.train_size > len(task.train):
            raise ConfigError(
                f"Field 'train_size' is {config.train_size}, but task {task.name!r} has {len(task.train)} training "
                f"examples; use up to {len(task.train)} (or leave it empty)."
            )
    rows = plan_conditions(config, info.family)
    return [
        TrialSpec(
            condition=condition,
            seed=seed,
            params={"task": task, "lr": lr, "init": init, "trainable": "+".join(groups)},
        )
        for seed in config.seeds
        for task in config.task_list()
        for lr in config.lr_list()
        for condition, init, groups in rows
    ]


def notes(config: FrozenTransformerConfig) -> list[str]:
    """What a reader must know: what each condition means, groups without parameters, shortened tasks, the sweep."""
    from embedxfer.checkpoints import known_arch_info

    named = next((n for n, g in TRAINABLE_PRESETS.items() if tuple(config.trainable) == g), None)
    shown = "+".join(config.trainable) + (f" ({named})" if named else "")
    lines = [f"Trainable in the frozen conditions: {shown}; new input and output layers always start fresh."]
    lines += [f"{c}: {CONDITION_MEANING[c]}." for c in config.conditions]
    info = known_arch_info(config.checkpoint)
    if info is not None:
        for group, why in empty_groups(info.family).items():
            lines.append(
                f"{group}: no parameters on {config.checkpoint} ({why}); the group trains nothing"
                + (" and the ladder's +positions rung is left out." if config.ladder else ".")
            )
        if empty_groups(info.family):
            lines.append(
                "Without position parameters an all-zero input (a 0 bit, a blank patch) would stay exactly zero "
                "through every block and its gradient overflow; the input layer's bias starts at N(0, 0.02) "
                "instead of the paper's 0."
            )
    lines.append(
        "The backbone's own token table is never read (inputs enter through the new input layer), so it is frozen "
        "and not counted as trainable."
    )
    lines += [line for name in config.task_list() if (line := task_note(name))]
    if len(config.lr_list()) > 1:
        lines.append(
            f"Learning-rate sweep {config.lr_list()}: per task and condition the lr with the best mean final "
            "validation metric is picked; figures and paired comparisons use it (chosen_lr in the paired table)."
        )
    return lines


def task_note(name: str) -> str | None:
    """How a task differs from the paper's version of it, when it does."""
    from embedxfer.tasks import load_task

    task = load_task(name)
    options = task.info.get("options", {})
    if task.name == "bit-memory" and (options.get("n_bits"), options.get("patch")) != (1000, 50):
        return (
            f"bit-memory here has {options.get('n_bits')} bits in patches of {options.get('patch')} "
            f"({task.train.inputs.shape[1]} tokens), shorter than the paper's 1000 bits in patches of 50: not the "
            "paper's task size."
        )
    if task.name == "digits":
        return (
            "digits: scikit-learn's 8x8 images, the offline stand-in for the paper's 28x28 MNIST (4x4 patches); "
            "compare trends, not numbers."
        )
    if task.name == "bit-xor":
        return "bit-xor: a fixed training set of generated examples (the paper draws every batch afresh)."
    return None


def run_trial(config: FrozenTransformerConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import copy

    import torch

    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.experiments.frozen_transformer.model import (
        INPUT_BIAS_STD,
        FPTModel,
        LSTMBackbone,
        group_sizes,
        random_backbone,
        set_trainable,
        statistics_only_backbone,
    )
    from embedxfer.heads import OutputSpec
    from embedxfer.tasks import load_task

    ctx.report({"phase": "loading"})
    task = load_task(spec.params["task"]).subsample(config.train_size, seed=spec.seed)
    shared = load_checkpoint(config.checkpoint)
    init, hidden = spec.params["init"], shared.info.hidden_size
    if init == "pretrained":
        backbone = copy.deepcopy(shared.model)  # the shared instance is never trained
    elif init == "random":
        backbone = random_backbone(shared.model, spec.seed)
    elif init == "statistics":
        backbone = statistics_only_backbone(shared.model, spec.seed)
    else:
        backbone = LSTMBackbone(hidden)
    output = OutputSpec.for_task(task)
    torch.manual_seed(spec.seed)  # new input and output layers: the same start for every condition of a seed
    model = FPTModel(
        backbone,
        hidden,
        output,
        input_dim=task.input_dim if task.modality == "vectors" else None,
        vocab=task.vocab_size if task.modality == "tokens" else None,
        # a zero input must not stay exactly zero in a backbone without positions (model.py explains the NaN)
        bias_std=INPUT_BIAS_STD if empty_groups(shared.info.family) else 0.0,
    )
    counts: dict[str, float] = {}
    if init != "lstm":
        groups = spec.params["trainable"].split("+")
        counts |= {f"trainable_{g}": float(n) for g, n in set_trainable(model, groups).items()}
        counts |= {f"group_parameters_{g}": float(n) for g, n in group_sizes(model).items()}
    ctx.check_cancel()
    metrics = _train_and_test(model, task, output, config, spec, ctx)
    if spec.condition == "pretrained" and config.attention_examples:
        from embedxfer.experiments.frozen_transformer.attention import store_attention

        store_attention(model, task, config.attention_examples, ctx)
    return metrics | counts


def _train_and_test(model, task, output, config: FrozenTransformerConfig, spec: TrialSpec, ctx) -> dict[str, float]:
    from embedxfer.data import encode_split
    from embedxfer.devices import resolve_device
    from embedxfer.engine import TrainSettings, evaluate, threshold_metrics, train_model
    from embedxfer.finetuning import capped

    def encode(split):
        return encode_split(split, task.modality, None, max(1, split.inputs.shape[1]))

    settings = TrainSettings(
        epochs=float(config.steps),  # never the limit: max_steps is
        max_steps=config.steps,
        lr=float(spec.params["lr"]),
        optimizer="adam",
        schedule="constant",
        weight_decay=0.0,
        batch_size=config.batch_size,
        grad_clip=1.0,
        eval_every=config.eval_every,
        seed=spec.seed,
    )
    device = resolve_device(ctx.device_for(config.device))
    val = encode(capped(task.val, config.eval_size))
    result = train_model(
        model,
        encode(task.train),
        classes=output.classes,
        metric=task.metric,
        settings=settings,
        evals={"val": val},
        ctx=ctx,
        device=device,
    )
    ctx.report({"phase": "test"})
    test = encode(capped(task.test, config.eval_size))
    scores = evaluate(model, test, classes=output.classes, metric=task.metric, device=device, settings=settings)
    return {
        f"test_{task.metric}": scores[task.metric],
        "test_loss": scores["loss"],
        **result.metrics(model),
        "steps_per_second": result.steps / result.seconds if result.seconds > 0 else 0.0,
        **threshold_metrics(result.evals, f"val_{task.metric}", config.threshold),
    }


#: tokens x non-embedding parameters per second for one CPU worker (bench/fpt_step.py: minilm-l6, 10 tokens,
#: batch 32: ~10 steps/s frozen, ~6 steps/s fully trained), and a floor per step for tiny models
_FROZEN_RATE, _FULL_RATE, _STEP_FLOOR = 3.2e10, 2.0e10, 0.01


def estimate_seconds(config: FrozenTransformerConfig) -> float:
    """Rough CPU seconds per trial, averaged over tasks and conditions: training steps plus the evaluations."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.tasks import load_task

    info = arch_info(config.checkpoint)
    blocks = max(1e5, info.num_parameters - info.vocab_size * info.hidden_size)
    lstm = 4 * 3 * 2 * info.hidden_size**2
    per_trial: list[Any] = []
    rows = plan_conditions(config, info.family)
    for name in config.task_list():
        task = load_task(name)
        tokens = int(task.train.inputs.shape[1]) * config.batch_size
        evals = (config.steps / config.eval_every + 1) * min(len(task.val), config.eval_size or len(task.val))
        for _, init, groups in rows:
            size = lstm if init == "lstm" else blocks
            rate = _FULL_RATE if ("attention" in groups or init == "lstm") else _FROZEN_RATE
            step = max(_STEP_FLOOR, tokens * size / rate)
            per_trial.append(config.steps * step + evals * step / (3 * config.batch_size) + 2.0)
    return float(sum(per_trial) / max(1, len(per_trial)))
