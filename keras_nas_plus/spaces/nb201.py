"""The NAS-Bench-201 cell search space as a trainable Keras Tuner HyperModel.

Reference:
    Xuanyi Dong and Yi Yang, "NAS-Bench-201: Extending the Scope of
    Reproducible Neural Architecture Search", ICLR 2020, Section 2.1
    (search space) and Figure 1 (macro skeleton).
"""

import itertools

import keras
import keras_tuner

from keras_nas_plus.spaces._common import classifier_head
from keras_nas_plus.spaces._common import compile_network
from keras_nas_plus.spaces._common import space_config

OPERATIONS = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
"""The 5 candidate operations of an edge, in the benchmark's standard order."""

NUM_NODES = 4
"""Nodes of a cell: node 0 is the cell input, node 3 the cell output."""

EDGES = tuple((j, i) for j in range(1, NUM_NODES) for i in range(j))
"""The 6 edges ``(to_node, from_node)`` in the standard architecture-string order."""

EDGE_NAMES = tuple(f"edge_{j}<-{i}" for j, i in EDGES)
"""Hyperparameter names of the 6 edges: ``"edge_1<-0"``, ..., ``"edge_3<-2"``."""

NUM_CELLS_IN_SPACE = len(OPERATIONS) ** len(EDGES)  # 15,625


def _check_op(op, where):
    if op not in OPERATIONS:
        raise ValueError(
            f"Unknown NAS-Bench-201 operation {op!r} in {where}; "
            f"expected one of {list(OPERATIONS)}."
        )


def values_to_arch(values):
    """Converts hyperparameter values to a NAS-Bench-201 architecture string.

    Args:
        values: dict (or `keras_tuner.HyperParameters`) mapping each of the 6
            edge names in `EDGE_NAMES` (e.g. ``"edge_2<-1"``) to an operation
            name in `OPERATIONS`. Other keys are ignored.

    Returns:
        str, the standard architecture string, e.g.
        ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"``.

    Raises:
        ValueError: if an edge is missing or holds an unknown operation.
    """
    if isinstance(values, keras_tuner.HyperParameters):
        values = values.values
    nodes = []
    for j in range(1, NUM_NODES):
        tokens = []
        for i in range(j):
            name = f"edge_{j}<-{i}"
            if name not in values:
                raise ValueError(f"`values` lacks the edge {name!r}; got keys {sorted(values)}.")
            _check_op(values[name], f"values[{name!r}]")
            tokens.append(f"{values[name]}~{i}")
        nodes.append("|" + "|".join(tokens) + "|")
    return "+".join(nodes)


def arch_to_values(arch):
    """Parses a NAS-Bench-201 architecture string into hyperparameter values.

    Args:
        arch: str, e.g. ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"``:
            node j's incoming edges ``op~i`` from node i, nodes separated by ``+``.

    Returns:
        dict mapping the 6 names in `EDGE_NAMES` to operation names.

    Raises:
        ValueError: if the string is malformed (wrong node count, edge order,
            source index or operation).
    """
    if not isinstance(arch, str):
        raise ValueError(f"`arch` must be a str, got {arch!r}.")
    nodes = arch.split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ValueError(
            f"`arch` must have {NUM_NODES - 1} nodes separated by '+', got {arch!r}."
        )
    values = {}
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise ValueError(f"Node {j} of `arch` must look like '|op~i|...|', got {node!r}.")
        tokens = node[1:-1].split("|")
        if len(tokens) != j:
            raise ValueError(f"Node {j} of `arch` must have {j} edges, got {node!r}.")
        for i, token in enumerate(tokens):
            op, sep, src = token.partition("~")
            if sep != "~" or src != str(i):
                raise ValueError(
                    f"Edge {i} of node {j} in `arch` must be 'op~{i}', got {token!r}."
                )
            _check_op(op, f"arch {arch!r}")
            values[f"edge_{j}<-{i}"] = op
    return values


def arch_to_indices(arch):
    """Returns the 6 operation indices (into `OPERATIONS`) of an architecture string.

    Args:
        arch: str, an architecture string (see `arch_to_values`).

    Returns:
        tuple of 6 ints in edge order `EDGE_NAMES`.

    Raises:
        ValueError: if the string is malformed.
    """
    values = arch_to_values(arch)
    return tuple(OPERATIONS.index(values[name]) for name in EDGE_NAMES)


def all_archs():
    """Enumerates all 15,625 architecture strings of the space.

    Returns:
        list of str, in lexicographic order of operation indices
        (edge ``"edge_1<-0"`` varies slowest).
    """
    return [
        values_to_arch(dict(zip(EDGE_NAMES, ops)))
        for ops in itertools.product(OPERATIONS, repeat=len(EDGES))
    ]


