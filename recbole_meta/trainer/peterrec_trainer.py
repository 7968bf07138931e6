"""The trainer of PeterRec's two stages: RecBole's ``Trainer`` with task checkpoints and candidate ranking.

What differs from RecBole's ``Trainer`` (everything else, the epoch loop, early stopping, logging, tensorboard and
the evaluator, is RecBole's):

* the optimizer receives only the parameters that the fine-tuning mode trains (frozen ones carry no optimizer
  state and no weight decay);
* checkpoints are the model's own weights-only content (:meth:`PeterRec.checkpoint_content`): the backbone after
  pre-training (written to ``pretrained_save_path`` when set), only the trained parameters after fine-tuning;
  loading the best model for the test reloads the backbone file and applies the task checkpoint, as serving
  would. Resuming is not supported: the checkpoints hold no optimizer state;
* sampled-candidate ranking (``uni99``) scores each row's candidates in one batched call, instead of RecBole's
  one-row-per-(user, item) expansion that re-encodes every sequence 100 times;
* a test loader with ``subgroups`` (users with / without source history) also reports each group,
  as ``metric[group]`` and ``rows[group]``;
* every validation during fine-tuning appends a point to ``learning_curve``: the epoch, its mean train loss per
  batch, the validation loss (the training loss on the validation rows) and the validation score.
"""

import os

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import EvaluatorType

from recbole_meta.checkpoint import load_checkpoint
from recbole_meta.data.sequence_tasks import CANDIDATES_FIELD
from recbole_meta.registry import register_trainer
from recbole_meta.trainer.safe_checkpoint import SafeCheckpointMixin


@register_trainer(model="PeterRec")
class PeterRecTrainer(SafeCheckpointMixin, Trainer):
    """Pre-training and fine-tuning trainer of :class:`~recbole_meta.model.sequential_recommender.peterrec.PeterRec`."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.learning_curve = []
        if model.stage == "pretrain" and config["pretrained_save_path"]:
            self.saved_model_file = str(config["pretrained_save_path"])
            os.makedirs(os.path.dirname(os.path.abspath(self.saved_model_file)), exist_ok=True)

    def _valid_epoch(self, valid_data, show_progress=False):
        score, result = super()._valid_epoch(valid_data, show_progress=show_progress)
        if self.model.stage == "finetune":
            epoch = max(self.train_loss_dict) if self.train_loss_dict else -1
            rows = len(self.model.task.splits["train"])
            batches = max(1, -(-rows // self.config["train_batch_size"]))
            self.learning_curve.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": float(np.sum(self.train_loss_dict.get(epoch, np.nan))) / batches,
                    "valid_loss": self.validation_loss(valid_data._dataset),
                    "valid_score": float(score),
                }
            )
        return score, result

    @torch.no_grad()
    def validation_loss(self, split, batch_size=1024):
        """Mean training loss over the rows of ``split`` (eval mode, no gradient)."""
        self.model.eval()
        total = 0.0
        for start in range(0, len(split), batch_size):
            index = np.arange(start, min(start + batch_size, len(split)))
            batch = split.interaction(index).to(self.device)
            total += float(self.model.calculate_loss(batch)) * len(index)
        return total / max(len(split), 1)

    def _build_optimizer(self, **kwargs):
        kwargs.setdefault("params", [p for p in self.model.parameters() if p.requires_grad])
        return super()._build_optimizer(**kwargs)

    def checkpoint_content(self):
        return self.model.checkpoint_content()

    def checkpoint_label(self):
        return "Saving " + (
            "backbone" if self.model.stage == "pretrain" else f"{self.model.mode} task checkpoint"
        )

    def load_model_weights(self, checkpoint_file):
        checkpoint = load_checkpoint(checkpoint_file, map_location=self.device)
        self.model.load_checkpoint_content(checkpoint, path=checkpoint_file)
        return checkpoint

    def resume_checkpoint(self, resume_file):
        raise ValueError(
            f"cannot resume from {resume_file}: PeterRec checkpoints hold weights only (a backbone or a task's "
            "trained parameters), not the optimizer state; start a new run (fine-tuning loads a backbone with "
            "--pretrained_path)"
        )

    def _neg_sample_batch_eval(self, batched_data):
        interaction, row_idx, positive_u, positive_i = batched_data
        if self.config["eval_type"] == EvaluatorType.RANKING and CANDIDATES_FIELD in interaction:
            interaction = interaction.to(self.device)
            candidates = interaction[CANDIDATES_FIELD]
            scores = torch.full((len(candidates), self.tot_item_num), -np.inf, device=self.device)
            scores.scatter_(1, candidates, self.model.predict(interaction))
            return interaction, scores, positive_u, positive_i
        return super()._neg_sample_batch_eval(batched_data)

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        result = super().evaluate(
            eval_data, load_best_model=load_best_model, model_file=model_file, show_progress=show_progress
        )
        for name, loader in (getattr(eval_data, "subgroups", None) or {}).items():
            group = super().evaluate(loader, load_best_model=False, show_progress=show_progress)
            result[f"rows[{name}]"] = len(loader._dataset)
            result.update({f"{metric}[{name}]": value for metric, value in group.items()})
        return result
