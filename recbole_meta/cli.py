"""Command line: train and test a recbole_meta or RecBole model, RecBole style.

    python run_recbole_meta.py --model=MeLU --dataset=ml-100k --config_files="a.yaml b.yaml" --epochs=5

Every ``--key=value`` other than the options below goes to the config (highest precedence).
"""

import argparse
import sys


def build_parser():
    from recbole_meta.registry import plugin_model_names, recbole_model_names

    epilog = (
        "plugin models: "
        + (", ".join(plugin_model_names()) or "none yet")
        + "\nRecBole models: "
        + ", ".join(recbole_model_names())
        + "\n\nAny other --key=value is passed to the config, e.g. --epochs=5 --learning_rate=0.01"
    )
    parser = argparse.ArgumentParser(
        description="Train and test a recbole_meta (or RecBole) model.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", "-m", type=str, default=None, help="model name, e.g. MeLU or BPR")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="dataset name (default ml-100k)")
    parser.add_argument("--config_files", type=str, default=None, help="space-separated yaml config files")
    parser.add_argument(
        "--evidence_candidates",
        type=int,
        default=0,
        metavar="K",
        help="after training an episodic model (MeLU), print its K evidence candidates (MeLU, Section 3.3)",
    )
    return parser


BASELINE = "UserItemBias"


def format_result(test_result, model=None, baseline=None, baseline_result=None):
    """One line for a flat result; a table (one row per state) for an episodic model's {state: metrics}, with
    the baseline's row under the model's in each state when ``baseline_result`` is given."""
    if not test_result or not all(isinstance(v, dict) for v in test_result.values()):
        return "test result: " + ", ".join(f"{k}={float(v):.4f}" for k, v in test_result.items())
    metrics = list(next(iter(test_result.values())))
    width = max(len(m) for m in metrics + ["state"]) + 2
    rows = [(model or "", test_result)] + ([(baseline, baseline_result)] if baseline_result else [])
    name_width = max(len(name) for name, _ in rows) + 2
    title = "test result:" if len(rows) == 1 else f"test result, {model} beside {baseline} on the same split:"
    lines = [title, f"{'state':<16}{'':<{name_width}}" + "".join(f"{m:>{width}}" for m in metrics)]
    for state in test_result:
        for index, (name, result) in enumerate(rows):
            label = state if index == 0 else ""
            cells = "".join(f"{float(result[state][m]):>{width}.4f}" for m in metrics)
            lines.append(f"{label:<16}{name:<{name_width}}" + cells)
    from recbole.evaluator.register import smaller_metrics

    lower = [m for m in metrics if m.split("@")[0] in smaller_metrics]
    higher = [m for m in metrics if m not in lower]
    lines.append(
        "; ".join(
            f"{which} is better: {', '.join(ms)}"
            for which, ms in (("lower", lower), ("higher", higher))
            if ms
        )
    )
    return "\n".join(lines)


def baseline_for(model_name):
    """``UserItemBias`` for an episodic model that learns something, else ``None`` (nothing to compare)."""
    from recbole_meta.model.meta_recommender import MetaRecommender
    from recbole_meta.model.meta_recommender.mean_baselines import MeanBaseline
    from recbole_meta.registry import get_model

    model_class = get_model(model_name)
    if issubclass(model_class, MetaRecommender) and not issubclass(model_class, MeanBaseline):
        return BASELINE
    return None


# Errors that a user's input causes: printed as one line, without a traceback. ``ValueError`` covers
# recbole_meta.input_checks.ConfigError and recbole_meta.data.atomic_files.DataFileError.
USER_ERRORS = (ValueError, KeyError, TypeError, OSError, SyntaxError)


def _error(message):
    print(f"run_recbole_meta.py: error: {message}", file=sys.stderr)
    return 2


def main(argv=None):
    """Run the command line; returns the exit status (0, 2 for a user error, 130 when interrupted)."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        print("run_recbole_meta.py: interrupted (Ctrl-C); nothing was tested", file=sys.stderr)
        return 130


def _main(argv):
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.model is None:
        parser.error("--model is required (see --help for the list)")
    unknown = [a for a in rest if not (a.startswith("--") and "=" in a)]
    if unknown:
        parser.error(f"unrecognised arguments {unknown}: config overrides are written --key=value")

    from recbole_meta import run_recbole_meta
    from recbole_meta.config import Config
    from recbole_meta.distributed.launch import reports_results

    config_files = args.config_files.strip().split() if args.config_files else None
    try:
        if args.evidence_candidates:
            from recbole_meta.model.meta_recommender.evidence import check_evidence_config

            if args.evidence_candidates < 0:
                parser.error("--evidence_candidates K needs K > 0")
            config = Config(model=args.model, dataset=args.dataset, config_file_list=config_files, argv=rest)
            check_evidence_config(config)
        baseline = baseline_for(args.model)
        result = run_recbole_meta(
            model=args.model,
            dataset=args.dataset,
            config_file_list=config_files,
            argv=rest,
            baseline=baseline,
        )
    except USER_ERRORS as err:
        return _error(err.args[0] if isinstance(err, KeyError) and err.args else err)
    if not reports_results():  # a torchrun process other than rank 0: rank 0 prints the result
        return 0
    print(format_result(result["test_result"] or {}, args.model, baseline, result.get("baseline_result")))
    if args.evidence_candidates:
        from recbole_meta.model.meta_recommender.evidence import (
            evidence_candidates_for_run,
            format_candidates,
        )

        try:
            candidates = evidence_candidates_for_run(
                config, result["saved_model_file"], k=args.evidence_candidates
            )
        except (ValueError, AttributeError) as err:
            return _error(f"evidence candidates: {err}")
        print(f"evidence candidates (top {args.evidence_candidates}):")
        print(format_candidates(candidates))
    return 0
