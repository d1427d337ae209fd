"""Test-time augmentation on a saved model: no views, `flip` and `flip_shift`, paired.

Loads a `.keras` model (a final phase's `best_model.keras`: its network is taken out of any
test-time wrapper) and prints its accuracy on a slice of a `.npz` dataset without test-time
augmentation and with each of the package's two kinds (`keras_nas_plus.estimation.final_phase.
with_flip_tta`, `keras_nas_plus.estimation.tta.with_view_tta`), and how many images each one
turned right and wrong against no augmentation. To choose views without looking at a test set,
point it at training images the model did not see, e.g. rows 50,000-59,999 of the full
Fashion-MNIST training split for a model trained on the package's sample (its first 10,000):

    python benchmarks/equal_compute/tta_views.py runs/fashion_mnist/best_model.keras \\
        ../shared/datasets/fashion_mnist/fashion_mnist.npz --split train --rows 50000:60000
"""

import argparse

import keras
import numpy as np

import keras_nas_plus  # noqa: F401  (registers the package's layers for loading)
from keras_nas_plus.estimation.final_phase import with_flip_tta
from keras_nas_plus.estimation.tta import with_view_tta


def network_of(model):
    """The network inside a test-time wrapper (the first nested model), or `model` itself."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if inner else model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--split", choices=("train", "test"), default="test")
    parser.add_argument("--rows", default=":", help="START:END of the split, e.g. 50000:60000 (default all)")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    start, end = (int(v) if v else None for v in args.rows.split(":"))
    data = np.load(args.data)
    x, y = data[f"x_{args.split}"][start:end], np.asarray(data[f"y_{args.split}"]).reshape(-1)[start:end]
    net = network_of(keras.saving.load_model(args.model, compile=False))
    right = {}
    for name, model in (("none", net), ("flip", with_flip_tta(net)), ("flip_shift", with_view_tta(net))):
        p = model.predict(x, batch_size=args.batch_size, verbose=0)
        right[name] = np.argmax(p, axis=-1) == y
        gained = int((right[name] & ~right["none"]).sum())
        lost = int((~right[name] & right["none"]).sum())
        print(f"{name:10s} accuracy {100 * right[name].mean():.2f} %  against none: {gained} right, {lost} wrong "
              f"({len(y)} images, {args.split} rows {args.rows})", flush=True)
    return right


if __name__ == "__main__":
    main()
