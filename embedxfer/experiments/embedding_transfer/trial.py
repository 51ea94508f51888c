"""embedding_transfer trials: one per (seed, target, source, condition); a condition is the source's own table
(`source:<checkpoint>`) or a baseline built from it (`random-matched`, `shuffled`, `rotated`, `scratch`, suffixed
`@<checkpoint>` when there are several sources).

A trial builds the condition's table (`tables.py`), puts it under a freshly initialised target scorer
(`embedxfer.targets`), trains with the engine (validating and scoring a fixed training subset every `eval_every`
steps: the learning curves), and tests on the task and on each OOD task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedxfer.errors import ConfigError
from embedxfer.experiments.embedding_transfer.config import EmbeddingTransferConfig
from embedxfer.targets import check_target, parse_target
from embedxfer.trials import TrialContext, TrialSpec

SOURCE = "source"
#: one line per baseline: what it rules out (shown with the plan and on the run page)
BASELINE_MEANING = {
    "random-matched": "a Gaussian table with the source's per-dimension mean and std: rules out that any table of "
    "that scale would do as well",
    "shuffled": "the source's rows assigned to other tokens: same vectors and spectrum, token identity broken; rules "
    "out that the set of vectors alone, not which token has which, explains a gain",
    "rotated": "the source times a random orthogonal matrix: the same geometry in another basis, a null control that "
    "should match the source (a gap means the scorer or optimiser depends on the basis)",
    "scratch": "a trainable N(0, 1) table as a new model would start: what the task's data alone teaches",
}


def condition_name(source: str, baseline: str | None, several: bool) -> str:
    """The public condition name: `source:<ckpt>`, or the baseline (with `@<ckpt>` when there are several sources)."""
    if baseline is None:
        return f"{SOURCE}:{source}"
    return f"{baseline}@{source}" if several else baseline


def _widths(config: EmbeddingTransferConfig) -> dict[str, int]:
    """The width each source's table has in this config (its own, or pca k), checked against pca k."""
    from embedxfer.checkpoints import arch_info

    widths = {}
    for source in config.sources:
        info = arch_info(source)  # an unknown checkpoint fails here, at submit
        width = info.table_width
        if config.pca_width is not None and config.pca_width > width:
            raise ConfigError(
                f"Field 'dim' is pca:{config.pca_width}, wider than {source}'s {width}-wide embedding; use k up to "
                f"{min(arch_info(s).table_width for s in config.sources)} so every source can be reduced to it."
            )
        widths[source] = config.pca_width or width
    return widths


def check_tasks(config: EmbeddingTransferConfig):
    """The task (text only: the sources' tokenizers encode it) and OOD tasks with the same label set."""
    from embedxfer.tasks import load_task

    task = load_task(config.task)
    if task.modality != "text":
        raise ConfigError(
            f"Task {task.name!r} is a {task.modality} task; embedding_transfer needs a text task, since each "
            "source's tokenizer encodes it (e.g. tweets-binary)."
        )
    if config.train_size is not None and config.train_size > len(task.train):
        raise ConfigError(
            f"Field 'train_size' is {config.train_size}, but task {task.name!r} has {len(task.train)} training "
            f"examples; use up to {len(task.train)} (or leave it empty for all)."
        )
    for name in config.ood_tasks:
        other = load_task(name)
        same = (
            other.modality == "text"
            and other.label_kind == task.label_kind
            and (task.label_kind != "classes" or list(other.label_names or []) == list(task.label_names or []))
        )
        if not same:
            raise ConfigError(
                f"Field 'ood_tasks': {name!r} labels {_labels(other)}, but {task.name!r} labels {_labels(task)}; an "
                "out-of-distribution task must be a text task with the same labels in the same order."
            )
    return task


def _labels(task) -> str:
    if task.label_kind != "classes":
        return f"a {task.label_kind} value"
    return "/".join(task.label_names or [f"{task.num_classes} classes"])


