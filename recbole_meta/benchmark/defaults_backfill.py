"""Fill in the yaml-defaults hash of records written before records carried one, from the commit each names.

A record's ``config_hash`` covers the config a suite states, not the yaml defaults the run read; since
``Run.defaults`` exists, a record also carries them (``defaults``, ``defaults_hash``) and a changed default
makes the run run again. Older records lack them, so they are kept unchecked. :func:`stamp_defaults` (the
``--stamp-defaults`` option) checks them: for each such record it reads the plugin's yaml files as they were at
the commit the record's environment names (``git show <commit>:properties/...``), computes the hash the run would
have recorded, and writes it into the record (with ``defaults_from_commit``). A record whose commit this repository does not hold stays as it is
and is listed. Uncommitted edits present when the record was measured cannot be seen.
"""

import os
import subprocess

from recbole_meta.benchmark.records import read_records
from recbole_meta.benchmark.suite import defaults_hash, resolved_defaults


def _git(args, cwd):
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def git_reader(commit, properties=None):
    """``read(path relative to properties/) -> text or None`` of ``commit``, or ``None`` when the repository
    of the installed ``properties/`` folder does not hold that commit (or is no git checkout)."""
    from recbole_meta.config import properties_dir

    properties = properties or properties_dir()
    top = _git(["rev-parse", "--show-toplevel"], properties)
    if top is None or top.returncode != 0 or not commit:
        return None
    root = top.stdout.strip()
    if _git(["cat-file", "-e", f"{commit}^{{commit}}"], root).returncode != 0:
        return None
    prefix = os.path.relpath(properties, root)
    cache = {}

    def read(relative):
        if relative not in cache:
            shown = _git(["show", f"{commit}:{prefix}/{relative}".replace(os.sep, "/")], root)
            cache[relative] = shown.stdout if shown is not None and shown.returncode == 0 else None
        return cache[relative]

    return read


def stamp_defaults(suite, path, properties=None):
    """Stamp ``defaults`` and ``defaults_hash`` into the records of ``suite`` in the results file ``path``
    that lack the defaults.

    Only records of runs that declare ``defaults`` are touched; the file is rewritten atomically.

    Returns:
        (int, list): the number stamped, and (run, seed, commit) of the records left unstamped.
    """
    records = read_records(path)
    runs = {run.name: run for run in suite.runs}
    readers, stamped, left = {}, 0, []
    for record in records:
        run = runs.get(record.get("run"))
        if record.get("suite") != suite.name or "defaults" in record or run is None or not run.defaults:
            continue
        commit = (record.get("environment") or {}).get("git_commit") or ""
        if commit not in readers:
            readers[commit] = git_reader(commit, properties)
        if readers[commit] is None:
            left.append((record["run"], record["seed"], commit or "none recorded"))
            continue
        record["defaults"] = resolved_defaults(run, record["config"], read=readers[commit])
        record["defaults_hash"] = defaults_hash(record["defaults"])
        record["defaults_from_commit"] = commit
        stamped += 1
    if stamped:
        import json

        temporary = f"{path}.stamping"
        with open(temporary, "w", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record, allow_nan=False) + "\n")
        os.replace(temporary, path)
    return stamped, left
