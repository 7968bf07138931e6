"""Suite ``cold_start_builtins``: RecBole's built-in recommenders on exactly the cold-start tasks of ``cold_start``.

The split is ``cold_start``'s (its ``SHARED`` config and seeds, imported, so the two suites cannot drift apart):
the same users, items, supports and queries for every seed. Rows:

* ``UserItemBias`` and ``MeLU-5``, run as in ``cold_start`` with the full-catalogue ranking switched on;
* RecBole's ``Pop``, ``BPR``, ``NeuMF``, ``LightGCN``, ``FM`` and ``DeepFM`` (FM and DeepFM with the user and
  item features MeLU embeds), trained by RecBole's trainer on the training interactions plus every test
  user's support set and scored by :mod:`recbole_meta.benchmark.cold_start.builtin_models` on the same tasks.

Why a suite of its own rather than rows of ``cold_start``: the full-catalogue metrics need
``full_ranking_topk`` on for the episodic rows too, and adding it to ``cold_start``'s shared config would change
the hash of every one of its runs (all of them would be run again); the built-ins have no MAE, the metric
``cold_start`` compares on, so here the comparison is by ranking (full-catalogue NDCG@10).

Run each seed separately on a busy 2-core machine::

    for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_builtins --seeds $s; done
    python -m recbole_meta.benchmark cold_start_builtins --report-only
"""

from recbole_meta.benchmark import Suite, recbole_run, register_suite
from recbole_meta.benchmark.cold_start.builtin_models import builtin_run
from recbole_meta.benchmark.plots import plot_suite
from recbole_meta.benchmark.suites.cold_start import QUICK, SHARED

# the full-catalogue ranking of the episodic rows; the bridge reads the same keys for the built-ins
RANKING = {"full_ranking_topk": [10], "full_ranking_threshold": 4}
# RecBole's defaults for everything else (each model's own yaml: embedding size 64, ...). RecBole's default
# batch of 2048 would give 8 updates an epoch on these ~15k interactions; its patience of 10 epochs stopped
# LightGCN inside the noise of the validation score (58 validation users) at its first epoch on seed 0.
RECBOLE = {"epochs": 300, "stopping_step": 30, "train_batch_size": 512, "learning_rate": 0.001}
BUILTINS = ["Pop", "BPR", "NeuMF", "LightGCN", "FM", "DeepFM"]
PLOTTED = ["gradedndcg@3", "full_ndcg@10", "full_recall@10"]


def _plot(summary, path):
    return plot_suite(
        summary, path, metrics=[m for m in PLOTTED if any(m in summary.metrics[s] for s in summary.states)]
    )


@register_suite("cold_start_builtins")
def cold_start_builtins(options):
    return Suite(
        name="cold_start_builtins",
        description=(
            "The `cold_start` split of ml-100k (same config and seeds: users with 13-100 ratings, 70/10/20 "
            "existing / validation / new users, items released in 1997 or later new, query 10) and the same "
            "test tasks. RecBole built-ins are trained by RecBole's own trainer on the training interactions "
            "plus every test user's support set (never a query rating) as implicit feedback (one uniform "
            "negative per interaction), RecBole's default hyperparameters, batch 512, at most 300 epochs with "
            "early stopping on the validation users' full-sort NDCG@10 (patience 30); FM and DeepFM embed "
            "MeLU's user features (gender, age, occupation, zip) and item features (release year, genres) "
            "besides the ids. Every model is scored on each task's query items (graded NDCG@1/@3 within the "
            "query, gain 2^r - 1) and on the whole catalogue of the state's side, support masked, query "
            "ratings >= 4 positive (full Recall/NDCG/Hit@10; users without one left out). The built-ins "
            "score interactions, not ratings: MAE and RMSE are not applicable to them (n/a). ID models (BPR, "
            "NeuMF, LightGCN) have no training signal for new items (only their random initial embedding, "
            "pushed down as sampled negatives), and Pop scores every new item 0, so its item_cold / "
            "user_item_cold rankings are the candidates' id order."
        ),
        config={**SHARED, **RANKING},
        quick_config=QUICK,
        seeds=(0, 1, 2, 3, 4),
        runs=[recbole_run("UserItemBias", "UserItemBias"), recbole_run("MeLU-5", "MeLU")]
        + [builtin_run(name, name, RECBOLE) for name in BUILTINS],
        compare="MeLU-5",
        primary_metric="full_ndcg@10",
        info_columns=("epochs_run", "best_epoch"),
        plot_hook=_plot,
        regenerate_command=(
            "for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_builtins --seeds $s; "
            "done; python -m recbole_meta.benchmark cold_start_builtins --report-only"
        ),
    )
