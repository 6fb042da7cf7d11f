"""AppTest of the home page: the paper's claims linked to their views, device, data sets, zoo models."""

from __future__ import annotations

from pathlib import Path

from conftest import build_tiny_zoo
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = {"pages/1_Tabular_explorer.py", "pages/2_Saliency_maps.py", "pages/3_Train_a_model.py",
         "pages/4_Trade-offs.py", "pages/5_Theory.py", "pages/6_Stability.py", "pages/7_Beyond_the_paper.py"}


def test_home_links_every_view_and_lists_models(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(build_tiny_zoo(tmp_path / "zoo")))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error
    links = {link.proto.page for link in at.main.get("page_link")}  # URL paths: "Tabular_explorer", ...
    assert {Path(p).stem.split("_", 1)[1] for p in PAGES} == links
    from advex.dashboard.navigation import PAGES as NAVIGATION

    sidebar = [(link.proto.label, link.proto.page) for link in at.sidebar.get("page_link")]
    assert sidebar == [(page.title, page.url_path) for page in NAVIGATION]
    assert any("Theorem 3.1" in m.value for m in at.markdown)
    assert any("Computing on: **CPU" in m.value or "Computing on: **GPU" in m.value for m in at.markdown)
    zoo = at.dataframe[1].value
    assert set(zoo["model"]) == {"natural", "l1_0.01", "adv_0.1", "adv_0.3"}


def test_home_says_how_to_get_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "no-zoo"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    datasets = at.dataframe[0].value.set_index("data set")
    assert datasets.loc["mnist", "available"] == "no" and datasets.loc["synthetic", "available"].startswith("yes")
    assert any("advex data fetch mnist" in c.value for c in at.caption)
    assert any("advex zoo build" in i.value or "advex train" in i.value for i in at.info)


def test_navigation_lists_every_page_file_once():
    from advex.dashboard.navigation import PAGES as NAVIGATION

    root = Path(APP).parent
    scripts = [page.script for page in NAVIGATION]
    assert scripts[0] == "app.py"
    assert sorted(scripts[1:]) == sorted(str(p.relative_to(root)) for p in (root / "pages").glob("*.py"))
    assert NAVIGATION[0].title == "Home" and NAVIGATION[0].url_path == ""
    from streamlit.source_util import page_icon_and_name  # Streamlit's own rule for a page file's URL path

    assert all(page_icon_and_name(Path(page.script))[1] == page.url_path for page in NAVIGATION[1:])
    assert len({page.url_path for page in NAVIGATION}) == len(NAVIGATION)


def test_presentation_mode_follows_the_user_across_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.sidebar.toggle[0].set_value(True).run()
    assert at.query_params["present"] == ["1"] or at.query_params["present"] == "1"
    at.switch_page("pages/1_Tabular_explorer.py").run()
    assert at.sidebar.toggle[0].value is True
    assert not at.exception


def test_a_corrupt_model_card_in_the_user_folder_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(build_tiny_zoo(tmp_path / "zoo")))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    from advex.zoo import user_models_dir

    broken = user_models_dir() / "mnist" / "mine.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("mine.json is not valid JSON" in w.value and "re-train" in w.value for w in at.warning)
    assert len(at.dataframe[1].value) == 4  # the zoo's models are still listed
