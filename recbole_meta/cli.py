"""Command line: train and test a recbole_meta or RecBole model, RecBole style.

    python run_recbole_meta.py --model=MeLU --dataset=ml-100k --config_files="a.yaml b.yaml" --epochs=5

Every ``--key=value`` other than the options below goes to the config (highest precedence).
"""

import argparse
import sys


def build_parser():
    from recbole_meta.utils import plugin_model_names, recbole_model_names

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
    return parser


def _as_float(value):
    return float(value)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.model is None:
        parser.error("--model is required (see --help for the list)")
    unknown = [a for a in rest if not (a.startswith("--") and "=" in a)]
    if unknown:
        parser.error(f"unrecognised arguments {unknown}: config overrides are written --key=value")

    from recbole_meta import run_recbole_meta

    config_files = args.config_files.strip().split(" ") if args.config_files else None
    try:
        result = run_recbole_meta(
            model=args.model, dataset=args.dataset, config_file_list=config_files, argv=rest
        )
    except (ValueError, FileNotFoundError, KeyError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"run_recbole_meta.py: error: {message}", file=sys.stderr)
        return 2
    test_result = result["test_result"] or {}
    print("test result: " + ", ".join(f"{k}={_as_float(v):.4f}" for k, v in test_result.items()))
    return 0
