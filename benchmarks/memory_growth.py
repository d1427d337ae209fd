"""Resident memory growth of a long search: MB per trial over N small trials.

    nice -n 10 python benchmarks/memory_growth.py --trials 50
    KERAS_BACKEND=jax nice -n 10 python benchmarks/memory_growth.py --trials 50
    nice -n 10 python benchmarks/memory_growth.py --trials 50 --no-free-trial-memory   # before the fix

Runs RegularizedEvolution on tiny 8x8 images (1 epoch per trial, a space of
dense/conv layers whose shapes change between trials, which is what makes
frameworks cache new graphs) and prints the resident set size (RSS) after
every trial, the growth from the end of trial `--warmup` to the last trial,
and the fitted slope in MB per trial. Exit status 1 if the growth exceeds
`--limit-mb` (default 200).
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_mb():
    """Resident set size of this process in MB (psutil, else /proc)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    raise RuntimeError("cannot read the resident memory of this process")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=1, help="trials before the growth is measured")
    parser.add_argument("--limit-mb", type=float, default=200.0)
    parser.add_argument("--directory", default=None, help="default: a temporary directory")
    parser.add_argument("--no-free-trial-memory", action="store_true",
                        help="pass free_trial_memory=False (the behaviour before the per-trial cleanup)")
    args = parser.parse_args(argv)
    if args.trials <= args.warmup:
        parser.error("--trials must exceed --warmup")

    import keras
    import numpy as np

    from keras_nas_plus import RegularizedEvolution

    def build(hp):
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        if hp.Boolean("conv"):
            x = keras.layers.Conv2D(hp.Int("filters", 2, 16, step=2), 3, padding="same", activation="relu")(x)
        x = keras.layers.Flatten()(x)
        for i in range(hp.Int("layers", 1, 3)):
            x = keras.layers.Dense(hp.Int(f"units_{i}", 4, 64, step=4), activation="relu")(x)
        model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
        model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    samples = []

    class Measured(RegularizedEvolution):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            samples.append((len(samples) + 1, rss_mb(), time.time()))
            print(f"trial {len(samples):3d}: rss {samples[-1][1]:8.1f} MB", flush=True)

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=96)
    x = rng.integers(0, 60, size=(96, 8, 8, 1)).astype("uint8")
    for c in range(3):
        x[y == c, c * 2: c * 2 + 2] = 250
    directory = args.directory or tempfile.mkdtemp(prefix="memory_growth_")
    start_rss = rss_mb()
    tuner = Measured(build, objective="val_accuracy", max_trials=args.trials, population_size=10, sample_size=3,
                     seed=0, directory=directory, project_name="p", overwrite=True,
                     max_consecutive_failed_trials=None, free_trial_memory=not args.no_free_trial_memory)
    start = time.time()
    tuner.search(x[:64], y[:64], validation_data=(x[64:], y[64:]), epochs=1, batch_size=16, verbose=0)
    seconds = time.time() - start
    trials = np.array([s[0] for s in samples], dtype=float)
    rss = np.array([s[1] for s in samples])
    growth = rss[-1] - rss[args.warmup - 1]
    slope = np.polyfit(trials[args.warmup - 1:], rss[args.warmup - 1:], 1)[0]
    print(f"backend={keras.backend.backend()} trials={len(samples)} seconds={seconds:.0f} "
          f"free_trial_memory={tuner.free_trial_memory}")
    print(f"rss before search {start_rss:.1f} MB, after trial {args.warmup} {rss[args.warmup - 1]:.1f} MB, "
          f"after trial {len(samples)} {rss[-1]:.1f} MB")
    print(f"growth after warm-up: {growth:.1f} MB over {len(samples) - args.warmup} trials "
          f"({slope:.2f} MB/trial fitted); total growth {rss[-1] - start_rss:.1f} MB")
    return 0 if growth <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
