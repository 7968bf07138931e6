"""MetaTrainer: RecBole's ``Trainer`` for episodic models, with MAML meta-training and per-state evaluation.

Inherited from RecBole's ``Trainer`` unchanged: ``fit`` (epochs, early stopping on ``valid_metric``,
checkpoints, tensorboard), the epoch loop of ``_train_epoch`` (progress bar, NaN check, ``clip_grad_norm``),
the optimizer (``learner``; its learning rate is ``meta_lr``, the global rate beta), the Evaluator and its metrics.
Changed:

* the loss of a meta-batch is :meth:`MAML.meta_loss <recbole_meta.trainer.maml.MAML.meta_loss>` (the query loss
  after the local update), or with ``meta_train: False`` the loss of the same network on all of the task's
  ratings without adaptation (the "no meta-learning" ablation; it is still fine-tuned on the support at test
  time with the same local steps);
* evaluation adapts the model to each test user's support, predicts the query ratings (clipped to the rating
  range with ``clip_predictions``) and feeds RecBole's Evaluator; given a
  :class:`~recbole_meta.data.episodes.StateLoaders` it returns ``{state: metrics}``;
* a model without trainable parameters (the mean baselines) is evaluated without a training loop;
* ``meta_num_threads`` (default 1) sets torch's intra-op threads while fitting and evaluating, restored after: a
  meta-batch is many small ops, and on the 2-core machines here one thread ran an ml-100k MeLU epoch in 2-3 s
  against 20-26 s with two (other processes sharing the cores); ``~`` leaves torch's setting alone;
* ``full_ranking_topk: [K, ...]`` (default ``~``, off) also ranks every candidate item of each state for each
  user with the same adapted parameters and adds ``full_recall@K`` / ``full_ndcg@K`` / ``full_hit@K``
  (:mod:`~recbole_meta.evaluator.full_ranking`).
"""

import contextlib
from collections import OrderedDict

import torch
from recbole.evaluator.collector import DataStruct
from recbole.trainer import Trainer
from recbole.utils import EvaluatorType, calculate_valid_score, set_color
from tqdm import tqdm

from recbole_meta.data.episodes import QUERY_MASK, QUERY_RATING, StateLoaders
from recbole_meta.distributed import barrier
from recbole_meta.distributed.sharding import (
    check_tasks_per_rank,
    empty_losses,
    gather_task_predictions,
    global_mean_loss,
    local_share,
    replicated,
)
from recbole_meta.evaluator.full_ranking import FullRanking, check_topk
from recbole_meta.registry import PluginModelType, register_trainer
from recbole_meta.trainer.maml import MAML
from recbole_meta.trainer.safe_checkpoint import SafeCheckpointMixin


class _NoOptimizer:
    """The optimizer of a model with nothing to train: every call is a no-op."""

    def zero_grad(self, set_to_none=True):
        pass

    def step(self, closure=None):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


