"""SSLTwoTower on a synthetic long-tail corpus where the paper's claim can be tested (Yao et al., CIKM 2021).

* ``two_tower_synthetic`` -- the corpus of :mod:`recbole_meta.benchmark.synthetic.retrieval_corpus` (Zipf popularity
  over 50k items independent of the features; affinity carried by brand, category and the multi-valued tags;
  correlated feature groups), its fixed per-user 80/10/10 split, full-sort ranking of all items. TwoTower (no SSL) against SSL
  with RFM and with CFM, on the full training set and on 10% of each user's training interactions (same valid
  and test sets), paired by seed; each seed is its own corpus. The Oracle rows rank by the planted logit (the
  ceiling); TwoTower-featuresOnly drops the item id from the item tower (can features alone reach the tail?).
* ``two_tower_synthetic_tuning`` -- how the SSL hyperparameters of ``two_tower_synthetic`` were chosen: a
  small grid scored on the validation split of one corpus.
* ``two_tower_synthetic_cold`` -- the item-cold split (items 80/10/10, test items never trained on, ranked among
  themselves) of the earlier, smaller corpus (2k users, 20k items, 50k interactions, no tag affinity).
* ``two_tower_synthetic_1m`` -- the same generator at 1M interactions (5k users, 50k items): TwoTower against
  SSL-RFM with all the data and with 10%, each setting with its validation-chosen alpha.

``two_tower_synthetic`` is sized for a shared 2-core machine: 5k users, 50k items, 100k interactions (80k training
ones); the size asked, >= 1M interactions, is ``two_tower_synthetic_1m``'s.
"""

import dataclasses
import os

import numpy as np

from recbole_meta.benchmark import Run, RunResult, Suite, register_suite
from recbole_meta.benchmark.recbole_run import train_and_test
from recbole_meta.benchmark.suites.two_tower import pair_rows, ssl_effect_report

TOPK = 50
# 50k items as asked, 100k interactions (not the 1M asked: a 1M-interaction epoch is 1563 steps of about 33 ms of
# CPU each here, 52 s of CPU, about 5 minutes of wall time at the shared machine's load of about 10 on 2 cores;
# the suite's runs would not fit). tag_bonus: the multi-valued tags carry affinity of their own.
CORPUS = {"n_users": 5_000, "n_items": 50_000, "n_interactions": 100_000, "tag_bonus": 2.0}
# The item-cold suite keeps the earlier, smaller corpus (no tag affinity) on which its runs were measured.
COLD_CORPUS = {"n_users": 2_000, "n_items": 20_000, "n_interactions": 50_000}
QUICK_CORPUS = {"n_users": 60, "n_items": 400, "n_interactions": 1_800}
LOW_FRACTION = 0.1
# Said in the descriptions of the suites whose records predate the towers' float-rounding changes (0643b01, 13b8c5e)
STALE_ROUNDING = (
    " Records measured before the towers' float rounding changed (0643b01, 13b8c5e: same math) and not rerun "
    "since: rerunning the ml-100k suites (two_tower, two_tower_cold) moved single-seed values by up to 0.025 "
    "(the best validation epoch moved on some seeds); the headline SSL-RFM - TwoTower differences kept their "
    "sign, while two small ones (SSL-CFM on ml-100k, SSL-RFM-noLogQ's Recall@50) changed sign within noise."
)
SHARED = {
    "metrics": ["Recall", "NDCG", "TailRecall", "TailNDCG"],
    "topk": [TOPK],
    "valid_metric": f"Recall@{TOPK}",
    "tail_ratio": 0.8,
    "train_batch_size": 512,
    "learning_rate": 0.001,
    "eval_batch_size": 128 * (CORPUS["n_items"] + 1),  # 128 users per full-sort batch
    "corpus": CORPUS,
}
COLD_SHARED = {**SHARED, "eval_batch_size": 128 * (COLD_CORPUS["n_items"] + 1), "corpus": COLD_CORPUS}
QUICK = {"epochs": 1, "eval_step": 1, "ssl_batch_size": 32, "train_batch_size": 64, "corpus": QUICK_CORPUS}
# Training budgets (the best validation epoch tested): the 10% set has about 16 batches an epoch.
FULL = {"epochs": 10, "eval_step": 5, "stopping_step": 10}  # the item-cold suite (80 batches an epoch)
# two_tower_synthetic's full training set: 5 epochs of about 157 batches, about the 10% setting's 800 steps
# (validation once, at the end: the machine's load left no room for more)
FULL_MAIN = {"epochs": 5, "eval_step": 5, "stopping_step": 10}
LOW = {"epochs": 50, "eval_step": 25, "stopping_step": 10}
# The SSL hyperparameters, chosen on the validation split of corpus 0 in the 10%-data setting
# (two_tower_synthetic_tuning; the rule is in its description).
CHOSEN_SSL = {"ssl_batch_size": 256, "ssl_alpha": 1.0, "ssl_temperature": 0.1}
# alpha chosen on the full-data validation split of corpus 0 (two_tower_synthetic_tuning, FULL_ALPHA_GRID: the
# best validation Recall@50 of the grid)
FULL_CHOSEN_ALPHA = 0.1
FULL_SSL_NAME = f"SSL-RFM-a{FULL_CHOSEN_ALPHA}"
MODELS = [
    ("TwoTower", {"ssl_alpha": 0.0}),
    ("SSL-RFM", {**CHOSEN_SSL, "ssl_augment": ["rfm"]}),
    ("SSL-CFM", {**CHOSEN_SSL, "ssl_augment": ["cfm"]}),
]
# The item-cold suite's models, as measured there (SSL batch 512, alpha 0.3, temperature 0.1).
COLD_MODELS = [
    ("TwoTower", {"ssl_alpha": 0.0}),
    ("SSL-RFM", {"ssl_alpha": 0.3, "ssl_batch_size": 512, "ssl_augment": ["rfm"]}),
    ("SSL-CFM", {"ssl_alpha": 0.3, "ssl_batch_size": 512, "ssl_augment": ["cfm"]}),
]


