# Owner: browser & load-test engineer
"""Speed of the dashboard as a user feels it, measured in a real browser (Debian's Chromium via Playwright).

Targets (2 CPU cores): first page rendered <= 5 s after ``streamlit run``; a tabular eps-slider move to updated
charts <= 1 s; a saliency map (IG, 50 steps, one image, three models) <= 0.5 s; switching pages <= 1 s.

What is timed (medians printed):
- first render: process start -> health endpoint -> home page loaded, its first run ended and the page
  drawn (its last change before 0.5 s without changes; a fresh server each repeat; Chromium already running);
- tabular slider: key press on the eps slider -> the run has ended and the page shows the new eps in the
  adversarial column and in the Feature Impact chart's title; on a new eps each time (the adversarial model
  is trained) and on an eps seen before (cached);
- page switch: click on a sidebar link -> the new page's run has ended and its title replaced the old one,
  after one warm-up visit of every page;
- saliency: on the Saliency page (when the zoo has image models) a click on "test image +" -> the run has
  ended and the page drawn (IG of a new image through three models); always also the advex functions behind it
  (``advex.dashboard.saliency.explain``, IG 50 steps, one image, three models; zoo models, else random
  MadryCNNs: the time does not depend on the weights).
Latencies are measured in the page's clock (see ``tests/browser/dashboard_driver.py``).
Run: ``python bench/bench_dashboard.py [--repeats 5] [--dataset synthetic] [--streamlit-option KEY=VALUE]``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
import dashboard_driver as driver  # shared with the browser test (tests/browser, on sys.path above)

TARGETS = {"first render": 5.0, "tabular slider (new eps)": 1.0, "tabular slider (cached eps)": 1.0,
           "saliency in page (3 models)": 0.5, "saliency functions (3 models)": 0.5, "page switch": 1.0}


def median_row(name: str, times: list[float]) -> tuple[str, int, float, float, str]:
    target = TARGETS.get(name.split(":")[0], float("nan"))
    middle = statistics.median(times) if times else float("nan")
    verdict = "-" if not times or math.isnan(target) else ("ok" if middle <= target else "SLOW")
    return name, len(times), middle, target, verdict


def time_first_render(browser, repeats: int, env: dict[str, str], log_dir: Path,
                      options: tuple[str, ...] = ()) -> list[float]:
    """Process start -> home title visible and first run ended, with a fresh server each time."""
    times = []
    for repeat in range(repeats):
        server = driver.StreamlitServer(env=env, log_path=log_dir / f"first_render_{repeat}.log", extra_args=options)
        page = driver.new_tracked_page(browser)
        try:
            server.start()
            server.wait_healthy(timeout=90)
            requested = time.perf_counter() - server.started_at
            page.goto(server.url(), wait_until="domcontentloaded")
            page.locator("h1").first.wait_for(state="visible", timeout=90_000)
            driver.wait_settled(page, 0, timeout=90, quiet_ms=driver.QUIET_MS)
            # the page's clock starts at its navigation: drawn = when it last changed after its first run
            times.append(requested + page.evaluate("() => window.__advex.settledAt") / 1000)
        finally:
            page.context.close()
            server.stop()
    return times


def time_tabular(page, server, tabular_path: str, dataset: str, repeats: int) -> tuple[list[float], list[float]]:
    """eps slider: ArrowRight from 0 onto new values (trains), then ArrowLeft back over them (cached)."""
    label = "eps (l_inf"
    driver.open_page(page, server.url(tabular_path, f"dataset={dataset}&eps=0"), timeout=180)
    def move(key: str) -> float:
        return driver.move_slider(page, label, key, timeout=120, checks=driver.tabular_eps_checks)

    fresh = [move("ArrowRight") for _ in range(repeats)]
    cached = [move("ArrowLeft") for _ in range(repeats)]
    return fresh, cached


def time_page_switches(page, server, pages: list[driver.DashboardPage], rounds: int) -> dict[str, list[float]]:
    """Click every sidebar link in turn; the first round warms each page up and is not counted."""
    driver.open_page(page, server.url(), timeout=180)
    times: dict[str, list[float]] = {p.title: [] for p in pages}
    for round_ in range(rounds + 1):
        for target in pages[1:] + pages[:1]:
            before = driver.runs_finished(page)
            title = (page.locator("h1").first.text_content() or "").strip()
            # the sidebar lists the views in the order of advex.dashboard.navigation.PAGES
            page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]').nth(pages.index(target)).click()
            driver.wait_settled(page, before, timeout=300, checks=driver.title_changed_checks(title))
            if round_ > 0:
                times[target.title].append(driver.last_interaction_latency(page))
    return times


def time_saliency_page(page, server, saliency_path: str, repeats: int) -> list[float]:
    """Click "+" on the test image number: a new image, IG through the page's three models (uncached)."""
    driver.open_page(page, server.url(saliency_path, "method=IG&source=test+image"), timeout=180)
    step_up = page.locator('[data-testid="stNumberInput"]').filter(has_text="test image") \
        .locator('[data-testid="stNumberInputStepUp"]')
    if step_up.count() == 0:
        return []
    times = []
    for _ in range(repeats):
        before = driver.runs_finished(page)
        step_up.first.click()
        driver.wait_settled(page, before, timeout=120, quiet_ms=driver.QUIET_MS)
        times.append(driver.last_interaction_latency(page))
    return times


