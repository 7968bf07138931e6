"""RecBole data loaders over PeterRec's sequence tasks, and the model's ``data_preparation``.

The loaders subclass RecBole's so that RecBole's ``Trainer`` trains and evaluates through them unchanged:

* :class:`SequenceTrainDataLoader` yields :class:`~recbole.data.interaction.Interaction` batches of task rows;
* :class:`SequenceEvalDataLoader` yields ``(interaction, None, positive_u, positive_i)`` for value metrics
  (profile labels) and for sampled-candidate ranking (``candidates`` holds each row's positive and negatives);
* :class:`SequenceFullSortDataLoader` (a full-sort loader, so the trainer ranks all outputs) yields
  ``(interaction, history_index, positive_u, positive_i)``; ``history_index`` masks the row's other positives.

Evaluation batch sizes follow RecBole's meaning of ``eval_batch_size``: scores per batch.
"""

from logging import getLogger

import numpy as np
import torch
from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
from recbole.utils import EvaluatorType

from recbole_meta.compat.data import FullSortLoader, set_metrics
from recbole_meta.data.sequence_tasks import CANDIDATES_FIELD, NO_SOURCE_GROUP, PRETRAIN, TRANSFER, build_task
from recbole_meta.registry import register_data_preparation

PROFILE_METRICS = ["Accuracy", "MacroF1"]


class SequenceTrainDataLoader(AbstractDataLoader):
    """Shuffled batches of ``train_batch_size`` rows of a :class:`~recbole_meta.data.sequence_tasks.TaskSplit`."""

    def __init__(self, config, split, shuffle=True):
        self.sample_size = len(split)
        super().__init__(config, split, None, shuffle=shuffle)

    def _init_batch_size_and_step(self):
        self.step = self._batch_size = self.config["train_batch_size"]

    def collate_fn(self, index):
        return self._dataset.interaction(np.asarray(index))


