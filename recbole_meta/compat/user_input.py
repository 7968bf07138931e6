"""RecBole's handling of what a user gives it: data files, diverging runs, log names.

Applied on ``import recbole_meta`` (from :func:`recbole_meta.compat.environment.apply`), each once:

* ``Dataset._load_feat`` checks each atomic file before RecBole reads it and reports repeated user/item ids;
* ``Trainer._check_nan`` names the step-size options to lower;
* the log file's (and so the tensorboard folder's) time stamp is unique per run;
* creating a folder that another process creates at the same moment is not an error.
"""

import os

import torch


def _check_atomic_files_when_read():
    # RecBole's Dataset._load_feat reads an atomic file's header with `field.split(":")` and its rows with pandas:
    # an empty file, a header without name:type or non-UTF-8 bytes fail with messages that name neither the
    # file nor the line, and _load_user_or_item_feat then drops rows that repeat an id without a word. The
    # file is checked first (recbole_meta.data.atomic_files), and repeated ids are reported.
    from recbole.data.dataset import Dataset
    from recbole.utils import FeatureSource

    if getattr(Dataset._load_feat, "_recbole_meta_checked", False):
        return
    original = Dataset._load_feat

    def _load_feat(self, filepath, source):
        from recbole_meta.data.atomic_files import check_atomic_file, report_duplicate_ids

        check_atomic_file(
            filepath,
            separator=self.config["field_separator"],
            encoding=self.config["encoding"],
            needs_rows=source == FeatureSource.INTERACTION,
            logger=self.logger,
        )
        frame = original(self, filepath, source)
        id_field = {FeatureSource.USER: self.uid_field, FeatureSource.ITEM: self.iid_field}.get(source)
        if id_field is not None:
            report_duplicate_ids(filepath, frame, id_field, self.logger)
        return frame

    _load_feat._recbole_meta_checked = True
    Dataset._load_feat = _load_feat


def _explain_nan_loss():
    # RecBole's Trainer._check_nan raises "Training loss is nan" with no hint of what to change.
    from recbole.trainer import Trainer

    from recbole_meta.input_checks import divergence_hint

    def _check_nan(self, loss):
        if torch.isnan(loss):
            raise ValueError(
                f"training loss is nan: training diverged; lower the step sizes ({divergence_hint(self.config)})"
            )

    Trainer._check_nan = _check_nan


def _unique_log_names():
    # RecBole names the log file (and the tensorboard folder, named after it) by model, dataset, the second it
    # started and a hash of the config: two runs of one config started in the same second share both. The
    # time stamp of the log name gets the process id and a random suffix.
    import uuid

    import recbole.utils.logger as recbole_logger
    from recbole.utils.utils import get_local_time

    def unique_local_time():
        return f"{get_local_time()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    recbole_logger.get_local_time = unique_local_time


def _race_free_ensure_dir():
    # RecBole's ``ensure_dir`` checks that a folder is missing, then creates it: processes started together
    # (torchrun's ranks, both creating ``log/<model>`` and ``checkpoint_dir``) race between the two and the
    # loser dies with "File exists". Every module that imported it gets one that tolerates an existing folder.
    import importlib

    def ensure_dir(dir_path):
        os.makedirs(dir_path, exist_ok=True)

    for name in (
        "recbole.utils.utils",
        "recbole.utils",
        "recbole.utils.logger",
        "recbole.data.utils",
        "recbole.data.dataset.dataset",
        "recbole.trainer.trainer",
    ):
        importlib.import_module(name).ensure_dir = ensure_dir


def apply():
    """Apply every patch of this module (idempotent)."""
    _check_atomic_files_when_read()
    _explain_nan_loss()
    _unique_log_names()
    _race_free_ensure_dir()
