"""The one check of split fractions: of users, items or interactions, for every split option of the plugin."""

import math

_NAMES = {2: "two", 3: "three"}


def fraction(value, option, upto_one=False):
    """``value`` as a float in (0, 1), or (0, 1] with ``upto_one``; ``ValueError`` naming ``option`` otherwise."""
    interval = "(0, 1]" if upto_one else "(0, 1)"
    number = not isinstance(value, bool) and isinstance(value, int | float)
    if not number or not (0.0 < float(value) < 1.0 or (upto_one and float(value) == 1.0)):
        raise ValueError(f"{option} must be a number in {interval}, got {value!r}")
    return float(value)


def fractions(value, option, of="users", parts=("train", "valid", "test")):
    """``value`` as a list of ``len(parts)`` fractions in (0, 1) that sum to 1 (within 1e-6).

    Args:
        value: the option's value, a list or tuple of numbers.
        option (str): the option's name, for the error message.
        of (str): what is split (``users``, ``items``), for the error message.
        parts (tuple of str): the names of the parts, in order.
    """
    count = _NAMES.get(len(parts), str(len(parts)))
    expected = (
        f"{option}: expected {count} positive fractions of the {of} [{', '.join(parts)}] summing to 1, "
        f"e.g. [0.8, 0.1, 0.1] (got {value!r})"
    )
    if not isinstance(value, list | tuple) or len(value) != len(parts):
        raise ValueError(expected)
    try:
        result = [fraction(v, option) for v in value]
    except ValueError:
        raise ValueError(expected) from None
    if not math.isclose(sum(result), 1.0, abs_tol=1e-6):
        raise ValueError(expected)
    return result
