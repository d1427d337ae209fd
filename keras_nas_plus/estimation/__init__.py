"""Performance estimation: how well a candidate architecture is judged, cheaply.

One protocol, `Estimator` (`base.py`), with hooks at the points a trial goes
through; implementations: `LowerFidelity` (`fidelity.py`),
`LearningCurveEstimator` (`learning_curves.py`), `WeightInheritance`
(`inheritance.py`), `FinalTraining` (`final_phase.py`: the final phase,
with the top-k re-training of `final.py`). Also the learning-curve math
(`curves.py`) and the cost metrics (`costs.py`).
"""

from keras_nas_plus.estimation.base import Estimator
from keras_nas_plus.estimation.fidelity import Fidelity
from keras_nas_plus.estimation.fidelity import LowerFidelity
from keras_nas_plus.estimation.final_phase import FinalTraining
from keras_nas_plus.estimation.inheritance import WeightInheritance
from keras_nas_plus.estimation.learning_curves import LearningCurveEstimator

__all__ = ["Estimator", "Fidelity", "FinalTraining", "LowerFidelity", "LearningCurveEstimator", "WeightInheritance"]
