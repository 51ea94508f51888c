"""Real-browser helpers shared by tests/test_browser.py and bench/page_latency.py.

- `start_server`: `streamlit run app.py` as a child process on a free port, with its own EMBEDXFER_HOME; the
  returned `Server` stops its whole process group, so the job manager's worker threads go with it.
- `launch_chromium`: Debian's system Chromium through Playwright (a downloaded browser is never used).
- `wait_idle` / `open_page`: "the page has loaded" in Streamlit terms (see `IDLE_JS`).
- `submit_form`: fill the New experiment form of a kind like a user and press Launch; returns the experiment id.
- `screenshot`: the whole page, although Streamlit scrolls inside its main block rather than the document.

This is not a test module (no `test_` prefix); the bench imports it with tests/ on sys.path.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[1]

# --no-sandbox: Chromium's sandbox refuses to start as root (containers, CI); the rest keep a headless browser
# on a shared 2-core machine from spending time on GPU probing, /dev/shm limits, updates and sync.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1400, "height": 1000}

# "Idle": the page a user would call loaded. Streamlit sets these attributes on its root element; after a
# navigation the script state goes initial -> running -> notRunning (fragments such as the sidebar queue and the
# live progress flip it to running for a moment later on, which is harmless). Elements of the previous run not yet
# redrawn carry data-stale="true". The script finishing is not enough: widgets, grids and charts are lazily loaded
# components shown as stSkeleton placeholders until their code arrives, and plotly draws its SVG after that.
IDLE_JS = """(title) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.dataset.testScriptState !== 'notRunning' || app.dataset.testConnectionState !== 'CONNECTED') {
    return false;
  }
  if (document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  if (!charts.every(chart => chart.querySelector('.main-svg'))) return false;
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  return !!h1 && (!title || h1.innerText.includes(title));
}"""

# The charts of a page are drawn once their SVG is there (a chart's element only exists once its lazily loaded
# component has arrived, hence the count).
CHARTS_DRAWN_JS = """(count) => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  return charts.length >= count && charts.every(chart => chart.querySelector('.main-svg'));
}"""

# The accessible table that Streamlit's canvas data grid keeps in the DOM, as {header: cell text} rows.
GRID_ROWS_JS = """(frame) => {
  const grid = frame.querySelector('table[role="grid"]');
  if (!grid) return null;
  const heads = [...grid.querySelectorAll('thead th')].map(th => th.textContent.trim());
  return [...grid.querySelectorAll('tbody tr')].map(tr =>
    Object.fromEntries([...tr.querySelectorAll('td')].map((td, i) => [heads[i], td.textContent.trim()])));
}"""

CONTENT_HEIGHT_JS = """() => Math.max(...['stMain', 'stMainBlockContainer', 'stSidebarContent']
  .map(id => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))"""

T = TypeVar("T")

#: seconds a wait on a state may take before it counts as a hang. Generous on purpose: a machine busy with other
#: work is slow, not broken, and each wait returns as soon as its state is reached.
GUARD = 180.0


# --- server ----------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    home: Path
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the process group, SIGKILL if it has not exited after `timeout` seconds."""
        if self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue


def start_server(
    home: Path,
    *,
    workers: str = "cpu=1",
    extra_checkpoints: Iterable[str | Path] = (),
    env: dict[str, str] | None = None,
    timeout: float = GUARD,
    script: Path = ROOT / "app.py",
) -> Server:
    """Start `streamlit run <script>` (the dashboard by default) against `home`; wait until `/_stcore/health`
    answers."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    child_env = {
        **os.environ,
        "EMBEDXFER_HOME": str(home),
        "EMBEDXFER_WORKERS": workers,
        "EMBEDXFER_EXTRA_CHECKPOINTS": os.pathsep.join(str(p) for p in extra_checkpoints),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **(env or {}),
    }
    log = home.parent / f"streamlit-{port}.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    with log.open("wb") as out:
        # a session of its own: stop() signals the whole group, whatever streamlit started
        process = subprocess.Popen(
            command, cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", home, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s:\n{server.log_tail()}")


# --- browser ---------------------------------------------------------------------------------------------------------


def chromium_executable() -> str | None:
    """Debian's `chromium`, or None; nothing is ever downloaded."""
    return shutil.which("chromium")


def launch_chromium(playwright: Any) -> Any:
    executable = chromium_executable()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))


