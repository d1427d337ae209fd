"""Search spaces as Keras Tuner HyperModels.

* `MacroSearchSpace`: chain-structured networks, optionally with skip
  connections (the "complex" macro space), for images and 1-D signals.
* `CellSearchSpace`: NASNet/DARTS-style normal and reduction cells, stacked;
  `build_cell` puts one searchable cell inside your own model.
* `NASBench201Space`: the 15,625-cell NAS-Bench-201 space, with conversion
  to and from its architecture strings.
* `ResidualSearchSpace`: pre-activation residual networks (Wide ResNets),
  with the Wide ResNet training recipe and named reference points.
"""

from keras_nas_plus.spaces.cell import CellSearchSpace
from keras_nas_plus.spaces.cell import build_cell
from keras_nas_plus.spaces.macro import MacroSearchSpace
from keras_nas_plus.spaces.nb201 import NASBench201Space
from keras_nas_plus.spaces.nb201 import arch_to_values
from keras_nas_plus.spaces.nb201 import values_to_arch
from keras_nas_plus.spaces.residual import ResidualSearchSpace
