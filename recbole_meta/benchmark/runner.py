"""Execute a suite: every (seed, run) not already done, one record appended as each finishes.

Order is seed-major (all runs of seed 0, then seed 1, ...), so that ``Suite.prepare`` builds each seed's
data once (a suite with a ``prepare`` hook therefore runs in one process). Each run executes with its run
folder as working directory, its stdout/stderr (RecBole's console log included) captured in
``<run_dir>/console.log`` and the root logger's handlers set aside, so that RecBole's ``init_logger`` writes
the run's own log file there and the progress bar stays readable.

With ``jobs`` > 1 the runs execute side by side in that many worker processes (started fresh, ``spawn``),
longest first by the wall time the results file last recorded for each run name (else by
``Run.expected_seconds``), and the parent appends each record as its run finishes: one writer, so the file
never interleaves. A worker that dies (killed, out of memory) stops the pool: every run not finished by then
gets a failed record saying so (a rerun resumes them).
"""

import contextlib
import logging
import math
import os
import pickle
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone

from recbole_meta.benchmark.memory import PeakMemory
from recbole_meta.benchmark.records import (
    append_record,
    done_runs,
    normalize_metrics,
    read_records,
)
from recbole_meta.benchmark.suite import RunContext, RunResult, jsonable, run_key


def results_path(out_dir, suite_name):
    return os.path.join(out_dir, f"{suite_name}.jsonl")


def run_dir_for(out_dir, suite_name, run_name, seed):
    return os.path.join(out_dir, "runs", suite_name, run_name, f"seed{seed}")


def environment(jobs=1):
    """Versions and hardware a record was measured with (``jobs``: runs executing side by side)."""
    import numpy
    import recbole
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "recbole": recbole.__version__,
        "numpy": numpy.__version__,
        "torch_threads": torch.get_num_threads(),
        "jobs": int(jobs),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "git_commit": commit,
    }


@contextlib.contextmanager
def isolated_run(run_dir):
    """Working directory ``run_dir``, stdout/stderr into ``run_dir/console.log``, a fresh root logger."""
    os.makedirs(run_dir, exist_ok=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    for handler in saved_handlers:
        root.removeHandler(handler)
    previous_cwd = os.getcwd()
    with open(os.path.join(run_dir, "console.log"), "a", encoding="utf-8") as console:
        try:
            os.chdir(run_dir)
            with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
                yield
        finally:
            os.chdir(previous_cwd)
            for handler in root.handlers[:]:
                root.removeHandler(handler)
                handler.close()
            for handler in saved_handlers:
                root.addHandler(handler)
            root.setLevel(saved_level)


@dataclass
class SuiteRunSummary:
    """What :func:`run_suite` did: runs executed, resumed (skipped) and failed, and the wall time."""

    suite: str
    results_file: str
    executed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    wall_seconds: float = 0.0

    def lines(self):
        out = [
            f"suite {self.suite}: {len(self.executed)} run(s) executed, {len(self.skipped)} already done "
            f"(resumed), {len(self.failed)} failed, {self.wall_seconds:.1f} s",
            f"results: {self.results_file}",
        ]
        for run, seed, error in self.failed:
            out.append(
                f"FAILED {run} seed {seed}: {error} (traceback in the record and the run's console.log)"
            )
        return out


def _progress(total, initial, desc, enabled):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="run", disable=not enabled, file=sys.stderr)


