"""Meta-batches of similar support length: little padding, seeded order, every task once, the same meta-gradient."""

import numpy as np
import pytest
import torch

from recbole_meta.data.episodes import (
    SUPPORT_MASK,
    collate_tasks,
    length_buckets,
    length_chunks,
    support_padding_waste,
)
from recbole_meta.trainer import maml as maml_module
from recbole_meta.trainer.maml import MAML
from tests.cold_start_helpers import build


def _fixed_lengths():
    """350 support lengths shaped like ml-100k's training episodes: most short, a long tail up to 90."""
    rng = np.random.default_rng(12345)
    return np.clip(np.round(rng.lognormal(mean=2.5, sigma=0.8, size=350)), 3, 90).astype(np.int64)


def _waste(lengths, batches, chunked):
    padded = 0
    for batch in batches:
        groups = length_chunks(lengths[batch]) if chunked else [np.arange(len(batch))]
        padded += sum(len(g) * lengths[batch][g].max() for g in groups)
    return 1 - lengths.sum() / padded


def test_default_batching_pads_at_most_15_percent_where_random_batches_pad_most():
    lengths = _fixed_lengths()
    assert lengths.max() >= 80 and np.median(lengths) <= 15  # a long tail: random batches pad a lot
    default = length_buckets(lengths, 32, np.random.default_rng(0))
    order = np.random.default_rng(0).permutation(len(lengths))
    random_batches = [order[i : i + 32] for i in range(0, len(lengths), 32)]
    assert _waste(lengths, default, chunked=True) <= 0.15
    assert _waste(lengths, random_batches, chunked=False) >= 0.5
    # the chunks inside a meta-batch are what brings it under the bound here, not the sort alone
    assert _waste(lengths, default, chunked=True) < _waste(lengths, default, chunked=False)


def test_length_buckets_are_seeded_and_hold_every_task_once():
    lengths = _fixed_lengths()
    first = length_buckets(lengths, 32, np.random.default_rng([7, 3]))
    again = length_buckets(lengths, 32, np.random.default_rng([7, 3]))
    other = length_buckets(lengths, 32, np.random.default_rng([8, 3]))
    assert [b.tolist() for b in first] == [b.tolist() for b in again]  # every rank draws the same batches
    assert [b.tolist() for b in first] != [b.tolist() for b in other]
    everything = np.concatenate(first)
    assert sorted(everything.tolist()) == list(range(len(lengths)))
    n = len(lengths)
    assert sorted(len(b) for b in first) == sorted([32] * (n // 32) + ([n % 32] if n % 32 else []))
    # batches are runs of the length order: no batch's range overlaps another's interior
    spans = sorted((lengths[b].min(), lengths[b].max()) for b in first)
    assert all(low_next >= high for (_, high), (low_next, _) in zip(spans, spans[1:]))
    # served in a shuffled order, not shortest first
    assert [lengths[b].max() for b in first] != sorted(lengths[b].max() for b in first)


def test_length_chunks_partition_a_batch_and_split_only_where_it_pays():
    assert [c.tolist() for c in length_chunks([5, 5, 5, 5])] == [[0, 1, 2, 3]]
    two_groups = [3] * 16 + [90] * 16
    chunks = length_chunks(two_groups)
    assert sorted(len(c) for c in chunks) == [16, 16]
    assert {two_groups[i] for i in chunks[0]} == {3}
    mixed = np.random.default_rng(1).integers(1, 60, size=32)
    chunks = length_chunks(mixed)
    assert sorted(np.concatenate(chunks).tolist()) == list(range(32))
    # a larger cost per chunk never gives more chunks; no cost pads nothing
    assert len(length_chunks(mixed, cost=10**6)) == 1
    zero = length_chunks(mixed, cost=0)
    assert sum(len(c) * mixed[c].max() for c in zero) == mixed.sum()


def test_episode_loader_serves_the_same_seeded_batches_and_every_task_once_per_epoch():
    def epoch_users(seed):
        _, (train, _, _), _, _ = build("MeLU", "tiny", meta_batch_size=4, seed=seed, bucket_by_length=True)
        assert train.bucket
        return [batch["user_id"].tolist() for batch in train], train

    first, train = epoch_users(3)
    again, _ = epoch_users(3)
    assert first == again
    users = sorted(u for batch in first for u in batch)
    assert users == sorted(int(t.user) for t in train.tasks)  # every training task once
    second_epoch = [batch["user_id"].tolist() for batch in train]  # episodes redrawn, still every user once
    assert sorted(u for batch in second_epoch for u in batch) == sorted(int(t.user) for t in train.tasks)
    batches = list(train)
    assert support_padding_waste(batches) <= support_padding_waste(batches, chunked=False)
    train.bucket = False
    assert support_padding_waste(batches) <= support_padding_waste(list(train), chunked=False)


def _epoch_meta_gradient(model, maml, split, tasks, batches):
    """Gradient of the mean query loss over every task, accumulated batch by batch (weights by batch size)."""
    model.zero_grad()
    total = 0.0
    for index in batches:
        batch = collate_tasks(split, [tasks[i] for i in index], "user_id", dtype=torch.float64)
        loss = maml.meta_losses(batch).sum() / len(tasks)
        loss.backward()
        total += float(loss.detach())
    return total, {n: p.grad.clone() for n, p in model.named_parameters()}


def test_bucketed_chunked_and_random_batches_give_the_same_epoch_meta_gradient(monkeypatch):
    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6)
    model.double()
    tasks = train.tasks
    lengths = np.array([len(t.support) for t in tasks])
    assert len(set(lengths.tolist())) > 3
    maml = MAML(model, ["decision.*", "output.*"], 0.05, 3)
    bucketed = length_buckets(lengths, 6, np.random.default_rng(0))
    order = np.random.default_rng(1).permutation(len(tasks))
    random_batches = [order[i : i + 6] for i in range(0, len(tasks), 6)]
    loss_b, grad_b = _epoch_meta_gradient(model, maml, dataset.cold_split, tasks, bucketed)
    loss_r, grad_r = _epoch_meta_gradient(model, maml, dataset.cold_split, tasks, random_batches)
    # every length its own chunk: many vmapped calls per meta-batch, put back in task order
    monkeypatch.setattr(maml_module, "length_chunks", lambda lengths: length_chunks(lengths, cost=0))
    loss_c, grad_c = _epoch_meta_gradient(model, maml, dataset.cold_split, tasks, random_batches)
    assert loss_b == pytest.approx(loss_r, abs=1e-10) and loss_c == pytest.approx(loss_r, abs=1e-10)
    for name in grad_r:
        torch.testing.assert_close(grad_b[name], grad_r[name], atol=1e-9, rtol=1e-7, msg=name)
        torch.testing.assert_close(grad_c[name], grad_r[name], atol=1e-9, rtol=1e-7, msg=name)
    assert any(g.abs().sum() > 0 for g in grad_r.values())


def test_chunked_predictions_come_back_in_task_order(monkeypatch):
    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6)
    model.double()
    tasks = train.tasks[:12]
    batch = collate_tasks(dataset.cold_split, tasks, "user_id", dtype=torch.float64)
    assert len(set(batch[SUPPORT_MASK].sum(dim=1).tolist())) > 2
    maml = MAML(model, ["decision.*", "output.*"], 0.05, 2)
    mask = batch["query_mask"] > 0
    whole = maml.predict_query(batch).detach()
    monkeypatch.setattr(maml_module, "length_chunks", lambda lengths: length_chunks(lengths, cost=0))
    chunked = maml.predict_query(batch).detach()
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked[mask], whole[mask], atol=1e-10, rtol=1e-10)  # padding is not scored
    one_by_one = torch.stack(
        [
            torch.nn.functional.pad(
                maml.predict_query(collate_tasks(dataset.cold_split, [t], "user_id", dtype=torch.float64))[0],
                (0, whole.shape[1] - len(t.query)),
            )
            for t in tasks
        ]
    )
    torch.testing.assert_close(whole[mask], one_by_one.detach()[mask], atol=1e-10, rtol=1e-10)


