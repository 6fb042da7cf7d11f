# Owner: browser & load-test engineer
"""Load test: many concurrent dashboard sessions on one localhost server; latency percentiles and server memory.

Each session is a real Streamlit session (its own browser context, page and websocket) in ONE headless Chromium
(Debian's, driven by Playwright's async API). Every session opens the Tabular explorer on the synthetic data at
its own starting eps, then moves the eps slider ``--moves`` times (ArrowRight / ArrowLeft alternately, with a short
think time). Interaction latency = key press -> the rerun has ended and the page shows the new eps (adversarial
column caption and Feature Impact chart title), in the page's clock (``tests/browser/dashboard_driver.py``). The server's
resident memory (process and children, psutil) is sampled before, during and after. Bounded: at most
``MAX_SESSIONS`` sessions and ``--time-limit`` seconds for the whole test. Target: p95 interaction latency <= 2 s
with 30 sessions. Note that Chromium's 30 renderers share the machine's cores with the server.

Run: ``python bench/load_test.py`` (starts its own server), or ``python bench/load_test.py --url http://127.0.0.1:8501``
for a running one (memory is read from ``--pid``, else from the process listening on the URL's port).
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
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))
import dashboard_driver as driver  # noqa: E402 - shared with the browser test

MAX_SESSIONS = 50
SLIDER = "eps (l_inf"
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


class MemorySampler:
    """Samples a process tree's resident memory (bytes) every ``interval`` seconds while running."""

    def __init__(self, pid: int | None, interval: float = 0.5):
        self.pid, self.interval, self.samples = pid, interval, []
        self._task: asyncio.Task | None = None

    def rss(self) -> int:
        import psutil

        if self.pid is None:
            return 0
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in tree:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    async def _run(self) -> None:
        while True:
            self.samples.append(self.rss())
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


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


async def session(browser, base_url: str, index: int, args, results: dict) -> None:
    """One user: open the Tabular explorer, move the eps slider ``args.moves`` times, record latencies."""
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    await context.add_init_script(driver.RUN_TRACKER_JS)
    page = await context.new_page()
    rng = random.Random(index)
    timeout_ms = args.time_limit * 1000
    try:
        start_eps = round(0.05 + 0.01 * (index % 30), 2)
        start = time.perf_counter()
        await page.goto(f"{base_url}/{args.page}?dataset={args.dataset}&eps={start_eps}", timeout=timeout_ms)
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
        exceptions = await page.locator('[data-testid="stException"]').count()
        if exceptions:
            results["errors"].append(f"session {index}: {exceptions} exception box(es) on the page")
    except Exception as error:  # noqa: BLE001 - one failed session is counted, the others go on
        results["errors"].append(f"session {index}: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
    finally:
        await context.close()


async def run_load(base_url: str, pid: int | None, args) -> dict:
    """Open ``args.sessions`` concurrent sessions (all started together), within ``args.time_limit`` seconds."""
    from playwright.async_api import async_playwright

    results: dict = {"load": [], "latency": [], "errors": []}
    sampler = MemorySampler(pid)
    results["rss_before"] = sampler.rss()
    async with async_playwright() as playwright:
        browser = await driver.launch_chromium(playwright)
        sampler.start()
        started = time.perf_counter()
        tasks = [asyncio.create_task(session(browser, base_url, i, args, results)) for i in range(args.sessions)]
        done, pending = await asyncio.wait(tasks, timeout=args.time_limit)
        for task in pending:
            task.cancel()
        if pending:
            results["errors"].append(f"{len(pending)} session(s) cancelled at the {args.time_limit:.0f} s time limit")
            await asyncio.gather(*pending, return_exceptions=True)
        results["wall"] = time.perf_counter() - started
        await sampler.stop()
        await browser.close()
    results["rss_peak"] = max(sampler.samples, default=0)
    await asyncio.sleep(args.settle)
    results["rss_after"] = sampler.rss()
    return results


def report(results: dict, args, server_note: str) -> None:
    latency, load = results["latency"], results["load"]
    mib = 1024 * 1024
    p95 = percentile(latency, 95)
    print(f"advex load test: {args.sessions} concurrent sessions x {args.moves} slider moves on /{args.page} "
          f"({args.dataset}), think time ~{args.think:g} s; {os.cpu_count()} CPUs visible; {server_note}")
    print(f"{'measure':34s} {'n':>4s} {'p50 s':>7s} {'p95 s':>7s} {'p99 s':>7s} {'max s':>7s}")
    for name, values in (("interaction latency (slider)", latency), ("page load (open -> first run end)", load)):
        print(f"{name:34s} {len(values):4d} {percentile(values, 50):7.3f} {percentile(values, 95):7.3f} "
              f"{percentile(values, 99):7.3f} {max(values, default=float('nan')):7.3f}")
    print(f"server RSS (process + children): before {results['rss_before'] / mib:.0f} MiB, "
          f"peak during {results['rss_peak'] / mib:.0f} MiB, after {results['rss_after'] / mib:.0f} MiB "
          f"({args.settle:g} s after the sessions closed)")
    verdict = "ok" if p95 <= TARGET_P95 else "SLOW"
    print(f"p95 interaction latency {p95:.3f} s vs target {TARGET_P95:g} s: {verdict}; wall {results['wall']:.1f} s; "
          f"{len(results['errors'])} error(s)")
    for error in results["errors"][:10]:
        print(f"  error: {error}")
    if latency:
        print(f"mean latency {statistics.mean(latency):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (http://127.0.0.1:PORT); default: start one")
    parser.add_argument("--pid", type=int, help="the running server's pid, for its memory (with --url)")
    parser.add_argument("--sessions", type=int, default=30, help=f"concurrent sessions (at most {MAX_SESSIONS})")
    parser.add_argument("--moves", type=int, default=6, help="slider moves per session")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause before each move, seconds")
    parser.add_argument("--time-limit", type=float, default=180.0, help="bound on the whole test, seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="wait before the 'after' memory sample, seconds")
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args()
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if driver.chromium_executable() is None:
        sys.exit("Debian's chromium is not installed: apt-get install -y chromium")
    tabular = driver.page_by_prefix(driver.discover_pages(), "Tabular")
    if tabular is None:
        sys.exit("the app has no Tabular explorer page (pages/*Tabular*.py)")
    args.page = tabular.url_path

    if args.url:
        base = args.url.rstrip("/")
        if urlparse(base).hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("--url must point at localhost: the load test never loads a remote server")
        pid = args.pid or listening_pid(base)
        report(asyncio.run(run_load(base, pid, args)), args,
               f"server {base} (pid {pid if pid else 'unknown: memory not measured'})")
        return
    with tempfile.TemporaryDirectory(prefix="advex_load_") as scratch:
        server = driver.StreamlitServer(env={"ADVEX_CACHE_DIR": str(Path(scratch) / "cache")},
                                        log_path=Path(scratch) / "server.log")
        with server:
            server.wait_healthy(timeout=90)
            results = asyncio.run(run_load(server.base_url, server.process.pid, args))
        report(results, args, f"server started by the test on {server.base_url}")


if __name__ == "__main__":
    main()
