"""What a benchmark suite is: named runs evaluated over seeds, and the registry that finds suites by name.

A suite module lives in ``recbole_meta/benchmark/suites/<name>.py`` and registers a *builder*: a function
that takes :class:`SuiteOptions` (quick mode, output folder) and returns a :class:`Suite`. Modules in that
package are discovered automatically, so adding a suite is adding one file. See the package docstring of
:mod:`recbole_meta.benchmark` for a complete example.
"""

import dataclasses
import difflib
import hashlib
import importlib
import json
import math
import os
import pkgutil
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SUITES_PACKAGE = "recbole_meta.benchmark.suites"

# The small atomic dataset ``tiny`` (60 users, 40 items, user and item features) that --quick runs and the
# tests use; it ships inside the package, so a quick run works from an installed wheel.
QUICK_DATA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synthetic", "quick_data")
# The cold-start protocol that fits ``tiny`` (its users have 10-30 ratings on a 1-5 scale; the items released from
# 1997 on are the new items), for the episodic models' quick runs and tests.
TINY_EPISODES = {
    "min_user_inter": 10,
    "max_user_inter": 30,
    "query_size": 4,
    "new_item_rule": {"field": "release_year", "min": 1997},
    "rating_range": [1, 5],
    "meta_batch_size": 8,
}


# ------------------------------------------------------------------------------------------------ run level
@dataclass
class RunContext:
    """Everything a run's callable receives.

    Attributes:
        suite (str): suite name.
        run (str): run name.
        seed (int): the seed of this repetition; the runner has already called RecBole's ``init_seed`` with it.
        config (dict): ``Suite.config`` updated with ``Run.config`` (and ``Suite.quick_config`` in quick mode).
        quick (bool): quick (CI) mode.
        out_dir (str): the suite's output folder (absolute).
        run_dir (str): a folder of this run and seed (absolute); it is also the working directory during the
            run, so RecBole's ``log/``, ``log_tensorboard/`` and ``saved/`` land there.
        data: what ``Suite.prepare`` returned for this seed (``None`` without ``prepare``).
    """

    suite: str
    run: str
    seed: int
    config: dict
    quick: bool
    out_dir: str
    run_dir: str
    data: Any = None