def _prepare(seed, config, quick, out_dir):
    """The seed's corpus (generated once, reused when its files exist) and its 10%-training copy."""
    from recbole_meta.benchmark.synthetic.retrieval_corpus import (
        generate_retrieval_corpus,
        write_low_data_copy,
    )

    sizes = dict(config["corpus"])
    data_path = os.path.join(out_dir, "data", "two_tower_synthetic")
    corpus = generate_retrieval_corpus(data_path, seed=seed, **sizes)
    return {"full": corpus, "low": write_low_data_copy(corpus, LOW_FRACTION, seed=seed)}


def _corpus_suite(**fields):
    """A :class:`Suite` whose runs share the seed's generated corpus (:func:`_prepare`): three seeds and the small
    corpus of ``QUICK`` in quick mode, unless ``fields`` say otherwise."""
    return Suite(**{"seeds": (0, 1, 2), "quick_config": QUICK, "prepare": _prepare, **fields})


def _two_tower(setting):
    """A RecBole run of SSLTwoTower on the seed's corpus (``setting``: ``full`` or ``low``)."""

    def fn(ctx):
        corpus = ctx.data[setting]
        config = {k: v for k, v in ctx.config.items() if k not in ("corpus", "train_fraction")}
        config.update(corpus.config_dict(), model="SSLTwoTower", dataset=corpus.name)
        return train_and_test(dataclasses.replace(ctx, config=config))

    return fn