def test_learned_local_rates_give_the_same_meta_gradient_vectorised_and_task_by_task():
    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=8)
    model.double()
    batch = collate_tasks(dataset.cold_split, train.tasks[:8], "user_id", dtype=torch.float64)
    grads = []
    for vectorize in (True, False):
        maml = MAML(
            model,
            ["decision.*", "output.*"],
            0.05,
            3,
            vectorize=vectorize,
            learn_local_lr=True,
            local_lr_max=0.2,
        )
        if vectorize:
            with torch.no_grad():  # rates that differ by entry (shared by both MAMLs: they live on the model)
                for rate in model.local_lr_logits.parameters():
                    rate.mul_(torch.rand_like(rate, generator=torch.Generator().manual_seed(0)) * 2)
        model.zero_grad()
        maml.meta_loss(batch).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-9, rtol=1e-7, msg=name)


def test_batching_suite_records_each_rows_first_epoch_padding(tmp_path):
    from recbole_meta.benchmark.records import read_records
    from recbole_meta.benchmark.runner import results_path, run_suite
    from recbole_meta.benchmark.suite import SuiteOptions, build_suite

    suite = build_suite("cold_start_batching", SuiteOptions(quick=True, out_dir=str(tmp_path)))
    run_suite(suite, str(tmp_path), quick=True, progress=False, runs=["MeLU-5", "MeLU-5-random-batches"])
    info = {r["run"]: r["info"] for r in read_records(results_path(str(tmp_path), suite.name))}
    bucketed, random_order = info["MeLU-5"], info["MeLU-5-random-batches"]
    # the rows pin the option they compare, and the bucketed row pads less than the same tasks in random order
    assert [r.config["bucket_by_length"] for r in suite.runs if r.name in info] == [True, False]
    assert 0 <= bucketed["support_padding_waste"] < random_order["padding_whole_batches"] < 1
    assert bucketed["support_padding_waste"] <= bucketed["padding_whole_batches"]
