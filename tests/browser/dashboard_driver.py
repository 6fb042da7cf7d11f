# Owner: browser & load-test engineer
"""Drive the advex dashboard in a real browser: start ``streamlit run app.py``, find pages, move sliders, read metrics.

Shared by the browser test (``tests/browser``) and the dashboard benchmarks (``bench/bench_dashboard.py``,
``bench/load_test.py``). Only localhost traffic: the server listens on 127.0.0.1 and Chromium opens nothing else.

A script run's end is observed in the page itself: an init script (:data:`RUN_TRACKER_JS`) wraps the
page's WebSocket and notes, in page time, every ``ForwardMsg.script_finished`` the server sends (decoded from
the protobuf wire format), and every key press and click. The ``data-test-script-state`` attribute of
``[data-testid="stApp"]`` alone is not enough: under load React commits "running" and "notRunning" in one
batch and the attribute never changes. A wait is over when the run has ended, the app shows "notRunning",
and optional content checks hold (e.g. the chart title shows the new eps), so the page really shows the
result; an interaction's latency is key press -> that moment, in the page's clock.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "ADVEX_CHROMIUM"
ARTIFACTS_ENV = "ADVEX_ARTIFACTS_DIR"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
APP_SELECTOR = '[data-testid="stApp"]'
# Every request that does not go to this machine (e.g. the favicon Streamlit fetches from fonts.gstatic.com for a
# ":material/...:" page icon) is aborted: the tests and benchmarks stay on localhost.
NOT_LOCAL = re.compile(r"^(?!(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/)[a-z]+://")
# safe_section's text for an unexpected exception (a bug, not a user error): see advex/dashboard/safe.py.
GENERIC_FAILURE = re.compile(r"could not be shown \(\w+\)")

RUN_TRACKER_JS = r"""
(() => {
  if (window.__advex) return;
  const tracker = {finished: [], keys: [], settledAt: null, changedAt: performance.now()};
  window.__advex = tracker;
  // When the page last changed (elements drawn late, e.g. a lazily loaded component, count as changes).
  new MutationObserver(() => { tracker.changedAt = performance.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  // ForwardMsg field 6 is script_finished (an enum): 0 finished, 1 compile error, 3 fragment run,
  // 2 stopped for a rerun (not counted).
  const finishedStatus = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let i = 0;
    const varint = () => { let value = 0, scale = 1, byte;
      do {
        if (i >= bytes.length) throw new Error('truncated');
        byte = bytes[i++]; value += (byte & 0x7f) * scale; scale *= 128;
      } while (byte & 0x80);
      return value; };
    try {
      while (i < bytes.length) {
        const key = varint(), field = Math.floor(key / 8), wire = key % 8;
        if (wire === 0) { const value = varint(); if (field === 6) return value; }
        else if (wire === 2) { const length = varint(); i += length; }  // not i += varint(): i is read first
        else if (wire === 1) i += 8;
        else if (wire === 5) i += 4;
        else return -1;
      }
    } catch (e) { return -1; }
    return -1;
  };
  const note = (data, now) => {
    const status = finishedStatus(data);
    if (status === 0 || status === 1 || status === 3) tracker.finished.push(now);
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const now = performance.now();
        if (event.data instanceof ArrayBuffer) note(event.data, now);
        else if (event.data instanceof Blob) event.data.arrayBuffer().then((data) => note(data, now));
      });
    }
  };
  document.addEventListener('keydown', () => tracker.keys.push(performance.now()), true);
  document.addEventListener('click', () => tracker.keys.push(performance.now()), true);
})();
"""
# Runs ended so far; whether run n+1 has ended and the page shows it; latest key press / click -> that moment (s).
RUNS_FINISHED_JS = "() => window.__advex ? window.__advex.finished.length : 0"
SETTLED_JS = r"""([n, quiet, checks]) => {
  const a = window.__advex, app = document.querySelector('[data-testid="stApp"]');
  if (!a || !app || a.finished.length <= n || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const now = performance.now();
  for (const [selector, mode, text] of checks) {
    const found = [...document.querySelectorAll(selector)].map(e => e.textContent.trim());
    const ok = mode === 'is' ? found.includes(text) : mode === 'contains' ? found.some(t => t.includes(text))
      : mode === 'regex' ? found.some(t => new RegExp(text).test(t))
      : mode === 'not' ? found.length > 0 && found[0] !== text : false;
    if (!ok) return false;
  }
  if (checks.length) { a.settledAt = now; return true; }  // the page visibly shows the result now
  // Without checks: the page has not changed for `quiet` ms; it was done when it last changed (or the run ended).
  if (now - a.changedAt < quiet) return false;
  a.settledAt = Math.max(a.finished[a.finished.length - 1], quiet ? a.changedAt : 0);
  return true; }"""
LATENCY_JS = """() => { const a = window.__advex; const key = a.keys[a.keys.length - 1];
  return key === undefined || a.settledAt === null || a.settledAt < key ? NaN : (a.settledAt - key) / 1000; }"""
# Without content checks a page counts as drawn once it has not changed for this long (ms).
QUIET_MS = 500
# A content check: (CSS selector, mode, text); mode "is" (an element's text equals), "contains", "regex",
# or "not" (the first element's text differs: something new replaced it).
Check = tuple[str, str, str]


def chromium_executable() -> str | None:
    """Debian's Chromium: ``$ADVEX_CHROMIUM``, else ``chromium`` on PATH, else /usr/bin/chromium; None when absent."""
    for candidate in (os.environ.get(CHROMIUM_ENV), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch_chromium(playwright: Any, executable: str | None = None) -> Any:
    """A headless Chromium (Debian's, never a downloaded one) driven by Playwright's ``chromium`` (sync or async)."""
    return playwright.chromium.launch(executable_path=executable or chromium_executable(), args=CHROMIUM_ARGS)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class DashboardPage:
    """One page of the multipage app: its nav title, URL path ('' for the home page) and script."""

    title: str
    url_path: str
    script: Path


def discover_pages(repo_root: Path = REPO_ROOT) -> list[DashboardPage]:
    """The app's pages in sidebar order, from the table ``app.py`` hands to ``st.navigation``."""
    from advex.dashboard.navigation import PAGES

    return [DashboardPage(page.title, page.url_path, repo_root / page.script) for page in PAGES]


def page_by_prefix(pages: list[DashboardPage], prefix: str) -> DashboardPage | None:
    """The page whose URL path starts with ``prefix`` (e.g. "Tabular"), if the app has one."""
    return next((page for page in pages if page.url_path.lower().startswith(prefix.lower())), None)


def artifacts_dir(default: Path) -> Path:
    """Where screenshots go: ``$ADVEX_ARTIFACTS_DIR/browser`` if set, else ``default``; created."""
    configured = os.environ.get(ARTIFACTS_ENV)
    folder = Path(configured) / "browser" if configured else default
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def process_tree(pid: int | None) -> list:
    """Process ``pid`` and all its children (psutil), or [] when unknown or gone."""
    import psutil

    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def process_tree_total(pid: int | None, measure: Callable[[Any], float]) -> float:
    """The sum of ``measure(process)`` over :func:`process_tree` (processes that exit meanwhile count 0)."""
    import psutil

    total = 0
    for process in process_tree(pid):
        try:
            total += measure(process)
        except psutil.NoSuchProcess:
            pass
    return total


# Runs as the server's first program (Linux): asks for SIGTERM when the process that started it dies (even by
# SIGKILL; the setting survives exec), then becomes ``python -m streamlit ...``. A test run killed by a timeout
# leaves no server behind. argv: parent pid, then streamlit's arguments.
DIE_WITH_PARENT = """
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):
        sys.exit("the process that started the server is gone")
os.execv(sys.executable, [sys.executable, "-m", "streamlit", *sys.argv[2:]])
"""


class StreamlitServer:
    """``python -m streamlit run app.py`` on 127.0.0.1:<port>, started from the repo root; always stop it.

    The server stays in the caller's process group (Ctrl-C and ``timeout`` reach it too) and gets SIGTERM
    when its parent dies (:data:`DIE_WITH_PARENT`).

    Use as a context manager, or call :meth:`start` / :meth:`stop`. ``env`` adds to (or overrides) the
    inherited environment, e.g. ``ADVEX_CACHE_DIR`` for a throw-away cache.
    """

    def __init__(self, repo_root: Path = REPO_ROOT, port: int | None = None, env: dict[str, str] | None = None,
                 log_path: Path | None = None, extra_args: tuple[str, ...] = ()):
        self.repo_root = Path(repo_root)
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.started_at = float("nan")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "", query: str = "") -> str:
        """The address of page ``path`` ('' = home) with an optional query string (without '?')."""
        return f"{self.base_url}/{path}" + (f"?{query}" if query else "")

    def start(self) -> Self:
        """Start the server process (returns at once; see :meth:`wait_healthy`)."""
        command = [
            sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), "run", "app.py", "--server.headless", "true",
            "--server.port", str(self.port), "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *self.extra_args,
        ]
        self.started_at = time.perf_counter()
        # The child keeps its own copy of the log's file descriptor; ours is closed at once.
        with open(self.log_path or os.devnull, "wb") as log:
            self.process = subprocess.Popen(command, cwd=self.repo_root, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Poll ``/_stcore/health`` until it answers "ok"; seconds since :meth:`start`. Raises with the log tail."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early (code {self.process and self.process.returncode}): "
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200 and reply.read().strip() == b"ok":
                        return time.perf_counter() - self.started_at
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"streamlit was not healthy within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log (when it has one)."""
        if self.log_path is None or not Path(self.log_path).exists():
            return "(no server log)"
        return Path(self.log_path).read_text(errors="replace")[-chars:]

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the server and its children (SIGTERM), then kill whatever is left after ``grace`` seconds."""
        import psutil

        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        tree = process_tree(process.pid)
        for member in tree:
            try:
                member.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(tree, timeout=grace)
        for member in alive:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        process.wait(timeout=grace)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --- one browser page (Playwright sync API) -----------------------------------------------------------------


def new_tracked_page(browser: Any, width: int = 1400, height: int = 1000) -> Any:
    """A page in a fresh context (localhost only) with the run tracker installed on every document it loads."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.route(NOT_LOCAL, lambda route: route.abort())
    context.add_init_script(RUN_TRACKER_JS)
    return context.new_page()


def runs_finished(page: Any) -> int:
    """How many script runs have ended since the page's document was loaded."""
    return int(page.evaluate(RUNS_FINISHED_JS))


def wait_settled(page: Any, after_runs: int = 0, timeout: float = 60.0, quiet_ms: int = 0,
                 checks: tuple[Check, ...] = ()) -> None:
    """Wait until run ``after_runs + 1`` has ended and the page shows it: every check holds, or (without
    checks) the page has not changed for ``quiet_ms``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(SETTLED_JS, arg=[after_runs, quiet_ms, [list(c) for c in checks]],
                               timeout=timeout * 1000, polling="raf")
    except PlaywrightTimeout as error:
        state = page.evaluate("() => JSON.stringify(window.__advex || null)")
        raise TimeoutError(f"{page.url}: run {after_runs + 1} not settled within {timeout:.0f} s (checks {checks}; "
                           f"tracker {state[:400]})") from error


def open_page(page: Any, url: str, timeout: float = 60.0) -> float:
    """Load ``url`` and wait for its first script run to end and show; seconds taken."""
    start = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    wait_settled(page, 0, timeout, quiet_ms=QUIET_MS)
    return time.perf_counter() - start


def last_interaction_latency(page: Any) -> float:
    """Seconds from the latest key press / click to the page showing its result (page clock).

    With content checks: until they held; without: until the run's ``script_finished`` reached the page.
    """
    return float(page.evaluate(LATENCY_JS))


def slider(page: Any, label: str) -> Any:
    """The slider (``st.slider`` / ``st.select_slider``) whose label starts with ``label``."""
    return page.get_by_role("slider", name=re.compile("^" + re.escape(label))).first


def slider_value(page: Any, label: str) -> str:
    """The value the slider shows (its aria-valuetext, else its value)."""
    thumb = slider(page, label)
    return thumb.get_attribute("aria-valuetext") or thumb.input_value()


class SliderAtEnd(ValueError):
    """A key press did not move the slider (it is at that end already)."""


def move_slider(page: Any, label: str, key: str, timeout: float = 60.0,
                checks: Callable[[str], tuple[Check, ...]] | None = None) -> float:
    """Focus slider ``label``, press ``key`` (ArrowRight, End, ...), wait until the page shows the rerun's result.

    ``checks(new_value)`` gives content that proves the page shows the new value (default: none, then the
    run's end plus a short quiet time). Returns the latency in seconds; raises if the key did not move the slider.
    """
    thumb = slider(page, label)
    old = slider_value(page, label)
    before = runs_finished(page)
    thumb.focus()
    thumb.press(key)
    new = slider_value(page, label)
    if new == old:
        raise SliderAtEnd(f"pressing {key} left slider {label!r} at {old}")
    wait_settled(page, before, timeout, quiet_ms=QUIET_MS, checks=checks(new) if checks else ())
    return last_interaction_latency(page)


def tabular_eps_checks(value: str) -> tuple[Check, ...]:
    """The Tabular explorer shows eps = ``value``: the adversarial column's caption and the Feature Impact title."""
    eps = f"{float(value):g}"
    return (('[data-testid="stCaptionContainer"]', "is", f"eps = {eps}"), (".gtitle", "contains", f"eps = {eps},"))


def saliency_eps_checks(value: str) -> tuple[Check, ...]:
    """The Saliency page shows the adversarial model of eps = ``value`` (its Gini metric's label)."""
    pattern = "^Gini, adversarial eps=" + re.escape(f"{float(value):g}") + "( |$)"
    return (('[data-testid="stMetricLabel"]', "regex", pattern),)


def title_changed_checks(previous_title: str) -> tuple[Check, ...]:
    """The page's first heading is no longer ``previous_title`` (a new page has rendered)."""
    return (("h1", "not", previous_title),)


def metric_values(page: Any) -> dict[str, list[str]]:
    """Every ``st.metric`` on the page: label -> values shown, in page order."""
    pairs = page.eval_on_selector_all(
        '[data-testid="stMetric"]',
        """els => els.map(e => [
             (e.querySelector('[data-testid="stMetricLabel"]') || {textContent: ''}).textContent.trim(),
             (e.querySelector('[data-testid="stMetricValue"]') || {textContent: ''}).textContent.trim()])""",
    )
    values: dict[str, list[str]] = {}
    for label, value in pairs:
        values.setdefault(label, []).append(value)
    return values


def column_metric(page: Any, heading: str, label: str, timeout: float = 30.0) -> str:
    """The value of metric ``label`` inside the ``st.columns`` column headed ``heading`` (e.g. by ``st.subheader``).

    Waits up to ``timeout`` seconds for it: Streamlit loads some components lazily and may draw them after the
    run has ended. Read with ``textContent`` (``innerText`` is empty while an element is not yet visible).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        handle = page.wait_for_function(
            """([heading, label]) => {
                 for (const column of document.querySelectorAll('[data-testid="stColumn"]')) {
                   if (column.querySelector('[data-testid="stColumn"]')) continue;
                   const title = column.querySelector('h1, h2, h3, h4, h5, h6');
                   if (!title || title.textContent.trim() !== heading) continue;
                   for (const metric of column.querySelectorAll('[data-testid="stMetric"]')) {
                     const name = metric.querySelector('[data-testid="stMetricLabel"]');
                     const value = metric.querySelector('[data-testid="stMetricValue"]');
                     if (name && value && name.textContent.trim() === label) return value.textContent.trim();
                   }
                 }
                 return null; }""",
            arg=[heading, label], timeout=timeout * 1000, polling=100)
    except PlaywrightTimeout as error:
        raise LookupError(f"no metric {label!r} in a column headed {heading!r} within {timeout:.0f} s") from error
    return str(handle.json_value())


def metric_number(text: str) -> float:
    """The number in a metric's value ("0.846", "96.1%" -> 0.961)."""
    match = re.search(r"[-+]?\d+(?:\.\d+)?", text.replace(",", ""))
    if match is None:
        raise ValueError(f"no number in metric value {text!r}")
    number = float(match.group())
    return number / 100 if text.strip().endswith("%") else number


def screenshot(page: Any, path: Path, max_height: int = 8000) -> None:
    """A PNG of the whole page: Streamlit scrolls inside its main container, so the viewport is grown to fit it."""
    size = page.viewport_size
    height = page.evaluate(
        """() => Math.max(document.body.scrollHeight,
             ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stAppViewContainer"]')]
               .map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height), size["height"]), max_height)})
    try:
        page.wait_for_timeout(300)  # let responsive charts re-layout
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)


def page_problems(page: Any) -> list[str]:
    """What is wrong on the rendered page: exception boxes, "Traceback" text, generic failure messages."""
    problems = []
    exceptions = page.locator('[data-testid="stException"]')
    for index in range(exceptions.count()):
        problems.append("exception box: " + exceptions.nth(index).inner_text()[:300])
    body = page.locator(APP_SELECTOR).inner_text()
    if "Traceback" in body:
        problems.append("'Traceback' in the page text")
    problems += [f"section failed: {match.group()} in {line.strip()[:200]!r}"
                 for line in body.splitlines() for match in [GENERIC_FAILURE.search(line)] if match]
    return problems


# A page link whose label is wider than the box that shows it (Streamlit cuts it off with an ellipsis), as
# (the link's label, the element's scrollWidth, its clientWidth); the icon's own boxes are not checked.
TRUNCATED_LINKS_JS = """() => [...document.querySelectorAll('[data-testid="stPageLink-NavLink"]')].flatMap(link => {
  const label = (link.querySelector('[data-testid="stMarkdownContainer"]') || link).textContent.trim();
  return [link, ...link.querySelectorAll('*')]
    .filter(e => !e.closest('[data-testid="stIconMaterial"]') && e.scrollWidth > e.clientWidth + 1)
    .map(e => [label, e.scrollWidth, e.clientWidth]); })"""


def truncated_link_labels(page: Any) -> list[tuple[str, int, int]]:
    """Page links (sidebar and page) whose label does not fit: (label, text width, box width) in CSS pixels."""
    return [tuple(entry) for entry in page.evaluate(TRUNCATED_LINKS_JS)]


def wait_for_text(page: Any, selector: str, pattern: str, timeout: float = 120.0, unlike: str | None = None) -> str:
    """The text of the first element matching ``selector`` whose text matches the regex ``pattern`` (and differs
    from ``unlike``), waiting up to ``timeout`` seconds for it (e.g. a caption a live fragment redraws)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        handle = page.wait_for_function(
            """([selector, pattern, unlike]) => {
                 for (const e of document.querySelectorAll(selector)) {
                   const text = e.textContent.trim();
                   if (new RegExp(pattern).test(text) && text !== unlike) return text;
                 }
                 return null; }""",
            arg=[selector, pattern, unlike], timeout=timeout * 1000, polling=250)
    except PlaywrightTimeout as error:
        raise LookupError(f"no {selector} matching {pattern!r} (other than {unlike!r}) within {timeout:.0f} s") \
            from error
    return str(handle.json_value())
