"""PeterRec end to end through RecBole's pipeline: pre-train, fine-tune per mode, checkpoints, planted signals."""

import os

import pytest
import torch

from recbole_meta import run_recbole_meta
from recbole_meta.config import Config
from recbole_meta.data_preparation import create_dataset, data_preparation
from recbole_meta.model.sequential_recommender.model_patch import FINETUNE_MODES
from recbole_meta.registry import get_model, get_trainer
from tests.helpers import REPO_ROOT, run_python
from tests.peterrec_planted import planted_config, write_planted

# RecBole's SASRec keys for a target-only encoder small enough for the planted data, without dropout
TINY_SASREC = {
    "hidden_size": 16,
    "n_heads": 2,
    "inner_size": 32,
    "hidden_dropout_prob": 0.0,
    "attn_dropout_prob": 0.0,
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted data and a tiny backbone pre-trained on its source domain."""
    path = tmp_path_factory.mktemp("peterrec")
    write_planted(path)
    backbone = str(path / "backbone.pth")
    cwd = os.getcwd()
    os.chdir(path)
    try:
        result = run_recbole_meta(
            model="PeterRec",
            dataset="planted",
            config_dict=planted_config(
                path, stage="pretrain", pretrain_domain="source", epochs=8, pretrained_save_path=backbone
            ),
            argv=[],
        )
    finally:
        os.chdir(cwd)
    return {"path": path, "backbone": backbone, "pretrain": result}


def _finetune_config(planted, **overrides):
    settings = {"stage": "finetune", "pretrained_path": planted["backbone"], "downstream_task": "gender"}
    settings.update(overrides)
    return planted_config(planted["path"], **settings)


def _build(planted, dataset=None, **overrides):
    config = Config(
        model="PeterRec", dataset="planted", config_dict=_finetune_config(planted, **overrides), argv=[]
    )
    dataset = dataset or create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model("PeterRec")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "PeterRec")(config, model)
    return config, dataset, (train, valid, test), model, trainer


def test_pretraining_writes_a_weights_only_backbone_that_predicts_next_items(planted):
    state = torch.load(planted["backbone"], weights_only=True)
    assert state["kind"] == "peterrec_backbone" and state["domain"] == "source"
    assert state["backbone_hparams"]["pretrain_objective"] == "causal"
    assert not any(".patch" in key for key in state["backbone_state"])
    # Next source item: the user's type makes it one of 6 items, some already seen (chance Hit@5: about 5/26).
    assert planted["pretrain"]["test_result"]["hit@5"] > 0.4


@pytest.mark.parametrize("mode", list(FINETUNE_MODES))
def test_frozen_parameters_do_not_change_when_fine_tuning(planted, mode):
    _, _, (train, valid, _), model, trainer = _build(
        planted, finetune_mode=mode, epochs=1, learning_rate=0.05
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in trainer.optimizer.param_groups[0]["params"]) == model.report["trainable"]
    trainer.fit(train, valid, saved=False)
    after = dict(model.named_parameters())
    frozen = set(before) - trainable
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    changed = {n for n in trainable if not torch.equal(before[n], after[n])}
    # Every trainable tensor moves, except patch down-projections and biases whose gradient is still ~0.
    assert {n for n in trainable if "head." in n} <= changed
    assert len(changed) >= len(trainable) // 2
    if mode in ("peterrec", "peter_zero", "fine_cls"):
        assert not any("item_embedding" in n or ".conv" in n for n in trainable)


def test_patch_checkpoint_is_small_and_round_trips_with_weights_only(planted):
    result = run_recbole_meta(
        model="PeterRec", dataset="planted", config_dict=_finetune_config(planted), argv=[]
    )
    task_file = result["saved_model_file"]
    state = torch.load(task_file, weights_only=True)
    assert state["kind"] == "peterrec_task" and state["backbone"]["path"] == planted["backbone"]
    backbone = torch.load(planted["backbone"], weights_only=True)
    task_numel = sum(t.numel() for t in state["state"].values())
    backbone_numel = sum(t.numel() for t in backbone["backbone_state"].values())
    assert all(".patch" in k or ".ln" in k or k.startswith("head.") for k in state["state"])
    assert task_numel == result["trainable_parameters"] and task_numel < 0.3 * backbone_numel
    assert os.path.getsize(task_file) < os.path.getsize(planted["backbone"])
    # Serving: a fresh model loads backbone + patch and predicts exactly what the trained model predicted.
    _, _, (_, _, test), model, trainer = _build(planted)
    trainer.load_model_weights(task_file)
    reloaded = trainer.evaluate(test, load_best_model=False)
    assert reloaded == result["test_result"]
    # A patch trained on one backbone refuses another one.
    torch.save(
        {**backbone, "backbone_state": {k: v + 1 for k, v in backbone["backbone_state"].items()}},
        planted["path"] / "other.pth",
    )
    _, _, _, model, trainer = _build(planted, pretrained_path=str(planted["path"] / "other.pth"))
    with pytest.raises(ValueError, match="another backbone"):
        trainer.load_model_weights(task_file)


def test_planted_profile_signal_is_learned(planted):
    result = run_recbole_meta(
        model="PeterRec", dataset="planted", config_dict=_finetune_config(planted, epochs=12), argv=[]
    )["test_result"]
    # Gender is determined by the source items seen; users without source history can only be guessed.
    assert result["accuracy[with_source_history]"] >= 0.85  # chance: 0.5
    assert result["rows[no_source_history]"] > 0 and result["rows[with_source_history]"] > 0


def test_planted_transfer_signal_is_learned(planted):
    result = run_recbole_meta(
        model="PeterRec",
        dataset="planted",
        config_dict=_finetune_config(planted, downstream_task="transfer", epochs=12, target_max_per_user=2),
        argv=[],
    )["test_result"]
    # A user's target items are 4 of 16 equally popular ones, chosen by the type of their source items: the
    # positive ranks in the top 5 (popularity alone: about 5 / 13). Users without source history cannot be told
    # apart: they are ranked, counted and reported separately, never dropped.
    assert result["hit@5[with_source_history]"] >= 0.9
    assert result["rows[no_source_history]"] > 0
    assert result["mrr@5[with_source_history]"] > result["mrr@5[no_source_history]"] + 0.2
    full = run_recbole_meta(
        model="PeterRec",
        dataset="planted",
        config_dict=_finetune_config(
            planted, downstream_task="transfer", epochs=12, target_max_per_user=2, eval_args={"mode": "full"}
        ),
        argv=[],
    )["test_result"]
    assert full["hit@5[with_source_history]"] >= 0.9


def test_option_errors_name_the_option(planted):
    with pytest.raises(ValueError, match="pretrained_path"):
        _build(planted, pretrained_path=None)
    with pytest.raises(ValueError, match="finetune_mode"):
        _build(planted, finetune_mode="fine_most")
    with pytest.raises(ValueError, match="stage"):
        _build(planted, stage="serve")
    with pytest.raises(ValueError, match="is not a recbole_meta checkpoint|not a PeterRec backbone"):
        bogus = planted["path"] / "bogus.pth"
        torch.save({"weights": torch.zeros(2)}, bogus)
        _build(planted, pretrained_path=str(bogus))


def test_transfer_refuses_a_backbone_that_saw_the_target_domain(planted):
    leaky = str(planted["path"] / "all_items.pth")
    run_recbole_meta(
        model="PeterRec",
        dataset="planted",
        config_dict=planted_config(planted["path"], stage="pretrain", epochs=1, pretrained_save_path=leaky),
        argv=[],
    )
    with pytest.raises(ValueError, match="pretrain_domain=source"):
        _build(planted, pretrained_path=leaky, downstream_task="transfer")


def test_command_line_fine_tunes_with_the_parameter_report(planted):
    run = run_python(
        os.path.join(REPO_ROOT, "run_recbole_meta.py"),
        "--model=PeterRec",
        "--dataset=planted",
        f"--data_path={planted['path']}",
        "--stage=finetune",
        f"--pretrained_path={planted['backbone']}",
        "--downstream_task=gender",
        "--finetune_mode=fine_last1",
        "--epochs=1",
        "--embedding_size=16",
        "--load_col={'inter': ['user_id', 'item_id', 'timestamp'], 'user': ['user_id', 'gender'], "
        "'item': ['item_id', 'release_year']}",
        "--show_progress=False",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "test result: accuracy=" in run.stdout
    assert "PeterRec parameters [fine_last1]: total" in run.stdout + run.stderr


def test_scoring_methods_a_task_does_not_have_raise_a_clear_error(planted):
    _, _, (train, _, _), model, _ = _build(planted)  # gender: a profile task
    batch = next(iter(train))
    assert model.predict(batch).shape == (len(batch), 2)
    with pytest.raises(ValueError, match="scored by predict"):
        model.full_sort_predict(batch)
    config = Config(
        model="PeterRec",
        dataset="planted",
        config_dict=planted_config(planted["path"], stage="pretrain", pretrain_domain="source"),
        argv=[],
    )
    train, _, _ = data_preparation(config, create_dataset(config))
    pretrain = get_model("PeterRec")(config, train._dataset)
    batch = next(iter(train))
    assert pretrain.full_sort_predict(batch).shape[1] == train._dataset.task.vocab_size
    with pytest.raises(ValueError, match="full_sort_predict"):
        pretrain.predict(batch)


def test_frozen_convolutions_get_no_weight_gradient_but_patches_below_do(planted):
    """PeterRec's step skips the frozen weights' gradients; the input gradient still reaches the first patch."""
    _, _, (train, _, _), model, _ = _build(planted, finetune_mode="peterrec")
    model.calculate_loss(next(iter(train))).backward()
    blocks = list(model.backbone.residual_blocks)
    assert all(b.conv1.weight.grad is None and b.conv2.weight.grad is None for b in blocks)
    assert model.backbone.item_embedding.weight.grad is None
    assert blocks[0].patch1.up.weight.grad.abs().sum() > 0


def test_sasrec_target_only_encoder_trains_on_the_task(planted):
    from recbole.model.sequential_recommender.sasrec import SASRec

    _, _, (train, valid, test), model, trainer = _build(
        planted,
        finetune_mode="scratch",
        encoder="sasrec",
        pretrained_path=None,
        epochs=15,
        learning_rate=0.01,
        **TINY_SASREC,
    )
    assert isinstance(model.backbone, SASRec) and model.report["patches"] == 0
    batch = next(iter(train))
    seq, lengths = batch["item_id_list"], batch["item_length"]
    model.eval()
    # the last-position readout is RecBole's SASRec.forward, which reads position item_length - 1
    assert torch.equal(model.forward(seq, lengths), SASRec.forward(model.backbone, seq, lengths))
    trainer.fit(train, valid, saved=False)
    # the planted gender is a function of the source items (see tests/peterrec_planted.py)
    assert trainer.evaluate(test, load_best_model=False)["macrof1"] > 0.8
    with pytest.raises(ValueError, match="encoder sasrec"):
        _build(planted, finetune_mode="fine_all", encoder="sasrec")
    with pytest.raises(ValueError, match="encoder must be"):
        _build(planted, encoder="bert")


def test_fine_tuning_records_a_learning_curve(planted):
    _, _, (train, valid, _), model, trainer = _build(planted, epochs=3, learning_rate=0.02)
    trainer.fit(train, valid, saved=False)
    curve = trainer.learning_curve
    assert [p["epoch"] for p in curve] == [1, 2, 3]
    # the validation loss is the task loss on the validation rows, recomputed by hand here
    split = valid._dataset
    model.eval()
    with torch.no_grad():
        by_hand = float(model.calculate_loss(split.interaction(range(len(split)))))
    assert curve[-1]["valid_loss"] == pytest.approx(by_hand, rel=1e-5)
    assert curve[-1]["train_loss"] < curve[0]["train_loss"]
