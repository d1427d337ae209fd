"""Which setting makes the final training of a showcase architecture diverge (NaN loss)?

Rebuilds the best architecture of a run (RESULTS_JSON) and trains it for a few epochs on the full
training set under each variant (batch size, dtype policy, augmentation), printing the loss per
epoch and the first batch with a non-finite loss.

    KERAS_BACKEND=jax python benchmarks/gpu_showcase/nan_probe.py RESULTS_JSON DATA_NPZ
"""

import json
import math
import sys
import time

import keras
import keras_tuner
import numpy as np

from keras_nas_plus import config as config_module
from keras_nas_plus import datasets

VARIANTS = [  # (batch size, dtype policy, augmentation)
    (512, "mixed_bfloat16", "translate_flip_erase"),
    (512, "float32", "translate_flip_erase"),
    (512, "mixed_bfloat16", "none"),
    (256, "mixed_bfloat16", "translate_flip_erase"),
    (256, "mixed_bfloat16", "none"),
]


class FirstNonFinite(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.first = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.first is None and not math.isfinite(float(logs.get("loss", 0.0))):
            self.first = (self.epoch, batch)


def main():
    results = json.load(open(sys.argv[1]))
    (x, y), _ = datasets.load_dataset(sys.argv[2])
    y = np.asarray(y).reshape(-1).astype("int64")
    space_config = dict(results["space"]["config"])
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    for batch_size, policy, augmentation in VARIANTS:
        keras.backend.clear_session()
        keras.config.set_dtype_policy(policy)
        space = config_module.space_class(results["space"]["type"]).from_config(
            {**space_config, "augmentation": [augmentation]})
        hp = keras_tuner.HyperParameters()
        hp.values = {**results["best_hyperparameters"], "augmentation": augmentation}
        model = space.build(hp)
        probe = FirstNonFinite()
        start = time.perf_counter()
        history = space.fit(hp, model, x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[probe])
        print(f"batch {batch_size} {policy} {augmentation}: loss per epoch "
              f"{[round(v, 4) for v in history.history['loss']]}, first non-finite (epoch, batch) {probe.first}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