@dataclass
class RunResult:
    """What a run's callable may return instead of a bare metrics dict.

    Attributes:
        metrics (dict): flat ``{"ndcg@10": 0.31, ...}`` or nested per evaluation state
            ``{"warm": {"mae": 0.74, ...}, "user_cold": {...}}``. Values are numbers.
        trainable_parameters (int): parameters with ``requires_grad`` (``None``: not applicable).
        info (dict): anything JSON-serialisable worth keeping in the record (best epoch, epochs run, ...).
    """

    metrics: Mapping
    trainable_parameters: int | None = None
    info: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """One entry of a suite: a name, a callable ``fn(ctx: RunContext) -> dict | RunResult`` and its config.

    ``config`` is recorded with every result and hashed: changing it makes the runner run again instead of
    resuming. Put every setting that changes the result in it (the model name, overrides), nothing volatile.
    ``defaults`` (optional): ``defaults(config) -> dict`` of the settings the run reads from files the config
    does not show (yaml defaults; :func:`recbole_meta.benchmark.recbole_run.yaml_defaults` for RecBole runs);
    their hash is recorded too, so that a changed default also makes the run run again.
    ``expected_seconds`` (optional): the run's rough wall time, for ordering only. With runs side by side
    (``--jobs``) the runner starts the longest first, by the wall time the results file last recorded; a run
    the file has no record of (a new results folder) is placed by this figure instead. It never enters a
    record or a hash.
    """

    name: str
    fn: Callable
    config: Mapping = field(default_factory=dict)
    defaults: Callable | None = None
    expected_seconds: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ValueError(f"run name must be a non-empty string without '/', got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"run {self.name}: `fn` must be callable, got {type(self.fn).__name__}")
        if self.expected_seconds is not None and not self.expected_seconds > 0:
            raise ValueError(
                f"run {self.name}: `expected_seconds` must be > 0 seconds, got {self.expected_seconds!r}"
            )


# ---------------------------------------------------------------------------------------------- suite level
@dataclass(frozen=True)
class SuiteOptions:
    """What a suite builder is told: ``quick`` (CI mode: tiny data, one seed, one epoch) and ``out_dir``."""

    quick: bool = False
    out_dir: str = "benchmark_results"


@dataclass
class Suite:
    """A list of runs evaluated on the same dataset, split and seeds.

    Attributes:
        name (str): suite name (results go to ``<out_dir>/<name>.jsonl``, ``.md``, ``.png``).
        runs (list of Run): in table order.
        seeds (sequence of int): default seeds (``--seeds`` overrides).
        description (str): one paragraph for the report: data, split, protocol.
        config (dict): settings shared by every run (dataset, split, metrics); merged under ``Run.config``.
        quick_config (dict): merged on top in quick mode (tiny data, one epoch).
        quick_seeds (sequence of int): seeds in quick mode (default: the first seed).
        prepare (callable): ``prepare(seed, config, quick, out_dir) -> data``, called once per seed before the
            first run of that seed that is not already done; ``ctx.data`` receives the result (a split built
            once and shared by every run of the seed, for example).
        compare (str): run name of the model for the paired comparison against the best other run.
        baselines (sequence of str): run names eligible as "best baseline" (default: every other run).
        primary_metric (str): metric that picks the best baseline (default: the first metric reported).
        smaller_is_better (sequence of str): metric names (lower-cased, without ``@k``) where lower is better,
            in addition to RecBole's own (mae, rmse, logloss, ...) and costs (see
            :func:`recbole_meta.benchmark.report.smaller_is_better`).
        info_columns (sequence of str): keys of ``RunResult.info`` shown as table columns, one value per
            seed (e.g. ``("epochs_run", "best_epoch")``).
        mark_best (bool): mark the best mean of each column in bold (False where rows are not competitors,
            e.g. sizes of a scaling study).
        report_hook (callable): ``report_hook(summary) -> str``: extra markdown appended to the report.
        plot_hook (callable): ``plot_hook(summary, path)``: draws the PNG instead of the default bar panels.
        regenerate_command (str): the command that reproduces the results (shown in the report); by default
            ``python -m recbole_meta.benchmark <name>``.
        headline_columns (sequence of (state, metric)): the README headline's columns (default: each state's
            primary metric, see :mod:`recbole_meta.benchmark.headline`); for suites with many states.
    """

    name: str
    runs: Sequence[Run]
    seeds: Sequence[int] = (0, 1, 2)
    description: str = ""
    config: Mapping = field(default_factory=dict)
    quick_config: Mapping = field(default_factory=dict)
    quick_seeds: Sequence[int] | None = None
    prepare: Callable | None = None
    compare: str | None = None
    baselines: Sequence[str] | None = None
    primary_metric: str | None = None
    smaller_is_better: Sequence[str] = ()
    info_columns: Sequence[str] = ()
    mark_best: bool = True
    report_hook: Callable | None = None
    plot_hook: Callable | None = None
    regenerate_command: str | None = None
    headline_columns: Sequence = ()

    def __post_init__(self):
        names = [run.name for run in self.runs]
        if not names:
            raise ValueError(f"suite {self.name}: `runs` is empty")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"suite {self.name}: run names must be unique, repeated: {duplicates}")
        for option in ("compare",):
            value = getattr(self, option)
            if value is not None and value not in names:
                raise ValueError(f"suite {self.name}: {option}={value!r} is not a run name ({names})")
        for value in self.baselines or ():
            if value not in names:
                raise ValueError(f"suite {self.name}: baseline {value!r} is not a run name ({names})")
        if not self.seeds:
            raise ValueError(f"suite {self.name}: `seeds` is empty")

    def run_names(self):
        return [run.name for run in self.runs]

    def run_config(self, run, quick):
        """The config a run sees: suite config < run config < quick config (in quick mode)."""
        merged = dict(self.config)
        merged.update(run.config)
        if quick:
            merged.update(self.quick_config)
        return merged

    def default_seeds(self, quick):
        if quick:
            return list(self.quick_seeds) if self.quick_seeds is not None else [list(self.seeds)[0]]
        return list(self.seeds)