def canonical_values(values):
    """Maps a cell to a canonical representative of its equivalence class.

    Two cells compute the same function when they differ only on edges that
    lie on no input-to-output path of non-``none`` edges (such edges are set
    to ``none``), or by swapping the interchangeable nodes 1 and 2 when the
    edge ``"edge_2<-1"`` is ``none``. A cell with no such path maps to the
    all-``none`` cell.

    Args:
        values: dict (or `keras_tuner.HyperParameters`) with the 6 edge names.

    Returns:
        dict edge name -> operation (other keys of `values` are dropped).
    """
    if isinstance(values, keras_tuner.HyperParameters):
        values = values.values
    ops = {e: values[n] for e, n in zip(EDGES, EDGE_NAMES)}
    live = {e: op != "none" for e, op in ops.items()}
    from_input = {0}
    for j in range(1, NUM_NODES):
        if any(live[(j, i)] and i in from_input for i in range(j)):
            from_input.add(j)
    to_output = {NUM_NODES - 1}
    for i in range(NUM_NODES - 2, -1, -1):
        if any(live[(j, i)] and j in to_output for j in range(i + 1, NUM_NODES)):
            to_output.add(i)
    if NUM_NODES - 1 not in from_input:
        return {n: "none" for n in EDGE_NAMES}
    kept = [
        ops[e] if (live[e] and e[1] in from_input and e[0] in to_output) else "none" for e in EDGES
    ]
    if kept[2] == "none":  # nodes 1 and 2 are interchangeable
        swapped = [kept[1], kept[0], "none", kept[3], kept[5], kept[4]]
        rank = [OPERATIONS.index(o) for o in kept]
        if [OPERATIONS.index(o) for o in swapped] < rank:
            kept = swapped
    return dict(zip(EDGE_NAMES, kept))


def define_hyperparameters(hp, default=None):
    """Declares the 6 edge `Choice` hyperparameters on `hp`.

    Args:
        hp: `keras_tuner.HyperParameters`.
        default: optional dict edge name -> operation, or architecture string,
            for the defaults (default: ``nor_conv_3x3`` on every edge).

    Returns:
        dict mapping edge names to the chosen operation names.
    """
    if isinstance(default, str):
        default = arch_to_values(default)
    default = default or {}
    return {
        name: hp.Choice(name, list(OPERATIONS), default=default.get(name, "nor_conv_3x3"))
        for name in EDGE_NAMES
    }


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class Zeros(keras.layers.Layer):
    """Outputs zeros of the input's shape (the ``none`` operation)."""

    def call(self, inputs):
        return keras.ops.zeros_like(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


def _relu_conv_bn(x, filters, kernel_size, strides, name, bn_momentum):
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    return keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)


def _edge(x, op, filters, name, bn_momentum):
    if op == "skip_connect":
        return x
    if op == "nor_conv_1x1":
        return _relu_conv_bn(x, filters, 1, 1, name, bn_momentum)
    if op == "nor_conv_3x3":
        return _relu_conv_bn(x, filters, 3, 1, name, bn_momentum)
    if op == "avg_pool_3x3":
        return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    raise ValueError(f"Unknown operation {op!r}.")  # pragma: no cover


def build_nb201_cell(inputs, ops, filters, name="cell", bn_momentum=0.9):
    """Applies one NAS-Bench-201 cell to a tensor.

    Node 0 is `inputs`; node j is the sum over i < j of operation
    ``ops["edge_{j}<-{i}"]`` applied to node i; node 3 is the output.
    ``none`` edges contribute zeros.

    Args:
        inputs: 4D tensor (batch, height, width, `filters`) channels-last.
        ops: dict edge name -> operation, or an architecture string.
        filters: int, channels of the cell (input and output).
        name: str, prefix for layer names (default ``"cell"``); an edge's
            layers are named ``f"{name}_edge_{j}_{i}_{op}_..."``.
        bn_momentum: float, BatchNormalization momentum (default 0.9).

    Returns:
        4D tensor of the same shape as `inputs`.

    Raises:
        ValueError: on a malformed architecture.
    """
    if isinstance(ops, str):
        ops = arch_to_values(ops)
    nodes = [inputs]
    for j in range(1, NUM_NODES):
        terms = []
        for i in range(j):
            op = ops[f"edge_{j}<-{i}"]
            _check_op(op, f"edge_{j}<-{i}")
            if op == "none":
                continue
            terms.append(_edge(nodes[i], op, filters, f"{name}_edge_{j}_{i}_{op}", bn_momentum))
        if not terms:
            node = Zeros(name=f"{name}_node{j}_zeros")(inputs)
        elif len(terms) == 1:
            node = terms[0]
        else:
            node = keras.layers.Add(name=f"{name}_node{j}_add")(terms)
        nodes.append(node)
    return nodes[-1]


