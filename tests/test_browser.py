"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against `streamlit run app.py`.

AppTest (test_pages.py) runs page scripts in-process; these tests cover what only a real server and browser
show: the websocket session, fragments refreshing live progress, switch_page and query params in the URL,
state shared between tabs through the server's job manager, and what the pages look like (screenshots go to
$EMBEDXFER_SCREENSHOTS when set, else to a pytest temp folder).

One server serves the whole module (EMBEDXFER_WORKERS=cpu=1, the tiny random BERT offered through
EMBEDXFER_EXTRA_CHECKPOINTS, and the test-only `gated` kind through EMBEDXFER_PLUGINS: a run that must be seen
mid-run, cancelled or kept queued holds its trial at a gate the test opens, tests/gated_kind.py, so no test
depends on how fast the machine trains; its card shows on Home in these tests' screenshots). The tests run in
file order: later ones open the run the first one finished.
Without chromium they are skipped, except under CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import (
    GUARD,
    VIEWPORT,
    click_launch,
    fill_form,
    grid_rows,
    launch_chromium,
    launched_experiment,
    open_page,
    page_errors,
    poll,
    run_status,
    screenshot,
    start_server,
    submit_form,
    wait_charts,
    wait_idle,
)
from conftest import require_tool
from gate import Gate, plugin_env

pytestmark = pytest.mark.browser

# 4 steps per epoch (32 examples, batch 8): a few seconds per trial on one CPU worker
TINY_RUN = {
    "task": "tweets-binary",
    "train_size": 32,
    "epochs": 50.0,
    "max_length": 16,
    "eval_size": 32,
    "seeds": [0, 1],
}
FINISHED_NAME, HELD_NAME, LONG_NAME = "browser run", "held browser run", "long browser run"
MAIN = '[data-testid="stMain"]'


@pytest.fixture(scope="module")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_tool(False, "the playwright package (requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory, tiny_checkpoints):
    # depends on `browser` so that a missing chromium skips before a server is started for nothing
    server = start_server(
        tmp_path_factory.mktemp("browser") / "home",
        workers="cpu=1",
        extra_checkpoints=[tiny_checkpoints["bert"]],
        env=plugin_env(),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> Path:
    folder = os.environ.get("EMBEDXFER_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screens")


@pytest.fixture(scope="module")
def shared() -> dict:
    """What the first test leaves for the later ones (the finished experiment and its summary)."""
    return {}


def new_page(browser):
    # a context of its own per tab: separate cookies and Streamlit sessions, like another browser window
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(GUARD * 1000)
    return context.new_page()


@pytest.fixture()
def page(browser):
    tab = new_page(browser)
    yield tab
    tab.context.close()


def button(page, key: str):
    # .first: a button with a help tooltip is drawn twice, the second copy hidden (Streamlit measures its width)
    return page.locator(f".st-key-{key} button").first


def finished_run(shared: dict) -> str:
    if "experiment" not in shared:
        pytest.skip("needs the run that test_launch_watch_and_finish completes")
    return shared["experiment"]


@dataclass
class Reading:
    bar: int  # trials finished, percent (the st.progress bar)
    steps: int  # training steps done, summed over trials (the grid's step column)
    total: int  # steps of all trials
    statuses: tuple[str, ...]


def progress_reading(page) -> Reading | None:
    """The progress block as drawn right now, or None while Streamlit is redrawing it."""
    try:
        bar = page.locator(f'{MAIN} [data-testid="stProgress"] [role="progressbar"]').first
        value = bar.get_attribute("aria-valuenow", timeout=500)
        rows = grid_rows(page.locator(f'{MAIN} [data-testid="stDataFrame"]').first, timeout=0.5)
    except Exception:  # noqa: BLE001 - Playwright timeouts mid-redraw: read again on the next tick
        return None
    if value is None or not rows or "step" not in rows[0]:
        return None
    done, total = 0, 0
    for row in rows:
        step, _, of = row["step"].partition("/")
        done += int(step or 0)
        total += int(of or step or 0)
    return Reading(int(float(value)), done, total, tuple(row["status"] for row in rows))


def summary_rows(page) -> list[dict[str, str]]:
    """The results table (mean and 95% interval per condition): the grid with a test metric column."""
    for frame in page.locator(f'{MAIN} [data-testid="stDataFrame"]').all():
        rows = grid_rows(frame)
        if rows and "condition" in rows[0] and any(col.startswith("test_") for col in rows[0]):
            return rows
    return []


def assert_finished_view(page, experiment_id: str) -> list[dict[str, str]]:
    """Completed status, a drawn figure and a summary table with one condition over both seeds."""
    poll(lambda: run_status(page, experiment_id) == "completed", timeout=GUARD, what="status completed")
    wait_idle(page, FINISHED_NAME)
    # finetune registers three figures, one per tab; tabs are lazy, so only the open one is drawn
    wait_charts(page, 1)
    assert page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').count() == 1
    assert page.locator(f'{MAIN} [data-testid="stPlotlyChart"] .main-svg').first.is_visible()
    rows = poll(lambda: summary_rows(page), timeout=GUARD, what="the summary table")
    assert [row["condition"] for row in rows] == ["full"], rows
    assert rows[0]["n"] == "2" and re.match(r"[\d.]+ \[", rows[0]["test_accuracy"]), rows
    assert not page_errors(page)
    return rows


def test_launch_watch_and_finish(server, page, shared, tiny_checkpoints):
    from embedxfer.store import Store

    run = {"checkpoint": str(tiny_checkpoints["bert"]), **TINY_RUN}
    experiment_id = submit_form(page, server.url, "finetune", run, name=FINISHED_NAME)
    assert f"/runs?experiment={experiment_id}" in page.url
    wait_idle(page, FINISHED_NAME)

    readings: list[Reading] = []

    def watch() -> bool:
        reading = progress_reading(page)
        if reading and (not readings or reading != readings[-1]):
            readings.append(reading)
        return run_status(page, experiment_id) == "completed"

    poll(watch, timeout=GUARD, interval=0.25, what=f"experiment {experiment_id} to complete")
    # how many readings fall mid-run depends on the machine's speed; test_live_progress_of_a_held_run sees one surely
    assert [r.steps for r in readings] == sorted(r.steps for r in readings), readings  # progress never goes back
    assert [r.bar for r in readings] == sorted(r.bar for r in readings), readings

    rows = assert_finished_view(page, experiment_id)
    # all trials completed: the bar is full and the trial table gives way to the results
    bar = page.locator(f'{MAIN} [data-testid="stProgress"] [role="progressbar"]').first
    assert int(float(bar.get_attribute("aria-valuenow") or 0)) == 100
    store = Store(server.home)
    assert store.get_experiment(experiment_id)["status"] == "completed"
    trials = store.list_trials(experiment_id)
    assert len(trials) == 2 and all(t["step"] == t["total_steps"] > 0 for t in trials), trials
    shared.update(experiment=experiment_id, summary=rows)


def test_live_progress_of_a_held_run(server, page, screens, tmp_path):
    """The live view mid-run, at states the test sets: each trial waits at a gate after 2 of its 4 steps. The page
    must show the first held (step 2 of 8, with its live loss chart), then, once the test lets the first trial
    finish, the second held (step 6); then both go on and the view follows the run to the end."""
    gate = Gate(tmp_path / "gate")
    run = {"gate": str(gate.folder), "seeds": [0, 1], "steps": 4, "hold_at": 2}
    experiment_id = submit_form(page, server.url, "gated", run, name=HELD_NAME)
    wait_idle(page, HELD_NAME)
    readings: list[Reading] = []

    def shown(steps: int) -> bool:
        reading = progress_reading(page)
        if reading and (not readings or reading != readings[-1]):
            readings.append(reading)
        live_chart = page.locator(f'{MAIN} [data-testid="stPlotlyChart"] .main-svg').count() > 0
        return bool(reading and reading.steps == steps and "running" in reading.statuses and live_chart)

    poll(lambda: shown(2), timeout=GUARD, interval=0.25, what="the first trial shown held at step 2")
    screenshot(page, screens / "06-run-live.png", charts=1)
    gate.open(seed=0)
    poll(lambda: shown(6), timeout=GUARD, interval=0.25, what="the second trial shown held at step 2")
    gate.open()
    poll(lambda: run_status(page, experiment_id) == "completed", timeout=GUARD, what="the run completed")
    assert [r.steps for r in readings] == sorted(r.steps for r in readings), readings  # progress never goes back
    assert [r.bar for r in readings] == sorted(r.bar for r in readings), readings
    assert {2, 6} <= {r.steps for r in readings}, readings
    bar = page.locator(f'{MAIN} [data-testid="stProgress"] [role="progressbar"]').first
    poll(lambda: bar.get_attribute("aria-valuenow") == "100", timeout=GUARD, what="a full progress bar")
    assert not page_errors(page)


def test_reload_with_experiment_in_url(server, page, shared):
    experiment_id = finished_run(shared)
    # a fresh browser context: nothing but the URL says which run to show
    open_page(page, f"{server.url}/runs?experiment={experiment_id}", FINISHED_NAME)
    assert f"experiment={experiment_id}" in page.url
    assert assert_finished_view(page, experiment_id) == shared["summary"]


def test_cancel_from_another_tab(server, browser, screens, tmp_path):
    from embedxfer.store import Store

    gate = Gate(tmp_path / "gate")  # never opened: the first trial stays mid-run until the cancel
    first = new_page(browser)
    other = new_page(browser)
    try:
        run = {"gate": str(gate.folder), "seeds": [0, 1, 2]}
        experiment_id = submit_form(first, server.url, "gated", run, name=LONG_NAME)
        wait_idle(first, LONG_NAME)
        gate.wait_for(1)

        def training() -> bool:
            reading = progress_reading(first)
            return bool(reading and reading.steps > 0 and "running" in reading.statuses)

        poll(training, timeout=GUARD, what="the held run shown training")

        open_page(other, f"{server.url}/runs?experiment={experiment_id}", LONG_NAME)
        assert run_status(other, experiment_id) == "running"
        button(other, "runs-cancel").click()
        poll(lambda: run_status(other, experiment_id) == "cancelled", timeout=GUARD, what="cancelled in the other tab")
        # the first tab was never touched: its live view notices on its own
        poll(lambda: run_status(first, experiment_id) == "cancelled", timeout=GUARD, what="cancelled in the first tab")
        wait_idle(other, LONG_NAME)
        assert button(other, "runs-cancel").is_disabled()
        assert button(other, "runs-resume").is_enabled()  # cancelled trials can be resumed
        screenshot(other, screens / "08-run-cancelled.png")
    finally:
        first.context.close()
        other.context.close()

    store = Store(server.home)
    assert store.get_experiment(experiment_id)["status"] == "cancelled"
    trials = store.list_trials(experiment_id)
    assert len(trials) == 3 and {t["status"] for t in trials} == {"cancelled"}, trials
    assert [t["step"] for t in trials] == [1, 0, 0], trials  # held at the gate after one step; two never started


def test_two_sessions_launch_at_once(server, browser, tmp_path):
    from embedxfer.store import Store

    tabs = [new_page(browser), new_page(browser)]
    names = ["concurrent run A", "concurrent run B"]
    gates = [Gate(tmp_path / "gate-a"), Gate(tmp_path / "gate-b")]  # never opened: neither run can finish
    store = Store(server.home)
    ids: list[str] = []
    try:
        for tab, name, gate in zip(tabs, names, gates, strict=True):
            fill_form(tab, server.url, "gated", {"gate": str(gate.folder)}, name=name)
        for tab in tabs:  # both clicks go out before either page has switched to its run
            click_launch(tab)
        ids = [launched_experiment(tab) for tab in tabs]
        assert len(set(ids)) == 2, ids
        for tab, name, experiment_id in zip(tabs, names, ids, strict=True):
            wait_idle(tab, name)  # each session shows its own run
            assert store.get_experiment(experiment_id)["name"] == name
            assert run_status(tab, experiment_id) in {"queued", "running"}
        # one CPU worker: one trains, the other waits its turn
        statuses = sorted(store.get_experiment(i)["status"] for i in ids)
        assert statuses in (["queued", "running"], ["queued", "queued"]), statuses
        open_page(tabs[0], f"{server.url}/runs", "Runs")
        history = poll(
            lambda: grid_rows(tabs[0].locator(f'{MAIN} [data-testid="stDataFrame"]').first),
            timeout=GUARD,
            what="the runs history",
        )
        listed = {row["experiment"]: row["name"] for row in history}
        assert all(listed.get(i) == name for i, name in zip(ids, names, strict=True)), history
    finally:
        for experiment_id in ids:  # free the worker for the tests after this one
            store.request_cancel(experiment_id=experiment_id)
        for tab in tabs:
            tab.context.close()
    for experiment_id in ids:
        poll(lambda i=experiment_id: store.get_experiment(i)["status"] == "cancelled", timeout=GUARD, what="cancelled")


# (screenshot, path, title, plotly charts on the page)
PAGES = (
    ("01-home", "/", "embedxfer", 0),
    ("02-checkpoints", "/checkpoints", "Checkpoints", 0),
    ("03-data", "/data", "Tasks & data", 0),
    ("04-new-experiment", "/new?kind=finetune", "New experiment", 0),
    ("05-runs", "/runs", "Runs", 0),
)


def test_pages_render_and_screenshots(server, page, screens, shared):
    experiment_id = finished_run(shared)
    for name, path, title, charts in PAGES:
        open_page(page, server.url + path, title)
        assert not page_errors(page), (path, page_errors(page))
        screenshot(page, screens / f"{name}.png", charts=charts)
    # the lazy tabs of the checkpoints and data pages draw their content when opened
    for path, title, tab, grids, charts, name in (
        ("/checkpoints", "Checkpoints", "Compatibility between checkpoints", 2, 0, "02b-checkpoints-compat"),
        ("/data", "Tasks & data", "Look at a task", 1, 1, "03b-data-task"),
    ):
        open_page(page, server.url + path, title)
        page.get_by_role("tab", name=tab).click()
        poll(lambda n=grids: page.locator(f'{MAIN} [data-testid="stDataFrame"]').count() >= n, timeout=GUARD, what=tab)
        wait_idle(page, title)
        if charts:
            wait_charts(page, charts)
        assert not page_errors(page), (path, tab, page_errors(page))
        screenshot(page, screens / f"{name}.png", charts=charts)

    open_page(page, f"{server.url}/runs?experiment={experiment_id}", FINISHED_NAME)
    screenshot(page, screens / "07-run-detail.png", charts=1)
    # another tab builds its figure on demand
    page.get_by_role("tab", name="Training loss").click()
    poll(
        lambda: "training loss" in page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').first.inner_text().lower(),
        timeout=GUARD,
        what="the training-loss figure",
    )
    page.get_by_role("tab", name="Test metric by condition").click()
    wait_charts(page, 1)
    assert not page_errors(page)
    # the per-trial table is another lazy tab: one row per seed, with its metrics
    page.get_by_role("tab", name="All metrics, one row per trial").click()

    def per_trial_rows():
        try:
            grids = [grid_rows(f, timeout=0.5) for f in page.locator(f'{MAIN} [data-testid="stDataFrame"]').all()]
        except Exception:  # noqa: BLE001 - a grid removed mid-read by the tab switch: read again
            return None
        return next((rows for rows in grids if rows and "test_accuracy" in rows[0] and "n" not in rows[0]), None)

    trials = poll(per_trial_rows, timeout=GUARD, what="the per-trial table")
    assert sorted(row["seed"] for row in trials) == ["0", "1"], trials

    # "Add to board" under the first figure opens the board with that figure, named in the URL
    button(page, "runs-board-summary").click()
    page.wait_for_url(re.compile(r"/board\?"), timeout=GUARD * 1000)
    wait_idle(page, "Board")
    assert f"{experiment_id}%3Asummary" in page.url or f"{experiment_id}:summary" in page.url, page.url
    wait_charts(page, 1)
    assert page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').count() == 1
    # "Add a figure" opens the picker in a dialog; adding puts the figure on the board and in the URL
    button(page, "board-open-picker").click()
    page.locator('[data-testid="stDialog"] .st-key-board-figure').wait_for(timeout=GUARD * 1000)
    page.locator(".st-key-board-figure input").click()
    page.get_by_role("option", name="Training loss", exact=True).click()
    wait_idle(page)
    button(page, "board-add").click()
    page.wait_for_url(re.compile(r"train_loss"), timeout=GUARD * 1000)
    wait_idle(page, "Board")
    wait_charts(page, 2)
    assert (
        page.locator('[data-testid="stDialog"]').count() == 0
        or not page.locator('[data-testid="stDialog"]').is_visible()
    )

    open_page(page, f"{server.url}/board?board={experiment_id}:summary,{experiment_id}:train_loss&cols=2", "Board")
    screenshot(page, screens / "09-board.png", charts=2)
    assert page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').count() == 2
    assert not page_errors(page)


def test_upload_a_file_as_task(server, page, screens, tmp_path):
    rows = ["review,sentiment"] + [f"great film number {i},pos\nawful film number {i},neg" for i in range(30)]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n")

    open_page(page, f"{server.url}/data", "Tasks & data")
    page.get_by_role("tab", name="Use your own data").click()
    page.locator(f'{MAIN} [data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(data))
    # the preview and the column pickers appear; the columns are guessed from their names
    page.locator(".st-key-data-add button").wait_for(timeout=GUARD * 1000)
    wait_idle(page, "Tasks & data")
    assert page.locator(".st-key-data-text input").input_value() == "review"
    assert page.locator(".st-key-data-label input").input_value() == "sentiment"
    screenshot(page, screens / "10-data-upload.png")
    button(page, "data-add").click()
    success = page.locator(f'{MAIN} [data-testid="stAlertContentSuccess"]')
    success.wait_for(timeout=GUARD * 1000)
    match = re.search(r"Added task file:\S*reviews\S*\s+\((\d+) train / (\d+) val / (\d+) test\)", success.inner_text())
    assert match and sum(map(int, match.groups())) == 60, success.inner_text()
    # the new task is offered by every experiment form
    open_page(page, f"{server.url}/new?kind=finetune", "New experiment")
    page.locator(".st-key-new-finetune-task input").click()
    assert page.get_by_role("option").filter(has_text="reviews").count() >= 1


def test_explorer_searches_a_token(server, page, screens, tiny_checkpoints, monkeypatch):
    """A computed map opens from a link; searching a token rings it and lists its neighbours."""
    from page_support import run_plan

    from embedxfer.experiments import plan_experiment
    from embedxfer.store import Store

    monkeypatch.setenv("EMBEDXFER_CACHE", str(server.home / "test-cache"))
    config = {"kind": "embedding_map", "checkpoints": [str(tiny_checkpoints["bert"])], "method": "pca"}
    experiment_id = run_plan(Store(server.home), plan_experiment(config))["experiment_id"]
    open_page(page, f"{server.url}/explore?map={experiment_id}", "Embedding explorer")
    wait_charts(page)
    main = page.locator(MAIN)
    search = main.get_by_label("Search a token")
    search.fill("good")
    search.press("Enter")
    poll(lambda: main.get_by_text("nearest to good").count() > 0, timeout=GUARD, what="the neighbour table")
    wait_idle(page)
    assert main.get_by_text("search: good").count() or page.locator(".legendtext", has_text="search: good").count()
    screenshot(page, screens / "explorer-search.png")
    search.fill("goood")
    search.press("Enter")
    poll(lambda: main.get_by_text("Close matches: good").count() > 0, timeout=GUARD, what="the close-matches hint")
    assert not page_errors(page)
