"""MeLU's evidence candidates: the items to show a new user first, so that their ratings reveal the most.

Lee et al., KDD 2019, Section 3.3 ("Evidence candidate selection"): an item is a good evidence candidate when
rating it moves the personalised parameters a lot (the item *distinguishes* users' preferences) and when users
are likely to know it. For every item with training ratings, with g_ui the gradient of the squared error of
(u, i, r_ui) with respect to the personalised parameters (``local_update_params``) at the meta-learned
parameters (the user's training ratings as the support):

* gradient score, ``gradient='norm'`` (default, the paper): the mean of ||g_ui|| over the item's raters;
* gradient score, ``gradient='spread'``: the root-mean-square distance of the g_ui from their mean over the
  item's raters, sqrt(mean ||g_ui||^2 - ||mean g_ui||^2);
* popularity score: the number of training ratings of the item;

each min-max normalised to [0, 1] (the gradient score over the ``pool`` most-rated items, which are the only
ones scored); the score is their product; the top ``k`` items are returned.

Why the spread exists: the mean norm measures how wrong the meta-learned model is on an item's ratings, which
is how much they split users only when that model predicts about the right level. MAML may leave a constant
to the local update instead (with ``init_output_bias: False`` the meta-learned MeLU predicted about 0.2 for
every rating on planted data and the first local step lifted it); every g_ui is then dominated by the shared
offset and the mean norm ranks items by rating level: it missed the planted decisive items, while the spread,
which removes what all raters of an item share, ranked them first (``tests/test_evidence.py``). With MeLU's
default output-bias initialisation both found them.

Command line: ``python run_recbole_meta.py --model=MeLU --evidence_candidates=20`` (after training), or
:func:`evidence_candidates_for_run` for a saved checkpoint.
"""

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from recbole_meta.data.cold_start_split import Task
from recbole_meta.data.episodes import collate_tasks
from recbole_meta.trainer.maml import select_parameters

DEFAULT_PERSONALISED = ["decision.*", "output.*"]
TITLE_FIELDS = ("movie_title", "title", "name")


def _item_gradient_statistics(model, split, personalised, batch_size, pool_items):
    """Per item of ``pool_items``: mean gradient norm, and RMS spread of the gradients around their mean.

    The gradient of a rating is that of its squared error with respect to the personalised parameters, at the
    meta-learned parameters, with the user's training ratings as the support. Memory: one float64 vector of the
    personalised parameters' size per pool item.
    """
    names = select_parameters(model, personalised)
    params = dict(model.named_parameters())
    adapted = {n: params.pop(n).detach() for n in names}
    shared = {n: p.detach() for n, p in params.items()}

    def rating_loss(adapted, user, s_item, s_rating, s_mask, item, rating):
        prediction = functional_call(
            model, {**shared, **adapted}, (user, s_item, s_rating, s_mask, item.reshape(1))
        )
        return (prediction[0] - rating) ** 2

    def task_gradients(user, s_item, s_rating, s_mask, q_item, q_rating):
        grads = vmap(grad(rating_loss), in_dims=(None, None, None, None, None, 0, 0))(
            adapted, user, s_item, s_rating, s_mask, q_item, q_rating
        )
        return torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1)

    uid = model.USER_ID
    tasks = [Task(u, split.train_rows[int(u)], split.train_rows[int(u)]) for u in split.train_users]
    n_params = sum(p.numel() for p in adapted.values())
    dtype = torch.float64
    slot = torch.full((split.n_items,), -1, dtype=torch.long)
    slot[torch.as_tensor(pool_items)] = torch.arange(len(pool_items))
    count = torch.zeros(len(pool_items), dtype=dtype)
    norm_sum = torch.zeros(len(pool_items), dtype=dtype)
    square_sum = torch.zeros(len(pool_items), dtype=dtype)
    vector_sum = torch.zeros(len(pool_items), n_params, dtype=dtype)
    device = next(model.parameters()).device
    model.eval()
    for start in range(0, len(tasks), batch_size):
        batch = collate_tasks(split, tasks[start : start + batch_size], uid, torch.get_default_dtype()).to(
            device
        )
        gradients = vmap(task_gradients)(
            batch[uid],
            batch["support_item"],
            batch["support_rating"],
            batch["support_mask"],
            batch["query_item"],
            batch["query_rating"],
        )
        mask = batch["query_mask"] > 0
        items = slot[batch["query_item"][mask].cpu()]
        g = gradients[mask].detach().to(dtype).cpu()[items >= 0]
        items = items[items >= 0]
        squares = (g**2).sum(1)
        count.index_add_(0, items, torch.ones_like(squares))
        norm_sum.index_add_(0, items, squares.sqrt())
        square_sum.index_add_(0, items, squares)
        vector_sum.index_add_(0, items, g)
    mean_norm = norm_sum / count
    spread = (square_sum / count - (vector_sum / count[:, None]).pow(2).sum(1)).clamp(min=0).sqrt()
    return mean_norm.numpy(), spread.numpy()


