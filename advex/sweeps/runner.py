"""Run a sweep's trials as Ray tasks on this machine or on a Ray cluster; resumable, each failure retried once.

Each trial is one Ray core task calling :func:`advex.zoo.build.train_and_save` (Ray core rather
than Ray Tune: the grid is fixed, with no search algorithm, scheduler or early stopping to drive,
and plain tasks keep the store, the retry rule and the progress ours). A trial asks for
``Resources.cpus`` CPUs and, for an image model on a cluster with GPUs, a fraction of a GPU (0.25
for the MNIST-like CNNs, so four share one GPU; 1 for CIFAR-10's WRN).

What moves between nodes: a task receives its :class:`Trial` (a few hundred bytes) and returns
the model's files (safetensors + card, at most a few MB for the CNNs, ~150 MB for a float32
WRN-28-10) through Ray's object store; the driver writes them and the result row into the results
folder. So the results folder lives only on the driver's machine and no shared filesystem is
needed; the driver is the only writer, and each write is atomic. Data sets do not move: every
node reads them from its own data folder (``data_dir`` on that node, else ``$ADVEX_DATA_DIR``,
else its cache; ``advex data`` fetches them), and every node needs the same advex installed.

A trial that raises (or whose worker dies) is retried once; a second failure is written as a
"failed" row with both errors, and the other trials go on. A re-run skips the trials whose row
is "ok" for the same configuration, so a killed sweep resumes where it stopped.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from advex.errors import AdvexError
from advex.sweeps.grid import Resources, Trial
from advex.sweeps.progress import SweepProgress
from advex.sweeps.store import ResultsStore

MAX_ATTEMPTS = 2  # a failed trial is retried once
TRACEBACK_CHARS = 4000
DEVICES = ("cpu", "cuda")
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the task name in its tracebacks


@dataclass
class SweepSummary:
    """What a run did: trials in the grid, skipped (finished before), finished now, failed, and whether it was stopped."""

    total: int
    skipped: int = 0
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        return (f"{self.total} trials: {len(self.finished)} finished now, {self.skipped} finished before, "
                f"{len(self.failed)} failed{', stopped early' if self.stopped else ''} ({self.seconds:.1f} s)")


def execute_trial(trial: Trial, data_dir: str | None = None, device: str | None = None,
                  deadline: float | None = None) -> dict:
    """Train, evaluate and store one trial in a temporary folder; return its files (name -> bytes), node and seconds.

    This is the whole work of a Ray task, callable directly too (the benchmark's anchor).
    ``deadline`` (Unix time) ends image training early; the model is still evaluated and saved.
    """
    from advex.zoo.build import train_and_save

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="advex-trial-") as folder:
        train_and_save(
            trial.dataset, trial.setting, folder, name=trial.name, protocol=trial.protocol or "fast", seed=trial.seed,
            steps=trial.steps, device=device, data_dir=data_dir, plan=trial.plan, store_float16=trial.float16,
            should_stop=(lambda: time.time() > deadline) if deadline else None,
        )
        files = {path.name: path.read_bytes() for path in (Path(folder) / trial.dataset).iterdir()
                 if path.is_file() and path.name.startswith(trial.name)}
    return {"files": files, "node": socket.gethostname(), "seconds": time.perf_counter() - started}


def _trial_task(trial: Trial, data_dir: str | None, use_gpu: bool, deadline: float | None) -> dict:
    """The Ray task: the GPU Ray assigned (if any) or the CPU; the node is named by host and Ray node id."""
    import ray

    output = execute_trial(trial, data_dir, "cuda" if use_gpu else ("cpu" if trial.is_image else None), deadline)
    return {**output, "node": f"{output['node']} {ray.get_runtime_context().get_node_id()[:8]}"}


def _connect(address: str | None, num_cpus: int | None) -> bool:
    """Join the cluster at ``address`` or start a local Ray (``num_cpus``, GPUs if present); True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise AdvexError(f"cannot start or join {where} ({err}); start a cluster with `ray start --head` "
                         "and pass the address it prints, or omit --address for a local Ray") from None
    return True


def _check_fits(trials: Sequence[Trial], resources: Resources, use_gpu: bool) -> None:
    """An error, instead of a sweep that waits forever, when no node can hold one trial's request."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    cpus = max((node.get("CPU", 0) for node in nodes), default=0)
    if resources.cpus > cpus:
        raise AdvexError(f"a trial asks for {resources.cpus:g} CPUs but the largest Ray node has {cpus:g}; "
                         "lower [resources] cpus in the grid")
    need = max((resources.gpus_for(t.dataset) for t in trials if t.is_image), default=0) if use_gpu else 0
    gpus = max((node.get("GPU", 0) for node in nodes), default=0)
    if need > gpus:
        raise AdvexError(f"an image trial asks for {need:g} GPUs but the largest Ray node has {gpus:g}; "
                         "lower [resources] gpus in the grid")


def _error_entry(err: BaseException, attempt: int) -> dict:
    """The error of one attempt: "Type: message" of the trial's own exception, and the traceback."""
    cause = getattr(err, "cause", None) or err
    text = ANSI_CODES.sub("", str(err) if cause is not err else "".join(traceback.format_exception(err)))
    return {"attempt": attempt, "error": f"{type(cause).__name__}: {cause}".strip(), "traceback": text[-TRACEBACK_CHARS:]}


def run_sweep(
    trials: Sequence[Trial],
    results_dir: str | Path,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    resources: Resources = Resources(),
    device: str | None = None,
    data_dir: str | Path | None = None,
    models_dir: str | Path | None = None,
    fresh: bool = False,
    deadline: float | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> SweepSummary:
    """Run the unfinished ``trials`` on Ray and write their models and rows into ``results_dir``; return a summary.

    ``address`` joins a running cluster (else a local Ray with ``num_cpus`` CPUs starts, and stops
    at the end; an already initialized Ray is used as it is). ``device`` "cpu" keeps image trials
    off GPUs, "cuda" requires them, ``None`` uses GPUs when the cluster has some. ``models_dir``
    stores models elsewhere than ``results_dir/models`` (the zoo build). ``fresh`` reruns finished
    trials. ``should_stop()`` is checked between results: True cancels the running trials and returns
    (their rows are not written; a re-run runs them). Ctrl-C does the same and re-raises.
    """
    if device is not None and device not in DEVICES:
        raise AdvexError(f"unknown device {device!r}; use cpu or cuda (or none: GPUs when the cluster has them)")
    if num_cpus is not None and num_cpus < 1:
        raise AdvexError(f"--num-cpus must be >= 1, got {num_cpus}")
    if len({t.id for t in trials}) < len(trials):
        raise AdvexError("two trials of the sweep have the same data set and model name")
    started = time.perf_counter()
    store = ResultsStore(results_dir, models_dir)
    todo = list(trials) if fresh else [t for t in trials if not store.is_finished(t)]
    summary = SweepSummary(total=len(trials), skipped=len(trials) - len(todo))
    if not todo:
        return summary
    import ray

    if progress and not ray.is_initialized():
        print(f"joining the Ray cluster at {address}" if address else "starting a local Ray", file=sys.stderr, flush=True)
    started_ray = _connect(address, num_cpus)
    in_flight: dict = {}
    try:
        cluster = ray.cluster_resources()
        use_gpu = device == "cuda" or (device is None and cluster.get("GPU", 0) > 0)
        if use_gpu and cluster.get("GPU", 0) <= 0:
            raise AdvexError("--device cuda, but the Ray cluster has no GPU; start GPU nodes or use --device cpu")
        _check_fits(todo, resources, use_gpu)
        task = ray.remote(max_retries=0)(_trial_task)
        data_dir = str(data_dir) if data_dir is not None else None
        queue = deque((trial, 1) for trial in todo)
        errors: dict[str, list[dict]] = {}
        with SweepProgress(len(todo), summary.skipped, enabled=progress) as bar:
            while queue or in_flight:
                if should_stop is not None and should_stop():
                    summary.stopped = True
                    break
                total = ray.cluster_resources()  # nodes may join or leave while a sweep runs
                while queue:
                    trial, attempt = queue[0]
                    ask = {"CPU": resources.cpus, "GPU": resources.gpus_for(trial.dataset) if use_gpu and trial.is_image else 0.0}
                    used = {key: sum(request[key] for _, _, request in in_flight.values()) for key in ask}
                    if in_flight and any(used[key] + ask[key] > total.get(key, 0) + 1e-9 for key in ask):
                        break  # submit only what can run now, so that "running" means running
                    queue.popleft()
                    options = {"num_cpus": ask["CPU"], **({"num_gpus": ask["GPU"]} if ask["GPU"] else {})}
                    in_flight[task.options(**options).remote(trial, data_dir, bool(ask["GPU"]), deadline)] = (trial, attempt, ask)
                bar.set_running(len(in_flight))
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                for ref in ready:
                    trial, attempt, _ = in_flight.pop(ref)
                    try:
                        output = ray.get(ref)
                    except ray.exceptions.RayError as err:
                        errors.setdefault(trial.id, []).append(_error_entry(err, attempt))
                        if attempt < MAX_ATTEMPTS:
                            queue.append((trial, attempt + 1))
                            bar.retrying(f"{trial.id} failed ({errors[trial.id][-1]['error'][:200]}); retrying once")
                        else:
                            store.write_failed(trial, errors.pop(trial.id))
                            summary.failed.append(trial.id)
                            bar.write(f"{trial.id} failed twice: {store.read_row(trial)['error'][:300]}")
                            bar.finished(failed=True)
                        continue
                    card = store.save_model(trial, output["files"])
                    store.write_finished(trial, card, attempt, errors.pop(trial.id, []), output["node"], output["seconds"])
                    summary.finished.append(trial.id)
                    bar.finished()
                bar.set_running(len(in_flight))
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if started_ray:
            ray.shutdown()
        summary.seconds = time.perf_counter() - started
    return summary
