import itertools

import keras
import keras_tuner
import numpy as np
import pytest

from keras_nas_plus.spaces import nb201
from keras_nas_plus.spaces.nb201 import NASBench201Space, arch_to_values, values_to_arch

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.core
def test_round_trip_all_cells():
    archs = nb201.all_archs()
    assert len(archs) == 15625 == len(set(archs))
    for ops in itertools.product(nb201.OPERATIONS, repeat=6):
        values = dict(zip(nb201.EDGE_NAMES, ops))
        arch = values_to_arch(values)
        assert arch_to_values(arch) == values
        assert values_to_arch(arch_to_values(arch)) == arch


@pytest.mark.core
def test_example_string():
    v = arch_to_values(EXAMPLE)
    assert v == {
        "edge_1<-0": "nor_conv_3x3",
        "edge_2<-0": "nor_conv_3x3",
        "edge_2<-1": "avg_pool_3x3",
        "edge_3<-0": "skip_connect",
        "edge_3<-1": "nor_conv_3x3",
        "edge_3<-2": "skip_connect",
    }
    assert nb201.arch_to_indices(EXAMPLE) == (3, 3, 4, 1, 3, 1)


@pytest.mark.core
@pytest.mark.parametrize(
    "bad",
    [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|",
        "|conv~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "nor_conv_3x3~0+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    ],
)
def test_bad_strings(bad):
    with pytest.raises(ValueError):
        arch_to_values(bad)
    with pytest.raises(ValueError, match="edge_3<-2"):
        values_to_arch({k: "none" for k in nb201.EDGE_NAMES[:5]})


def _tiny_data(n=8, size=8):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3)).astype("uint8"), rng.integers(0, 10, n)


@pytest.mark.core
@pytest.mark.parametrize("arch", [EXAMPLE, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_build_and_train_one_step(arch):
    space = NASBench201Space(input_shape=(8, 8, 3), filters=4, num_cells=1, default_arch=arch)
    hp = keras_tuner.HyperParameters()
    model = space.build(hp)
    assert sorted(hp.values) == sorted(nb201.EDGE_NAMES)
    assert values_to_arch(hp.values) == arch
    x, y = _tiny_data()
    logs = model.fit(x, y, batch_size=4, epochs=1, steps_per_epoch=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    assert model.output_shape == (None, 10)
    names = [layer.name for layer in model.layers]
    if arch == EXAMPLE:
        assert "stage0_cell0_edge_2_1_avg_pool_3x3_pool" in names
        assert "stage2_cell0_edge_3_1_nor_conv_3x3_conv" in names
        bn = model.get_layer("stem_bn")
        assert bn.momentum == 0.9


@pytest.mark.core
def test_config_round_trip_and_validation():
    space = NASBench201Space(input_shape=(8, 8, 3), filters=4, num_cells=2, num_classes=3)
    clone = NASBench201Space.from_config(space.get_config())
    assert clone.get_config() == space.get_config()
    with pytest.raises(ValueError, match="filters"):
        NASBench201Space(filters=0)
    with pytest.raises(ValueError, match="bn_momentum"):
        NASBench201Space(bn_momentum=1.5)


@pytest.mark.core
def test_canonical_values():
    canon = lambda a: values_to_arch(nb201.canonical_values(arch_to_values(a)))
    # node 1 feeds nothing that reaches the output: its input edge is dead
    assert canon("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|") == (
        "|none~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    )
    # no path from input to output: all-none
    assert canon("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|avg_pool_3x3~2|") == (
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    )
    # nodes 1 and 2 swap when edge 2<-1 is none
    a = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|"
    b = "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    assert canon(a) == canon(b) == b
    classes = {canon(a) for a in nb201.all_archs()}
    assert len(classes) < 15625
    assert canon(EXAMPLE) == EXAMPLE
