"""Epoch time of the final training at several batch sizes (where the final phase's time goes).

Rebuilds the best architecture of a showcase run with the final recipe's augmentation and
trains it for a few epochs per batch size on the full training set, printing seconds per epoch
(first epoch, compilation included, apart) and the epochs that would fit in a time budget.

    KERAS_BACKEND=jax python benchmarks/gpu_showcase/final_throughput.py RESULTS_JSON DATA_NPZ \
        [--batch-sizes 256 512 1024] [--epochs 6] [--budget 280]
"""

import argparse
import json
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("data")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--budget", type=float, default=280.0, help="seconds of final training")
    parser.add_argument("--augmentation", default="translate_flip_erase")
    args = parser.parse_args()

    import keras
    import keras_tuner
    import numpy as np

    from keras_nas_plus import config as config_module
    from keras_nas_plus import datasets

    with open(args.results) as f:
        results = json.load(f)
    (x, y), _ = datasets.load_dataset(args.data)
    y = np.asarray(y).reshape(-1).astype("int64")
    space_config = dict(results["space"]["config"])
    space_config["augmentation"] = [args.augmentation]
    space = config_module.space_class(results["space"]["type"]).from_config(space_config)
    for batch_size in args.batch_sizes:
        keras.backend.clear_session()
        keras.config.set_dtype_policy("mixed_bfloat16")
        hp = keras_tuner.HyperParameters()
        hp.values = {**results["best_hyperparameters"], "augmentation": args.augmentation}
        model = space.build(hp)
        ends = []

        class Clock(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                ends.append(time.perf_counter() - self.t)

        space.fit(hp, model, x, y, epochs=args.epochs, batch_size=batch_size, verbose=0, callbacks=[Clock()])
        later = np.diff(ends)
        per_epoch = float(np.median(later)) if len(later) else float("nan")
        print(f"batch {batch_size}: first epoch {ends[0]:.1f} s, later epochs median {per_epoch:.2f} s "
              f"({[round(float(v), 2) for v in later]}); about {int((args.budget - ends[0]) / per_epoch) + 1} "
              f"epochs in {args.budget:g} s", flush=True)


if __name__ == "__main__":
    main()
