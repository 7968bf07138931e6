"""MetaTrainer built directly (not through get_trainer) writes weights-only checkpoints and reloads its best."""

import pytest
import torch

from recbole_meta.config import Config
from recbole_meta.quick_start import build_run
from recbole_meta.trainer import MetaTrainer
from tests.cold_start_helpers import cold_config


def test_meta_trainer_used_directly_saves_and_reloads_its_best_weights():
    config = Config("MeLU", "tiny", config_dict=cold_config(epochs=2), argv=[])
    _, (train, valid, test), model, _ = build_run(config)
    trainer = MetaTrainer(config, model)  # the class itself, as its export invites
    trainer.fit(train, valid, saved=True)
    saved = torch.load(trainer.saved_model_file, weights_only=True)  # no pickled Config inside
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # the best weights must come back from the file
    result = trainer.evaluate(test, load_best_model=True)
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved["state_dict"][name]), name
    again = trainer.evaluate(test, load_best_model=False)
    for state in result:
        assert dict(again[state]) == pytest.approx(dict(result[state]))