def _oracle(setting):
    """Recall@K and TailRecall@K of ranking by the planted logit, history (train + valid) masked."""

    def fn(ctx):
        import pandas as pd

        from recbole_meta.evaluator.tail_metrics import tail_item_mask

        corpus = ctx.data[setting]

        def read(part):
            frame = pd.read_csv(os.path.join(corpus.folder, f"{corpus.name}.{part}.inter"), sep="\t")
            return frame.iloc[:, 0].to_numpy() - 1, frame.iloc[:, 1].to_numpy() - 1

        train, valid, test = read("train"), read("valid"), read("test")
        counts = np.bincount(train[1] + 1, minlength=corpus.n_items + 1)
        tail = tail_item_mask(counts, corpus.n_items + 1, ctx.config["tail_ratio"]).numpy()[1:]
        recall, tail_recall = [], []
        by_user = np.argsort(test[0], kind="stable")
        test_users, test_items = test[0][by_user], test[1][by_user]
        bounds = np.searchsorted(test_users, np.arange(corpus.n_users + 1))
        for start in range(0, corpus.n_users, 256):
            users = np.arange(start, min(start + 256, corpus.n_users))
            scores = corpus.oracle_scores(users)
            for seen_users, seen_items in (train, valid):
                inside = (seen_users >= start) & (seen_users < start + len(users))
                scores[seen_users[inside] - start, seen_items[inside]] = -np.inf
            top = np.argpartition(-scores, TOPK, axis=1)[:, :TOPK]
            for row, user in enumerate(users):
                positives = test_items[bounds[user] : bounds[user + 1]]
                hit = np.isin(positives, top[row])
                recall.append(hit.mean())
                if tail[positives].any():
                    tail_recall.append(hit[tail[positives]].mean())
        return RunResult(
            metrics={
                f"recall@{TOPK}": float(np.mean(recall)),
                f"tailrecall@{TOPK}": float(np.mean(tail_recall)),
            },
            info={"users": len(recall), "users_with_tail_positives": len(tail_recall)},
        )

    return fn


PAIRS = [
    (FULL_SSL_NAME, "TwoTower"),
    ("SSL-RFM", "TwoTower"),
    ("SSL-CFM", "TwoTower"),
    ("SSL-RFM-10pct", "TwoTower-10pct"),
    ("SSL-CFM-10pct", "TwoTower-10pct"),
]


def _relative_cell(comparison, baseline_values):
    """Relative change: mean difference over the baseline's mean (per seed: difference / baseline)."""
    from recbole_meta.benchmark.stats import mean_std

    base = {s: baseline_values[s] for s in comparison.seeds}
    relative = [d / base[s] for d, s in zip(comparison.differences, comparison.seeds)]
    per_seed = ", ".join(f"{r:+.1%}" for r in relative)
    p = "" if comparison.t_pvalue != comparison.t_pvalue else f"; t-test p {comparison.t_pvalue:.3f}"
    return (
        f"{comparison.mean_difference / mean_std(base.values())[0]:+.1%} ({per_seed}; {comparison.wins}/"
        f"{len(relative)} seeds up{p})"
    )


def _claim_report(pairs):
    """Markdown: the paper's claim per pair -- relative change of TailRecall@K and Recall@K, paired by seed."""

    def hook(summary):
        values = summary.values.get("all", {})
        metrics = [m for m in (f"tailrecall@{TOPK}", f"recall@{TOPK}") if m in values]
        if not metrics:
            return ""
        lines = [
            "**The claim: SSL raises TailRecall@50 by >= 10% relative and loses <= 1% Recall@50 (paired by seed)**",
            "",
            "| SSL variant | baseline | "
            + " | ".join(f"{m}: relative change (per seed)" for m in metrics)
            + " |",
            "|---|---|" + "---|" * len(metrics),
        ]
        lines += pair_rows(values, pairs, metrics, _relative_cell)
        lines += [
            "",
            "Relative change: mean difference over the baseline's mean; per seed: difference / baseline.",
        ]
        return "\n".join(lines) + "\n\n" + ssl_effect_report(pairs)(summary)

    return hook


def _runs():
    runs = [Run("Oracle", _oracle("full"))]
    runs += [Run(name, _two_tower("full"), config={**FULL_MAIN, **cfg}) for name, cfg in MODELS]
    # the full-data setting with the weight chosen on its own validation split
    full_alpha = {**FULL_MAIN, **MODELS[1][1], "ssl_alpha": FULL_CHOSEN_ALPHA}
    runs.append(Run(FULL_SSL_NAME, _two_tower("full"), config=full_alpha))
    features_only = {**FULL_MAIN, "ssl_alpha": 0.0, "item_id_in_tower": False}
    runs.append(Run("TwoTower-featuresOnly", _two_tower("full"), config=features_only))
    runs.append(Run("Oracle-10pct", _oracle("low")))
    runs += [
        Run(f"{name}-10pct", _two_tower("low"), config={**LOW, **cfg, "train_fraction": 0.1})
        for name, cfg in MODELS
    ]
    return runs


