"""Episodes (tasks) and meta-batches: one user per task, padded so that a meta-batch is processed at once.

A meta-batch is a RecBole :class:`~recbole.data.interaction.Interaction` of ``B`` tasks with the fields

==================  ==========  =================================================================
field               shape       content
==================  ==========  =================================================================
``user_id``         ``[B]``     the task's user (``USER_ID_FIELD``; remapped id)
``support_item``    ``[B, S]``  support item ids, padded with 0 (RecBole's padding id)
``support_rating``  ``[B, S]``  support ratings (raw units), 0 where padded
``support_mask``    ``[B, S]``  1.0 for a real rating, 0.0 for padding
``query_item``      ``[B, Q]``  query item ids, padded with 0
``query_rating``    ``[B, Q]``  query ratings, 0 where padded
``query_mask``      ``[B, Q]``  1.0 / 0.0
==================  ==========  =================================================================

``S`` and ``Q`` are the longest support / query in the meta-batch. Losses and metrics weigh every position by its
mask, so padding never changes a result (tested against the unpadded per-task path).

Training episodes are drawn from each training user's training ratings, *support first*, so that they look like
the test episodes (MeLU's released code does the same: support = the user's ratings minus a query of 10, at least 3):

* ``train_support_size: valid`` (default): the support size is drawn from the support sizes of the validation
  users' tasks (the test states' distribution, estimated without a test user); ``[low, high]``: uniform in that
  range; either way at least ``min_train_support`` and at most the user's ratings minus one. The query takes
  what remains, up to ``query_size``. Users with fewer than ``min_train_support + 1`` training ratings give no
  training task. A heavy user's support is thus a random subset of their ratings, redrawn every epoch.
* ``train_support_size: ~`` (the earlier behaviour, kept as an ablation): query first, a random ``query_size``
  of the ratings (fewer when the user has few, keeping ``min_support_size`` for the support), the rest the
  support; most ml-100k training supports then hold 1-3 ratings while test supports hold about 24.

With ``resample_episodes: True`` the draw is repeated every epoch (fixed query sets are memorised otherwise);
test and validation episodes are fixed by the split.
"""

import math
from collections import OrderedDict

import numpy as np
import torch
from recbole.data.interaction import Interaction

from recbole_meta.input_checks import check_option

SUPPORT_ITEM, SUPPORT_RATING, SUPPORT_MASK = "support_item", "support_rating", "support_mask"
QUERY_ITEM, QUERY_RATING, QUERY_MASK = "query_item", "query_rating", "query_mask"
NOT_FULL_SORT = (
    "these are episodic loaders (one task per user, scored after adapting to the task's support): RecBole's "
    "full_sort_topk / full_sort_scores do not apply; use recbole_meta.serving.ColdStartRecommender "
    "(python -m recbole_meta.recommend) with the user's ratings"
)
TASK_FIELDS = (SUPPORT_ITEM, SUPPORT_RATING, SUPPORT_MASK, QUERY_ITEM, QUERY_RATING, QUERY_MASK)


def task_tensors(batch, user_field):
    """``(user, support item, rating, mask, query item, rating, mask)`` tensors of a meta-batch, ``[B, ...]``."""
    return (batch[user_field],) + tuple(batch[field] for field in TASK_FIELDS)


def _pad(rows_list, values, fill, dtype):
    width = max(len(rows) for rows in rows_list)
    out = np.full((len(rows_list), max(width, 1)), fill, dtype=dtype)
    for b, rows in enumerate(rows_list):
        out[b, : len(rows)] = values[rows]
    return out


def collate_tasks(split, tasks, uid_field, dtype=torch.float32):
    """Pad a list of :class:`~recbole_meta.data.cold_start_split.Task` into one meta-batch ``Interaction``."""
    supports = [t.support for t in tasks]
    queries = [t.query for t in tasks]
    s_mask = _pad(supports, np.ones(len(split.items)), 0.0, np.float64)
    q_mask = _pad(queries, np.ones(len(split.items)), 0.0, np.float64)
    batch = {
        uid_field: torch.as_tensor(np.array([t.user for t in tasks], dtype=np.int64)),
        SUPPORT_ITEM: torch.as_tensor(_pad(supports, split.items, 0, np.int64)),
        SUPPORT_RATING: torch.as_tensor(_pad(supports, split.ratings, 0.0, np.float64), dtype=dtype),
        SUPPORT_MASK: torch.as_tensor(s_mask, dtype=dtype),
        QUERY_ITEM: torch.as_tensor(_pad(queries, split.items, 0, np.int64)),
        QUERY_RATING: torch.as_tensor(_pad(queries, split.ratings, 0.0, np.float64), dtype=dtype),
        QUERY_MASK: torch.as_tensor(q_mask, dtype=dtype),
    }
    return Interaction(batch)


