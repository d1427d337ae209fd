"""Same-shaped batches under JAX (`keras_nas_plus.spaces._training.whole_batches`)."""

import keras
import numpy as np
import pytest

from keras_nas_plus.spaces import _training

pytestmark = pytest.mark.core


def test_whole_batch_size_divides_the_examples_or_keeps_the_batch_size():
    assert _training.whole_batch_size(6000, 256) == 250
    assert _training.whole_batch_size(10000, 256) == 250
    assert _training.whole_batch_size(6000, 200) == 200
    assert _training.whole_batch_size(7, 4) == 4  # no divisor in [2, 4]
    assert _training.whole_batch_size(100, 256) == 256  # one batch anyway


def test_whole_batches_pads_training_data_and_sets_the_validation_batch(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    x = np.arange(25500 * 2, dtype="float32").reshape(25500, 2)
    y = np.arange(25500)
    w = np.ones(25500)
    val = (np.zeros((600, 2)), np.zeros(600))
    args, kwargs = _training.whole_batches((x, y), {"batch_size": 256, "validation_data": val, "sample_weight": w})
    px, py = args
    assert len(px) == len(py) == len(kwargs["sample_weight"]) == 25600  # 100 batches of 256 (0.4 % copies)
    np.testing.assert_array_equal(px[:25500], x)
    extra = py[25500:]
    assert len(set(extra.tolist())) == 100  # distinct copies of existing examples
    np.testing.assert_array_equal(px[25500:, 0], 2 * extra)  # rows stay paired with their labels
    assert kwargs["validation_batch_size"] == 200  # largest divisor of 600 in [128, 256]


def test_whole_batches_leaves_data_alone_when_padding_would_be_large_or_backend_is_not_jax(monkeypatch):
    x, y = np.zeros((300, 2)), np.zeros(300)
    # Not JAX: unchanged.
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    args, kwargs = _training.whole_batches((x, y), {"batch_size": 256})
    assert args[0] is x and "validation_batch_size" not in kwargs
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    # 212 copies would be 71 % more data: unchanged.
    args, _ = _training.whole_batches((x, y), {"batch_size": 256})
    assert args[0] is x
    # validation_split / a given validation batch size are respected.
    args, kwargs = _training.whole_batches((x, y), {"batch_size": 8, "validation_split": 0.1})
    assert args[0] is x and "validation_batch_size" not in kwargs
    _, kwargs = _training.whole_batches((x, y), {"batch_size": 8, "validation_data": (x, y),
                                                 "validation_batch_size": 7})
    assert kwargs["validation_batch_size"] == 7