class SequenceEvalDataLoader(AbstractDataLoader):
    """Rows for value metrics or for ranking their ``candidates``; one batch holds ``eval_batch_size`` scores."""

    def __init__(self, config, split):
        self.sample_size = len(split)
        self.is_sequential = True  # rows are sequences: RecBole's full_sort_scores finds a user's rows by id
        super().__init__(config, split, None, shuffle=False)

    def _init_batch_size_and_step(self):
        fields = self._dataset.fields
        width = fields[CANDIDATES_FIELD].shape[1] if CANDIDATES_FIELD in fields else 1
        self.step = self._batch_size = max(1, self.config["eval_batch_size"] // width)

    def collate_fn(self, index):
        interaction = self._dataset.interaction(np.asarray(index))
        positive_u = torch.arange(len(index))
        item_field = self._dataset.task.item_field
        positive_i = interaction[item_field] if item_field in interaction else None
        return interaction, None, positive_u, positive_i


class SequenceFullSortDataLoader(FullSortLoader):
    """Rows ranked against every output id; the row's ``history`` ids are excluded (RecBole's history mask)."""

    def _init_batch_size_and_step(self):
        self.step = self._batch_size = max(1, self.config["eval_batch_size"] // self._dataset.item_num)

    def collate_fn(self, index):
        index = np.asarray(index)
        interaction = self._dataset.interaction(index)
        positive_u = torch.arange(len(index))
        positive_i = interaction[self._dataset.task.item_field]
        history = self._dataset.history
        if history is None:
            return interaction, None, positive_u, positive_i
        rows = [np.full(len(history[i]), r) for r, i in enumerate(index)]
        cols = [history[i] for i in index]
        history_index = (
            torch.as_tensor(np.concatenate(rows) if rows else [], dtype=torch.long),
            torch.as_tensor(np.concatenate(cols) if cols else [], dtype=torch.long),
        )
        return interaction, history_index, positive_u, positive_i


def eval_loader(config, split, mode):
    """A loader for ``split`` ranked by ``mode`` (``full`` or ``candidates``) or scored by value metrics."""
    if split.task.kind == "profile":
        return SequenceEvalDataLoader(config, split)
    if mode == "full":
        return SequenceFullSortDataLoader(config, split)
    if mode == "candidates":
        if CANDIDATES_FIELD not in split.fields:
            raise ValueError(f"task {split.task.name}: the {split.name} split has no sampled candidates")
        return SequenceEvalDataLoader(config, split)
    raise ValueError(f"unknown evaluation mode {mode!r}")


def attach_groups(config, loader, split, mode):
    """Give ``loader`` sub-loaders for the users with / without source history (reported separately)."""
    flags = split.groups.get(NO_SOURCE_GROUP)
    loader.subgroups = {}
    if flags is not None and flags.any():
        loader.subgroups = {
            NO_SOURCE_GROUP: eval_loader(
                config, split.subset(flags, f"{split.name}[{NO_SOURCE_GROUP}]"), mode
            ),
            "with_source_history": eval_loader(
                config, split.subset(~flags, f"{split.name}[with_source]"), mode
            ),
        }
    return loader


def _phase_mode(config, phase):
    args = config[f"{phase}_neg_sample_args"]
    if args["distribution"] == "none" or args["sample_num"] == "none":
        return "full", None
    if args["distribution"] != "uniform":
        raise ValueError(
            f"eval_args mode for {phase}: PeterRec's transfer task supports `full` and `uniN` (uniform sampled "
            f"negatives, the paper's uni99), got a {args['distribution']} distribution"
        )
    return "candidates", int(args["sample_num"])


def configure_task_metrics(config, task):
    """Profile tasks are scored by accuracy and macro-F1 (value metrics); the others by the ranking metrics."""
    logger = getLogger()
    if task.kind == "profile":
        if [m.lower() for m in config["metrics"]] != [m.lower() for m in PROFILE_METRICS]:
            logger.info(f"profile task {task.name}: metrics {PROFILE_METRICS} (classification)")
        valid_metric = str(config["valid_metric"])
        if valid_metric.lower() not in [m.lower() for m in PROFILE_METRICS]:
            valid_metric = "MacroF1"
        set_metrics(config, PROFILE_METRICS, valid_metric)
    elif config["eval_type"] != EvaluatorType.RANKING:
        raise ValueError(
            f"task {task.name} ranks items: `metrics` must be ranking metrics (e.g. [MRR, Hit]), got {config['metrics']}"
        )


def backbone_domain(config):
    """The domain and target-domain rule of the backbone a fine-tuning run loads, checked against its task."""
    from recbole_meta.model.sequential_recommender.peterrec import load_backbone_checkpoint, uses_pretrained

    if config["stage"] != "finetune" or not uses_pretrained(config["finetune_mode"]):
        return config["pretrain_domain"], None
    if not config["pretrained_path"]:
        raise ValueError(
            f"finetune_mode {config['finetune_mode']} starts from a pre-trained backbone: set --pretrained_path "
            "to the checkpoint that --stage=pretrain wrote"
        )
    checkpoint = load_backbone_checkpoint(config["pretrained_path"])
    domain = checkpoint["domain"]
    if config["downstream_task"] == TRANSFER:
        if domain != "source":
            raise ValueError(
                f"the backbone {config['pretrained_path']} was pre-trained on all items (pretrain_domain: {domain}); "
                "its pre-training saw the target-domain items of the transfer task's test users. Pre-train with "
                "--pretrain_domain=source for the transfer task"
            )
        if dict(checkpoint["target_domain"]) != dict(config["target_domain"]):
            raise ValueError(
                f"target_domain {dict(config['target_domain'])} differs from the backbone's "
                f"{checkpoint['target_domain']} ({config['pretrained_path']})"
            )
    return domain, checkpoint["target_domain"]


def check_stage_options(config):
    """``stage`` and the options whose values only one stage reads, before any data is built: fine-tuning options
    under ``stage: pretrain`` (the default, easy to forget) would otherwise be dropped while a backbone is
    pre-trained, and a misspelt patch or readout option would pass unseen in a mode that does not read it."""
    from recbole_meta.model.sequential_recommender.model_patch import INSERTIONS
    from recbole_meta.model.sequential_recommender.nextitnet_backbone import READOUTS

    stage = config["stage"]
    if stage not in (PRETRAIN, "finetune"):
        raise ValueError(f"stage must be pretrain or finetune, got {stage!r}")
    if stage == PRETRAIN:
        given = [f"{key}={config[key]}" for key in ("downstream_task", "pretrained_path") if config[key]]
        if given:
            raise ValueError(
                f"stage pretrain (the default) does not read {', '.join(given)}: add --stage=finetune to fine-tune "
                "a backbone, or drop them to pre-train one"
            )
    for key, allowed in (("patch_insertion", INSERTIONS), ("readout", READOUTS)):
        if config[key] not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {config[key]!r}")


@register_data_preparation(model="PeterRec")
def peterrec_data_preparation(config, dataset):
    """Build the task of ``stage`` / ``downstream_task`` and its train / valid / test loaders."""
    check_stage_options(config)
    stage = config["stage"]
    domain, rule = backbone_domain(config)
    ranking = stage == "finetune" and config["downstream_task"] == TRANSFER
    modes = {phase: _phase_mode(config, phase) if ranking else ("full", None) for phase in ("valid", "test")}
    negatives = next((n for _, n in (modes["test"], modes["valid"]) if n), None)
    task = build_task(config, dataset, domain=domain, n_negatives=negatives or 99, target_domain=rule)
    configure_task_metrics(config, task)
    getLogger().info(f"PeterRec task: {task.summary}")
    train = SequenceTrainDataLoader(config, task.splits["train"], shuffle=config["shuffle"])
    loaders = [train]
    for phase in ("valid", "test"):
        mode = "full" if task.kind == PRETRAIN else modes[phase][0]
        loader = eval_loader(config, task.splits[phase], mode)
        if phase == "test":
            attach_groups(config, loader, task.splits[phase], mode)
        loaders.append(loader)
    return tuple(loaders)
