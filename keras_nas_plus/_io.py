"""Small file helpers: atomic writes and JSON-safe values."""

import json
import os
import shutil
import tempfile

import numpy as np

_PLAIN_TYPES = (str, int, float, bool, type(None))


def to_python(value):
    """Converts numpy scalars to plain Python types (JSON- and gRPC-safe)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def json_safe(obj):
    """Recursively converts numpy scalars/arrays and tuples to JSON types."""
    if type(obj) in _PLAIN_TYPES:  # fast path: most of a state is plain
        return obj
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    return to_python(obj)


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temporary file and `os.replace`.

    A process killed at any point leaves either the old or the new file,
    never a truncated one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_", suffix=".json")
    try:
        with os.fdopen(handle, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(path, default):
    """The JSON content of `path`, or `default` when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def directory_problem(directory):
    """Why `directory` cannot be used for writing (a str), or None; leaves nothing behind.

    A missing directory is created to find out, then removed with the parents it needed.
    """
    if os.path.exists(directory) and not os.path.isdir(directory):
        return "is a file, not a directory"
    missing, parent = None, os.path.abspath(directory)
    while not os.path.exists(parent):
        missing, parent = parent, os.path.dirname(parent)
    try:
        if missing is not None:
            os.makedirs(directory)
        elif not os.access(directory, os.W_OK | os.X_OK):
            return "cannot be written: Permission denied"
    except OSError as e:
        return f"cannot be created: {e.strerror or e}"
    finally:
        if missing is not None and os.path.isdir(missing):
            shutil.rmtree(missing, ignore_errors=True)
    return None
