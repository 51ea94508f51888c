"""How the Ray backend runs trials: where the cluster is and what each trial asks of it.

The CLI's options (`--address`, `--cpus-per-trial`, `--gpus-per-trial`, `--retries`) win over the environment
(EMBEDXFER_RAY_ADDRESS, EMBEDXFER_RAY_CPUS_PER_TRIAL, EMBEDXFER_RAY_GPUS_PER_TRIAL, EMBEDXFER_RAY_RETRIES), which
is how the dashboard is configured. These describe where trials run, not what they compute, so they are not
part of an experiment's config: the same config gives the same rows on either backend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from embedxfer.errors import ConfigError

ENV_BACKEND = "EMBEDXFER_BACKEND"
ENV_ADDRESS = "EMBEDXFER_RAY_ADDRESS"
ENV_CPUS = "EMBEDXFER_RAY_CPUS_PER_TRIAL"
ENV_GPUS = "EMBEDXFER_RAY_GPUS_PER_TRIAL"
ENV_RETRIES = "EMBEDXFER_RAY_RETRIES"
BACKENDS = ("thread", "ray")
RAY_INSTALL_HINT = "install it with `make cluster` or `pip install -r requirements-ray.txt`"


@dataclass(frozen=True)
class RaySettings:
    """`address`: None starts a local Ray for this process; ``auto`` or ``ray://host:port`` joins a cluster.
    `gpus_per_trial`: None means 1 when the cluster has GPUs and the config's device allows one, else 0; a
    fraction below 1 packs several trials on one GPU (0.25: four). `retries`: how often a trial whose worker
    or node died is run again before it is marked `interrupted`."""

    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    retries: int = 0
    #: CPUs of a local Ray started here (None: all of this machine's); ignored when joining a cluster
    local_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.address is not None and not str(self.address).strip():
            object.__setattr__(self, "address", None)
        if not self.cpus_per_trial > 0:
            raise ConfigError(f"cpus_per_trial must be above 0, got {self.cpus_per_trial}.")
        gpus = self.gpus_per_trial
        if gpus is not None and (gpus < 0 or (gpus > 1 and gpus != int(gpus))):
            raise ConfigError(
                f"gpus_per_trial must be 0, a fraction of one GPU (0.25 runs four trials per GPU) or a whole "
                f"number of GPUs, got {gpus}."
            )
        if not 0 <= self.retries <= 5:
            raise ConfigError(f"retries must be between 0 and 5, got {self.retries}.")
        if self.local_cpus is not None and self.local_cpus < 1:
            raise ConfigError(f"local_cpus must be at least 1, got {self.local_cpus}.")

    @property
    def local(self) -> bool:
        """Whether this process starts its own Ray (no address given)."""
        return self.address is None

    def where(self) -> str:
        return "a local Ray started here" if self.local else f"the Ray cluster at {self.address}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> RaySettings:
        """Settings from EMBEDXFER_RAY_*; keyword `overrides` that are not None win (the CLI's options)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "address": env.get(ENV_ADDRESS) or None,
            "cpus_per_trial": _number(env, ENV_CPUS, 1.0),
            "gpus_per_trial": _number(env, ENV_GPUS, None),
            "retries": int(_number(env, ENV_RETRIES, 0) or 0),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]


def _number(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}.") from None


def configured_backend(text: str | None = None) -> str:
    """`text` (the CLI's --backend), else EMBEDXFER_BACKEND, else ``thread``."""
    name = (text or os.environ.get(ENV_BACKEND, "") or "thread").strip().lower()
    if name not in BACKENDS:
        raise ConfigError(f"Backend {name!r} is not one of {', '.join(BACKENDS)}.")
    return name
