"""Hyperparameter search: RecBole's HyperTuning through the plugin, grids on today's hyperopt, chosen on validation."""

import itertools
import re

import pytest
import yaml

pytest.importorskip("hyperopt")

from recbole_meta import quick_start  # noqa: E402
from recbole_meta.tune import main, read_params_file, run_search  # noqa: E402
from tests.cold_start_helpers import cold_config
from tests.helpers import TEST_DATA  # noqa: E402


def _rows(table):
    """{value of the first parameter: (valid score, chosen)} from the Markdown table."""
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[1]] = (float(cells[2]), cells[-1] == "*")
    return rows


def test_recboles_exhaustive_search_enumerates_the_grid_on_todays_hyperopt():
    from recbole.trainer.hyper_tuning import HyperTuning

    seen = []

    def objective(params, files):
        seen.append((params["a"], params["b"]))
        return {"model": "x", "best_valid_score": params["a"], "valid_score_bigger": True, "test_result": {}}

    tuner = HyperTuning(
        objective,
        params_dict={"choice": {"a": [1, 2], "b": ["x", "y", "z"]}},
        algo="exhaustive",
        early_stop=100,
    )
    tuner._print_result = lambda result: None
    tuner.run()
    assert sorted(seen) == sorted(itertools.product([1, 2], ["x", "y", "z"]))  # each combination exactly once


def test_grid_over_learning_rate_for_bpr_end_to_end(capsys):
    with open("bpr.hyper", "w") as f:
        f.write("# two learning rates\nlearning_rate choice [0.01, 0.001]\n")
    args = ["--model=BPR", "--dataset=tiny", "--params_file=bpr.hyper", "--output_file=bpr.md"]
    assert main(args + [f"--data_path={TEST_DATA}", "--epochs=1", "--state=WARNING"]) == 0
    table = open("bpr.md").read()
    assert table.startswith("| trial | learning_rate | valid MRR@10 | test recall@10 |")
    rows = _rows(table)
    assert set(rows) == {"0.01", "0.001"}
    best = max(rows, key=lambda v: rows[v][0])  # MRR@10: bigger is better
    assert rows[best][1] and sum(chosen for _, chosen in rows.values()) == 1
    assert f"best params: {{'learning_rate': {best}}}" in capsys.readouterr().out


def test_grid_over_local_lr_for_melu_end_to_end():
    with open("melu.yaml", "w") as f:
        yaml.safe_dump(cold_config(epochs=1), f)
    with open("melu.hyper", "w") as f:
        f.write("local_lr choice [0.001, 0.05]\n")
    args = ["--model=MeLU", "--dataset=tiny", "--config_files=melu.yaml", "--params_file=melu.hyper"]
    assert main(args + ["--output_file=melu.md"]) == 0
    table = open("melu.md").read()
    header = table.splitlines()[0]
    assert "| local_lr | valid MAE |" in header and "test user_cold/mae" in header
    rows = _rows(table)
    assert set(rows) == {"0.001", "0.05"}
    best = min(rows, key=lambda v: rows[v][0])  # MAE: smaller is better
    assert rows[best][1]
    assert "chosen trial" in table and "lowest validation MAE" in table


def test_the_choice_follows_validation_never_test(monkeypatch):
    # planted: the learning rate that is best on validation is the worst on test
    scores = {0.1: (0.30, 0.90), 0.01: (0.50, 0.10), 0.001: (0.40, 0.50)}  # valid recall, test recall

    objective = _fake_objective(
        lambda p: scores[p["learning_rate"]][0], lambda p: scores[p["learning_rate"]][1]
    )
    monkeypatch.setattr(quick_start, "objective_function", objective)
    result = run_search(
        "BPR",
        "tiny",
        {"choice": {"learning_rate": list(scores)}},
        fixed={"data_path": TEST_DATA, "valid_metric": "Recall@10"},
    )
    assert len(result.trials) == 3 and result.best_params == {"learning_rate": 0.01}
    assert re.search(r"\| 0\.01 \| 0\.5000 \| 0\.1000 \| \* \|", result.table())