def _residual_reduction(x, filters, name, bn_momentum):
    y = _relu_conv_bn(x, filters, 3, 2, f"{name}_a", bn_momentum)
    y = _relu_conv_bn(y, filters, 3, 1, f"{name}_b", bn_momentum)
    s = keras.layers.AveragePooling2D(2, strides=2, padding="same", name=f"{name}_short_pool")(x)
    s = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_short_conv")(s)
    return keras.layers.Add(name=f"{name}_add")([s, y])


@keras.saving.register_keras_serializable(package="keras_nas_plus")
class NASBench201Space(keras_tuner.HyperModel):
    """The NAS-Bench-201 cell search space (6 edges x 5 operations = 15,625 cells).

    The network: input Rescaling (uint8 -> [0, 1]), a 3x3 stem convolution
    with `filters` channels + BatchNormalization, 3 stages of `num_cells`
    identical cells with `filters`, 2 `filters`, 4 `filters` channels joined
    by residual reduction blocks (ResNet basic block, stride 2), then
    BatchNormalization, ReLU, global average pooling and a softmax classifier.
    Hyperparameters: ``"edge_1<-0"`` ... ``"edge_3<-2"``, each a `Choice` of
    `OPERATIONS`. Convert with `values_to_arch` / `arch_to_values`.

    Args:
        input_shape: tuple (height, width, channels), default (32, 32, 3).
        num_classes: int >= 2, default 10.
        filters: int >= 1, channels C of the first stage, default 16.
        num_cells: int >= 1, cells per stage N, default 5.
        rescale: float or None, factor of the input Rescaling layer, default
            1/255 (for uint8 images); None leaves inputs untouched.
        bn_momentum: float in (0, 1), BatchNormalization momentum, default 0.9.
        learning_rate: float > 0, Adam learning rate, default 1e-3.
        optimizer, loss, metrics: optional compile overrides (Keras
            identifiers); defaults Adam, sparse categorical crossentropy,
            ``["accuracy"]``.
        default_arch: optional architecture string for the hyperparameter
            defaults.
        name: str, HyperModel name. tunable: bool.

    Raises:
        ValueError: on an invalid argument.

    Reference:
        Dong & Yang, "NAS-Bench-201", ICLR 2020, Section 2.1.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        filters=16,
        num_cells=5,
        rescale=1.0 / 255.0,
        bn_momentum=0.9,
        learning_rate=1e-3,
        optimizer=None,
        loss=None,
        metrics=None,
        default_arch=None,
        name="nas_bench_201",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"`input_shape` must be (height, width, channels), got {input_shape!r}.")
        for arg, val in (("num_classes", num_classes), ("filters", filters), ("num_cells", num_cells)):
            if not isinstance(val, int) or val < 1:
                raise ValueError(f"`{arg}` must be a positive int, got {val!r}.")
        if num_classes < 2:
            raise ValueError(f"`num_classes` must be >= 2, got {num_classes!r}.")
        if not 0.0 < bn_momentum < 1.0:
            raise ValueError(f"`bn_momentum` must be in (0, 1), got {bn_momentum!r}.")
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
        if default_arch is not None:
            arch_to_values(default_arch)
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.filters = filters
        self.num_cells = num_cells
        self.rescale = rescale
        self.bn_momentum = bn_momentum
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.default_arch = default_arch

    def build_network(self, ops):
        """Builds the (uncompiled) network of one cell.

        Args:
            ops: dict edge name -> operation, or an architecture string.

        Returns:
            `keras.Model`.
        """
        if isinstance(ops, str):
            ops = arch_to_values(ops)
        m = self.bn_momentum
        inputs = keras.Input(self.input_shape, name="image")
        x = inputs
        if self.rescale is not None:
            x = keras.layers.Rescaling(self.rescale, name="rescale")(x)
        x = keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False, name="stem_conv")(x)
        x = keras.layers.BatchNormalization(momentum=m, name="stem_bn")(x)
        for stage in range(3):
            c = self.filters * 2**stage
            if stage > 0:
                x = _residual_reduction(x, c, f"reduce{stage}", m)
            for k in range(self.num_cells):
                x = build_nb201_cell(x, ops, c, name=f"stage{stage}_cell{k}", bn_momentum=m)
        x = keras.layers.BatchNormalization(momentum=m, name="head_bn")(x)
        return classifier_head(inputs, x, self.num_classes, self.name)

    def build(self, hp):
        """Builds and compiles the network chosen by `hp`.

        Args:
            hp: `keras_tuner.HyperParameters`.

        Returns:
            compiled `keras.Model`.
        """
        ops = define_hyperparameters(hp, self.default_arch)
        model = self.build_network(ops)
        return compile_network(self, model)

    def get_config(self):
        """Returns the constructor arguments as a JSON-serialisable dict."""
        return space_config(self, filters=self.filters, num_cells=self.num_cells, default_arch=self.default_arch)

    @classmethod
    def from_config(cls, config):
        """Creates the space from `get_config()` output."""
        return cls(**config)