@register_suite("two_tower_synthetic")
def two_tower_synthetic(options):
    return _corpus_suite(
        name="two_tower_synthetic",
        description=(
            "Synthetic long-tail corpus (recbole_meta/benchmark/synthetic/retrieval_corpus.py, one corpus per seed): "
            f"{CORPUS['n_users']} users, {CORPUS['n_items']} items with Zipf popularity (exponent 1) independent "
            "of their features, item fields category / brand (nested) / tags (multi-valued) / price / year, "
            "user field segment; users pick liked brands' items (logit bonus 8), liked categories' (bonus 3) and "
            f"items carrying a liked tag (bonus {CORPUS['tag_bonus']:g}) on top of popularity; "
            f"{CORPUS['n_interactions']} interactions split per user 80/10/10 (the same generator at 1M "
            "interactions: two_tower_synthetic_1m). Full-sort Recall@50 and TailRecall@50 (tail = "
            "the least popular 80% of items by training count). '-10pct' runs train on 10% of each user's "
            "training interactions (same valid / test). SSL hyperparameters chosen on validation only "
            f"(two_tower_synthetic_tuning, corpus 0, 10%-data setting, RFM): SSL batch {CHOSEN_SSL['ssl_batch_size']}, "
            f"alpha {CHOSEN_SSL['ssl_alpha']:g}, SSL temperature {CHOSEN_SSL['ssl_temperature']:g}; the same for "
            "CFM and for SSL-RFM / SSL-CFM on the full data. The full-data setting's own choice on its validation "
            f"split (same corpus, alpha grid {' / '.join(f'{a:g}' for a in FULL_ALPHA_GRID)}): alpha "
            f"{FULL_CHOSEN_ALPHA:g}, the row {FULL_SSL_NAME}. Towers as on ml-100k (tau 0.1, batch 512). Oracle: ranking by the planted "
            "logit. The planted affinity has no item-specific part, so an item's id embedding can only add "
            "noise: TwoTower-featuresOnly (no item id) is the reference for what a tower can learn here. Best "
            "validation epoch tested. Every row was rerun on today's code after the towers' float rounding "
            "changed (0643b01, 13b8c5e: same math): every metric of every seed within 0.0068 of the records "
            "before (the '-10pct' rows within 0.0011), the same best epochs, Oracle and SSL-RFM-a0.1 identical."
        ),
        config=SHARED,
        runs=_runs(),
        # the headline: the paper's low-data regime (the report pairs every SSL run with its TwoTower)
        compare="SSL-RFM-10pct",
        baselines=["TwoTower-10pct"],
        primary_metric=f"tailrecall@{TOPK}",
        report_hook=_claim_report(PAIRS),
    )


# The SSL hyperparameters' grid: (run name, SSL batch, alpha, SSL temperature), each RFM on the 10%-data setting.
TUNING_GRID = [
    ("SSL-b512-a0.3-t0.1", 512, 0.3, 0.1),  # the ml-100k settings
    ("SSL-b256-a0.3-t0.1", 256, 0.3, 0.1),
    ("SSL-b128-a0.3-t0.1", 128, 0.3, 0.1),
    ("SSL-b256-a1.0-t0.1", 256, 1.0, 0.1),
    ("SSL-b256-a0.3-t0.2", 256, 0.3, 0.2),
]


# The full-data setting's own choice of alpha (SSL batch 256 and temperature 0.1 as chosen above), RFM.
FULL_ALPHA_GRID = [0.03, 0.1, 0.3, 1.0]


def _validation_only(setting):
    """A two-tower run that reports its best validation result only (the test result is not kept)."""

    def fn(ctx):
        result = _two_tower(setting)(ctx)
        valid = result.info["best_valid_result"]
        return RunResult(
            metrics={f"valid_{metric}": value for metric, value in valid.items()},
            trainable_parameters=result.trainable_parameters,
            info={"epochs_run": result.info["epochs_run"], "best_epoch": result.info["best_epoch"]},
        )

    return fn


