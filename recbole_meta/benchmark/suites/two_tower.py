"""Suites of the self-supervised two-tower model (SSLTwoTower; Yao et al., CIKM 2021) on ml-100k.

* ``two_tower`` -- RecBole's random 80/10/10 split per user, full-sort ranking of all items: the two-tower
  model without SSL (``ssl_alpha: 0``), with RFM and with CFM, each with and without logQ correction, against
  RecBole's BPR and LightGCN on the same split. Overall and tail (least popular 80% of items) Recall@50 and
  NDCG@50, and paired per-seed differences of each SSL variant against the same model without SSL.
* ``two_tower_cold`` -- item-cold split (``item_cold_split: [0.8, 0.1, 0.1]`` of the items): test items were
  never trained on and are ranked among themselves; the same model variants and BPR (whose cold-item
  embeddings are untrained: the floor).
* ``two_tower_speed`` -- one run: training step time with the SSL loss against without it (same model, same
  batches, interleaved, median ratio; :func:`recbole_meta.benchmark.compare_timing`), and the time to score
  all users against all items with ``full_sort_predict``.

Each suite is one ``python -m recbole_meta.benchmark <suite>`` command and resumes where it stopped; on a busy
2-core machine, run the warm suite one seed at a time (``--seeds 0``, ``--seeds 1``, ``--seeds 2``, then
``--report-only``) to keep each invocation under about 10 minutes.
"""

import os
import time

from recbole_meta.benchmark import Run, RunResult, Suite, compare_timing, recbole_run, register_suite
from recbole_meta.benchmark.stats import paired_comparison
from recbole_meta.benchmark.suite import QUICK_DATA_PATH

_TINY = QUICK_DATA_PATH
TOPK = 50

SHARED = {
    "dataset": "ml-100k",
    "metrics": ["Recall", "NDCG", "TailRecall", "TailNDCG"],
    "topk": [TOPK],
    "valid_metric": f"Recall@{TOPK}",
    "tail_ratio": 0.8,
    # ml-100k side information for the towers; the baselines ignore it.
    "load_col": {
        "inter": ["user_id", "item_id", "rating", "timestamp"],
        "user": ["user_id", "age", "gender", "occupation"],
        "item": ["item_id", "release_year", "class"],
    },
}
QUICK = {
    "dataset": "tiny",
    "data_path": _TINY,
    "topk": [10],
    "valid_metric": "Recall@10",
    "load_col": {
        "inter": ["user_id", "item_id", "rating", "timestamp"],
        "user": ["user_id", "age", "gender"],
        "item": ["item_id", "release_year", "class"],
    },
    "epochs": 1,
    "eval_step": 1,
    "ssl_batch_size": 16,
    "train_batch_size": 64,
}
# Two-tower training budget, reduced for a shared 2-core machine: 12 epochs (the validation Recall@50 of the
# no-SSL model plateaus from about epoch 10 on ml-100k), validation every 2 epochs, the best one tested.
TWO_TOWER = {
    "epochs": 12,
    "eval_step": 2,
    "stopping_step": 10,
    "train_batch_size": 512,
    "learning_rate": 0.001,
}
# Baselines: RecBole's defaults except a larger learning rate (0.005; at RecBole's 0.001 neither converges in
# this budget), early stopping on validation Recall@50.
BASELINE = {"learning_rate": 0.005, "eval_step": 5, "stopping_step": 2}
# the two_tower_synthetic corpus's size (two_tower_speed times a step on it)
SPEED_CORPUS = {"n_users": 5_000, "n_items": 50_000, "n_interactions": 100_000, "tag_bonus": 2.0}

