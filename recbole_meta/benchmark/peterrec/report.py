"""Report sections of the PeterRec suites: the paper's claims checked pair-wise by seed, sizes, learning curves.

Hooks for ``Suite.report_hook``: each takes the :class:`~recbole_meta.benchmark.report.SuiteSummary` and returns
markdown appended to the generated report.
"""

import numpy as np

from recbole_meta.benchmark.peterrec.runs import MODES


def paired(summary, state, metric, run, other):
    """Per-seed differences ``run - other`` of ``metric`` in ``state``, and the paired t-test p (or None)."""
    from scipy import stats

    values = summary.values.get(state, {}).get(metric, {})
    mine, theirs = values.get(run, {}), values.get(other, {})
    seeds = sorted(set(mine) & set(theirs))
    diffs = np.array([mine[s] - theirs[s] for s in seeds], dtype=float)
    if len(diffs) < 2:
        return diffs, None
    p = float(stats.ttest_rel([mine[s] for s in seeds], [theirs[s] for s in seeds]).pvalue)
    return diffs, p


def _cell(diffs, p):
    if p is None:
        return "n/a"
    wins = int((diffs > 0).sum())
    return f"{diffs.mean():+.4f} +- {diffs.std(ddof=1):.4f} ({wins}/{len(diffs)} wins, p {p:.3g})"


def _claims_table(summary, primary_metric, model, others):
    lines = [
        f"{primary_metric} of {model} minus that of {' / '.join(others)} on the same seed (split, negatives); "
        "mean +- std over seeds, wins, paired t-test p.",
        "",
        "| state | " + " | ".join(f"vs {o}" for o in others) + " |",
        "|---|" + "---|" * len(others),
    ]
    for state in summary.states:
        if model not in summary.values.get(state, {}).get(primary_metric, {}):
            continue
        cells = [_cell(*paired(summary, state, primary_metric, model, other)) for other in others]
        lines.append(f"| {state} | " + " | ".join(cells) + " |")
    return lines


def _sizes_table(summary):
    lines = ["| run | trainable / FineAll trainable | patches / backbone | task checkpoint (kB) |"]
    lines.append("|---|---|---|---|")
    pretrain = None
    names = [name for name, _, _ in MODES] + [r.name for r in summary.suite.runs]
    for name in dict.fromkeys(names):
        infos = [r.get("info") or {} for (run, _), r in sorted(summary.records.items()) if run == name]
        info = infos[0] if infos else {}
        fractions = [v for k, v in info.items() if k.endswith("_trainable_vs_fine_all")]
        sizes = [v / 1000 for k, v in info.items() if k.endswith("_checkpoint_bytes")]
        if not fractions or not sizes:
            continue
        pretrain = pretrain or info.get("pretrain_test")
        patches = info.get("patches_vs_backbone")
        lines.append(
            f"| {name} | {min(fractions):.2%} - {max(fractions):.2%} | "
            f"{'-' if patches is None else f'{patches:.2%}'} | {min(sizes):.0f} - {max(sizes):.0f} |"
        )
    lines.append("")
    lines.append(
        "Ranges are over the tasks (the head's size differs per task). Task checkpoints hold only what a "
        "mode trains, plus the config; PeterZero and target-only runs store every parameter (their "
        "random frozen weights exist nowhere else)."
    )
    if pretrain:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in pretrain.items())
        lines += ["", f"Backbone pre-training, next item of each user's held-out last item: {scores}."]
    return lines


def curves_section(summary, seed=0):
    """Learning curves (train loss, validation loss and score per validation) of the runs that recorded them."""
    lines = []
    for (run, run_seed), record in sorted(summary.records.items()):
        if run_seed != seed:
            continue
        for key, curve in (record.get("info") or {}).items():
            if not key.endswith("_curve") or not curve:
                continue
            task = key[: -len("_curve")]
            lines += [f"{run}, task {task}, seed {seed}:", ""]
            lines += ["| epoch | train loss | valid loss | valid score |", "|---|---|---|---|"]
            lines += [
                f"| {p['epoch']} | {p['train_loss']:.4f} | {p['valid_loss']:.4f} | {p['valid_score']:.4f} |"
                for p in curve
            ]
            lines.append("")
    if not lines:
        return []
    return ["### Learning curves of fine-tuning", ""] + lines


def paper_claims(primary_metric, model="PeterRec-serial", others=("FineAll", "PeterZero"), extra=None):
    """Report hook: ``model`` against ``others`` paired by seed, trainable fractions, checkpoint sizes, learning
    curves; ``extra`` (a list of ``(heading, model, others, metric)``) adds further paired tables."""

    def hook(summary):
        lines = [f"### {model} against {' and '.join(others)}, paired by seed", ""]
        lines += _claims_table(summary, primary_metric, model, others)
        for heading, other_model, other_runs, metric in extra or ():
            lines += ["", f"### {heading}", ""]
            lines += _claims_table(summary, metric, other_model, other_runs)
        lines += [""] + _sizes_table(summary)
        curves = curves_section(summary)
        if curves:
            lines += [""] + curves
        return "\n".join(lines)

    return hook
