"""Run records: one JSON object a line in ``<out_dir>/<suite>.jsonl``, appended as each run finishes.

A record holds ``suite``, ``run``, ``seed``, ``config_hash``, ``config``, ``quick``, ``status`` (``ok`` or
``failed``), ``metrics`` (always nested per evaluation state; a flat dict is stored under the state
:data:`FLAT_STATE`), ``wall_seconds``, ``peak_rss_mb``, ``trainable_parameters``, ``info``, ``error``,
``finished_at``, ``environment``, ``defaults`` and ``defaults_hash`` (the yaml defaults the run read and did
not override, and their hash; see ``Run.defaults``). A run is done when an ``ok`` record of the same (suite,
run, seed, config_hash) exists whose defaults still hold (:func:`options_added`); failed runs are tried again
on the next invocation.
"""

import json
import math
import numbers
import os
from collections.abc import Mapping
from logging import getLogger

FLAT_STATE = "all"


def normalize_metrics(metrics, where="run"):
    """``{state: {metric: float}}`` from a flat ``{metric: number}`` or nested ``{state: {metric: number}}``.

    Metric names are kept as given (RecBole's are lower case, e.g. ``ndcg@10``). Non-finite values become
    ``None`` (JSON has no NaN). Raises ``TypeError`` naming ``where`` and the offending key otherwise.
    """
    if not isinstance(metrics, Mapping) or not metrics:
        raise TypeError(f"{where}: metrics must be a non-empty dict, got {metrics!r}")
    values = list(metrics.values())
    if all(isinstance(v, Mapping) for v in values):
        nested = metrics
    elif any(isinstance(v, Mapping) for v in values):
        raise TypeError(f"{where}: metrics mix states (dicts) and values; use one or the other")
    else:
        nested = {FLAT_STATE: metrics}
    out = {}
    for state, state_metrics in nested.items():
        out[str(state)] = {}
        for name, value in state_metrics.items():
            if hasattr(value, "item") and not isinstance(value, numbers.Number):
                value = value.item()  # numpy / torch scalars
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(
                    f"{where}: metric {state}/{name} must be a number, got {type(value).__name__} {value!r}"
                )
            value = float(value)
            out[str(state)][str(name)] = value if math.isfinite(value) else None
    return out


def _cut_partial_last_line(path):
    """Cut a last line that lacks its newline (a run killed while writing it); return the bytes removed.

    Without this, the next record would be appended onto the partial one, and the merged line would be an
    unreadable record in the middle of the file for every later invocation.
    """
    with open(path, "rb+") as file:
        size = file.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        file.seek(size - 1)
        if file.read(1) == b"\n":
            return 0
        end = size
        while end > 0:  # the last newline, read backwards in blocks
            start = max(0, end - 65536)
            file.seek(start)
            newline = file.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        file.truncate(end)
        return size - end


def append_record(path, record):
    """Append one record as a JSON line and flush it to disk (so an interrupted suite loses nothing).

    A partial last line left by an interrupted write is cut first (its run was not recorded as done, so it
    runs again), and a warning names the file.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = json.dumps(record, allow_nan=False)  # key order kept: metrics stay in the order reported
    if os.path.exists(path):
        removed = _cut_partial_last_line(path)
        if removed:
            getLogger(__name__).warning(
                f"{path}: removed a partial last record ({removed} bytes, an interrupted write)"
            )
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


def read_records(path):
    """All records of a results file (an empty list if it does not exist).

    A truncated last line (the process was killed while writing) is skipped; a malformed line elsewhere
    raises ``ValueError`` naming the file and line.
    """
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as file:
        lines = file.read().split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number >= len(lines) - 1:  # the last non-empty line: an interrupted write
                continue
            raise ValueError(
                f"{path}, line {number}: not a JSON record ({err}); delete or fix that line"
            ) from None
    return records


def record_key(record):
    """(suite, run, seed, config_hash) of a record."""
    return record["suite"], record["run"], int(record["seed"]), record["config_hash"]


def options_added(record, key):
    """Defaults of ``key`` (a :class:`recbole_meta.benchmark.suite.RunKey`) that ``record`` did not read:
    options added since it was measured, ``{name: value now}``; ``None`` when the record does not match
    ``key`` (another config, or a default it read has another value now or no longer exists)."""
    if record["config_hash"] != key.config_hash:
        return None
    if key.defaults is None or "defaults_hash" not in record:
        return {}  # a run without defaults, or a record from before they were recorded (the report says so)
    if record["defaults_hash"] == key.defaults_hash:
        return {}
    recorded = record.get("defaults")
    if recorded is None or any(
        name not in key.defaults or key.defaults[name] != v for name, v in recorded.items()
    ):
        return None
    return {name: value for name, value in key.defaults.items() if name not in recorded}


def done_runs(records, suite, keys):
    """``{(run, seed)}`` of the successful records of ``suite`` that match ``keys`` ({run: RunKey})."""
    done = set()
    for record in records:
        key = keys.get(record.get("run"))
        if record.get("suite") == suite and record.get("status") == "ok" and key is not None:
            if options_added(record, key) is not None:
                done.add((record["run"], int(record["seed"])))
    return done


def latest_ok(records, suite, wanted):
    """The latest successful record for each key in ``wanted`` ({(run, seed): RunKey}).

    Records of other seeds are ignored, and so are records of another config or of yaml defaults that have
    changed since (an older definition of a run); the number of the latter is returned too, so that a report
    can say that stale results exist.
    """
    chosen, stale = {}, 0
    for record in records:
        if record.get("suite") != suite or record.get("status") != "ok":
            continue
        key = (record["run"], int(record["seed"]))
        if key not in wanted:
            continue
        if options_added(record, wanted[key]) is not None:
            chosen[key] = record
        else:
            stale += 1
    return chosen, stale
