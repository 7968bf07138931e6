"""Shared fixtures: every test runs in its own temporary directory (RecBole writes log/, saved/ there)."""

import os

import pytest

TEST_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_data")


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def tiny_config_dict():
    """A fast config for RecBole models on the tiny atomic dataset."""
    return {
        "data_path": TEST_DATA,
        "epochs": 2,
        "train_batch_size": 256,
        "eval_batch_size": 4096,
        "show_progress": False,
        "seed": 2020,
        "state": "WARNING",
        "checkpoint_dir": "saved",
    }


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(*args, input=None):
    """Run ``python *args`` in a subprocess that imports this checkout's recbole_meta (``input``: its stdin)."""
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, input=input)
