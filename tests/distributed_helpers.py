"""Helpers of the multi-process tests: a free port, and entry points that spawned processes import and run."""

import time

from recbole_meta.distributed.launch import free_port  # noqa: F401  (the tests' free port)


def train_with_a_failing_rank(model, dataset, config_dict, failing_rank, after_steps):
    """Train ``model``; on ``failing_rank`` the loss raises a ValueError at meta-batch ``after_steps``.

    The other ranks then wait in the collective of that step for a peer that never comes.
    """
    from recbole_meta.config import Config
    from recbole_meta.distributed import rank
    from recbole_meta.quick_start import build_run

    config = Config(model, dataset, config_dict=config_dict, argv=[])
    _, (train, valid, _), _, trainer = build_run(config)
    if rank() == failing_rank:
        steps = [0]
        original = trainer.meta_batch_loss

        def failing(batch):
            steps[0] += 1
            if steps[0] > after_steps:
                # the wall-clock time of the raise, for the test to measure how long stopping took
                raise ValueError(
                    f"planted failure on rank {failing_rank} at step {steps[0]} (t={time.time():.3f})"
                )
            return original(batch)

        trainer.meta_batch_loss = failing
    trainer.fit(train, valid, saved=False)
    return "finished"
