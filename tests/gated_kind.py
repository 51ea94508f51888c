"""`gated`: a test-only experiment kind whose trials wait at a gate that the test opens.

A test that cancels, kills or resumes a run must know the trial is mid-run when it acts, on any machine, however
busy: a trial that is merely "long" may still end first on a fast machine or outlast the timeout on a slow one.
A gated trial takes `hold_at` steps, then waits until the file `<gate>/open` (or `<gate>/open-<its seed>`)
exists, checking its cancel token all the while, then takes the rest. The gate is a file, so it works across
processes: a CLI child, a dashboard server, a Ray worker. A trial that reaches the gate leaves
`<gate>/waiting-<trial_id>`, so tests can wait on that.

This file is a plugin (embedxfer/plugins.py): importing it registers the kind. It is always imported by path,
never by module name: in-process through the `gated` fixture (conftest.py), in other processes through
EMBEDXFER_PLUGINS=<this file> (tests/gate.py's `plugin_env`). The test's side of a gate is tests/gate.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from embedxfer.errors import ConfigError
from embedxfer.experiments import BaseConfig, ExperimentKind, KindCard, config_field, register_kind
from embedxfer.trials import TrialContext, TrialSpec

NAME = "gated"
#: file names shared with tests/gate.py
OPEN, WAITING = "open", "waiting-"
#: how often a waiting trial looks at the gate and at its cancel token
POLL_SECONDS = 0.02


@dataclass(kw_only=True)
class GatedConfig(BaseConfig):
    kind: ClassVar[str] = NAME
    task: str = config_field("none", help="unused")
    seeds: list[int] = config_field(factory=lambda: [0], help="one trial per condition and seed")
    conditions: list[str] = config_field(factory=lambda: ["a"], help="one trial per condition and seed")
    steps: int = config_field(4, help="steps per trial")
    hold_at: int = config_field(1, help="steps a held trial takes before it waits at the gate")
    gate: str = config_field("", help="folder whose file `open` lets held trials go on")
    free_seeds: list[int] = config_field(factory=list, help="seeds whose trials never wait")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.hold_at < self.steps:
            raise ConfigError(f"Field 'hold_at' must lie in [0, steps), got {self.hold_at} of {self.steps}.")
        if not self.gate:
            raise ConfigError("Field 'gate' must name a folder.")


def _expand(config: GatedConfig) -> list[TrialSpec]:
    return [TrialSpec(c, s, {}) for c in config.conditions for s in config.seeds]


def _wait_at_gate(gate: Path, seed: int, ctx: TrialContext) -> None:
    (gate / f"{WAITING}{ctx.trial_id}").touch()
    while not ((gate / OPEN).exists() or (gate / f"{OPEN}-{seed}").exists()):
        ctx.check_cancel()
        time.sleep(POLL_SECONDS)


def _run(config: GatedConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    gate = Path(config.gate)
    held = spec.seed not in config.free_seeds
    ctx.report({"phase": "starting"})
    for step in range(config.steps):
        ctx.check_cancel()
        if held and step == config.hold_at:
            _wait_at_gate(gate, spec.seed, ctx)
        loss = 1.0 / (step + 1)
        ctx.report({"step": step + 1, "total": config.steps, "loss": loss})
        ctx.log_metrics(step, {"train_loss": loss})
    return {"test_accuracy": 0.5 + 0.01 * spec.seed, "steps": float(config.steps)}


KIND = register_kind(
    ExperimentKind(
        name=NAME,
        config_cls=GatedConfig,
        expand=_expand,
        run_trial=_run,
        description="test kind: trials wait at a gate the test opens",
        card=KindCard("Gated test run", "Does the tool act right on a trial held mid-run?", "tests"),
        estimate_seconds=lambda config: 1.0,
    )
)