@register_suite("two_tower_synthetic_tuning")
def two_tower_synthetic_tuning(options):
    return _corpus_suite(
        name="two_tower_synthetic_tuning",
        description=(
            "How the SSL hyperparameters of two_tower_synthetic were chosen: validation split only (the test "
            "split is not evaluated), one seed (corpus 0), the 10%-data setting, RFM. A small grid around the "
            "ml-100k settings: SSL batch 512 / 256 / 128 at alpha 0.3 and SSL temperature 0.1, then alpha 1.0 and "
            "temperature 0.2 at SSL batch 256. RFM masks complementary halves of the fields, so "
            "it has no mask rate to tune. Rule, fixed before the runs: the SSL batch is the smallest whose "
            "validation Recall@50 is within 2% (relative) of the best batch's (a smaller batch costs less per "
            "step, two_tower_speed); alpha and temperature: the best validation Recall@50. Chosen by that rule: SSL "
            "batch 256, alpha 1.0 (the largest alpha of the grid; larger ones were not tried), temperature 0.1. The "
            "SSL batch is also the model's default (properties/model/SSLTwoTower.yaml). The full-data setting "
            "chose its own alpha the same way (runs '-full', full training set, the full-data budget): alpha "
            f"{' / '.join(f'{a:g}' for a in FULL_ALPHA_GRID)} at SSL batch 256 and temperature 0.1, best "
            f"validation Recall@50: alpha {FULL_CHOSEN_ALPHA:g}. Every alpha of that grid is below TwoTower on "
            "validation, overall and on the tail. Every run was rerun on today's code after the towers' float "
            "rounding changed (0643b01, 13b8c5e: same math): the full-data runs identical, the 10%-data runs "
            "within 0.0019. The alpha and temperature choices stand, but the batch rule now picks 512: batch 256's "
            "validation Recall@50 is 2.3% below batch 512's (0.1% before), so the 2% rule sits within one seed's "
            "rounding noise here. The suites and the model's default keep batch 256, as chosen before these "
            "records; a rerun of the SSL rows at batch 512 was not made."
        ),
        config=SHARED,
        seeds=(0,),
        runs=[Run("TwoTower-10pct", _validation_only("low"), config={**LOW, **MODELS[0][1]})]
        + [
            Run(
                name,
                _validation_only("low"),
                config={
                    **LOW,
                    "ssl_augment": ["rfm"],
                    "ssl_batch_size": batch,
                    "ssl_alpha": alpha,
                    "ssl_temperature": temperature,
                },
            )
            for name, batch, alpha, temperature in TUNING_GRID
        ]
        + [Run("TwoTower-full", _validation_only("full"), config={**FULL_MAIN, **MODELS[0][1]})]
        + [
            Run(
                f"SSL-full-a{alpha}",
                _validation_only("full"),
                config={**FULL_MAIN, **CHOSEN_SSL, "ssl_augment": ["rfm"], "ssl_alpha": alpha},
            )
            for alpha in FULL_ALPHA_GRID
        ],
        primary_metric=f"valid_recall@{TOPK}",
    )


@register_suite("two_tower_synthetic_cold")
def two_tower_synthetic_cold(options):
    cold = {**FULL, "item_cold_split": [0.8, 0.1, 0.1]}
    return _corpus_suite(
        name="two_tower_synthetic_cold",
        description=(
            "The two_tower_synthetic corpus with the item-cold split: items 80/10/10 at random (seeded), each "
            "interaction follows its item, test items never trained on and ranked among themselves (tail "
            "metrics equal the overall ones). Same models and budget as the full-data runs; '-idDrop': "
            "main_id_dropout 0.2 (the retrieval loss also trains the features-only path of new items)."
        ),
        config=COLD_SHARED,
        quick_config={**QUICK, "item_cold_split": [0.6, 0.2, 0.2]},
        runs=[Run(name, _two_tower("full"), config={**cold, **cfg}) for name, cfg in COLD_MODELS]
        + [
            Run(f"{name}-idDrop", _two_tower("full"), config={**cold, **cfg, "main_id_dropout": 0.2})
            for name, cfg in COLD_MODELS[:2]
        ],
        compare="SSL-RFM",
        baselines=["TwoTower"],
        primary_metric=f"recall@{TOPK}",
        report_hook=ssl_effect_report(
            [("SSL-RFM", "TwoTower"), ("SSL-CFM", "TwoTower"), ("SSL-RFM-idDrop", "TwoTower-idDrop")]
        ),
    )


