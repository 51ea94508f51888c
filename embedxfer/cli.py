"""The `embedxfer` command line: list checkpoints and tasks, run experiments, inspect and export results.

Every user error ends as one line on stderr and a non-zero exit; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from embedxfer.cli_output import print_checkpoints, print_json, print_result, print_table
from embedxfer.cli_plan import add_config_arguments, cmd_plan, load_config
from embedxfer.devices import ENV_WORKERS
from embedxfer.errors import EmbedxferError
from embedxfer.ray_backend.settings import BACKENDS, ENV_BACKEND
from embedxfer.trials import ACTIVE_STATUSES

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(message)s")
    # Offline-first: a bundled or local checkpoint must never wait on a hub; `hub:` ids opt in explicitly.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return args.func(args) or 0
    except EmbedxferError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except Exception as exc:  # an unexpected failure still gets one line unless --debug
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embedxfer", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int | None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    p = add("checkpoints", _cmd_checkpoints, "list the checkpoint catalog with architecture info")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add("tasks", _cmd_tasks, "list the task registry")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--sizes", action="store_true", help="load each task and show split sizes (slower)")
    p = add("run", _cmd_run, "run an experiment config (YAML/JSON file, or preset:NAME) in the foreground")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _add_backend_options(p)
    p = add("plan", cmd_plan, "show what `run` would do (trials, reused ones, estimated time, notes); runs nothing")
    add_config_arguments(p)
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    p.add_argument(
        "--workers", help=f"worker threads the estimate assumes, as for run (default: {ENV_WORKERS} or auto)"
    )
    p = add("presets", _cmd_presets, "list the presets: named, complete configs shipped with each kind")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add("runs", _cmd_runs, "list the experiment history")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--kind", help="only this kind")
    p.add_argument("--status", help="only this status")
    p.add_argument("--limit", type=int, default=50)
    p = add("show", _cmd_show, "show one experiment: trials, metrics, summary")
    p.add_argument("id", help="experiment id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add("export", _cmd_export, "export an experiment's data or figure")
    p.add_argument("id", help="experiment id")
    p.add_argument(
        "--format",
        default="csv",
        help="csv, html, png, latex or markdown (the summary, paired and claims tables), or a file the experiment's "
        "kind offers (module_porting: modules, a zip of the modules)",
    )
    p.add_argument("--output", "-o", help="output file (default: <id>.<format> in the current folder)")
    p = add("resume", _cmd_resume, "run the unfinished trials of an experiment in the foreground")
    p.add_argument("id", help="experiment id")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _add_backend_options(p)
    return parser


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help=f"run trials on worker threads here or as Ray tasks (default: {ENV_BACKEND} or thread)",
    )
    p.add_argument(
        "--workers",
        help=f"thread backend: worker threads, e.g. cpu=2 or cuda:0=1,cpu=1 (default: {ENV_WORKERS} or auto)",
    )
    ray = p.add_argument_group("Ray backend (--backend ray)")
    ray.add_argument(
        "--address", help="an existing Ray cluster: auto (this node's) or ray://HOST:10001; default: start a local Ray"
    )
    ray.add_argument("--cpus-per-trial", type=float, help="CPUs each trial asks Ray for (default 1)")
    ray.add_argument(
        "--gpus-per-trial",
        type=float,
        help="GPUs each trial asks for; 0.25 runs four trials per GPU (default 1 when the cluster has GPUs)",
    )
    ray.add_argument(
        "--retries", type=int, help="times a trial whose worker or node died runs again (default 0: interrupted)"
    )


def _cmd_checkpoints(args: argparse.Namespace) -> int:
    from embedxfer.checkpoints import arch_info, list_checkpoints
    from embedxfer.workspace import registered_checkpoints

    rows = []
    for entry in list_checkpoints():
        row: dict[str, Any] = {"id": entry.id, "origin": "bundled", "available": entry.available}
        row.update(_arch_row(arch_info, entry.id) if entry.available else {"reason": entry.reason})
        rows.append({**row, "source": entry.source, "description": entry.description})
    for checkpoint_id in registered_checkpoints():  # EMBEDXFER_EXTRA_CHECKPOINTS and dashboard additions
        rows.append({"id": checkpoint_id, "origin": "added", **_arch_row(arch_info, checkpoint_id)})
    if args.json:
        print_json(rows)
        return 0
    print_checkpoints(rows)
    return 0


def _arch_row(arch_info: Callable[[str], Any], checkpoint_id: str) -> dict[str, Any]:
    """ArchInfo fields of a checkpoint, or why it cannot be used."""
    from embedxfer.experiments.serves import kind_support

    try:
        arch = arch_info(checkpoint_id)
    except EmbedxferError as exc:
        return {"available": False, "reason": str(exc)}
    info = arch.to_dict()
    return {
        "available": True,
        **{k: v for k, v in info.items() if k not in ("id", "source")},
        "source": info["source"],
        # kind -> null when it runs this checkpoint, else the reason it does not
        "kinds": kind_support(arch),
    }


def _cmd_tasks(args: argparse.Namespace) -> int:
    from embedxfer.tasks import FILE_SYNTAX, list_tasks, load_task

    rows = []
    for entry in list_tasks(include_sources=True):
        row = {
            "name": entry.name,
            "modality": entry.modality,
            "label_kind": entry.label_kind,
            "metric": entry.metric,
            "description": entry.description,
        }
        if args.sizes:
            try:
                task = load_task(entry.name)
                row.update(train=len(task.train.labels), val=len(task.val.labels), test=len(task.test.labels))
            except EmbedxferError as exc:  # e.g. "file"/"hf" need options
                row.update(train="-", val="-", test="-", note=str(exc))
        rows.append(row)
    if args.json:
        print_json(rows)
    else:
        columns = ["name", "modality", "label_kind", "metric"] + (["train", "val", "test"] if args.sizes else [])
        print_table(rows, columns + ["description"])
        print(f"\nYour own data: {FILE_SYNTAX}; a Hugging Face dataset (online): hf:NAME?text=COL&label=COL.")
    return 0


def _run_in_foreground(
    manager: Any, experiment_id: str, as_json: bool, preamble: Callable[[], list[str]] | None = None
) -> int:
    """Wait for a submitted experiment with a progress bar; Ctrl-C (or SIGTERM) cancels it cleanly and records that.
    Everything after the submit happens inside the interrupt handling, the `preamble()` lines (printed to stderr)
    and slow imports included: a Ctrl-C a moment after launch must cancel the trials, not leave them interrupted."""
    from embedxfer.store import Store

    store: Store = manager.store
    bar = None
    previous_handler = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` cancels like Ctrl-C
    try:
        for line in preamble() if preamble else []:
            print(line, file=sys.stderr)
        from tqdm import tqdm

        bar = tqdm(
            total=0, unit="step", disable=as_json or not sys.stderr.isatty(), file=sys.stderr, dynamic_ncols=True
        )
        while True:
            progress = manager.progress(experiment_id)
            done = sum(1 for p in progress.values() if p.get("status") not in ACTIVE_STATUSES)
            total = sum(int(p.get("total") or 0) for p in progress.values())
            step = sum(int(p.get("step") or 0) for p in progress.values())
            bar.total = max(total, 1)
            bar.n = min(step, bar.total)
            bar.set_postfix_str(f"trials {done}/{len(progress)}")
            bar.refresh()
            status = manager.wait(experiment_id, timeout=0.5)
            if status not in ACTIVE_STATUSES:
                break
    except KeyboardInterrupt:
        manager.cancel(experiment_id=experiment_id)
        status = manager.wait(experiment_id, timeout=60)
        if bar is not None:
            bar.close()
        if status == "completed":  # the signal came as the last trial finished: nothing was cancelled
            print(
                f"interrupted; experiment {experiment_id} had completed (`embedxfer show {experiment_id}`)",
                file=sys.stderr,
            )
        else:
            print(
                f"cancelled experiment {experiment_id}; `embedxfer resume {experiment_id}` runs what is left",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        if bar is not None:
            bar.close()
    result = print_result(store, experiment_id, as_json)
    return 0 if result["status"] == "completed" else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from embedxfer.experiments import plan_experiment
    from embedxfer.planning.preview import preview_plan

    config, name = load_config(args)
    plan = plan_experiment(config)  # checks checkpoint, task and parts before any worker starts
    with _open_manager(args) as manager:
        shown = None if args.json else preview_plan(plan, manager.store, fresh=args.fresh, slots=manager.slots())
        experiment_id = manager.submit(plan, name=name, fresh=args.fresh)

        def preamble() -> list[str]:
            if shown is None:
                return []
            head = [f"experiment {experiment_id} ({_backend_line(manager)})", shown.summary()]
            return head + [f"note: {n}" for n in plan.notes]

        return _run_in_foreground(manager, experiment_id, args.json, preamble)


def _open_manager(args: argparse.Namespace) -> Any:
    """The job manager the options ask for: threads (--workers) or Ray (--address, --cpus-per-trial, ...)."""
    from embedxfer.backends import open_manager
    from embedxfer.devices import configured_workers
    from embedxfer.ray_backend.settings import RaySettings, configured_backend

    if configured_backend(args.backend) == "ray":
        settings = RaySettings.from_env(
            address=args.address,
            cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial,
            retries=args.retries,
        )
        return open_manager(backend="ray", ray_settings=settings)
    given = [
        f"--{n.replace('_', '-')}"
        for n in ("address", "cpus_per_trial", "gpus_per_trial", "retries")
        if getattr(args, n) is not None
    ]
    if given:
        raise EmbedxferError(f"{', '.join(given)} only apply to the Ray backend; add --backend ray.")
    return open_manager(backend="thread", workers=configured_workers(args.workers))


def _backend_line(manager: Any) -> str:
    facts = manager.describe()
    if facts["backend"] != "ray":
        return "thread backend"
    return (
        f"Ray backend: {facts['where']}, {facts['nodes']} node(s), {facts['cpus']:g} CPUs, {facts['gpus']:g} GPUs; "
        f"{facts['cpus_per_trial']:g} CPU and {facts['gpus_per_trial']:g} GPU per trial"
    )


def _cmd_resume(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        experiment_id = manager.store.resolve_experiment_id(args.id)
        manager.resume(experiment_id)
        return _run_in_foreground(manager, experiment_id, args.json)


def _cmd_presets(args: argparse.Namespace) -> int:
    from embedxfer.experiments import list_presets, plan_experiment

    rows = []
    for preset in list_presets():
        try:
            plan = plan_experiment(preset.config)
            seconds, trials, note = plan.total_seconds(workers=1), len(plan.trials), ""
        except EmbedxferError as exc:  # e.g. its bundled checkpoint's package is not installed
            seconds, trials, note = None, None, str(exc)
        rows.append(
            {
                "name": preset.name,
                "kind": preset.kind,
                "description": preset.description,
                "trials": trials,
                "cpu_seconds": None if seconds is None else round(seconds),
                "note": note,
                "config": preset.config,
            }
        )
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        r["cpu time"] = "?" if r["cpu_seconds"] is None else f"~{max(1, round(r['cpu_seconds'] / 60))} min"
    print_table(rows, ["name", "kind", "trials", "cpu time", "description"])
    print("\nRun one: embedxfer run preset:NAME [--set FIELD=VALUE ...]")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from datetime import datetime

    from embedxfer.store import Store

    store = Store()
    store.mark_interrupted()  # trials of a process that died show as interrupted, not running forever
    rows = store.list_experiments(kind=args.kind, status=args.status, limit=args.limit)
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            r["created"] = datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M")
            r["trials"] = ", ".join(f"{n} {status}" for status, n in sorted(r["counts"].items()))
        print_table(rows, ["experiment_id", "kind", "status", "name", "created", "trials"])
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from embedxfer.store import Store

    store = Store()
    store.mark_interrupted()
    print_result(store, store.resolve_experiment_id(args.id), args.json)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from embedxfer.results.export import export_experiment

    output = export_experiment(args.id, args.format, Path(args.output) if args.output else None)
    print(output)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
