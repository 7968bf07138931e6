"""load_data_and_model: a trained run comes back from its weights-only checkpoint and scores as it did."""

import glob
import os
import re

import pytest
import torch
import yaml
from recbole.utils.case_study import full_sort_scores, full_sort_topk

from recbole_meta import load_data_and_model, run_recbole_meta
from recbole_meta.checkpoint import load_checkpoint, save_checkpoint
from recbole_meta.cli import main
from recbole_meta.registry import get_trainer
from tests.cold_start_helpers import cold_config
from tests.helpers import TEST_DATA
from tests.peterrec_planted import planted_config, write_planted


def _evaluate(model_file):
    config, model, dataset, train_data, valid_data, test_data = load_data_and_model(model_file)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.eval_collector.data_collect(
        train_data
    )  # what fit() does first (popularity / tail metrics need it)
    return (config, model, dataset, test_data), trainer.evaluate(test_data, load_best_model=False)


def _printed_table(text, model="MeLU"):
    """{state: {metric: value}} of ``model`` from the command's printed state table."""
    lines = text[text.index("test result") :].splitlines()[1:]
    metrics = lines[0].split()[1:]
    table = {}
    for line in lines[1:]:
        if re.match(rf"^\w+\s+{model}\s+[-\d.]", line):
            state, _, *values = line.split()
            table[state] = dict(zip(metrics, map(float, values)))
    return table


def test_model_trained_by_the_command_reloads_with_the_same_test_metrics(capsys):
    with open("melu.yaml", "w") as f:
        yaml.safe_dump(cold_config(epochs=1), f)
    assert main(["--model=MeLU", "--dataset=tiny", "--config_files=melu.yaml"]) == 0
    printed = _printed_table(capsys.readouterr().out)
    (model_file,) = glob.glob("saved/MeLU-*.pth")

    (config, model, dataset, test_data), reloaded = _evaluate(model_file)
    assert config["model"] == "MeLU" and config["MODEL_TYPE"].name == "META"
    assert set(reloaded) == set(printed) == {"warm", "user_cold", "item_cold", "user_item_cold"}
    for state, metrics in printed.items():
        assert {m: round(float(v), 4) for m, v in reloaded[state].items()} == metrics, state
    # RecBole's full-sort helpers have no meaning for an episodic model: one line says so.
    with pytest.raises(AttributeError, match="episodic loaders.*ColdStartRecommender"):
        full_sort_topk([1, 2], model, test_data, 3)
    with pytest.raises(TypeError, match="MeLU is an episodic model"):
        model.full_sort_predict(None)


def test_builtin_model_reloads_and_recboles_full_sort_topk_works(tiny_config_dict):
    result = run_recbole_meta("BPR", "tiny", config_dict={**tiny_config_dict, "epochs": 1}, argv=[])
    (config, model, dataset, test_data), reloaded = _evaluate(result["saved_model_file"])
    assert dict(reloaded) == dict(result["test_result"])
    users = [1, 2, 3]
    scores = full_sort_scores(users, model, test_data)
    _, top = full_sort_topk(users, model, test_data, 5)
    for row, user in enumerate(users):
        history = set(test_data.uid2history_item[user].tolist())
        assert history and not history & set(top[row].tolist())  # training items are never recommended
        expected = torch.topk(scores[row], 5).indices
        assert top[row].tolist() == expected.tolist()


def test_ssl_two_tower_reloads_and_ranks_the_catalogue():
    from tests.test_two_tower_model import _config_dict

    result = run_recbole_meta("SSLTwoTower", "tiny", config_dict=_config_dict(epochs=1), argv=[])
    (config, model, dataset, test_data), reloaded = _evaluate(result["saved_model_file"])
    assert dict(reloaded) == dict(result["test_result"])
    _, top = full_sort_topk([1, 2], model, test_data, 5)
    assert top.shape == (2, 5) and (top > 0).all()


def test_peterrec_transfer_task_reloads_backbone_and_patches(tmp_path):
    write_planted(tmp_path)
    backbone = str(tmp_path / "backbone.pth")
    pretrain = planted_config(
        tmp_path, stage="pretrain", pretrain_domain="source", epochs=1, pretrained_save_path=backbone
    )
    run_recbole_meta("PeterRec", "planted", config_dict=pretrain, argv=[])
    finetune = planted_config(
        tmp_path, stage="finetune", pretrained_path=backbone, downstream_task="transfer", epochs=1
    )
    result = run_recbole_meta("PeterRec", "planted", config_dict=finetune, argv=[])
    (config, model, _, _), reloaded = _evaluate(result["saved_model_file"])
    assert model.mode == "peterrec" and model.task.kind == "transfer"
    assert dict(reloaded) == dict(result["test_result"])


def test_stored_config_must_match_the_model(tiny_config_dict, tmp_path):
    result = run_recbole_meta(
        "BPR", "tiny", config_dict={**tiny_config_dict, "epochs": 1}, saved=True, argv=[]
    )
    checkpoint = load_checkpoint(result["saved_model_file"])
    checkpoint["config"]["MODEL_TYPE"] = "SEQUENTIAL"
    save_checkpoint(
        tmp_path / "bad.pth", **{k: v for k, v in checkpoint.items() if k != "recbole_meta_checkpoint"}
    )
    with pytest.raises(ValueError, match="stored MODEL_TYPE 'SEQUENTIAL' is not model BPR's 'GENERAL'"):
        load_data_and_model(tmp_path / "bad.pth")
    del checkpoint["config"]
    save_checkpoint(
        tmp_path / "none.pth", **{k: v for k, v in checkpoint.items() if k != "recbole_meta_checkpoint"}
    )
    with pytest.raises(ValueError, match="holds no run config"):
        load_data_and_model(tmp_path / "none.pth")


def test_data_path_can_be_replaced_when_the_data_moved(tiny_config_dict, tmp_path):
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(TEST_DATA, moved)
    result = run_recbole_meta(
        "BPR", "tiny", config_dict={**tiny_config_dict, "data_path": str(moved), "epochs": 1}, argv=[]
    )
    shutil.rmtree(moved)
    with pytest.raises(ValueError, match="does not exist"):
        load_data_and_model(result["saved_model_file"])
    config, model, *_, test_data = load_data_and_model(
        result["saved_model_file"], config_dict={"data_path": TEST_DATA}
    )
    assert config["data_path"] == os.path.join(TEST_DATA, "tiny")
    trainer = get_trainer(config["MODEL_TYPE"], "BPR")(config, model)
    assert dict(trainer.evaluate(test_data, load_best_model=False)) == dict(result["test_result"])
