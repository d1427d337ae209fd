"""Generate the learning-curve corpus (per-epoch train/val loss and accuracy).

Samples architectures from a self-contained generator that mirrors the
keras_nas_plus macro search space (a chain of conv / separable-conv / pooling
operations, each conv followed by BatchNormalization(momentum=0.9) and ReLU,
then Flatten, an optional Dense layer and dropout)
and a small cell search space (normal cells of two nodes, each node combining
two earlier states with an operation, reduction cells in between), then trains
each on the full Fashion-MNIST training split (60 000 images) for EPOCHS epochs,
validating on the 10 000-image test split after every epoch.

Runs on the device machine with KERAS_BACKEND=jax.  Training uses Keras
stateless calls inside one jitted ``jax.lax.scan`` per epoch (the data lives on
the GPU), so a small model's epoch costs one dispatch.  Several worker
processes share the one GPU.

Usage (device):  python3 make_lc_corpus.py --workers 14 --deadline 500 --out $OUT
Usage (local smoke test, CPU):  python3 make_lc_corpus.py --workers 1 --n-archs 2
    --epochs 2 --subset 2000 --out /tmp/lc
"""

import argparse
import json
import os
import sys
import time

import numpy as np

OPS_MACRO = ["conv3x3", "conv5x5", "sepconv3x3", "sepconv5x5", "maxpool", "avgpool"]
OPS_CELL = ["sepconv3x3", "sepconv5x5", "conv3x3", "maxpool3x3", "avgpool3x3", "identity"]


