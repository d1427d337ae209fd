"""Network morphism benchmark: function preservation and epochs saved.

Parts (select with --parts, default "abc"):

(a) Function preservation: max |out(parent) - out(morphed)| in float32 on
    random inputs for every morphism operation and for `inherit_weights`
    into the freshly built morphed architecture, on a hand-made CNN and on
    MacroSearchSpace models, for every backend in --backends (each in a
    subprocess, since KERAS_BACKEND is fixed at import).
(b) Fashion-MNIST (shipped 10k/2k sample): for each of --parents parents
    (seeds), train the parent --parent-epochs epochs; its validation
    accuracy is the target. A widened child and a deepened child are trained
    from the parent's weights; the same architectures are trained from
    scratch. Reports epochs to reach the target (counting from epoch 1, i.e.
    at least one epoch of training) and the median ratio.
(c) A RegularizedEvolution search on MacroSearchSpace with and without
    weight inheritance, same seed (oracle and Keras) and trials; one
    inheritance search per value of --lr-factors (`inherited_lr_factor`;
    the tuner's default `prefer_morphisms=True` is used); reports best
    validation accuracy and total training epochs.

Run: nice -n 10 python benchmarks/morphism_benchmark.py [--parts abc]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


# ------------------------------------------------------------------ (a)
def part_a_one_backend():
    """Runs in a subprocess: prints a JSON dict op -> max error."""
    import keras

    from keras_nas_plus import morphism

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                    "tests"))
    import test_morphism as T

    def err(a, b, x):
        return float(np.max(np.abs(
            keras.ops.convert_to_numpy(a(x, training=False))
            - keras.ops.convert_to_numpy(b(x, training=False)))))

    out = {}
    cnn = T.cnn_model()
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32")
    seq = T.seq_model()
    xs = np.random.default_rng(1).normal(size=(8, 12, 2)).astype("float32")
    space = T._macro_space()
    macro = T._randomise(T._macro_model(space), seed=7)
    xm = np.random.default_rng(2).normal(size=(8, 8, 8, 1)).astype("float32")
    for tag, model, data, ops in (("cnn", cnn, x, T.CNN_OPS),
                                  ("conv1d", seq, xs, T.SEQ_OPS),
                                  ("macro", macro, xm, T.MACRO_OPS)):
        for op, args, kwargs in ops:
            child = getattr(morphism, op)(model, *args, **kwargs)
            fresh = T._fresh(child)
            morphism.inherit_weights(model, fresh)
            key = op
            out.setdefault(key, [0.0, 0.0])
            out[key][0] = max(out[key][0], err(model, child, data))
            out[key][1] = max(out[key][1], err(model, fresh, data))
    for name, values in (("macro wider", {"layer_2/filters": 8}),
                         ("macro kernel", {"layer_0/op": "conv5x5"}),
                         ("macro deeper", {"num_layers": 4,
                                           "layer_3/op": "conv3x3",
                                           "layer_3/filters": 8})):
        child = T._macro_model(space, **values)
        morphism.inherit_weights(macro, child)
        out["inherit_weights " + name] = [None, err(macro, child, xm)]
    print("JSON" + json.dumps(out))


def part_a(backends):
    print("(a) function preservation: max |out(parent) - out(child)|, "
          "float32, random inputs")
    print("    columns: op / backend: morphed, inherit_weights(parent, "
          "fresh morphed architecture)")
    results = {}
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend,
                   TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run(
            [sys.executable, __file__, "--parts", "a1"], env=env,
            capture_output=True, text=True)
        line = [l for l in proc.stdout.splitlines() if l.startswith("JSON")]
        if not line:
            print(f"    {backend}: FAILED\n{proc.stderr[-2000:]}")
            continue
        results[backend] = json.loads(line[0][4:])
    ops = sorted({k for r in results.values() for k in r})
    for op in ops:
        cells = []
        for backend in results:
            a, b = results[backend].get(op, [None, None])
            fa = "-" if a is None else f"{a:.1e}"
            cells.append(f"{backend}: {fa}, {b:.1e}")
        print(f"    {op:32s} " + " | ".join(cells))
    worst = max(v for r in results.values() for pair in r.values()
                for v in pair if v is not None)
    print(f"    worst over all: {worst:.2e} (criterion <= 1e-5)")
    return results


# ------------------------------------------------------------------ (b)
def _data():
    from keras_nas_plus.datasets import load_fashion_mnist_sample

    (x, y), (xt, yt) = load_fashion_mnist_sample()
    x = (x.astype("float32") / 255.0)[..., None]
    xt = (xt.astype("float32") / 255.0)[..., None]
    return x, y.astype("int32"), xt, yt.astype("int32")


def _parent_net(seed):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    i = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", name="conv1")(i)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(32, activation="relu", name="fc")(x)
    o = layers.Dense(10, activation="softmax", name="classifier")(x)
    return keras.Model(i, o, name="parent")


def _compile(model, lr):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _epochs_to(model, data, target, max_epochs, batch):
    """First epoch (>= 1) whose validation accuracy reaches `target`."""
    x, y, xt, yt = data
    for epoch in range(1, max_epochs + 1):
        model.fit(x, y, epochs=1, batch_size=batch, verbose=0)
        acc = model.evaluate(xt, yt, batch_size=512, verbose=0)[1]
        if acc >= target:
            return epoch, acc
    return None, acc


def part_b(parents, parent_epochs, scratch_max, batch, lr):
    import keras

    from keras_nas_plus import morphism

    data = _data()
    x, y, xt, yt = data
    print(f"(b) Fashion-MNIST sample ({len(x)} train / {len(xt)} val), "
          f"parent trained {parent_epochs} epochs, batch {batch}, Adam "
          f"lr {lr}; epochs to reach the parent's val accuracy")
    rows = []
    for seed in range(parents):
        parent = _compile(_parent_net(seed), lr)
        parent.fit(x, y, epochs=parent_epochs, batch_size=batch, verbose=0)
        target = parent.evaluate(xt, yt, batch_size=512, verbose=0)[1]
        for kind in ("widen", "deepen"):
            if kind == "widen":
                child = morphism.widen(parent, ["conv2"], 16, noise=0.05,
                                       seed=seed)
                child = morphism.widen(child, "fc", 64, noise=0.05,
                                       seed=seed)
            else:
                child = morphism.deepen(parent, "relu2")
                child = morphism.deepen(child, "fc")
            _compile(child, lr)
            start = child.evaluate(xt, yt, batch_size=512, verbose=0)[1]
            e_child, _ = _epochs_to(child, data, target, scratch_max, batch)
            keras.utils.set_random_seed(1000 + seed)
            scratch = _compile(keras.models.clone_model(child), lr)
            e_scratch, acc_s = _epochs_to(scratch, data, target,
                                          scratch_max, batch)
            rows.append((seed, kind, target, start, e_child, e_scratch))
            print(f"    parent {seed}: {kind:6s} target {target:.4f}, "
                  f"child at epoch 0 {start:.4f}, child epochs "
                  f"{e_child}, scratch epochs "
                  f"{e_scratch if e_scratch else f'>{scratch_max}'}",
                  flush=True)
            del child, scratch
        del parent
        keras.backend.clear_session()
    for kind in ("widen", "deepen"):
        ch = [r[4] if r[4] else scratch_max + 1 for r in rows
              if r[1] == kind]
        sc = [r[5] if r[5] else scratch_max + 1 for r in rows
              if r[1] == kind]
        print(f"    {kind}: median child epochs {np.median(ch):g}, median "
              f"scratch epochs {np.median(sc):g} (>{scratch_max} counted as "
              f"{scratch_max + 1}), ratio {np.median(ch) / np.median(sc):.2f}"
              " (criterion <= 0.33)")
    return rows


# ------------------------------------------------------------------ (c)
def part_c(trials, epochs, population, seed, n_train, batch,
           lr_factors=(1.0,), inherited_epochs=None):
    import keras

    from keras_nas_plus.oracles.evolution import RegularizedEvolution
    from keras_nas_plus.spaces.macro import MacroSearchSpace

    x, y, xt, yt = _data()
    x, y = x[:n_train], y[:n_train]
    print(f"(c) RegularizedEvolution on MacroSearchSpace, {trials} trials, "
          f"population {population}, E={epochs} epochs, {len(x)} train / "
          f"{len(xt)} val, seed {seed}")
    out = {}
    for inherit in [False] + [float(f) for f in lr_factors]:
        space = MacroSearchSpace(
            (28, 28, 1), 10, min_layers=2, max_layers=4, filters=(8, 16),
            stem_filters=8, operations=("conv3x3", "conv5x5", "sepconv3x3",
                                        "maxpool3x3"),
            downsample_at=(0, 1), dropout=0.0, learning_rate=3e-3)
        # Same Keras seed for every search: the first population (trained
        # from scratch in all of them) starts from the same weights.
        keras.utils.set_random_seed(seed)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.time()
            tuner = RegularizedEvolution(
                space, objective="val_accuracy", max_trials=trials,
                population_size=population, sample_size=2, seed=seed,
                directory=d, project_name="p",
                weight_inheritance=inherit is not False,
                inherited_epochs=inherited_epochs,
                inherited_lr_factor=inherit or 1.0)
            tuner.search(x, y, validation_data=(xt, yt), epochs=epochs,
                         batch_size=batch, verbose=0)
            infos = [tuner.get_trial_info(t) for t in tuner.oracle.trials]
            total = sum(i.get("epochs_trained", 0) for i in infos)
            best = tuner.oracle.get_best_trials(1)[0].score
            n_inh = sum(1 for i in infos if i.get("inherited_from"))
            out[inherit] = (best, total)
            tag = ("weight_inheritance=False" if inherit is False else
                   f"weight_inheritance=True, inherited_lr_factor={inherit}")
            print(f"    {tag}: best val accuracy "
                  f"{best:.4f}, total epochs {total}, inherited children "
                  f"{n_inh}, {time.time() - t0:.0f} s", flush=True)
    b0, t0_ = out[False]
    for factor in out:
        if factor is False:
            continue
        b1, t1 = out[factor]
        print(f"    inherited_lr_factor={factor}: epochs saved "
              f"{t0_ / t1:.2f}x fewer (criterion >= 2x); best accuracy "
              f"difference {b1 - b0:+.4f} (aim >= -0.003)")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="abc")
    ap.add_argument("--backends", default="tensorflow,jax,torch")
    ap.add_argument("--parents", type=int, default=5)
    ap.add_argument("--parent-epochs", type=int, default=6)
    ap.add_argument("--scratch-max", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--population", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-examples", type=int, default=4000)
    ap.add_argument("--lr-factors", default="1",
                    help="comma-separated inherited_lr_factor values, one "
                         "inheritance search each (1 = no reduction)")
    ap.add_argument("--inherited-epochs", type=int, default=None)
    args = ap.parse_args()
    if args.parts == "a1":
        part_a_one_backend()
        return
    if "a" in args.parts:
        part_a(args.backends.split(","))
    if "b" in args.parts:
        part_b(args.parents, args.parent_epochs, args.scratch_max,
               args.batch, args.lr)
    if "c" in args.parts:
        part_c(args.trials, args.epochs, args.population, args.seed,
               args.train_examples, args.batch,
               [float(f) for f in args.lr_factors.split(",")],
               args.inherited_epochs)


if __name__ == "__main__":
    main()
