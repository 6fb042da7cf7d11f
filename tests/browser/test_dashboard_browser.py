"""Real-browser test: `streamlit run app.py` on a free localhost port, driven by Debian's Chromium via playwright.

Opens every page, moves the eps slider on the Tabular and Saliency views, checks the Gini shown
moves in the expected direction, and saves screenshots to ``$ADVEX_ARTIFACTS_DIR`` (default: a
temporary folder). Skips with the reason when Chromium or playwright is missing; CI installs
Debian's ``chromium`` package. Never downloads a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
PAGES = {
    "Home": "", "Tabular explorer": "Tabular_explorer", "Saliency maps": "Saliency_maps",
    "Train a model": "Train_a_model", "Trade-offs": "Trade-offs", "Theory": "Theory", "Stability": "Stability",
}


def chromium_path() -> str:
    for candidate in (os.environ.get("ADVEX_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("Chromium not found: install Debian's `chromium` package (apt-get install -y chromium) "
                "or set ADVEX_CHROMIUM=/path/to/chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def artifacts_dir() -> Path:
    configured = os.environ.get("ADVEX_ARTIFACTS_DIR")
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / "advex-browser-artifacts"
    folder = folder / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def zoo_for_test(tmp_path_factory) -> tuple[Path, bool]:
    """The real zoo when it has MNIST models (direction checks apply), else a tiny one (change checks only)."""
    from advex.zoo import list_models, zoo_dir

    if os.environ.get("ADVEX_ZOO_DIR") is None and len({c["mode"] for c in list_models("mnist", include_user=False)}) == 3:
        return zoo_dir(), True
    sys.path.insert(0, str(REPO / "tests"))
    from test_app_models import build_tiny_zoo

    return build_tiny_zoo(tmp_path_factory.mktemp("zoo")), False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    chromium = chromium_path()
    zoo, real_zoo = zoo_for_test(tmp_path_factory)
    port = free_port()
    env = {**os.environ, "ADVEX_ZOO_DIR": str(zoo), "ADVEX_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    log = (artifacts_dir() / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start; see {artifacts_dir() / 'streamlit.log'}")
            time.sleep(0.3)
        yield {"url": url, "chromium": chromium, "real_zoo": real_zoo}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_FLAGS, headless=True)
        yield chrome
        chrome.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(90_000)
    yield tab
    context.close()


def wait_for_app(page) -> None:
    """Until the script run finished: the app has content and no element is stale or running."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                && document.querySelectorAll('[data-testid="stMainBlockContainer"] *').length > 5;
        }""",
    )
    page.wait_for_timeout(300)


def metric_value(page, label_prefix: str) -> float:
    for metric in page.locator('[data-testid="stMetric"]').all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        if label.startswith(label_prefix):
            return float(re.sub(r"[^0-9.\-]", "", metric.locator('[data-testid="stMetricValue"]').inner_text()))
    raise AssertionError(f"no metric labelled {label_prefix!r}")


def assert_no_traceback(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.inner_text("body")


def test_every_page_opens(server, page):
    shots = artifacts_dir()
    for title, path in PAGES.items():
        started = time.perf_counter()
        page.goto(f"{server['url']}/{path}?dataset=synthetic" if path == "Tabular_explorer" else f"{server['url']}/{path}")
        wait_for_app(page)
        assert_no_traceback(page)
        page.screenshot(path=str(shots / f"page_{path or 'Home'}.png"), full_page=True)
        print(f"{title}: {time.perf_counter() - started:.2f}s")


def move_slider(page, label: str, key: str, presses: int) -> None:
    slider = page.get_by_role("slider", name=re.compile(label))
    if slider.count() == 0:
        slider = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    slider.first.focus()
    for _ in range(abs(presses)):
        page.keyboard.press(key)
    page.wait_for_timeout(500)
    wait_for_app(page)


def test_tabular_eps_slider_raises_the_adversarial_gini(server, page):
    page.goto(f"{server['url']}/Tabular_explorer?dataset=synthetic&eps=0.02")
    wait_for_app(page)
    before = metric_value(page, "mean Gini of IG")  # the first is natural; find the adversarial column's
    ginis_before = [float(v) for v in page.locator('[data-testid="stMetricValue"]').all_inner_texts() if "%" not in v]
    page.screenshot(path=str(artifacts_dir() / "tabular_eps_0.02.png"), full_page=True)
    move_slider(page, "eps", "ArrowRight", 18)  # 0.02 -> 0.20 in steps of 0.01
    page.wait_for_function("() => new URLSearchParams(location.search).get('eps') === '0.2'")
    wait_for_app(page)
    ginis_after = [float(v) for v in page.locator('[data-testid="stMetricValue"]').all_inner_texts() if "%" not in v]
    page.screenshot(path=str(artifacts_dir() / "tabular_eps_0.20.png"), full_page=True)
    assert_no_traceback(page)
    assert before == ginis_before[0]
    assert ginis_after[0] == ginis_before[0]  # natural model: unchanged
    assert ginis_after[2] > ginis_before[2] + 0.02  # adversarial: sparser (Theorem 3.1)


def test_saliency_eps_slider_changes_the_adversarial_gini(server, page):
    page.goto(f"{server['url']}/Saliency_maps?dataset=mnist&eps=0.1")
    wait_for_app(page)
    before = metric_value(page, "Gini, adversarial")
    page.screenshot(path=str(artifacts_dir() / "saliency_eps_low.png"), full_page=True)
    move_slider(page, "eps of the adversarial model", "End", 1)
    wait_for_app(page)
    after = metric_value(page, "Gini, adversarial")
    page.screenshot(path=str(artifacts_dir() / "saliency_eps_high.png"), full_page=True)
    assert_no_traceback(page)
    if server["real_zoo"]:
        assert after > before  # the zoo's adversarial models: larger eps, sparser maps (Figure 3)
    else:
        assert after != before