def _flops_macro(arch):
    """Rough forward multiply-adds per image, used to reject too-large samples."""
    h, c, f = 28, 1, 0
    for layer in arch["layers"]:
        op = layer["op"]
        if op.endswith("pool"):
            h = max(1, h // 2)
            continue
        k = 3 if "3x3" in op else 5
        out = layer["filters"]
        if op.startswith("sep"):
            f += h * h * (k * k * c + c * out)
        else:
            f += h * h * k * k * c * out
        c = out
    return f + h * h * c * (arch["dense_units"] or 10)


def sample_macro(rng):
    while True:
        n = int(rng.integers(2, 7))
        layers = []
        for i in range(n):
            op = OPS_MACRO[int(rng.integers(len(OPS_MACRO)))]
            if i == 0 and op.endswith("pool"):
                op = "conv3x3"
            layers.append({"op": op, "filters": int(rng.choice([8, 16, 24, 32, 48, 64]))})
        arch = {
            "space": "macro",
            "layers": layers,
            "dense_units": int(rng.choice([0, 32, 64, 128])),
            "dropout": float(rng.choice([0.0, 0.25, 0.5])),
            "learning_rate": float(10 ** rng.uniform(-4, -2)),
        }
        if _flops_macro(arch) <= 3e6:
            return arch


def sample_cell(rng):
    def cell():
        nodes = []
        for j in range(2):
            nodes.append(
                {
                    "inputs": [int(rng.integers(0, 2 + j)) for _ in range(2)],
                    "ops": [OPS_CELL[int(rng.integers(len(OPS_CELL)))] for _ in range(2)],
                }
            )
        return nodes

    return {
        "space": "cell",
        "stem_filters": int(rng.choice([8, 12, 16])),
        "num_cells": int(rng.integers(1, 3)),  # normal cells per stage
        "normal_cell": cell(),
        "reduction_cell": cell(),
        "learning_rate": float(10 ** rng.uniform(-4, -2)),
    }


def sample_archs(n, seed):
    rng = np.random.default_rng(seed)
    return [sample_macro(rng) if i % 2 == 0 else sample_cell(rng) for i in range(n)]


def build_model(arch, keras):
    L = keras.layers

    def conv_bn(x, filters, k, sep=False, strides=1, name=None):
        if sep:
            x = L.SeparableConv2D(filters, k, strides=strides, padding="same", use_bias=False, name=name)(x)
        else:
            x = L.Conv2D(filters, k, strides=strides, padding="same", use_bias=False, name=name)(x)
        x = L.BatchNormalization(momentum=0.9, name=None if name is None else name + "_bn")(x)
        return L.Activation("relu")(x)

    inp = keras.Input((28, 28, 1))
    if arch["space"] == "macro":
        x = inp
        for i, layer in enumerate(arch["layers"]):
            op = layer["op"]
            if op == "maxpool":
                x = L.MaxPooling2D(2, name=f"layer_{i}_op")(x)
            elif op == "avgpool":
                x = L.AveragePooling2D(2, name=f"layer_{i}_op")(x)
            else:
                k = 3 if "3x3" in op else 5
                x = conv_bn(x, layer["filters"], k, sep=op.startswith("sep"), name=f"layer_{i}_op")
        x = L.Flatten()(x)
        if arch["dense_units"]:
            x = L.Dense(arch["dense_units"], activation="relu")(x)
        if arch["dropout"]:
            x = L.Dropout(arch["dropout"])(x)
    else:
        f = arch["stem_filters"]
        x = conv_bn(inp, f, 3)
        x = L.MaxPooling2D(2)(x)  # 14x14 before the cells keeps the corpus cheap

        def apply_op(op, t, filters, strides):
            if op in ("sepconv3x3", "sepconv5x5", "conv3x3"):
                k = 5 if "5x5" in op else 3
                return conv_bn(t, filters, k, sep=op.startswith("sep"), strides=strides)
            if op == "maxpool3x3":
                t = L.MaxPooling2D(3, strides=strides, padding="same")(t)
            elif op == "avgpool3x3":
                t = L.AveragePooling2D(3, strides=strides, padding="same")(t)
            elif strides > 1:
                t = L.AveragePooling2D(2)(t)
            if t.shape[-1] != filters:
                t = conv_bn(t, filters, 1)
            return t

        def run_cell(nodes, prev, filters, reduce):
            states = [prev, prev]
            for node in nodes:
                outs = []
                for idx, op in zip(node["inputs"], node["ops"]):
                    src = states[idx]
                    s = 2 if (reduce and idx < 2) else 1
                    outs.append(apply_op(op, src, filters, s))
                states.append(L.Add()(outs))
            return L.Concatenate()(states[2:])

        for stage in range(2):
            for _ in range(arch["num_cells"]):
                x = run_cell(arch["normal_cell"], x, f, False)
            if stage == 0:
                f *= 2
                x = run_cell(arch["reduction_cell"], x, f, True)
        x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(10)(x)
    out = L.Activation("softmax", dtype="float32")(out)
    return keras.Model(inp, out)


def train_one(arch, data, epochs, batch_size, seed, keras, jax):
    jnp = jax.numpy
    keras.utils.set_random_seed(seed)
    model = build_model(arch, keras)
    opt = keras.optimizers.Adam(arch["learning_rate"])
    opt.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    xtr, ytr, xva, yva = data
    n = xtr.shape[0]
    steps = n // batch_size

    def compute_loss(tv, ntv, x, y):
        y_pred, ntv = model.stateless_call(tv, ntv, x, training=True)
        return loss_fn(y, y_pred), (y_pred, ntv)

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    def epoch_fn(state, key):
        perm = jax.random.permutation(key, n)[: steps * batch_size].reshape(steps, batch_size)

        def body(state, idx):
            tv, ntv, ov = state
            x = (xtr[idx].astype("float32") / 255.0)[..., None]
            y = ytr[idx]
            (loss, (y_pred, ntv)), grads = grad_fn(tv, ntv, x, y)
            tv, ov = opt.stateless_apply(ov, grads, tv)
            acc = jnp.mean((jnp.argmax(y_pred, -1) == y).astype("float32"))
            return (tv, ntv, ov), (loss, acc)

        state, (losses, accs) = jax.lax.scan(body, state, perm)
        return state, jnp.mean(losses), jnp.mean(accs)

    nv = xva.shape[0]
    chunk = 2000 if nv % 2000 == 0 else nv

    def eval_fn(tv, ntv):
        xs = xva.reshape(nv // chunk, chunk, 28, 28)
        ys = yva.reshape(nv // chunk, chunk)

        def body(c, xy):
            x, y = xy
            y_pred, _ = model.stateless_call(tv, ntv, (x.astype("float32") / 255.0)[..., None], training=False)
            loss = loss_fn(y, y_pred)
            acc = jnp.mean((jnp.argmax(y_pred, -1) == y).astype("float32"))
            return c, (loss, acc)

        _, (l, a) = jax.lax.scan(body, 0, (xs, ys))
        return jnp.mean(l), jnp.mean(a)

    epoch_jit = jax.jit(epoch_fn, donate_argnums=0)
    eval_jit = jax.jit(eval_fn)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in opt.variables],
    )
    key = jax.random.PRNGKey(seed)
    rec = {k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds")}
    for _ in range(epochs):
        t0 = time.time()
        key, sub = jax.random.split(key)
        state, tl, ta = epoch_jit(state, sub)
        vl, va = eval_jit(state[0], state[1])
        vals = [float(v) for v in (tl, ta, vl, va)]
        rec["epoch_seconds"].append(round(time.time() - t0, 4))
        for k, v in zip(("train_loss", "train_accuracy", "val_loss", "val_accuracy"), vals):
            rec[k].append(round(v, 6) if np.isfinite(v) else None)
    rec["params"] = int(model.count_params())
    return rec


def train_one_fit(arch, data, epochs, batch_size, seed, keras):
    """Backend-agnostic variant (plain `model.fit`), used with the torch backend.

    No compilation step, so many small models cost little CPU; each epoch
    is a Keras `fit` epoch followed by evaluation on the validation split.
    """
    keras.utils.set_random_seed(seed)
    model = build_model(arch, keras)
    model.compile(optimizer=keras.optimizers.Adam(arch["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    xtr, ytr, xva, yva = data
    rec = {k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_seconds")}

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            rec["epoch_seconds"].append(round(time.time() - self.t0, 4))
            for key, name in (("train_loss", "loss"), ("train_accuracy", "accuracy"),
                              ("val_loss", "val_loss"), ("val_accuracy", "val_accuracy")):
                v = float(logs.get(name, float("nan")))
                rec[key].append(round(v, 6) if np.isfinite(v) else None)

    model.fit(xtr, ytr, validation_data=(xva, yva), epochs=epochs, batch_size=batch_size,
              verbose=0, callbacks=[Timer()])
    rec["params"] = int(model.count_params())
    return rec


def worker(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    backend = keras.backend.backend()
    if args.mixed and backend == "jax":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    d = np.load(args.data)
    xtr, ytr, xva, yva = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
    if args.subset:
        xtr, ytr = xtr[: args.subset], ytr[: args.subset]
        xva, yva = xva[: args.subset // 5], yva[: args.subset // 5]
    if backend == "jax":
        import jax

        data = tuple(jax.device_put(a) for a in (xtr, ytr.astype("int32"), xva, yva.astype("int32")))
        device = str(jax.devices()[0])
    else:
        data = ((xtr.astype("float32") / 255.0)[..., None], ytr.astype("int32"),
                (xva.astype("float32") / 255.0)[..., None], yva.astype("int32"))
        device = backend
        if backend == "torch":
            import torch

            torch.set_num_threads(1)
            device = "torch:" + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    archs = sample_archs(args.n_archs, args.seed)
    path = os.path.join(args.tmp, f"w{args.worker_id}.jsonl")
    durations = []
    todo = [i for i in range(args.start, len(archs)) if args.space in ("", archs[i]["space"])]
    for i in todo[args.worker_id::args.workers]:
        elapsed = time.time() - args.t0
        est = np.median(durations) if durations else 0.0
        if elapsed + 1.25 * est > args.deadline:
            break
        t = time.time()
        try:
            if backend == "jax":
                rec = train_one(archs[i], data, args.epochs, args.batch_size, args.seed * 1000 + i, keras, jax)
            else:
                rec = train_one_fit(archs[i], data, args.epochs, args.batch_size, args.seed * 1000 + i, keras)
            rec.update({"arch_id": i, "arch": archs[i], "wall_seconds": round(time.time() - t, 2),
                        "device": device, "backend": backend, "train_examples": int(len(xtr)),
                        "val_examples": int(len(xva))})
        except Exception as e:  # record failures, keep going
            rec = {"arch_id": i, "arch": archs[i], "error": repr(e)[:300]}
        durations.append(time.time() - t)
        with open(path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        keras.backend.clear_session()
        print(f"worker {args.worker_id}: arch {i} done in {durations[-1]:.1f}s "
              f"val_acc={rec.get('val_accuracy', [None])[-1]}", flush=True)


def collect(tmp, out):
    lines = []
    for f in sorted(os.listdir(tmp)):
        if f.endswith(".jsonl"):
            with open(os.path.join(tmp, f)) as fh:
                lines += [ln for ln in fh if ln.strip()]
    import gzip

    dst = os.path.join(out, "lc_corpus.jsonl.gz")
    with gzip.open(dst + ".part", "wt") as fh:
        fh.writelines(lines)
    os.replace(dst + ".part", dst)
    return len(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=14)
    p.add_argument("--worker-id", type=int, default=-1)
    p.add_argument("--n-archs", type=int, default=400)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--subset", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="first index into the sampled list")
    p.add_argument("--space", default="", help="'macro' or 'cell' to train one space only")
    p.add_argument("--mixed", type=int, default=1, help="bf16 mixed precision (jax only)")
    p.add_argument("--backend", default="jax", help="jax (jitted scan per epoch) or torch (model.fit)")
    p.add_argument("--deadline", type=float, default=480.0, help="seconds after start")
    p.add_argument("--t0", type=float, default=0.0)
    p.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist.npz"))
    p.add_argument("--tmp", default="/tmp/lc_res")
    p.add_argument("--out", default=os.environ.get("OUT", "/tmp/lc_out"))
    args = p.parse_args()
    if args.worker_id >= 0:
        worker(args)
        return
    import subprocess

    t0 = time.time()
    os.makedirs(args.tmp, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND=args.backend, XLA_PYTHON_CLIENT_PREALLOCATE="false",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    # Convolution autotuning by 14 processes at once on one GPU made compiles slow (first run).
    env.setdefault("XLA_FLAGS", "--xla_gpu_autotune_level=0")
    procs = []
    log = open(os.path.join(args.out, "log.txt"), "w")
    for w in range(args.workers):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker-id", str(w), "--t0", str(t0)]
        for k in ("workers", "start", "space", "n_archs", "epochs", "batch_size", "seed", "subset", "mixed", "deadline", "data", "tmp"):
            cmd += ["--" + k.replace("_", "-"), str(getattr(args, k))]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    hard = args.deadline + 25
    while any(pr.poll() is None for pr in procs) and time.time() - t0 < hard:
        time.sleep(10)
        n = collect(args.tmp, args.out)
        print(f"[{time.time() - t0:.0f}s] curves so far: {n}", flush=True)
    for pr in procs:
        if pr.poll() is None:
            pr.kill()
    n = collect(args.tmp, args.out)
    print(f"done: {n} curves in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
