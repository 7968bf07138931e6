r"""Pre-training and downstream tasks for PeterRec, built from a RecBole dataset.

Reference:
    Fajie Yuan et al. "Parameter-Efficient Transfer from Sequential Behaviors for User Modeling and
    Recommendation." SIGIR 2020 (arXiv:2001.04253): a user model pre-trained on behaviour sequences (the source
    domain) serves downstream tasks whose inputs are the same sequences: user profile prediction and cold-start
    recommendation of items of another domain.

Every task reads the user's chronological item sequence (the last ``MAX_ITEM_LIST_LENGTH`` items, right-padded)
from a RecBole dataset (``.inter`` with a time field; ``.user`` / ``.item`` features for labels and domains).
A *domain* restricts the items a sequence may contain:

* ``all``: every item;
* ``source``: items outside the target domain of ``target_domain`` (``{field: release_year, min: 1996}``: items
  whose numeric value is >= the threshold are the target domain; ``{field: class, contains: Horror}``: items
  carrying a token). Items whose field does not parse as a number belong to the source domain (counted in the
  task summary).

A user with no item of the domain is represented by the one-item sequence ``[MASK]`` ("nothing known"), kept in
every task and reported as the group ``no_source_history``; nobody is dropped silently.

Tasks (``downstream_task``):

* ``pretrain`` (``stage: pretrain``): sequences of the pre-training domain. Each user's last item is the test
  target and the one before the validation target (next-item prediction, full ranking); training sees windows of
  ``MAX_ITEM_LIST_LENGTH`` items over the rest (stride ``pretrain_window_stride``).
* a profile field (``gender``, ``age``, ``occupation``, or any token field of ``.user``): classification of a
  user from their sequence. Fields listed in ``label_buckets`` are numeric and bucketed (``age`` into
  <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+ by default). Users are split stratified by class into
  train / valid / test (``profile_split``); users without a label are excluded and counted.
* ``transfer``: cold-start recommendation of target-domain items from the source-domain sequence. Users with at
  least one target interaction are split into train / valid / test users (``transfer_split``); each keeps only
  their first ``target_max_per_user`` target interactions (chronologically), one row each. Test users have no
  target interaction in training: they are cold in the target domain. Every evaluation row has candidates:
  the positive and ``n`` negatives drawn uniformly without replacement from the target items the user never
  interacted with (RecBole's ``uniN``, the paper's 99), the same for every model of a seed; and, for full
  ranking, the user's other target items, which are excluded from the ranking.
"""

from recbole_meta.data.sequence_tasks.assembly import balanced_class_weights, pad_sequences, split_users
from recbole_meta.data.sequence_tasks.containers import (
    CANDIDATES_FIELD,
    DEFAULT_NEGATIVES,
    DOMAINS,
    NO_SOURCE_GROUP,
    PRETRAIN,
    TRANSFER,
    SequenceTask,
    TaskSplit,
)
from recbole_meta.data.sequence_tasks.pretrain_task import build_pretrain_task
from recbole_meta.data.sequence_tasks.profile_task import build_profile_task
from recbole_meta.data.sequence_tasks.readers import profile_labels, target_item_mask, user_histories
from recbole_meta.data.sequence_tasks.transfer_task import build_transfer_task

__all__ = [
    "CANDIDATES_FIELD",
    "DEFAULT_NEGATIVES",
    "DOMAINS",
    "NO_SOURCE_GROUP",
    "PRETRAIN",
    "TRANSFER",
    "SequenceTask",
    "TaskSplit",
    "balanced_class_weights",
    "build_pretrain_task",
    "build_profile_task",
    "build_task",
    "build_transfer_task",
    "pad_sequences",
    "profile_labels",
    "split_users",
    "target_item_mask",
    "user_histories",
]


def build_task(config, dataset, domain=None, n_negatives=DEFAULT_NEGATIVES, target_domain=None):
    """The task of ``config`` (``stage``, ``downstream_task``) on ``dataset``.

    ``domain`` and ``target_domain`` override ``pretrain_domain`` and ``target_domain``: a fine-tuning run
    passes those its backbone was pre-trained with, so that a profile task feeds it the items it knows.
    """
    domain = domain or config["pretrain_domain"]
    seed = config["seed"] if config["split_seed"] is None else config["split_seed"]
    if config["stage"] == PRETRAIN:
        return build_pretrain_task(config, dataset, domain)
    task_name = config["downstream_task"]
    if not task_name:
        raise ValueError("stage finetune needs downstream_task (a .user field such as gender, or transfer)")
    if task_name == TRANSFER:
        return build_transfer_task(config, dataset, seed, n_negatives)
    return build_profile_task(config, dataset, domain, seed, target_domain)
