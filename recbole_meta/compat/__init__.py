"""Every change recbole_meta makes to RecBole 1.2.1's behaviour, in one package, each with why.

The rest of the plugin extends RecBole only through its public extension points (subclasses of its models,
datasets, loaders and trainers) and calls this package wherever it must reach further. Index:

* :mod:`.environment` (applied on ``import recbole_meta``): numpy 2 aliases RecBole's ``Config`` and ``NDCG``
  read (``np.float_``, ...); scipy >= 1.12's removed ``dok_matrix._update``, which RecBole's graph models
  call; RecBole's ``sine.py`` turning on autograd anomaly detection for the whole process at import;
  RecBole's exhaustive (grid) ``HyperTuning`` handing hyperopt >= 0.2.7 a ``RandomState`` where it samples
  with ``Generator`` methods; RecBole's trainer building its ``GradScaler`` through torch's deprecated
  ``torch.cuda.amp`` (a FutureWarning every epoch); and the few warnings RecBole triggers on the pinned stack
  that change no result, silenced only where they arise.
* :mod:`.user_input` (applied with :mod:`.environment`): RecBole's ``Dataset._load_feat`` checks each atomic
  file first and reports repeated user/item ids (RecBole's own errors name neither file nor line, and it drops
  repeated ids silently); ``Trainer._check_nan`` names the step sizes to lower; log file names are unique per
  run (RecBole's are per second); ``ensure_dir`` tolerates a folder another process (a torchrun rank) creates
  between its check and its ``makedirs``.
* :mod:`.evaluator`: plugin metrics are written into RecBole's four evaluator registries, which have no
  registration call (:func:`.evaluator.add_metric`); RecBole's ``Collector`` gathers a fixed set of
  resources, so a metric that needs another one (the tail metrics' tail hits) gets it through
  :func:`.evaluator.add_collector_resource`, which wraps three ``Collector`` methods once.
* :mod:`.data`: RecBole's ``create_dataset`` and ``data_preparation`` silently reload pickles from
  ``saved/``; the plugin builds both from the atomic files unless the user asked for a saved file
  (:func:`.data.build_dataset`, :func:`.data.split_dataset`). Loaders that RecBole's trainer must treat as
  full-sort evaluation subclass :class:`.data.FullSortLoader`, which skips the parent's ``__init__`` (it
  builds a user history from a RecBole ``Dataset`` those loaders do not have). A data preparation that fixes
  the metrics of its task sets them with :func:`.data.set_metrics`, which re-derives what RecBole's
  ``Config`` derives from them (``eval_type``).
* :mod:`.config`: RecBole's ``Config`` reads the command line from ``sys.argv``;
  :func:`.config.command_line` lends it the plugin's ``argv`` for that one read.
* :mod:`.tuning`: RecBole's ``HyperTuning.run`` calls hyperopt's ``fmin`` without a random state;
  :func:`.tuning.seeded_search` seeds it through ``HYPEROPT_FMIN_SEED`` for one search.
* :mod:`.distributed` (applied on ``import recbole_meta``): RecBole's multi-process mode hard-codes NCCL and
  CUDA (``Config._init_device``) and a GPU-only DDP wrapper, so it cannot run on CPU machines; its evaluation
  averages per-rank metrics over padded shards. Replaced by gloo / nccl chosen from the device, torchrun's
  rendezvous, and metrics computed once from every rank's rows (:mod:`recbole_meta.distributed` does the rest).

Breakages that need no patch, only discipline:

* ``import recbole.quick_start`` imports ray 2.6.3, which needs ``pkg_resources`` and numpy 1.x. recbole_meta
  never imports ``recbole.quick_start``; :mod:`recbole_meta.quick_start` re-implements its two entry points.
* pandas >= 3 breaks loading ``token_seq`` fields (ml-100k's ``class``): ``setup.cfg`` pins ``pandas<3``.
* ``Trainer.evaluate(load_best_model=True)`` and ``Trainer.resume_checkpoint`` call ``torch.load`` without
  ``weights_only`` on a pickled ``Config``; torch >= 2.6 refuses them. The plugin's trainers save and load a
  weights-only format (:class:`recbole_meta.trainer.safe_checkpoint.SafeCheckpointMixin`); nothing patches
  ``torch.load``.
"""

from recbole_meta.compat import distributed as _distributed
from recbole_meta.compat import environment as _environment
from recbole_meta.compat.environment import is_applied


def apply():
    """Apply every process-wide patch (idempotent); called once on ``import recbole_meta``."""
    _environment.apply()
    _distributed.apply()


__all__ = ["apply", "is_applied"]
