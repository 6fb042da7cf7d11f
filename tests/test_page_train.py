"""AppTest of the Train page: a time estimate before the start, a job that runs and is listed, a live IG map that updates."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import open_app_page, write_fake_mnist
from streamlit.testing.v1 import AppTest

PAGE = "pages/3_Train_a_model.py"
FAKE_SPEED = {"step_s": 0.1, "guard_check_s": 2.0, "probe_s": 0.5, "device": "cpu", "amp": "none"}


def open_page(**params) -> AppTest:
    return open_app_page(PAGE, params)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    from advex.dashboard import training

    monkeypatch.setenv("ADVEX_DATA_DIR", str(write_fake_mnist(tmp_path / "data", n_train=60, n_test=20)))
    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "no-zoo"))
    monkeypatch.setattr(training, "GINI_IMAGES", 2)
    monkeypatch.setattr(training, "ROBUST_IMAGES", 4)
    training.DATA.clear()
    training.SPEEDS.clear()
    return tmp_path


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_a_training_job_runs_and_its_model_appears(fake_mnist):
    from advex.dashboard import models, training

    at = open_page(mode="natural")
    assert not at.exception and not at.error
    assert at.radio(key="protocol").value == training.default_protocol() == "live"  # no GPU in CI
    estimate = [m.value for m in at.markdown if m.value.startswith("Estimated training time")]
    assert estimate and "600 steps" in estimate[0] and "s per step" in estimate[0]  # the live natural run
    at.number_input(key="steps").set_value(2).run()
    assert any("for 2 steps" in m.value for m in at.markdown)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith("Job ")
    queue = training.server_queue()
    job = queue.jobs(at.session_state["advex_owner"])[0]
    wait_for(lambda: not job.active)
    assert job.status == "done", job.error
    at.run()
    assert not at.exception
    assert any(job.result["name"] in s.value for s in at.success)
    assert [c["name"] for c in models.cards("mnist")] == [job.result["name"]]


def map_state(at: AppTest) -> tuple[str, str]:
    """The live map's caption and the JSON of its chart (the chart whose title names a step's Gini)."""
    caption = next(c.value for c in at.caption if c.value.startswith("IG map of a fixed test image"))
    charts = [chart.proto.spec for chart in at.get("plotly_chart") if "step " in chart.proto.spec and "Gini" in
              chart.proto.spec and "label " in chart.proto.spec]
    assert len(charts) == 1
    return caption, charts[0]


def test_the_live_map_is_redrawn_as_the_model_learns(fake_mnist, monkeypatch):
    """A live adversarial job: the page shows the probe's IG map at an early step, then a new one at a later step."""
    from advex.dashboard import training
    from advex.dashboard.jobs import Job
    from advex.training import image

    monkeypatch.setattr(image, "measure_speed", lambda *args, **kwargs: FAKE_SPEED)
    first_picture, page_seen = threading.Event(), threading.Event()
    show = Job.show

    def show_then_wait(job, picture):  # hold the trainer at its first picture until the page has drawn it
        show(job, picture)
        if not first_picture.is_set():
            first_picture.set()
            page_seen.wait(120)

    monkeypatch.setattr(Job, "show", show_then_wait)
    at = open_page(mode="adv", protocol="live")
    assert not at.exception and not at.error
    assert any("Estimated training time" in m.value and "2.0 s per robustness check" in m.value for m in at.markdown)
    at.number_input(key="steps").set_value(5).run()
    at.button[0].click().run()
    job = training.server_queue().jobs(at.session_state["advex_owner"])[0]
    try:
        assert first_picture.wait(120), job.error
        at.run()
        early_caption, early_chart = map_state(at)
        assert "at step 1:" in early_caption
    finally:
        page_seen.set()
    wait_for(lambda: not job.active)
    assert job.status == "done", job.error
    at.run()
    late_caption, late_chart = map_state(at)
    assert not at.exception
    assert "at step 5:" in late_caption and late_chart != early_chart  # a new map, titled with its step and Gini
    assert job.result["train_attack"]["method"] == "n-fgsm" and job.result["protocol"] == "live"
    curves = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert sum(any(t in spec for t in ("held-out", "Mean Gini", "Training loss")) for spec in curves) == 3


def test_a_stopped_live_job_is_saved_and_says_so(fake_mnist, monkeypatch):
    from advex.dashboard import training
    from advex.dashboard.jobs import Job
    from advex.training import image

    monkeypatch.setattr(image, "measure_speed", lambda *args, **kwargs: FAKE_SPEED)
    show = Job.show
    monkeypatch.setattr(Job, "show", lambda job, picture: (show(job, picture), job._stop.set()))  # stop at once
    at = open_page(mode="adv", protocol="live")
    at.number_input(key="steps").set_value(50).run()
    at.button[0].click().run()
    job = training.server_queue().jobs(at.session_state["advex_owner"])[0]
    wait_for(lambda: not job.active)
    assert job.status == "stopped" and job.result["stopped_early"] and job.result["steps"] < 50
    at.run()
    assert any("(stopped early)" in s.value for s in at.success)


def test_an_impossible_eps_in_the_link_is_a_warning(fake_mnist, monkeypatch):
    from advex.training import image

    monkeypatch.setattr(image, "measure_speed", lambda *args, **kwargs: FAKE_SPEED)
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
