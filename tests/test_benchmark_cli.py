"""``python -m recbole_meta.benchmark``: --quick end to end (records, table, plot, resume, README), scale."""

import os
import subprocess
import sys

from recbole_meta.benchmark.cli import main
from recbole_meta.benchmark.records import read_records
from tests.helpers import REPO_ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_list_and_unknown_suite(capsys):
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"baselines", "scale"} <= set(listed)
    assert main(["baselnes", "--report-only", "--out", "x"]) == 2
    assert "did you mean baselines" in capsys.readouterr().err


def test_quick_baselines_end_to_end_resume_and_readme(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["baselines", "--quick", "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    stdout = capsys.readouterr().out
    records = read_records(out / "baselines.jsonl")
    assert [(r["run"], r["status"]) for r in records] == [("BPR", "ok"), ("NeuMF", "ok"), ("SASRec", "ok")]
    for record in records:
        assert set(record["metrics"]["all"]) == {"hit@10", "ndcg@10", "mrr@10"}
        # the peak during the run is at least its increase over the process's size at the start
        assert record["peak_rss_mb"] >= record["peak_rss_delta_mb"] >= 0
        assert record["info"]["epochs_run"] == 1 and record["config"]["epochs"] == 1
    table = (out / "baselines.md").read_text()
    for run in ("BPR", "NeuMF", "SASRec"):
        assert f"| {run} |" in table
    assert "Paired comparison: SASRec against the best baseline" in table
    assert "python -m recbole_meta.benchmark baselines --quick" in table
    assert (out / "baselines.png").read_bytes()[:8] == PNG_MAGIC
    assert "3 run(s) executed" in stdout

    # resume: nothing runs again, the results file is unchanged
    before = (out / "baselines.jsonl").read_text()
    assert main(["baselines", "--quick", "--out", str(out), "--no-progress"]) == 0
    assert "0 run(s) executed, 3 already done" in capsys.readouterr().out
    assert (out / "baselines.jsonl").read_text() == before

    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n<!-- benchmark:models -->\n<!-- /benchmark:models -->\n\n"
        "<!-- benchmark:baselines -->\n<!-- /benchmark:baselines -->\n"
    )
    argv = ["baselines", "--quick", "--out", str(out), "--report-only", "--update-readme", str(readme)]
    assert main(argv) == 0
    text = readme.read_text()
    # the suite's headline: SASRec (compared) beside the best baseline, a link to the full report
    rows = [
        line for line in text.split("<!-- benchmark:baselines -->")[1].splitlines() if line.startswith("| ")
    ]
    assert rows[1].startswith("| SASRec | ") and "(best baseline)" in rows[2] and len(rows) == 4
    assert "[baselines.md](out/baselines.md)" in text
    # the models table: RecBole's row from these results, the suites without results say so
    models = text.split("<!-- benchmark:models -->")[1].split("<!-- /benchmark:models -->")[0]
    assert "SASRec ([baselines](out/baselines.md), ndcg@10 ↑)" in models and "no result yet" in models


def test_quick_scale_reports_growth(tmp_path):
    # through the module entry point, in a subprocess without OMP_WAIT_POLICY: the entry point re-executes
    # itself with OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads starve other processes on a shared machine)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    argv = ["-m", "recbole_meta.benchmark", "scale", "--quick", "--out", str(out), "--no-progress"]
    result = subprocess.run(
        [sys.executable, *argv, "--threads", "1"], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = read_records(out / "scale.jsonl")
    assert records[0]["environment"]["torch_threads"] == 1
    assert records[0]["environment"]["omp_wait_policy"] == "PASSIVE"
    assert [r["info"]["loaded_interactions"] for r in records] == [1_000, 4_000, 4_000]
    assert [r["info"]["n_items"] for r in records][2] == 2_000  # the catalogue run: many items, few users
    for record in records:
        assert set(record["metrics"]) >= {"load", "split"}
        for model in ("melu", "two_tower", "peterrec"):  # each trainer: loaders, one epoch, one evaluation
            for stage in ("load", "train", "eval"):
                assert record["metrics"][f"{model}_{stage}"]["seconds"] > 0
        assert "traced_peak_mb" not in record["metrics"]["melu_train"]  # trainers are not traced
        # the stages are timed inside the run: together they cannot take longer than the run itself
        stages = sum(stage["seconds"] for stage in record["metrics"].values())
        assert 0 < stages <= record["wall_seconds"]
    # traced memory of loading grows with the data
    assert (
        records[1]["metrics"]["load"]["traced_peak_mb"] > 2 * records[0]["metrics"]["load"]["traced_peak_mb"]
    )
    report = (out / "scale.md").read_text()
    assert "Growth with the number of interactions" in report and "b (largest two)" in report
    growth = report.split("Growth with the number of interactions")[1]
    assert "n = 4,000 |" in growth and "items" not in growth.split("Peak RSS")[0]  # catalogue run left out
    assert "n = 10,000,000 (extrapolated)" in growth
    assert "**" not in report.split("Growth")[0].split("State `load`")[1]  # sizes are not competitors
    assert (out / "scale.png").read_bytes()[:8] == PNG_MAGIC
