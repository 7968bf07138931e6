"""Diagnostics of PeterRec's transfer: is pre-training learning anything, and does fine-tuning keep it?

Three questions, each answered by numbers in the suite's tables:

* **Pre-training quality** (state ``next_item``): held-out next-item MRR@5 / Hit@5 of the pre-trained backbone
  against an untrained backbone of the same architecture and against item popularity, on the pre-training task's
  test rows (each user's last item of the domain, ranked against the whole vocabulary). A backbone that does not
  beat popularity has learned nothing about users to transfer.
* **Linear probes** (state ``probe <task>``): a class-balanced logistic regression (``C`` chosen on the
  validation users) trained on the labelled users' *frozen* representations: the mean of the backbone's item
  embeddings over the user's items, the hidden state at the last valid position, the mean hidden state; for the
  pre-trained backbone(s) and for a randomly initialised one. Read beside the bag-of-items logistic regression: if
  the probe on pre-trained representations is near chance, pre-training does not encode the trait; if it is high
  and fine-tuning is not, fine-tuning loses it.
* **Learning curves**: fine-tuning runs with ``curve=True`` store, per validation, the epoch's train loss,
  the validation loss and score (``PeterRecTrainer.learning_curve``), printed by the
  report hook of :mod:`recbole_meta.benchmark.peterrec.report`.
"""

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from recbole_meta.benchmark.peterrec.config import build_trainer
from recbole_meta.benchmark.peterrec.pretraining import pretrain_config
from recbole_meta.benchmark.suite import Run, RunResult

PROBE_C_GRID = (0.01, 0.1, 1.0, 10.0)
REPRESENTATIONS = ("mean_item_embedding", "last_hidden", "mean_hidden")


# -------------------------------------------------------------------------------------- pre-training quality
def _pretrain_loaders(ctx, objective):
    domain = ctx.config.get("pretrain_domain", "all")
    path = ctx.data["backbones"][objective]
    config = pretrain_config(ctx.config, ctx.run_dir, ctx.out_dir, domain, objective, None)
    return config, path, build_trainer(config, ctx.data["dataset"])


def next_item_run(name, kind, objective="causal"):
    """Held-out next-item MRR / Hit of a ``kind`` scorer: ``pretrained``, ``untrained`` or ``popularity``."""

    def run(ctx):
        from recbole_meta.benchmark.peterrec.baselines import ranking_metrics
        from recbole_meta.checkpoint import load_checkpoint

        config, path, ((train, _, test), model, trainer) = _pretrain_loaders(ctx, objective)
        if kind == "popularity":
            split = train._dataset
            items = split.fields[split.task.item_field + "_list"].numpy()
            counts = np.bincount(items[items > 0], minlength=split.task.vocab_size).astype(float)
            counts[split.task.mask_token] = -np.inf
            scores = np.repeat(counts[None, :], len(test._dataset), axis=0)
            return RunResult(metrics={"next_item": ranking_metrics(config, test._dataset, scores, "full")})
        if kind == "pretrained":
            model.load_checkpoint_content(load_checkpoint(path), path=path)
        elif kind != "untrained":
            raise ValueError(f"next-item scorer must be pretrained, untrained or popularity, got {kind!r}")
        result = trainer.evaluate(test, load_best_model=False)
        return RunResult(metrics={"next_item": {k: float(v) for k, v in result.items()}})

    return Run(name=name, fn=run, config={"diagnostic": "next_item", "scorer": kind, "objective": objective})


# ----------------------------------------------------------------------------------------------- probes
def representations(backbone, split, batch_size=1024):
    """The frozen representations of every row of ``split``: name -> ``[rows, d]`` array."""
    seq_field = split.task.item_field + "_list"
    seq, lengths = split.fields[seq_field], split.fields["item_length"]
    out = {name: [] for name in REPRESENTATIONS}
    backbone.eval()
    with torch.no_grad():
        for start in range(0, len(seq), batch_size):
            s, n = seq[start : start + batch_size], lengths[start : start + batch_size]
            valid = (torch.arange(s.size(1)).unsqueeze(0) < n.unsqueeze(1)).unsqueeze(-1).float()
            embedded = backbone.item_embedding(s)
            out["mean_item_embedding"].append(((embedded * valid).sum(1) / valid.sum(1)).numpy())
            out["last_hidden"].append(backbone(s, n, readout="last").numpy())
            out["mean_hidden"].append(backbone(s, n, readout="mean").numpy())
    return {name: np.concatenate(parts) for name, parts in out.items()}


def probe_scores(features, labels, seed):
    """Test macro-F1 and accuracy of a class-balanced logistic regression, ``C`` chosen on validation."""
    from recbole_meta.benchmark.peterrec.baselines import balanced_logistic_on_valid, profile_scores

    scaler = StandardScaler().fit(features["train"])
    x = {phase: scaler.transform(value) for phase, value in features.items()}
    _, model = balanced_logistic_on_valid(x, labels, PROBE_C_GRID, seed)
    return profile_scores(labels["test"], model.predict(x["test"]))


def probe_run(name, tasks, backbone="causal"):
    """Linear probes on the frozen representations of a backbone: ``causal`` / ``masked`` (pre-trained) or
    ``random`` (PeterRec's architecture, randomly initialised with the run's seed)."""

    def run(ctx):
        from recbole.utils import init_seed

        from recbole_meta.benchmark.peterrec.config import finetune_config

        metrics = {}
        for task in ctx.config.get("profile_tasks", tasks):
            mode = "peter_zero" if backbone == "random" else "fine_cls"
            path = ctx.data["backbones"].get(backbone, ctx.data["backbone"])
            config = finetune_config(ctx, task, finetune_mode=mode, pretrained_path=path)
            init_seed(ctx.seed, True)
            (train, valid, test), model, _ = build_trainer(config, ctx.data["dataset"])
            splits = {"train": train._dataset, "valid": valid._dataset, "test": test._dataset}
            encoder = model.backbone
            feats = {phase: representations(encoder, split) for phase, split in splits.items()}
            labels = {phase: split.fields[config["LABEL_FIELD"]].numpy() for phase, split in splits.items()}
            row = {}
            for representation in REPRESENTATIONS:
                chosen = {phase: feats[phase][representation] for phase in splits}
                row[representation] = probe_scores(chosen, labels, ctx.seed)["macrof1"]
            metrics[f"probe {task}"] = row
        return RunResult(metrics=metrics)

    return Run(name=name, fn=run, config={"diagnostic": "probe", "backbone": backbone})