def run_suite(suite, out_dir, seeds=None, quick=False, progress=True, runs=None, jobs=1, threads=None):
    """Run every (seed, run) of ``suite`` that has no successful record with the same config hash.

    Args:
        suite (Suite): the suite.
        out_dir (str): where ``<suite>.jsonl`` and the run folders go.
        seeds (list of int): seeds (default: the suite's, or its quick seeds in quick mode).
        quick (bool): quick (CI) mode: ``Suite.quick_config`` is applied.
        progress (bool): show a progress bar (runs done / total, ETA).
        runs (list of str): only these run names (default: all).
        jobs (int): runs executing side by side, each in its own worker process (1: in this process).
        threads (int): torch CPU threads of each worker (default: the CPUs shared out among the jobs); with
            ``jobs`` 1 the caller's setting is kept.

    Returns:
        SuiteRunSummary
    """
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    seeds = list(seeds) if seeds is not None else suite.default_seeds(quick)
    selected = suite.runs
    if runs is not None:
        unknown = sorted(set(runs) - set(suite.run_names()))
        if unknown:
            raise ValueError(f"suite {suite.name}: unknown run(s) {unknown}; runs are {suite.run_names()}")
        selected = [run for run in suite.runs if run.name in set(runs)]
    path = results_path(out_dir, suite.name)
    keys = {run.name: run_key(run, suite.run_config(run, quick), quick) for run in selected}
    done = done_runs(read_records(path), suite.name, keys)
    summary = SuiteRunSummary(suite=suite.name, results_file=path)
    plan = []
    for seed in seeds:
        for run in selected:
            if (run.name, int(seed)) in done:
                summary.skipped.append((run.name, seed))
            else:
                plan.append((seed, run, suite.run_config(run, quick), keys[run.name]))
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if jobs > 1 and suite.prepare is not None:
        raise ValueError(
            f"jobs={jobs}: suite {suite.name} prepares each seed's data once for all its runs (Suite.prepare), "
            "which needs one process: run it with jobs=1"
        )
    started = time.perf_counter()
    bar = _progress(len(plan) + len(summary.skipped), len(summary.skipped), suite.name, progress)

    def keep(record):
        append_record(path, record)
        run_name, seed = record["run"], record["seed"]
        if record["status"] == "ok":
            summary.executed.append((run_name, seed))
        else:
            summary.failed.append((run_name, seed, record["error"]))
            bar.write(f"{suite.name}: run {run_name} seed {seed} failed: {record['error'].splitlines()[-1]}")
        bar.update(1)

    try:
        if jobs > 1 and len(plan) > 1:
            _run_in_workers(
                suite, longest_first(plan, read_records(path)), jobs, threads, quick, out_dir, keep
            )
        else:
            env = environment() if plan else None
            prepared = {}
            for seed, run, config, hashed in plan:
                bar.set_postfix_str(f"{run.name} seed {seed}")
                keep(_execute(suite, run, seed, config, hashed, quick, out_dir, prepared, env))
    finally:
        bar.close()
    summary.wall_seconds = time.perf_counter() - started
    return summary


def longest_first(plan, records):
    """``plan`` ordered longest first: with runs side by side, a long run started last would leave the other
    workers idle while it finishes. A run's length is the wall time the results file last recorded for its
    name, else its ``Run.expected_seconds``; runs with neither go first (their length is unknown)."""
    last_wall = {}
    for record in records:
        if record.get("status") == "ok" and record.get("wall_seconds") is not None:
            last_wall[record.get("run")] = record["wall_seconds"]

    def length(item):
        run = item[1]
        known = last_wall.get(run.name, run.expected_seconds)
        return math.inf if known is None else known

    return sorted(plan, key=lambda item: -length(item))


# Worker state: the suite (sent once per worker), its environment and the seeds it has prepared.
_WORKER = {}


def _init_worker(suite_bytes, threads, jobs):
    import torch

    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // jobs))
    _WORKER.update(suite=pickle.loads(suite_bytes), env=environment(jobs), prepared={})


def _execute_in_worker(run_name, seed, config, hashed, quick, out_dir):
    suite = _WORKER["suite"]
    run = next(run for run in suite.runs if run.name == run_name)
    return _execute(suite, run, seed, config, hashed, quick, out_dir, _WORKER["prepared"], _WORKER["env"])


