"""Suites of the cold-start meta-learners (MeLU; Lee et al., KDD 2019) on ml-100k.

* ``cold_start`` -- the cold-start protocol of ``recbole_meta/data/cold_start_split.py`` (users with 13-100
  ratings; 70/10/20 existing / validation / new users; items released in 1997 or later are new; query 10),
  MeLU's four states. Every run builds the same split for a seed and is evaluated by the same code: the simple
  baselines (global mean, item mean, user support mean, user mean + shrunk item bias, biased MF with the user
  folded in from the support), MeLU-1 and MeLU-5,
  plain MAML (every parameter adapted), the same network trained without meta-learning and fine-tuned on the
  support at test time, and three levers: MeLU-5 predicting the residual over the bias model, MeLU-5 on
  fixed episodes (support/query drawn once instead of every epoch) and MeLU-5 with the item id as a feature;
  ablations of the
  episode protocol (query-first episodes, the residual model without the leave-one-out item bias, warm queries
  held out from half of the users); a training pool with the heavy users (bias, MF fold-in, MeLU-5 variants); and
  MeLU's own item-state protocol. MAE, RMSE, graded NDCG@1/@3.

Every MeLU row trains on meta-batches of tasks of similar support length (``bucket_by_length: True``, the
default); against tasks in a random order: the ``cold_start_batching`` suite (accuracy, padding) and
``cold_start_speed`` (the cost of a meta-step), each in its own module.

Run each seed separately on a busy 2-core machine (each invocation stays under about 10 minutes)::

    for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start --seeds $s; done
    python -m recbole_meta.benchmark cold_start --report-only
"""

from recbole_meta.benchmark import Suite, recbole_run, register_suite
from recbole_meta.benchmark.effects import Effect, against, effects_table, gap_share_table
from recbole_meta.benchmark.suite import QUICK_DATA_PATH, TINY_EPISODES

_TINY = QUICK_DATA_PATH

# The episode protocol is named explicitly (training episodes support first, sizes like the validation tasks;
# leave-one-out item bias in training), so that results measured under another protocol are not reused.
SHARED = {
    "dataset": "ml-100k",
    "meta_num_threads": 1,
    "train_support_size": "valid",
    "min_train_support": 3,
    "bias_leave_one_out": True,
}
QUICK = {
    "dataset": "tiny",
    "data_path": _TINY,
    "epochs": 1,
    **TINY_EPISODES,
    "new_user_ratio": 0.25,
    "valid_user_ratio": 0.15,
    "embedding_size": 4,
    "mlp_hidden_size": [8, 8],
}
# MeLU's defaults (properties/model/MeLU.yaml): 30 epochs at most, early stopping on the validation users' MAE.
VARIANTS = [
    ("MeLU-5", {}),
    ("MeLU-1", {"local_update_steps": 1}),
    # plain MAML: every parameter (embeddings too) adapted per user
    ("MAML-all", {"local_update_params": "all"}),
    # the same network trained on all ratings without the inner loop, fine-tuned on the support (5 steps)
    ("NoMeta-finetune", {"meta_train": False}),
    # levers: residual over the bias model; fixed episodes instead of resampling
    ("MeLU-5-residual", {"predict_residual": True}),
    ("MeLU-5-fixed-episodes", {"resample_episodes": False}),
    # lever: the item's identity as a feature (new items map to the padding embedding)
    ("MeLU-5-item-id", {"item_features": ["item_id", "release_year", "class"]}),
    # episode ablations: the earlier query-first episodes (most training supports 1-3 ratings); the residual
    # model with the plain item bias in training (a training query's own rating inside its b_i)
    ("MeLU-5-query-first", {"train_support_size": None}),
    ("MeLU-5-residual-no-loo", {"predict_residual": True, "bias_leave_one_out": False}),
    # training pool: warm queries held out from half of the existing users only
    ("MeLU-5-warm-holdout-0.5", {"warm_holdout_fraction": 0.5}),
]
BASELINES = ["GlobalMean", "ItemMean", "UserMean", "UserItemBias", "MFFoldIn"]
# A training pool that holds more signal: users above 100 ratings as meta-training users only (test and
# validation users and tasks unchanged), every model of the group on it.
HEAVY = {"heavy_users_for_training": True}
POOL_RUNS = [
    ("UserItemBias-heavy-users", "UserItemBias", HEAVY),
    ("MFFoldIn-heavy-users", "MFFoldIn", HEAVY),
    ("MeLU-5-heavy-users", "MeLU", HEAVY),
    ("MeLU-5-item-id-heavy-users", "MeLU", {**HEAVY, "item_features": ["item_id", "release_year", "class"]}),
    ("MeLU-5-residual-heavy-users", "MeLU", {**HEAVY, "predict_residual": True}),
]
# MeLU's released code: item_cold / user_item_cold supports from the state's own (new) items
STATE_RUNS = [
    ("UserItemBias-state-protocol", "UserItemBias", {"item_state_support": "state"}),
    ("MeLU-5-state-protocol", "MeLU", {"item_state_support": "state"}),
]


