"""``peterrec_transfer``: PeterRec against its fine-tuning alternatives on ml-100k cold-start transfer (the
protocol is described in :mod:`recbole_meta.benchmark.suites.peterrec_profile`)."""

from recbole_meta.benchmark.peterrec.runs import MODES, mode_run, step_time, transfer_baseline
from recbole_meta.benchmark.peterrec.suite_builder import ml100k_suite
from recbole_meta.benchmark.suite import register_suite


@register_suite("peterrec_transfer")
def peterrec_transfer(options):
    runs = [mode_run(name, mode, insertion, ("transfer",)) for name, mode, insertion in MODES]
    runs += [
        transfer_baseline("BagOfItems-LR", "lr"),
        transfer_baseline("Popularity", "popularity"),
        step_time("transfer"),
    ]
    description = (
        "Cold-start transfer recommendation on ml-100k: movies released in 1996 or later are the target domain "
        "(586 movies, 35% of ratings), older ones the source domain. A causal NextItNet pre-trained once on the "
        "source-domain sequences of all users (at most 20 epochs). Users with a target rating split 70/10/20 per seed; "
        "each keeps their first 3 target ratings (a row each); test users have none in training. A user's input "
        "is their last 50 source movies; 122 users rated no source movie (input [MASK], reported separately). "
        "MRR@5 / HR@5 against 99 sampled unseen target movies (uni99) and all target movies (full). "
        "Fine-tuning: Adam, lr 0.001, batch 128, softmax over the target movies, at most 20 epochs, early "
        "stopping on validation MRR@5 (patience 4)."
    )
    return ml100k_suite("peterrec_transfer", description, runs, "source", options, primary_metric="mrr@5")
