"""module_porting trials: one per (seed, technique, host pair, condition).

`origin` trains the module and head on the origin host (or reads the cached one: `origin.py`) and reports its own
test accuracy, the reference line. `ported`, `scratch` and `sampled` build the receiving host with the module
freshly initialised from the seed; `ported` copies the origin module and head in through the layer map (the port
report is stored beside the ported module), `sampled` does the same and then replaces every ported tensor with
noise of that tensor's mean and std, `scratch` keeps the fresh module. Each is evaluated at step 0 (zero-shot) and
trained for `receiver_steps`, validated every `eval_every` steps, then tested.
"""

from __future__ import annotations

from typing import Any

from embedxfer.errors import ConfigError, EmbedxferError
from embedxfer.experiments.module_porting.config import ModulePortingConfig
from embedxfer.porting.layer_map import describe_layer_map, parse_layer_map, resolve_layer_map
from embedxfer.porting.port import check_widths
from embedxfer.porting.techniques import PORT_GROUPS, TECHNIQUE_MEANING, check_host, module_spec, same_port_group
from embedxfer.trials import TrialContext, TrialSpec

CONDITION_MEANING = {
    "origin": "the module and head trained on the origin host, tested there: the reference line",
    "ported": "the origin's module and head copied into the receiving host through the layer map, tested at once "
    "(zero-shot), then trained on for receiver_steps",
    "scratch": "the same module and head freshly initialised on the receiving host, same budget: what porting saves",
    "sampled": "the ported placement with every ported tensor replaced by noise of its mean and std, same budget: "
    "rules out that the statistics of the trained values, not the values, carry the gain",
}
PORTED_ARTIFACT, REPORT_ARTIFACT, ORIGIN_ARTIFACT = "ported_module.zip", "port_report.json", "origin_module.zip"


def _check_task(config: ModulePortingConfig):
    from embedxfer.tasks import load_task

    task = load_task(config.task)
    if task.modality != "text":
        raise ConfigError(
            f"Task {task.name!r} is a {task.modality} task; module_porting trains modules inside language models on "
            "text (e.g. tweets-binary, word-valence-binary, or a text file of your own)."
        )
    if config.train_size is not None and config.train_size > len(task.train):
        raise ConfigError(
            f"Field 'train_size' is {config.train_size}, but task {task.name!r} has {len(task.train)} training "
            f"examples; use up to {len(task.train)} (or leave it empty)."
        )
    return task


def check_pair(config: ModulePortingConfig, origin: str, receiver: str) -> list[int | None]:
    """The layer map of one host pair, after checking that every technique can go from `origin` to `receiver`."""
    from embedxfer.checkpoints import arch_info

    a, b = arch_info(origin), arch_info(receiver)
    if a.id == b.id:
        raise ConfigError(f"Receiver {receiver!r} is the origin itself: porting needs another host.")
    if not same_port_group(a.family, b.family):
        groups = "; ".join(" <-> ".join(sorted(group)) for group in PORT_GROUPS)
        raise ConfigError(
            f"Cannot port from {origin} ({a.family}) to {receiver} ({b.family}): a module's tensors sit at "
            f"family-specific places (bert's attention.self.query, llama's self_attn.q_proj); pick hosts of one "
            f"family, or of families whose blocks match ({groups})."
        )
    check_widths(origin, a.hidden_size, receiver, b.hidden_size)
    for technique in config.technique_list():
        spec = module_spec(technique, **config.hyperparameters(technique))
        for host, info in ((origin, a), (receiver, b)):
            check_host(spec, info.family, info.hidden_size, host)
    return resolve_layer_map(parse_layer_map(config.layer_map), a.num_layers, b.num_layers)


def _check_module_file(config: ModulePortingConfig, origin: str) -> None:
    """A given origin_module must be the config's technique and complete for the origin host (imports torch)."""
    from transformers import AutoConfig

    from embedxfer.checkpoints import arch_info
    from embedxfer.checkpoints.files import local_folder
    from embedxfer.checkpoints.resolve import resolve_id
    from embedxfer.porting.files import check_complete, read_module
    from embedxfer.porting.modules import expected_shapes

    family = arch_info(origin).family
    file = read_module(config.origin_module, family, technique=config.technique)
    folder = local_folder(resolve_id(origin), allow_pickle=False, trust_remote_code=False)
    check_complete(file, expected_shapes(AutoConfig.from_pretrained(str(folder)), file.spec, family), origin)
    if file.head is None and config.origin_steps == 0:
        raise ConfigError(
            f"Module file {config.origin_module} has no task head, so one must train on the origin: set origin_steps."
        )