def one_task_batch(uid_field, user, support_items, support_ratings, query_items, dtype=torch.float32):
    """A meta-batch holding one task given as plain lists (a user's ratings in serving): the same fields and
    padding as :func:`collate_tasks`; the query's ratings are unknown (zeros)."""

    def row(values, row_dtype):
        out = torch.zeros(1, max(len(values), 1), dtype=row_dtype)
        out[0, : len(values)] = torch.as_tensor(values, dtype=row_dtype)
        return out

    batch = {
        uid_field: torch.tensor([user]),
        SUPPORT_ITEM: row(support_items, torch.long),
        SUPPORT_RATING: row(support_ratings, dtype),
        SUPPORT_MASK: row([1.0] * len(support_items), dtype),
        QUERY_ITEM: row(query_items, torch.long),
        QUERY_RATING: torch.zeros(1, max(len(query_items), 1), dtype=dtype),
        QUERY_MASK: row([1.0] * len(query_items), dtype),
    }
    return Interaction(batch)


class EpisodeLoader:
    """Iterates over meta-batches of tasks (``Interaction`` objects, see the module docstring).

    Args:
        config (Config): reads ``meta_batch_size`` / ``eval_meta_batch_size``, ``query_size``,
            ``min_support_size``, ``resample_episodes``, ``bucket_by_length`` (training meta-batches of similar
            support length, :func:`length_buckets`), ``seed``, ``USER_ID_FIELD``.
        split (ColdStartSplit): the split the tasks come from.
        tasks (list of Task): fixed tasks (evaluation); ``None`` draws training tasks from ``split.train_rows``.
        name (str): what the loader holds (``train``, ``valid`` or a state), for logs and results.
    """

    def __init__(self, config, split, tasks=None, name="train"):
        self.config = config
        self.split = split
        self._dataset = split.dataset
        self.name = name
        self.training = tasks is None
        self.uid_field = config["USER_ID_FIELD"]
        key = "meta_batch_size" if self.training else "eval_meta_batch_size"
        self.batch_size = check_option(config, key, "positive integer")
        self.shuffle = self.training
        self.resample = bool(config["resample_episodes"])
        self.bucket = bool(config["bucket_by_length"])
        self.dtype = torch.get_default_dtype()
        self._rng = np.random.default_rng([int(config["seed"]), 3])
        if self.training:
            self.support_sizes, self.min_train_support = training_support_sizes(config, split)
        self._tasks = list(tasks) if tasks is not None else self.sample_training_tasks()

    @property
    def dataset(self):
        return self._dataset

    @property
    def tasks(self):
        return self._tasks

    def sample_training_tasks(self):
        """One task per training user (see the module docstring: support first, or query first with ``~``)."""
        from recbole_meta.data.cold_start_split import Task

        q_max, min_s = self.split.query_size, self.split.min_support
        tasks = []
        if self.support_sizes is None:
            for user in self.split.train_users:
                rows = self._rng.permutation(self.split.train_rows[int(user)])
                q = max(1, min(q_max, len(rows) - min_s))
                tasks.append(Task(user, rows[q:], rows[:q]))
            return tasks
        users = [
            u for u in self.split.train_users if len(self.split.train_rows[int(u)]) > self.min_train_support
        ]
        drawn = self._rng.choice(self.support_sizes, size=len(users), replace=True)
        for user, size in zip(users, drawn):
            rows = self._rng.permutation(self.split.train_rows[int(user)])
            s = int(min(max(size, self.min_train_support), len(rows) - 1))
            tasks.append(Task(user, rows[:s], rows[s : s + q_max]))
        return tasks

    def _batches(self):
        """Task indices of each meta-batch, in the order they are served (see :func:`length_buckets`)."""
        n = len(self._tasks)
        # evaluation keeps the task order: its predictions are indexed by task (the engine still pads each
        # length chunk of a batch to its own longest support)
        if self.bucket and self.training:
            lengths = np.array([len(t.support) for t in self._tasks], dtype=np.int64)
            return length_buckets(lengths, self.batch_size, self._rng if self.shuffle else None)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]

    def __iter__(self):
        if self.training and self.resample:
            self._tasks = self.sample_training_tasks()
        for index in self._batches():
            yield collate_tasks(self.split, [self._tasks[i] for i in index], self.uid_field, self.dtype)

    def __len__(self):
        return math.ceil(len(self._tasks) / self.batch_size)

    @property
    def is_sequential(self):
        # RecBole's full_sort_scores reads this first; an episodic loader has no full-sort meaning (see below)
        raise AttributeError(NOT_FULL_SORT)

    def __repr__(self):
        return f"EpisodeLoader({self.name}: {len(self._tasks)} tasks, {len(self)} meta-batches)"