def time_saliency_functions(repeats: int) -> tuple[list[float], list[float], str]:
    """``saliency.explain`` (IG, 50 steps) of one image through a natural, an l1 and an adversarial model.

    Returns wall times, process CPU times (less sensitive to other load on a shared machine) and the models used.
    """
    import numpy as np
    import torch

    from advex.dashboard import saliency
    from advex.models.cnn import MadryCNN

    models, source = [], "random MadryCNN x3"
    try:
        from advex.zoo import list_models, load_zoo_model

        names = [c["name"] for c in list_models("mnist", include_user=False)]
        picks = [next(n for n in names if n.startswith(prefix)) for prefix in ("natural", "l1_", "adv_")]
        models = [load_zoo_model("mnist", name)[0].eval() for name in picks]
        source = "zoo mnist " + ", ".join(picks)
    except Exception:  # noqa: BLE001 - no zoo yet: random weights cost the same time
        torch.manual_seed(0)
        models = [MadryCNN().eval() for _ in range(3)]
    rng = np.random.default_rng(0)
    wall, cpu = [], []
    for repeat in range(repeats + 1):
        image = rng.random((1, 1, 28, 28), dtype=np.float32)
        start, start_cpu = time.perf_counter(), time.process_time()
        for model in models:
            saliency.explain(model, image, np.array([repeat % 10]), "IG")
        if repeat:  # the first call warms up torch
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return wall, cpu, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="measurements per operation")
    parser.add_argument("--dataset", default="synthetic", help="tabular data set (synthetic needs no files)")
    parser.add_argument("--switch-rounds", type=int, default=2, help="timed rounds through all pages")
    parser.add_argument("--streamlit-option", action="append", default=[], metavar="KEY=VALUE",
                        help="extra option for the servers this benchmark starts, e.g. runner.postScriptGC=false")
    args = parser.parse_args()
    options = tuple(f"--{option}" for option in args.streamlit_option)

    executable = driver.chromium_executable()
    if executable is None:
        sys.exit("Debian's chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    pages = driver.discover_pages()
    tabular = driver.page_by_prefix(pages, "Tabular")
    saliency_page = driver.page_by_prefix(pages, "Saliency")
    rows, notes = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="advex_bench_") as scratch, sync_playwright() as playwright:
        scratch_dir = Path(scratch)
        env = {"ADVEX_CACHE_DIR": str(scratch_dir / "cache")}
        browser = driver.launch_chromium(playwright, executable)
        try:
            first = time_first_render(browser, min(args.repeats, 3), env, scratch_dir, options)
            rows.append(median_row("first render", first))
            with driver.StreamlitServer(env=env, log_path=scratch_dir / "server.log", extra_args=options) as server:
                server.wait_healthy(timeout=90)
                page = driver.new_tracked_page(browser)
                if tabular is not None:
                    fresh, cached = time_tabular(page, server, tabular.url_path, args.dataset, args.repeats)
                    rows.append(median_row(f"tabular slider (new eps): {args.dataset}", fresh))
                    rows.append(median_row(f"tabular slider (cached eps): {args.dataset}", cached))
                else:
                    notes.append("no Tabular explorer page: slider not timed")
                if saliency_page is not None:
                    in_page = time_saliency_page(page, server, saliency_page.url_path, args.repeats)
                    if in_page:
                        rows.append(median_row("saliency in page (3 models)", in_page))
                    else:
                        notes.append("Saliency page shows no test-image picker (no image models in the zoo): "
                                     "only the functions behind it are timed")
                switches = time_page_switches(page, server, pages, args.switch_rounds)
                everything = [t for values in switches.values() for t in values]
                rows.append(median_row("page switch: all pages", everything))
                rows += [median_row(f"page switch: to {title}", values) for title, values in switches.items()]
                page.context.close()
        finally:
            browser.close()
    functions, cpu, source = time_saliency_functions(max(args.repeats, 10))
    rows.append(median_row("saliency functions (3 models)", functions))
    rows.append(median_row("saliency functions, CPU seconds", cpu))
    notes.append(f"saliency functions: {source}, torch threads {__import__('torch').get_num_threads()}")

    print(f"advex dashboard benchmark: {os.cpu_count()} CPUs visible, Chromium {executable}; load average (1 min) "
          f"before / after {load_before:.1f} / {os.getloadavg()[0]:.1f} (the machine may be shared)"
          + (f"; server options {' '.join(options)}" if options else ""))
    print(f"{'operation':48s} {'n':>3s} {'median s':>9s} {'target s':>9s}  verdict")
    for name, count, middle, target, verdict in rows:
        print(f"{name:48s} {count:3d} {middle:9.3f} {target:9.2f}  {verdict}")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