def _fake_objective(valid_of, test_of=lambda params: 0.0):
    """An objective that trains nothing: validation / test recall as functions of the parameters."""

    def objective(config_dict, config_file_list=None, saved=True):
        params = {k: v for k, v in config_dict.items() if k in ("learning_rate", "embedding_size")}
        valid, test = valid_of(params), test_of(params)
        return {
            "model": "BPR",
            "best_valid_score": valid,
            "valid_score_bigger": True,
            "best_valid_result": {"recall@10": valid},
            "test_result": {"recall@10": test},
        }

    return objective


def test_a_grid_runs_every_combination_even_without_progress(monkeypatch):
    # every trial ties: RecBole's no-progress stop (10 trials) would end this 4 x 4 grid after 11
    monkeypatch.setattr(quick_start, "objective_function", _fake_objective(lambda p: 0.5))
    space = {"choice": {"learning_rate": [0.001, 0.002, 0.003, 0.004], "embedding_size": [8, 16, 32, 64]}}
    result = run_search("BPR", "tiny", space, fixed={"data_path": TEST_DATA})
    assert len(result.trials) == 16
    assert len({tuple(sorted(p.items())) for p, _ in result.trials}) == 16
    assert result.best_params == result.trials[0][0]  # a tie keeps the first, as RecBole's HyperTuning does
    capped = run_search("BPR", "tiny", space, fixed={"data_path": TEST_DATA}, early_stop=3)
    assert len(capped.trials) == 3  # hyperopt stops once early_stop trials in a row bring no progress


@pytest.mark.parametrize("algo", ["random", "bayes"])
def test_random_and_bayes_searches_repeat_with_their_seed(monkeypatch, algo):
    monkeypatch.setattr(
        quick_start, "objective_function", _fake_objective(lambda p: -abs(p["learning_rate"] - 0.01))
    )
    space = {"loguniform": {"learning_rate": [-9.0, -2.0]}}

    def search(seed):
        kwargs = dict(algo=algo, max_evals=5, fixed={"data_path": TEST_DATA}, search_seed=seed)
        return [p["learning_rate"] for p, _ in run_search("BPR", "tiny", space, **kwargs).trials]

    first = search(0)
    assert len(first) == 5 and all(1.2e-4 <= v <= 0.14 for v in first)  # exp(-9) .. exp(-2)
    assert search(0) == first and search(1) != first


@pytest.mark.parametrize(
    "line, message",
    [
        ("learning_rate", "line 1: expected 'NAME TYPE VALUES'"),
        ("learning_rate normal 0,1", "line 1: type 'normal' is not one of choice"),
        ("learning_rate choice 0.1", "line 1: choice values must be a non-empty list"),
        ("learning_rate uniform 0.5,0.1", "line 1: uniform takes LOW,HIGH with LOW < HIGH"),
        ("learning_rate choice [__import__('os')]", "must be a Python literal list"),
    ],
)
def test_params_file_errors_name_the_line(line, message):
    with open("bad.hyper", "w") as f:
        f.write(line + "\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        read_params_file("bad.hyper")


def test_command_errors_are_one_clear_line(capsys):
    with open("typo.hyper", "w") as f:
        f.write("learnin_rate choice [0.1, 0.01]\n")
    args = ["--model=BPR", "--dataset=tiny", f"--data_path={TEST_DATA}", "--params_file=typo.hyper"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "tune: error: parameter 'learnin_rate' is not a config key of BPR; did you mean learning_rate?"
    ]
    with open("uniform.hyper", "w") as f:
        f.write("learning_rate uniform 0.001,0.1\n")
    args[-1] = "--params_file=uniform.hyper"
    assert main(args) == 2
    assert "exhaustive enumerates choice parameters only; learning_rate is uniform" in capsys.readouterr().err


def test_without_hyperopt_the_command_says_how_to_install_it(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(
        sys.modules, "hyperopt", None
    )  # what `import hyperopt` meets when it is not installed
    with open("p.hyper", "w") as f:
        f.write("learning_rate choice [0.1, 0.01]\n")
    assert main(["--model=BPR", "--dataset=tiny", "--params_file=p.hyper"]) == 2
    assert capsys.readouterr().err.strip() == (
        'tune: error: hyperparameter search needs hyperopt, an optional dependency: pip install ".[tune]"'
    )