# What each protocol change and lever does, paired by seed: the row with the change against its reference. The
# old default episode protocol is the query-first row (the leave-one-out bias only matters to the residual model).
EFFECTS = [
    *against(
        "MeLU-5-query-first",
        {
            "support-first training episodes (the default) instead of query-first": "MeLU-5",
            "the residual model against the earlier default (query-first MeLU-5)": "MeLU-5-residual",
        },
    ),
    *against(
        "MeLU-5-residual-no-loo", {"leave-one-out item bias in training (residual model)": "MeLU-5-residual"}
    ),
    *against(
        "MeLU-5",
        {
            "warm queries held out from half of the existing users only": "MeLU-5-warm-holdout-0.5",
            "episodes drawn once instead of every epoch": "MeLU-5-fixed-episodes",
            "heavy users as meta-training users": "MeLU-5-heavy-users",
            "residual over the bias model": "MeLU-5-residual",
            "item id as a feature": "MeLU-5-item-id",
            "one local step": "MeLU-1",
            "every parameter adapted (plain MAML)": "MAML-all",
            "no meta-training (fine-tuned at test time)": "NoMeta-finetune",
        },
    ),
    *against(
        "UserItemBias",
        {
            "heavy users as training users (bias model)": "UserItemBias-heavy-users",
            "the residual model against the bias model itself": "MeLU-5-residual",
        },
    ),
    *against(
        "MeLU-5-heavy-users",
        {
            "residual over the bias model, heavy-user pool": "MeLU-5-residual-heavy-users",
            "item id as a feature, heavy-user pool": "MeLU-5-item-id-heavy-users",
        },
    ),
]
STATE_EFFECTS = [
    Effect("item-state supports from the state's own items (MeLU's code)", "MeLU-5-state-protocol", "MeLU-5"),
    Effect("the same for the bias model", "UserItemBias-state-protocol", "UserItemBias"),
]


def _report(summary):
    """The heavy-user pool against the bias model and MF fold-in, and each protocol change's paired effect."""
    pool = [name for name, _, _ in POOL_RUNS]
    return "\n".join(
        [
            "### Heavy-user training pool: user_cold MAE against the bias model and MF fold-in",
            "",
            gap_share_table(summary, pool, "UserItemBias-heavy-users", "MFFoldIn-heavy-users", "user_cold"),
            "### What each protocol change and lever does (user_cold MAE, paired by seed)",
            "",
            effects_table(summary, EFFECTS, "user_cold"),
            "Why the defaults are what they are: support-first episodes and episodes redrawn every epoch are the "
            "defaults because the validation users prefer them (validation column); the leave-one-out item bias "
            "keeps a training query's own rating out of the bias terms a model is given (a train/test "
            "consistency fix, it touches only models fed the bias terms); warm queries stay held out from every "
            "existing user because a smaller fraction shrinks the warm test state to fewer users; the residual "
            "model and the item id stay options because MeLU-5 is the paper's model and these rows are the "
            "levers on it.",
            "",
            "### MeLU's item-state protocol (item_cold MAE, paired by seed)",
            "",
            effects_table(summary, STATE_EFFECTS, "item_cold"),
        ]
    )


def episodic_suite(name, description, runs, compare, baselines, config=SHARED, quick_config=QUICK, **options):
    """A suite of episodic models on this protocol: 5 seeds, the paired comparison by MAE, the epochs trained
    as columns, one invocation per seed in the regenerate command (each stays under about 10 minutes)."""
    seeds = (0, 1, 2, 3, 4)
    return Suite(
        name=name,
        description=description,
        config=config,
        quick_config=quick_config,
        seeds=seeds,
        runs=runs,
        compare=compare,
        baselines=baselines,
        primary_metric="mae",
        info_columns=("epochs_run", "best_epoch"),
        regenerate_command=(
            f"for s in {' '.join(map(str, seeds))}; do nice -n 10 python -m recbole_meta.benchmark {name} "
            f"--seeds $s; done; python -m recbole_meta.benchmark {name} --report-only"
        ),
        **options,
    )


@register_suite("cold_start")
def cold_start(options):
    return episodic_suite(
        name="cold_start",
        description=(
            "ml-100k (RecBole's embedded copy), MeLU's cold-start states. Users with 13-100 ratings (582), "
            "split 70/10/20 into existing / validation / new users by the seed; items released in 1997 or "
            "later (and the two with a non-numeric year) are new. Meta-training sees existing users x "
            "existing items minus each existing user's 10 held-out warm-query ratings. Training episodes are "
            "drawn support first (its size from the validation tasks' support sizes, at least 3; the query the "
            "rest, up to 10; redrawn every epoch), and in training the item bias leaves out the task user's own "
            "rating. Test tasks: support = "
            "the user's known existing-item ratings, query = 10 ratings: warm (existing users, held-out "
            "existing items), user_cold (new users, existing items), item_cold (existing users, new items), "
            "user_item_cold (new users, new items). Ratings in raw 1-5 units; predictions clipped to [1, 5]; "
            "graded NDCG (gain 2^r - 1) within each query. MeLU: user gender/age/occupation/zip and item "
            "release_year/genres embedded (32 each), decision layers 64-64, local lr 0.01, Adam 0.001, "
            "meta-batch 32 (tasks of similar support length), second order, at most 30 epochs with early "
            "stopping on the validation users' MAE (patience 5); one torch thread per run. Baselines have nothing to train: mean training rating, "
            "item mean, mean of the support, and mu + b_i + b_u shrunk (lambda 10 / 5); MFFoldIn: biased MF "
            "(ALS, k 8, lambda 10) on the training ratings, each user's factor and bias by ridge on the support. "
            "Rows ending -heavy-users add the users with more than 100 ratings as meta-training users only (test "
            "and validation tasks unchanged); -state-protocol rows draw item_cold / user_item_cold supports from "
            "the user's other new-item ratings (MeLU's released code)."
        ),
        runs=[recbole_run(name, name) for name in BASELINES]
        + [recbole_run(name, "MeLU", config=overrides) for name, overrides in VARIANTS]
        + [recbole_run(name, model, config=overrides) for name, model, overrides in POOL_RUNS + STATE_RUNS],
        compare="MeLU-5",
        baselines=BASELINES,
        report_hook=_report,
    )
