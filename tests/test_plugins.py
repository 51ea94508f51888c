"""EMBEDXFER_PLUGINS: a researcher's own kinds, by module name or file, in every process that reads the variable."""

from __future__ import annotations

import json
import sys

from process_support import cli

from embedxfer.errors import ConfigError
from embedxfer.plugins import ENV_PLUGINS, load_plugin, plugin_entries

PLUGIN = """
from dataclasses import dataclass
from typing import ClassVar

from embedxfer.experiments import BaseConfig, ExperimentKind, KindCard, config_field, register_kind
from embedxfer.trials import TrialSpec


@dataclass(kw_only=True)
class CountConfig(BaseConfig):
    kind: ClassVar[str] = "{name}"
    task: str = config_field("none", help="unused")
    steps: int = config_field(3, help="steps")


def run(config, spec, ctx):
    for step in range(config.steps):
        ctx.report({{"step": step + 1, "total": config.steps}})
    return {{"test_accuracy": 0.25 * (spec.seed + 1)}}


register_kind(
    ExperimentKind(
        name="{name}",
        config_cls=CountConfig,
        expand=lambda config: [TrialSpec("only", seed, {{}}) for seed in config.seeds],
        run_trial=run,
        description="counts",
        card=KindCard("Count", "?", "a plugin"),
    )
)
"""


def test_entries_are_split_like_path(monkeypatch):
    monkeypatch.setenv(ENV_PLUGINS, "mylab.kinds:/tmp/x.py:")
    assert plugin_entries() == ["mylab.kinds", "/tmp/x.py"]
    assert plugin_entries("") == []


def test_a_module_and_a_file_register_kinds_for_the_cli(tmp_path, embedxfer_home):
    package = tmp_path / "mylab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "kinds.py").write_text(PLUGIN.format(name="count_module"))
    file_plugin = tmp_path / "count_file.py"
    file_plugin.write_text(PLUGIN.format(name="count_file"))
    env = {ENV_PLUGINS: f"mylab.kinds:{file_plugin}", "PYTHONPATH": str(tmp_path)}
    for kind in ("count_module", "count_file"):
        config = tmp_path / f"{kind}.json"
        config.write_text(json.dumps({"kind": kind, "seeds": [0, 1]}))
        with cli("run", str(config), "--json", env=env) as run:
            out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        result = json.loads(out)
        assert result["kind"] == kind and [t["metrics"]["test_accuracy"] for t in result["trials"]] == [0.25, 0.5]


def test_a_broken_plugin_is_one_sentence_naming_it(tmp_path, embedxfer_home):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half written')\n")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"kind": "finetune"}))
    for entry, says in ((str(broken), "RuntimeError: half written"), (str(tmp_path / "gone.py"), "not a file")):
        with cli("run", str(config), env={ENV_PLUGINS: entry}) as run:
            _, err = run.communicate(timeout=120)
        assert run.returncode == 2 and len(err.strip().splitlines()) == 1, err
        assert f"{ENV_PLUGINS} names" in err and says in err and "Traceback" not in err


def test_loading_twice_gives_the_same_module_and_a_failed_file_leaves_nothing_behind(tmp_path):
    plugin = tmp_path / "twice.py"
    plugin.write_text("VALUE = object()\n")
    assert load_plugin(str(plugin)) is load_plugin(str(plugin))
    broken = tmp_path / "broken_once.py"
    broken.write_text("raise ValueError('no')\n")
    try:
        load_plugin(str(broken))
    except ConfigError as exc:
        assert "ValueError: no" in str(exc)
    else:
        raise AssertionError("a broken plugin must raise")
    assert not [name for name in sys.modules if name.startswith("embedxfer_plugin_broken_once")]
