r"""PeterRec: a pre-trained NextItNet user model adapted to downstream tasks with small model patches.

Reference:
    Fajie Yuan, Xiangnan He, Alexandros Karatzoglou, Liguang Zhang. "Parameter-Efficient Transfer from Sequential
    Behaviors for User Modeling and Recommendation." SIGIR 2020 (arXiv:2001.04253).

Two stages, one registered model (``--model=PeterRec``):

* ``stage: pretrain``: the backbone (:class:`NextItNetBackbone`, RecBole's NextItNet) is trained on behaviour
  sequences with the causal or the masked objective (paper Sec. 3, pre-training). The best backbone (by
  next-item MRR on held-out last items) is written as a weights-only checkpoint: parameters, architecture,
  item vocabulary and the domain it was trained on.
* ``stage: finetune``: the backbone is loaded and a task head is added on the user representation
  (the last valid position of the sequence): a linear softmax classifier for profile prediction, a target-item
  embedding (+ bias) scored by inner product for cold-start transfer recommendation (paper Sec. 3, fine-tuning,
  Fig. 2). ``finetune_mode`` decides what is trained (:data:`model_patch.FINETUNE_MODES`): PeterRec trains the
  patches, the block LayerNorms and the head; FineAll / FineCLS / FineLast1 / FineLast2 / PeterZero are the
  paper's comparisons, ``scratch`` the same network trained on the task alone. Only what was trained is saved per
  task (a patch checkpoint for ``peterrec``); serving loads the backbone and then the task checkpoint.

Losses: cross-entropy over the vocabulary (pre-training), class-weighted cross-entropy (profile; ``class_weight:
balanced`` counters the class imbalance of gender / age / occupation), softmax cross-entropy over all target
items (transfer).
"""

from logging import getLogger

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType, ModelType
from torch import nn
from torch.nn import functional as F

from recbole_meta.checkpoint import load_checkpoint
from recbole_meta.model.sequential_recommender.model_patch import (
    FINETUNE_MODES,
    PATCHED_MODES,
    PRETRAINED_MODES,
    format_parameter_report,
    insert_patches,
    parameter_report,
    patch_hidden_size,
    set_trainable,
    state_digest,
)
from recbole_meta.model.sequential_recommender.nextitnet_backbone import NextItNetBackbone
from recbole_meta.model.sequential_recommender.sasrec_encoder import ENCODERS, SASRecEncoder
from recbole_meta.registry import register_model

BACKBONE_KIND = "peterrec_backbone"
TASK_KIND = "peterrec_task"
BACKBONE_HPARAMS = ("embedding_size", "block_num", "dilations", "kernel_size", "pretrain_objective")


def uses_pretrained(mode):
    if mode not in FINETUNE_MODES:
        raise ValueError(f"finetune_mode must be one of {', '.join(FINETUNE_MODES)}, got {mode!r}")
    return mode in PRETRAINED_MODES


def load_backbone_checkpoint(path):
    """A backbone checkpoint written by ``--stage=pretrain`` (weights-only); raises a clear error otherwise."""
    checkpoint = load_checkpoint(path)
    if checkpoint.get("kind") != BACKBONE_KIND:
        raise ValueError(
            f"{path} is not a PeterRec backbone checkpoint (kind {checkpoint.get('kind')!r}); pass the file that "
            "`--model=PeterRec --stage=pretrain` wrote"
        )
    return checkpoint


class _ConfigOverlay:
    """Read-only view of a RecBole ``Config`` with some keys replaced (the backbone's stored architecture)."""

    def __init__(self, config, overrides):
        self._config, self._overrides = config, overrides

    def __getitem__(self, key):
        return self._overrides[key] if key in self._overrides else self._config[key]

    def __contains__(self, key):
        return key in self._overrides or key in self._config


class ProfileHead(nn.Module):
    """Softmax classifier on the user representation."""

    def __init__(self, hidden_size, n_classes):
        super().__init__()
        self.linear = nn.Linear(hidden_size, n_classes)
        nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, user):
        return self.linear(user)


class TargetItemHead(nn.Module):
    """Target-domain item embeddings and biases; score = <user, item> + bias. Id 0 is padding (never scored)."""

    def __init__(self, hidden_size, n_outputs):
        super().__init__()
        self.embedding = nn.Embedding(n_outputs, hidden_size, padding_idx=0)
        self.bias = nn.Parameter(torch.zeros(n_outputs))
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, user):
        scores = user @ self.embedding.weight.t() + self.bias
        scores[:, 0] = float("-inf")
        return scores

    def candidate_scores(self, user, candidates):
        return (self.embedding(candidates) * user.unsqueeze(1)).sum(-1) + self.bias[candidates]


