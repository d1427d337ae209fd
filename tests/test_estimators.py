"""The `Estimator` protocol (issue 21): hooks called in order, the three estimators, YAML `estimation:`."""

import pytest

from keras_nas_plus.app import config as config_module
from keras_nas_plus.estimation.base import Estimator
from keras_nas_plus.estimation.base import check_estimators
from keras_nas_plus.estimation.fidelity import Fidelity
from keras_nas_plus.estimation.fidelity import LowerFidelity
from keras_nas_plus.estimation.fidelity import stratified_subset
from keras_nas_plus.estimation.final_phase import FinalTraining
from keras_nas_plus.estimation.inheritance import WeightInheritance
from keras_nas_plus.estimation.learning_curves import LearningCurveEstimator
from keras_nas_plus.estimation.learning_curves import LearningCurveExtrapolation
from keras_nas_plus.spaces import MacroSearchSpace
from keras_nas_plus.strategies import RegularizedEvolution
from keras_nas_plus.strategies.kt_tuners import RandomSearch


def macro_space():
    return MacroSearchSpace(input_shape=(8, 8), num_classes=3, input_kind="image", min_layers=1, max_layers=2,
                            operations=("conv3x3", "maxpool3x3"), filters=(4, 8), stem_filters=4, downsample_at=(1,),
                            dropout=0.0, rescale=1 / 255)


class Spy(Estimator):
    """Records every hook call in a shared log."""

    def __init__(self, tag, log):
        self.tag, self.log = tag, log

    def attach(self, tuner):
        super().attach(tuner)
        self.log.append((self.tag, "attach"))

    def build_model(self, hp, build):
        self.log.append((self.tag, "build_model"))
        return build(hp)

    def before_fit(self, trial, model, fit_args, fit_kwargs):
        self.log.append((self.tag, "before_fit", fit_kwargs["epochs"]))
        return fit_args, dict(fit_kwargs, epochs=fit_kwargs["epochs"] - 1)

    def record(self, trial, model, results):
        self.log.append((self.tag, "record"))
        return {f"spy_{self.tag}": len(results.history["loss"])}

    def after_search(self, tuner):
        self.log.append((self.tag, "after_search"))


@pytest.mark.core
def test_hooks_called_in_order_at_each_point(tiny_images, tmp_path):
    (x, y), (xv, yv), _ = tiny_images
    log = []
    tuner = RandomSearch(macro_space(), objective="val_accuracy", max_trials=1, seed=1,
                         directory=str(tmp_path), project_name="p", estimators=[Spy("a", log), Spy("b", log)])
    assert log == [("a", "attach"), ("b", "attach")]
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=20, verbose=0)
    assert log[2:] == [("a", "build_model"), ("b", "build_model"), ("a", "before_fit", 3), ("b", "before_fit", 2),
                       ("a", "record"), ("b", "record"), ("a", "after_search"), ("b", "after_search")]
    info = tuner.get_trial_info(next(iter(tuner.oracle.trials)))
    assert info["epochs_trained"] == 1 and info["spy_a"] == 1 and info["spy_b"] == 1


@pytest.mark.core
def test_estimators_checked():
    assert check_estimators(None) == []
    lf = LowerFidelity()
    assert check_estimators(lf) == [lf]
    with pytest.raises(TypeError, match=r"estimators\[1\]"):
        check_estimators([lf, "fidelity"])


@pytest.mark.core
def test_lower_fidelity_estimator_builds_reduced_and_reduces_data(tiny_images, tmp_path):
    (x, y), (xv, yv), _ = tiny_images
    estimator = LowerFidelity(Fidelity(data_fraction=0.5, resolution=4, width_multiplier=0.5, epochs=1), seed=0)
    tuner = RegularizedEvolution(macro_space(), objective="val_accuracy", max_trials=2, population_size=2,
                                 sample_size=1, seed=2, directory=str(tmp_path), project_name="p",
                                 estimators=[estimator])
    assert tuner.fidelity is estimator.fidelity
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=20, verbose=0)
    for trial in tuner.oracle.trials.values():
        info = tuner.get_trial_info(trial.trial_id)
        assert info["input_shape"] == [None, 4, 4]
        assert info["epochs_trained"] == 1
        assert info["num_train_examples"] == len(stratified_subset(y, 0.5)) < 40


@pytest.mark.core
def test_legacy_arguments_become_estimators(tmp_path):
    tuner = RegularizedEvolution(macro_space(), objective="val_accuracy", max_trials=2, population_size=2,
                                 sample_size=1, seed=2, directory=str(tmp_path), project_name="p",
                                 learning_curve={"min_epochs": 2}, weight_inheritance=True, inherited_epochs=1)
    kinds = [type(e) for e in tuner.estimators]
    assert kinds == [LearningCurveEstimator, WeightInheritance]
    assert tuner.learning_curve == {"min_epochs": 2}
    assert tuner.weight_inheritance is True and tuner.inherited_epochs == 1
    assert tuner.oracle.child_preference is not None  # prefer_morphisms


