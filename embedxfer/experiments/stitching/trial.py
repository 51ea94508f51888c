"""stitching trials: per seed, `b-alone`, `identity` (A is B), and per layer pair `stitch:<i>-><j>` and
`random-stitch`; expand checks the models, tokenizers, pairs and task before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.stitching.config import StitchingConfig
from embedxfer.experiments.stitching.pairs import (
    B_ALONE,
    IDENTITY,
    RANDOM_STITCH,
    STITCH_PREFIX,
    resolve_pairs,
    stitch_condition,
)
from embedxfer.trials import TrialContext, TrialSpec

if TYPE_CHECKING:
    from embedxfer.tasks import Task

#: examples per batch when only frozen forwards run (features, token states for the fit)
_FORWARD_BATCH = 64


def _check_task(task: Task) -> None:
    if task.modality != "text":
        raise ConfigError(
            f"Stitching feeds one model's token states to another, and task {task.name!r} has {task.modality} "
            "inputs; pick a text task (tweets-binary, word-valence-binary, a file task)."
        )


def check_same_tokens(config: StitchingConfig, task: Task) -> None:
    """ConfigError unless A and B turn text into the same token ids: a token-level stitch pairs A's state of each
    token with B's state of that same token."""
    from embedxfer.checkpoints import load_tokenizer

    if config.same_model:
        return
    a, b = load_tokenizer(config.checkpoint_a), load_tokenizer(config.checkpoint_b)
    sample = [str(text) for text in task.train.inputs[:50]]

    def ids(tokenizer: Any) -> list[list[int]]:
        return tokenizer(sample, truncation=True, max_length=config.max_length)["input_ids"]

    if a.get_vocab() != b.get_vocab() or ids(a) != ids(b):
        raise ConfigError(
            f"Stitching pairs A's and B's states token by token, but {config.checkpoint_a} and "
            f"{config.checkpoint_b} tokenize text differently; stitch checkpoints that share a tokenizer, or compare "
            "these two with layer_similarity, which aligns layers by example."
        )


def expand(config: StitchingConfig) -> list[TrialSpec]:
    """Check both checkpoints, the task, the tokenizers and every pair now, so bad input fails at submit."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.tasks import load_task

    info_a, info_b = arch_info(config.checkpoint_a), arch_info(config.checkpoint_b)
    task = load_task(config.task)
    _check_task(task)
    task.subsample(config.train_size, seed=config.seeds[0])  # raises if train_size exceeds the data
    check_same_tokens(config, task)
    pairs = resolve_pairs(config.pairs, info_a, info_b)
    specs = []
    for seed in config.seeds:  # seed by seed: a run stopped early still has whole curves
        specs.append(TrialSpec(condition=B_ALONE, seed=seed, params={}))
        if config.same_model:
            middle = info_a.num_layers // 2
            specs.append(TrialSpec(condition=IDENTITY, seed=seed, params={"i": middle, "j": middle}))
        for i, j in pairs:
            specs.append(TrialSpec(condition=stitch_condition(i, j), seed=seed, params={"i": i, "j": j}))
            if config.random_stitch:
                specs.append(TrialSpec(condition=RANDOM_STITCH, seed=seed, params={"i": i, "j": j}))
    return specs


def run_trial(config: StitchingConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import torch

    from embedxfer.checkpoints import fresh_model, load_checkpoint
    from embedxfer.data import encode_texts
    from embedxfer.devices import resolve_device
    from embedxfer.finetuning import capped
    from embedxfer.heads import OutputSpec
    from embedxfer.tasks import load_task

    ctx.report({"phase": "loading"})
    device = resolve_device(ctx.device_for(config.device))
    task = load_task(config.task).subsample(config.train_size, seed=spec.seed)
    tokenizer = load_checkpoint(config.checkpoint_a).tokenizer  # B tokenizes alike (checked at expand)
    # private copies: the hooks and the device move must never touch the shared instances other trials read
    a = fresh_model(config.checkpoint_a).model.eval().requires_grad_(False).to(device)
    b = a if config.same_model else fresh_model(config.checkpoint_b).model.eval().requires_grad_(False).to(device)
    splits = {
        name: encode_texts(tokenizer, split.inputs, split.labels, config.max_length)
        for name, split in (
            ("train", task.train),
            ("val", capped(task.val, config.eval_size)),
            ("test", capped(task.test, config.eval_size)),
        )
    }
    classes = OutputSpec.for_task(task).classes
    torch.manual_seed(spec.seed)  # the head starts alike in every condition of a seed: paired comparisons
    head = torch.nn.Linear(_width(b), classes)
    ctx.check_cancel()
    model, facts = _build(config, spec, a, b, head, splits, device, ctx)
    return {**_train_and_test(config, spec, model, splits, task, classes, device, ctx), **facts}


def _width(b: Any) -> int:
    return int(b.config.hidden_size)


def _build(config, spec, a, b, head, splits, device, ctx) -> tuple[Any, dict[str, float]]:
    """The condition's StitchedModel and the facts of its stitch (stitch_r2 on the training and test tokens)."""
    from embedxfer.experiments.stitching.fit import fit_least_squares, r_squared, random_map
    from embedxfer.experiments.stitching.model import StitchedModel, linear_map

    if spec.condition == B_ALONE:
        return StitchedModel(None, b, i=None, j=0, stitch=None, head=head), {}
    i, j = int(spec.params["i"]), int(spec.params["j"])
    if spec.condition == IDENTITY:
        return StitchedModel(a, a, i=i, j=i, stitch=None, head=head), {}
    ctx.report({"phase": f"encoding hidden states {i} and {j}"})
    table_a = _table(config.checkpoint_a, a, i, device)
    table_a.fill([row for split in splits.values() for row in split.ids], _FORWARD_BATCH)
    table_b = _table(config.checkpoint_b, b, j, device)
    fit_rows = splits["train"].ids + splits["test"].ids
    table_b.fill(fit_rows, _FORWARD_BATCH)
    ctx.check_cancel()
    ctx.report({"phase": f"fitting the stitch {i}->{j}"})
    x, y = table_a.tokens(splits["train"].ids), table_b.tokens(splits["train"].ids)
    trained = spec.condition.startswith(STITCH_PREFIX)
    # the trained stitch starts from the least-squares map on the training rows' tokens: training then refines a
    # map that already fits, so a poor result cannot be blamed on a bad start
    fitted = fit_least_squares(x, y) if trained else random_map(x, y, seed=spec.seed)
    x_test, y_test = table_a.tokens(splits["test"].ids), table_b.tokens(splits["test"].ids)
    facts = {
        "stitch_r2": r_squared(fitted.apply(x), y),
        "stitch_r2_test": r_squared(fitted.apply(x_test), y_test),
    }
    stitch = linear_map(fitted.weight, fitted.bias, trainable=trained).to(device)
    return StitchedModel(a, b, i=i, j=j, stitch=stitch, head=head, a_states=table_a), facts


