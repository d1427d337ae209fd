"""`search.compilation_cache`: JAX's persistent compilation cache for a search.

Under JAX, every trial traces and XLA-compiles its train, test and predict
steps; architectures seen before (a resumed search, a re-run, the final
phase of an architecture that was a trial, several worker processes) compile
the same programs again. With a cache directory, compiled executables are
written to disk and read back by any later process with the same program,
JAX version and device. See docs/warm_start.md.
"""

import os
import warnings

import keras

_warned = False


def enable(directory: str, min_compile_time_secs: float = 0.0, min_entry_size_bytes: int = -1) -> bool:
    """Points JAX's persistent compilation cache at `directory` (JAX backend only).

    Call it before any model is built (`run_search` and each worker process
    of `search.workers` do). On another backend it warns once and does
    nothing.

    Args:
        directory: str, the cache directory (created if missing; relative
            paths are taken from the current directory).
        min_compile_time_secs: float >= 0, default 0.0. Programs that took
            less than this many seconds to compile are not written (JAX's
            default, 1 s, would skip most small trial programs).
        min_entry_size_bytes: int, default -1. Entries smaller than this many
            bytes are not written; -1: no size limit.

    Returns:
        bool, whether the cache was set (False on other backends).

    Raises:
        ValueError: if `directory` is not a non-empty string or a setting is
            out of range.
    """
    global _warned
    if not isinstance(directory, str) or not directory:
        raise ValueError(f"`compilation_cache` must be a directory path, got {directory!r}.")
    if isinstance(min_compile_time_secs, bool) or not isinstance(min_compile_time_secs, (int, float)) \
            or min_compile_time_secs < 0:
        raise ValueError(f"`min_compile_time_secs` must be a number >= 0, got {min_compile_time_secs!r}.")
    if isinstance(min_entry_size_bytes, bool) or not isinstance(min_entry_size_bytes, int) \
            or min_entry_size_bytes < -1:
        raise ValueError(f"`min_entry_size_bytes` must be an integer >= -1, got {min_entry_size_bytes!r}.")
    if keras.backend.backend() != "jax":
        if not _warned:
            warnings.warn(f"search.compilation_cache is for the JAX backend; ignored on {keras.backend.backend()}.")
            _warned = True
        return False
    import jax  # lazily: only on the JAX backend
    from jax.experimental.compilation_cache import compilation_cache

    path = os.path.abspath(directory)
    os.makedirs(path, exist_ok=True)
    changed = jax.config.jax_compilation_cache_dir != path
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", int(min_entry_size_bytes))
    if changed:  # a cache opened earlier in this process at another path is dropped
        compilation_cache.reset_cache()
    return True
