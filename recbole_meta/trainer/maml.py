"""MAML's inner and outer loop on ``torch.func``, for a whole padded meta-batch at once or task by task.

Model-agnostic meta-learning (Finn, Abbeel and Levine, ICML 2017, Algorithm 2), restricted as in MeLU (Lee et
al., KDD 2019, Section 4.2, Eq. 4-5) to a subset of the parameters (``local_update_params``):

* local update (Eq. 4): for ``local_update_steps`` steps, theta_u <- theta_u - alpha * grad L_u^support(theta_u),
  starting from the shared initial values of the adapted parameters; the others stay shared;
* global update (Eq. 5): the mean over the meta-batch's tasks of the query loss at the adapted parameters,
  differentiated with respect to *all* initial parameters. With ``first_order: False`` the gradient flows
  through the local steps exactly (second order), which MeLU's reference implementation failed to do; with
  ``first_order: True`` each local gradient is treated as a constant (first-order MAML).

A task's loss is the masked mean squared error over its ratings. The vectorised path maps one task's function
over the meta-batch with ``torch.func.vmap`` (padded supports and queries, masks in the losses; the meta-loss
takes one reverse pass per local step for all tasks, and encodes a task once when only the model's head adapts,
see :meth:`MAML._batched_query_predictions`, adapting the head's first layer in kernel form, see
:meth:`MAML._kernel_query_predictions`), each chunk of tasks of similar support length padded to its own longest
support only (:func:`~recbole_meta.data.episodes.length_chunks`); the loop path
(``meta_vectorize: False``) runs the same function on each task cut to its true length. Both give the same
meta-gradient (``tests/test_maml.py`` checks it to 1e-5 in float64, first and second order).
``local_update_steps: 0`` is a first-class setting: no local update, the loss of the model's prediction given
the support (metric-based learners use it).

``local_lr_learned: True`` is Meta-SGD (Li, Zhou, Chen and Li, "Meta-SGD: Learning to Learn Quickly for Few-Shot
Learning", arXiv:1707.09835, 2017): the scalar alpha becomes a tensor of the shape of each adapted parameter, the
local step theta' = theta - alpha o grad L_T(theta) (their Eq. 1, elementwise product) and the global update
min_{theta, alpha} sum_T L_T(theta') (their Eq. 2, learned with the initial values: the query loss is
differentiated with respect to alpha too). Unlike the paper, each rate is bounded:

    alpha = local_lr_max * sigmoid(phi),   phi learned, initialised at logit(local_lr / local_lr_max),

so every rate starts at ``local_lr`` and stays in (0, ``local_lr_max``) whatever the global update does. The
paper's alpha is free: entries may turn negative (a step up the support loss) or grow without limit, and under
Adam's global steps they did both on the planted cold-start data (seed 0's rates spread from -0.18 to 0.27 in 7
epochs from 0.01; seeds 1 and 2 diverged, NaN training loss). Positive rates keep each entry's local step a
descent direction (the support loss's first-order change is -sum_i alpha_i g_i^2 <= 0), and the cap keeps the
steps in the range where the scalar rate is stable. A sigmoid rather than a clamp: a clamped rate has no gradient
once it sits at a bound and could never come back; the sigmoid's gradient only shrinks near them. A step of phi
moves a rate by rate * (1 - rate / local_lr_max) per unit, in proportion to its size: at the default (0.01 of a
bound of 0.02) Adam's step of 0.001 on phi moves it by 5e-6, against 1e-3 for the paper's unbounded rate, so
the bounded rates move much more slowly than the paper's, and most slowly near either bound. The parameters phi
live on the model (module :data:`LOCAL_RATES`), so the optimizer, the checkpoints and serving carry them.
Without ``local_lr_learned`` none of this runs: the scalar rate, bit for bit as before
(``tests/test_maml_plain_unchanged.py``).
"""

import fnmatch
import math

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from recbole_meta.data.episodes import length_chunks, task_tensors
from recbole_meta.input_checks import STEP_SIZE, check_option, is_number
from recbole_meta.model.losses import masked_mse