# SSL on ml-100k: alpha 0.3, SSL batch 512 (the model's default SSL batch when these suites were measured).
SSL = {"ssl_alpha": 0.3, "ssl_batch_size": 512}
VARIANTS = [
    # (run name, overrides): alpha 0 = no SSL; RFM / CFM as in Yao et al. Sec. 3.3; with / without logQ.
    ("TwoTower", {"ssl_alpha": 0.0, "logq": "static"}),
    ("SSL-RFM", {**SSL, "ssl_augment": ["rfm"], "logq": "static"}),
    ("SSL-CFM", {**SSL, "ssl_augment": ["cfm"], "logq": "static"}),
    ("TwoTower-noLogQ", {"ssl_alpha": 0.0, "logq": "none"}),
    ("SSL-RFM-noLogQ", {**SSL, "ssl_augment": ["rfm"], "logq": "none"}),
    ("SSL-CFM-noLogQ", {**SSL, "ssl_augment": ["cfm"], "logq": "none"}),
    # logQ from the streaming estimator of Yi et al. (Algorithm 2) instead of the training counts.
    ("TwoTower-streamLogQ", {"ssl_alpha": 0.0, "logq": "streaming"}),
    # half the SSL batch (two_tower_speed: the extra step time roughly halves)
    ("SSL-RFM-ssl256", {"ssl_alpha": 0.3, "ssl_augment": ["rfm"], "logq": "static", "ssl_batch_size": 256}),
]
PAIRS = [
    ("SSL-RFM", "TwoTower"),
    ("SSL-RFM-ssl256", "TwoTower"),
    ("SSL-CFM", "TwoTower"),
    ("SSL-RFM-noLogQ", "TwoTower-noLogQ"),
    ("SSL-CFM-noLogQ", "TwoTower-noLogQ"),
]


def _two_tower_runs(variants, extra=None):
    return [
        recbole_run(name, "SSLTwoTower", config={**TWO_TOWER, **cfg, **(extra or {})})
        for name, cfg in variants
    ]


def pair_rows(values, pairs, metrics, cell):
    """Markdown table rows ``| model | baseline | cells |``, one per ``(model, baseline)`` pair.

    ``values``: metric -> run -> {seed: value} (a report summary's values); each cell is
    ``cell(comparison, baseline_values)`` with the paired comparison of the two runs on the metric, or ``n/a``
    when either run has no result for it.
    """
    rows = []
    for model, baseline in pairs:
        cells = []
        for metric in metrics:
            runs = values[metric]
            if model not in runs or baseline not in runs:
                cells.append("n/a")
                continue
            cells.append(cell(paired_comparison(runs[model], runs[baseline]), runs[baseline]))
        rows.append(f"| {model} | {baseline} | " + " | ".join(cells) + " |")
    return rows


def _difference_cell(comparison, baseline_values):
    """Mean paired difference (per-seed differences; paired t-test p)."""
    diffs = ", ".join(f"{d:+.4f}" for d in comparison.differences)
    p = "" if comparison.t_pvalue != comparison.t_pvalue else f"; t-test p {comparison.t_pvalue:.3f}"
    return f"{comparison.mean_difference:+.4f} ({diffs}{p})"


def ssl_effect_report(pairs):
    """Markdown: per-seed paired differences of each SSL variant against the same model without SSL."""

    def hook(summary):
        values = summary.values.get("all", {})
        metrics = [m for m in values if m.startswith(("recall@", "tailrecall@", "ndcg@", "tailndcg@"))]
        if not metrics:
            return ""
        lines = [
            "**SSL against the same model without it (paired by seed)**",
            "",
            "| SSL variant | baseline | " + " | ".join(f"Δ {m}" for m in metrics) + " |",
            "|---|---|" + "---|" * len(metrics),
        ]
        lines += pair_rows(values, pairs, metrics, _difference_cell)
        lines.append("")
        lines.append(
            "Cells: mean difference over seeds (per-seed differences; paired t-test p with n seeds)."
        )
        return "\n".join(lines)

    return hook