def expand(config: EmbeddingTransferConfig) -> list[TrialSpec]:
    """Check sources, widths, tokenizer, tasks and targets now, so bad input fails at submit, not in a worker."""
    from embedxfer.checkpoints import arch_info

    widths = _widths(config)
    if config.shared_tokenizer:
        arch_info(config.shared_tokenizer)
    check_tasks(config)
    targets = [parse_target(t) for t in config.targets]
    for target in targets:
        for source, width in widths.items():
            check_target(target, width, source if config.pca_width is None else f"{source} (pca:{width})")
    several = len(config.sources) > 1
    return [
        TrialSpec(
            condition=condition_name(source, baseline, several),
            seed=seed,
            params={"target": target.label, "source": source, "baseline": baseline},
        )
        for seed in config.seeds
        for target in targets
        for source in config.sources
        for baseline in [None, *config.baselines]
    ]


def notes(config: EmbeddingTransferConfig) -> list[str]:
    """What a reader of this plan or its results must know: the baselines' meaning, comparability, the mapping."""
    lines = [f"{name}: {BASELINE_MEANING[name]}." for name in config.baselines]
    if config.pca_width is None and len(config.sources) > 1:
        from embedxfer.checkpoints import known_arch_info

        infos = {s: known_arch_info(s) for s in config.sources}
        widths = {s: i.table_width for s, i in infos.items() if i is not None}
        if len(set(widths.values())) > 1:
            shown = ", ".join(f"{s} {w}" for s, w in widths.items())
            lines.insert(
                0,
                f"Sources differ in width ({shown}) and dim is native: the scorers differ in size, so numbers are "
                "not comparable across sources, only each source against its own baselines. Set dim: "
                f"pca:{min(widths.values())} to compare them.",
            )
    sizes = _scorer_sizes(config)
    if sizes:
        lines.append(sizes)
    if config.shared_tokenizer:
        lines.append(
            f"vocab shared:{config.shared_tokenizer}: every source is read through that tokenizer; rows it has no text "
            "match for are drawn from the source's own row distribution (vocab_mapped / vocab_unmapped per trial)."
        )
    if config.embedding == "trainable":
        lines.append("embedding: trainable: every table is updated in training; conditions differ in their start.")
    return lines


def _scorer_sizes(config: EmbeddingTransferConfig) -> str | None:
    """'Scorer parameters, the table not counted, at width 384: bag 99k, transformer 2.39M.' (None before any
    source's architecture has been read)."""
    from embedxfer.checkpoints import known_arch_info
    from embedxfer.heads import OutputSpec
    from embedxfer.targets.models import scorer_parameters

    infos = [known_arch_info(s) for s in config.sources]
    widths = sorted({config.pca_width or i.table_width for i in infos if i is not None})
    if not widths:
        return None
    output = OutputSpec(classes=2)  # the head is a few hundred parameters whatever the task

    def shown(count: int) -> str:
        return f"{count / 1e6:.2f}M" if count >= 1e6 else f"{count / 1e3:.0f}k"

    sizes = [
        f"at width {w}: "
        + ", ".join(
            f"{t} {shown(scorer_parameters(parse_target(t), w, output, config.max_length))}" for t in config.targets
        )
        for w in widths
    ]
    return "Scorer parameters, the table not counted, " + "; ".join(sizes) + "."