# the model's submodule holding Meta-SGD's per-parameter rate parameters phi (rate = local_lr_max * sigmoid(phi));
# not the rates themselves
LOCAL_RATES = "local_lr_logits"
UNBOUNDED_RATES = "local_lr_rates"  # where checkpoints before the bound stored the unbounded rates (refused)
INPUT_LAYER_FORMS = ("auto", "kernel", "weights")  # see MAML's ``input_layer_form``


def rate_key(name):
    """The key of parameter ``name``'s Meta-SGD rate in the model's :data:`LOCAL_RATES` (no dots allowed there)."""
    return name.replace(".", "__")


def rate_logit(rate, bound):
    """phi with ``bound * sigmoid(phi) == rate`` (``0 < rate < bound``): where Meta-SGD's rate parameters start."""
    share = float(rate) / float(bound)
    return math.log(share / (1.0 - share))


def bounded_rate(phi, bound):
    """Meta-SGD's local rate ``bound * sigmoid(phi)``, elementwise: always in (0, ``bound``)."""
    return bound * torch.sigmoid(phi)


def local_rates(model, names, init, bound):
    """The model's Meta-SGD rate parameters phi for the parameters ``names``, created so that each rate
    ``bound * sigmoid(phi)`` starts at ``init``: ``{name: name of its phi among the model's parameters}``.

    Rates that exist already (a trained or loaded model) are kept: a second MAML on the same model shares them.
    """
    if not hasattr(model, LOCAL_RATES):
        model.add_module(LOCAL_RATES, nn.ParameterDict())
    rates = getattr(model, LOCAL_RATES)
    params = dict(model.named_parameters())
    for name in names:
        if rate_key(name) not in rates:
            start = rate_logit(init, bound)
            rates[rate_key(name)] = nn.Parameter(torch.full_like(params[name].detach(), start))
    return {name: f"{LOCAL_RATES}.{rate_key(name)}" for name in names}


def select_parameters(model, patterns):
    """Names of the trainable parameters matched by ``patterns`` (``fnmatch`` globs, or ``'all'``).

    Raises ``ValueError`` for a pattern that matches nothing, naming the model's parameters.
    """
    names = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and not name.startswith(LOCAL_RATES + ".")  # Meta-SGD's rates are never adapted
    ]
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    if list(patterns) == ["all"]:
        return names
    chosen = []
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if not matched:
            raise ValueError(
                f"local_update_params pattern '{pattern}' matches no trainable parameter of "
                f"{type(model).__name__}; its parameters are: {', '.join(names)} (or use 'all')"
            )
        chosen.extend(m for m in matched if m not in chosen)
    return chosen


def _laid_like(value, gradient, initial):
    """``value`` (``[B, ...]``, the tasks' copies of ``initial``) in the memory layout of its ``gradient``.

    The gradient of a batched product's weight comes out transposed in memory (``[B, out, in]`` stored as
    ``[B, in, out]``), while the copies start as the shared weight expanded along the tasks. Adding tensors of two
    layouts reads one of them across its rows, several times slower than adding two of one layout; so the copies
    take the gradient's layout once, at the first local step (the shared ``[out, in]`` weight re-laid, then
    expanded), and every later update adds tensors of one layout. A differentiable copy: gradients are unchanged.
    """
    if value.dim() < 3 or value.stride() == gradient.stride():
        return value
    if value.stride(0) == 0:  # the shared ``initial`` value expanded along the tasks: re-lay the one matrix
        return torch.empty_like(gradient[0]).copy_(initial).expand_as(value)
    return torch.empty_like(gradient).copy_(value)


class _Head(nn.Module):
    """``model.head`` as a module's forward, so that ``functional_call`` can run it with adapted parameters.

    It holds only the head's submodules (under their names in the model), so that ``functional_call`` walks
    those and not the whole model at every local step.
    """

    def __init__(self, model, names, run=None):
        super().__init__()
        self.parts = nn.ModuleDict({name: getattr(model, name) for name in names})
        # a bound method (``model.head`` unless told): not registered, the model is not a submodule
        self.run = model.head if run is None else run

    def forward(self, *encoded):
        return self.run(*encoded)


