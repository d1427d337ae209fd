"""Where does a search trial's time go? Runs a few trials of a config and prints a breakdown.

Times (seconds) per trial: model build, cost metrics (FLOPs count, latency measurement), the
first epoch (compilation included), the later epochs, the validation passes, and what is left
(Keras Tuner bookkeeping, checkpoints, memory clean-up). Then the top of a cProfile listing.

    KERAS_BACKEND=jax python benchmarks/gpu_showcase/profile_trials.py CONFIG --trials 3 \
        [--set KEY=VALUE ...] [--profile] [--directory runs/profile]
"""

import argparse
import cProfile
import io
import pstats
import time

EVENTS = []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--directory", default="runs/profile", help="run directory (one per process)")
    args = parser.parse_args()

    import keras

    from keras_nas_plus import config as config_module
    from keras_nas_plus import costs
    from keras_nas_plus import run
    from keras_nas_plus.engine import tuner as tuner_module

    overrides = list(args.set) + [f"search.max_trials={args.trials}", "search.time_budget=null",
                                  f"search.directory={args.directory}", "search.final_training=null"]
    config = config_module.load_config(args.config, overrides)

    def timed(name, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                EVENTS.append((name, time.perf_counter() - start))
        return wrapper

    costs.count_flops = timed("flops", costs.count_flops)
    costs.measure_latency = timed("latency", costs.measure_latency)
    tuner_module.NASTuner._try_build = timed("build", tuner_module.NASTuner._try_build)

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            EVENTS.append(("epoch1" if epoch == 0 else "epoch_later", now - self.t))
            self.t = now

        def on_test_begin(self, logs=None):
            self.v = time.perf_counter()

        def on_test_end(self, logs=None):
            EVENTS.append(("validation", time.perf_counter() - self.v))

    data = run.load_data(config["data"], config["search"]["seed"])
    space = run.build_space(config["space"], data)
    keras.config.set_dtype_policy(config["search"].get("precision", "float32"))
    tuner = run.build_tuner(config, space, overwrite=True)
    tuner.progress = True
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    tuner.search(data["x_train"], data["y_train"], validation_data=(data["x_val"], data["y_val"]),
                 epochs=config["search"]["epochs"], batch_size=config["search"]["batch_size"],
                 verbose=0, callbacks=[Clock()])
    if profiler:
        profiler.disable()
    total = time.perf_counter() - start
    sums = {}
    for name, seconds in EVENTS:
        sums[name] = sums.get(name, 0.0) + seconds
    print(f"\n{args.trials} trials in {total:.1f} s ({total / args.trials:.1f} s per trial)")
    for name, seconds in sorted(sums.items(), key=lambda kv: -kv[1]):
        print(f"  {name:20s} {seconds:8.1f} s  ({seconds / args.trials:.1f} s per trial)")
    print("  epoch1 includes its validation pass; epoch_later per epoch:",
          [round(s, 2) for n, s in EVENTS if n == "epoch_later"][:12])
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(45)
        print(stream.getvalue())


if __name__ == "__main__":
    main()
