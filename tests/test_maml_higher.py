"""The speed suite's `higher` reference computes MeLU's meta-gradient exactly as the vectorised engine does."""

import pytest
import torch

from recbole_meta.data.episodes import collate_tasks
from recbole_meta.trainer.maml import MAML
from tests.cold_start_helpers import build

pytest.importorskip("higher")


def test_higher_and_the_vectorised_engine_give_the_same_meta_gradient():
    from recbole_meta.benchmark.cold_start.maml_higher import higher_meta_backward

    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=8)
    model.double()
    tasks = train.tasks[:8]
    assert len({len(t.support) for t in tasks}) > 1
    batch = collate_tasks(dataset.cold_split, tasks, "user_id", dtype=torch.float64)
    maml = MAML(model, ["decision.*", "output.*"], 0.05, 5)
    model.zero_grad()
    loss = maml.meta_loss(batch)
    loss.backward()
    engine = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    value = higher_meta_backward(maml, batch)
    assert float(value) == pytest.approx(float(loss.detach()), abs=1e-10)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, engine[name], atol=1e-9, rtol=1e-7, msg=name)
    # second order: a first-order engine differs from higher's exact meta-gradient
    model.zero_grad()
    MAML(model, ["decision.*", "output.*"], 0.05, 5, first_order=True).meta_loss(batch).backward()
    assert any(not torch.allclose(p.grad, engine[n]) for n, p in model.named_parameters())
    with pytest.raises(ValueError, match="second order only"):
        higher_meta_backward(MAML(model, ["decision.*"], 0.05, 1, first_order=True), batch)
