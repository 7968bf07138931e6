"""Seeded synthetic datasets with a known truth, for the benchmark suites and the tests.

Each generator writes RecBole atomic files (same seed and options -> the same bytes) and returns where they lie
with the truth it planted:

* :mod:`.planted_preferences` -- users with gender / age / occupation pick and rate items with a category, tags
  and a release year by a planted factor model; any size (the ``scale`` suite, ``peterrec_synthetic``, the
  synthetic onboarding dataset, quick runs). Also the drawing helpers the other generators share.
* :mod:`.planted_ratings` -- continuous ratings whose true mean is known term by term (biases, feature
  interaction, latent taste, noise), for the cold-start suites' noise floor and attainable ceiling.
* :mod:`.planted_truth_models` -- the models that read that truth: the Oracle and the exact Posterior rows.
* :mod:`.retrieval_corpus` -- a long-tail retrieval corpus whose affinity is carried by item features
  (``two_tower_synthetic``).
* :mod:`.transfer_domains` -- a source domain of plentiful unlabelled behaviour and a target domain with few
  labelled users, both driven by the same latent traits (``peterrec_synthetic_transfer``).
* :mod:`.atomic_files` -- what every generator shares: the dataset folder, the atomic-file writer, the options
  table check.
* ``quick_data/`` -- ``tiny``, the committed dataset of ``--quick`` runs and of the tests (``make_tiny.py``
  regenerates it).
"""
