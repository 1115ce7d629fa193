"""Boundary checks: every public function validates its arguments here, once.

Each check returns the cleaned value (a Python ``int``/``float``, an int64 array, ...)
or raises with a message that names the argument, shows the offending value and,
where it helps, says what to do. Numpy scalars are accepted wherever Python numbers
are; booleans are never numbers here (``epochs=True`` is an error, not 1).

Checks run where data enters a public function, not inside ``forward`` or per batch.
"""
import math
import numbers

import numpy as np
import pandas as pd
import torch

_BOOLS = (bool, np.bool_)  # numbers.Integral includes bool: refuse it explicitly


def positive_int(value, name, minimum=1):
    """``value`` as an ``int`` >= ``minimum`` (Python or numpy integers, not bools)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, _BOOLS) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def non_negative_int(value, name):
    """``value`` as an ``int`` >= 0."""
    return positive_int(value, name, minimum=0)


def finite_number(value, name, minimum=None):
    """``value`` as a finite ``float`` (optionally >= ``minimum``)."""
    if not isinstance(value, numbers.Real) or isinstance(value, _BOOLS) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return float(value)


def fraction(value, name, closed="neither"):
    """``value`` as a ``float`` in ``(0, 1)``; ``closed`` also allows 0 (``"left"``) or
    both 0 and 1 (``"both"``)."""
    value = finite_number(value, name)
    left, right = closed in ("left", "both"), closed == "both"
    if not ((value > 0 or left and value == 0) and (value < 1 or right and value == 1)):
        interval = f"{'[' if left else '('}0, 1{']' if right else ')'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def one_of(value, choices, name):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def callable_arg(value, name, hint=""):
    """``value`` if it is callable; ``hint`` says what to pass instead."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}"
                        + (f"; {hint}" if hint else ""))
    return value


def index_array(values, name, size=None):
    """``values`` as a 1-D int64 numpy array of indices in ``[0, size)``.

    Floats are rejected (not truncated), even when they hold whole numbers: an index
    that went through a float column has usually lost something on the way.
    """
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of indices, got shape {arr.shape}")
    if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold integer indices, got dtype {arr.dtype}; "
                        "encode ids with IdEncoder first")
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        bad = (arr < 0) if size is None else (arr < 0) | (arr >= size)
        if bad.any():
            limit = "non-negative" if size is None else f"in [0, {size})"
            raise IndexError(f"{name} must be {limit}; found {arr[bad][0]} "
                             f"at position {int(np.flatnonzero(bad)[0])}")
    return arr


def interactions(train, n_users, n_items, what="train", need_targets=True):
    """``(users, items, targets)`` of a training set, checked once where it enters.

    ``train`` is a ``(users, items, targets)`` tuple (``(users, items)`` is enough when
    ``need_targets`` is False; targets are then ``None``). An index beyond the
    estimator's size is reported as what it usually is, an estimator built for other
    data, not as bad data.
    """
    if not isinstance(train, (tuple, list)) or len(train) not in ((3,) if need_targets
                                                                  else (2, 3)):
        shape = "(users, items, targets)" if need_targets else "(users, items[, targets])"
        raise ValueError(f"{what} must be a {shape} tuple of arrays, got "
                         f"{type(train).__name__}" + (f" of length {len(train)}"
                                                      if isinstance(train, (tuple, list)) else ""))
    users, items = index_array(train[0], f"{what} users"), index_array(train[1], f"{what} items")
    for name, idx, size in (("user", users, n_users), ("item", items, n_items)):
        if idx.size and idx.max() >= size:
            raise IndexError(f"{what} has {name} index {int(idx.max())}, but the model was built "
                             f"for n_{name}s={size}: build it with n_{name}s={int(idx.max()) + 1} "
                             f"or more (the encoder's n_{name}s), or encode {what} with the same "
                             "IdEncoder as the model")
    targets = None
    if need_targets or len(train) == 3:
        targets = finite_array(train[2], f"{what} targets", np.float32)
        same_length(users=users, items=items, targets=targets)
    else:
        same_length(users=users, items=items)
    non_empty(users, what, "there is nothing to train on")
    return users, items, targets


