"""Run records: one JSON object a line in ``<out_dir>/<suite>.jsonl``, appended as each run finishes.

A record holds ``suite``, ``run``, ``seed``, ``config_hash``, ``config``, ``quick``, ``status`` (``ok`` or
``failed``), ``metrics`` (always nested per evaluation state; a flat dict is stored under the state
:data:`FLAT_STATE`), ``wall_seconds``, ``peak_rss_mb``, ``trainable_parameters``, ``info``, ``error``,
``finished_at``, ``environment`` and ``defaults_hash`` (the hash of the yaml defaults the run read and did
not override; see ``Run.defaults``). A run is done when an ``ok`` record with the same (suite, run, seed,
config_hash, defaults_hash) exists; failed runs are tried again on the next invocation.
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


# The defaults hash of a record written before records carried one: its yaml defaults are unknown. Such a
# record still counts as done (and is shown; the report says how many) until ``stamp_defaults`` fills it in.
UNRECORDED = "unrecorded"


def record_key(record):
    """(suite, run, seed, config_hash, defaults_hash) of a record (:data:`UNRECORDED` if it has none)."""
    return (
        record["suite"],
        record["run"],
        int(record["seed"]),
        record["config_hash"],
        record.get("defaults_hash", UNRECORDED),
    )


def done_keys(records):
    """Keys (suite, run, seed, config_hash, defaults_hash) of the successful records."""
    return {record_key(r) for r in records if r.get("status") == "ok"}


def is_done(done, suite, run, seed, hashes):
    """Whether ``done`` (from :func:`done_keys`) holds (suite, run, seed) with ``hashes`` =
    (config_hash, defaults_hash), or the same config hash with unrecorded defaults."""
    config_key, defaults_key = hashes
    base = (suite, run, int(seed), config_key)
    return base + (defaults_key,) in done or base + (UNRECORDED,) in done


def matches(record, hashes):
    """Whether a record is of the experiment ``hashes`` = (config_hash, defaults_hash) (see :func:`is_done`)."""
    config_key, defaults_key = hashes
    recorded = record.get("defaults_hash", UNRECORDED)
    return record["config_hash"] == config_key and recorded in (defaults_key, UNRECORDED)


def latest_ok(records, suite, wanted):
    """The latest successful record for each key in ``wanted`` ({(run, seed): (config_hash, defaults_hash)}).

    Records of other seeds are ignored, and so are records of another config or other yaml defaults (an
    older definition of a run); the number of the latter is returned too, so that a report can say that
    stale results exist.
    """
    chosen, stale = {}, 0
    for record in records:
        if record.get("suite") != suite or record.get("status") != "ok":
            continue
        key = (record["run"], int(record["seed"]))
        if key not in wanted:
            continue
        if matches(record, wanted[key]):
            chosen[key] = record
        else:
            stale += 1
    return chosen, stale
