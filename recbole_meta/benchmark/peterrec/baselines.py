r"""Simple baselines on PeterRec's tasks: bag-of-items logistic regression, majority class, popularity.

They read the same task splits as PeterRec (:mod:`recbole_meta.data.sequence_tasks`) and are scored by the
same metric code (RecBole's evaluator, the package's classification metrics), so they sit in the same table as the sequence models.

* **Bag-of-items logistic regression** (scikit-learn): a user is the binary vector of the items in their input
  sequence (``history="sequence"``: exactly what the sequence models see, the last ``MAX_ITEM_LIST_LENGTH``
  items of the domain) or in their whole history of the domain (``history="full"``). Profile tasks: a
  multinomial logistic regression with class-balanced weights (``class_weight="balanced"``); transfer: a
  multinomial logistic regression over the target items, scoring every target item. ``C`` (inverse L2
  strength) is chosen on the validation split from a small grid, as the neural models early-stop on it.
* **Majority class** (profile) and **popularity** (transfer: number of training rows per target item, ties
  broken by a seeded jitter).
"""

import numpy as np
import scipy.sparse as sp
import torch
from recbole.data.interaction import Interaction
from recbole.evaluator import Collector, Evaluator
from sklearn.linear_model import LogisticRegression

from recbole_meta.data.sequence_tasks import CANDIDATES_FIELD, user_histories
from recbole_meta.evaluator.classification_metrics import classification_scores as profile_scores

C_GRID = (0.01, 0.1, 1.0)


def bag_of_items(split, history="sequence", dataset=None):
    """Binary ``[rows, vocab]`` CSR matrix of the items a row's user has (padding and ``[MASK]`` dropped)."""
    task = split.task
    if history == "sequence":
        seq = split.fields[task.item_field + "_list"].numpy()
        rows, cols = np.nonzero((seq > 0) & (seq != task.mask_token))
        cols = seq[rows, cols]
    elif history == "full":
        if dataset is None:
            raise ValueError("bag_of_items(history='full') needs the RecBole dataset")
        histories = user_histories(dataset)
        allowed = np.zeros(task.vocab_size, dtype=bool)
        allowed[task.domain_items] = True
        users = split.fields[dataset.uid_field].numpy()
        items = [h[allowed[h]] for h in (histories[u] for u in users)]
        rows = np.concatenate([np.full(len(i), r) for r, i in enumerate(items)]) if items else np.array([])
        cols = np.concatenate(items) if items else np.array([])
    else:
        raise ValueError(f"history must be sequence or full, got {history!r}")
    data = np.ones(len(rows), dtype=np.float64)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(split), task.vocab_size))
    matrix.data[:] = 1.0  # duplicates (repeated items) count once
    return matrix


def balanced_logistic_on_valid(x, y, c_grid, seed):
    """The class-balanced logistic regression fitted on ``x["train"]`` whose ``C`` (of ``c_grid``) gives the best
    validation macro-F1 (the first on ties); returns ``(C, model)``. ``x`` / ``y``: features / labels by phase.
    """
    best = None
    for c in c_grid:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
        model.fit(x["train"], y["train"])
        score = profile_scores(y["valid"], model.predict(x["valid"]))["macrof1"]
        if best is None or score > best[0]:
            best = (score, c, model)
    return best[1], best[2]


def fit_profile_logistic(task, history="sequence", dataset=None, c_grid=C_GRID, seed=0):
    """Class-balanced bag-of-items logistic regression; returns test metrics and the ``C`` chosen on valid."""
    x = {p: bag_of_items(task.splits[p], history, dataset) for p in task.splits}
    y = {p: task.splits[p].fields["label"].numpy() for p in task.splits}
    c, model = balanced_logistic_on_valid(x, y, c_grid, seed)
    return profile_scores(y["test"], model.predict(x["test"])), {"C": c}


def majority_class(task):
    train = task.splits["train"].fields["label"].numpy()
    majority = np.bincount(train).argmax()
    test = task.splits["test"].fields["label"].numpy()
    return profile_scores(test, np.full(len(test), majority))


def ranking_metrics(config, split, scores, mode):
    """MRR@k / Hit@k (``config``'s metrics) of ``scores`` ``[rows, n_outputs]`` with RecBole's evaluator.

    ``mode`` ``candidates``: only the row's sampled candidates are ranked; ``full``: every output except
    padding and the row's other positives (its history, when the split has one).
    """
    scores = torch.as_tensor(scores, dtype=torch.float32).clone()
    fields = split.fields
    positives = fields[split.task.item_field]
    if mode == "candidates":
        masked = torch.full_like(scores, -np.inf)
        candidates = fields[CANDIDATES_FIELD]
        masked.scatter_(1, candidates, scores.gather(1, candidates))
        scores = masked
    elif mode == "full":
        scores[:, 0] = -np.inf
        for row, history in enumerate(split.history or ()):
            scores[row, torch.as_tensor(history, dtype=torch.long)] = -np.inf
    else:
        raise ValueError(f"mode must be candidates or full, got {mode!r}")
    collector, evaluator = Collector(config), Evaluator(config)
    interaction = Interaction({split.task.item_field: positives})
    collector.eval_batch_collect(scores, interaction, torch.arange(len(scores)), positives)
    return {k: float(v) for k, v in evaluator.evaluate(collector.get_data_struct()).items()}


def _jitter(shape, seed):
    return np.random.default_rng(seed).uniform(0, 1e-6, size=shape)


def popularity_scores(task, seed=0):
    """Every row scores each target item by its number of training rows (+ a tie-breaking jitter)."""
    counts = np.bincount(task.splits["train"].fields[task.item_field].numpy(), minlength=task.n_outputs)
    return {
        phase: counts[None, :] + _jitter((len(task.splits[phase]), task.n_outputs), seed)
        for phase in ("valid", "test")
    }


def transfer_logistic_scores(task, history="sequence", dataset=None, c=1.0, seed=0):
    """Log-probabilities of every target item from a multinomial logistic regression on the source bag."""
    x = {p: bag_of_items(task.splits[p], history, dataset) for p in task.splits}
    y = task.splits["train"].fields[task.item_field].numpy()
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(x["train"], y)
    out = {}
    for phase in ("valid", "test"):
        log_proba = model.predict_log_proba(x[phase])
        scores = np.full((len(task.splits[phase]), task.n_outputs), log_proba.min() - 1.0)
        scores[:, model.classes_] = log_proba
        out[phase] = scores + _jitter(scores.shape, seed)
    return out


def fit_transfer_logistic(config, task, history="sequence", dataset=None, c_grid=C_GRID, seed=0):
    """Bag-of-items logistic regression for transfer; ``C`` chosen by validation MRR (sampled candidates)."""
    valid_metric = config["valid_metric"].lower()
    best = None
    for c in c_grid:
        scores = transfer_logistic_scores(task, history, dataset, c, seed)
        valid = ranking_metrics(config, task.splits["valid"], scores["valid"], "candidates")[valid_metric]
        if best is None or valid > best[0]:
            best = (valid, c, scores)
    return best[2], {"C": best[1]}
