"""Where and how the synthetic generators write their datasets: RecBole atomic files in ``data_path/name/``.

Every generator of this package (:mod:`.planted_preferences`, :mod:`.planted_ratings`, :mod:`.retrieval_corpus`,
:mod:`.transfer_domains`) returns a subclass of :class:`GeneratedFiles` and writes each file with :func:`write_atomic_file`, so the same seed and
arguments give the same bytes whichever generator wrote them. Each generator keeps its knobs, with their defaults
and meaning, in one table ``OPTIONS``; :func:`generator_options` reads a call's options against it.
"""

import difflib
import os
import types
from dataclasses import dataclass


@dataclass
class GeneratedFiles:
    """Where a generated dataset lies.

    Attributes:
        name (str): dataset name (RecBole's ``dataset``); its files are ``<folder>/<name>.<suffix>``.
        data_path (str): absolute parent folder (RecBole's ``data_path``).
    """

    name: str
    data_path: str

    @property
    def folder(self):
        return os.path.join(self.data_path, self.name)


def dataset_folder(out_dir, name):
    """Create ``out_dir/name`` (the folder RecBole reads dataset ``name`` from, with ``data_path: out_dir``)."""
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    return folder


def write_atomic_file(path, header, columns):
    """Write one RecBole atomic file: a tab-separated ``name:type`` header, then one row per element.

    Args:
        path (str): the file, e.g. ``<folder>/<name>.inter``.
        header (list of str): ``name:type`` of each column (RecBole's ``token``, ``float``, ``token_seq``...).
        columns (list): one array or list per header entry, all of the same length (``token_seq`` values are
            space-separated strings).
    """
    import pandas as pd

    if len(header) != len(columns):
        raise ValueError(f"{path}: {len(header)} header fields for {len(columns)} columns")
    frame = pd.DataFrame({str(i): column for i, column in enumerate(columns)})
    # Written beside the file, then moved over it in one step: a process reading the same dataset meanwhile
    # (another benchmark process generating the same seed) sees the old file or the new one, never a part.
    partial = f"{path}.{os.getpid()}.partial"
    with open(partial, "w", encoding="utf-8", newline="\n") as file:
        file.write("\t".join(header) + "\n")
        frame.to_csv(file, sep="\t", header=False, index=False, lineterminator="\n")
    os.replace(partial, path)


def generator_options(generator, table, options):
    """The knobs of one call of a generator: its ``OPTIONS`` table updated by ``options``.

    Args:
        generator (str): the generator's name, for the error message.
        table (dict): option -> default.
        options (dict): the call's keyword options.

    Returns:
        types.SimpleNamespace: every option of ``table``, as attributes.

    Raises:
        TypeError: an option the table does not have (with the closest known name).
    """
    for option in options:
        if option not in table:
            close = difflib.get_close_matches(option, table, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(table)}"
            raise TypeError(f"{generator}() got an unknown option {option!r}{hint}")
    return types.SimpleNamespace(**{**table, **options})
