"""Shared fixtures: every test runs in its own temporary directory (RecBole writes log/, saved/ there) with one
torch thread."""

import pytest
import torch

from tests.helpers import TEST_DATA


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread: on a small machine shared with other processes, more threads per process slow the
    tests down many times (they busy-wait for each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """The warning filters of a run: pytest restores its own filters around every test, which drops those the
    compat module set at import (RecBole's known, harmless warnings), so they are set again for each test, before
    its fixtures."""
    from recbole_meta.compat.environment import silence_known_warnings

    silence_known_warnings()


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
