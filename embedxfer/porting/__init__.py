"""Porting parameter-efficient modules between hosts: techniques, attaching, layer maps, the port and its report,
module files. Mechanics only: which conditions a study compares lives in `experiments/module_porting/`
(docs/architecture.md, "module_porting")."""

from embedxfer.porting.layer_map import NAMED_MAPS, describe_layer_map, parse_layer_map, resolve_layer_map
from embedxfer.porting.port import ACTIONS, PortEntry, PortReport, check_widths
from embedxfer.porting.techniques import (
    DEFAULTS,
    SUPPORTED,
    TECHNIQUE_MEANING,
    TECHNIQUES,
    ModuleSpec,
    check_host,
    module_spec,
    technique_of,
)

__all__ = [
    "ACTIONS",
    "DEFAULTS",
    "NAMED_MAPS",
    "SUPPORTED",
    "TECHNIQUES",
    "TECHNIQUE_MEANING",
    "ModuleSpec",
    "PortEntry",
    "PortReport",
    "check_host",
    "check_widths",
    "describe_layer_map",
    "module_spec",
    "parse_layer_map",
    "resolve_layer_map",
    "technique_of",
]
