"""Devices and workers: one parser and one default for the CLI and the dashboard."""

from __future__ import annotations

import subprocess
import sys

import pytest

from embedxfer.devices import configured_workers, may_run, parse_workers, worker_devices
from embedxfer.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "workers"),
    [
        ("cpu=1", {"cpu": 1}),
        ("cuda:0=1, cpu=2", {"cuda:0": 1, "cpu": 2}),
        ("cpu:2", {"cpu": 2}),
        ("3", {"cpu": 3}),
        ("cuda", {"cuda": 1}),
    ],
)
def test_parse_workers(text, workers):
    assert parse_workers(text) == workers


def test_bad_worker_text_names_the_setting():
    with pytest.raises(ConfigError, match="EMBEDXFER_WORKERS item 'cpu=x'"):
        parse_workers("cpu=x")
    with pytest.raises(ConfigError, match="--workers names no workers"):
        parse_workers(",", source="--workers")


def test_environment_decides_unless_the_cli_says_otherwise(monkeypatch):
    monkeypatch.setenv("EMBEDXFER_WORKERS", "cpu=2")
    assert configured_workers() == {"cpu": 2}
    assert configured_workers("cpu=1") == {"cpu": 1}
    monkeypatch.delenv("EMBEDXFER_WORKERS")
    assert configured_workers()["cpu"] == 1


def test_worker_devices_and_routing():
    assert worker_devices({"cpu": 1, "cuda:1": 1, "cuda": 1}, check_devices=False) == ["cuda:0", "cuda:1", "cpu"]
    with pytest.raises(ConfigError, match="must be cpu, cuda or cuda:N"):
        worker_devices({"tpu": 1})
    assert may_run("cpu", "cpu", cuda_idle=True) and not may_run("cpu", "cuda:0", cuda_idle=True)
    assert may_run("auto", "cuda:0", cuda_idle=True) and not may_run("auto", "cpu", cuda_idle=True)
    assert may_run("auto", "cpu", cuda_idle=False) and not may_run("cuda:1", "cuda:0", cuda_idle=True)


def test_no_gpu_driver_means_no_torch_import_for_the_default_workers():
    """A CPU machine's dashboard starts its job manager without waiting ~2 s for torch."""
    code = (
        "import sys, os; from embedxfer import devices; "
        "os.path.exists = lambda p: False; sys.platform = 'linux'; "
        "print(devices.default_workers(), devices.cpu_threads() >= 1, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["{'cpu':", "1}", "True", "False"]
