"""Shipped sample data and dataset loaders.

`fashion_mnist_small.npz` is a sample of Fashion-MNIST (the first 10,000
training and first 2,000 test images, uint8 28x28, labels 0-9), MIT licence,
Copyright 2017 Zalando SE; see `PROVENANCE.md` beside it and the NOTICE file.
"""

import os

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_KEYS = ("x_train", "y_train", "x_test", "y_test")

#: Path of the shipped Fashion-MNIST sample.
FASHION_MNIST_SAMPLE = os.path.join(_HERE, "fashion_mnist_small.npz")

#: Names accepted by `load_dataset` besides file paths.
BUILTIN = ("fashion_mnist_sample",)
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")


class DataError(ValueError):
    """Raised for missing, malformed or inconsistent data files."""


def load_fashion_mnist_sample():
    """Loads the shipped Fashion-MNIST sample (offline).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: uint8 images of shape
        `(10000, 28, 28)` and `(2000, 28, 28)`, uint8 labels in `0..9`.
    """
    return load_npz(FASHION_MNIST_SAMPLE)


def load_npz(path):
    """Loads a user's `.npz` with arrays `x_train, y_train, x_test, y_test`.

    Args:
        path: str, path of the `.npz` file.

    Returns:
        `((x_train, y_train), (x_test, y_test))` as numpy arrays.

    Raises:
        DataError: if the file is missing or unreadable, a key is missing,
            the arrays are empty, the numbers of examples and labels differ,
            train and test examples have different shapes, or labels are not
            non-negative integers.
    """
    if not os.path.isfile(path):
        raise DataError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _KEYS if k not in data.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {missing}; expected keys {list(_KEYS)}")
            arrays = {k: data[k] for k in _KEYS}
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from e
    validate_arrays(arrays, source=path)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def validate_arrays(arrays, source="data"):
    """Checks shapes, sizes, dtypes and labels; raises `DataError` naming the key."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 2 or len(x) == 0:
            raise DataError(f"{source}: x_{split} must be a non-empty array of examples, got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise DataError(f"{source}: x_{split} must be numeric, got dtype {x.dtype}")
        y = np.squeeze(y) if y.ndim == 2 and y.shape[-1] == 1 else y
        if y.ndim != 1:
            raise DataError(f"{source}: y_{split} must be a 1-D array of integer labels, got shape {y.shape}")
        if len(y) != len(x):
            raise DataError(f"{source}: x_{split} has {len(x)} examples but y_{split} has {len(y)} labels")
        if not np.issubdtype(y.dtype, np.integer):
            if not (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0)):
                raise DataError(f"{source}: y_{split} must hold integer class labels, got dtype {y.dtype}")
        if y.min() < 0:
            raise DataError(f"{source}: y_{split} has a negative label {int(y.min())}")
        arrays[f"y_{split}"] = y.astype("int64")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(
            f"{source}: x_train examples have shape {arrays['x_train'].shape[1:]} "
            f"but x_test examples have shape {arrays['x_test'].shape[1:]}"
        )
    return arrays


def load_dataset(name_or_path):
    """Loads data by name or path.

    Args:
        name_or_path: `"fashion_mnist_sample"` (shipped, offline), a path to
            a `.npz` (see `load_npz`), or one of `keras.datasets`' names
            (`"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"`; these
            download, so they need internet).

    Returns:
        `((x_train, y_train), (x_test, y_test))`.

    Raises:
        DataError: unknown name, missing file or malformed data.
    """
    if name_or_path == "fashion_mnist_sample":
        return load_fashion_mnist_sample()
    if name_or_path in KERAS_DATASETS:
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name_or_path).load_data()
        except Exception as e:
            raise DataError(f"could not download keras.datasets.{name_or_path} (offline?): {e}") from e
        arrays = validate_arrays(
            {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, name_or_path
        )
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    if str(name_or_path).endswith(".npz") or os.path.sep in str(name_or_path):
        return load_npz(name_or_path)
    raise DataError(
        f"unknown dataset {name_or_path!r}: expected 'fashion_mnist_sample', a .npz path, "
        f"or one of {list(KERAS_DATASETS)}"
    )