def _table(checkpoint: str, model: Any, index: int, device: Any) -> Any:
    """The shared table of `checkpoint`'s hidden state `index` (its weights' fingerprint in the key: a changed
    folder never reads old states)."""
    from embedxfer.checkpoints import checkpoint_fingerprint
    from embedxfer.experiments.stitching.states import state_table

    key = (checkpoint, checkpoint_fingerprint(checkpoint), index, str(device))
    return state_table(key, model, index, device)


def _train_and_test(config, spec, model, splits, task, classes, device, ctx) -> dict[str, float]:
    """Train what trains (the stitch and the head, or the head alone on precomputed features) and score the test
    split: the task's metric, and for classes macro-F1 and the majority rate."""
    from embedxfer.data import EncodedSplit
    from embedxfer.engine import TrainSettings, predict, train_model
    from embedxfer.experiments.stitching.model import pooled_features
    from embedxfer.heads import task_scores

    # the stitch trains at lr and the head at head_lr; with no stitch to train the head is all there is
    trains_stitch = model.stitch is not None and any(p.requires_grad for p in model.stitch.parameters())
    lr = config.lr if trains_stitch else config.head_lr
    settings = TrainSettings(epochs=config.epochs, lr=lr, batch_size=config.batch_size, grad_clip=1.0, seed=spec.seed)
    # read only when a stitch trains: the head-only baselines do not depend on the stitch's lr
    scales = (
        {f"head.{name}": config.head_lr / config.lr for name, _ in model.head.named_parameters()}
        if trains_stitch
        else None
    )
    model.to(device)
    if not trains_stitch:
        # nothing below the head trains: its input is fixed, so encode each split once and train on the vectors
        ctx.report({"phase": "encoding"})
        splits = {
            name: EncodedSplit(
                ids=None,
                vectors=pooled_features(model, split, batch_size=_FORWARD_BATCH, device=device),
                labels=split.labels,
            )
            for name, split in splits.items()
        }
    result = train_model(
        model,
        splits["train"],
        classes=classes,
        metric=task.metric,
        settings=settings,
        evals={"val": splits["val"]},
        ctx=ctx,
        device=device,
        lr_scales=scales,
    )
    ctx.report({"phase": "test"})
    out = predict(model, splits["test"], classes=classes, device=device, settings=settings)
    scores = {f"test_{name}": value for name, value in task_scores(out.predicted, out.labels, task.metric).items()}
    return {**scores, "test_loss": out.loss, **result.metrics(model)}


def estimate_seconds(config: StitchingConfig) -> float:
    """Rough CPU seconds per trial, averaged over a pair's trials, from block passes (one example through one block)
    at ~1e5 block-token passes of a 384-wide block per second on 2 cores: A's and B's states are computed once per
    pair and seed, the trained stitch adds a backward through B's upper blocks, the random stitch one more pass."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.finetuning import resolved_train_size

    info_a, info_b = arch_info(config.checkpoint_a), arch_info(config.checkpoint_b)
    train = resolved_train_size(config.task, config.train_size)
    evals = config.eval_size or 2000
    rows = train + 2 * evals
    layers_a, layers_b = info_a.num_layers, info_b.num_layers
    # an average depth pair sits halfway up both models
    tables = rows * layers_a / 2 * (info_a.hidden_size / 384) ** 2 + (train + evals) * layers_b / 2
    stitched = train * config.epochs * layers_b * 1.75 + 2 * evals * layers_b
    random = rows * layers_b if config.random_stitch else 0.0
    passes = (tables + stitched * (info_b.hidden_size / 384) ** 2 + random) / (2 if config.random_stitch else 1)
    tokens = min(config.max_length, 30)  # most texts end well before max_length
    return 2.0 + passes * tokens / 1e5


def notes(config: StitchingConfig) -> list[str]:
    """What each baseline rules out."""
    out = [
        "b-alone: the head on B's own last layer; a stitch at that level means A's bottom layers can stand in for B's.",
    ]
    if config.random_stitch:
        out.append(
            "random-stitch: a frozen random map at the scale of B's layer j, only the head trained; a trained stitch "
            "must beat it to show that A's layer i carries what B's upper blocks can use. At j = L no block of B "
            "follows, so a random map and the head are a linear probe of A's layer i: no control there."
        )
    if config.same_model:
        out.append("identity: the model into itself with no stitch; it must equal b-alone (a check of the hooks).")
    return out
