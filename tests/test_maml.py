"""MAML on torch.func: vectorised == per-task loop, second order == autograd reference, masks are exact."""

import pytest
import torch

from recbole_meta.data.episodes import (
    QUERY_ITEM,
    QUERY_MASK,
    QUERY_RATING,
    SUPPORT_ITEM,
    SUPPORT_MASK,
    SUPPORT_RATING,
    collate_tasks,
)
from recbole_meta.trainer.maml import MAML, masked_mse
from tests.cold_start_helpers import (
    build,
)


@pytest.fixture
def melu64():
    """A small MeLU in float64 and one ragged training meta-batch."""
    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6)
    model.double()
    split = dataset.cold_split
    tasks = train.tasks[:6]
    assert len({len(t.support) for t in tasks}) > 1  # ragged supports
    batch = collate_tasks(split, tasks, "user_id", dtype=torch.float64)
    return model, batch, split, tasks


def _meta_grad(model, batch, **kwargs):
    maml = MAML(
        model, kwargs.pop("params", ["decision.*", "output.*"]), 0.05, kwargs.pop("steps", 3), **kwargs
    )
    model.zero_grad()
    loss = maml.meta_loss(batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("params", [["decision.*", "output.*"], "all"])
def test_vectorised_and_loop_meta_gradients_agree(melu64, first_order, params):
    model, batch, _, _ = melu64
    loss_v, grad_v = _meta_grad(model, batch, params=params, first_order=first_order, vectorize=True)
    loss_l, grad_l = _meta_grad(model, batch, params=params, first_order=first_order, vectorize=False)
    assert loss_v.item() == pytest.approx(loss_l.item(), abs=1e-10)
    for name in grad_v:
        torch.testing.assert_close(grad_v[name], grad_l[name], atol=1e-5, rtol=1e-5, msg=name)
    assert any(g.abs().sum() > 0 for g in grad_v.values())


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("params", [["decision.*", "output.*"], ["decision.*"], "all"])
@pytest.mark.parametrize("residual", [False, True])
def test_encode_once_path_equals_the_whole_model_per_step(first_order, params, residual):
    """MeLU's vectorised meta-loss encodes each task once and runs the local steps on its head alone, over the
    whole meta-batch without vmap (per-task weight copies in batched products), when only head layers adapt;
    it gives the loss and the meta-gradient of the whole model vmapped at every step (which 'all' must use).
    """
    _, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6, predict_residual=residual)
    model.double()
    batch = collate_tasks(model.split, train.tasks[:6], "user_id", dtype=torch.float64)
    results = []
    for encode_once in (True, False):
        maml = MAML(model, params, 0.05, 3, first_order=first_order)
        assert (maml._head is not None) == (params != "all")
        if not encode_once:
            maml._head = None
        model.zero_grad()
        loss = maml.meta_loss(batch)
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_once, grad_once), (loss_whole, grad_whole) = results
    torch.testing.assert_close(loss_once, loss_whole, atol=1e-12, rtol=1e-12)
    for name in grad_once:
        torch.testing.assert_close(grad_once[name], grad_whole[name], atol=1e-12, rtol=1e-10, msg=name)
    assert (
        grad_once["user_encoder.embeddings.gender.weight"].abs().sum() > 0
    )  # shared embeddings get gradients


