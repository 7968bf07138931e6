"""SSLTwoTower's full-sort evaluation in bounded memory: the item tower runs over the catalogue in chunks, RecBole's
full-sort loader scores ``eval_batch_size // n_items`` users at a time. Chunked equals unchunked (float64 to 1e-12:
a BLAS product may round a row differently with another row count; metrics compared exactly), and the chunk and
batch sizes bound the largest tower input and score matrix built."""

import torch

from tests.test_two_tower_model import _build


def test_item_tower_in_chunks_equals_one_pass_and_the_chunk_bounds_its_input():
    _, _, model, _ = _build()
    model.eval().double()
    seen = []
    tower = model.item_embedding
    model.item_embedding = lambda ids, *args: seen.append(len(ids)) or tower(ids, *args)
    outputs = {}
    for chunk in (7, 100_000):
        model._item_cache = None
        seen.clear()
        outputs[chunk] = model.all_item_embeddings(chunk_size=chunk).clone()
        assert max(seen) == min(chunk, model.n_items)
    torch.testing.assert_close(outputs[7], outputs[100_000], rtol=0, atol=1e-12)
    assert outputs[7].std(dim=0).min() > 1e-4  # the items' vectors differ: not a comparison of constants


def _recording(full_sort_predict, sizes):
    def wrapped(interaction):
        scores = full_sort_predict(interaction)
        sizes.append(scores.numel())
        return scores

    return wrapped


def test_full_sort_in_user_batches_gives_the_same_metrics_and_bounded_score_matrices():
    results, largest = [], []
    n_items = _build()[0].item_num
    for users_per_batch in (1, 7, 1_000):
        _, (train, _, test), model, trainer = _build(eval_batch_size=users_per_batch * n_items)
        trainer.eval_collector.data_collect(train)  # the training counts the tail metrics need
        sizes = []
        model.full_sort_predict = _recording(model.full_sort_predict, sizes)
        results.append(trainer.evaluate(test, load_best_model=False))
        largest.append(max(sizes))
        assert max(sizes) <= users_per_batch * n_items  # never more than a batch of users x the catalogue
    assert results[0] == results[1] == results[2]
    assert largest[0] < largest[1] < largest[2]
    assert 0 < results[0]["recall@10"] < 1