def expand(config: ModulePortingConfig) -> list[TrialSpec]:
    """Check task, hosts, techniques, layer maps (and a module file) now, so bad input fails at submit."""
    _check_task(config)
    maps = {pair: check_pair(config, *pair) for pair in config.pairs()}
    if config.origin_module:
        for origin in dict.fromkeys(o for o, _ in config.pairs()):
            _check_module_file(config, origin)
    return [
        TrialSpec(
            condition=condition,
            seed=seed,
            params={
                "technique": technique,
                "origin": origin,
                "receiver": receiver,
                "layer_map": describe_layer_map(maps[(origin, receiver)]),
            },
        )
        for seed in config.seeds
        for technique in config.technique_list()
        for origin, receiver in config.pairs()
        for condition in config.conditions
    ]


def notes(config: ModulePortingConfig) -> list[str]:
    """What a reader must know: what each condition and technique is, the layer maps, the budgets."""
    from embedxfer.checkpoints import known_arch_info

    lines = [f"{c}: {CONDITION_MEANING[c]}." for c in config.conditions]
    lines += [f"{t}: {TECHNIQUE_MEANING[t]}." for t in config.technique_list()]
    for origin, receiver in config.pairs():
        a, b = known_arch_info(origin), known_arch_info(receiver)
        if a is None or b is None or a.num_layers == b.num_layers:
            continue
        try:
            mapping = resolve_layer_map(parse_layer_map(config.layer_map), a.num_layers, b.num_layers)
        except ConfigError:
            continue
        lines.append(_layer_map_note(config, origin, receiver, a.num_layers, b.num_layers, mapping))
    lines.append(
        f"Budgets: {config.origin_steps} steps on the origin, {config.receiver_steps} on each receiver for every "
        f"condition (batch {config.batch_size}, AdamW lr {config.lr:g}, {config.schedule}); only module and head train."
    )
    if "prefix_tuning" in config.technique_list():
        lines.append(
            "prefix_tuning on llama/gpt2 hosts runs with eager attention: adapters 1.3.0 drops the prefixes under "
            "SDPA attention when a batch is padded."
        )
    if config.origin_module:
        lines.append(f"The module comes from {config.origin_module}; it is not trained on the origin.")
    return lines + _majority_note(config)


def _layer_map_note(
    config: ModulePortingConfig, origin: str, receiver: str, depth_o: int, depth_r: int, mapping
) -> str:
    """Which layers go where for one pair of different depths, and which are skipped or stay fresh."""
    unused = sorted(set(range(depth_o)) - {o for o in mapping if o is not None})
    fresh = [j for j, o in enumerate(mapping) if o is None]
    return (
        f"{origin} ({depth_o} layers) -> {receiver} ({depth_r}): layer map {config.layer_map} gives "
        f"{describe_layer_map(mapping)} (receiving <- origin)"
        + (f"; origin layers {unused} are skipped" if unused else "")
        + (f"; receiving layers {fresh} keep a fresh module" if fresh else "")
        + ". The port report lists every tensor."
    )


def _majority_note(config: ModulePortingConfig) -> list[str]:
    """How often the most common class occurs in the evaluated test examples: the accuracy of always answering it."""
    from embedxfer.finetuning import capped
    from embedxfer.heads import majority_rate
    from embedxfer.tasks import load_task

    try:
        task = load_task(config.task)
    except EmbedxferError:
        return []
    if task.metric != "accuracy":
        return []
    rate = majority_rate(capped(task.test, config.eval_size).labels)
    return [
        f"{task.name}: the most common class is {rate:.1%} of the evaluated test examples, so always answering it "
        "scores that accuracy; read accuracy against it (the dotted line in the figures) and macro-F1 beside it."
    ]


