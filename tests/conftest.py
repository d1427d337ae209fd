import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture
def tiny_images():
    """40 train / 16 val / 16 test uint8 8x8 grayscale images, 3 classes."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=72)
    x = rng.integers(0, 60, size=(72, 8, 8)).astype("uint8")
    for c in range(3):  # make classes separable: a bright band per class
        x[y == c, c * 2 : c * 2 + 2, :] = 250
    return (x[:40], y[:40]), (x[40:56], y[40:56]), (x[56:], y[56:])
