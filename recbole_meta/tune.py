"""Command line: hyperparameter search for a plugin or RecBole model, as RecBole's ``run_hyper.py``.

    python -m recbole_meta.tune --model=MeLU --dataset=ml-100k --params_file=melu.hyper --algo=exhaustive \\
        --output_file=melu_search.md --epochs=10

``--params_file`` uses RecBole's format, one parameter a line (``#`` starts a comment)::

    local_lr choice [0.005, 0.01]
    meta_lr loguniform -9.2,-6.9
    embedding_size quniform 16,64,16

``--algo`` is RecBole's: ``exhaustive`` (every combination of ``choice`` values; the grid),
``random`` or ``bayes`` (TPE) for ``--max_evals`` trials (``--search_seed`` makes them repeatable). A grid runs
every combination unless ``--early_stop`` is given; random and bayes stop after 10 trials without progress, as
RecBole's ``run_hyper.py`` does. Each trial is one train + test run of
:func:`recbole_meta.quick_start.objective_function` with the same seed, so the same split; the chosen
configuration is the one with the best *validation* score (``valid_metric``); test metrics are reported for
every trial and never used to choose. The results table (one row per trial, the chosen one marked) is printed
and written to ``--output_file`` as Markdown. Every other ``--key=value`` is a fixed config override.

The search runs RecBole's ``HyperTuning`` on hyperopt, an optional dependency: ``pip install ".[tune]"``.
Installed as the ``recbole_meta_tune`` console script too.
"""

import argparse
import ast
import difflib
import math
import os
import sys

PARAM_TYPES = ("choice", "uniform", "quniform", "loguniform")
ALGOS = ("exhaustive", "random", "bayes")


def require_hyperopt():
    try:
        import hyperopt  # noqa: F401
    except ImportError:
        raise ImportError(
            'hyperparameter search needs hyperopt, an optional dependency: pip install ".[tune]"'
        ) from None


