"""`search.compilation_cache`: JAX's persistent compilation cache (issue 23)."""

import os
import warnings

import keras
import numpy as np
import pytest

from keras_nas_plus.config import ConfigError
from keras_nas_plus.config import validate_config
from keras_nas_plus.engine import compilation_cache

pytestmark = pytest.mark.core

on_jax = pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's compilation cache")


def test_config_key_is_validated():
    assert validate_config({})["search"]["compilation_cache"] is None
    assert validate_config({"search": {"compilation_cache": "cache"}})["search"]["compilation_cache"] == "cache"
    with pytest.raises(ConfigError, match="search.compilation_cache"):
        validate_config({"search": {"compilation_cache": 3}})
    with pytest.raises(ValueError, match="compilation_cache"):
        compilation_cache.enable("")


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the other backends ignore it")
def test_other_backends_warn_once_and_ignore(tmp_path, monkeypatch):
    monkeypatch.setattr(compilation_cache, "_warned", False)
    with pytest.warns(UserWarning, match="for the JAX backend"):
        assert compilation_cache.enable(str(tmp_path / "c")) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compilation_cache.enable(str(tmp_path / "c")) is False
    assert not os.path.exists(tmp_path / "c")


@on_jax
def test_jax_config_is_set_and_a_tiny_search_fills_the_cache(tmp_path):
    import jax

    from test_config_cli import tiny_config

    from keras_nas_plus.run import run_search

    previous = jax.config.jax_compilation_cache_dir
    cache = tmp_path / "xla_cache"
    try:
        config = tiny_config(tmp_path, max_trials=1, compilation_cache=str(cache))
        run_search(validate_config(config))
        assert jax.config.jax_compilation_cache_dir == str(cache)
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
        assert jax.config.jax_persistent_cache_min_entry_size_bytes == -1
        entries = os.listdir(cache)
        assert len(entries) >= 2, entries  # at least the train and test steps
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        from jax.experimental.compilation_cache import compilation_cache as cc

        cc.reset_cache()


@on_jax
def test_enable_then_fit_writes_entries(tmp_path):
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    previous = jax.config.jax_compilation_cache_dir
    try:
        assert compilation_cache.enable(str(tmp_path / "c")) is True
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(5)(inputs))
        model.compile("sgd", "mse")
        model.fit(np.ones((8, 3), "float32"), np.ones((8, 5), "float32"), epochs=1, verbose=0)
        assert os.listdir(tmp_path / "c")
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        cc.reset_cache()
