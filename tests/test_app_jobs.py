"""The training job queue: one job at a time, bounded queue, stop, owners; and a real (tiny) training job."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from advex.dashboard.jobs import MAX_LOG_POINTS, Job, JobQueue
from advex.errors import AdvexError


def wait_until(predicate, timeout=30.0):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_jobs_run_one_at_a_time_in_order():
    running, peak, order = [], [], []
    lock = threading.Lock()
    release = threading.Event()

    def runner(job: Job) -> dict:
        release.wait(5)
        with lock:
            running.append(job.id)
            peak.append(len(running))
        time.sleep(0.02)
        with lock:
            running.remove(job.id)
            order.append(job.id)
        return {"name": f"model-{job.id}"}

    queue = JobQueue(runner, max_running=1, max_queued=5)
    jobs = [queue.submit(f"student-{i}", {"i": i}) for i in range(4)]
    wait_until(lambda: jobs[0].status == "running")
    assert [queue.position(j) for j in jobs] == [0, 1, 2, 3]
    release.set()
    wait_until(lambda: all(j.status == "done" for j in jobs))
    assert max(peak) == 1
    assert order == [j.id for j in jobs]
    assert jobs[2].result == {"name": f"model-{jobs[2].id}"}


def test_a_full_queue_and_a_second_job_of_the_same_student_are_refused():
    release = threading.Event()
    queue = JobQueue(lambda job: release.wait(5) and {}, max_running=1, max_queued=2)
    queue.submit("a", {})
    wait_until(lambda: queue.jobs("a")[0].status == "running")
    queue.submit("b", {})
    queue.submit("c", {})
    with pytest.raises(AdvexError, match="queue is full"):
        queue.submit("d", {})
    with pytest.raises(AdvexError, match="already have a training job"):
        queue.submit("b", {})
    release.set()


def test_stop_ends_a_running_job_and_drops_a_waiting_one():
    def runner(job: Job) -> dict:
        while not job.should_stop():
            time.sleep(0.01)
        return {"stopped": True}

    queue = JobQueue(runner, max_running=1, max_queued=3)
    first, second = queue.submit("a", {}), queue.submit("b", {})
    wait_until(lambda: first.status == "running")
    assert not queue.stop(first.id, owner="b")  # not b's job
    assert queue.stop(second.id, owner="b")
    assert second.status == "stopped" and second.started is None
    assert queue.stop(first.id, owner="a")
    wait_until(lambda: first.status == "stopped")
    assert first.result == {"stopped": True}


def test_failures_are_reported_and_the_worker_survives():
    def runner(job: Job) -> dict:
        if job.settings["fail"] == "user":
            raise AdvexError("eps = 5 is impossible")
        if job.settings["fail"] == "bug":
            raise RuntimeError("internal")
        return {}

    queue = JobQueue(runner)
    jobs = [queue.submit(str(i), {"fail": kind}) for i, kind in enumerate(["user", "bug", "none"])]
    wait_until(lambda: not any(j.active for j in jobs))
    assert [j.status for j in jobs] == ["failed", "failed", "done"]
    assert jobs[0].message == "eps = 5 is impossible"
    assert "server log" in jobs[1].message


def test_memory_stays_bounded():
    queue = JobQueue(lambda job: {}, max_running=1, max_queued=50, keep_finished=3)
    for i in range(10):
        job = queue.submit(str(i), {})
        wait_until(lambda job=job: not job.active)
    assert len(queue.jobs()) == 3
    job = Job(1, "x", {})
    for step in range(5 * MAX_LOG_POINTS):
        job.report(step / (5 * MAX_LOG_POINTS), "", {"step": step})
    assert len(job.log) <= MAX_LOG_POINTS
    assert job.log[0]["step"] == 0 and job.log[-1]["step"] > 4 * MAX_LOG_POINTS


def test_a_tiny_training_job_saves_a_model_that_the_views_list(tmp_path, monkeypatch):
    """End to end: train 3 steps on a small image set, evaluate, save to the user folder, list it."""
    from advex.dashboard import models, training
    from advex.data.images import ImageDataset

    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "zoo"))
    rng = np.random.default_rng(0)
    images = lambda n: rng.random((n, 1, 28, 28), dtype=np.float32)  # noqa: E731
    data = ImageDataset("mnist", images(120), np.arange(120) % 10, images(0), np.zeros(0, dtype=np.int64),
                        images(20), np.arange(20) % 10, [str(k) for k in range(10)], "test data")
    monkeypatch.setattr(training, "_load_data", lambda dataset, data_dir=None: data)
    monkeypatch.setattr(training, "GINI_IMAGES", 3)
    monkeypatch.setattr(training, "ROBUST_IMAGES", 5)
    job = Job(1, "me", {"dataset": "mnist", "mode": "adv", "eps": 0.1, "lam": 0.0, "protocol": "fast", "steps": 3})
    card = training.run_training(job, model_kwargs={"hidden": 64})
    assert card["steps"] == 3 and card["mode"] == "adv" and card["eps"] == 0.1
    assert 0 <= card["clean_accuracy"] <= 1 and card["test_examples"] == 20
    assert {r["eps"] for r in card["robust_accuracy"]} == {0.1, 0.3}
    assert 0 < card["gini"]["ig"] < 1 and 0 < card["gini"]["deepshap"] < 1
    assert len(job.log) == 3 and job.progress > 0.9
    listed = models.cards("mnist")
    assert [c["name"] for c in listed] == [card["name"]] and listed[0]["source"] == "user"
    model = models.load(listed[0])  # loads cleanly: no shap leftovers were saved with the weights
    assert set(model.state_dict()) == set(type(model)(**{"hidden": 64}).state_dict())


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"mode": "adv", "eps": 5.0}, "pixels lie in"),
        ({"mode": "adv", "eps": 0.0}, "pixels lie in"),
        ({"mode": "l1", "lam": -1.0}, "lambda"),
        ({"dataset": "imagenet"}, "unknown image data set"),
        ({"steps": 0}, "steps"),
    ],
)
def test_impossible_training_settings_are_refused(settings, message):
    from advex.dashboard.training import check_settings

    base = {"dataset": "mnist", "mode": "natural", "eps": 0.0, "lam": 0.0, "protocol": "fast", "steps": None}
    with pytest.raises(AdvexError, match=message):
        check_settings(**{**base, **settings})


def test_a_live_job_keeps_only_the_latest_picture_and_scalar_curves(tmp_path, monkeypatch):
    """The live protocol's probe: the job holds the newest IG map; its log (the curves) holds numbers only."""
    from advex.dashboard import training
    from advex.data.images import ImageDataset

    monkeypatch.setenv("ADVEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVEX_ZOO_DIR", str(tmp_path / "zoo"))
    rng = np.random.default_rng(1)
    images = lambda n: rng.random((n, 1, 28, 28), dtype=np.float32)  # noqa: E731
    data = ImageDataset("mnist", images(60), np.arange(60) % 10, images(0), np.zeros(0, dtype=np.int64),
                        images(10), np.arange(10) % 10, [str(k) for k in range(10)], "test data")
    monkeypatch.setattr(training, "_load_data", lambda dataset, data_dir=None: data)
    monkeypatch.setattr(training, "GINI_IMAGES", 2)
    monkeypatch.setattr(training, "ROBUST_IMAGES", 3)
    pictures = []
    job = Job(1, "me", {"dataset": "mnist", "mode": "adv", "eps": 0.3, "lam": 0.0, "protocol": "live", "steps": 3})
    job.show = lambda picture: (pictures.append(picture["step"]), Job.show(job, picture))
    card = training.run_training(job, model_kwargs={"hidden": 64})
    assert pictures == [1, 2, 3] and job.picture["step"] == 3
    assert job.picture["probe_map"].shape == (28, 28) and job.picture["probe_label"] == 0  # the first test image
    assert all(isinstance(value, (int, float, str)) for entry in job.log for value in entry.values())
    frame = training.log_frame(job)
    assert frame["heldout_pgd_accuracy"].notna().sum() == 3 and frame["probe_gini"].between(0, 1).all()
    assert card["protocol"] == "live" and card["train_attack"]["guard"]["held_out_images"] == 12


def test_the_page_says_why_a_model_stopped_early():
    from advex.dashboard.training import stop_note

    guard = {"events": [{"step": 4200, "action": "rollback", "restored_step": 3300},
                        {"step": 5100, "action": "stop", "restored_step": 3300}]}
    assert stop_note({"stopped_early": False}) == ""
    assert stop_note({"stopped_early": True, "train_attack": {"steps": 10}}) == " (stopped early)"
    assert "step 5100 by the catastrophic-overfitting guard" in stop_note({"stopped_early": True,
                                                                         "train_attack": {"guard": guard}})
    assert "weights of step 3300" in stop_note({"stopped_early": True, "train_attack": {"guard": guard}})