class MAML:
    """Local adaptation and meta-loss of a :class:`~recbole_meta.model.meta_recommender.MetaRecommender`.

    The model's ``forward(user, support_item, support_rating, support_mask, target_item)`` predicts the
    ratings of ``target_item`` for one task; everything here is built on it with ``functional_call``.

    Args:
        model (MetaRecommender): the model.
        local_update_params (list of str or 'all'): parameter-name patterns adapted per task.
        local_lr (float): the local learning rate alpha.
        local_update_steps (int): number of local steps (0: no adaptation).
        first_order (bool): drop the second-order terms of the meta-gradient.
        vectorize (bool): vmap over the meta-batch (True) or loop over tasks (False).
        learn_local_lr (bool): Meta-SGD: per-parameter local rates (initialised at ``local_lr``) on the model,
            used by the local update and trained by the global update. Build the MAML before the optimizer.
        local_lr_max (float): with ``learn_local_lr``, the bound of the learned rates, each in (0, local_lr_max)
            (must exceed ``local_lr``); unused without it.
        input_layer_form (str): how the vectorised meta-loss adapts the model's ``head_input_layer`` (see
            :meth:`_kernel_query_predictions`): ``'kernel'`` (Gram products of the task's inputs, no weight copies),
            ``'weights'`` (per-task weight copies) or ``'auto'`` (kernel when a chunk's padded support is no longer
            than the layer's input width, where it does less work). The same values either way (tested).
    """

    def __init__(
        self,
        model,
        local_update_params,
        local_lr,
        local_update_steps,
        first_order=False,
        vectorize=True,
        learn_local_lr=False,
        local_lr_max=None,
        input_layer_form="auto",
    ):
        if (
            not isinstance(local_update_steps, int)
            or isinstance(local_update_steps, bool)
            or local_update_steps < 0
        ):
            raise ValueError(f"local_update_steps must be an integer >= 0, got {local_update_steps!r}")
        if local_update_steps > 0 and not float(local_lr) > 0:
            raise ValueError(f"local_lr must be > 0 when local_update_steps > 0, got {local_lr!r}")
        self.model = model
        self.adapted_names = select_parameters(model, local_update_params) if local_update_steps > 0 else []
        if local_update_steps > 0 and not self.adapted_names:
            raise ValueError("local_update_steps > 0 but local_update_params selects no parameter")
        self.local_lr = float(local_lr) if local_update_steps > 0 else 0.0
        self.steps = local_update_steps
        self.first_order = bool(first_order)
        self.vectorize = bool(vectorize)
        if not isinstance(learn_local_lr, bool):
            raise ValueError(f"local_lr_learned must be True or False, got {learn_local_lr!r}")
        # parameter name -> name of its rate parameter phi among the model's parameters (empty: the scalar local_lr)
        self.rate_names = {}
        self.local_lr_max = None
        if learn_local_lr and self.adapted_names:
            if not (is_number(local_lr_max) and math.isfinite(local_lr_max) and local_lr_max > self.local_lr):
                raise ValueError(
                    f"local_lr_max must be a finite number greater than local_lr={self.local_lr:g} with "
                    f"local_lr_learned (Meta-SGD's rates stay in (0, local_lr_max)), got {local_lr_max!r}"
                )
            self.local_lr_max = float(local_lr_max)
            self.rate_names = local_rates(model, self.adapted_names, self.local_lr, self.local_lr_max)
        # the model's head alone, when the local update adapts nothing else (see MetaRecommender.encode)
        heads = getattr(model, "head_modules", None)
        self._head = (
            _Head(model, heads)
            if heads and self.adapted_names and all(n.split(".")[0] in heads for n in self.adapted_names)
            else None
        )
        # the head's input layer in kernel form: its weight adapted with the scalar rate (Meta-SGD's elementwise
        # rates do not factor through the inputs' Gram matrix)
        if input_layer_form not in INPUT_LAYER_FORMS:
            raise ValueError(
                f"input_layer_form must be one of {', '.join(INPUT_LAYER_FORMS)}, got {input_layer_form!r}"
            )
        layer = getattr(model, "head_input_layer", None)
        self._input_layer = (
            layer
            if self._head is not None
            and layer
            and f"{layer}.weight" in self.adapted_names
            and not self.rate_names
            and input_layer_form != "weights"
            else None
        )
        self._input_layer_form = input_layer_form
        self._after_input = (
            _Head(model, heads, run=model.head_after_input) if self._input_layer is not None else None
        )

    @classmethod
    def from_config(cls, config, model):
        """The adaptation of ``model`` as the run's config sets it (what the MetaTrainer trains and tests with).

        A model without trainable parameters (the mean baselines) gets no local steps: there is nothing to adapt.
        ``local_lr_max`` is read (and checked) only where Meta-SGD's rates exist: learned rates and local steps.
        """
        trainable = any(p.requires_grad for p in model.parameters())
        steps = config["local_update_steps"] if trainable else 0
        learned = False if config["local_lr_learned"] is None else config["local_lr_learned"]
        bounded = learned is True and isinstance(steps, int) and steps > 0
        return cls(
            model,
            config["local_update_params"],
            config["local_lr"],
            steps,
            first_order=config["first_order"],
            vectorize=config["meta_vectorize"],
            learn_local_lr=learned,
            local_lr_max=check_option(config, "local_lr_max", STEP_SIZE) if bounded else None,
        )

    # ------------------------------------------------------------------------------------ one task
    def _split_params(self):
        params = dict(self.model.named_parameters())
        adapted = {name: params.pop(name) for name in self.adapted_names}
        return adapted, params

    def _loss(self, adapted, shared, user, s_item, s_rating, s_mask, t_item, t_rating, t_mask):
        prediction = functional_call(
            self.model, {**shared, **adapted}, (user, s_item, s_rating, s_mask, t_item)
        )
        return masked_mse(prediction, t_rating, t_mask)

    def adapt(self, adapted, shared, user, s_item, s_rating, s_mask, steps=None, first_order=None):
        """The local update (MeLU Eq. 4; Meta-SGD Eq. 1 with learned rates) on one task's support: the adapted
        parameters after the steps."""
        steps = self.steps if steps is None else steps
        first_order = self.first_order if first_order is None else first_order
        for _ in range(steps):
            grads = grad(self._loss)(
                adapted, shared, user, s_item, s_rating, s_mask, s_item, s_rating, s_mask
            )
            if first_order:
                grads = {name: g.detach() for name, g in grads.items()}
            adapted = {
                name: value - self._rate(shared, name) * grads[name] for name, value in adapted.items()
            }
        return adapted

    def _rate(self, shared, name):
        """Parameter ``name``'s local rate: its bounded Meta-SGD tensor (from the shared parameter phi) or
        ``local_lr``."""
        if not self.rate_names:
            return self.local_lr
        return bounded_rate(shared[self.rate_names[name]], self.local_lr_max)

    def learned_rates(self):
        """Meta-SGD's current local rates ``{adapted parameter name: tensor}`` (empty without learned rates)."""
        with torch.no_grad():
            return {
                name: bounded_rate(self.model.get_parameter(phi), self.local_lr_max)
                for name, phi in self.rate_names.items()
            }

    def _task_query_prediction(self, adapted, shared, user, s_item, s_rating, s_mask, q_item):
        adapted = self.adapt(adapted, shared, user, s_item, s_rating, s_mask)
        return self._task_score(adapted, shared, user, s_item, s_rating, s_mask, q_item)

    def _task_prediction(self, adapted, shared, user, s_item, s_rating, s_mask, q_item):
        # No meta-gradient is taken at prediction time: first-order local steps give the same values, cheaper.
        adapted = self.adapt(adapted, shared, user, s_item, s_rating, s_mask, first_order=True)
        return functional_call(self.model, {**shared, **adapted}, (user, s_item, s_rating, s_mask, q_item))

    def _task_supervised_loss(
        self, adapted, shared, user, s_item, s_rating, s_mask, q_item, q_rating, q_mask
    ):
        items = torch.cat([s_item, q_item])
        ratings, mask = torch.cat([s_rating, q_rating]), torch.cat([s_mask, q_mask])
        return self._loss(adapted, shared, user, s_item, s_rating, s_mask, items, ratings, mask)

    # ------------------------------------------------------------------------------------ meta-batch
    def _tensors(self, batch):
        return task_tensors(batch, self.model.USER_ID)

    def _map(self, task_fn, tensors, s_mask, q_mask):
        """``task_fn(adapted, shared, *tensors of one task)`` for every task of the meta-batch.

        ``tensors`` is a prefix of (user, support item / rating / mask, query item / rating / mask), ``[B, ...]``.
        Vectorised: one vmap over the padded tensors. Loop: each task cut to its true support and query length
        (from ``s_mask`` / ``q_mask``), a per-query-item output padded back to the meta-batch's width.
        """
        adapted, shared = self._split_params()
        q_width = q_mask.shape[1]
        if self.vectorize:
            in_dims = (None, None) + (0,) * len(tensors)
            mapped = vmap(task_fn, in_dims=in_dims, randomness="different")
            return self._by_chunks(lambda part: mapped(adapted, shared, *part), tensors, s_mask, q_mask)
        s_len = s_mask.sum(dim=1).long().tolist()
        q_len = q_mask.sum(dim=1).long().tolist()
        outputs = []
        for b in range(len(s_len)):
            cut = [
                t[b] if i == 0 else t[b, : s_len[b]] if i <= 3 else t[b, : q_len[b]]
                for i, t in enumerate(tensors)
            ]
            out = task_fn(adapted, shared, *cut)
            outputs.append(torch.nn.functional.pad(out, (0, q_width - q_len[b])) if out.dim() == 1 else out)
        return torch.stack(outputs)

    @staticmethod
    def _by_chunks(run, tensors, s_mask, q_mask):
        """``run(tensors of a chunk)`` for each :func:`~recbole_meta.data.episodes.length_chunks` chunk of the
        meta-batch, each cut to its own longest support and query; outputs put back in task order, padded to the
        meta-batch's query width. Padding never changes a task's result (masked losses), only the work.
        """
        s_len, q_len = s_mask.sum(dim=1).long(), q_mask.sum(dim=1).long()
        chunks = length_chunks(s_len.cpu().numpy())
        outputs, order = [], []
        for chunk in chunks:
            index = torch.as_tensor(chunk, device=s_mask.device)
            s_cut = max(int(s_len[index].max()), 1)
            q_cut = max(int(q_len[index].max()), 1)
            part = [
                t[index] if i == 0 else t[index, :s_cut] if i <= 3 else t[index, :q_cut]
                for i, t in enumerate(tensors)
            ]
            out = run(part)
            if out.dim() == 2:
                out = torch.nn.functional.pad(out, (0, q_mask.shape[1] - out.shape[1]))
            outputs.append(out)
            order.append(index)
        if len(outputs) == 1:
            return outputs[0][torch.argsort(order[0])]
        return torch.cat(outputs)[torch.argsort(torch.cat(order))]

    def meta_predictions(self, batch):
        """``[B, Q]``: each task's query predictions after its local update, differentiable with respect to all
        the initial parameters (second order unless ``first_order``); padded query positions hold any value.
        """
        return self._meta_predictions(self._tensors(batch))

    def _meta_predictions(self, tensors):
        if self.vectorize:
            return self._by_chunks(self._batched_query_predictions, tensors, tensors[3], tensors[6])
        return self._map(self._task_query_prediction, tensors[:5], tensors[3], tensors[6])

    def meta_losses(self, batch):
        """``[B]``: each task's query loss after the local update (differentiable); MeLU Eq. 5 is their mean."""
        tensors = self._tensors(batch)
        return masked_mse(self._meta_predictions(tensors), tensors[5], tensors[6], dim=1)

    def _batched_query_predictions(self, tensors):
        """``[B, Q]`` query predictions after the local update of every task of a (chunk of a) meta-batch at once.

        The same MeLU Eq. 4-5 as :meth:`_task_query_prediction`, computed with one copy of the adapted parameters
        per task (the shared initial values expanded along the tasks, ``[B, ...]``): each local step takes the
        vmapped support losses of all tasks and one ``torch.autograd.grad`` of their *sum* with respect to the
        copies, which is each task's own gradient (the tasks do not interact), kept differentiable for the
        second-order meta-gradient. One reverse pass per step for the whole batch, against a nested
        vmap-of-grad transform per task, which cost more on the meta-batches measured here.

        A model that splits its forward into ``head(*encode(...))`` (:attr:`MetaRecommender.head_modules`), when
        only head parameters adapt, is encoded once (support and query) and the local steps run its head alone
        over the whole batch, the per-task copies in batched products (no vmap, no re-encoding at every step);
        its first layer, when adapted, in kernel form (:meth:`_kernel_query_predictions`, no copies of it).
        """
        user, s_item, s_rating, s_mask, q_item, _, _ = tensors
        size = user.shape[0]
        # under enable_grad as a whole: called under no_grad (an evaluation), the expanded copies would carry no
        # graph and the local steps would silently not adapt
        with torch.enable_grad():
            initial, shared = self._split_params()
            adapted = {name: value.expand(size, *value.shape) for name, value in initial.items()}
            if self._head is not None:  # encode each task once; the local steps run the head alone
                # support and query targets in one encoding, then split along the targets
                encoded = vmap(self.model.encode, randomness="different")(
                    user, s_item, s_rating, s_mask, torch.cat([s_item, q_item], dim=1)
                )
                width = s_item.shape[1]
                support = tuple(t[:, :width] for t in encoded)
                query = tuple(t[:, width:] for t in encoded)
                if self._kernel_form(width):
                    return self._kernel_query_predictions(initial, shared, support, query, s_rating, s_mask)

                def predictions(adapted, encoded):
                    return functional_call(
                        self._head, {f"parts.{k}": v for k, v in adapted.items()}, tuple(encoded)
                    )

            else:
                score = vmap(self._task_score, in_dims=(0, None) + (0,) * 5, randomness="different")
                support, query = s_item, q_item

                def predictions(adapted, items):
                    return score(adapted, shared, user, s_item, s_rating, s_mask, items)

            for _ in range(self.steps):
                grads = torch.autograd.grad(
                    masked_mse(predictions(adapted, support), s_rating, s_mask, dim=1).sum(),
                    list(adapted.values()),
                    create_graph=not self.first_order,
                    allow_unused=True,
                )
                adapted = {
                    name: (
                        value
                        if g is None
                        else self._step(_laid_like(value, g, initial[name]), g, self._rate(shared, name))
                    )
                    for (name, value), g in zip(adapted.items(), grads)
                }
            return predictions(adapted, query)

    def _kernel_form(self, support_width):
        """Whether a chunk whose supports are padded to ``support_width`` runs the input layer in kernel form."""
        if self._input_layer is None:
            return False
        if self._input_layer_form == "kernel":
            return True
        layer = self.model.get_submodule(self._input_layer)
        return support_width <= layer.in_features

    def _kernel_query_predictions(self, initial, shared, support, query, s_rating, s_mask):
        """:meth:`_batched_query_predictions` with the head's input layer
        (:attr:`MetaRecommender.head_input_layer`) adapted in kernel form, without per-task copies of its weight.

        The encoded support X ``[n, d]`` of a task is the same at every local step, and the gradient of the
        support loss with respect to the layer's weight is delta^T X, delta ``[n, out]`` being its gradient
        with respect to the layer's output (and 1^T delta for the bias). So after k steps of rate alpha the
        task's weight is W_k = W - alpha sum_j delta_j^T X (MAML Eq. 1, MeLU Eq. 4), and the layer's output on
        any input Z is exactly
            Z W_k^T + b_k = (Z W^T + b) - alpha (Z X^T + 1) sum_j delta_j
        (the ``+ 1`` when the bias adapts too): the shared weight's product, computed once for the whole batch,
        corrected by the task's Gram matrix Z X^T ``[., n]`` (computed once) times the running sum of the
        deltas. Each local step then costs n x n x out in that layer instead of the copies' n x d x out (forward
        and weight gradient) plus their updates; the same function of all the parameters, so autograd
        differentiates it to the same second-order meta-gradient (with ``first_order`` the right-hand X is a
        constant, as the detached weight gradients are). Padded support rows have delta 0 and add nothing.
        """
        layer = self._input_layer
        weight_name, bias_name = f"{layer}.weight", f"{layer}.bias"
        bias_adapts = bias_name in initial
        bias = initial[bias_name] if bias_adapts else shared.get(bias_name)
        support_x, query_x = support[0], query[0]
        known = support_x.detach() if self.first_order else support_x
        gram = torch.bmm(support_x, known.transpose(1, 2))  # [B, n, n]
        query_gram = torch.bmm(query_x, known.transpose(1, 2))  # [B, q, n]
        if bias_adapts:
            gram, query_gram = gram + 1, query_gram + 1
        # the shared layer on every support and query row: one flat product each
        support_out = nn.functional.linear(support_x, initial[weight_name], bias)
        query_out = nn.functional.linear(query_x, initial[weight_name], bias)
        size = support_x.shape[0]
        rest = {
            name: value.expand(size, *value.shape)
            for name, value in initial.items()
            if name not in (weight_name, bias_name)
        }

        def predictions(rest, out, encoded_rest):
            return functional_call(
                self._after_input, {f"parts.{k}": v for k, v in rest.items()}, (out, *encoded_rest)
            )

        deltas = None  # [B, n, out]: sum of the support losses' gradients with respect to the layer's output
        for _ in range(self.steps):
            out = (
                support_out
                if deltas is None
                else torch.baddbmm(support_out, gram, deltas, alpha=-self.local_lr)
            )
            losses = masked_mse(predictions(rest, out, support[1:]), s_rating, s_mask, dim=1)
            delta, *grads = torch.autograd.grad(
                losses.sum(), [out, *rest.values()], create_graph=not self.first_order, allow_unused=True
            )
            if delta is not None:
                deltas = delta if deltas is None else deltas + delta
            rest = {
                name: (
                    value if g is None else self._step(_laid_like(value, g, initial[name]), g, self.local_lr)
                )
                for (name, value), g in zip(rest.items(), grads)
            }
        out = (
            query_out
            if deltas is None
            else torch.baddbmm(query_out, query_gram, deltas, alpha=-self.local_lr)
        )
        return predictions(rest, out, query[1:])

    @staticmethod
    def _step(value, gradient, rate):
        """``value - rate * gradient``; a scalar rate fused into one operation (Meta-SGD's tensor broadcasts)."""
        if torch.is_tensor(rate):
            return value - rate * gradient
        return torch.add(value, gradient, alpha=-rate)

    def meta_loss(self, batch):
        """MeLU Eq. 5: mean over the tasks of the query loss after the local update (differentiable)."""
        return self.meta_losses(batch).mean()

    def supervised_losses(self, batch):
        """``[B]``: the same network without meta-learning, each task's loss on all its ratings, no adaptation."""
        tensors = self._tensors(batch)
        return self._map(self._task_supervised_loss, tensors, tensors[3], tensors[6])

    def supervised_loss(self, batch):
        """The same network without meta-learning: mean over tasks of the loss on all their ratings, no adaptation."""
        return self.supervised_losses(batch).mean()

    def predict_query(self, batch):
        """Predicted query ratings ``[B, Q]`` after adapting to each task's support (ignore padded positions)."""
        tensors = self._tensors(batch)
        return self._map(self._task_prediction, tensors[:5], tensors[3], tensors[6])

    def predict_query_and_items(self, batch, items, chunk_size=None):
        """Query predictions ``[B, Q]`` and scores ``[B, C]`` of candidate ``items`` ``[C]``, one adaptation per task.

        The whole ``[B, C]`` matrix: for a large catalogue use :meth:`predict_query_and_item_chunks`, which never
        holds more than ``[B, chunk_size]`` scores at once (this method concatenates its chunks).
        """
        query, chunks = self.predict_query_and_item_chunks(batch, items, chunk_size)
        return query, torch.cat(list(chunks), dim=1)

    def predict_query_and_item_chunks(self, batch, items, chunk_size=None):
        """Query predictions ``[B, Q]`` and a generator of candidate scores ``[B, c]``, chunk by chunk of ``items``.

        Each task is adapted to its support once (:meth:`adapt_tasks`); the adapted parameters then score the
        query, and the candidates ``chunk_size`` at a time (``None``: all at once), so that the largest score
        matrix (and the model's largest activation, ``[B, chunk, width]``) is bounded by the chunk size, not the
        catalogue. A candidate's score does not depend on the chunking (tested: chunked equals unchunked).
        """
        if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
            raise ValueError(f"full_ranking_chunk_size must be a positive integer or ~, got {chunk_size!r}")
        tensors = self._tensors(batch)
        adapted = self.adapt_tasks(batch)
        query = self.predict_with(adapted, tensors, tensors[4], tensors[6])
        size = tensors[0].shape[0]
        step = len(items) if chunk_size is None else int(chunk_size)

        def chunks():
            for start in range(0, len(items), max(step, 1)):
                piece = items[start : start + step].expand(size, -1)
                yield self.predict_with(
                    adapted, tensors, piece, torch.ones_like(piece, dtype=tensors[6].dtype)
                )

        return query, chunks()

    def _task_adapt(self, adapted, shared, user, s_item, s_rating, s_mask):
        # No meta-gradient is taken at prediction time: first-order local steps give the same values, cheaper.
        return self.adapt(adapted, shared, user, s_item, s_rating, s_mask, first_order=True)

    def adapt_tasks(self, batch):
        """Each task's adapted parameters after the local update on its support: ``{name: [B, ...]}``."""
        user, s_item, s_rating, s_mask = self._tensors(batch)[:4]
        adapted, shared = self._split_params()
        if not self.adapted_names:
            return {}
        if self.vectorize:
            return vmap(self._task_adapt, in_dims=(None, None, 0, 0, 0, 0), randomness="different")(
                adapted, shared, user, s_item, s_rating, s_mask
            )
        s_len = s_mask.sum(dim=1).long().tolist()
        per_task = [
            self._task_adapt(
                adapted, shared, user[b], *(t[b, : s_len[b]] for t in (s_item, s_rating, s_mask))
            )
            for b in range(len(s_len))
        ]
        return {name: torch.stack([task[name] for task in per_task]) for name in self.adapted_names}

    def _task_score(self, adapted, shared, user, s_item, s_rating, s_mask, t_item):
        return functional_call(self.model, {**shared, **adapted}, (user, s_item, s_rating, s_mask, t_item))

    def predict_with(self, adapted, tensors, targets, t_mask):
        """Predictions ``[B, T]`` of ``targets`` with each task's ``adapted`` parameters (from :meth:`adapt_tasks`).

        ``tensors``: the meta-batch's :func:`task_tensors`; ``t_mask`` marks real targets (the loop path cuts
        each task to them and pads the output back).
        """
        user, s_item, s_rating, s_mask = tensors[:4]
        shared = {k: v for k, v in self.model.named_parameters() if k not in self.adapted_names}
        if self.vectorize:
            in_dims = ({name: 0 for name in adapted}, None, 0, 0, 0, 0, 0)
            return vmap(self._task_score, in_dims=in_dims, randomness="different")(
                adapted, shared, user, s_item, s_rating, s_mask, targets
            )
        s_len = s_mask.sum(dim=1).long().tolist()
        t_len = t_mask.sum(dim=1).long().tolist()
        outputs = []
        for b in range(len(s_len)):
            cut = (t[b, : s_len[b]] for t in (s_item, s_rating, s_mask))
            task = {name: value[b] for name, value in adapted.items()}
            out = self._task_score(task, shared, user[b], *cut, targets[b, : t_len[b]])
            outputs.append(torch.nn.functional.pad(out, (0, targets.shape[1] - t_len[b])))
        return torch.stack(outputs)