def poll(check: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """Call `check` until it returns something truthy; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_idle(page: Any, title: str | None = None, *, timeout: float = GUARD) -> None:
    """Until Streamlit has finished the script (see IDLE_JS) and the page's h1 contains `title`."""
    page.wait_for_function(IDLE_JS, arg=title, timeout=timeout * 1000, polling="raf")


def wait_ready(page: Any, title: str | None, need: dict[str, int] | None = None, *, timeout: float = GUARD) -> None:
    """`wait_idle`, and at least `need[selector]` elements for each selector (the page's own main content, e.g.
    its charts or tables, which only exist once the script has sent them)."""
    check = f"([title, need]) => ({IDLE_JS})(title) && "
    check += "Object.entries(need).every(([sel, n]) => document.querySelectorAll(sel).length >= n)"
    page.wait_for_function(check, arg=[title, need or {}], timeout=timeout * 1000, polling="raf")


def wait_charts(page: Any, count: int = 1, *, timeout: float = GUARD) -> None:
    """Until at least `count` plotly charts are on the page and every one on it is drawn."""
    page.wait_for_function(CHARTS_DRAWN_JS, arg=count, timeout=timeout * 1000, polling="raf")


def open_page(page: Any, url: str, title: str | None = None, *, timeout: float = GUARD) -> None:
    page.goto(url, wait_until="commit")
    wait_idle(page, title, timeout=timeout)


def grid_rows(frame: Any, *, timeout: float = 5.0) -> list[dict[str, str]] | None:
    """Rows of an `st.dataframe` (a locator on its stDataFrame element) as {column: text}; None while not drawn."""
    return frame.evaluate(GRID_ROWS_JS, timeout=timeout * 1000)


def page_errors(page: Any) -> list[str]:
    """Texts of exceptions and st.error boxes on the page."""
    boxes = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return boxes.all_inner_texts()


def screenshot(page: Any, path: Path, *, charts: int = 0, max_height: int = 8000) -> Path:
    """The whole page, once `charts` plotly charts are drawn. Streamlit scrolls inside its app container, so the
    viewport grows to the content's height for the shot (a full_page screenshot would show the first screen only)."""
    wait_idle(page)
    wait_charts(page, charts)
    size = page.viewport_size or VIEWPORT
    try:
        # the main block's bottom padding grows with the viewport, so grow it until the content fits
        for _ in range(5):
            height = min(page.evaluate(CONTENT_HEIGHT_JS), max_height)
            current = (page.viewport_size or size)["height"]
            if height <= current:
                break
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_timeout(100)
        wait_charts(page, charts)
        page.wait_for_timeout(300)  # let charts and grids reflow to the new viewport before the shot
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
    return path


# --- the New experiment form -----------------------------------------------------------------------------------------


def form_config(page: Any) -> dict[str, Any]:
    """The config the form currently holds, read from its "Config as YAML" block (what Launch would submit)."""
    code = page.locator('[data-testid="stExpander"] [data-testid="stHtml"] pre').first
    try:
        return yaml.safe_load(code.text_content(timeout=1000) or "") or {}
    except Exception:  # noqa: BLE001 - mid-rerun the block can be missing or half drawn: read it again
        return {}


def _set_field(page: Any, key: str, value: Any) -> None:
    element = page.locator(f".st-key-{key}")
    kind = element.locator("[data-testid]").first.get_attribute("data-testid")
    if kind == "stSelectbox":
        element.locator("input").click()
        page.get_by_role("option", name=str(value), exact=True).click()
        return
    field = element.locator("input, textarea").first
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    field.fill(text)
    field.press("Enter")  # Streamlit commits a text or number input on Enter (or blur)


def fill_form(page: Any, base_url: str, kind: str, config: dict[str, Any], *, name: str = "") -> None:
    """Open New experiment for `kind` and set each `config` field through its widget (waiting until the form's YAML
    shows it), then wait until Launch is enabled."""
    open_page(page, f"{base_url}/new?kind={kind}", "New experiment")
    for field, value in config.items():
        _set_field(page, f"new-{kind}-{field}", value)
        poll(
            lambda f=field, v=value: form_config(page).get(f) == v, timeout=GUARD, what=f"form field {field}={value!r}"
        )
        wait_idle(page)
    if name:
        _set_field(page, "new-name", name)
        wait_idle(page)
    # enabled once the plan (which validates checkpoint, task and parts) has rendered without errors
    page.wait_for_function(
        "() => { const b = document.querySelector('.st-key-new-launch button'); return !!b && !b.disabled; }",
        timeout=GUARD * 1000,
    )
    errors = page_errors(page)
    if errors:
        raise AssertionError(f"the form shows errors: {errors}")


def click_launch(page: Any) -> None:
    page.locator(".st-key-new-launch button").first.click()


def launched_experiment(page: Any) -> str:
    """The experiment id from the runs URL the page switches to after Launch."""
    page.wait_for_url(re.compile(r"/runs\?experiment="), timeout=GUARD * 1000)
    match = re.search(r"[?&]experiment=([^&#]+)", page.url)
    assert match, page.url
    return match.group(1)


def submit_form(page: Any, base_url: str, kind: str, config: dict[str, Any], *, name: str = "") -> str:
    """Fill the form, launch, and return the new experiment's id."""
    fill_form(page, base_url, kind, config, name=name)
    click_launch(page)
    return launched_experiment(page)


# --- the runs page ---------------------------------------------------------------------------------------------------


STATUS_RE = re.compile(r"\b(queued|running|completed|partial|failed|cancelled|interrupted)\b")


def run_status(page: Any, experiment_id: str) -> str | None:
    """The status in the run page's caption line (`<id> · kind · ... · <status> · N trials · created ...`)."""
    captions = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').all_inner_texts()
    for caption in captions:
        if experiment_id in caption:
            found = STATUS_RE.findall(caption)
            return found[-1] if found else None
    return None
