"""``python -m recbole_meta.benchmark <suite>``: run a suite (resuming), then write its table, plot and report."""

import argparse
import os
import sys

DEFAULT_OUT = "benchmark_results"


def default_out_dir(quick):
    """``benchmark_dir`` of the plugin's ``properties/overall.yaml`` (``quick/`` under it in quick mode)."""
    import yaml

    from recbole_meta.config import properties_dir

    with open(os.path.join(properties_dir(), "overall.yaml")) as file:
        out = (yaml.safe_load(file) or {}).get("benchmark_dir") or DEFAULT_OUT
    return os.path.join(out, "quick") if quick else out


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m recbole_meta.benchmark",
        description="Run a benchmark suite over seeds (resuming finished runs), then write "
        "<out>/<suite>.jsonl (records), <suite>.md (tables, paired comparison) and <suite>.png.",
    )
    parser.add_argument("suite", nargs="?", help="suite name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the registered suites and exit")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the suite's)")
    parser.add_argument("--quick", action="store_true", help="CI mode: tiny data, one seed, one epoch")
    parser.add_argument("--out", default=None, help="output folder (default: benchmark_results[/quick])")
    parser.add_argument("--runs", nargs="+", default=None, help="only these runs of the suite")
    parser.add_argument("--report-only", action="store_true", help="run nothing; report from the results")
    parser.add_argument("--compare", default=None, help="run compared against the best baseline")
    parser.add_argument(
        "--update-readme",
        nargs="?",
        const="README.md",
        default=None,
        metavar="PATH",
        help="also put the suite's headline (a few rows, a link to its report) into PATH (default README.md) "
        "between its <!-- benchmark:<suite> --> markers and regenerate the models table there; without a "
        "suite: every suite's headline from the results files (runs nothing)",
    )
    parser.add_argument(
        "--stamp-defaults",
        action="store_true",
        help="records written before records carried the yaml-defaults hash: compute it from the yaml files "
        "of the commit each record names and write it in (then a changed default makes them stale)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's); recorded in each record",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs executing side by side, each in its own process (default 1); every worker gets --threads "
        "torch threads, by default the CPUs shared out among the jobs",
    )
    return parser


def regenerate_command(suite, args):
    """The command a report names: the suite's own for its full runs, else one built from the arguments (a
    quick report names the quick command)."""
    if suite.regenerate_command and not args.quick:
        return suite.regenerate_command
    parts = ["python -m recbole_meta.benchmark", suite.name]
    if args.seeds is not None and list(args.seeds) != suite.default_seeds(args.quick):
        parts.append("--seeds " + " ".join(map(str, args.seeds)))
    if args.quick:
        parts.append("--quick")
    if args.out is not None and os.path.normpath(args.out) != os.path.normpath(default_out_dir(args.quick)):
        parts.append(f"--out {args.out}")
    return " ".join(parts)


def write_outputs(suite, args, out_dir):
    """Summarise the results file into ``<suite>.md`` and ``<suite>.png`` (and README); returns the report."""
    from recbole_meta.benchmark.plots import plot_suite
    from recbole_meta.benchmark.records import read_records
    from recbole_meta.benchmark.report import render_report, summarize
    from recbole_meta.benchmark.runner import results_path

    records = read_records(results_path(out_dir, suite.name))
    summary = summarize(suite, records, seeds=args.seeds, quick=args.quick)
    png = os.path.join(out_dir, f"{suite.name}.png")
    if summary.states:
        (suite.plot_hook or plot_suite)(summary, png)
    image = png if os.path.exists(png) and summary.states else None
    command = regenerate_command(suite, args)
    report = render_report(
        summary,
        command,
        image=os.path.basename(image) if image else None,
        compare=args.compare,
    )
    with open(os.path.join(out_dir, f"{suite.name}.md"), "w", encoding="utf-8") as file:
        file.write(report)
    if args.update_readme:
        from recbole_meta.benchmark.readme import update_readme_headlines

        for line in update_readme_headlines(args.update_readme, out_dir, {suite.name: (summary, command)}):
            print(line)
    return report, summary


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from recbole_meta.benchmark.suite import SuiteOptions, build_suite, suite_names

    if args.list:
        for name in suite_names():
            print(name)
        return 0
    if not args.suite and args.update_readme:
        from recbole_meta.benchmark.readme import update_readme_headlines

        for line in update_readme_headlines(
            args.update_readme, os.path.abspath(args.out or default_out_dir(False))
        ):
            print(line)
        return 0
    if not args.suite:
        build_parser().error("a suite name is required (see --list)")
    if args.jobs < 1:
        build_parser().error(f"--jobs must be at least 1, got {args.jobs}")
    out_dir = os.path.abspath(args.out or default_out_dir(args.quick))
    os.makedirs(out_dir, exist_ok=True)
    try:
        suite = build_suite(args.suite, SuiteOptions(quick=args.quick, out_dir=out_dir))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = []
    run_lines = []
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.stamp_defaults:
        from recbole_meta.benchmark.defaults_backfill import stamp_defaults
        from recbole_meta.benchmark.runner import results_path

        stamped, left = stamp_defaults(suite, results_path(out_dir, suite.name))
        print(f"{suite.name}: yaml-defaults hash stamped into {stamped} record(s)")
        for run, seed, commit in left:
            print(f"not stamped: {run} seed {seed} (commit {commit} is not in this repository)")
    if not args.report_only:
        from recbole_meta.benchmark.runner import run_suite

        try:  # a run's own failure becomes its record; what is raised here is a bad request (runs, jobs)
            summary = run_suite(
                suite,
                out_dir,
                seeds=args.seeds,
                quick=args.quick,
                progress=not args.no_progress,
                runs=args.runs,
                jobs=args.jobs,
                threads=args.threads,
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        failed = summary.failed
        run_lines = summary.lines()
    report, _ = write_outputs(suite, args, out_dir)
    print(report)
    for line in run_lines:
        print(line)
    print(f"report: {os.path.join(out_dir, suite.name + '.md')}")
    return 1 if failed else 0