def _min_max(values):
    low, high = values.min(), values.max()
    return np.zeros_like(values) if high == low else (values - low) / (high - low)


def item_titles(dataset, item_ids, title_field):
    """Each item's title as text: ``title_field``, else the first of :data:`TITLE_FIELDS` the items have
    (``None`` per item when there is none); a multi-valued field's tokens joined by spaces."""
    feat = dataset.item_feat
    field = title_field or next((f for f in TITLE_FIELDS if feat is not None and f in feat.columns), None)
    if field is None or feat is None or field not in feat.columns:
        return [None] * len(item_ids)
    column = feat[field][torch.as_tensor(item_ids)].numpy()
    tokens = dataset.field2id_token[field]
    if column.ndim == 1:
        return [str(tokens[v]) for v in column]
    return [" ".join(str(tokens[v]) for v in row if v != 0) for row in column]


def evidence_scores(model, split, personalised=None, gradient="norm", pool=1000, batch_size=32):
    """Evidence scores of the ``pool`` most-rated training items (see the module docstring).

    Args:
        model (MetaRecommender): a trained model (MeLU).
        split (ColdStartSplit): its cold-start split (the training users' ratings are scored).
        personalised (list of str): patterns of the personalised parameters (MeLU's decision and output layers
            by default).
        gradient (str): ``'norm'`` (default; the paper's mean gradient norm) or ``'spread'``.
        pool (int): gradient scores are computed for the ``pool`` most-rated training items only (the others'
            popularity score is lower, and each pool item costs one vector of the personalised parameters'
            size); popularity is normalised over every rated item.

    Returns:
        dict of np.ndarray, one entry per pool item, most-rated first: ``item`` (ids), ``ratings`` (training
        count), ``score``, ``gradient_score``, ``popularity_score``, ``mean_gradient_norm``, ``gradient_spread``.
    """
    if gradient not in ("spread", "norm"):
        raise ValueError(f"gradient must be 'spread' or 'norm', got {gradient!r}")
    if not isinstance(pool, int) or isinstance(pool, bool) or pool < 1:
        raise ValueError(f"pool must be a positive integer, got {pool!r}")
    _, train_items, _ = split.train_interactions()
    all_counts = np.bincount(train_items, minlength=split.n_items).astype(np.float64)
    rated = np.flatnonzero(all_counts > 0)
    popularity_all = _min_max(all_counts[rated])
    order = np.argsort(-all_counts[rated], kind="stable")[:pool]
    items, counts, popularity_score = rated[order], all_counts[rated][order], popularity_all[order]
    mean_norm, spread = _item_gradient_statistics(
        model, split, personalised or DEFAULT_PERSONALISED, batch_size, items
    )
    gradient_score = _min_max(spread if gradient == "spread" else mean_norm)
    return {
        "item": items,
        "ratings": counts.astype(np.int64),
        "score": gradient_score * popularity_score,
        "gradient_score": gradient_score,
        "popularity_score": popularity_score,
        "mean_gradient_norm": mean_norm,
        "gradient_spread": spread,
    }