def _run_in_workers(suite, plan, jobs, threads, quick, out_dir, keep):
    """Execute ``plan`` in ``jobs`` worker processes; ``keep(record)`` as each run finishes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    try:
        suite_bytes = pickle.dumps(suite)
    except Exception as err:
        raise ValueError(
            f"jobs={jobs}: suite {suite.name} cannot be sent to worker processes ({_one_line(err)}); its runs "
            "and hooks must be module-level functions, or run it with jobs=1"
        ) from None
    workers = min(jobs, len(plan))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(suite_bytes, threads, workers),
    )
    try:
        futures = {}
        for item in plan:
            seed, run, config, hashed = item
            futures[pool.submit(_execute_in_worker, run.name, seed, config, hashed, quick, out_dir)] = item
        for future in as_completed(futures):
            try:
                keep(future.result())
            except BrokenProcessPool as err:  # a worker died: this run has no result, the finished ones count
                seed, run, config, hashed = futures[future]
                keep(_lost_run_record(suite, run, seed, config, hashed, quick, out_dir, _one_line(err)))
    finally:  # an interruption: queued runs are dropped, finished ones are already kept
        pool.shutdown(wait=True, cancel_futures=True)


def _lost_run_record(suite, run, seed, config, hashed, quick, out_dir, error):
    """The failed record of a run whose worker process died before the run returned."""
    record = _new_record(suite, run, seed, config, hashed, quick, out_dir, env=None)
    record["error"] = record["error_summary"] = f"its worker process died before the run returned: {error}"
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def _one_line(err, limit=300):
    text = " ".join(str(err).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(err).__name__}: {text}"


def _prepare(suite, seed, quick, out_dir, prepared):
    """``Suite.prepare`` for a seed, once; returns (data, seconds, error traceback or None)."""
    if suite.prepare is None:
        return None, 0.0, None
    if seed not in prepared:
        from recbole.utils import init_seed

        config = dict(suite.config)
        if quick:
            config.update(suite.quick_config)
        start = time.perf_counter()
        try:
            init_seed(seed, True)
            data = suite.prepare(seed=seed, config=config, quick=quick, out_dir=out_dir)
            prepared.clear()  # keep one seed's data in memory at a time
            prepared[seed] = (data, time.perf_counter() - start, None)
        except Exception:
            prepared[seed] = (None, time.perf_counter() - start, traceback.format_exc())
    return prepared[seed]


def _new_record(suite, run, seed, config, hashed, quick, out_dir, env):
    """A run's record before it executes: what it is, with status ``failed`` until it succeeds."""
    run_dir = run_dir_for(out_dir, suite.name, run.name, seed)
    return {
        "suite": suite.name,
        "run": run.name,
        "seed": int(seed),
        "config_hash": hashed.config_hash,
        "defaults_hash": hashed.defaults_hash,
        "defaults": hashed.defaults,
        "config": jsonable(config),
        "quick": bool(quick),
        "status": "failed",
        "metrics": None,
        "wall_seconds": None,
        "peak_rss_mb": None,
        "peak_rss_delta_mb": None,
        "trainable_parameters": None,
        "info": {},
        "error": None,
        "error_summary": None,
        "run_dir": os.path.relpath(run_dir, out_dir),
        "environment": env,
    }


def _execute(suite, run, seed, config, hashed, quick, out_dir, prepared, env):
    from recbole.utils import init_seed

    run_dir = run_dir_for(out_dir, suite.name, run.name, seed)
    record = _new_record(suite, run, seed, config, hashed, quick, out_dir, env)
    data, prepare_seconds, prepare_error = _prepare(suite, seed, quick, out_dir, prepared)
    record["info"]["prepare_seconds"] = prepare_seconds
    if prepare_error is not None:
        record["error"] = f"Suite.prepare failed for seed {seed}:\n{prepare_error}"
        record["error_summary"] = f"Suite.prepare failed for seed {seed} (see the traceback in the record)"
    else:
        ctx = RunContext(
            suite=suite.name,
            run=run.name,
            seed=int(seed),
            config=dict(config),
            quick=bool(quick),
            out_dir=out_dir,
            run_dir=run_dir,
            data=data,
        )
        with isolated_run(run_dir):
            init_seed(seed, True)
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                with PeakMemory() as memory:
                    result = run.fn(ctx)
                record["wall_seconds"] = time.perf_counter() - start
                # CPU time of this process (all its threads): what the run costs whatever else the machine runs
                record["info"]["cpu_seconds"] = round(time.process_time() - cpu_start, 1)
                if not isinstance(result, RunResult):
                    result = RunResult(metrics=result)
                record["metrics"] = normalize_metrics(result.metrics, where=f"run {run.name}")
                record["trainable_parameters"] = (
                    None if result.trainable_parameters is None else int(result.trainable_parameters)
                )
                record["info"].update(jsonable(dict(result.info)))
                record["peak_rss_mb"] = memory.usage.peak_rss_mb
                record["peak_rss_delta_mb"] = memory.usage.peak_rss_delta_mb
                record["info"]["memory_method"] = memory.usage.method
                record["status"] = "ok"
            except Exception as err:
                record["wall_seconds"] = time.perf_counter() - start
                record["error"] = traceback.format_exc()
                record["error_summary"] = _one_line(err)
                print(record["error"])  # into console.log
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record
