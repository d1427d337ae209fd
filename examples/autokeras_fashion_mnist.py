"""Neural architecture search inside AutoKeras on the shipped Fashion-MNIST sample.

An `ak.AutoModel` graph with AutoKeras' own blocks (`ak.ImageInput`,
`ak.Normalization`, `ak.ClassificationHead`) around keras_nas_plus'
`MacroBlock`, searched by `RegularizedEvolutionAutoTuner`. Offline, a few
minutes on a laptop CPU with the defaults below.

    python examples/autokeras_fashion_mnist.py --trials 4 --epochs 1

Needs AutoKeras 3 (`pip install autokeras`).
"""

import argparse

import autokeras as ak
import keras

from keras_nas_plus.autokeras import MacroBlock
from keras_nas_plus.autokeras import RegularizedEvolutionAutoTuner
from keras_nas_plus.datasets import load_fashion_mnist_sample


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="number of trials (default 4)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per trial and for the final fit (default 1)")
    parser.add_argument("--train-examples", type=int, default=2000, help="training examples used (default 2000)")
    parser.add_argument("--directory", default="autokeras_nas", help="search directory (default ./autokeras_nas)")
    parser.add_argument("--output", default="autokeras_nas_best.keras", help="where to save the exported model")
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist_sample()
    x_train, y_train = x_train[: args.train_examples], y_train[: args.train_examples]

    inputs = ak.ImageInput()
    x = ak.Normalization()(inputs)
    x = MacroBlock(min_layers=2, max_layers=4, filters=(16, 32), stem_filters=16)(x)
    outputs = ak.ClassificationHead()(x)
    auto_model = ak.AutoModel(
        inputs=inputs,
        outputs=outputs,
        tuner=RegularizedEvolutionAutoTuner,
        max_trials=args.trials,
        population_size=max(2, args.trials // 2),  # forwarded to the tuner
        sample_size=2,
        directory=args.directory,
        overwrite=True,
        seed=0,
    )
    auto_model.fit(x_train, y_train, validation_split=0.2, epochs=args.epochs, batch_size=64, verbose=2)

    for trial in auto_model.tuner.oracle.get_best_trials(3):
        print(f"trial {trial.trial_id}: val_loss={trial.score:.4f}")
    loss, accuracy = auto_model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy of the final model: {accuracy:.4f}")

    model = auto_model.export_model()
    model.save(args.output)
    reloaded = keras.saving.load_model(args.output)
    print(f"exported model saved to {args.output}; predictions shape {reloaded.predict(x_test[:8], verbose=0).shape}")


if __name__ == "__main__":
    main()
