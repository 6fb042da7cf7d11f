# Owner: browser & load-test engineer
"""Load test: many concurrent dashboard sessions on one localhost server; latency percentiles and server memory.

Every session is a real Streamlit session (its own websocket to ``/_stcore/stream``, session state and script
runs). It opens the Tabular explorer on the synthetic data at its own starting eps, then moves the eps slider
``--moves`` times (+0.01 / -0.01 alternately, after a random think time around ``--think`` s). Two kinds of client:

- ``--client ws`` (default): a light client that speaks Streamlit's websocket protocol (BackMsg / ForwardMsg
  protobufs) like the browser's frontend does: it asks for the page, reads the slider's widget id from the
  page's elements, sends the new slider value, and checks that the rerun shows the new eps. Latency = the new
  value sent -> ``script_finished`` received. It measures the server (what users on their own machines wait
  for before their browser draws), and 30 of them cost the 2 cores almost nothing.
- ``--client browser``: 30 pages (contexts) in ONE headless Chromium (Debian's, Playwright async API); latency =
  key press -> the page shows the new eps (``tests/browser/dashboard_driver.py``). End to end, but on a 2-core
  machine the 30 renderers (plotly.js, React) compete with the server for the same cores, so it overstates
  what each user would see.

The server's resident memory (process and children, psutil) is sampled before, during and after. Bounded: at most
``MAX_SESSIONS`` sessions and ``--time-limit`` seconds for the whole test. Target: p95 interaction latency <= 2 s
with 30 sessions.

Run: ``python bench/load_test.py [--client ws|browser]`` (starts its own server on a free localhost port), or
``python bench/load_test.py --url http://127.0.0.1:8501`` for a running one (memory is read from ``--pid``, else
from the process listening on the URL's port).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
import dashboard_driver as driver  # shared with the browser test (tests/browser, on sys.path above)

MAX_SESSIONS = 50
SLIDER = "eps (l_inf"
EPS_STEP, EPS_MAX = 0.01, 0.5
TARGET_P95 = 2.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def process_tree_rss(pid: int | None) -> int:
    """Resident memory in bytes of process ``pid`` and all its children (0 when unknown or gone)."""
    return int(driver.process_tree_total(pid, lambda process: process.memory_info().rss))


def process_tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its children (0 when unknown)."""

    def busy(process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    return float(driver.process_tree_total(pid, busy))


async def sample_memory(pid: int | None, samples: list[int], interval: float = 0.5) -> None:
    """Append the server's RSS to ``samples`` every ``interval`` seconds until cancelled."""
    while True:
        samples.append(process_tree_rss(pid))
        await asyncio.sleep(interval)


def listening_pid(url: str) -> int | None:
    """The pid of the process listening on the URL's port (None when it cannot be found)."""
    import psutil

    port = urlparse(url).port
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
                return connection.pid
    except (psutil.AccessDenied, PermissionError):
        return None
    return None


def start_eps(index: int) -> float:
    """Session ``index``'s first eps: neighbours start 0.01 apart, so some moves meet values others trained."""
    return round(0.05 + EPS_STEP * (index % 30), 2)


def next_eps(eps: float, move: int) -> float:
    """+0.01 on even moves, -0.01 on odd ones, inside the slider's range."""
    step = EPS_STEP if move % 2 == 0 else -EPS_STEP
    return round(min(max(eps + step, 0.0), EPS_MAX), 2)


# --- the light protocol client --------------------------------------------------------------------------------


class ProtocolSession:
    """One Streamlit session over its websocket, speaking the frontend's protobuf messages."""

    def __init__(self, websocket, deadline: float):
        self.websocket, self.deadline = websocket, deadline
        self.page_hash = ""
        self.slider_id: str | None = None

    async def run(self, client_state) -> list:
        """Send one ``rerun_script`` and collect the elements until ``script_finished``; returns the elements."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = BackMsg()
        message.rerun_script.CopyFrom(client_state)
        await self.websocket.send(message.SerializeToString())
        elements = []
        while True:
            remaining = self.deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("time limit reached while waiting for the script to finish")
            forward = ForwardMsg.FromString(await asyncio.wait_for(self.websocket.recv(), remaining))
            kind = forward.WhichOneof("type")
            if kind == "navigation":
                self.page_hash = forward.navigation.page_script_hash
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                elements.append(element)
                if element.WhichOneof("type") == "slider" and element.slider.label.startswith(SLIDER):
                    self.slider_id = element.slider.id
            elif kind == "script_finished":
                if forward.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                if forward.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    raise RuntimeError(f"script finished with status {forward.script_finished}")
                return elements


def shows_eps(elements: list, eps: float) -> bool:
    """Whether the run's elements include the adversarial column's caption "eps = <eps>"."""
    caption = f"eps = {eps:g}"
    return any(e.WhichOneof("type") == "markdown" and e.markdown.body.strip() == caption for e in elements)


async def ws_session(base_url: str, index: int, args, results: dict) -> None:
    """One user over the websocket protocol: open the page, move the eps slider ``args.moves`` times."""
    import websockets
    from streamlit.proto.ClientState_pb2 import ClientState

    rng = random.Random(index)
    deadline = time.perf_counter() + args.time_limit
    host = urlparse(base_url).netloc
    try:
        async with websockets.connect(f"ws://{host}/_stcore/stream", subprotocols=["streamlit"],
                                      origin=f"http://{host}", max_size=None, open_timeout=args.time_limit) as socket:
            session = ProtocolSession(socket, deadline)
            eps = start_eps(index)
            first = ClientState(query_string=urlencode({"dataset": args.dataset, "eps": eps}), page_name=args.page)
            start = time.perf_counter()
            elements = await session.run(first)
            results["load"].append(time.perf_counter() - start)
            if session.slider_id is None or not shows_eps(elements, eps):
                raise RuntimeError(f"the page did not show the eps slider at {eps:g}")
            for move in range(args.moves):
                await asyncio.sleep(rng.uniform(0.5 * args.think, 1.5 * args.think))
                eps = next_eps(eps, move)
                state = ClientState(query_string=urlencode({"dataset": args.dataset, "eps": eps}),
                                    page_script_hash=session.page_hash)
                widget = state.widget_states.widgets.add()
                widget.id = session.slider_id
                widget.double_array_value.data.append(eps)
                start = time.perf_counter()
                elements = await session.run(state)
                results["latency"].append(time.perf_counter() - start)
                if not shows_eps(elements, eps):
                    results["errors"].append(f"session {index}: the rerun did not show eps = {eps:g}")
    except Exception as error:  # noqa: BLE001 - one failed session is counted, the others go on
        results["errors"].append(f"session {index}: {type(error).__name__}: {str(error).splitlines()[0][:160]}")


# --- the browser client ---------------------------------------------------------------------------------------


async def browser_session(browser, base_url: str, index: int, args, results: dict) -> None:
    """One user in a Chromium page: open the page, press ArrowRight / ArrowLeft on the eps slider."""
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    await context.route(driver.NOT_LOCAL, lambda route: route.abort())
    await context.add_init_script(driver.RUN_TRACKER_JS)
    page = await context.new_page()
    timeout_ms = args.time_limit * 1000
    page.set_default_timeout(timeout_ms)
    rng = random.Random(index)
    try:
        start = time.perf_counter()
        await page.goto(f"{base_url}/{args.page}?dataset={args.dataset}&eps={start_eps(index)}")
        await page.wait_for_function(driver.SETTLED_JS, arg=[0, 100, []], timeout=timeout_ms, polling="raf")
        results["load"].append(time.perf_counter() - start)
        thumb = page.get_by_role("slider", name=re.compile("^" + re.escape(SLIDER))).first
        for move in range(args.moves):
            await asyncio.sleep(rng.uniform(0.5 * args.think, 1.5 * args.think))
            before = await page.evaluate(driver.RUNS_FINISHED_JS)
            await thumb.focus()
            await thumb.press("ArrowRight" if move % 2 == 0 else "ArrowLeft")
            checks = driver.tabular_eps_checks(await thumb.get_attribute("aria-valuetext"))
            await page.wait_for_function(driver.SETTLED_JS, arg=[before, 0, [list(c) for c in checks]],
                                         timeout=timeout_ms, polling="raf")
            results["latency"].append(float(await page.evaluate(driver.LATENCY_JS)))
        if await page.locator('[data-testid="stException"]').count():
            results["errors"].append(f"session {index}: an exception box on the page")
    except Exception as error:  # noqa: BLE001 - one failed session is counted, the others go on
        results["errors"].append(f"session {index}: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
    finally:
        await context.close()


# --- the run --------------------------------------------------------------------------------------------------


async def run_load(base_url: str, pid: int | None, args) -> dict:
    """Start ``args.sessions`` sessions together and wait at most ``args.time_limit`` seconds for them."""
    results: dict = {"load": [], "latency": [], "errors": [], "rss_before": process_tree_rss(pid),
                     "load_before": os.getloadavg()[0], "cpu_before": process_tree_cpu(pid)}
    samples: list[int] = []
    sampler = asyncio.create_task(sample_memory(pid, samples))
    browser = playwright_manager = None
    try:
        if args.client == "browser":
            from playwright.async_api import async_playwright

            playwright_manager = async_playwright()
            playwright = await playwright_manager.__aenter__()
            browser = await driver.launch_chromium(playwright)
            sessions = [browser_session(browser, base_url, i, args, results) for i in range(args.sessions)]
        else:
            sessions = [ws_session(base_url, i, args, results) for i in range(args.sessions)]
        started = time.perf_counter()
        tasks = [asyncio.create_task(s) for s in sessions]
        _, pending = await asyncio.wait(tasks, timeout=args.time_limit + 5)
        for task in pending:
            task.cancel()
        if pending:
            results["errors"].append(f"{len(pending)} session(s) cancelled at the {args.time_limit:.0f} s time limit")
            await asyncio.gather(*pending, return_exceptions=True)
        results["wall"] = time.perf_counter() - started
        results["server_cpu"] = process_tree_cpu(pid) - results["cpu_before"]
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        if browser is not None:
            await browser.close()
        if playwright_manager is not None:
            await playwright_manager.__aexit__(None, None, None)
    results["rss_peak"] = max(samples, default=0)
    await asyncio.sleep(args.settle)
    results["rss_after"] = process_tree_rss(pid)
    return results


def report(results: dict, args, server_note: str) -> None:
    """Print the results table."""
    latency, load = results["latency"], results["load"]
    mib = 1024 * 1024
    p95 = percentile(latency, 95)
    print(f"advex load test ({args.client} client): {args.sessions} concurrent sessions x {args.moves} eps-slider "
          f"moves on /{args.page} ({args.dataset}), think time ~{args.think:g} s; {os.cpu_count()} CPUs visible; "
          f"{server_note}")
    print("load average (1 min) before / after: {:.1f} / {:.1f} (the machine may be shared)".format(
        results["load_before"], os.getloadavg()[0]))
    print(f"{'measure':34s} {'n':>4s} {'p50 s':>7s} {'p95 s':>7s} {'p99 s':>7s} {'max s':>7s}")
    for name, values in (("interaction latency (slider)", latency), ("page open (first run)", load)):
        print(f"{name:34s} {len(values):4d} {percentile(values, 50):7.3f} {percentile(values, 95):7.3f} "
              f"{percentile(values, 99):7.3f} {max(values, default=float('nan')):7.3f}")
    print(f"server RSS (process + children): before {results['rss_before'] / mib:.0f} MiB, "
          f"peak during {results['rss_peak'] / mib:.0f} MiB, after {results['rss_after'] / mib:.0f} MiB "
          f"({args.settle:g} s after the sessions closed)")
    runs = len(latency) + len(load)
    if runs and results["server_cpu"]:
        print(f"server CPU: {results['server_cpu']:.1f} s for {runs} script runs = {results['server_cpu'] / runs:.3f} "
              f"CPU s per run ({results['server_cpu'] / results['wall']:.2f} cores busy on average)")
    verdict = "ok" if p95 <= TARGET_P95 else "SLOW"
    mean = f"{statistics.mean(latency):.3f}" if latency else "nan"
    print(f"p95 interaction latency {p95:.3f} s vs target {TARGET_P95:g} s: {verdict}; mean {mean} s; "
          f"wall {results['wall']:.1f} s; {len(results['errors'])} error(s)")
    for error in results["errors"][:10]:
        print(f"  error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("ws", "browser"), default="ws",
                        help="ws: light websocket-protocol sessions (default); browser: pages in one Chromium")
    parser.add_argument("--url", help="a running server on localhost (http://127.0.0.1:PORT); default: start one")
    parser.add_argument("--pid", type=int, help="the running server's pid, for its memory (with --url)")
    parser.add_argument("--sessions", type=int, default=30, help=f"concurrent sessions (1 to {MAX_SESSIONS})")
    parser.add_argument("--moves", type=int, default=6, help="slider moves per session")
    parser.add_argument("--think", type=float, default=2.0,
                        help="mean pause before each move, seconds (a user reading the updated charts)")
    parser.add_argument("--time-limit", type=float, default=180.0, help="bound on the whole test, seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="wait before the 'after' memory sample, seconds")
    parser.add_argument("--dataset", default="synthetic", help="tabular data set (synthetic needs no files)")
    parser.add_argument("--streamlit-option", action="append", default=[], metavar="KEY=VALUE",
                        help="extra option for the server this test starts, e.g. runner.postScriptGC=false")
    args = parser.parse_args()
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if args.client == "browser" and driver.chromium_executable() is None:
        sys.exit("Debian's chromium is not installed: apt-get install -y chromium (or use --client ws)")
    tabular = driver.page_by_prefix(driver.discover_pages(), "Tabular")
    if tabular is None:
        sys.exit("the app has no Tabular explorer page (pages/*Tabular*.py)")
    args.page = tabular.url_path

    if args.url:
        base = args.url.rstrip("/")
        if urlparse(base).hostname not in ("127.0.0.1", "localhost"):
            sys.exit("--url must point at localhost: the load test never loads a remote server")
        pid = args.pid or listening_pid(base)
        report(asyncio.run(run_load(base, pid, args)), args,
               f"server {base} (pid {pid or 'unknown: memory not measured'})")
        return
    with tempfile.TemporaryDirectory(prefix="advex_load_") as scratch:
        options = tuple(f"--{option}" for option in args.streamlit_option)
        server = driver.StreamlitServer(env={"ADVEX_CACHE_DIR": str(Path(scratch) / "cache")},
                                        log_path=Path(scratch) / "server.log", extra_args=options)
        with server:
            server.wait_healthy(timeout=90)
            results = asyncio.run(run_load(server.base_url, server.process.pid, args))
        report(results, args, f"server started by the test on {server.base_url} {' '.join(options)}".rstrip())


if __name__ == "__main__":
    main()
