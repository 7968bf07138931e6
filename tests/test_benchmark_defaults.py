"""A record is keyed by the yaml defaults its run read: a changed default runs it again; stamping old records."""

import json
import os
import subprocess

from recbole_meta.benchmark import Run, Suite, recbole_run
from recbole_meta.benchmark.defaults_backfill import stamp_defaults
from recbole_meta.benchmark.recbole_run import yaml_defaults
from recbole_meta.benchmark.records import read_records
from recbole_meta.benchmark.report import render_report, summarize
from recbole_meta.benchmark.runner import run_suite
from recbole_meta.benchmark.suite import defaults_hash, resolved_defaults


def _suite(calls, defaults):
    def fn(ctx):
        calls.append(ctx.seed)
        return {"mae": 1.0}

    return Suite(
        "keyed", runs=[Run("a", fn, config={"lr": 1}, defaults=lambda config: dict(defaults))], seeds=(0,)
    )


def test_a_changed_default_runs_again_and_the_old_default_finds_its_record(tmp_path):
    calls, defaults = [], {"local_lr": 0.01}
    run_suite(_suite(calls, defaults), tmp_path, progress=False)
    run_suite(_suite(calls, defaults), tmp_path, progress=False)
    assert calls == [0]  # same config, same defaults: resumed
    defaults["local_lr"] = 0.1  # the config the suite states is unchanged
    run_suite(_suite(calls, defaults), tmp_path, progress=False)
    assert calls == [0, 0]
    records = read_records(tmp_path / "keyed.jsonl")
    assert records[0]["config_hash"] == records[1]["config_hash"]
    assert records[0]["defaults_hash"] != records[1]["defaults_hash"]
    defaults["local_lr"] = 0.01
    summary = summarize(_suite(calls, defaults), records)
    assert summary.records[("a", 0)] is records[0] and summary.stale == 1


def test_an_option_added_since_keeps_the_record_and_the_report_names_it(tmp_path):
    calls, defaults = [], {"local_lr": 0.01}
    run_suite(_suite(calls, defaults), tmp_path, progress=False)
    defaults["meta_sgd"] = False  # a new option; every default the record read still holds
    run_suite(_suite(calls, defaults), tmp_path, progress=False)
    assert calls == [0]
    records = read_records(tmp_path / "keyed.jsonl")
    report = render_report(summarize(_suite(calls, defaults), records), "cmd")
    assert "could not have used them: meta_sgd (False now)" in report
    del defaults["local_lr"]  # an option the record read is gone: its meaning may have moved elsewhere
    run_suite(_suite(calls, defaults), tmp_path, progress=False)
    assert calls == [0, 0]


def test_records_without_a_defaults_hash_are_kept_and_the_report_says_so(tmp_path):
    calls = []
    run_suite(_suite(calls, {"x": 1}), tmp_path, progress=False)
    path = tmp_path / "keyed.jsonl"
    legacy = read_records(path)[0]
    del legacy["defaults_hash"]
    path.write_text(json.dumps(legacy) + "\n")
    run_suite(_suite(calls, {"x": 2}), tmp_path, progress=False)
    assert calls == [0]  # unknown defaults: not run again
    report = render_report(summarize(_suite(calls, {"x": 2}), read_records(path)), "cmd")
    assert "1 result(s) shown predate the recorded yaml defaults" in report


def test_yaml_defaults_hide_what_the_config_overrides_and_where_a_run_executes():
    config = {"model": "MeLU", "dataset": "ml-100k", "local_lr": 0.5}
    resolved = yaml_defaults(config)
    assert resolved["local_update_steps"] == 5 and resolved["embedding_size"] == 32  # MeLU.yaml
    assert resolved["min_user_inter"] == 13  # the meta quick-start defaults
    assert "local_lr" not in resolved and "model" not in resolved
    assert "nproc" not in resolved and "port" not in resolved
    run = recbole_run("MeLU-5", "MeLU", config={"dataset": "ml-100k"})
    original = defaults_hash(resolved_defaults(run, run.config))
    assert defaults_hash(resolved_defaults(run, run.config)) == original

    def edited(relative):  # the installed files, with one default of MeLU.yaml changed
        from recbole_meta.config import properties_dir

        text = open(f"{properties_dir()}/{relative}", encoding="utf-8").read()
        return text.replace("local_update_steps: 5", "local_update_steps: 3") if "MeLU" in relative else text

    assert defaults_hash(resolved_defaults(run, run.config, read=edited)) != original


def test_runs_that_build_their_models_are_keyed_by_every_models_defaults_on_every_dataset():
    from recbole_meta.benchmark.recbole_run import models_defaults
    from recbole_meta.config import properties_dir

    config = {"datasets": {"ml-100k": {"dataset": "ml-100k", "local_lr": 0.5}, "planted": {}}}
    defaults = models_defaults(["MeLU", "UserItemBias"], datasets_key="datasets")
    resolved = defaults(config)
    assert resolved["planted/MeLU/local_update_steps"] == 5 and "ml-100k/MeLU/local_lr" not in resolved
    assert resolved["ml-100k/UserItemBias/min_user_inter"] == 13 and "planted/MeLU/min_user_inter" in resolved

    def edited(relative):  # the installed files, with the episodic batching default flipped
        path = f"{properties_dir()}/{relative}"
        if not os.path.isfile(path):
            return None
        text = open(path, encoding="utf-8").read()
        return text.replace("bucket_by_length: True", "bucket_by_length: False")

    changed = defaults(config, read=edited)
    assert (
        changed["ml-100k/MeLU/bucket_by_length"] is False
        and resolved["ml-100k/MeLU/bucket_by_length"] is True
    )
    assert defaults_hash(changed) != defaults_hash(resolved)


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True
    ).stdout


def test_stamping_uses_the_yaml_of_the_commit_that_measured_the_record(tmp_path):
    repo = tmp_path / "repo"
    (repo / "properties" / "model").mkdir(parents=True)
    (repo / "properties" / "overall.yaml").write_text("seed_free: 1\n")
    melu = repo / "properties" / "model" / "MeLU.yaml"
    melu.write_text("local_lr: 0.01\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    old = _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "old").strip()
    melu.write_text("local_lr: 0.1\n")
    new = _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "new").strip()

    run = recbole_run("MeLU-5", "MeLU", config={"dataset": "ml-100k"})
    suite = Suite("stamped", runs=[run], seeds=(0, 1, 2))
    base = {"suite": "stamped", "run": "MeLU-5", "config": dict(run.config), "status": "ok"}
    records = [
        {**base, "seed": 0, "environment": {"git_commit": old}},
        {**base, "seed": 1, "environment": {"git_commit": new}},
        {**base, "seed": 2, "environment": {"git_commit": "0000000"}},  # not in this repository
    ]
    path = tmp_path / "stamped.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    stamped, left = stamp_defaults(suite, str(path), properties=str(repo / "properties"))
    assert stamped == 2 and left == [("MeLU-5", 2, "0000000")]
    hashes = [r.get("defaults_hash") for r in read_records(path)]
    assert hashes[0] != hashes[1] and hashes[2] is None

    def current(relative):  # the files as they are now in that repository (the new commit)
        file = repo / "properties" / relative
        return file.read_text() if file.exists() else None

    assert hashes[1] == defaults_hash(resolved_defaults(run, run.config, read=current))
    assert read_records(path)[0]["defaults_from_commit"] == old
