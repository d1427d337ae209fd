"""Weight inheritance between architectures of a search space."""

from keras_nas_plus.morphism import _graph as g
from keras_nas_plus.morphism._transfer import Transfer


def inherit_weights(parent_model, child_model):
    """Initialise a child model from a parent's weights, in place.

    Layers are matched by name (our search spaces give layers stable names
    derived from their hyperparameters) and class. For each weighted layer
    of the child:

    - identical shapes, identical inputs: weights are copied ("inherited");
    - changed width (units/filters) or kernel size, or an input whose
      channels were replicated/dropped upstream: the parent's weights are
      morphed Net2Net-style - replicated units (new unit j copies unit
      j mod width), incoming weights split by the replication count,
      truncated units when narrower, zero-padded (or centre-cropped)
      kernels, replicated BatchNormalization statistics ("morphed");
    - a new Dense/Conv/Depthwise/Separable layer whose input and output
      widths agree, or a new BatchNormalization, starts as the identity
      (Net2DeeperNet), a new layer that starts a branch merged by an Add
      starts as zero, channels a new Concatenate input adds get zero
      incoming weights downstream;
    - anything else keeps its initialiser's values ("fresh").

    When the child differs from the parent only by widening, deepening,
    skip connections and larger kernels, the child computes the parent's
    function (`report.function_preserving` is True).

    Args:
        parent_model: `keras.Model` (functional or built Sequential), the
            trained parent; not modified.
        child_model: `keras.Model`, freshly built child; its weights are
            overwritten in place.

    Returns:
        `InheritanceReport` with lists of layer names: `inherited`,
        `morphed`, `identity`, `zero`, `fresh`, `lossy` (transformations
        that change the function), and `as_dict()`.

    Raises:
        ValueError: if either argument is not a functional/Sequential
            Keras model.

    Reference:
        Chen, Goodfellow & Shlens, "Net2Net", ICLR 2016; Wei et al.,
        "Network Morphism", ICML 2016; Elsken, Metzen & Hutter, "Efficient
        Multi-objective Neural Architecture Search via Lamarckian
        Evolution", ICLR 2019 (weight inheritance in evolution).
    """
    g.check_model(parent_model)
    g.check_model(child_model)
    return Transfer(parent_model, child_model, strict=False).run()