def _randomly_padded(batch, generator):
    """``batch`` with 1-12 extra support and 0-4 extra query positions of random items and ratings, masked out."""
    from recbole.data.interaction import Interaction

    size, wide = len(batch[SUPPORT_MASK]), dict(batch.interaction)
    n_items = int(max(batch[SUPPORT_ITEM].max(), batch[QUERY_ITEM].max())) + 1
    fields = (
        (SUPPORT_ITEM, SUPPORT_RATING, SUPPORT_MASK, 1, 13),
        (QUERY_ITEM, QUERY_RATING, QUERY_MASK, 0, 5),
    )
    for item, rating, mask, low, high in fields:
        extra = int(torch.randint(low, high, (1,), generator=generator))
        random_items = torch.randint(1, n_items, (size, extra), generator=generator)
        wide[item] = torch.cat([batch[item], random_items], 1)
        noise = torch.rand(size, extra, generator=generator, dtype=batch[rating].dtype)
        wide[rating] = torch.cat([batch[rating], noise], 1)
        wide[mask] = torch.cat([batch[mask], torch.zeros(size, extra, dtype=batch[mask].dtype)], 1)
    return Interaction(wide)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize(
    "params", [["decision.*", "output.*"], ["decision.0.weight", "output.*"], "decision.*"]
)
@pytest.mark.parametrize("residual", [False, True])
def test_kernel_input_layer_equals_per_task_weight_copies(first_order, params, residual):
    """The first decision layer adapted in kernel form (Gram products of each task's encoded support, no weight
    copies) gives the query predictions and the meta-gradient of every parameter of per-task weight copies, on
    randomly padded ragged tasks, first and second order, with or without its bias adapted; and its predictions
    are those of the independent per-task vmap path (``predict_query``)."""
    _, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6, predict_residual=residual)
    model.double()
    torch.manual_seed(0)
    with torch.no_grad():  # away from the initialisation, so that no layer is near a trivial point
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    generator = torch.Generator().manual_seed(1)
    batch = _randomly_padded(
        collate_tasks(model.split, train.tasks[:6], "user_id", dtype=torch.float64), generator
    )
    real = batch[QUERY_MASK] > 0
    results = {}
    for form in ("kernel", "weights"):
        maml = MAML(model, params, 0.05, 3, first_order=first_order, input_layer_form=form)
        assert maml._kernel_form(batch[SUPPORT_MASK].shape[1]) == (form == "kernel")
        model.zero_grad()
        predictions = maml.meta_predictions(batch)
        masked_mse(predictions, batch[QUERY_RATING], batch[QUERY_MASK], dim=1).mean().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results[form] = predictions.detach()[real], grads
    (pred_k, grad_k), (pred_w, grad_w) = results["kernel"], results["weights"]
    torch.testing.assert_close(pred_k, pred_w, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(pred_k, maml.predict_query(batch)[real], atol=1e-12, rtol=1e-10)
    assert set(grad_k) == {n for n, _ in model.named_parameters()}
    for name in grad_k:
        torch.testing.assert_close(grad_k[name], grad_w[name], atol=1e-12, rtol=1e-8, msg=name)
        assert grad_k[name].abs().sum() > 0, name  # every parameter is reached


def test_kernel_form_choice():
    """``auto`` runs the input layer in kernel form up to supports as long as its input width; Meta-SGD's
    elementwise rates never (they do not factor through the Gram matrix); an unknown form is an error."""
    _, _, model, _ = build("MeLU", "tiny", meta_batch_size=6)
    width = model.decision[0].in_features
    auto = MAML(model, ["decision.*", "output.*"], 0.05, 3)
    assert auto._kernel_form(width) and not auto._kernel_form(width + 1)
    assert not MAML(
        model, ["decision.*", "output.*"], 0.05, 3, learn_local_lr=True, local_lr_max=0.2
    )._kernel_form(1)
    assert not MAML(model, ["decision.2.*", "output.*"], 0.05, 3)._kernel_form(1)  # its weight is not adapted
    with pytest.raises(ValueError, match="input_layer_form must be one of auto, kernel, weights, got 'fast'"):
        MAML(model, ["decision.*", "output.*"], 0.05, 3, input_layer_form="fast")


def _reference_task_loss(model, names, lr, steps, task_tensors, first_order):
    """MAML with torch.autograd.grad(create_graph=True) on unpadded tensors: an independent implementation."""
    user, s_item, s_rating, q_item, q_rating = task_tensors
    ones_s = torch.ones_like(s_rating)
    params = dict(model.named_parameters())
    fast = {n: params[n] for n in names}
    for _ in range(steps):
        full = {**params, **fast}
        prediction = torch.func.functional_call(model, full, (user, s_item, s_rating, ones_s, s_item))
        loss = ((prediction - s_rating) ** 2).mean()
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
        fast = {n: v - lr * g for (n, v), g in zip(fast.items(), grads)}
    prediction = torch.func.functional_call(
        model, {**params, **fast}, (user, s_item, s_rating, ones_s, q_item)
    )
    return ((prediction - q_rating) ** 2).mean()


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradient_matches_an_autograd_reference(melu64, first_order):
    model, batch, split, tasks = melu64
    names = [
        "decision.0.weight",
        "decision.0.bias",
        "decision.2.weight",
        "decision.2.bias",
        "output.weight",
        "output.bias",
    ]
    _, grad_v = _meta_grad(model, batch, first_order=first_order, vectorize=True)
    model.zero_grad()
    total = 0
    for task in tasks:
        tensors = (
            torch.tensor(task.user),
            torch.as_tensor(split.items[task.support]),
            torch.as_tensor(split.ratings[task.support], dtype=torch.float64),
            torch.as_tensor(split.items[task.query]),
            torch.as_tensor(split.ratings[task.query], dtype=torch.float64),
        )
        total = total + _reference_task_loss(model, names, 0.05, 3, tensors, first_order)
    (total / len(tasks)).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(grad_v[name], p.grad, atol=1e-8, rtol=1e-6, msg=name)


def test_second_order_terms_are_present(melu64):
    model, batch, _, _ = melu64
    _, exact = _meta_grad(model, batch, first_order=False)
    _, first = _meta_grad(model, batch, first_order=True)
    difference = max((exact[n] - first[n]).abs().max().item() for n in exact)
    assert difference > 1e-6
    # the embeddings are not adapted, but the exact meta-gradient reaches them through the local steps
    assert exact["item_encoder.embeddings.class.weight"].abs().sum() > 0


def test_padding_changes_nothing(melu64):
    model, batch, split, tasks = melu64
    maml = MAML(model, ["decision.*", "output.*"], 0.05, 2)
    wide = dict(batch.interaction)
    for key, fill in ((SUPPORT_ITEM, 7), (SUPPORT_RATING, 4.0), (SUPPORT_MASK, 0.0)):
        pad = torch.full((len(tasks), 5), fill, dtype=batch[key].dtype)
        wide[key] = torch.cat([batch[key], pad], dim=1)
    for key, fill in ((QUERY_ITEM, 3), (QUERY_RATING, 1.0), (QUERY_MASK, 0.0)):
        pad = torch.full((len(tasks), 2), fill, dtype=batch[key].dtype)
        wide[key] = torch.cat([batch[key], pad], dim=1)
    from recbole.data.interaction import Interaction

    wide = Interaction(wide)
    assert maml.meta_loss(wide).item() == pytest.approx(maml.meta_loss(batch).item(), abs=1e-12)
    prediction = maml.predict_query(batch)
    torch.testing.assert_close(maml.predict_query(wide)[:, : prediction.shape[1]], prediction)


def test_predictions_agree_and_adaptation_lowers_the_support_loss(melu64):
    model, batch, _, _ = melu64
    vectorised = MAML(model, ["decision.*", "output.*"], 0.05, 3).predict_query(batch)
    looped = MAML(model, ["decision.*", "output.*"], 0.05, 3, vectorize=False).predict_query(batch)
    mask = batch[QUERY_MASK] > 0
    torch.testing.assert_close(vectorised[mask], looped[mask])

    maml = MAML(model, ["decision.*", "output.*"], 0.05, 3)
    adapted, shared = maml._split_params()
    for b in range(len(batch)):
        args = (batch["user_id"][b], batch[SUPPORT_ITEM][b], batch[SUPPORT_RATING][b], batch[SUPPORT_MASK][b])
        before = maml._loss(adapted, shared, *args, *args[1:])
        after = maml._loss(maml.adapt(adapted, shared, *args), shared, *args, *args[1:])
        assert after < before


def test_zero_local_steps_is_the_plain_query_loss(melu64):
    model, batch, _, _ = melu64
    maml = MAML(model, None, 0.0, 0)
    assert maml.adapted_names == []
    assert maml.meta_loss(batch).item() == pytest.approx(model.calculate_loss(batch).item(), abs=1e-12)
    prediction = model.predict(batch)
    torch.testing.assert_close(maml.predict_query(batch), prediction)


def test_supervised_loss_covers_support_and_query(melu64):
    model, batch, _, _ = melu64
    maml = MAML(model, ["decision.*"], 0.05, 2)
    prediction_s = torch.vmap(model)(
        batch["user_id"], batch[SUPPORT_ITEM], batch[SUPPORT_RATING], batch[SUPPORT_MASK], batch[SUPPORT_ITEM]
    )
    prediction_q = model.predict(batch)
    per_task = [
        masked_mse(
            torch.cat([prediction_s[b], prediction_q[b]]),
            torch.cat([batch[SUPPORT_RATING][b], batch[QUERY_RATING][b]]),
            torch.cat([batch[SUPPORT_MASK][b], batch[QUERY_MASK][b]]),
        )
        for b in range(len(batch))
    ]
    assert maml.supervised_loss(batch).item() == pytest.approx(torch.stack(per_task).mean().item(), abs=1e-12)


def test_bad_maml_settings_are_errors(melu64):
    model, *_ = melu64
    with pytest.raises(ValueError, match="pattern 'decison.\\*' matches no trainable parameter of MeLU"):
        MAML(model, ["decison.*"], 0.01, 1)
    with pytest.raises(ValueError, match="local_update_steps must be an integer >= 0"):
        MAML(model, "all", 0.01, -1)
    with pytest.raises(ValueError, match="local_lr must be > 0"):
        MAML(model, "all", 0.0, 2)


# ------------------------------------------------------------------------------------------------ Meta-SGD
@pytest.mark.parametrize("first_order", [False, True])
def test_meta_sgd_rates_receive_gradients_and_equal_plain_maml_at_their_initial_value(melu64, first_order):
    model, batch, _, _ = melu64
    names = ["decision.*", "output.*"]
    plain = MAML(model, names, 0.05, 3, first_order=first_order)
    model.zero_grad()
    plain_loss = plain.meta_loss(batch)
    plain_loss.backward()
    plain_grads = {n: p.grad.clone() for n, p in model.named_parameters()}

    learned = MAML(model, names, 0.05, 3, first_order=first_order, learn_local_lr=True, local_lr_max=0.2)
    rates = dict(model.local_lr_logits.named_parameters())
    assert set(learned.rate_names) == set(plain.adapted_names)  # one rate tensor per adapted parameter
    for name, rate_name in learned.rate_names.items():
        assert rates[rate_name.split(".", 1)[1]].shape == model.get_parameter(name).shape
    model.zero_grad()
    loss = learned.meta_loss(batch)
    loss.backward()
    # rates fixed at local_lr: the same loss and the same meta-gradient as plain MAML
    assert loss.item() == pytest.approx(plain_loss.item(), abs=1e-12)
    for name, g in plain_grads.items():
        torch.testing.assert_close(model.get_parameter(name).grad, g, atol=1e-10, rtol=1e-8, msg=name)
    # ... and every rate tensor has a non-zero meta-gradient (the query loss depends on it)
    for key, rate in rates.items():
        assert rate.grad is not None and rate.grad.abs().sum() > 0, key


def test_meta_sgd_rates_act_per_parameter(melu64):
    """A zero rate (phi = -inf) freezes its parameter entries in the local update; the other entries still adapt."""
    model, batch, _, _ = melu64
    maml = MAML(model, ["decision.*", "output.*"], 0.05, 2, learn_local_lr=True, local_lr_max=0.2)
    rates = model.local_lr_logits
    with torch.no_grad():
        rates["output__weight"].fill_(-float("inf"))
        rates["decision__0__weight"][0].fill_(-float("inf"))  # the first hidden unit's incoming weights only
    adapted, shared = maml._split_params()
    user, s_item, s_rating, s_mask = (t[0] for t in maml._tensors(batch)[:4])
    after = maml.adapt(adapted, shared, user, s_item, s_rating, s_mask)
    assert torch.equal(after["output.weight"], adapted["output.weight"])
    assert torch.equal(after["decision.0.weight"][0], adapted["decision.0.weight"][0])
    assert not torch.allclose(after["decision.0.weight"][1:], adapted["decision.0.weight"][1:])
    assert not torch.allclose(after["output.bias"], adapted["output.bias"])


def test_meta_sgd_rates_are_trained_checkpointed_and_never_adapted(tmp_path):
    dataset, (train, valid, _), model, trainer = build(
        "MeLU", "tiny", local_lr_learned=True, local_update_params="all", epochs=1, meta_batch_size=8
    )
    rate_names = [n for n, _ in model.named_parameters() if n.startswith("local_lr_logits.")]
    assert rate_names and not any(n.startswith("local_lr_logits.") for n in trainer.maml.adapted_names)
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert all(id(model.get_parameter(n)) in optimized for n in rate_names)
    before = {n: model.get_parameter(n).detach().clone() for n in rate_names}
    trainer.fit(train, valid, saved=False)
    assert any(not torch.equal(before[n], model.get_parameter(n)) for n in rate_names)  # learned
    # a model rebuilt from its config (no trainer, no rates yet) loads them from the state dict
    fresh = build("MeLU", "tiny", local_lr_learned=True, local_update_params="all")[2]
    del fresh.local_lr_logits
    fresh.load_state_dict(model.state_dict())
    for n in rate_names:
        torch.testing.assert_close(fresh.get_parameter(n), model.get_parameter(n))


@pytest.mark.parametrize("params", [["decision.*", "output.*"], "all"])
@pytest.mark.parametrize("vectorize", [True, False])
def test_the_local_update_adapts_also_when_called_under_no_grad(params, vectorize):
    # an evaluation calls it under no_grad: the vectorised path with every parameter adapted used to skip the
    # local steps there (its per-task copies were made before enable_grad) and return another loss
    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6, seed=7)
    batch = collate_tasks(dataset.cold_split, train.tasks[:6], "user_id")
    maml = MAML(model, params, 0.05, 3, vectorize=vectorize)
    with_grad = maml.meta_loss(batch)
    with torch.no_grad():
        without_grad = maml.meta_loss(batch)
        unadapted = MAML(model, params, 0.05, 0, vectorize=vectorize).meta_loss(batch)
    assert torch.equal(with_grad.detach(), without_grad)
    assert not torch.isclose(without_grad, unadapted)
