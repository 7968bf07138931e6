"""The containers of PeterRec's tasks: a task, its splits, and the names of their fields and groups."""

from dataclasses import dataclass, field

import numpy as np
import torch
from recbole.data.interaction import Interaction

PRETRAIN = "pretrain"
TRANSFER = "transfer"
DOMAINS = ("all", "source")
CANDIDATES_FIELD = "candidates"
NO_SOURCE_GROUP = "no_source_history"
DEFAULT_NEGATIVES = 99


@dataclass
class TaskSplit:
    """The rows of one split of a task: RecBole interaction fields as tensors of equal length.

    Attributes:
        task (SequenceTask): the task this split belongs to.
        name (str): ``train``, ``valid`` or ``test``.
        fields (dict): field name -> tensor (``item_id_list``, ``item_length``, the label or target, ...).
        history (list of arrays or None): per row, output ids excluded from full ranking.
        groups (dict): group name -> boolean array over rows (e.g. ``no_source_history``).
    """

    task: "SequenceTask"
    name: str
    fields: dict
    history: list = None
    groups: dict = field(default_factory=dict)

    def __len__(self):
        return len(next(iter(self.fields.values())))

    def interaction(self, index):
        """The rows ``index`` as a RecBole :class:`Interaction`."""
        index = torch.as_tensor(index, dtype=torch.long)
        return Interaction({name: tensor[index] for name, tensor in self.fields.items()})

    def subset(self, mask, name):
        """The rows where ``mask`` is true, as a new split called ``name``."""
        index = np.flatnonzero(mask)
        return TaskSplit(
            task=self.task,
            name=name,
            fields={k: v[torch.as_tensor(index, dtype=torch.long)] for k, v in self.fields.items()},
            history=None if self.history is None else [self.history[i] for i in index],
            groups={k: v[index] for k, v in self.groups.items()},
        )

    # What RecBole's model constructors and evaluation read from a dataset.
    def num(self, field_name):
        if field_name == self.task.item_field:
            return self.task.vocab_size
        raise ValueError(
            f"PeterRec task data knows the size of `{self.task.item_field}` only, not `{field_name}`"
        )

    @property
    def item_num(self):
        """Number of output ids (ranking columns): vocabulary, target items + 1, or classes."""
        return self.task.n_outputs

    def get_item_feature(self):
        return Interaction({self.task.item_field: torch.arange(self.task.n_outputs)})

    # What RecBole's case-study helpers (recbole.utils.case_study.full_sort_scores / full_sort_topk) read from a
    # sequential dataset: the user field, every row as an Interaction, rows by index. A user's rows are found by
    # user id; each row is ranked as RecBole ranks a sequential dataset's rows.
    @property
    def uid_field(self):
        return self.task.user_field

    @property
    def inter_feat(self):
        return self.interaction(np.arange(len(self)))

    def __getitem__(self, index):
        return self.interaction(index)


@dataclass
class SequenceTask:
    """A pre-training or downstream task: what a model needs to size itself, and the three splits.

    Attributes:
        kind (str): ``pretrain``, ``profile`` or ``transfer``.
        name (str): ``pretrain``, the profile field, or ``transfer``.
        item_field (str): RecBole's item id field; sequences hold its ids.
        user_field (str): RecBole's user id field (each row's user).
        vocab_size (int): the backbone's item vocabulary: RecBole's item ids (0 = padding) + ``[MASK]``.
        mask_token (int): ``vocab_size - 1``.
        domain (str): items allowed in input sequences, ``all`` or ``source``.
        domain_items (ndarray): their ids.
        n_outputs (int): classes (profile), target items + 1 (transfer, 0 = padding), vocabulary (pretrain).
        output_names (list of str): class names, or the item tokens of the output ids.
        item_tokens (list of str): RecBole's item token of every item id (checks a backbone's vocabulary).
        target_domain (dict or None): the rule that defines the target domain.
        class_weights (ndarray or None): balanced class weights from the training labels (profile).
        summary (dict): counts for the log and the report.
        splits (dict): ``train`` / ``valid`` / ``test`` -> :class:`TaskSplit`.
    """

    kind: str
    name: str
    item_field: str
    user_field: str
    vocab_size: int
    mask_token: int
    domain: str
    domain_items: np.ndarray
    n_outputs: int
    output_names: list
    item_tokens: list
    target_domain: dict = None
    class_weights: np.ndarray = None
    summary: dict = field(default_factory=dict)
    splits: dict = field(default_factory=dict)
