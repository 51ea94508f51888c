"""`module_porting`: does a parameter-efficient module (bottleneck adapter, compacter, prefix tuning, LoRA, (IA)^3)
trained with a task head on one pretrained host still work, and train faster, when ported into another host
(Sabry & Belz 2024, arXiv 2401.14228)?

Conditions (public names): `origin`, `ported`, `scratch`, `sampled`; trials per (seed, technique, host pair,
condition), with technique, origin, receiver and the resolved layer map in the trial params. The porting mechanics
live in `embedxfer/porting/`; here: the config, the cached origin module (`origin.py`), the trials, figures,
paired comparisons, the port-report table and the modules download (docs/architecture.md, "module_porting").
"""

from pathlib import Path

from embedxfer.experiments.module_porting.claims import CLAIMS
from embedxfer.experiments.module_porting.config import CONDITIONS, ModulePortingConfig, parse_host_pair
from embedxfer.experiments.module_porting.downloads import modules_zip
from embedxfer.experiments.module_porting.figures import FIGURES, paired_rows, port_report_table, report_steps
from embedxfer.experiments.module_porting.trial import (
    CONDITION_MEANING,
    PORTED_ARTIFACT,
    REPORT_ARTIFACT,
    estimate_seconds,
    expand,
    notes,
    run_trial,
)
from embedxfer.experiments.outputs import DownloadSpec, TableSpec
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric
from embedxfer.experiments.serves import parts_rule
from embedxfer.porting.techniques import UNPORTABLE


def _porting_families() -> list[str]:
    from embedxfer.porting.techniques import SUPPORTED

    return list(SUPPORTED)


def compat(a, b):
    """Whether a module trained on `a` can be ported to `b`: same family (or families whose blocks match) and width;
    a depth change needs a map."""
    from embedxfer.experiments.outputs import Support
    from embedxfer.porting.techniques import same_port_group

    if not same_port_group(a.family, b.family):
        return Support("no", f"families differ ({a.family} vs {b.family}) and their blocks do not match")
    if a.hidden_size != b.hidden_size:
        return Support("no", f"widths differ ({a.hidden_size} vs {b.hidden_size})")
    if a.num_layers != b.num_layers:
        return Support("adjusted", f"a layer map ({a.num_layers} vs {b.num_layers} layers)")
    return Support("yes", "same family, width and depth")


KIND = register_kind(
    ExperimentKind(
        name="module_porting",
        checkpoint_rule=parts_rule(
            "module_porting attaches and ports PEFT modules by layer path", _porting_families, UNPORTABLE
        ),
        config_cls=ModulePortingConfig,
        expand=expand,
        run_trial=run_trial,
        description="Train a PEFT module on one host, port it to others of the same width, and compare it there with "
        "the same module trained from scratch and with one sampled from its statistics.",
        card=KindCard(
            title="Module porting",
            question="Does a PEFT module trained on host A still work, and train faster, when ported to host B?",
            reference="Sabry & Belz, Findings of EACL 2024, arXiv 2401.14228",
            quick_preset="module_porting-quick",
        ),
        primary_metric=task_primary_metric,
        summary_metrics=("zero_shot_test_accuracy", "zero_shot_test_macro_f1", "module_parameters"),
        group_params=("technique", "origin", "receiver"),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        claims=CLAIMS,
        notes=notes,
        paired=paired_rows,
        tables=(TableSpec("port_report", "Port report (every tensor of each port)", port_report_table),),
        downloads=(DownloadSpec("modules", "Modules (zip)", "zip", "application/zip", modules_zip),),
        compat=compat,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "CONDITIONS",
    "CONDITION_MEANING",
    "KIND",
    "PORTED_ARTIFACT",
    "REPORT_ARTIFACT",
    "ModulePortingConfig",
    "compat",
    "estimate_seconds",
    "expand",
    "modules_zip",
    "notes",
    "paired_rows",
    "parse_host_pair",
    "port_report_table",
    "report_steps",
    "run_trial",
]