def positive_ints(values, name):
    """``values``, a sequence (not a string), as a list of ``int`` >= 1."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}")
    return [positive_int(v, f"{name}[{k}]") for k, v in enumerate(values)]


def bounds(value, name):
    """``value`` as a ``(low, high)`` pair of finite floats with ``low < high``."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and finite_number(value[0], f"{name}[0]") < finite_number(value[1], f"{name}[1]")):
        raise ValueError(f"{name} must be (low, high) with low < high, got {value!r}")
    return float(value[0]), float(value[1])


def same_length(**arrays):
    """Raise unless every array has the same length; return that length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"arrays must have the same length: {described}")
    return next(iter(lengths.values()), 0)


def require_columns(frame, columns, source):
    """Raise unless the DataFrame ``frame`` has every column of ``columns``."""
    if not hasattr(frame, "columns"):
        raise TypeError(f"{source} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{source} is missing required column(s) {missing}; "
                         f"it has {list(frame.columns)}")
    return frame


def non_empty(values, what, hint=""):
    """Raise unless ``values`` (an array, a frame, a sequence) has at least one row."""
    if len(values) == 0:
        raise ValueError(f"{what} is empty" + (f"; {hint}" if hint else ""))
    return values


def finite_array(values, name, dtype=np.float64):
    """``values`` as a 1-D float array without NaN or infinity."""
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold numbers ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} contains NaN or infinite values "
                         f"(first at position {int(np.flatnonzero(bad)[0])})")
    return arr


def instance(value, types, name, hint=""):
    """``value`` if it is an instance of ``types``; ``hint`` says what to pass instead."""
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise TypeError(f"{name} must be a {names}, got {type(value).__name__}"
                        + (f"; {hint}" if hint else ""))
    return value


class NotFittedError(ValueError, AttributeError):
    """An encoder or model was used before ``fit``."""


def fitted(obj, attribute, hint="call fit() first"):
    """``obj`` if ``fit`` has set ``attribute`` on it, else :class:`NotFittedError`."""
    if not hasattr(obj, attribute):
        raise NotFittedError(f"this {type(obj).__name__} is not fitted yet; {hint}")
    return obj


def integer_ids(values, name):
    """``values`` as a 1-D int64 array of ids (any integers, not indices).

    Text that reads as an integer (``"42"``) is accepted; NaN, fractions, other text,
    booleans and ids beyond int64 (or floats beyond 2**53, where floats skip integers)
    are refused, naming the first offender and its position.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "i" or (arr.dtype.kind == "u" and (not arr.size or arr.max() < 2**63)):
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold integer ids, got booleans")
    numeric = pd.to_numeric(pd.Series(arr), errors="coerce")
    as_float = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    limit = 2.0**53 if numeric.dtype.kind == "f" else 2.0**63
    bad = ~np.isfinite(as_float) | (as_float != np.floor(as_float)) | (np.abs(as_float) >= limit)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        first = arr[pos].item() if hasattr(arr[pos], "item") else arr[pos]
        why = ("not a number" if isinstance(first, str) else "missing"
               if np.isnan(as_float[pos]) else "too large for a 64-bit id"
               if abs(as_float[pos]) >= limit else "not a whole number")
        raise ValueError(f"{name} must hold integer ids; {int(bad.sum())} value(s) are not, "
                         f"e.g. {first!r} at position {pos} ({why}): fix or drop those rows")
    return numeric.to_numpy().astype(np.int64)