@register_trainer(model_type=PluginModelType.META)
class MetaTrainer(SafeCheckpointMixin, Trainer):
    """Trainer of :class:`~recbole_meta.model.meta_recommender.MetaRecommender` models; see the module docstring.

    Its checkpoints are weights-only (:class:`~recbole_meta.trainer.safe_checkpoint.SafeCheckpointMixin`),
    whether it is built directly or through :func:`recbole_meta.registry.get_trainer`.
    """

    def __init__(self, config, model):
        if config["eval_type"] != EvaluatorType.VALUE:
            raise ValueError(
                f"{type(model).__name__} predicts each task's query ratings: metrics must be value metrics (MAE, "
                f"RMSE, GradedNDCG), got {config['metrics']}; full_ranking_topk: [10] adds Recall / NDCG / Hit"
            )
        self._trainable = any(p.requires_grad for p in model.parameters())
        # before RecBole builds the optimizer: Meta-SGD's learned local rates are model parameters it must train
        self.maml = MAML.from_config(config, model)
        super().__init__(config, model)
        self.meta_train = bool(config["meta_train"])
        self.clip_predictions = bool(config["clip_predictions"])
        split = model.split
        self.rating_range = (split.rating_min, split.rating_max)
        self.num_threads = config["meta_num_threads"]
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ValueError(f"meta_num_threads must be a positive integer or ~, got {self.num_threads!r}")
        self.full_ranking_topk = check_topk(config["full_ranking_topk"])
        self.full_ranking_threshold = config["full_ranking_threshold"]
        self.full_ranking_chunk_size = config["full_ranking_chunk_size"]
        chunk = self.full_ranking_chunk_size
        if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
            raise ValueError(f"full_ranking_chunk_size must be a positive integer or ~, got {chunk!r}")
        if self.full_ranking_threshold is None:
            self.full_ranking_threshold = config["like_threshold"]
        if self.full_ranking_topk and (
            isinstance(self.full_ranking_threshold, bool)
            or not isinstance(self.full_ranking_threshold, (int, float))
        ):
            raise ValueError(
                "full_ranking_topk is set: full_ranking_threshold (a query rating >= it is a positive) must be "
                f"a number, or ~ with like_threshold set; got {self.full_ranking_threshold!r}"
            )

    @contextlib.contextmanager
    def _threads(self):
        saved = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(saved)

    def _build_optimizer(self, **kwargs):
        if not self._trainable:
            return _NoOptimizer()
        if self.config["meta_lr"] is not None:
            kwargs.setdefault("learning_rate", self.config["meta_lr"])
        return super()._build_optimizer(**kwargs)

    # ------------------------------------------------------------------------------------------ training
    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        loss_func = loss_func or self.meta_batch_loss
        return super()._train_epoch(
            replicated(train_data), epoch_idx, loss_func=loss_func, show_progress=show_progress
        )

    def meta_batch_loss(self, batch):
        """Mean task loss of a meta-batch; in a multi-process run each rank computes its share of the tasks and
        the gradients average to the single-process meta-gradient (:mod:`recbole_meta.distributed.sharding`).
        """
        per_task = self.maml.meta_losses if self.meta_train else self.maml.supervised_losses
        local, _ = local_share(batch)
        losses = per_task(local) if len(local) else empty_losses(self.model)
        return global_mean_loss(losses, len(batch))

    def fit(
        self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None
    ):
        with self._threads():
            return self._fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _fit(self, train_data, valid_data, verbose, saved, show_progress, callback_fn):
        check_tasks_per_rank(len(train_data.tasks), self.config["meta_batch_size"])
        if self._trainable:
            return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        self.logger.info(
            f"{type(self.model).__name__} has no trainable parameters: estimated from the training split, not trained"
        )
        if saved:
            self._save_checkpoint(-1, verbose=verbose)
        if valid_data:
            self.best_valid_result = self.evaluate(
                valid_data, load_best_model=False, show_progress=show_progress
            )
            self.best_valid_score = calculate_valid_score(self.best_valid_result, self.valid_metric)
        return self.best_valid_score, self.best_valid_result

    # ------------------------------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        """Adapt to each task's support, predict its query, compute the metrics.

        Returns:
            OrderedDict: ``{metric: value}`` for one loader; ``{state: {metric: value}}`` for ``StateLoaders``.
        """
        if not eval_data:
            return None
        if load_best_model:
            barrier()  # in a multi-process run, rank 0 may still be writing it
            self.load_model_weights(model_file or self.saved_model_file)
        with self._threads():
            if isinstance(eval_data, StateLoaders):
                return OrderedDict(
                    (state, self._evaluate_loader(loader, show_progress))
                    for state, loader in eval_data.items()
                )
            return self._evaluate_loader(eval_data, show_progress)

    def predict_tasks(self, loader, show_progress=False, full_ranking=None):
        """Adapted query predictions of every task of ``loader``: (scores, ratings, task index), flat tensors.

        With a :class:`~recbole_meta.evaluator.full_ranking.FullRanking`, the same adapted parameters also score
        its candidate items, and it collects the top-K hits.
        """
        self.model.eval()
        iterator = (
            tqdm(loader, total=len(loader), ncols=100, desc=set_color(f"Evaluate {loader.name:<9}", "pink"))
            if show_progress
            else loader
        )
        scores, labels, tasks = [], [], []
        offset = 0
        for batch in iterator:
            size = len(batch)
            batch, start = local_share(batch)  # this rank's tasks (all of them in a single process)
            if len(batch) == 0:
                offset += size
                continue
            batch = batch.to(self.device)
            if full_ranking is None:
                prediction = self.maml.predict_query(batch)
            else:
                prediction, item_chunks = self.maml.predict_query_and_item_chunks(
                    batch, full_ranking.items, self.full_ranking_chunk_size
                )
                full_ranking.collect_chunks(batch, item_chunks)
            if self.clip_predictions:
                prediction = prediction.clamp(*self.rating_range)
            mask = batch[QUERY_MASK] > 0
            first = offset + start
            task = torch.arange(first, first + mask.shape[0], device=mask.device).unsqueeze(1).expand_as(mask)
            scores.append(prediction[mask].detach().float().cpu())
            labels.append(batch[QUERY_RATING][mask].float().cpu())
            tasks.append(task[mask].cpu())
            offset += size
        return gather_task_predictions(scores, labels, tasks)

    def _evaluate_loader(self, loader, show_progress=False):
        ranking = None
        if self.full_ranking_topk:
            ranking = FullRanking(
                self.model.split,
                loader.name,
                self.full_ranking_topk,
                self.full_ranking_threshold,
                self.config["metric_decimal_place"],
                self.device,
            )
        scores, labels, tasks = self.predict_tasks(loader, show_progress, ranking)
        if not torch.isfinite(scores).all():
            from recbole_meta.input_checks import divergence_hint

            raise ValueError(
                f"{int((~torch.isfinite(scores)).sum())} of {scores.numel()} predictions on {loader.name} are "
                f"NaN or infinite: the local adaptation diverged; lower {divergence_hint(self.config)}"
            )
        if ranking is not None:
            ranking.gather_ranks()
        struct = DataStruct()
        struct.set("rec.score", scores)
        struct.set("data.label", labels)
        struct.set("data.task_index", tasks)
        result = self.evaluator.evaluate(struct)
        if ranking is not None:
            result.update(ranking.result())
        return result