@pytest.mark.core
def test_learning_curve_estimator_attaches_one_callback_per_trial(tiny_images, tmp_path):
    (x, y), (xv, yv), _ = tiny_images
    tuner = RandomSearch(macro_space(), objective="val_accuracy", max_trials=2, seed=1, directory=str(tmp_path),
                         project_name="p", estimators=[LearningCurveEstimator({"min_epochs": 2})])
    tuner.search(x, y, validation_data=(xv, yv), epochs=3, batch_size=20, verbose=0)
    for trial in tuner.oracle.trials.values():
        record = tuner.get_trial_info(trial.trial_id)["learning_curve"]
        assert record["monitor"] == "val_accuracy" and record["epochs_trained"] in (2, 3)
    est = tuner.estimators[0]
    args, kwargs = est.before_fit(next(iter(tuner.oracle.trials.values())), None, (), {"callbacks": []})
    assert sum(isinstance(c, LearningCurveExtrapolation) for c in kwargs["callbacks"]) == 1


@pytest.mark.core
def test_yaml_estimation_section_builds_the_list():
    estimation = {"fidelity": {"data_fraction": 0.5, "top_k": 2}, "learning_curve": {"min_epochs": 3},
                  "weight_inheritance": True, "inherited_epochs": 2, "prefer_morphisms": False}
    estimators = config_module.estimators_from_config(estimation, seed=4)
    assert [type(e) for e in estimators] == [LowerFidelity, LearningCurveEstimator, WeightInheritance]
    assert estimators[0].fidelity.data_fraction == 0.5 and estimators[0].fidelity.top_k == 2
    assert estimators[0].seed == 4
    assert estimators[1].kwargs == {"min_epochs": 3}
    assert estimators[2].inherited_epochs == 2 and estimators[2].prefer_morphisms is False
    assert config_module.estimators_from_config({}) == []


@pytest.mark.core
def test_final_training_estimator_trains_the_best_trial_and_evaluates_on_test(tiny_images, tmp_path, capsys):
    (x, y), (xv, yv), (xt, yt) = tiny_images
    data = {"x_train": x, "y_train": y, "x_val": xv, "y_val": yv, "x_test": xt, "y_test": yt}
    final = FinalTraining(data, epochs=2, batch_size=8, test_time_augmentation="flip", seed=3, verbose=1)
    tuner = RandomSearch(macro_space(), objective="val_accuracy", max_trials=2, seed=1,
                         directory=str(tmp_path), project_name="p", estimators=[final])
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=20, verbose=0)
    result = final.result
    best = tuner.oracle.get_best_trials(1)[0]
    assert result["best_trial"].trial_id == best.trial_id and result["fidelity_phase"] is None
    info = result["final_info"]
    assert info["epochs"] == 2 and info["epochs_trained"] == 2 and info["batch_size"] == 8
    assert info["init"] == "scratch" and info["seconds"] >= 0
    assert info["params"] == result["model"].count_params()  # the TTA wrapper shares the trained weights
    tta = result["test_time_augmentation"]
    assert tta["type"] == "flip" and 0.0 <= tta["test_accuracy_without_tta"] <= 1.0
    assert result["test_accuracy"] == tta["test_accuracy"] == result["test_metrics"]["accuracy"]
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["model"].name.endswith("_flip_tta")
    assert f"Final phase: training trial {best.trial_id}'s architecture for 2 epochs" in capsys.readouterr().out
    with pytest.raises(ValueError, match="init"):
        FinalTraining(data, init="warm")
    with pytest.raises(ValueError, match="test_time_augmentation"):
        FinalTraining(data, test_time_augmentation="crop")


@pytest.mark.core
def test_final_training_from_config_reads_the_search_section(tiny_images):
    (x, y), (xv, yv), (xt, yt) = tiny_images
    search = {"final_epochs": 3, "batch_size": 16, "seed": 2, "precision": "float32", "epochs": 4,
              "objective": "val_accuracy", "verbose": 0,
              "final_training": {"epochs": 5, "width_multiplier": 2, "init": "best_trial", "time_budget": 9.0}}
    final = config_module.final_training_from_config(search, {"x_test": xt, "y_test": yt})
    assert isinstance(final, FinalTraining) and final.name == "final_training"
    assert (final.epochs, final.batch_size, final.width_multiplier, final.init) == (5, 16, 2, "best_trial")
    assert (final.time_budget, final.seed, final.search_epochs, final.multi_objective) == (9.0, 2, 4, False)
    assert final.space is None and final.test_time_augmentation == "none"