def run_trial(config: ModulePortingConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    from embedxfer.experiments.module_porting.origin import obtain_origin

    technique, origin = spec.params["technique"], spec.params["origin"]
    if spec.condition == "origin":
        module = obtain_origin(config, technique, origin, spec.seed, ctx, log=True)
        if module.cached:  # the curve was logged by whichever trial trained it; this trial shows it too
            for row in module.evals:
                ctx.log_metrics(int(row["step"]), {k: v for k, v in row.items() if k != "step"})
        _write_artifact(ctx, ORIGIN_ARTIFACT, module.archive)
        return module.metrics | {"origin_cached": float(module.cached)}
    trained = None
    if spec.condition != "scratch":
        trained = obtain_origin(config, technique, origin, spec.seed, ctx, log=False)
    return _run_receiver(config, spec, ctx, trained)


def _run_receiver(config: ModulePortingConfig, spec: TrialSpec, ctx: TrialContext, trained) -> dict[str, float]:
    from embedxfer.checkpoints import arch_info
    from embedxfer.experiments.module_porting.origin import module_archive, spec_for
    from embedxfer.experiments.module_porting.training import build_host, evaluate_host, prefixed, train_host
    from embedxfer.porting.port import port_module, sample_like
    from embedxfer.tasks import load_task

    technique, origin, receiver = spec.params["technique"], spec.params["origin"], spec.params["receiver"]
    ctx.report({"phase": "loading"})
    task = load_task(config.task).subsample(config.train_size, seed=spec.seed)
    module = spec_for(config, technique, arch_info(receiver).family)
    host = build_host(receiver, module, task, config, spec.seed)
    metric, device = task.metric, ctx.device_for(config.device)
    metrics: dict[str, Any] = {}
    if trained is not None:
        origin_layers = arch_info(origin).num_layers
        mapping = resolve_layer_map(parse_layer_map(config.layer_map), origin_layers, host.num_layers)
        target = host.module_parameters()
        report = port_module(
            trained.tensors,
            target,
            mapping,
            origin=origin,
            receiver=receiver,
            technique=technique,
            origin_layers=origin_layers,
            receiver_layers=host.num_layers,
        )
        metrics |= {f"{action}_tensors": float(n) for action, n in report.counts().items()}
        metrics["ported_values"] = float(report.values_ported())
        if spec.condition == "sampled":
            sample_like(target, report, spec.seed)
        else:
            described = report.to_dict()
            _write_artifact(ctx, REPORT_ARTIFACT, described)
            _write_artifact(ctx, PORTED_ARTIFACT, module_archive(host, {REPORT_ARTIFACT: described}))
    ctx.check_cancel()
    ctx.report({"phase": "zero-shot"})
    val, test = (evaluate_host(host, split, config, device, metric) for split in ("val", "test"))
    ctx.log_metrics(0, {f"val_{metric}": val[metric], "val_loss": val["loss"]})
    metrics |= prefixed(val, "zero_shot_val") | prefixed(test, "zero_shot_test")
    metrics["module_parameters"] = float(
        sum(p.numel() for n, p in host.module_parameters().items() if not n.startswith("head."))
    )
    if config.receiver_steps:
        trained_metrics = train_host(host, config, config.receiver_steps, spec.seed, ctx, device, metric)
        trained_metrics.pop("evals")
        metrics |= trained_metrics
        ctx.report({"phase": "test"})
        test = evaluate_host(host, "test", config, device, metric)
    else:
        metrics |= prefixed(val, "val")
    return metrics | prefixed(test, "test")


def _write_artifact(ctx: TrialContext, name: str, data: bytes | dict) -> None:
    from embedxfer.paths import write_atomic

    if ctx.artifact_dir is not None:
        write_atomic(ctx.artifact_dir / name, data)


#: examples per second per parameter-of-the-blocks for one CPU worker (measured: minilm-l6 with LoRA, batch 16 of
#: tweets at max_length 64, ~4.2 steps/s training and ~180 examples/s evaluating; minilm-l3 about twice as fast)
_TRAIN_RATE, _EVAL_RATE = 7.4e8, 2.0e9


def estimate_seconds(config: ModulePortingConfig) -> float:
    """Rough CPU seconds per trial, averaged over the plan's trials: training steps, evaluations, loading."""
    from embedxfer.checkpoints import arch_info

    eval_examples = min(config.eval_size or 2000, 2000)
    seconds: list[float] = []
    for origin, receiver in config.pairs():
        for condition in config.conditions:
            host = arch_info(origin if condition == "origin" else receiver)
            blocks = max(1e5, host.num_parameters - host.vocab_size * host.hidden_size)
            steps = config.origin_steps if condition == "origin" else config.receiver_steps
            evals = steps // config.eval_every + (1 if condition == "origin" else 3)
            length = min(config.max_length, 64) / 64
            step = blocks * config.batch_size * length / _TRAIN_RATE
            seconds.append(steps * step + evals * eval_examples * blocks * length / _EVAL_RATE + 3.0)
    return sum(seconds) / max(1, len(seconds))
