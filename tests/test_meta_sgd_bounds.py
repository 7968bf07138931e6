"""Meta-SGD's learned local rates are bounded: rate = local_lr_max * sigmoid(phi), in (0, local_lr_max).

The bound holds under a meta-optimiser that pushes hard (the unbounded rates went negative here), the
meta-gradient with respect to phi is exact (float64 finite differences), Meta-SGD still learns on planted
ratings, and a bad bound is one line naming the option.
"""

import pytest
import torch

from recbole_meta.benchmark.synthetic.planted_ratings import generate_planted_ratings
from recbole_meta.data.episodes import collate_tasks
from recbole_meta.input_checks import ConfigError
from recbole_meta.trainer.maml import MAML
from tests.cold_start_helpers import build, build_on_planted

HEAD = ["decision.*", "output.*"]


@pytest.fixture
def tiny_batch():
    dataset, (train, _, _), model, _ = build("MeLU", "tiny", meta_batch_size=6)
    tasks = train.tasks[:6]
    return model, collate_tasks(dataset.cold_split, tasks, "user_id"), (dataset.cold_split, tasks)


def _rates(maml):
    return torch.cat([rate.flatten() for rate in maml.learned_rates().values()])


def test_rates_stay_inside_the_bound_under_a_huge_meta_learning_rate(tiny_batch):
    """200 Adam steps of size 1 on the meta-loss: every rate parameter moves by about 1 a step, so unbounded
    rates would end near +-200 (the code before the bound took them below zero within a few steps); the bounded
    rates stay in [0, local_lr_max] (the open interval, up to float32 rounding at saturation) and the
    meta-loss stays finite."""
    model, batch, _ = tiny_batch
    bound = 0.05
    maml = MAML(model, HEAD, 0.01, 5, learn_local_lr=True, local_lr_max=bound)
    phis = [model.get_parameter(name) for name in maml.rate_names.values()]
    optimizer = torch.optim.Adam(phis, lr=1.0)  # only the rates move: their effect alone is tested
    start = _rates(maml)
    assert torch.allclose(start, torch.full_like(start, 0.01))  # every rate starts at local_lr
    lowest, highest = 1.0, 0.0
    for _ in range(200):
        optimizer.zero_grad()
        loss = maml.meta_loss(batch)
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        rates = _rates(maml)
        lowest, highest = min(lowest, rates.min().item()), max(highest, rates.max().item())
    assert lowest >= 0.0 and highest <= bound
    assert highest > 0.9 * bound  # the meta-optimiser did push rates to the bound: the test is not idle
    assert torch.isfinite(maml.meta_loss(batch))


@pytest.mark.parametrize("first_order, steps", [(False, 3), (True, 1)])
def test_meta_gradient_with_respect_to_the_rate_parameters_is_exact(tiny_batch, first_order, steps):
    """d meta-loss / d phi (autograd through the local steps) against central finite differences in float64,
    along random directions through every rate parameter at once, at rates spread over (0, local_lr_max).
    First order is exact in phi with one local step only (its support gradient does not depend on the rates;
    later steps' do, and first order drops that)."""
    model, _, (split, tasks) = tiny_batch
    model.double()
    batch = collate_tasks(split, tasks, "user_id", dtype=torch.float64)
    maml = MAML(model, HEAD, 0.01, steps, first_order=first_order, learn_local_lr=True, local_lr_max=0.1)
    phis = [model.get_parameter(name) for name in maml.rate_names.values()]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for phi in phis:
            phi.add_(torch.randn(phi.shape, generator=generator, dtype=phi.dtype))
    model.zero_grad()
    maml.meta_loss(batch).backward()
    grads = [phi.grad.clone() for phi in phis]
    assert sum(g.abs().sum() for g in grads) > 0
    eps = 1e-6
    for _ in range(3):
        directions = [torch.randn(phi.shape, generator=generator, dtype=phi.dtype) for phi in phis]
        analytic = sum((g * d).sum() for g, d in zip(grads, directions)).item()
        losses = []
        for sign in (
            1,
            -1,
        ):  # the meta-loss with grad enabled: its local steps differentiate the support loss
            with torch.no_grad():
                for phi, d in zip(phis, directions):
                    phi.add_(sign * eps * d)
            losses.append(maml.meta_loss(batch).item())
            with torch.no_grad():
                for phi, d in zip(phis, directions):
                    phi.sub_(sign * eps * d)
        numeric = (losses[0] - losses[1]) / (2 * eps)
        assert numeric == pytest.approx(analytic, rel=1e-6, abs=1e-10)


