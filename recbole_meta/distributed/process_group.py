"""Joining the process group of a multi-process run: settings, backend, device, torchrun's environment.

RecBole's keys keep their meaning: ``nproc`` processes on this machine, ``world_size`` processes in all
(``-1``: ``nproc``), ``offset`` the global rank of this machine's first process, ``ip`` / ``port`` the address of
rank 0's rendezvous (``tcp://ip:port``), ``local_rank`` this process's index on its machine (set by the
launcher). Added: ``backend`` (``nccl`` / ``gloo``; ``~`` picks ``nccl`` for CUDA devices, ``gloo`` otherwise) and
``ddp_timeout`` (seconds a collective waits for a peer before the run stops with an error).

Under ``torchrun`` the environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``) sets those keys and the group joins torchrun's own rendezvous (``env://``).
"""

import datetime
import os

import torch
import torch.distributed as dist

from recbole_meta.input_checks import check_option

BACKENDS = ("gloo", "nccl")
_TORCHRUN_KEYS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


def torchrun_environment():
    """``{local_rank, offset, world_size, nproc, ip, port}`` from torchrun's variables, or ``None`` outside torchrun."""
    if not all(key in os.environ for key in _TORCHRUN_KEYS):
        return None
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    return {
        "local_rank": local_rank,
        "offset": rank - local_rank,
        "world_size": int(os.environ["WORLD_SIZE"]),
        "nproc": int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])),
        "ip": os.environ.get("MASTER_ADDR", "localhost"),
        "port": int(os.environ.get("MASTER_PORT", 29500)),
    }


def check_settings(config):
    """Validate the multi-process keys of a config dict; returns ``(nproc, world_size, offset)``.

    ``world_size: -1`` becomes ``nproc`` (one machine), as in RecBole's ``run_recboles``.
    """
    nproc = check_option(config, "nproc", "positive integer")
    world = config.get("world_size", -1)
    world = nproc if world in (None, -1) else world
    if isinstance(world, bool) or not isinstance(world, int) or world < nproc:
        raise ValueError(
            f"world_size must be -1 (= nproc) or the number of processes on all machines (>= nproc={nproc}), "
            f"got {config.get('world_size')!r}"
        )
    offset = check_option(config, "offset", "non-negative integer")
    if offset + nproc > world:
        raise ValueError(
            f"offset={offset} + nproc={nproc} exceeds world_size={world}: this machine's ranks are "
            f"offset .. offset + nproc - 1, all below world_size"
        )
    port = config.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be a TCP port number (1-65535), got {config.get('port')!r}")
    timeout = config.get("ddp_timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"ddp_timeout must be a positive number of seconds, got {timeout!r}")
    choose_backend(config.get("backend"), torch.device("cpu"), check_only=True)
    return nproc, world, offset


def choose_backend(backend, device, check_only=False):
    """``backend`` checked against ``device``; ``None`` / ``auto``: ``nccl`` on CUDA, ``gloo`` otherwise."""
    if backend is not None and str(backend).lower() not in BACKENDS + ("auto",):
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} or ~ (auto), got {backend!r}")
    chosen = None if backend is None else str(backend).lower()
    if chosen in (None, "auto"):
        return "nccl" if device.type == "cuda" else "gloo"
    if chosen == "nccl" and device.type != "cuda" and not check_only:
        raise ValueError(
            "backend nccl needs CUDA GPUs but this run uses the CPU: use backend: gloo (or ~ to choose from "
            "the device)"
        )
    return chosen


def _device(config, local_rank):
    gpu_id = config["gpu_id"]
    uses_gpu = len(gpu_id) > 0 and torch.cuda.is_available()
    if not uses_gpu:
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"local rank {local_rank} has no GPU: gpu_id '{gpu_id}' makes {torch.cuda.device_count()} visible; "
            "list one GPU per process in gpu_id, or run on the CPU with gpu_id: ''"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def join_process_group(config):
    """Join the process group described by the config dict, if it describes one; returns whether it did.

    Sets ``device`` (``cuda:local_rank`` with GPUs, else the CPU), ``single_spec: False`` and RecBole's quiet
    settings on every rank but global rank 0 (only rank 0 logs, shows progress, saves and reports).
    """
    from_torchrun = torchrun_environment()
    if from_torchrun is not None and from_torchrun["world_size"] > 1 and "local_rank" not in config:
        if config.get("nproc", 1) not in (1, from_torchrun["nproc"]):
            raise ValueError(
                f"nproc={config['nproc']} under torchrun: torchrun starts the processes (--nproc_per_node); "
                "drop --nproc"
            )
        config.update(from_torchrun)
    if "local_rank" not in config:
        return False
    _, world, offset = check_settings(config)
    local_rank = config["local_rank"]
    global_rank = local_rank + offset
    device = _device(config, local_rank)
    backend = choose_backend(config.get("backend"), device)
    timeout = datetime.timedelta(seconds=float(config.get("ddp_timeout", 300)))
    init_method = "env://" if from_torchrun is not None else f"tcp://{config['ip']}:{int(config['port'])}"
    if not dist.is_initialized():
        try:
            dist.init_process_group(
                backend=backend, init_method=init_method, rank=global_rank, world_size=world, timeout=timeout
            )
        except RuntimeError as err:
            if "EADDRINUSE" in str(err) or "address already in use" in str(err).lower():
                raise ValueError(
                    f"port {config['port']} on {config['ip']} is already in use: choose a free one with --port=N"
                ) from err
            raise
    config.update(device=device, single_spec=False, world_size=world, backend=backend)
    if global_rank != 0:
        config.update(state="error", show_progress=False, verbose=False)
    return True


def leave_process_group(config):
    """Destroy the process group a run joined (RecBole's ``run_recbole`` does the same at its end).

    A barrier comes first: every rank has finished its last collective before any rank shuts its
    connections down (rank 0 also hosts the rendezvous store the others still hold), so that a fast rank's
    teardown never meets a slow rank's work in flight.
    """
    if not config["single_spec"] and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
