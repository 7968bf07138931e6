import os

import pytest
import yaml

from recbole_meta.config import Config, properties_dir
from tests.helpers import TEST_DATA


def _write(path, content):
    with open(path, "w") as f:
        yaml.safe_dump(content, f)
    return str(path)


def test_precedence_defaults_files_dict_command_line(tmp_path, tiny_config_dict):
    base = {k: v for k, v in tiny_config_dict.items() if k != "epochs"}
    first = _write(tmp_path / "a.yaml", {"epochs": 11, "learning_rate": 0.5, "train_batch_size": 7})
    second = _write(tmp_path / "b.yaml", {"learning_rate": 0.25})
    config = Config(
        "BPR",
        "tiny",
        config_file_list=[first, second],
        config_dict={**base, "train_batch_size": 9, "embedding_size": 8},
        argv=["--embedding_size=16"],
    )
    assert config["epochs"] == 11  # file beats RecBole's default (300)
    assert config["learning_rate"] == 0.25  # later file beats earlier file
    assert config["train_batch_size"] == 9  # dict beats file
    assert config["embedding_size"] == 16  # command line beats dict
    assert config["stopping_step"] == 10  # untouched RecBole default


def test_argv_is_explicit_and_ignores_pytest_arguments(monkeypatch, tiny_config_dict):
    monkeypatch.setattr("sys.argv", ["pytest", "--epochs=99", "-x"])
    config = Config("BPR", "tiny", config_dict=tiny_config_dict, argv=[])
    assert config["epochs"] == 2
    config = Config("BPR", "tiny", config_dict=tiny_config_dict)  # RecBole's behaviour: reads sys.argv
    assert config["epochs"] == 99


def test_plugin_properties_are_layered_over_recbole(tiny_config_dict):
    config = Config("BPR", "tiny", config_dict=tiny_config_dict, argv=[])
    assert config["benchmark_dir"] == "benchmark_results"  # from properties/overall.yaml
    assert os.path.isfile(os.path.join(properties_dir(), "overall.yaml"))


def test_sequential_ce_model_runs_without_negative_sampling(tiny_config_dict):
    config = Config("SASRec", "tiny", config_dict=tiny_config_dict, argv=[])
    assert config["train_neg_sample_args"]["distribution"] == "none"


def test_unknown_dataset_and_missing_file_are_clear(tmp_path, tiny_config_dict):
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        Config("BPR", "nope", config_dict=tiny_config_dict, argv=[])
    with pytest.raises(FileNotFoundError, match="config file not found: .*missing.yaml"):
        Config("BPR", "tiny", config_file_list=[str(tmp_path / "missing.yaml")], argv=[])
    with pytest.raises(ValueError, match="unknown model 'Nope'"):
        Config("Nope", "tiny", config_dict=tiny_config_dict, argv=[])
    with pytest.raises(ValueError, match="no model given"):
        Config(None, "tiny", config_dict=tiny_config_dict, argv=[])


def test_ml100k_points_at_recboles_embedded_copy():
    config = Config("BPR", "ml-100k", config_dict={"state": "WARNING"}, argv=[])
    assert os.path.isfile(os.path.join(config["data_path"], "ml-100k.inter"))
    assert TEST_DATA not in config["data_path"]
