"""Saved datasets and dataloaders (RecBole's pickles): loaded only when this plugin wrote them, on this account.

RecBole saves a built dataset (``save_dataset``) and split dataloaders (``save_dataloaders``) with ``pickle`` and
loads them back from ``dataset_save_path`` / ``dataloaders_save_path``. Unpickling runs whatever code the file
holds, so a file from elsewhere must never be loaded. When the plugin writes such a file it also writes
``<file>.sig``, an HMAC-SHA256 of its bytes under a random key kept in the user's home
(``~/.config/recbole_meta/pickle.key``, created on first use, readable by the user only);
:func:`check_signed` refuses a file whose signature is missing or wrong. A file copied from another machine or
account, or edited after saving, is therefore refused: build it again from the atomic files.
"""

import hashlib
import hmac
import os
import secrets

from recbole_meta.input_checks import ConfigError

SIGNATURE_SUFFIX = ".sig"


def _key_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "recbole_meta", "pickle.key")


def _key():
    path = _key_path()
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
    with open(path) as file:
        return bytes.fromhex(file.read().strip())


def _digest(path):
    mac = hmac.new(_key(), digestmod=hashlib.sha256)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def sign(path):
    """Write ``path + '.sig'``: the file was written by this plugin on this account."""
    with open(path + SIGNATURE_SUFFIX, "w") as file:
        file.write(_digest(path) + "\n")


def check_signed(path, option):
    """Raise :class:`ConfigError` naming ``option`` unless ``path`` exists and carries this account's signature."""
    if not os.path.isfile(path):
        raise ConfigError(f"{option} {path}: no such file (it is written by save_dataset / save_dataloaders)")
    signature = path + SIGNATURE_SUFFIX
    expected = None
    if os.path.isfile(signature):
        with open(signature) as file:
            expected = file.read().strip()
    if expected is None or not hmac.compare_digest(expected, _digest(path)):
        raise ConfigError(
            f"{option} {path}: refused, it was not saved by recbole_meta on this account (a pickle can run "
            "any code when loaded); remove the option to build from the atomic files"
        )


def dataset_file(config, dataset_class):
    """Where RecBole's ``Dataset.save`` writes (``checkpoint_dir/<dataset>-<class>.pth``)."""
    return os.path.join(config["checkpoint_dir"], f"{config['dataset']}-{dataset_class.__name__}.pth")


def dataloaders_file(config):
    """Where RecBole's ``save_split_dataloaders`` writes."""
    return os.path.join(config["checkpoint_dir"], f"{config['dataset']}-for-{config['model']}-dataloader.pth")
