"""Network morphism: function-preserving model transformations (Net2Net).

Public API: `widen`, `deepen`, `add_skip`, `enlarge_kernel`,
`inherit_weights` and `InheritanceReport`.
"""

from keras_nas_plus.morphism._maps import InheritanceReport
from keras_nas_plus.morphism.inherit import inherit_weights
from keras_nas_plus.morphism.operations import add_skip
from keras_nas_plus.morphism.operations import deepen
from keras_nas_plus.morphism.operations import enlarge_kernel
from keras_nas_plus.morphism.operations import widen

__all__ = ["widen", "deepen", "add_skip", "enlarge_kernel",
           "inherit_weights", "InheritanceReport"]