@register_model
class PeterRec(SequentialRecommender):
    """See the module docstring. ``dataset`` is a PeterRec task split (``recbole_meta.data.sequence_tasks``)."""

    type = ModelType.SEQUENTIAL
    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.logger = getLogger()
        self.task = dataset.task
        self.stage = config["stage"]
        self.readout = config["readout"]
        self.LABEL = config["LABEL_FIELD"]
        self.pretrained_path = None
        self.backbone_digest = None
        if self.stage == "pretrain":
            self.mode = "pretrain"
            self.backbone = NextItNetBackbone(config, dataset)
            self.head = None
            self.mask_ratio = config["mask_ratio"]
            self.replace_probs = tuple(config["mask_replace_probs"])
            self.register_buffer("random_items", torch.as_tensor(self.task.domain_items), persistent=False)
        elif self.stage == "finetune":
            self._build_finetune(config, dataset)
        else:
            raise ValueError(f"stage must be pretrain or finetune, got {self.stage!r}")
        self.report = parameter_report(self.backbone, self.head, self.mode)
        self.logger.info(format_parameter_report(self.report))

    # ------------------------------------------------------------------------------------------ building
    def _build_finetune(self, config, dataset):
        self.mode = config["finetune_mode"]
        encoder = config["encoder"] or "nextitnet"
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
        if encoder == "sasrec" and self.mode != "scratch":
            raise ValueError(
                f"encoder sasrec is the target-only baseline: it needs finetune_mode scratch, got {self.mode} "
                "(SASRec is not pre-trained here and takes no model patches)"
            )
        overrides = {}
        checkpoint = None
        if uses_pretrained(self.mode):
            if not config["pretrained_path"]:
                raise ValueError(f"finetune_mode {self.mode} needs --pretrained_path (a backbone checkpoint)")
            self.pretrained_path = str(config["pretrained_path"])
            checkpoint = load_backbone_checkpoint(self.pretrained_path)
            stored = checkpoint["backbone_hparams"]
            overrides = {key: stored[key] for key in BACKBONE_HPARAMS}
            changed = {k: (config[k], v) for k, v in overrides.items() if k in config and config[k] != v}
            if changed:
                self.logger.warning(
                    f"PeterRec: the backbone's stored architecture replaces the config's: {changed}"
                )
            if list(checkpoint["item_tokens"]) != list(self.task.item_tokens):
                raise ValueError(
                    f"the backbone {self.pretrained_path} was pre-trained on another item vocabulary "
                    f"({len(checkpoint['item_tokens'])} items) than this dataset's ({len(self.task.item_tokens)})"
                )
        if encoder == "sasrec":
            self.backbone = SASRecEncoder(config, dataset)
        else:
            self.backbone = NextItNetBackbone(_ConfigOverlay(config, overrides), dataset)
        if checkpoint is not None:
            self.backbone.load_state_dict(checkpoint["backbone_state"])
            self.backbone_digest = state_digest(self.backbone.state_dict())
        if self.mode in PATCHED_MODES:
            hidden = patch_hidden_size(self.backbone.embedding_size, config["patch_hidden_ratio"])
            insert_patches(
                self.backbone.residual_blocks, config["patch_insertion"], hidden, config["patch_init_std"]
            )
        if self.task.kind == "profile":
            self.head = ProfileHead(self.backbone.embedding_size, self.task.n_outputs)
            weights = self.task.class_weights if config["class_weight"] == "balanced" else None
            if config["class_weight"] not in ("balanced", "none", None):
                raise ValueError(f"class_weight must be balanced or none, got {config['class_weight']!r}")
            weights = torch.ones(self.task.n_outputs) if weights is None else torch.as_tensor(weights).float()
            self.register_buffer("class_weights", weights)
        elif self.task.kind == "transfer":
            self.head = TargetItemHead(self.backbone.embedding_size, self.task.n_outputs)
        else:
            raise ValueError(f"stage finetune needs a downstream task, got a {self.task.kind} task")
        set_trainable(self.backbone, self.head, self.mode)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, item_seq, item_seq_len):
        """The user representation of each sequence, ``[batch, d]``."""
        return self.backbone(item_seq, item_seq_len, readout=self.readout)

    def calculate_loss(self, interaction):
        item_seq, item_seq_len = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        if self.stage == "pretrain":
            if self.backbone.causal:
                return self.backbone.causal_loss(item_seq, item_seq_len)
            return self.backbone.masked_loss(
                item_seq, item_seq_len, self.mask_ratio, self.random_items, self.replace_probs
            )
        logits = self.head(self.forward(item_seq, item_seq_len))
        if self.task.kind == "profile":
            return F.cross_entropy(logits, interaction[self.LABEL], weight=self.class_weights)
        return F.cross_entropy(logits, interaction[self.POS_ITEM_ID])

    def predict(self, interaction):
        """Profile: class logits ``[batch, classes]``. Transfer: scores of ``candidates`` ``[batch, n]``."""
        user = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        if self.stage == "finetune" and self.task.kind == "profile":
            return self.head(user)
        if self.stage == "finetune":
            return self.head.candidate_scores(user, interaction["candidates"])
        raise ValueError(
            "PeterRec pre-training ranks the whole vocabulary (full_sort_predict); it has no candidate scores: "
            "evaluate it with eval_args mode full"
        )

    def full_sort_predict(self, interaction):
        item_seq, item_seq_len = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        if self.stage == "pretrain":
            scores = self.backbone.item_logits(self.backbone.next_item_representation(item_seq, item_seq_len))
            scores[:, self.backbone.mask_token] = float("-inf")
            return scores
        if self.task.kind != "transfer":
            raise ValueError(
                f"profile task {self.task.name} is scored by predict (class logits), not by ranking items; "
                "its loaders evaluate value metrics (Accuracy, MacroF1)"
            )
        return self.head(self.forward(item_seq, item_seq_len))

    # -------------------------------------------------------------------------------------- checkpoints
    def checkpoint_content(self):
        """What a checkpoint of this model holds (weights-only data).

        Pre-training: the backbone. Fine-tuning: the trained parameters only, plus a reference to the backbone
        file and its digest (modes without a pre-trained backbone store every parameter: their frozen random
        weights exist nowhere else).
        """
        if self.stage == "pretrain":
            return {
                "kind": BACKBONE_KIND,
                "backbone_state": self.backbone.state_dict(),
                "backbone_hparams": self.backbone.hparams(),
                "item_tokens": list(self.task.item_tokens),
                "domain": self.task.domain,
                "target_domain": self.task.target_domain,
            }
        if self.pretrained_path is not None:
            trained = {n for n, p in self.named_parameters() if p.requires_grad}
            state = {n: t for n, t in self.state_dict().items() if n in trained}
        else:
            state = self.state_dict()
        return {
            "kind": TASK_KIND,
            "finetune_mode": self.mode,
            "task": {"kind": self.task.kind, "name": self.task.name, "outputs": list(self.task.output_names)},
            "state": state,
            "backbone": (
                None
                if self.pretrained_path is None
                else {"path": self.pretrained_path, "digest": self.backbone_digest}
            ),
        }

    def load_checkpoint_content(self, checkpoint, path="checkpoint"):
        """Inverse of :meth:`checkpoint_content`. A task checkpoint loads its backbone first (verified by digest)."""
        kind = checkpoint.get("kind")
        if self.stage == "pretrain":
            if kind != BACKBONE_KIND:
                raise ValueError(f"{path} is not a PeterRec backbone checkpoint (kind {kind!r})")
            self.backbone.load_state_dict(checkpoint["backbone_state"])
            return
        if kind != TASK_KIND:
            raise ValueError(f"{path} is not a PeterRec task checkpoint (kind {kind!r})")
        if checkpoint["finetune_mode"] != self.mode or checkpoint["task"]["name"] != self.task.name:
            raise ValueError(
                f"{path} holds task {checkpoint['task']['name']} / mode {checkpoint['finetune_mode']}, "
                f"this model is {self.task.name} / {self.mode}"
            )
        if list(checkpoint["task"]["outputs"]) != list(self.task.output_names):
            raise ValueError(f"{path} was trained on other outputs (classes / target items) than this task's")
        reference = checkpoint["backbone"]
        if reference is None:
            self.load_state_dict(checkpoint["state"])
            return
        backbone_path = self.pretrained_path or reference["path"]
        backbone = load_backbone_checkpoint(backbone_path)
        missing, unexpected = self.backbone.load_state_dict(backbone["backbone_state"], strict=False)
        patch_keys = [k for k in missing if ".patch" in k]
        if unexpected or len(patch_keys) != len(missing):
            raise ValueError(
                f"backbone {backbone_path} does not fit this model: missing {missing}, extra {unexpected}"
            )
        digest = state_digest({k: v for k, v in self.backbone.state_dict().items() if ".patch" not in k})
        if digest != reference["digest"]:
            raise ValueError(
                f"{path} was fine-tuned on another backbone than {backbone_path} (digest {digest[:12]} != "
                f"{reference['digest'][:12]})"
            )
        trained = {n for n, p in self.named_parameters() if p.requires_grad}
        if set(checkpoint["state"]) != trained:
            raise ValueError(f"{path} does not hold exactly the parameters that mode {self.mode} trains")
        self.load_state_dict(checkpoint["state"], strict=False)