def length_buckets(lengths, batch_size, rng=None):
    """Meta-batches of tasks of similar support length: task indices of each batch, in serving order.

    All tasks are sorted by support length (ties in a random order) and cut into consecutive batches of
    ``batch_size``, so that each batch is padded only to its own longest support, which is close to its
    shortest; the order of the batches is then shuffled. With ``rng`` (a seeded ``numpy.random.Generator``)
    the tie order and the batch order are drawn from it, the same on every rank of a multi-process run (each
    rank draws the same numbers from the same seed); without it, ties keep task order and batches are served
    from the shortest. Every task appears in exactly one batch.
    """
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


# Fixed cost of one more vectorised call over a chunk of a meta-batch, in support positions (see length_chunks):
# measured on ml-100k's MeLU-5 meta-steps, a chunk costs about as much as 100-200 padded support positions, so
# smaller costs split more and ran slower; at 128 the default batches pad about 11% of support positions.
CHUNK_COST_POSITIONS = 128


def length_chunks(lengths, cost=CHUNK_COST_POSITIONS):
    """Tasks of one meta-batch in chunks of similar support length, each to be padded to its own longest only.

    Chooses consecutive chunks of the tasks sorted by length that minimise the padded positions plus ``cost``
    per chunk (an exact dynamic programme over the sorted lengths; a meta-batch of one length is one chunk).
    The meta-batch itself is unchanged: its losses are computed chunk by chunk and put back in task order.

    Returns:
        list of numpy.ndarray: task indices of each chunk, together every task once.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    ordered = lengths[order]
    n = len(ordered)
    best = np.zeros(n + 1)  # best[j]: cheapest cover of the first j sorted tasks
    start = np.zeros(n + 1, dtype=np.int64)
    for j in range(1, n + 1):
        # a last chunk of tasks i..j-1 costs (j - i) * ordered[j - 1] + cost
        candidates = best[:j] + (j - np.arange(j)) * ordered[j - 1] + cost
        start[j] = int(np.argmin(candidates))
        best[j] = candidates[start[j]]
    chunks, j = [], n
    while j > 0:
        chunks.append(order[start[j] : j])
        j = start[j]
    return chunks[::-1]


def support_padding_waste(batches, chunked=True):
    """Share of the support positions computed on that are padding, over meta-batches (``Interaction``).

    With ``chunked`` (what the vectorised MAML computes) each meta-batch counts as its
    :func:`length_chunks`, each padded to its own longest support; otherwise as one block padded to its longest.
    """
    padded = real = 0
    for batch in batches:
        lengths = batch[SUPPORT_MASK].sum(dim=1).long().numpy()
        groups = length_chunks(lengths) if chunked else [np.arange(len(lengths))]
        padded += sum(len(g) * max(int(lengths[g].max()), 1) for g in groups)
        real += int(lengths.sum())
    return 1.0 - real / padded if padded else 0.0


def training_support_sizes(config, split):
    """(support sizes to draw from, or ``None`` for query-first episodes; ``min_train_support``) from the config."""
    from recbole_meta.data.cold_start_split import VALID_STATE

    minimum = check_option(config, "min_train_support", "positive integer")
    value = config["train_support_size"]
    if value is None:
        return None, minimum
    if value == "valid":
        sizes = np.array([len(t.support) for t in split.tasks[VALID_STATE]], dtype=np.int64)
        return sizes, minimum
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and minimum <= value[0] <= value[1]
    ):
        return np.arange(value[0], value[1] + 1, dtype=np.int64), minimum
    raise ValueError(
        f"train_support_size must be 'valid', [low, high] with min_train_support ({minimum}) <= low <= high, "
        f"or ~ (query first), got {value!r}"
    )


class StateLoaders(OrderedDict):
    """Evaluation loaders by cold-start state (``warm``, ``user_cold``, ...); the trainer evaluates each."""

    @property
    def is_sequential(self):
        raise AttributeError(NOT_FULL_SORT)

    @property
    def dataset(self):
        return next(iter(self.values())).dataset
