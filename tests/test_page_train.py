"""AppTest of the Train page: a job is queued, shows progress, and its model is listed when done."""

from __future__ import annotations

import time

from conftest import open_app_page, write_fake_mnist
from streamlit.testing.v1 import AppTest

PAGE = "pages/3_Train_a_model.py"


def open_page(**params) -> AppTest:
    return open_app_page(PAGE, params)


def test_a_training_job_runs_and_its_model_appears(tmp_path, monkeypatch):
    from advex.dashboard import models, training

    monkeypatch.setenv("ADVEX_DATA_DIR", str(write_fake_mnist(tmp_path / "data", n_train=60, n_test=20)))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "no-zoo"))
    monkeypatch.setattr(training, "GINI_IMAGES", 2)
    monkeypatch.setattr(training, "ROBUST_IMAGES", 4)
    at = open_page(mode="natural")
    assert not at.exception and not at.error
    at.number_input(key="steps").set_value(2)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith("Job ")
    queue = training.server_queue()
    job = queue.jobs(at.session_state["advex_owner"])[0]
    deadline = time.time() + 120
    while job.active and time.time() < deadline:
        time.sleep(0.2)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception
    assert any(job.result["name"] in s.value for s in at.success)
    assert [c["name"] for c in models.cards("mnist")] == [job.result["name"]]


def test_an_impossible_eps_in_the_link_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(write_fake_mnist(tmp_path / "data", n_train=60, n_test=20)))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page(mode="adv", train_eps="5")
    assert not at.exception
    assert any("`train_eps` was ignored" in w.value and "outside" in w.value for w in at.warning)
    assert at.number_input(key="train_eps").value == 0.3


def test_without_image_data_the_page_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVEX_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    at = open_page()
    assert not at.exception
    assert any("advex data fetch mnist" in e.value for e in at.error)
