import glob
import os

import pytest
import torch

from recbole_meta import objective_function, run_recbole_meta
from recbole_meta.checkpoint import from_plain, load_checkpoint, save_checkpoint, to_plain
from recbole_meta.config import Config
from recbole_meta.quick_start import build_run
from tests.helpers import two_cluster_data

RESULT_KEYS = {"best_valid_score", "valid_score_bigger", "best_valid_result", "test_result"}


def _clusters(tmp_path, model, epochs):
    config = {
        "data_path": two_cluster_data(str(tmp_path / "data")),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "epochs": epochs,
        "train_batch_size": 256,
        "show_progress": False,
        "seed": 2020,
        "state": "WARNING",
        "checkpoint_dir": "saved",
    }
    return run_recbole_meta(model, "clusters", config_dict=config, argv=[])


def test_builtin_model_end_to_end_finds_the_planted_clusters(tmp_path):
    result = _clusters(tmp_path, "BPR", epochs=50)
    assert RESULT_KEYS <= set(result)
    assert result["valid_score_bigger"] is True
    assert os.path.isfile(result["saved_model_file"])
    chance = _clusters(tmp_path, "Random", epochs=1)["test_result"]["recall@10"]  # about 0.3
    assert result["test_result"]["recall@10"] > chance + 0.3


def test_graph_baseline_runs_through_the_plugin_and_finds_the_clusters(tmp_path):
    # LightGCN needs dok_matrix._update, removed in scipy 1.12 (patched in recbole_meta.compat).
    result = _clusters(tmp_path, "LightGCN", epochs=10)
    chance = _clusters(tmp_path, "Random", epochs=1)["test_result"]["recall@10"]
    assert result["test_result"]["recall@10"] > max(0.9, chance + 0.5)


def test_checkpoint_loads_weights_only_and_reproduces_scores(tiny_config_dict):
    result = run_recbole_meta("BPR", "tiny", config_dict=tiny_config_dict, argv=[])
    path = result["saved_model_file"]
    state = torch.load(path, weights_only=True)  # must not need unpickling
    assert state["config"]["model"] == "BPR"
    assert state["config"]["MODEL_TYPE"] == "GENERAL"  # enums stored as names

    config = Config("BPR", "tiny", config_dict=tiny_config_dict, argv=[])
    _, (_, _, test_data), model, trainer = build_run(config)
    reloaded = trainer.evaluate(test_data, load_best_model=True, model_file=path)
    assert dict(reloaded) == pytest.approx(dict(result["test_result"]))


def test_checkpoint_names_never_collide(tiny_config_dict):
    config = Config("BPR", "tiny", config_dict=tiny_config_dict, argv=[])
    names = {build_run(config)[3].saved_model_file for _ in range(3)}
    assert len(names) == 3


def test_foreign_pickles_are_refused(tmp_path):
    from fractions import Fraction  # any class outside torch's weights-only allow-list

    bad = tmp_path / "recbole_style.pth"
    torch.save({"config": Fraction(1, 3), "state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not a recbole_meta checkpoint"):
        load_checkpoint(bad)
    plain = tmp_path / "plain.pth"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(ValueError, match="format key missing"):
        load_checkpoint(plain)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.pth")


def test_plain_conversion_round_trips_numpy_and_sparse(tmp_path):
    import numpy as np
    import scipy.sparse as sp

    matrix = sp.random(5, 4, density=0.4, format="csr", random_state=0)
    array = np.arange(6.0).reshape(2, 3)
    path = save_checkpoint(tmp_path / "x.pth", other_parameter={"w": matrix, "a": array, "n": None})
    back = from_plain(load_checkpoint(path)["other_parameter"])
    assert back["w"].format == "csr" and (back["w"] != matrix).nnz == 0
    np.testing.assert_array_equal(back["a"], array)
    assert back["n"] is None
    with pytest.raises(TypeError, match="value\\['f'\\] of type function"):
        to_plain({"f": lambda: 0})


def test_objective_function_has_recboles_signature_and_keys(tiny_config_dict, tmp_path):
    config_dict = {**tiny_config_dict, "model": "BPR", "dataset": "tiny", "epochs": 1}
    result = objective_function(config_dict=config_dict, config_file_list=None, saved=False)
    assert RESULT_KEYS | {"model"} <= set(result)
    assert not glob.glob("saved/*.pth")  # saved=False writes no checkpoint


def test_results_hold_plain_floats():
    # RecBole's RMSE metric returns np.float64, which logs as `np.float64(0.93)`
    from tests.cold_start_helpers import cold_config

    result = run_recbole_meta("UserItemBias", "tiny", config_dict=cold_config(), argv=[])
    for state, metrics in result["test_result"].items():
        assert {type(v) for v in metrics.values()} == {float}, state
    assert {type(v) for v in result["best_valid_result"].values()} == {float}
    assert type(result["best_valid_score"]) is float


def test_the_run_log_names_the_command_line_options(tiny_config_dict, caplog):
    # the first line of every run's log was the bare list of command-line options: "[]" without any
    caplog.set_level("INFO")
    config_dict = {**tiny_config_dict, "epochs": 1, "state": "INFO"}
    run_recbole_meta("BPR", "tiny", config_dict=config_dict, argv=[])
    assert "command-line options: none" in caplog.text and "INFO  []" not in caplog.text
    caplog.clear()
    run_recbole_meta("BPR", "tiny", config_dict=config_dict, argv=["--seed=3", "--learning_rate=0.01"])
    assert "command-line options: --seed=3 --learning_rate=0.01" in caplog.text
