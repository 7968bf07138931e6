"""Execute a suite: every (seed, run) not already done, one record appended as each finishes.

Order is seed-major (all runs of seed 0, then seed 1, ...), so that ``Suite.prepare`` builds each seed's
data once. Each run executes with its run folder as working directory, its stdout/stderr (RecBole's console
log included) captured in ``<run_dir>/console.log`` and the root logger's handlers set aside, so that
RecBole's ``init_logger`` writes the run's own log file there and the progress bar stays readable.
"""

import contextlib
import logging
import os
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


def environment():
    """Versions and hardware a record was measured with."""
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


def run_suite(suite, out_dir, seeds=None, quick=False, progress=True, runs=None):
    """Run every (seed, run) of ``suite`` that has no successful record with the same config hash.

    Args:
        suite (Suite): the suite.
        out_dir (str): where ``<suite>.jsonl`` and the run folders go.
        seeds (list of int): seeds (default: the suite's, or its quick seeds in quick mode).
        quick (bool): quick (CI) mode: ``Suite.quick_config`` is applied.
        progress (bool): show a progress bar (runs done / total, ETA).
        runs (list of str): only these run names (default: all).

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
    env = environment() if plan else None
    started = time.perf_counter()
    bar = _progress(len(plan) + len(summary.skipped), len(summary.skipped), suite.name, progress)
    prepared = {}
    try:
        for seed, run, config, hashed in plan:
            bar.set_postfix_str(f"{run.name} seed {seed}")
            record = _execute(suite, run, seed, config, hashed, quick, out_dir, prepared, env)
            append_record(path, record)
            if record["status"] == "ok":
                summary.executed.append((run.name, seed))
            else:
                summary.failed.append((run.name, seed, record["error"]))
                bar.write(
                    f"{suite.name}: run {run.name} seed {seed} failed: {record['error'].splitlines()[-1]}"
                )
            bar.update(1)
    finally:
        bar.close()
    summary.wall_seconds = time.perf_counter() - started
    return summary


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


def _execute(suite, run, seed, config, hashed, quick, out_dir, prepared, env):
    from recbole.utils import init_seed

    run_dir = run_dir_for(out_dir, suite.name, run.name, seed)
    record = {
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
            start = time.perf_counter()
            try:
                with PeakMemory() as memory:
                    result = run.fn(ctx)
                record["wall_seconds"] = time.perf_counter() - start
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
