"""``--nproc=N``: start N processes on this machine with ``torch.multiprocessing``, as RecBole's ``run_recboles``.

Each process runs the same entry point with ``local_rank`` set; it joins the process group when it builds its
``Config`` (:func:`recbole_meta.distributed.process_group.join_process_group`). Rank 0's return value comes back
through a queue. Faults:

* more processes than this machine has GPUs (a GPU run) or CPU cores (a CPU run), and a port already in use
  on this machine, are refused before anything starts, with the count or the port in the message;
* a process that raises stops the run: ``torch.multiprocessing`` terminates the others (they may be waiting in
  a collective for the failed one) and the parent re-raises the original exception, with the failing rank as a
  note. A process that dies without a Python exception (killed, out of memory) raises ``ChildFailedError``.
"""

import faulthandler
import os
import pickle
import socket
import traceback

import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException

from recbole_meta.distributed.process_group import check_settings, torchrun_environment

# Seconds a surviving process may take to exit on its own once another one failed, before SIGTERM.
_GRACE_SECONDS = 2.0


class ChildFailedError(RuntimeError):
    """A process of a multi-process run failed without a Python exception that could be passed back."""


def reports_results():
    """Whether this process prints a run's result: not one of torchrun's processes other than global rank 0."""
    return int(os.environ.get("RANK", "0")) == 0


def wants_spawn(config):
    """Whether this call must start ``nproc`` processes (not already one of them, not under torchrun)."""
    return config["nproc"] not in (None, 1) and config["single_spec"] and torchrun_environment() is None


def _local_address(ip):
    return ip in ("localhost", "127.0.0.1", "0.0.0.0", "::1") or ip == socket.gethostname()


def free_port():
    """A TCP port that nothing listens on now on this machine (the OS picks it): ``--port`` for a local run."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_port_free(ip, port):
    """Raise ``ValueError`` if rank 0's rendezvous port cannot be bound on this machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("" if ip in ("localhost", "0.0.0.0") else ip, int(port)))
        except OSError as err:
            raise ValueError(
                f"port {port} on {ip} is already in use ({err.strerror}): choose a free one with --port=N"
            ) from None


def usable_cpus():
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_process_count(config, nproc):
    """Refuse, before anything starts, more processes on this machine than it has GPUs (a GPU run) or CPU cores
    (a CPU run): each process needs one of its own, and 64 processes on 2 cores load the data 64 times before
    failing or crawling."""
    import torch

    if config["use_gpu"] and len(str(config["gpu_id"] or "")) > 0 and torch.cuda.is_available():
        units, kind = torch.cuda.device_count(), f"GPUs (gpu_id '{config['gpu_id']}')"
    else:
        units, kind = usable_cpus(), "CPU cores"
    if nproc > units:
        raise ValueError(
            f"--nproc={nproc} starts {nproc} processes on this machine, which has {units} {kind} for this run: "
            f"each process needs one of its own; use --nproc <= {units}"
        )


def _worker(local_rank, entry, kwargs, results, errors):
    # A process killed by a signal (a crash inside a C++ library) prints where its Python code stood.
    faulthandler.enable()
    kwargs = dict(kwargs)
    kwargs["config_dict"] = {**(kwargs.get("config_dict") or {}), "local_rank": local_rank}
    try:
        result = entry(**kwargs)
    except BaseException as err:
        try:
            payload = pickle.dumps(err)
        except Exception:  # an exception that cannot be pickled comes back as its text
            payload = pickle.dumps(ChildFailedError(f"{type(err).__name__}: {err}"))
        # Kept short: a queue's pipe holds about 64 KB, and nothing reads it before this process has exited.
        errors.put((local_rank, payload, traceback.format_exc()[-8000:]))
        raise
    if local_rank == 0:
        results.put(result)


def spawn(entry, config, **kwargs):
    """Run ``entry(**kwargs)`` in ``config['nproc']`` processes; rank 0's result, or the first rank's error.

    ``kwargs`` must hold ``config_dict`` (the worker adds ``local_rank`` to it) and be picklable.
    """
    nproc, world, offset = check_settings(config.final_config_dict)
    check_process_count(config, nproc)
    if offset == 0 and _local_address(str(config["ip"])):
        check_port_free(config["ip"], config["port"])
    context = mp.get_context("spawn")
    results, errors = context.SimpleQueue(), context.SimpleQueue()
    processes = mp.start_processes(
        _worker,
        args=(entry, kwargs, results, errors),
        nprocs=nproc,
        join=False,
        start_method="spawn",
    )
    try:
        while not processes.join(grace_period=_GRACE_SECONDS):
            pass
    except ProcessException as failure:
        if errors.empty():
            raise ChildFailedError(
                f"process {failure.error_index} (global rank {offset + failure.error_index}) of a {world}-process "
                f"run failed: {failure}"
            ) from None
        local_rank, payload, trace = errors.get()
        err = pickle.loads(payload)
        err.add_note(
            f"raised by global rank {offset + local_rank} of {world}; every process of the run was stopped\n"
            f"original traceback:\n{trace}"
        )
        raise err from None
    return None if results.empty() else results.get()
