"""Weights-only checkpoints for every trainer the plugin hands out, RecBole's own included.

RecBole's ``Trainer`` pickles its ``Config`` into checkpoints and reloads them with a bare ``torch.load``,
which torch >= 2.6 refuses. :class:`SafeCheckpointMixin` replaces the three places that touch checkpoint
files (save, resume, load-best-before-test) with the format of :mod:`recbole_meta.checkpoint`, and gives each
run a checkpoint name that cannot collide. :func:`with_safe_checkpoints` puts the mixin in front of any
RecBole trainer class; :func:`recbole_meta.registry.get_trainer` applies it to everything it returns.
"""

from recbole.trainer import Trainer
from recbole.utils import set_color

from recbole_meta.checkpoint import (
    config_to_plain,
    from_plain,
    load_checkpoint,
    save_checkpoint,
    unique_checkpoint_path,
)
from recbole_meta.distributed import barrier, broadcast_object, is_main_process


class SafeCheckpointMixin:
    """Mixin for ``recbole.trainer.Trainer`` subclasses; must come first in the bases."""

    def __init__(self, config, model):
        super().__init__(config, model)
        # Rank 0's name on every rank: rank 0 writes the file, every rank reloads it for the test.
        self.saved_model_file = broadcast_object(unique_checkpoint_path(self.checkpoint_dir, config["model"]))

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not is_main_process():
            return
        saved_model_file = kwargs.pop("saved_model_file", self.saved_model_file)
        save_checkpoint(
            saved_model_file,
            config=config_to_plain(self.config),
            epoch=epoch,
            best_valid_score=float(self.best_valid_score),
            **self.checkpoint_content(),
        )
        if verbose:
            self.logger.info(set_color(self.checkpoint_label(), "blue") + f": {saved_model_file}")

    def checkpoint_content(self):
        """What a checkpoint holds besides config, epoch and best score (override to store less)."""
        return {
            "cur_step": self.cur_step,
            "state_dict": self.model.state_dict(),
            "other_parameter": self.model.other_parameter(),
            "optimizer": self.optimizer.state_dict(),
        }

    def checkpoint_label(self):
        """The log line's wording when a checkpoint is saved."""
        return "Saving current"

    def load_model_weights(self, checkpoint_file):
        """Load model parameters (and ``other_parameter``) from a weights-only checkpoint."""
        checkpoint = load_checkpoint(checkpoint_file, map_location=self.device)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.load_other_parameter(from_plain(checkpoint.get("other_parameter")))
        return checkpoint

    def resume_checkpoint(self, resume_file):
        resume_file = str(resume_file)
        checkpoint = self.load_model_weights(resume_file)
        self.saved_model_file = resume_file
        self.start_epoch = checkpoint["epoch"] + 1
        self.cur_step = checkpoint["cur_step"]
        self.best_valid_score = checkpoint["best_valid_score"]
        if checkpoint["config"]["model"].lower() != self.config["model"].lower():
            self.logger.warning(
                f"checkpoint {resume_file} was written by model {checkpoint['config']['model']}, "
                f"not {self.config['model']}"
            )
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if not eval_data:
            return None
        if load_best_model:
            checkpoint_file = model_file or self.saved_model_file
            barrier()  # in a multi-process run, rank 0 may still be writing it
            self.load_model_weights(checkpoint_file)
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        return super().evaluate(
            eval_data, load_best_model=False, model_file=None, show_progress=show_progress
        )


_SAFE_CLASSES = {}


def with_safe_checkpoints(trainer_class):
    """``trainer_class`` with :class:`SafeCheckpointMixin` in front (cached; idempotent).

    Trainers that do not derive from RecBole's ``Trainer`` (the decision-tree ones) keep their own format.
    """
    if issubclass(trainer_class, SafeCheckpointMixin) or not issubclass(trainer_class, Trainer):
        return trainer_class
    if trainer_class not in _SAFE_CLASSES:
        _SAFE_CLASSES[trainer_class] = type(
            trainer_class.__name__,
            (SafeCheckpointMixin, trainer_class),
            {
                "__module__": __name__,
                "__doc__": f"{trainer_class.__name__} with weights-only checkpoints.",
            },
        )
    return _SAFE_CLASSES[trainer_class]
