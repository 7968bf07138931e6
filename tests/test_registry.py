import pytest
import torch
from recbole.model.abstract_recommender import AbstractRecommender, GeneralRecommender
from recbole.model.general_recommender import BPR
from recbole.trainer import KGTrainer, Trainer
from recbole.utils import InputType, ModelType

from recbole_meta import registry
from recbole_meta.trainer import SafeCheckpointMixin


def test_get_model_falls_back_to_recbole():
    assert registry.get_model("BPR") is BPR
    assert registry.get_model(BPR) is BPR


def test_unknown_model_names_the_closest_ones():
    with pytest.raises(ValueError, match="unknown model 'BRP'.*did you mean BPR"):
        registry.get_model("BRP")
    with pytest.raises(ValueError, match="did you mean.*LightGCN"):
        registry.get_model("lightgcn")


def test_registered_plugin_model_wins_and_must_declare_types():
    class _NoTypes(AbstractRecommender):
        pass

    class _NoInputType(GeneralRecommender):  # GeneralRecommender declares `type` only
        pass

    with pytest.raises(TypeError, match="must declare the class attribute `type`"):
        registry.register_model(_NoTypes)
    with pytest.raises(TypeError, match="must declare the class attribute `input_type`"):
        registry.register_model(_NoInputType)

    class PluginBPRVariant(GeneralRecommender):
        type = ModelType.GENERAL
        input_type = InputType.PAIRWISE

    try:
        registry.register_model(PluginBPRVariant)
        assert registry.get_model("PluginBPRVariant") is PluginBPRVariant
        assert "PluginBPRVariant" in registry.plugin_model_names()
    finally:
        registry._MODELS.pop("PluginBPRVariant", None)


def test_get_trainer_falls_back_and_always_writes_safe_checkpoints():
    trainer = registry.get_trainer(ModelType.GENERAL, "BPR")
    assert issubclass(trainer, Trainer) and issubclass(trainer, SafeCheckpointMixin)
    kg = registry.get_trainer(ModelType.KNOWLEDGE, "CKE")
    assert issubclass(kg, KGTrainer) and issubclass(kg, SafeCheckpointMixin)
    assert registry.get_trainer(ModelType.GENERAL, "BPR") is trainer  # cached, not rebuilt


def test_plugin_trainer_by_name_beats_by_type():
    class ByType(Trainer):
        pass

    class ByName(Trainer):
        pass

    registry.register_trainer(model_type="plugin-test-type")(ByType)
    registry.register_trainer(model="PluginTestModel")(ByName)
    try:
        assert issubclass(registry.get_trainer("plugin-test-type", "Other"), ByType)
        assert issubclass(registry.get_trainer("plugin-test-type", "PluginTestModel"), ByName)
    finally:
        registry._TRAINERS_BY_TYPE.pop("plugin-test-type")
        registry._TRAINERS_BY_MODEL.pop("PluginTestModel")


def test_register_trainer_needs_exactly_one_key():
    with pytest.raises(ValueError, match="exactly one"):
        registry.register_trainer()
    with pytest.raises(ValueError, match="exactly one"):
        registry.register_trainer(model="A", model_type=ModelType.GENERAL)


def test_registered_metric_is_usable_from_config(tiny_config_dict):
    from recbole.evaluator import Evaluator, register
    from recbole.evaluator.base_metric import LossMetric
    from recbole.evaluator.collector import DataStruct
    from recbole.utils import EvaluatorType

    from recbole_meta.config import Config

    class MaxAbsError(LossMetric):
        metric_type = EvaluatorType.VALUE
        smaller = True

        def calculate_metric(self, dataobject):
            preds, trues = self.used_info(dataobject)
            return {"maxabserror": float(abs(preds - trues).max())}

    registry.register_metric(MaxAbsError)
    try:
        config = Config(
            "WideDeep",
            "tiny",
            config_dict={**tiny_config_dict, "metrics": ["MAE", "MaxAbsError"], "valid_metric": "MAE"},
            argv=[],
        )
        data = DataStruct()
        data.set("rec.score", torch.tensor([0.5, 0.9]))
        data.set("data.label", torch.tensor([1.0, 0.0]))
        result = Evaluator(config).evaluate(data)
        assert result["maxabserror"] == pytest.approx(0.9)
        assert result["mae"] == pytest.approx(0.7)
        assert "maxabserror" in register.smaller_metrics
    finally:
        for table in (register.metrics_dict, register.metric_information, register.metric_types):
            table.pop("maxabserror", None)
        if "maxabserror" in register.smaller_metrics:
            register.smaller_metrics.remove("maxabserror")
        registry._PLUGIN_METRICS.pop("maxabserror", None)


def test_register_metric_refuses_to_shadow_recbole():
    from recbole.evaluator.metrics import Recall

    class recall(Recall):  # noqa: N801 - same lower-cased name as RecBole's on purpose
        pass

    with pytest.raises(ValueError, match="shadow RecBole's metric"):
        registry.register_metric(recall)
