"""Full-catalogue ranking in chunks: chunked scores equal unchunked ones (to the last bits: a BLAS product rounds a
row differently depending on how many rows it is given, so the check is in float64 at 1e-12, and the rankings and
metrics are compared exactly), the chunk size bounds the largest score block the model builds, the running top-K
equals a sort of the whole matrix, and bad sizes are named."""

import pytest
import torch

from recbole_meta.evaluator.full_ranking import FullRanking
from recbole_meta.trainer.meta_trainer import MetaTrainer
from tests.cold_start_helpers import build
from tests.test_full_ranking import Oracle, _batch, _split

SMALL = {"embedding_size": 4, "hidden_size": 8}


def _melu(**overrides):
    return build(
        "MeLU",
        "tiny",
        full_ranking_topk=[5],
        full_ranking_threshold=4,
        local_update_steps=2,
        **SMALL,
        **overrides,
    )


@pytest.mark.parametrize("vectorize", [True, False])
def test_chunked_scores_equal_unchunked_and_the_chunk_bounds_the_block(vectorize):
    _, (_, _, test), model, trainer = _melu()
    trainer.maml.vectorize = vectorize
    model.eval().double()
    batch = next(iter(test["warm"]))
    for field in ("support_rating", "support_mask", "query_rating", "query_mask"):
        batch[field] = batch[field].double()
    items = torch.arange(1, model.split.n_items)
    query_all, whole = trainer.maml.predict_query_and_items(batch, items)
    widths = []
    hook = model.register_forward_pre_hook(lambda module, args: widths.append(args[4].shape[-1]))
    query, chunks = trainer.maml.predict_query_and_item_chunks(batch, items, chunk_size=7)
    widths.clear()  # the query call above; from here on only candidate chunks are scored
    blocks = list(chunks)
    hook.remove()
    assert len(blocks) == -(-len(items) // 7) > 1
    assert max(block.shape[1] for block in blocks) <= 7
    assert widths and max(widths) <= 7  # the model never sees more than a chunk of targets at once
    torch.testing.assert_close(torch.cat(blocks, dim=1), whole, rtol=0, atol=1e-12)
    assert torch.equal(query, query_all)
    assert whole.std() > 1e-3  # the candidates' scores differ: the comparison is not between constants
    # the same adapted parameters: a query item's candidate score is its query prediction
    mask = batch["query_mask"] > 0
    torch.testing.assert_close(whole.gather(1, (batch["query_item"] - 1).clamp(min=0))[mask], query[mask])


def _reference_rows(ranking, batch, scores):
    """Sort every candidate of each task (support removed), flag the positives of the top K: the plain definition."""
    k = max(ranking.topk)
    items = ranking.items.tolist()
    rows = []
    for b in range(scores.shape[0]):
        support = {int(i) for i, m in zip(batch["support_item"][b], batch["support_mask"][b]) if m > 0}
        liked = {
            int(i)
            for i, r, m in zip(batch["query_item"][b], batch["query_rating"][b], batch["query_mask"][b])
            if m > 0 and r >= ranking.threshold and int(i) in items and int(i) not in support
        }
        ranked = sorted(
            (i for i in items if i not in support), key=lambda i: -float(scores[b, items.index(i)])
        )
        ranked += [None] * k
        if liked:
            rows.append([int(i in liked) for i in ranked[:k]] + [len(liked)])
    return torch.tensor(rows, dtype=torch.long).reshape(-1, k + 1)


@pytest.mark.parametrize("chunk", [1, 2, 4, 6, 100])
def test_running_top_k_equals_a_sort_of_the_whole_matrix(chunk):
    generator = torch.Generator().manual_seed(chunk)
    batch = _batch(
        support=[[1], [5, 2], [3], [1, 2, 3, 4, 5]],
        support_rating=[[5], [4, 1], [2], [5, 5, 5, 5, 5]],
        query=[[2, 4, 6, 7], [5, 6, 1], [3, 9], [6, 4]],
        query_rating=[[5, 4, 2, 5], [5, 4, 4], [5, 5], [4, 5]],
    )
    ranking = FullRanking(_split(), "warm", [1, 3, 5], threshold=4)
    scores = torch.rand(4, len(ranking.items), generator=generator)
    ranking.collect_chunks(batch, scores.split(chunk, dim=1))
    assert torch.equal(ranking.topk_rows(), _reference_rows(ranking, batch, scores))
    whole = FullRanking(_split(), "warm", [1, 3, 5], threshold=4)
    whole.collect(batch, scores)
    assert whole.result() == ranking.result()


def test_chunks_that_do_not_cover_the_candidates_are_refused():
    ranking = FullRanking(_split(), "warm", [3], threshold=4)
    batch = _batch(support=[[1]], support_rating=[[5]], query=[[2]], query_rating=[[5]])
    with pytest.raises(ValueError, match="cover 4 of 6 candidates"):
        ranking.collect_chunks(batch, [torch.rand(1, 4)])


class RandomTable(Oracle):
    """Scores from a fixed random table (no ties, no products whose rounding depends on the chunk)."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.table = torch.rand(self.table.shape, generator=torch.Generator().manual_seed(3))


def test_evaluation_in_chunks_reports_the_same_metrics():
    dataset, (_, _, test), _, trainer = _melu()
    model = RandomTable(trainer.config, dataset)
    results = []
    for chunk in (None, 1, 3, 10_000):
        trainer.config["full_ranking_chunk_size"] = chunk
        results.append(MetaTrainer(trainer.config, model).evaluate(test, load_best_model=False))
    assert all(result == results[0] for result in results[1:])
    assert 0 < results[0]["warm"]["full_ndcg@5"] < 1  # a ranking with hits and misses, not a constant


def test_bad_chunk_size_is_named():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="full_ranking_chunk_size"):
            _melu(full_ranking_chunk_size=bad)
