"""Times compile (first epoch) and a second epoch per macro-space operation.

Usage on the device: KERAS_BACKEND=jax|torch python3 benchmarks/gpu_showcase/op_timing.py
"""
import sys
import time

import keras
import numpy as np

sys.path.insert(0, ".")
from keras_nas_plus.spaces import MacroSearchSpace  # noqa: E402

data = np.load(".devdata/fashion_mnist.npz")
x, y = data["x_train"][:54000], data["y_train"][:54000]
for spec in sys.argv[1:] or ["conv3x3", "sepconv3x3", "sepconv5x5", "conv5x5"]:
    op, _, augmentation = spec.partition(":")
    space = MacroSearchSpace((28, 28), 10, input_kind="image", rescale=1 / 255, min_layers=3, max_layers=3,
                             filters=(64,), stem_filters=32, dropout=0.0,
                             augmentation=augmentation or "none")
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.values = {f"layer_{i}/op": op for i in range(3)}
    model = space.build(hp)
    times = []
    for epoch in range(2):
        start = time.time()
        model.fit(x, y, epochs=1, batch_size=256, verbose=0)
        times.append(time.time() - start)
    print(f"{keras.backend.backend()} {spec}: first epoch {times[0]:.1f} s, second {times[1]:.1f} s", flush=True)
