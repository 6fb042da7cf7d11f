# Owner: browser & load-test engineer
"""The dashboard in a real browser (Debian's Chromium, Playwright): every page renders, eps sliders move the Gini.

Starts ``streamlit run app.py`` on a free 127.0.0.1 port (throw-away ``ADVEX_CACHE_DIR``), opens every page of
``advex.dashboard.navigation`` by its URL, moves the eps slider of the Tabular explorer and of the Saliency maps with the keyboard,
and checks the direction of the Gini index (eq. I.67) that the page shows: a larger eps gives the adversarial
model sparser explanations (Sections 4-5; Table 1, Figure 1). Screenshots go to ``$ADVEX_ARTIFACTS_DIR/browser``
(else a pytest tmp folder). The server is always stopped (terminate, then kill).

In presentation mode (``?present=1``) at a projector's size, no page link's label may be cut off. On the
*Train a model* page a short ``live`` adversarial job is started and its IG map (redrawn by the page's
fragment every few training steps) must change; the job is then stopped.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_driver as driver  # the helper module beside this file, on sys.path above

pytestmark = pytest.mark.browser

PAGES = driver.discover_pages()
PAGE_TIMEOUT = 120.0  # seconds for one page's first run on 2 shared cores (a cold page trains or loads models)
PROJECTOR = {"width": 1280, "height": 720}  # a common projector resolution (HD 720p)
LIVE_STEPS = 60  # the live job of the browser test: a probe every 6 steps (at least ten in a run)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="python package playwright is not installed")
    executable = driver.chromium_executable()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it), "
                    f"or point ${driver.CHROMIUM_ENV} at a Chromium binary")
    return executable


@pytest.fixture(scope="module")
def server(chromium_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("streamlit")
    dashboard = driver.StreamlitServer(env={"ADVEX_CACHE_DIR": str(folder / "cache")}, log_path=folder / "server.log")
    dashboard.start()
    try:
        dashboard.wait_healthy(timeout=90)
        yield dashboard
    finally:
        dashboard.stop()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = driver.launch_chromium(playwright, chromium_path)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    tab = driver.new_tracked_page(browser)
    yield tab
    tab.context.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = driver.artifacts_dir(tmp_path_factory.mktemp("screenshots"))
    print(f"browser screenshots in {folder}")
    return folder


def shoot(page, screenshots, name: str) -> None:
    driver.screenshot(page, screenshots / f"{name}.png")


def require_page(prefix: str) -> driver.DashboardPage:
    found = driver.page_by_prefix(PAGES, prefix)
    if found is None:
        pytest.skip(f"the app has no page whose URL starts with /{prefix} (pages/ holds "
                    f"{[p.script.name for p in PAGES[1:]]})")
    return found


@pytest.mark.parametrize("dashboard_page", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_page_renders_without_exception(dashboard_page, server, page, screenshots):
    driver.open_page(page, server.url(dashboard_page.url_path), timeout=PAGE_TIMEOUT)
    shoot(page, screenshots, f"page_{dashboard_page.url_path or 'home'}")
    assert driver.page_problems(page) == []
    assert page.locator("h1").first.is_visible(), "the page shows no title"
    assert page.url.split("?")[0].rstrip("/") == server.url(dashboard_page.url_path).rstrip("/"), \
        "Streamlit redirected: the URL path derived from the file name is not the one it serves"


def test_sidebar_lists_every_page_at_its_url(server, page):
    driver.open_page(page, server.url(), timeout=PAGE_TIMEOUT)
    links = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
    hrefs = [links.nth(i).evaluate("a => a.href").rstrip("/") for i in range(links.count())]  # absolute
    assert hrefs == [server.url(p.url_path).rstrip("/") for p in PAGES]
    titles = [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]  # after the icon
    assert titles == [p.title for p in PAGES], "the sidebar should name every view, the first one 'Home'"


def test_tabular_eps_slider_raises_the_adversarial_gini(server, page, screenshots):
    tabular = require_page("Tabular")
    label, gini = "eps (l_inf", "mean Gini of IG"
    driver.open_page(page, server.url(tabular.url_path, "dataset=synthetic&eps=0.1"), timeout=PAGE_TIMEOUT)

    def read() -> tuple[str, float, float, float]:
        values = [driver.metric_number(driver.column_metric(page, heading, gini))
                  for heading in ("natural", "l1-regularized", "adversarial")]
        return (driver.slider_value(page, label), *values)

    start = read()
    driver.move_slider(page, label, "Home", timeout=PAGE_TIMEOUT, checks=driver.tabular_eps_checks)
    shoot(page, screenshots, "tabular_eps_min")
    at_zero = read()
    driver.move_slider(page, label, "End", timeout=PAGE_TIMEOUT, checks=driver.tabular_eps_checks)
    shoot(page, screenshots, "tabular_eps_max")
    at_max = read()
    assert driver.page_problems(page) == []

    seen = f"(eps shown, Gini natural, l1, adversarial): start {start}, Home {at_zero}, End {at_max}"
    assert [start[0], at_zero[0], at_max[0]] == ["0.10", "0.00", "0.50"], seen
    # eps = 0: the adversarial loss (eq. 8) is the natural loss, so both models (same seed) explain alike.
    assert at_zero[3] == pytest.approx(at_zero[1], abs=0.005), seen
    # Larger eps, sparser IG of the adversarial model (Table 1); eps moves only that model.
    assert at_zero[3] < start[3] < at_max[3], seen
    assert start[1:3] == at_zero[1:3] == at_max[1:3], seen


def move_unless_there(page, label: str, key: str) -> None:
    """Press Home / End on the Saliency eps slider unless it is at that end already."""
    try:
        driver.move_slider(page, label, key, timeout=PAGE_TIMEOUT, checks=driver.saliency_eps_checks)
    except driver.SliderAtEnd:
        pass  # already at that end of the zoo's eps values


def test_saliency_eps_slider_raises_the_adversarial_gini(server, page, screenshots):
    saliency = require_page("Saliency")
    label = "eps of the adversarial model"
    driver.open_page(page, server.url(saliency.url_path, "method=IG"), timeout=PAGE_TIMEOUT)
    shoot(page, screenshots, "saliency_default")
    assert driver.page_problems(page) == []
    if page.get_by_role("slider", name=re.compile("^" + re.escape(label))).count() == 0:
        pytest.skip("the Saliency page shows no eps slider: the zoo (pretrained/) has no image data set with "
                    "adversarial models (build it with `advex zoo build`)")

    def read() -> tuple[str, float, float]:
        values = driver.metric_values(page)
        natural = [v for k, v in values.items() if k.startswith("Gini, natural")]
        adversarial = [v for k, v in values.items() if k.startswith("Gini, adversarial")]
        assert len(natural) == len(adversarial) == 1, f"expected one natural and one adversarial Gini: {values}"
        return driver.slider_value(page, label), driver.metric_number(natural[0][0]), \
            driver.metric_number(adversarial[0][0])

    move_unless_there(page, label, "Home")
    shoot(page, screenshots, "saliency_eps_min")
    low = read()
    move_unless_there(page, label, "End")
    shoot(page, screenshots, "saliency_eps_max")
    high = read()
    if low[0] == high[0]:
        pytest.skip(f"the zoo has adversarial models for one eps only ({low[0]}): no direction to check")
    assert driver.page_problems(page) == []

    assert float(low[0]) < float(high[0]), f"Home/End did not order the eps slider: {low[0]}, {high[0]}"
    assert high[2] > low[2], f"adversarial Gini did not rise with eps: {low} -> {high}"
    assert high[1] == low[1], "moving eps must not change the natural model's map"


@pytest.mark.parametrize("dashboard_page", PAGES, ids=[p.url_path or "home" for p in PAGES])
def test_no_link_label_is_cut_off_in_presentation_mode(dashboard_page, server, page, screenshots):
    page.set_viewport_size(PROJECTOR)
    driver.open_page(page, server.url(dashboard_page.url_path, "present=1"), timeout=PAGE_TIMEOUT)
    shoot(page, screenshots, f"present_{dashboard_page.url_path or 'home'}")
    title_px = page.eval_on_selector("h1", "h => parseFloat(getComputedStyle(h).fontSize)")
    assert title_px > 40, f"presentation mode is not on (title at {title_px}px)"
    assert page.locator('[data-testid="stPageLink-NavLink"]').count() >= len(PAGES), "the sidebar lost its links"
    assert driver.truncated_link_labels(page) == [], "link labels cut off (label, text px, box px)"


def test_a_live_job_redraws_its_ig_map_and_can_be_stopped(server, page, screenshots):
    from advex.data.paths import available_datasets

    train = require_page("Train")
    if not available_datasets().get("mnist"):
        pytest.skip("MNIST is not available to the server (set ADVEX_DATA_DIR; `advex data fetch mnist`)")
    query = f"train_data=mnist&mode=adv&protocol=live&train_eps=0.3&steps={LIVE_STEPS}"
    driver.open_page(page, server.url(train.url_path, query), timeout=PAGE_TIMEOUT)
    assert page.get_by_text("Estimated training time on this server").count() == 1
    page.get_by_role("button", name="Start training").click()
    caption = '[data-testid="stCaptionContainer"]'
    first = driver.wait_for_text(page, caption, "^IG map of a fixed test image at step", timeout=PAGE_TIMEOUT)
    first_title = driver.wait_for_text(page, ".annotation-text", r"^step \d+: Gini", timeout=30)
    shoot(page, screenshots, "train_live_first_map")
    second = driver.wait_for_text(page, caption, "^IG map of a fixed test image at step", timeout=PAGE_TIMEOUT,
                                  unlike=first)
    second_title = driver.wait_for_text(page, ".annotation-text", r"^step \d+: Gini", timeout=30, unlike=first_title)
    shoot(page, screenshots, "train_live_second_map")
    step = lambda text: int(re.search(r"at step (\d+)", text).group(1))  # noqa: E731
    assert step(second) > step(first), (first, second)
    assert second_title != first_title  # the map's own title (its step and Gini) was redrawn
    page.get_by_role("button", name="Stop").click()
    # The job stops after its current step, then evaluates and saves the model so far (stopped_early in its card).
    driver.wait_for_text(page, '[data-testid="stProgress"]', "stopping|evaluating|accuracy at eps|attributions|stopped",
                         timeout=60)
    assert driver.page_problems(page) == []
