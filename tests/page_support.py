"""Helpers for driving dashboard pages through Streamlit's AppTest (the `app_env` fixture is in conftest)."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
TIMEOUT = 120  # the first run in a process imports torch and starts the job manager


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    at.query_params.update(query)
    return at.switch_page(page).run()


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "info", "markdown", "caption", "warning") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Open a lazy tab (st.tabs with on_change="rerun") the way a click does: its key holds the open label."""
    at.session_state[key] = label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_finished(store, experiment_id: str, timeout: float = 600.0) -> str:
    """Wait for the experiment to leave queued/running (the timeout only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = store.get_experiment(experiment_id)["status"]
        if status not in ("queued", "running"):
            return status
        time.sleep(0.25)
    raise AssertionError(f"experiment {experiment_id} still {status} after {timeout} s")


def run_plan(store, plan, *, fresh: bool = False) -> dict:
    """Run an experiment plan on one CPU worker until it finishes; its public JSON, every trial completed. `fresh`:
    run every trial even where a completed one with the same key could be reused."""
    from embedxfer.jobs import JobManager
    from embedxfer.results import experiment_json

    with JobManager(store, workers={"cpu": 1}) as manager:
        experiment_id = manager.submit(plan, fresh=fresh)
        wait_finished(store, experiment_id)
    result = experiment_json(store, experiment_id)
    assert result["status"] == "completed", [t.get("error") for t in result["trials"]]
    return result


def read_catalog(at) -> object:
    """The catalog table once the background reader has every checkpoint (the page redraws until then)."""
    catalog = at.dataframe[0].value
    while (catalog["status"] == "reading…").any():
        time.sleep(1.0)  # as the page's own fragment does; rerunning the whole app faster starves the reader
        catalog = at.run().dataframe[0].value
    return catalog
