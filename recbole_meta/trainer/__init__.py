"""The plugin's trainers. Importing this package registers them (see :func:`recbole_meta.registry.register_trainer`)."""

from recbole_meta.trainer.meta_trainer import MetaTrainer
from recbole_meta.trainer.peterrec_trainer import PeterRecTrainer
from recbole_meta.trainer.safe_checkpoint import SafeCheckpointMixin, with_safe_checkpoints

__all__ = ["MetaTrainer", "PeterRecTrainer", "SafeCheckpointMixin", "with_safe_checkpoints"]