def select_evidence_candidates(
    model, dataset, k=20, personalised=None, gradient="norm", pool=1000, title_field=None, batch_size=32
):
    """MeLU's evidence candidates (see the module docstring), best first.

    Args:
        model (MetaRecommender): a trained model (MeLU).
        dataset (ColdStartDataset): its dataset, with ``cold_split``.
        k (int): how many items to return.
        personalised, gradient, pool, batch_size: as :func:`evidence_scores` (``pool`` >= ``k``).
        title_field (str): item field naming the items (default: the first of movie_title / title / name loaded).

    Returns:
        list of dict: ``item`` (token), ``title``, ``score``, ``gradient_score``, ``popularity_score``,
        ``mean_gradient_norm``, ``gradient_spread``, ``ratings``.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    split = getattr(dataset, "cold_split", None)
    if split is None:
        raise ValueError(
            "the dataset carries no cold-start split (build it with recbole_meta's data_preparation)"
        )
    if not isinstance(pool, int) or pool < k:
        raise ValueError(f"pool must be an integer >= k ({k}), got {pool!r}")
    scores = evidence_scores(model, split, personalised, gradient, pool, batch_size)
    top = np.argsort(-scores["score"], kind="stable")[:k]
    ids = scores["item"][top]
    tokens = dataset.field2id_token[dataset.iid_field][ids]
    titles = item_titles(dataset, ids, title_field)
    fields = ("score", "gradient_score", "popularity_score", "mean_gradient_norm", "gradient_spread")
    return [
        {
            "item": str(tokens[j]),
            "title": titles[j],
            **{name: float(scores[name][t]) for name in fields},
            "ratings": int(scores["ratings"][t]),
        }
        for j, t in enumerate(top)
    ]


def check_evidence_config(config):
    """Before training: evidence candidates need an episodic model adapted by local gradient steps (MeLU).

    Raises :class:`~recbole_meta.input_checks.ConfigError` naming the model otherwise, so that a run is not trained
    only to fail at the end.
    """
    from recbole_meta.input_checks import ConfigError
    from recbole_meta.model.meta_recommender import MetaRecommender

    if not issubclass(config.model_class, MetaRecommender) or not config["local_update_steps"]:
        raise ConfigError(
            f"--evidence_candidates needs an episodic model adapted by local gradient steps such as MeLU "
            f"(local_update_steps > 0); {config['model']} has local_update_steps="
            f"{config['local_update_steps']}"
        )


def evidence_candidates_for_run(config, model_file, k=20):
    """Rebuild a run from its ``Config`` (same seed, same split), load ``model_file``, select the candidates."""
    from recbole_meta.checkpoint import load_checkpoint
    from recbole_meta.quick_start import build_run

    dataset, _, model, _ = build_run(config)
    model.load_state_dict(load_checkpoint(model_file, map_location=config["device"])["state_dict"])
    personalised = config["local_update_params"] if config["local_update_steps"] else None
    return select_evidence_candidates(model, dataset, k=k, personalised=personalised)


def format_candidates(candidates):
    """A plain-text table of the candidates."""
    lines = [f"{'rank':>4}  {'item':>8}  {'score':>6}  {'grad':>6}  {'pop':>6}  {'ratings':>7}  title"]
    for rank, c in enumerate(candidates, 1):
        lines.append(
            f"{rank:>4}  {c['item']:>8}  {c['score']:6.3f}  {c['gradient_score']:6.3f}  "
            f"{c['popularity_score']:6.3f}  {c['ratings']:>7}  {c['title'] or ''}"
        )
    return "\n".join(lines)