@register_suite("two_tower")
def two_tower(options):
    return Suite(
        name="two_tower",
        description=(
            "SSLTwoTower on ml-100k (RecBole's embedded copy), RecBole's random 80/10/10 split of each user's "
            "interactions, full-sort ranking of all items (history masked). Tail = the least popular 80% of "
            "items by training count (TailRecall/TailNDCG count only tail ground-truth items, averaged over "
            "users with at least one). Towers: ids + user age/gender/occupation, item release_year/class; "
            "tau 0.1, batch 512, SSL batch 512 uniform items, alpha 0.3, 12 epochs (reduced for the shared "
            "machine), best validation epoch tested. BPR and LightGCN: RecBole defaults, learning rate 0.005, "
            "at most 40 / 60 epochs, early stopping on validation Recall@50 (checked every 5 epochs)."
        ),
        config=SHARED,
        quick_config=QUICK,
        seeds=(0, 1, 2),
        runs=_two_tower_runs(VARIANTS)
        + [
            recbole_run("BPR", "BPR", config={**BASELINE, "epochs": 40}),
            recbole_run("LightGCN", "LightGCN", config={**BASELINE, "epochs": 60}),
        ],
        compare="SSL-RFM",
        baselines=["TwoTower"],
        primary_metric=f"tailrecall@{TOPK}",
        report_hook=ssl_effect_report(PAIRS),
        regenerate_command=(
            "for s in 0 1 2; do nice -n 10 python -m recbole_meta.benchmark two_tower --seeds $s; done; "
            "python -m recbole_meta.benchmark two_tower --report-only"
        ),
    )


@register_suite("two_tower_cold")
def two_tower_cold(options):
    cold = {"item_cold_split": [0.8, 0.1, 0.1]}
    return Suite(
        name="two_tower_cold",
        description=(
            "Item-cold split of ml-100k: the items are split 80/10/10 at random (seeded) into train / valid / "
            "test items and each interaction follows its item, so test items were never trained on. Each "
            "user's test items are ranked among all test items (full sort over the new items only). Every "
            "test item has no training interaction, so the tail metrics equal the overall ones. Same models "
            "and budget as the two_tower suite. New items' ids take the learned default id embedding "
            "(unseen_item_id: default); TwoTower-ownColdId keeps their untrained id embeddings instead. BPR "
            "has nothing but untrained embeddings for new items (the floor). '-idDrop': main_id_dropout 0.2 (the "
            "retrieval loss also trains the features-only path that new items take; set a priori, not tuned). "
            "Why SSL can hurt new items: a new item's input is its features with the id masked (the default id "
            "embedding). Without id dropout the retrieval loss never sees that input -- every training item has "
            "its id -- while the SSL views mask the id of about half their items: the path new items take is "
            "then shaped by the item-item contrastive task alone (match an item's id-less view to its other "
            "view, tell it apart from other items), not by which users pick the item."
        ),
        config={**SHARED, **cold},
        quick_config={**QUICK, "item_cold_split": [0.6, 0.2, 0.2]},
        seeds=(0, 1, 2),
        runs=_two_tower_runs(VARIANTS[:3])
        + [
            # ablation: new items keep their own (never trained) id embedding instead of the learned default
            recbole_run(
                "TwoTower-ownColdId",
                "SSLTwoTower",
                config={**TWO_TOWER, **VARIANTS[0][1], "unseen_item_id": "embedding"},
            ),
            recbole_run("BPR", "BPR", config={**BASELINE, "epochs": 40}),
        ]
        # the fix of the cold items' path: the main loss masks the id of 20% of its items (main_id_dropout)
        + _two_tower_runs(
            [(f"{name}-idDrop", {**cfg, "main_id_dropout": 0.2}) for name, cfg in VARIANTS[:2]]
        ),
        compare="SSL-RFM",
        baselines=["TwoTower"],
        primary_metric=f"recall@{TOPK}",
        report_hook=ssl_effect_report(
            [("SSL-RFM", "TwoTower"), ("SSL-CFM", "TwoTower"), ("SSL-RFM-idDrop", "TwoTower-idDrop")]
        ),
    )