# The same generator and structure scaled to 1M interactions (50k items): the size asked for the claim. Users stay
# 5k so that an evaluation (every user against every item) costs what it does on the 100k corpus; each user then
# has about 200 interactions instead of 20. The 10% setting's training set (80k interactions) is the size of the
# 100k corpus's full one.
LARGE_CORPUS = {"n_users": 5_000, "n_items": 50_000, "n_interactions": 1_000_000, "tag_bonus": 2.0}
LARGE_SHARED = {**SHARED, "corpus": LARGE_CORPUS}
# Budgets sized for the shared machine: 2 epochs of about 1560 batches on the full set, 5 of about 160 on the
# 10% set (the 100k corpus's full-data budget); validation once, at the end.
LARGE_FULL = {"epochs": 2, "eval_step": 2, "stopping_step": 10}
LARGE_LOW = {"epochs": 5, "eval_step": 5, "stopping_step": 10}


def _timed_two_tower(setting):
    """:func:`_two_tower` plus the training seconds per epoch read from RecBole's log (wall time)."""
    import glob
    import re

    def fn(ctx):
        result = _two_tower(setting)(ctx)
        logs = glob.glob(os.path.join(ctx.run_dir, "log", "*", "*.log"))
        seconds = [
            float(m.group(1))
            for path in logs
            for m in re.finditer(r"epoch \d+ training \[time: ([0-9.]+)s", open(path).read())
        ]
        if seconds:
            result.metrics["train_seconds_per_epoch"] = float(np.mean(seconds))
        return result

    return fn


@register_suite("two_tower_synthetic_1m")
def two_tower_synthetic_1m(options):
    full_ssl = {**CHOSEN_SSL, "ssl_alpha": FULL_CHOSEN_ALPHA, "ssl_augment": ["rfm"]}
    low_ssl = {**CHOSEN_SSL, "ssl_augment": ["rfm"]}
    return _corpus_suite(
        name="two_tower_synthetic_1m",
        description=(
            "The two_tower_synthetic generator and structure at the size asked: "
            f"{LARGE_CORPUS['n_users']} users, {LARGE_CORPUS['n_items']} items, "
            f"{LARGE_CORPUS['n_interactions']} interactions (users kept at 5k so that a full-sort evaluation "
            "costs what it does on the 100k corpus: about 200 interactions per user instead of 20). TwoTower "
            "against SSL-RFM on the full training set (about 800k interactions, 2 epochs) and on 10% of each "
            "user's training interactions (5 epochs), validation once at the end, its epoch tested. SSL "
            "settings: those chosen on the 100k corpus's validation split for each setting "
            f"(two_tower_synthetic_tuning): alpha {FULL_CHOSEN_ALPHA:g} with all the data, "
            f"{CHOSEN_SSL['ssl_alpha']:g} with 10%; SSL batch {CHOSEN_SSL['ssl_batch_size']}, temperature "
            f"{CHOSEN_SSL['ssl_temperature']:g}. train_seconds_per_epoch: RecBole's logged training time of "
            "an epoch (wall time of a niced process on the shared 2-core machine, one torch thread: it follows the "
            "load, which varied by several times between runs, so compare it within a row only; a step's CPU "
            "time is two_tower_speed's). The 10% runs' 5 epochs (about 800 steps) leave TwoTower far from the "
            "100k corpus's full-data recall on the same amount of training data: an early-training comparison, "
            "its tail recall near the floor; longer training budgets were not run." + STALE_ROUNDING
        ),
        config=LARGE_SHARED,
        runs=[
            Run("TwoTower", _timed_two_tower("full"), config={**LARGE_FULL, **MODELS[0][1]}),
            Run("SSL-RFM", _timed_two_tower("full"), config={**LARGE_FULL, **full_ssl}),
            Run(
                "TwoTower-10pct",
                _timed_two_tower("low"),
                config={**LARGE_LOW, **MODELS[0][1], "train_fraction": LOW_FRACTION},
            ),
            Run(
                "SSL-RFM-10pct",
                _timed_two_tower("low"),
                config={**LARGE_LOW, **low_ssl, "train_fraction": LOW_FRACTION},
            ),
        ],
        compare="SSL-RFM",
        baselines=["TwoTower"],
        primary_metric=f"tailrecall@{TOPK}",
        report_hook=_claim_report([("SSL-RFM", "TwoTower"), ("SSL-RFM-10pct", "TwoTower-10pct")]),
    )