def test_meta_sgd_still_learns_on_planted_ratings(tmp_path):
    """Planted ratings with a strong latent taste (only the support reveals it): six epochs of bounded Meta-SGD
    lower the new users' MAE clearly, below the bias model's on the same users (MeLU learned more than the
    biases), and the rates learned something while staying inside the bound."""
    planted = generate_planted_ratings(
        str(tmp_path),
        n_users=200,
        n_items=60,
        ratings_per_user=30,
        max_user_ratings=50,
        seed=3,
        interaction_std=0.0,
        taste_std=0.6,
        noise=0.3,
    )
    _, (train, valid, test), model, trainer = build_on_planted(
        "MeLU",
        planted,
        ["user_cold"],
        local_lr_learned=True,
        local_lr_max=0.05,
        epochs=6,
        meta_lr=0.01,
        meta_batch_size=8,
        embedding_size=8,
        mlp_hidden_size=[16, 16],
        stopping_step=10,
    )
    before = trainer.evaluate(test["user_cold"], load_best_model=False)["mae"]
    start = _rates(trainer.maml)
    trainer.fit(train, valid, saved=False)
    after = trainer.evaluate(test["user_cold"], load_best_model=False)["mae"]
    _, (_, _, bias_test), _, bias = build_on_planted("UserItemBias", planted, ["user_cold"])
    bias_mae = bias.evaluate(bias_test["user_cold"], load_best_model=False)["mae"]
    rates = _rates(trainer.maml)
    assert after < 0.85 * before and after < bias_mae, (before, after, bias_mae)
    assert not torch.allclose(rates, start)  # the rates were learned
    assert rates.min() > 0 and rates.max() < 0.05


def test_a_bad_bound_is_one_line_naming_the_option(tiny_batch):
    model = tiny_batch[0]
    for bad in (0.01, 0.005, -1.0, float("nan"), None, "big", True):
        with pytest.raises(ValueError, match="local_lr_max") as caught:
            MAML(model, HEAD, 0.01, 5, learn_local_lr=True, local_lr_max=bad)
        assert "\n" not in str(caught.value)
    # through the config: checked when read (check_option), the option named
    with pytest.raises(ConfigError, match="option local_lr_max must be a positive number"):
        build("MeLU", "tiny", local_lr_learned=True, local_lr_max=-1.0)
    # text for a number is refused with any config, by the kind of the option's default
    with pytest.raises(ConfigError, match="option local_lr_max must be a number"):
        build("MeLU", "tiny", local_lr_max="big")
    # no learned rates: the bound is not read (plain MAML runs as before)
    assert build("MeLU", "tiny", local_lr_max=-1.0)[3].maml.rate_names == {}


def test_a_checkpoint_of_the_unbounded_rates_is_refused_in_one_line(tiny_batch):
    """Checkpoints from before the bound stored the rates themselves (``local_lr_rates``): loading them as phi
    would silently change every rate, so they are refused."""
    model = tiny_batch[0]
    state = dict(model.state_dict())
    state["local_lr_rates.output__bias"] = torch.full((1,), 0.01)
    with pytest.raises(ValueError, match=r"unbounded local rates \(local_lr_rates") as caught:
        model.load_state_dict(state)
    assert "\n" not in str(caught.value)
