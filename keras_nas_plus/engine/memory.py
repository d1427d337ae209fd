"""Per-trial memory cleanup for long searches (issue 9, "Memory").

A search builds and trains one new model per trial in the same process.
Keras Tuner calls `keras.backend.clear_session()` and `gc.collect()` before
every build, yet the resident memory of a TensorFlow search still grew by
about 7 MB per trial (+332 MB over 50 small trials, see
docs/long_searches.md). The cause: every traced train step of Keras 3 on
TensorFlow goes through `tf.distribute`'s `all_reduce`, which wraps its
gradient in `tf.custom_gradient`; in graph mode that registers a gradient
function under a fresh name (`"CustomGradient-<uid>"`) in TensorFlow's
global gradient registry and never removes it. The registered closure holds
the whole traced `FuncGraph` of the train step (its operations, tensors and
the function definitions registered in the eager context), so no model's
training graph is ever freed.

`TrialMemory` records the registry's names when a trial begins and, when it
ends, removes the names that the trial added, then collects garbage and, on
glibc, returns freed heap pages to the system (`malloc_trim(0)`). On the JAX
backend it also calls `jax.clear_caches()`: JAX keeps the traces, lowerings
and executables of every model's jitted steps in process-wide caches
(+328 MB over 50 trials without it, +19 MB with it). The models
of an ended trial are never trained again (the next trial builds its own and
Keras Tuner clears the session before building it), so their gradient
functions are never looked up again.

Backend-agnostic: neither TensorFlow nor JAX is imported here; they are only
looked up in `sys.modules` when the active backend already loaded them.
Every step is best-effort and never raises.
"""

import ctypes
import ctypes.util
import gc
import sys

_TF_OPS_MODULE = "tensorflow.python.framework.ops"
_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"

_malloc_trim = None  # None: not looked up yet; False: unavailable


def _gradient_registry():
    """TensorFlow's gradient registry dict (name -> entry), or None."""
    ops = sys.modules.get(_TF_OPS_MODULE)
    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def _custom_gradient_names():
    registry = _gradient_registry()
    if registry is None:
        return set()
    return {name for name in list(registry) if isinstance(name, str) and name.startswith(_CUSTOM_GRADIENT_PREFIX)}


def trim_heap():
    """Asks glibc to return free heap memory to the system.

    Calls `malloc_trim(0)` (glibc >= 2.8 trims every arena). Does nothing
    where the C library is not glibc.

    Returns:
        bool: True if `malloc_trim` ran and released memory.
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            gnu_get_libc_version = libc.gnu_get_libc_version  # glibc only
            gnu_get_libc_version.restype = ctypes.c_char_p
            gnu_get_libc_version()
            trim = libc.malloc_trim
            trim.argtypes = [ctypes.c_size_t]
            trim.restype = ctypes.c_int
            _malloc_trim = trim
        except (OSError, AttributeError, TypeError):
            _malloc_trim = False
    if not _malloc_trim:
        return False
    try:
        return bool(_malloc_trim(0))
    except Exception:  # never let a cleanup fail a search
        return False


class TrialMemory:
    """Frees what a trial leaves behind in the process (see module docstring).

    Call `begin()` when a trial starts and `end()` when it has ended (after
    its results are recorded). `end()` without `begin()` only collects
    garbage and trims the heap.

    Attributes:
        released: int, number of TensorFlow custom-gradient registrations
            removed so far (0 on other backends).
    """

    def __init__(self):
        self._before = None
        self.released = 0

    def begin(self):
        """Remembers the gradient-registry names present before the trial."""
        try:
            self._before = _custom_gradient_names()
        except Exception:
            self._before = None

    def end(self):
        """Drops the trial's gradient registrations, collects, trims the heap."""
        try:
            if self._before is not None:
                registry = _gradient_registry()
                if registry is not None:
                    for name in _custom_gradient_names() - self._before:
                        registry.pop(name, None)
                        self.released += 1
        except Exception:
            pass
        finally:
            self._before = None
        _clear_jax_caches()  # before the one collection, which then also frees what the caches held
        gc.collect()
        trim_heap()


def _clear_jax_caches():
    """On the JAX backend, drops JAX's compilation caches (`jax.clear_caches`).

    Keras 3 jits a new train/test step per model; JAX keeps their traces,
    lowerings and executables in process-wide caches that outlive the model.
    """
    try:
        import keras

        if keras.backend.backend() != "jax":
            return
        jax = sys.modules.get("jax")
        clear = getattr(jax, "clear_caches", None)
        if clear is not None:
            clear()
    except Exception:
        pass