def _speed(ctx):
    """Step time with and without the SSL loss (same model and batches), and full-sort scoring time."""
    import torch

    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run

    config = dict(ctx.config)
    steps = config.pop("timed_steps")
    clock = {"cpu": time.process_time, "wall": time.perf_counter}[config.pop("timing_clock", "wall")]
    corpus_sizes = config.pop("synthetic_corpus", None)
    if corpus_sizes:  # the long-tail corpus of the two_tower_synthetic suite (generated once, then reused)
        from recbole_meta.benchmark.synthetic.retrieval_corpus import generate_retrieval_corpus

        corpus = generate_retrieval_corpus(
            os.path.join(ctx.out_dir, "data", "two_tower_speed"), seed=ctx.seed, **corpus_sizes
        )
        config.update(corpus.config_dict(), dataset=corpus.name)
    dataset = config.pop("dataset")
    config.update(seed=ctx.seed, show_progress=False, checkpoint_dir=os.path.join(ctx.run_dir, "saved"))
    recbole_config = Config("SSLTwoTower", dataset, config_dict=config, argv=[])
    _, (train_data, _, test_data), model, trainer = build_run(recbole_config)
    torch.autograd.set_detect_anomaly(False)
    batches = [batch.to(model.device) for _, batch in zip(range(steps), train_data)]
    optimizer = torch.optim.Adam(model.parameters(), lr=recbole_config["learning_rate"])
    model.train()

    def train_steps(with_ssl):
        for batch in batches:
            optimizer.zero_grad()
            # with SSL: RecBole's loss (main + alpha * SSL, one shared item-tower pass); without: the main loss
            loss = sum(model.calculate_loss(batch)) if with_ssl else model.main_loss(batch)
            loss.backward()
            optimizer.step()

    # timing_clock cpu: this process's CPU time (on a shared machine, wall time counts other processes' load)
    before_load = os.getloadavg()[0]
    timing = compare_timing(
        lambda: train_steps(True), lambda: train_steps(False), repeats=15, warmup=1, clock=clock
    )

    users = torch.arange(1, model.n_users, device=model.device)
    user_batch = max(
        recbole_config["eval_batch_size"] // model.n_items, 1
    )  # users per batch, as RecBole's loader

    def score_all_users():
        model.eval()  # drops the item cache: the item tower runs once per call, as in one evaluation
        with torch.no_grad():
            for chunk in users.split(user_batch):
                model.full_sort_predict({model.USER_ID: chunk})

    score_all_users()
    full_sort = []
    for _ in range(5):
        start = time.perf_counter()
        score_all_users()
        full_sort.append(time.perf_counter() - start)
    trainer.eval_collector.data_collect(train_data)
    start = time.perf_counter()
    trainer.evaluate(test_data, load_best_model=False)
    evaluate_seconds = time.perf_counter() - start
    full_sort.sort()
    return RunResult(
        metrics={
            "step_ms_with_ssl": timing.median_a * 1e3 / steps,
            "step_ms_without_ssl": timing.median_b * 1e3 / steps,
            "ssl_step_ratio": timing.ratio,
            "matmul_work_ratio": _matmul_work_ratio(model, recbole_config["train_batch_size"]),
            "full_sort_all_users_seconds": full_sort[len(full_sort) // 2],
            "recbole_evaluate_test_seconds": evaluate_seconds,
        },
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        info={
            "timing": timing.describe("with SSL", "without SSL"),
            # the machine's 1-minute load average around the timing (2 cores shared with other jobs)
            "load_average_1min": [round(before_load, 2), round(os.getloadavg()[0], 2)],
            "users_scored": int(len(users)),
            "items": int(model.n_items - 1),
            "steps_per_measurement": steps,
            "torch_threads": torch.get_num_threads(),
        },
    )


def _matmul_work_ratio(model, batch_size):
    """(Main + SSL) / main multiply-adds of the matrix products of a step (forward; the backward scales alike).

    Main: ``B`` user-tower rows, ``B`` item-tower rows, the ``B x B`` logits. SSL: ``2 N`` item-tower rows (two
    views) and the ``N x N`` InfoNCE logits -- work the two losses cannot share (the SSL items are other items).
    It is the step-time ratio to expect where matrix products dominate the step; work of the plain step that
    SSL does not add (Adam on large embedding tables, embedding gradients) brings the measured ratio below it.
    """

    def tower(module):
        return sum(
            layer.in_features * layer.out_features for layer in module.mlp if hasattr(layer, "in_features")
        )

    out = model.item_tower.mlp[-1].out_features
    main = batch_size * (tower(model.user_tower) + tower(model.item_tower)) + batch_size**2 * out
    ssl = 2 * model.ssl_batch_size * tower(model.item_tower) + model.ssl_batch_size**2 * out
    return (main + ssl) / main


@register_suite("two_tower_speed")
def two_tower_speed(options):
    synthetic = {
        "synthetic_corpus": SPEED_CORPUS,
        "eval_batch_size": 128 * (SPEED_CORPUS["n_items"] + 1),
    }
    return Suite(
        name="two_tower_speed",
        description=(
            "One process per run, one seed: CPU time of a training step (forward, backward, Adam; batch 512) of "
            "SSLTwoTower with the SSL loss (RFM, alpha 0.3) at SSL batch 512, 256 and 128 (ml-100k) or 512 and 256 "
            "(synthetic) against the same model and batches without it, interleaved after a warm-up, median of 15 ratios of 50 "
            "(ml-100k) or 20 (synthetic) steps each (target "
            "<= 1.3x at the default SSL batch, 256, chosen on validation in two_tower_synthetic_tuning); data "
            "loading excluded; the 1-minute load average of the shared 2-core machine before and after the "
            "timing is in the record. On ml-100k and on a two_tower_synthetic corpus (50k items: the plain step "
            "also runs Adam over a 50k-row item-id table). matmul_work_ratio: (main + SSL) / main multiply-adds "
            "of the towers' layers and the two softmax logit matrices, work the two losses cannot share "
            "(different items). Sharing the first tower layer between the two views (it is linear in the field "
            "embeddings, so each field's projection can be computed once per item and each view sum the ones it "
            "keeps) was measured side by side and not kept: with 3 (ml-100k) or 6 (synthetic) fields the "
            "per-field sums cost what the saved product saves (SSL step / plain step at SSL batch 512: 1.77 "
            "against 1.63 unshared on ml-100k, 1.71 against 1.74 on a 20k-item corpus; load average about 10). "
            "Kept: the main batch's items and both views go through the item tower in one pass (calculate_loss), "
            "0.98-1.00x the time of two passes on ml-100k and 0.92x on a 50k-item corpus, where the plain step "
            "is dominated by the item-id table (one embedding gradient instead of two; load average 13). "
            "Profiled at a load average below 1 (SSL step 1.36x the plain one at SSL batch 256 on ml-100k): the "
            "SSL loss itself costs almost nothing, the extra item-tower rows everything, and most of a tower's "
            "time went to per-element work around the matrix products: torch.where picking default embeddings "
            "and the masked mean of multi-valued fields through a (rows, values, d) intermediate. The tower now "
            "picks defaults with an exact 0/1 lerp and pools with embedding_bag (same values, gradients equal up "
            "to float rounding; tested): both steps about 8-10% faster. The ratio moves with the machine's load "
            "by more than that change moved it: the previous code measured 1.33-1.36 with the machine idle and "
            "1.29-1.30 at load 6, the current code 1.29 at load 6 in the same side-by-side script (31 "
            "measurements of 20 steps) and the figure in the table at load 5.5-6; an idle measurement of the "
            "current code did not fit this session. "
            "Full-sort scoring: every user against every item with full_sort_predict (item tower once, then one "
            "matrix product per RecBole evaluation batch), median of 5; and RecBole's whole evaluate() on the "
            "test split."
        ),
        config={
            **SHARED,
            **TWO_TOWER,
            "ssl_alpha": 0.3,
            "ssl_augment": ["rfm"],
            "timed_steps": 20,
            "timing_clock": "cpu",
        },
        quick_config={**QUICK, "timed_steps": 2},
        seeds=(0,),
        # ml-100k: 50 steps per measurement (20 left the median ratio about +-0.05 from run to run under load)
        runs=[
            Run(f"ssl_batch_{size}", _speed, config={"ssl_batch_size": size, "timed_steps": 50})
            for size in (512, 256, 128)
        ]
        + [
            Run(f"synthetic_ssl_batch_{size}", _speed, config={"ssl_batch_size": size, **synthetic})
            for size in (512, 256)
        ],
        smaller_is_better=["ssl_step_ratio"],
        primary_metric="ssl_step_ratio",
    )
