"""Paths and a subprocess runner shared by the tests (fixtures live in conftest.py)."""

import os
import subprocess
import sys

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DATA = os.path.join(
    REPO_ROOT, "recbole_meta", "benchmark", "synthetic", "quick_data"
)  # the quick benchmarks' data


def run_python(*args, input=None):
    """Run ``python *args`` in a subprocess that imports this checkout's recbole_meta (``input``: its stdin)."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, input=input)


def write_atomic(root, name, users, items, inter):
    """Write ``name.user`` / ``name.item`` / ``name.inter`` under ``root/name``; rows are tuples of strings."""
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    files = {"user": users, "item": items, "inter": inter}
    for suffix, (header, rows) in files.items():
        if header is None:
            continue
        with open(os.path.join(folder, f"{name}.{suffix}"), "w") as f:
            f.write("\t".join(header) + "\n")
            for row in rows:
                f.write("\t".join(str(v) for v in row) + "\n")
    return root


def two_cluster_data(root, n_users=60, n_items=40, per_user=14, seed=0):
    """``root/clusters``: users of cluster ``u % 2`` interact only with items of the same parity (a planted
    signal a recommender must find; a random ranking does not). The ``.item`` file holds two fields that say
    nothing about the parity (``shade`` token, ``tags`` token_seq). Returns ``root``."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for u in range(n_users):
        for i in rng.choice(np.arange(u % 2, n_items, 2), per_user, replace=False):
            t += 1
            rows.append((f"u{u}", f"i{i}", 4, t))
    header = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
    items = [(f"i{i}", str((i // 2) % 5), f"t{(i // 2) % 3} t{(i // 4) % 4}") for i in range(n_items)]
    item_header = ["item_id:token", "shade:token", "tags:token_seq"]
    return write_atomic(root, "clusters", (None, None), (item_header, items), (header, rows))