def scores_array(scores, n_pairs, name="score_fn"):
    """A scorer's output as float64, checked to hold one finite score per pair."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n_pairs,):
        raise ValueError(f"{name} returned shape {scores.shape} for {n_pairs} (user, item) "
                         "pairs; it must return one score per pair")
    return finite_array(scores, f"the scores of {name}")


def top_k_lists(values, name="top_items", n_items=None):
    """``values`` as an int64 array of shape (n_users, K) of top-K lists, one row per user.

    Every list has the same length K >= 1 (at least one user), holds item indices in
    ``[0, n_items)`` and no item twice. NaN (a list padded with missing values) and
    K above ``n_items`` are named as such.
    """
    try:
        arr = np.asarray(values.detach().cpu() if torch.is_tensor(values) else values)
    except ValueError:  # ragged nested lists
        raise ValueError(f"{name} must be a 2-D array (n_users, K): every list of the same "
                         "length") from None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_users, K), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one user "
                         "with a list of at least one item")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        row, col = np.argwhere(np.isnan(arr))[0]
        raise ValueError(f"{name} contains NaN (first in row {row}, position {col}); every "
                         "list must hold K item indices: drop users with shorter lists")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer item indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if n_items is not None and arr.shape[1] > n_items:
        raise ValueError(f"{name} has lists of K={arr.shape[1]} items, but the catalogue has "
                         f"only n_items={n_items}; K cannot exceed the catalogue")
    if (arr == -1).any():  # how recommend() marks an empty place
        row, col = np.argwhere(arr == -1)[0]
        raise ValueError(f"{name} has -1 (an empty place) in row {row}, position {col}: that "
                         "user had fewer than K items left to recommend; keep the full lists, "
                         f"{name}[({name} >= 0).all(axis=1)], or ask for a smaller K")
    bad = (arr < 0) if n_items is None else (arr < 0) | (arr >= n_items)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        limit = "non-negative" if n_items is None else f"in [0, {n_items})"
        raise IndexError(f"{name} must hold item indices {limit}; found {arr[row, col]} in "
                         f"row {row}, position {col}")
    ordered = np.sort(arr, axis=1)
    repeated = ordered[:, 1:] == ordered[:, :-1]
    if repeated.any():
        row, col = np.argwhere(repeated)[0]
        raise ValueError(f"{name} row {row} lists item {ordered[row, col]} more than once; "
                         "a top-K list holds K distinct items")
    return arr


def float_matrix(values, name, n_rows, hint=""):
    """``values`` (array-like or torch tensor) as a finite float64 array of shape
    (n_rows, d)."""
    if torch.is_tensor(values):  # possibly on a GPU, possibly requiring grad
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold numbers ({exc})") from None
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows}, d), got {arr.shape}"
                         + (f"; {hint}" if hint else ""))
    if not np.isfinite(arr).all():
        row, col = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinite values (first in row {row}, "
                         f"column {col})")
    return arr


def indicator_matrix(values, name, n_rows=None):
    """``values`` as a boolean array of shape (n_rows, n_columns) from 0/1 or bools."""
    arr = float_matrix(values, name, np.shape(values)[0] if n_rows is None else n_rows)
    if not np.isin(arr, (0.0, 1.0)).all():
        row, col = np.argwhere(~np.isin(arr, (0.0, 1.0)))[0]
        raise ValueError(f"{name} must hold only 0 and 1 (or booleans); found {arr[row, col]} "
                         f"in row {row}, column {col}")
    return arr.astype(bool)


_EPOCH = pd.Timestamp(0, tz="UTC")


def timestamps(values, name):
    """``values`` as a 1-D int64 array of seconds since 1970-01-01 UTC.

    Accepted: numbers (taken as seconds already), text that reads as a number,
    datetime64 values (time-zone aware ones converted to UTC, naive ones taken as UTC)
    and ISO 8601 text (``"2024-03-05"``, ``"2024-03-05T14:22:00+01:00"``); fractions of
    a second are floored. Missing values, other text, a column that mixes numbers and
    dates, and booleans are refused, naming the first offender and its position.
    """
    series = pd.Series(values if hasattr(values, "dtype") else np.asarray(values))
    if series.isna().any():
        pos = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise ValueError(f"{name} is missing at position {pos} ({int(series.isna().sum())} "
                         "missing in all): fill or drop those rows")
    if series.dtype.kind == "b" or series.dtype.kind == "m":
        raise TypeError(f"{name} must hold times, got dtype {series.dtype}")
    if series.dtype.kind == "M" or isinstance(series.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(series, utc=True)
    elif series.dtype.kind in "iuf":
        return _seconds(series, series, name)
    else:
        text = series.astype("str").str.strip()
        number = pd.to_numeric(text, errors="coerce")
        if number.notna().all():
            return _seconds(number, series, name)
        times = pd.to_datetime(text.where(number.isna()), format="ISO8601", utc=True,
                               errors="coerce")
        bad = (times.isna() | number.notna()).to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} must hold times, as seconds since 1970 or as ISO 8601 "
                             f"dates (2024-03-05 14:22:00), all of one kind; {int(bad.sum())} "
                             f"value(s) are not, e.g. {series.iloc[pos]!r} at position {pos}: "
                             "fix or drop those rows")
    return ((times - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def _seconds(numbers, shown, name):
    """Numbers of seconds as int64 (floored), naming the first one that is not a time."""
    if numbers.dtype.kind == "i":  # the common case (every MovieLens file): nothing to check
        return numbers.to_numpy().astype(np.int64, copy=False)
    seconds = numbers.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(seconds) | (np.abs(seconds) >= 2.0**63)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        value = shown.iloc[pos].item() if hasattr(shown.iloc[pos], "item") else shown.iloc[pos]
        raise ValueError(f"{name} holds {value!r} at position {pos}, not a time in "
                         "seconds since 1970: fix or drop those rows")
    return (numbers.to_numpy() if numbers.dtype.kind in "iu"
            else np.floor(seconds)).astype(np.int64)


def time_order(values, name):
    """``values`` as an array that sorts in time order: numbers or datetimes.

    Text is refused rather than guessed at: it sorts character by character, so "100"
    would come before "99" and "10/02/2024" before "9/01/2023".
    """
    series = pd.Series(values)
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if series.dtype.kind in "iuf" or inferred in ("integer", "floating", "mixed-integer-float"):
        return pd.to_numeric(series).to_numpy()  # also Python numbers in an object column
    if series.dtype.kind == "M" or isinstance(series.dtype, pd.DatetimeTZDtype):
        return pd.to_datetime(series, utc=True).to_numpy(dtype="datetime64[ns]").view(np.int64)
    text = inferred in ("string", "mixed", "bytes")
    first = series.iloc[0].item() if len(series) and hasattr(series.iloc[0], "item") else (
        series.iloc[0] if len(series) else None)
    raise TypeError(f"{name} must hold numbers or datetimes to be put in time order, got "
                    f"{'text' if text else f'dtype {series.dtype}'}, e.g. {first!r}; "
                    + ("text sorts character by character ('100' before '99'), so " if text
                       else "")
                    + "convert it first: pd.to_numeric(...) for numbers, pd.to_datetime(...) "
                    "for dates")


_PLAIN = (type(None), bool, int, float, complex, str, bytes, torch.Tensor)


def plain_data(value, name):
    """``value`` made of what a safe ``torch.load(weights_only=True)`` reads back: None,
    bool, int, float, str, bytes, tensors, and dicts, lists and tuples of them.

    Numpy scalars (``np.float64(0.9)``) become the Python numbers they hold; anything
    else (an array, a DataFrame, a Path) is refused, naming where it sits in ``value``.
    """
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return value.item()
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {plain_data(k, f"a key of {name}"): plain_data(v, f"{name}[{k!r}]")
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain_data(v, f"{name}[{k}]") for k, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    hint = (" (convert it: .tolist(), or torch.as_tensor(...))"
            if isinstance(value, np.ndarray) else
            " (convert it: .to_dict(), or keep it in a file of its own)"
            if isinstance(value, (pd.DataFrame, pd.Series)) else " (convert it: str(...))")
    raise TypeError(f"{name} is a {type(value).__module__}.{type(value).__name__}, which a safe "
                    "load cannot read back; use None, bool, int, float, str, tensors, and "
                    f"dicts, lists or tuples of them{hint}")
