"""``peterrec_profile``: PeterRec against its fine-tuning alternatives on ml-100k user profile prediction.

Protocol (Yuan et al., SIGIR 2020, on RecBole's embedded ml-100k; see ``properties/model/PeterRec.yaml``):

* one NextItNet backbone (d 64, 4 residual blocks = 8 dilated convolutions, last 50 items) is pre-trained with
  the causal objective on every user's sequence: all items for the profile suite, the source domain (movies
  released before 1996) for the transfer suite. Pre-training uses no label and no target-domain interaction,
  so one backbone serves every seed and task (the paper's premise: one pre-trained user model, many tasks);
  the seeds vary the user splits, the sampled negatives and the fine-tuning initialisation;
* fine-tuning (every mode the same optimiser, learning rate, epochs, early stopping on validation): PeterRec
  with serial and parallel patches, FineAll, FineCLS, FineLast1, FineLast2, PeterZero (PeterRec's architecture
  without pre-training) and NextItNet trained on the target task alone (``scratch``);
* simple baselines on the same splits: class-balanced bag-of-items logistic regression (on the same last 50
  items, and on the whole history), majority class; for transfer, popularity and bag-of-items logistic
  regression over the target items;
* profile tasks: gender, age bucket, occupation (accuracy, macro-F1; users split 60/20/20 by class);
  transfer: users with >= 1 rating of a 1996+ movie, 70/10/20 user split, first 3 target ratings per user,
  MRR@5 / HR@5 against 99 sampled unseen target movies (uni99) and against all target movies (full);
* ``StepTime``: one fine-tuning step (forward, backward, Adam) of PeterRec (serial) and of FineAll on the same
  batches, timed interleaved in one process (the harness's ``compare_timing``), median ratio.

Run with ``--threads 1`` (the regenerate command does): on the shared 2-core machine, two torch threads under
load were measured 10x slower than one.
"""

from recbole_meta.benchmark.peterrec.runs import MODES, PROFILE_TASKS, mode_run, profile_baseline, step_time
from recbole_meta.benchmark.peterrec.suite_builder import ml100k_suite
from recbole_meta.benchmark.suite import register_suite


@register_suite("peterrec_profile")
def peterrec_profile(options):
    runs = [mode_run(name, mode, insertion, PROFILE_TASKS) for name, mode, insertion in MODES]
    # The paper reads the last position; a mean over the sequence is closer to what the bag-of-items model sees.
    runs += [
        mode_run("PeterRec-serial-mean-readout", "peterrec", "serial", PROFILE_TASKS, readout="mean"),
        mode_run("FineAll-mean-readout", "fine_all", "serial", PROFILE_TASKS, readout="mean"),
    ]
    runs += [
        profile_baseline("BagOfItems-LR", "lr"),
        profile_baseline("BagOfItems-LR-full-history", "lr_full"),
        profile_baseline("Majority", "majority"),
        step_time("gender"),
    ]
    description = (
        "User profile prediction on ml-100k (RecBole's embedded copy: 943 users, 1,682 movies): gender (29% F), "
        "age bucket (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+), occupation (21 classes) from the user's last "
        "50 movies in time order. Users split 60/20/20 stratified by class per seed; class-weighted "
        "cross-entropy. A causal NextItNet (d 64, 4 blocks, 8 dilated convolutions) pre-trained once on all "
        "users' sequences (no labels; at most 20 epochs, early stopping on next-item MRR@5) serves every seed "
        "and task. Fine-tuning: Adam, lr 0.001, batch 128, at most 20 epochs, early stopping on validation "
        "macro-F1 (patience 4)."
    )
    return ml100k_suite("peterrec_profile", description, runs, "all", options, primary_metric="macrof1")
