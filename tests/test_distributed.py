"""Multi-process training on gloo (127.0.0.1, a free port): the same numbers as one process, and faults that stop."""

import os
import re
import socket
import time

import numpy as np
import pytest
import torch

from recbole_meta import run_recbole_meta
from recbole_meta.checkpoint import load_checkpoint
from recbole_meta.config import Config
from recbole_meta.distributed import launch, sharding
from recbole_meta.distributed.process_group import check_settings, choose_backend
from recbole_meta.quick_start import build_run
from tests.cold_start_helpers import cold_config
from tests.distributed_helpers import free_port, train_with_a_failing_rank
from tests.helpers import REPO_ROOT, TEST_DATA, run_python, write_atomic


# ------------------------------------------------------------------------------------------ settings (no processes)
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"nproc": 0}, "option nproc must be a positive integer"),
        ({"nproc": 2, "offset": -1}, "option offset must be a non-negative integer"),
        ({"nproc": 2, "world_size": 1}, "world_size must be -1"),
        ({"nproc": 2, "world_size": 3, "offset": 2}, "exceeds world_size=3"),
        ({"port": 70000}, "port must be a TCP port"),
        ({"backend": "mpi"}, "backend must be one of gloo, nccl"),
        ({"ddp_timeout": 0}, "ddp_timeout must be a positive"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(overrides, message):
    settings = {"nproc": 1, "world_size": -1, "offset": 0, "port": 5678, "backend": None, "ddp_timeout": 30}
    with pytest.raises(ValueError, match=message):
        check_settings({**settings, **overrides})


def test_world_size_minus_one_means_nproc_and_backend_follows_the_device():
    assert check_settings({"nproc": 3, "world_size": -1, "offset": 0, "port": 1}) == (3, 3, 0)
    assert choose_backend(None, torch.device("cpu")) == "gloo"
    assert choose_backend("auto", torch.device("cuda", 0)) == "nccl"
    with pytest.raises(ValueError, match="backend nccl needs CUDA"):
        choose_backend("nccl", torch.device("cpu"))


@pytest.mark.parametrize("total", [0, 1, 5, 7, 32])
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_shards_cover_the_batch_once_in_order_and_differ_by_at_most_one(total, ranks):
    bounds = [sharding.shard_bounds(total, ranks, r) for r in range(ranks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == total
    assert all(bounds[r][1] == bounds[r + 1][0] for r in range(ranks - 1))
    sizes = [end - start for start, end in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_fewer_tasks_or_a_smaller_meta_batch_than_processes_is_an_error(monkeypatch):
    monkeypatch.setattr(sharding, "world_size", lambda: 4)
    with pytest.raises(ValueError, match="4 processes but only 3 training tasks"):
        sharding.check_tasks_per_rank(3, 32)
    with pytest.raises(ValueError, match="meta_batch_size=2 is smaller than the 4 processes"):
        sharding.check_tasks_per_rank(100, 2)
    sharding.check_tasks_per_rank(4, 4)


def test_a_port_in_use_is_refused_before_any_process_starts():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = {"data_path": TEST_DATA, "nproc": 2, "port": port, "state": "WARNING"}
        with pytest.raises(ValueError, match=f"port {port} on localhost is already in use"):
            run_recbole_meta("BPR", "tiny", config_dict=config, argv=[])


# ------------------------------------------------------------------------------------------ two processes
def _state(path):
    return {k: v.double() for k, v in load_checkpoint(path)["state_dict"].items()}


def test_melu_on_two_processes_trains_and_evaluates_as_one(tmp_path):
    # 7 tasks a meta-batch: shares of 4 and 3, so a per-rank mean (instead of the task-count weighting) would
    # give another meta-gradient. eval_step 0: the checkpoint is the last epoch's parameters.
    config = cold_config(epochs=2, eval_step=0, meta_batch_size=7, meta_lr=0.01, checkpoint_dir=str(tmp_path))
    single = run_recbole_meta("MeLU", "tiny", config_dict=config, argv=[])
    double = run_recbole_meta(
        "MeLU", "tiny", config_dict={**config, "nproc": 2, "port": free_port()}, argv=[]
    )
    _, _, initial, _ = build_run(Config("MeLU", "tiny", config_dict=config, argv=[]))
    one, two = _state(single["saved_model_file"]), _state(double["saved_model_file"])
    moved = max((one[k] - p.detach().double()).abs().max().item() for k, p in initial.named_parameters())
    assert moved > 1e-3  # training changed the parameters by far more than the tolerance below
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-6, rtol=1e-5, msg=name)
    for state, metrics in single["test_result"].items():
        assert dict(double["test_result"][state]) == pytest.approx(dict(metrics), abs=1e-4), state


def test_a_rank_that_raises_stops_every_rank_with_its_error():
    config = cold_config(nproc=2, port=free_port(), epochs=5, meta_batch_size=4, ddp_timeout=600)
    parsed = Config("MeLU", "tiny", config_dict=config, argv=[])
    with pytest.raises(ValueError, match="planted failure on rank 1 at step 3") as raised:
        launch.spawn(
            train_with_a_failing_rank,
            parsed,
            model="MeLU",
            dataset="tiny",
            config_dict=config,
            failing_rank=1,
            after_steps=2,
        )
    # Rank 0 was waiting for rank 1 in a collective: it was stopped soon after rank 1 raised, long before the
    # 600 s gloo timeout (process start-up, slow on a busy machine, is not counted).
    raised_at = float(re.search(r"t=([0-9.]+)", str(raised.value)).group(1))
    assert time.time() - raised_at < 60
    assert "raised by global rank 1 of 2" in "".join(raised.value.__notes__)


def test_bpr_runs_on_two_cpu_processes_from_the_command_line():
    out = run_python(
        f"{REPO_ROOT}/run_recbole_meta.py",
        "--model=BPR",
        "--dataset=tiny",
        f"--data_path={TEST_DATA}",
        "--epochs=1",
        "--nproc=2",
        f"--port={free_port()}",
        "--state=WARNING",
        "--show_progress=False",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("test result: recall@10=") == 1, out.stdout  # rank 0 alone reports


def _two_tower_config(tmp_path, **overrides):
    config = {
        "data_path": TEST_DATA,
        "epochs": 1,
        "eval_step": 0,
        "train_batch_size": 64,
        "shuffle": False,  # the same global batches in both runs (a DistributedSampler shuffles otherwise)
        "learning_rate": 0.01,
        "embedding_size": 8,
        "tower_hidden_sizes": [16],
        "output_size": 8,
        "logq": "streaming",
        "ssl_batch_size": 16,
        "show_progress": False,
        "seed": 2020,
        "state": "WARNING",
        "checkpoint_dir": str(tmp_path),
        "topk": [5],
        "metrics": ["Recall", "NDCG"],
        "valid_metric": "Recall@5",
    }
    return {**config, **overrides}


def test_ssl_two_tower_on_two_processes_with_global_negatives_trains_and_evaluates_as_one(tmp_path):
    config = _two_tower_config(tmp_path)
    single = run_recbole_meta("SSLTwoTower", "tiny", config_dict=config, argv=[])
    double = run_recbole_meta(
        "SSLTwoTower", "tiny", config_dict={**config, "nproc": 2, "port": free_port()}, argv=[]
    )
    one, two = _state(single["saved_model_file"]), _state(double["saved_model_file"])
    _, _, initial, _ = build_run(Config("SSLTwoTower", "tiny", config_dict=config, argv=[]))
    moved = max((one[k] - p.detach().double()).abs().max().item() for k, p in initial.named_parameters())
    assert moved > 1e-3
    # The streaming estimator's buffers are in the state too: both runs saw the same (global) item stream.
    assert any("frequency_estimator" in name for name in one)
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-5, rtol=1e-4, msg=name)
    assert dict(double["test_result"]) == pytest.approx(dict(single["test_result"]), abs=1e-4)


def test_torchrun_starts_the_processes_and_rank_0_alone_reports():
    import shutil

    torchrun = shutil.which("torchrun") or pytest.skip("torchrun is not on PATH")
    import subprocess

    env = {**os.environ, "PYTHONPATH": REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [
            torchrun,
            "--nproc_per_node=2",
            "--master_addr=127.0.0.1",
            f"--master_port={free_port()}",
            f"{REPO_ROOT}/run_recbole_meta.py",
            "--model=BPR",
            "--dataset=tiny",
            f"--data_path={TEST_DATA}",
            "--epochs=1",
            "--state=WARNING",
            "--show_progress=False",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("test result: recall@10=") == 1, out.stdout


# ------------------------------------------------------------------------------- PeterRec pre-training (DDP)
def _sequences(root, name, lengths, n_items=30, seed=0):
    """Users ``u0..`` with ``lengths[k]`` distinct items each, in time order (no ``.user`` / ``.item`` file)."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for user, length in enumerate(lengths):
        for item in rng.choice(n_items, size=length, replace=False):
            t += 1
            rows.append((f"u{user}", f"i{item}", t))
    header = ["user_id:token", "item_id:token", "timestamp:float"]
    return write_atomic(str(root), name, (None, []), (None, []), (header, rows))


def _pretrain_one_and_two(tmp_path, name, lengths):
    config = {
        "data_path": _sequences(tmp_path, name, lengths),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "stage": "pretrain",
        "embedding_size": 8,
        "dilations": [1, 2],
        "block_num": 1,
        "MAX_ITEM_LIST_LENGTH": 16,
        "train_batch_size": 16,  # global: 8 sequences a process, rows 0, 2, 4... on rank 0 (strided, unshuffled)
        "shuffle": False,
        "learning_rate": 0.01,
        "epochs": 1,
        "eval_step": 0,  # the checkpoint holds the last epoch's parameters
        "seed": 0,
        "state": "WARNING",
        "show_progress": False,
        "checkpoint_dir": str(tmp_path / name),
    }
    single = run_recbole_meta("PeterRec", name, config_dict=config, argv=[])
    double = run_recbole_meta(
        "PeterRec", name, config_dict={**config, "nproc": 2, "port": free_port()}, argv=[]
    )
    _, _, initial, _ = build_run(Config("PeterRec", name, config_dict=config, argv=[]))
    one, two = (
        {k: v.double() for k, v in load_checkpoint(run["saved_model_file"])["backbone_state"].items()}
        for run in (single, double)
    )
    start = {k: p.detach().double() for k, p in initial.backbone.named_parameters()}
    moved = max((one[k] - start[k]).abs().max().item() for k in start)
    apart = max((two[k] - one[k]).abs().max().item() for k in start)
    return moved, apart


@pytest.mark.parametrize(
    "lengths",
    [
        [8] * 64,  # every training window holds 7 next-item positions: equal shares
        # users of 4 and 14 items alternate, so rank 0's windows hold 1 position each and rank 1's 11: a plain
        # per-process mean averaged by DDP would weigh rank 0's positions 11 times more than one process does
        [4, 14] * 32,
    ],
    ids=["equal-token-counts", "unequal-token-counts"],
)
def test_peterrec_pretraining_on_two_processes_equals_one(tmp_path, lengths):
    moved, apart = _pretrain_one_and_two(tmp_path, "seq", lengths)
    assert moved > 1e-2 and apart < 1e-5, (moved, apart)