def timing_suite(name, description, run, config, quick_config, repeats=5, **options):
    """A suite of one timing run on seed 0 (its metrics are ratios and rates, not competitors: nothing is
    marked best): ``repeats`` interleaved repetitions go into the config (1 in quick mode)."""
    return Suite(
        name=name,
        description=description,
        config={**config, "repeats": repeats},
        quick_config={**quick_config, "repeats": 1},
        seeds=(0,),
        runs=[run],
        mark_best=False,
        **options,
    )


def jsonable(value):
    """A JSON-compatible copy of a config value (tuples as lists, unknown objects as their repr)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value):
        return jsonable(dataclasses.asdict(value))
    return repr(value)


def config_hash(config, quick):
    """A short stable hash of a run's config and mode: a record with the same hash is the same experiment."""
    payload = json.dumps({"config": jsonable(config), "quick": bool(quick)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def resolved_defaults(run, config, read=None):
    """What ``run.defaults`` resolves for ``config``, in its JSON form (``None`` for a run without defaults).

    ``read`` is passed on to the defaults function when given (the files of another commit)."""
    if run.defaults is None:
        return None
    resolved = run.defaults(config) if read is None else run.defaults(config, read=read)
    return json.loads(json.dumps(jsonable(resolved), sort_keys=True))


def defaults_hash(defaults):
    """A short hash of resolved defaults (``None`` for none)."""
    if defaults is None:
        return None
    return hashlib.sha256(json.dumps(defaults, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RunKey:
    """What makes a stored record the same experiment as a run now: its config hash and its yaml defaults.

    A record matches when its config hash is equal and its defaults are equal, or when every default it
    recorded still has the same value and the only difference is options added since (their values then
    are the ones a report lists: an option added later cannot have been set at the time)."""

    config_hash: str
    defaults_hash: str | None
    defaults: dict | None


def run_key(run, config, quick):
    """The :class:`RunKey` of ``run`` with ``config`` in mode ``quick``."""
    defaults = resolved_defaults(run, config)
    return RunKey(config_hash(config, quick), defaults_hash(defaults), defaults)


# ---------------------------------------------------------------------------------------------- registry
_SUITES = {}
_IMPORT_ERRORS = {}


def register_suite(name_or_builder=None):
    """Decorator registering a suite builder ``builder(options: SuiteOptions) -> Suite``.

    Use bare (``@register_suite``: the function name is the suite name) or with a name
    (``@register_suite("melu_coldstart")``).
    """

    def decorator(builder, name=None):
        name = name or builder.__name__
        existing = _SUITES.get(name)
        if existing is not None and existing.__qualname__ != builder.__qualname__:
            raise ValueError(f"suite name {name!r} is already registered by {existing.__module__}")
        _SUITES[name] = builder
        builder.suite_name = name
        return builder

    if callable(name_or_builder):
        return decorator(name_or_builder)
    return lambda builder: decorator(builder, name_or_builder)


def _import_suite_modules(only=None):
    package = importlib.import_module(SUITES_PACKAGE)
    modules = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
    if only is not None:
        modules = [m for m in modules if m == only]
    for module in modules:
        try:
            importlib.import_module(f"{SUITES_PACKAGE}.{module}")
        except Exception:  # a broken suite file must not hide the others; get_suite reports it
            _IMPORT_ERRORS[module] = traceback.format_exc()


def suite_names():
    """Names of every registered suite (imports every module of ``recbole_meta/benchmark/suites``)."""
    _import_suite_modules()
    return sorted(_SUITES)


def get_suite_builder(name):
    """The builder registered as ``name``; the module ``suites/<name>.py`` is tried first, then all of them."""
    if name not in _SUITES:
        _import_suite_modules(only=name)
    if name not in _SUITES:
        _import_suite_modules()
    if name not in _SUITES:
        known = sorted(_SUITES)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        broken = "".join(f"\nsuite module {m} failed to import:\n{tb}" for m, tb in _IMPORT_ERRORS.items())
        raise ValueError(f"unknown suite {name!r}{hint} (known: {', '.join(known) or 'none'}){broken}")
    return _SUITES[name]


def build_suite(name, options=None):
    """Build the suite ``name`` for ``options`` and check what the builder returned."""
    options = options or SuiteOptions()
    suite = get_suite_builder(name)(options)
    if not isinstance(suite, Suite):
        raise TypeError(f"suite builder {name!r} must return a Suite, got {type(suite).__name__}")
    if suite.name != name:
        suite = dataclasses.replace(suite, name=name)
    return suite