def read_params_file(path):
    """RecBole's parameter-space file as its ``params_dict`` (``{type: {name: values}}``), checked line by line.

    Unlike RecBole's reader (``eval`` on the values, malformed lines skipped), values are parsed as literals and
    every malformed line is an error naming the file and line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"params file not found: {path}")
    space = {}
    seen = set()
    with open(path) as f:
        for number, line in enumerate(f, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            where = f"{path}, line {number}"
            parts = text.split()
            if len(parts) < 3:
                raise ValueError(
                    f"{where}: expected 'NAME TYPE VALUES' (e.g. 'learning_rate choice [0.01, 0.001]')"
                )
            name, kind, raw = parts[0], parts[1], "".join(parts[2:])
            if kind not in PARAM_TYPES:
                raise ValueError(f"{where}: type {kind!r} is not one of {', '.join(PARAM_TYPES)}")
            if name in seen:
                raise ValueError(f"{where}: parameter {name} is given twice")
            seen.add(name)
            space.setdefault(kind, {})[name] = _parse_values(kind, raw, where)
    if not space:
        raise ValueError(f"{path} defines no parameter")
    return space


def _parse_values(kind, raw, where):
    if kind == "choice":
        try:
            values = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise ValueError(f"{where}: choice values must be a Python literal list, got {raw!r}") from None
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: choice values must be a non-empty list, got {raw!r}")
        return values
    expected = 3 if kind == "quniform" else 2
    try:
        numbers = [float(v) for v in raw.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != expected or not all(math.isfinite(v) for v in numbers) or numbers[0] >= numbers[1]:
        shape = "LOW,HIGH,Q" if kind == "quniform" else "LOW,HIGH"
        raise ValueError(f"{where}: {kind} takes {shape} with LOW < HIGH, got {raw!r}")
    return numbers


def check_space(space, algo, config):
    """Every parameter must be a config key of the run; exhaustive search needs only ``choice`` parameters."""
    if algo not in ALGOS:
        raise ValueError(f"--algo must be one of {', '.join(ALGOS)}, got {algo!r}")
    known = list(config.final_config_dict)
    for kind, params in space.items():
        for name in params:
            if name not in config:
                hint = difflib.get_close_matches(name, known, n=1)
                raise ValueError(
                    f"parameter {name!r} is not a config key of {config['model']}"
                    + (f"; did you mean {hint[0]}?" if hint else "")
                )
            if algo == "exhaustive" and kind != "choice":
                raise ValueError(
                    f"--algo=exhaustive enumerates choice parameters only; {name} is {kind} (use random or bayes)"
                )


def _flatten(result, prefix=""):
    """``{state: {metric: v}}`` or ``{metric: v}`` -> ``{"state/metric": v}`` / ``{"metric": v}``."""
    flat = {}
    for key, value in (result or {}).items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = float(value)
    return flat


class SearchResult:
    """The trials of a search in run order and the one chosen on the validation score."""

    def __init__(self, model, valid_metric, bigger, trials, chosen):
        self.model, self.valid_metric, self.bigger = model, valid_metric, bigger
        self.trials = trials  # list of (params, result dict)
        self.chosen = chosen  # index into trials

    @property
    def best_params(self):
        return self.trials[self.chosen][0]

    def table(self):
        """The results table (Markdown): params, the validation score, every test metric; the chosen row marked."""
        names = list(dict.fromkeys(n for params, _ in self.trials for n in params))
        tests = list(dict.fromkeys(k for _, r in self.trials for k in _flatten(r["test_result"])))
        header = ["trial", *names, f"valid {self.valid_metric}", *[f"test {t}" for t in tests], "chosen"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for index, (params, result) in enumerate(self.trials):
            test = _flatten(result["test_result"])
            row = [str(index + 1), *[repr(params.get(n)) for n in names], f"{result['best_valid_score']:.4f}"]
            row += [f"{test[t]:.4f}" if t in test else "" for t in tests]
            row.append("*" if index == self.chosen else "")
            lines.append("| " + " | ".join(row) + " |")
        direction = "highest" if self.bigger else "lowest"
        lines.append("")
        lines.append(
            f"{self.model}: chosen trial {self.chosen + 1} ({direction} validation {self.valid_metric}); test "
            "metrics are reported, never used to choose."
        )
        return "\n".join(lines)


def run_search(
    model,
    dataset,
    params_dict,
    algo="exhaustive",
    max_evals=100,
    early_stop=None,
    config_file_list=None,
    fixed=None,
    search_seed=0,
):
    """Run RecBole's ``HyperTuning`` over ``params_dict`` for ``model`` on ``dataset``.

    Args:
        params_dict (dict): ``{type: {name: values}}`` as :func:`read_params_file` returns.
        early_stop (int or None): stop after this many trials without a better validation score; ``None``:
            never for ``exhaustive`` (every combination of the grid runs), RecBole's 10 for ``random`` / ``bayes``.
        fixed (dict): config values every trial shares (above the files, below the searched parameters).
        search_seed (int): seeds hyperopt's sampling (random / bayes), so that a search can be repeated.

    Returns:
        SearchResult
    """
    require_hyperopt()
    from recbole.trainer.hyper_tuning import HyperTuning

    from recbole_meta.compat.tuning import seeded_search
    from recbole_meta.config import Config
    from recbole_meta.quick_start import objective_function

    base = {**(fixed or {}), "model": model, "dataset": dataset}
    config = Config(
        model=model, dataset=dataset, config_file_list=config_file_list, config_dict=base, argv=[]
    )
    check_space(params_dict, algo, config)
    trials = []

    def objective(params, config_files):
        result = objective_function({**base, **params}, config_files)
        trials.append((dict(params), result))
        return result

    tuner = HyperTuning(
        objective,
        params_dict=params_dict,
        fixed_config_file_list=config_file_list,
        algo=algo,
        max_evals=max_evals,
        early_stop=early_stop or (2**31 - 1 if algo == "exhaustive" else 10),
    )
    with seeded_search(search_seed):
        tuner.run()
    if not trials:
        raise RuntimeError("the search ran no trial")
    bigger = bool(trials[0][1]["valid_score_bigger"])
    chosen = next(i for i, (params, _) in enumerate(trials) if params == tuner.best_params)
    return SearchResult(model, config["valid_metric"], bigger, trials, chosen)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m recbole_meta.tune",
        description="Hyperparameter search (RecBole's run_hyper.py) for a recbole_meta or RecBole model.",
        epilog="Any other --key=value is a fixed config override, e.g. --epochs=10.",
    )
    parser.add_argument("--model", "-m", required=True, help="model name, e.g. MeLU or BPR")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (default ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated yaml config files")
    parser.add_argument("--params_file", required=True, help="the search space, RecBole's format")
    parser.add_argument(
        "--algo", default="exhaustive", choices=ALGOS, help="exhaustive (grid), random or bayes"
    )
    parser.add_argument("--max_evals", type=int, default=100, help="trials for random / bayes (default 100)")
    parser.add_argument(
        "--early_stop",
        type=int,
        default=None,
        help="stop after this many trials without progress (default: never for exhaustive, 10 otherwise)",
    )
    parser.add_argument("--output_file", default="hyper_search.md", help="where the results table is written")
    parser.add_argument("--search_seed", type=int, default=0, help="seed of hyperopt's sampling (default 0)")
    return parser


def _overrides(rest, parser):
    """``--key=value`` pairs as config values (parsed as YAML scalars, like RecBole's command line)."""
    import yaml

    values = {}
    for arg in rest:
        if not (arg.startswith("--") and "=" in arg):
            parser.error(f"unrecognised argument {arg!r}: config overrides are written --key=value")
        key, value = arg[2:].split("=", 1)
        try:
            values[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            values[key] = value
    return values


def main(argv=None):
    parser = build_parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    fixed = _overrides(rest, parser)
    if args.max_evals < 1 or (args.early_stop is not None and args.early_stop < 1):
        parser.error("--max_evals and --early_stop must be positive")
    try:
        require_hyperopt()
        params = read_params_file(args.params_file)
        files = args.config_files.split() if args.config_files else None
        result = run_search(
            args.model,
            args.dataset,
            params,
            algo=args.algo,
            max_evals=args.max_evals,
            early_stop=args.early_stop,
            config_file_list=files,
            fixed=fixed,
            search_seed=args.search_seed,
        )
    except (ImportError, ValueError, FileNotFoundError, KeyError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"tune: error: {message}", file=sys.stderr)
        return 2
    table = result.table()
    with open(args.output_file, "w") as f:
        f.write(table + "\n")
    print(table)
    print(f"best params: {result.best_params}")
    print(f"results table written to {args.output_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
