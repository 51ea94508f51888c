"""`embedxfer plan`: what `run` would do with a config, without running anything; and the config loading that
`plan` and `run` share (a file or preset:NAME, with --set overrides)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from embedxfer.cli_output import print_json, print_table

if TYPE_CHECKING:
    from embedxfer.experiments import BaseConfig


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """CONFIG, --set and --fresh: how `run` and `plan` name what to run."""
    p.add_argument("config", help="path to a YAML or JSON config with a 'kind' field, or preset:NAME")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field; VALUE is YAML (seeds=[0,1], train_size=null, lr=2e-5); repeatable",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="run every trial, even those a completed trial with the same settings, weights and data answers",
    )


def load_config(args: argparse.Namespace) -> tuple[BaseConfig, str]:
    """The config `args` name (file or preset, with --set overrides applied) and the experiment's default name."""
    from embedxfer.experiments import (
        config_to_dict,
        get_preset,
        load_config_file,
        parse_config,
        parse_overrides,
    )
    from embedxfer.experiments.presets import PRESET_PREFIX

    overrides = parse_overrides(args.overrides)
    if args.config.startswith(PRESET_PREFIX):
        preset = get_preset(args.config)
        return parse_config(preset.with_overrides(overrides)), preset.name
    config = load_config_file(args.config)
    if overrides:
        config = parse_config({**config_to_dict(config), **overrides})
    return config, Path(args.config).stem


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the plan: trials, which are reused, the estimated time and the kind's notes. Runs nothing."""
    from embedxfer.devices import configured_workers
    from embedxfer.experiments import plan_experiment
    from embedxfer.planning.preview import preview_plan
    from embedxfer.store import Store

    config, _ = load_config(args)
    plan = plan_experiment(config)
    shown = preview_plan(plan, Store(), fresh=args.fresh, slots=configured_workers(args.workers))
    if args.json:
        print_json(shown.to_json())
        return 0
    print(f"{plan.kind.name}: {shown.summary()}")
    rows = [
        {
            "condition": spec.condition,
            "seed": spec.seed,
            "params": ", ".join(f"{k}={v}" for k, v in spec.params.items()),
            "reused from": source or "",
        }
        for spec, source in zip(plan.trials, shown.sources, strict=True)
    ]
    print()
    print_table(rows, ["condition", "seed", "params", "reused from"])
    for note in plan.notes:
        print(f"note: {note}")
    if shown.reused and not shown.fresh:
        print("\n`embedxfer run` with the same arguments reuses these; add --fresh to run every trial again.")
    return 0
