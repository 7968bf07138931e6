"""Checks on RecBole's atomic files (``.inter``, ``.user``, ``.item``, ``.kg``, ``.link``...) as they are read.

RecBole reads each file with pandas after splitting its header on ``field_separator`` and ``:``; a file that is
empty, a header without ``name:type``, bytes that are not in ``encoding`` or a row with a missing column fail
with messages that name neither the file nor the line ("not enough values to unpack"). :func:`check_atomic_file`
runs first and raises :class:`DataFileError` naming the file, the line and what was expected;
:func:`report_duplicate_ids` reports ``.user`` / ``.item`` rows that repeat an id, which RecBole drops silently
(it keeps the first). Both are called from RecBole's ``Dataset._load_feat`` (see :mod:`recbole_meta.compat`),
so every model and every dataset class gets them.
"""

from logging import getLogger

from recbole.utils import FeatureType

_TYPES = ", ".join(t.value for t in FeatureType)


class DataFileError(ValueError):
    """An atomic file is malformed; the message names the file, the line and what was expected."""


def _decode(path, data, encoding):
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataFileError(
            f"{path}, line {line}: bytes that are not {encoding} text ({data[err.start:err.start + 4]!r}); "
            "save the file as UTF-8 or set `encoding` to its encoding"
        ) from None
    except LookupError:
        raise DataFileError(f"{path}: unknown encoding {encoding!r} (option encoding)") from None


def check_atomic_file(path, separator="\t", encoding="utf-8", needs_rows=False, logger=None):
    """Raise :class:`DataFileError` unless ``path`` is an atomic file RecBole can read.

    Checked: the bytes decode with ``encoding``; the first line is a header of ``name:type`` columns separated
    by ``separator`` with a type RecBole knows; no name repeats; with ``needs_rows``, at least one row. Rows with
    more columns than the header (RecBole reads the first ones) are reported in one warning line.
    """
    with open(path, "rb") as file:
        data = file.read()
    text = _decode(path, data, encoding or "utf-8")
    lines = text.split("\n")
    header = lines[0].rstrip("\r")
    if not header.strip():
        raise DataFileError(
            f"{path}, line 1: empty; expected a header of name:type columns separated by {separator!r}"
        )
    names = []
    for column in header.split(separator):
        name, colon, kind = column.partition(":")
        if not colon or not name or kind not in {t.value for t in FeatureType}:
            raise DataFileError(
                f"{path}, line 1: header column {column!r} is not name:type with type one of {_TYPES} "
                f"(columns separated by {separator!r})"
            )
        if name in names:
            raise DataFileError(f"{path}, line 1: column {name!r} appears twice in the header")
        names.append(name)
    rows, wide, first_wide = 0, 0, None
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        rows += 1
        if line.count(separator) >= len(names):
            wide += 1
            first_wide = first_wide or number
    if wide:
        (logger or getLogger()).warning(
            f"{path}, line {first_wide}: more columns than the header's {len(names)} "
            f"({wide} row(s) like it); their extra values are not read"
        )
    if needs_rows and rows == 0:
        raise DataFileError(f"{path}: no rows after the header; expected at least one interaction")


def report_duplicate_ids(path, frame, id_field, logger=None):
    """Warn (one line) when ``frame`` repeats ids of ``id_field``; RecBole then keeps each id's first row."""
    if frame is None or id_field not in frame.columns:
        return 0
    duplicated = frame[id_field].duplicated(keep="first")
    count = int(duplicated.sum())
    if count:
        examples = ", ".join(str(v) for v in frame[id_field][duplicated].unique()[:5])
        (logger or getLogger()).warning(
            f"{path}: {count} row(s) repeat an {id_field} already given (e.g. {examples}); "
            "only the first row of each is used"
        )
    return count
