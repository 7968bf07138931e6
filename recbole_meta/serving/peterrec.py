"""PeterRec serving: a backbone plus one task checkpoint, asked about a user's behaviour sequence.

PeterRec (Yuan et al., SIGIR 2020, Section 3 and Fig. 2) serves every downstream task from one frozen pre-trained
backbone and a small per-task checkpoint (model patches, layer norms and the task head). :class:`PeterRecServer`
loads exactly that (the task checkpoint written by ``--stage=finetune``; its backbone from the path it names, or
from ``backbone``, verified by digest), and answers for a sequence of raw item tokens, oldest first:

* a profile task (``downstream_task: gender`` ...): the class probabilities (softmax of the head's logits);
* the transfer task: the top-k target-domain items, scored over every target item (the head's full ranking).

The sequence is built as the task builds its users' sequences (:mod:`recbole_meta.data.sequence_tasks`): items
outside the task's input domain are left out (for the transfer task, target-domain items the user already has
are also excluded from the ranking), the last ``MAX_ITEM_LIST_LENGTH`` items are kept, and an empty sequence is the
``[MASK]`` "nothing known" sequence. Unknown item tokens are an error naming each one; items left out are noted.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_meta.data.sequence_tasks import pad_sequences
from recbole_meta.serving.cold_start import UnknownItemsError


@dataclass
class ProfilePrediction:
    """``classes``: ``[(class name, probability)]``, most probable first; ``notes``: items left out and why."""

    classes: list
    notes: list = field(default_factory=list)


@dataclass
class TargetItems:
    """``top``: ``[(target item token, score)]``, best first; ``notes``: items left out and why."""

    top: list
    notes: list = field(default_factory=list)


class PeterRecServer:
    """Answer a fine-tuned PeterRec task for raw behaviour sequences; see the module docstring.

    Args:
        config (Config), model (PeterRec), dataset: a fine-tuned run, as
            :func:`~recbole_meta.serving.saved_run.load_data_and_model` returns it.
    """

    def __init__(self, config, model, dataset):
        if type(model).__name__ != "PeterRec" or getattr(model, "stage", None) != "finetune":
            raise TypeError(
                "PeterRecServer serves a fine-tuned PeterRec task checkpoint (written by --stage=finetune), got "
                f"{type(model).__name__}" + (f" stage {model.stage}" if hasattr(model, "stage") else "")
            )
        self.config, self.model, self.dataset = config, model.eval(), dataset
        self.task = model.task
        self._ids = {token: i for i, token in enumerate(self.task.item_tokens) if i > 0}
        self._allowed = np.zeros(len(self.task.item_tokens), dtype=bool)
        self._allowed[self.task.domain_items] = True
        self.max_len = config["MAX_ITEM_LIST_LENGTH"]
        self.device = config["device"]

    @classmethod
    def from_checkpoints(cls, task_checkpoint, backbone=None, config_dict=None):
        """Load a task checkpoint and its backbone (``backbone``: the backbone file, if it moved)."""
        from recbole_meta.serving.saved_run import load_data_and_model

        overrides = dict(config_dict or {})
        if backbone is not None:
            overrides["pretrained_path"] = str(backbone)
        config, model, dataset, *_ = load_data_and_model(task_checkpoint, overrides)
        return cls(config, model, dataset)

    @property
    def kind(self):
        return self.task.kind

    def sequence(self, items):
        """``(item_seq [1, L], item_len [1], notes, ids)`` for raw item tokens, as the task builds sequences."""
        items = [str(i) for i in items]
        unknown = [i for i in items if i not in self._ids]
        if unknown:
            raise UnknownItemsError(unknown, f"the item vocabulary of the backbone ({len(self._ids)} items)")
        ids = np.array([self._ids[i] for i in items], dtype=np.int64)
        kept = self._allowed[ids] if len(ids) else np.zeros(0, dtype=bool)
        notes = []
        outside = [items[j] for j in np.flatnonzero(~kept)]
        if outside:
            notes.append(
                f"left out of the input, outside the task's {self.task.domain} domain (as in training): "
                + ", ".join(outside)
            )
        if kept.sum() > self.max_len:
            notes.append(f"only the last {self.max_len} items are read (MAX_ITEM_LIST_LENGTH)")
        if not kept.any():
            notes.append("no item of the input domain: the 'nothing known' [MASK] sequence is used")
        seq, lengths, _ = pad_sequences([ids[kept]], self.max_len, self.task.mask_token)
        return torch.as_tensor(seq), torch.as_tensor(lengths), notes, ids

    def _interaction(self, seq, lengths):
        return Interaction({self.model.ITEM_SEQ: seq, self.model.ITEM_SEQ_LEN: lengths}).to(self.device)

    @torch.no_grad()
    def predict(self, items, k=10):
        """The task's answer for one behaviour sequence (raw item tokens, oldest first).

        Returns:
            ProfilePrediction (profile task) or TargetItems (transfer task, the top ``k``).
        """
        seq, lengths, notes, ids = self.sequence(items)
        interaction = self._interaction(seq, lengths)
        if self.kind == "profile":
            probabilities = torch.softmax(self.model.predict(interaction)[0], dim=-1).cpu()
            order = torch.argsort(probabilities, descending=True, stable=True).tolist()
            return ProfilePrediction(
                [(self.task.output_names[c], float(probabilities[c])) for c in order], notes
            )
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        scores = self.model.full_sort_predict(interaction)[0].cpu()
        outputs = {token: j for j, token in enumerate(self.task.output_names) if j > 0}
        seen = [outputs[self.task.item_tokens[i]] for i in ids if self.task.item_tokens[i] in outputs]
        if seen:
            scores[torch.as_tensor(seen)] = float("-inf")
            notes.append(f"{len(set(seen))} target item(s) of the input are not recommended again")
        top = torch.argsort(scores, descending=True, stable=True)[: min(k, int(torch.isfinite(scores).sum()))]
        return TargetItems([(self.task.output_names[j], float(scores[j])) for j in top.tolist()], notes)
