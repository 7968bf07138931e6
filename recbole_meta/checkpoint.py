"""A checkpoint format that loads with ``torch.load(weights_only=True)``.

RecBole 1.2.1 pickles its whole ``Config`` (enums, ``torch.device``, arbitrary objects) into every checkpoint,
so torch >= 2.6 refuses to load it without ``weights_only=False``, which would execute whatever the file
contains. recbole_meta writes only tensors, containers and plain scalars: the config is converted to plain data
first. Loading always uses ``weights_only=True``, so a file that does not follow the format is refused, never
unpickled.
"""

import enum
import os
import pickle
import uuid
import zipfile

import numpy as np
import scipy.sparse as sp
import torch
from recbole.utils import get_local_time

FORMAT_VERSION = 1
FORMAT_KEY = "recbole_meta_checkpoint"
_NDARRAY_TAG = "__ndarray__"
_SPARSE_TAG = "__scipy_sparse__"


def to_plain(value, path="value"):
    """Convert ``value`` to data that ``torch.load(weights_only=True)`` accepts.

    Enums become their names, devices their string, numpy scalars Python numbers. numpy arrays and scipy
    sparse matrices (some RecBole models keep them as ``other_parameter``) are stored as tagged tensors that
    :func:`from_plain` turns back into the same type. Anything else raises ``TypeError`` naming ``path``,
    rather than being pickled or silently dropped.
    """
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {_NDARRAY_TAG: torch.from_numpy(np.ascontiguousarray(value))}
    if sp.issparse(value):
        coo = value.tocoo()
        return {
            _SPARSE_TAG: value.format,
            "row": torch.from_numpy(coo.row.astype(np.int64)),
            "col": torch.from_numpy(coo.col.astype(np.int64)),
            "data": torch.from_numpy(coo.data),
            "shape": list(coo.shape),
        }
    if isinstance(value, dict):
        return {str(k): to_plain(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(to_plain(v, path) for v in value)
    raise TypeError(
        f"cannot store {path} of type {type(value).__name__} in a weights-only checkpoint; "
        "expected tensors, numbers, strings, lists or dicts"
    )


def from_plain(value):
    """Undo the tagging of :func:`to_plain` for numpy arrays and scipy sparse matrices."""
    if isinstance(value, dict):
        if _NDARRAY_TAG in value:
            return value[_NDARRAY_TAG].numpy()
        if _SPARSE_TAG in value:
            matrix = sp.coo_matrix(
                (value["data"].numpy(), (value["row"].numpy(), value["col"].numpy())),
                shape=tuple(value["shape"]),
            )
            return matrix.asformat(value[_SPARSE_TAG])
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value


def config_to_plain(config):
    """The final config dict of a RecBole ``Config`` as plain data."""
    return to_plain(dict(config.final_config_dict), "config")


def unique_checkpoint_path(checkpoint_dir, model_name):
    """A file name that cannot collide, even for runs started within the same second or process."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    stamp = get_local_time()
    name = f"{model_name}-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.pth"
    return os.path.join(checkpoint_dir, name)


def save_checkpoint(path, **content):
    """Write ``content`` (converted by :func:`to_plain`) in the weights-only format."""
    state = {FORMAT_KEY: FORMAT_VERSION}
    state.update({key: to_plain(val, key) for key, val in content.items()})
    torch.save(state, path)
    return path


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a recbole_meta checkpoint (for example RecBole's own pickled format).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(
            f"checkpoint {path} is empty (0 bytes): the run that wrote it was cut off; train again"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"checkpoint {path} is damaged or not a torch checkpoint ({size} bytes, no complete torch archive): "
            "it was cut off or overwritten; train again"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # a complete archive holding objects other than weights
        raise ValueError(
            f"{path} is not a recbole_meta checkpoint (it does not load with weights_only=True; "
            f"RecBole's own pickled checkpoints are refused on purpose): {type(err).__name__}"
        ) from None
    except Exception as err:  # torch raises RuntimeError for an archive whose records are damaged
        raise ValueError(
            f"checkpoint {path} is damaged ({type(err).__name__}: {str(err).splitlines()[0][:120]}); train again"
        ) from None
    if not isinstance(state, dict) or state.get(FORMAT_KEY) != FORMAT_VERSION:
        raise ValueError(f"{path} is not a recbole_meta checkpoint (format key missing)")
    return state
