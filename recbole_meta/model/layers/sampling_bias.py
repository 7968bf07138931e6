"""In-batch softmax with logQ (sampling-bias) correction, and the streaming item frequency estimator.

Reference:
    Xinyang Yi et al. "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations."
    RecSys 2019. Sec. 3: with in-batch negatives an item appears as a negative in proportion to its frequency
    ``p_j``; the corrected logit is ``s^c(x_i, y_j) = s(x_i, y_j) - log p_j`` and the loss is the softmax cross
    entropy over the batch's items with the corrected logits. Sec. 4, Algorithm 2 (streaming frequency
    estimation): two hashed arrays, ``A`` (the last step at which a slot was seen) and ``B`` (a moving average
    of the number of steps between two sightings); on seeing item ``y`` at step ``t``,
    ``B[h(y)] <- (1 - alpha) B[h(y)] + alpha (t - A[h(y)])`` and ``A[h(y)] <- t``; the estimate is
    ``p = 1 / B[h(y)]``. With several hash functions the paper keeps the largest ``B`` (collisions only make
    an item look more frequent, i.e. shrink ``B``).

The estimator is vectorised: one step updates every hash slot of the batch with tensor operations and gives
exactly what the paper's per-example loop gives. An item occurring ``m`` times in one batch is ``m`` sightings
at the same step: the first with the gap since its last step, the other ``m - 1`` with gap 0, so in closed form
``B <- (1 - alpha)^m B + alpha (1 - alpha)^(m - 1) (t - A)``. ``1 / B`` therefore estimates the expected number
of occurrences of the item per batch, ``batch_size * p_j``: proportional to its frequency, and the constant
factor cancels in the softmax.

Initial values, which the paper leaves open: a slot's first sighting sets ``B`` to the number of steps elapsed so
far instead of shrinking a zero by ``alpha``. The first arrival of an item seen every ``1 / q`` steps on average
comes after ``1 / q`` steps on average, so the estimate starts unbiased rather than far too frequent, which
matters for rare items in short trainings (an item seen ten times would otherwise still be overestimated).
"""

import torch
from torch import nn

_MERSENNE_PRIME = (1 << 31) - 1


def static_log_frequency(item_counts):
    """``log p_j`` from training counts (``p_j = count_j / total``); items never seen get ``log(1 / total)``.

    Unseen items never occur in a training batch; the floor only keeps the vector finite.
    """
    counts = torch.as_tensor(item_counts, dtype=torch.float64).clamp(min=1.0)
    return torch.log(counts / counts.sum()).to(torch.get_default_dtype())


def in_batch_logits(query, candidates, candidate_ids, temperature, log_q=None, positive_index=None):
    """Logits of the in-batch softmax: ``(B, C)``, row ``i`` scores query ``i`` against every batch item.

    ``logits[i, j] = <query_i, candidate_j> / temperature - log_q[j]``. Column ``positive_index[i]`` (default
    ``i``, with ``C = B``) is the positive of row ``i``; an *accidental hit* -- another column holding the same
    item as row ``i``'s positive -- is masked to ``-inf`` so that a positive is never used as its own negative.
    ``C > B`` when the candidates are gathered from every process (:mod:`recbole_meta.distributed.in_batch`).

    Args:
        query (torch.Tensor): ``(B, d)`` query (user) tower outputs.
        candidates (torch.Tensor): ``(C, d)`` item tower outputs of the batch's positives.
        candidate_ids (torch.Tensor): ``(C,)`` item ids of the positives.
        temperature (float): softmax temperature ``tau``.
        log_q (torch.Tensor): ``(C,)`` log sampling probabilities of the candidates, or ``None``.
        positive_index (torch.Tensor): ``(B,)`` column of each row's positive; ``None``: ``arange(B)``.
    """
    logits = query @ candidates.t() / temperature
    if log_q is not None:
        logits = logits - log_q.unsqueeze(0)
    rows = torch.arange(len(query), device=logits.device)
    positive_index = rows if positive_index is None else positive_index
    same_item = candidate_ids[positive_index].unsqueeze(1) == candidate_ids.unsqueeze(0)
    own = torch.zeros_like(same_item)
    own[rows, positive_index] = True
    return logits.masked_fill(same_item & ~own, float("-inf"))


class StreamingFrequencyEstimator(nn.Module):
    """Algorithm 2 of Yi et al. (2019) over ``num_hashes`` hash functions into ``hash_size`` slots.

    Args:
        hash_size (int): slots per hash function.
        num_hashes (int): independent hash functions (the estimate keeps the largest ``B``).
        alpha (float): learning rate of the moving average of the gap between two sightings.
        seed (int): seeds the hash functions (``h_k(y) = ((a_k y + b_k) mod p) mod hash_size``).
    """

    def __init__(self, hash_size=1 << 16, num_hashes=2, alpha=0.01, seed=0):
        super().__init__()
        if hash_size < 1 or num_hashes < 1:
            raise ValueError("logq_hash_size and logq_num_hashes must be positive")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"logq_stream_alpha must be in (0, 1] (got {alpha})")
        self.hash_size, self.num_hashes, self.alpha = int(hash_size), int(num_hashes), float(alpha)
        generator = torch.Generator().manual_seed(int(seed))
        self.register_buffer("hash_a", torch.randint(1, _MERSENNE_PRIME, (num_hashes,), generator=generator))
        self.register_buffer("hash_b", torch.randint(0, _MERSENNE_PRIME, (num_hashes,), generator=generator))
        self.register_buffer("last_step", torch.zeros(num_hashes, hash_size, dtype=torch.float64))
        self.register_buffer("gap", torch.zeros(num_hashes, hash_size, dtype=torch.float64))
        self.register_buffer("step", torch.zeros((), dtype=torch.float64))

    def slots(self, item_ids):
        """``(num_hashes, N)`` hash slots of ``N`` item ids."""
        ids = item_ids.reshape(1, -1).long()
        return (self.hash_a.unsqueeze(1) * ids + self.hash_b.unsqueeze(1)) % _MERSENNE_PRIME % self.hash_size

    @torch.no_grad()
    def update(self, item_ids):
        """One step: record every occurrence of the items in ``item_ids`` (a batch, duplicates allowed)."""
        self.step += 1
        decay = 1.0 - self.alpha
        for k, slots in enumerate(self.slots(item_ids)):
            slots, occurrences = torch.unique(slots, return_counts=True)
            occurrences = occurrences.to(self.gap.dtype)
            gap = self.step - self.last_step[k, slots]
            first = self.last_step[k, slots] == 0
            updated = decay**occurrences * self.gap[k, slots] + self.alpha * decay ** (occurrences - 1) * gap
            initialised = decay ** (occurrences - 1) * gap  # first sighting sets B = t, then m - 1 zero gaps
            self.gap[k, slots] = torch.where(first, initialised, updated)
            self.last_step[k, slots] = self.step

    def frequency(self, item_ids):
        """Estimated occurrences per batch of each item, ``1 / max_k B_k`` (proportional to ``p_j``)."""
        slots = self.slots(item_ids)
        gaps = torch.gather(self.gap, 1, slots).amax(dim=0)
        return 1.0 / gaps.clamp(min=1e-12)

    def log_probability(self, item_ids):
        """``log`` of :meth:`frequency`: ``log p_j`` up to an additive constant (which the softmax ignores)."""
        return torch.log(self.frequency(item_ids)).to(torch.get_default_dtype())