def run_trial(config: EmbeddingTransferConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import torch

    from embedxfer.checkpoints import load_tokenizer
    from embedxfer.experiments.embedding_transfer.tables import baseline_table, rms, source_table, unit_rms
    from embedxfer.heads import OutputSpec
    from embedxfer.targets.models import build_scorer, scorer_parameters
    from embedxfer.tasks import load_task

    device = ctx.device_for(config.device)
    source, baseline = spec.params["source"], spec.params.get("baseline")
    target = parse_target(spec.params["target"])
    ctx.report({"phase": f"building the {spec.condition} table"})
    table = source_table(source, pca_width=config.pca_width, shared=config.shared_tokenizer, seed=spec.seed)
    matrix = baseline_table(baseline, table.matrix, spec.seed)
    raw_rms = rms(matrix)
    if config.unit_scale:
        matrix = unit_rms(matrix)
    tokenizer = load_tokenizer(config.shared_tokenizer or source)
    task = load_task(config.task).subsample(config.train_size, seed=spec.seed)
    output = OutputSpec.for_task(task)
    torch.manual_seed(spec.seed)  # the scorer's initialisation: the same for every condition of a seed
    trainable = config.embedding == "trainable" or baseline == "scratch"
    model = build_scorer(target, matrix, output, max_length=config.max_length, trainable=trainable)
    ctx.check_cancel()
    metrics = _train_and_score(model, task, tokenizer, output, config, spec, ctx, device)
    return metrics | {
        "scorer_parameters": float(scorer_parameters(target, matrix.shape[1], output, config.max_length)),
        "embedding_width": float(matrix.shape[1]),
        "native_width": float(table.native_width),
        "vocab_rows": float(matrix.shape[0]),
        "vocab_mapped": float(table.mapped),
        "vocab_unmapped": float(table.unmapped),
        "embedding_trainable": float(trainable),
        "table_rms": raw_rms,
    }


def _train_and_score(model, task, tokenizer, output, config, spec, ctx, device) -> dict[str, float]:
    from embedxfer.data import encode_split
    from embedxfer.devices import resolve_device
    from embedxfer.engine import TrainSettings, predict, threshold_metrics, train_model
    from embedxfer.finetuning import capped
    from embedxfer.heads import task_scores
    from embedxfer.tasks import load_task

    def encode(split):
        return encode_split(split, "text", tokenizer, config.max_length)

    ctx.report({"phase": "tokenizing"})
    train = encode(task.train)
    val = encode(capped(task.val, config.eval_size))
    fit = encode(capped(task.train, config.eval_size))  # the training examples the scorer saw: fitting
    settings = TrainSettings(
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        eval_every=config.eval_every,
        seed=spec.seed,
    )
    target = resolve_device(device)
    result = train_model(
        model,
        train,
        classes=output.classes,
        metric=task.metric,
        settings=settings,
        evals={"val": val, "fit": fit},
        ctx=ctx,
        device=target,
    )
    ctx.report({"phase": "test"})
    scores = {}
    for prefix, split in [("test", task.test), *((f"ood_{name}", load_task(name).test) for name in config.ood_tasks)]:
        out = predict(model, encode(capped(split, config.eval_size)), classes=output.classes, device=target)
        found = task_scores(out.predicted, out.labels, task.metric)
        found.pop("majority_rate", None)  # (this kind reports macro-F1 for the OOD sets' other balance)
        scores |= {f"{prefix}_{k}": v for k, v in found.items()}
        scores[f"{prefix}_loss"] = out.loss
    final = result.evals[-1] if result.evals else {}
    metric = task.metric
    return scores | {
        **result.metrics(model),
        "fit_gap": final.get(f"fit_{metric}", np.nan) - scores[f"test_{metric}"],
        **threshold_metrics(result.evals, f"val_{metric}", config.threshold),
    }


#: rough examples per second of one CPU worker at width 384 and 64 tokens, evaluations included (conservative: the
#: quick preset's trials ran bag at ~10,000 and a 2-layer transformer at ~220 examples/s)
_SPEED = {"bag": 2500.0, "cnn": 700.0, "lstm": 350.0, "transformer": 300.0}


def estimate_seconds(config: EmbeddingTransferConfig) -> float:
    """Rough CPU seconds per trial, averaged over the targets: training passes plus the evaluations."""
    from embedxfer.finetuning import resolved_train_size

    examples = resolved_train_size(config.task, config.train_size) * config.epochs
    evals = (2 + len(config.ood_tasks)) * (config.eval_size or 2000)
    per_target: list[Any] = []
    for text in config.targets:
        target = parse_target(text)
        speed = _SPEED[target.name] * (64 / max(16, min(config.max_length, 64)))
        if target.name == "transformer":
            speed *= 2 / max(1, int(target.get("layers")))
        per_target.append(examples / speed + evals / (speed * 4) + 2.0)
    return float(np.mean(per_target))
