"""Old import paths of keras_nas_plus, kept working after the issue-21 layout.

`import keras_nas_plus.fidelity` (or `from keras_nas_plus.oracles import
RegularizedEvolutionOracle`) gives the module at its new place, the very same
module object (so `monkeypatch.setattr` on either name patches both).
`python -m keras_nas_plus.cli` runs `keras_nas_plus.app.cli`.

Where a module was split, the old name points at the module that holds most
of it, which re-exports what moved out of it (see `SPLIT_EXPORTS`).
"""

import importlib
import importlib.abc
import importlib.util
import sys

#: old module name -> new module name.
ALIASES = {
    "keras_nas_plus.oracles": "keras_nas_plus.strategies",
    "keras_nas_plus.oracles.base": "keras_nas_plus.strategies.base",
    "keras_nas_plus.oracles.evolution": "keras_nas_plus.strategies.evolution",
    "keras_nas_plus.oracles.rl": "keras_nas_plus.strategies.rl",
    "keras_nas_plus.oracles._controller": "keras_nas_plus.strategies._controller",
    "keras_nas_plus.oracles._hp": "keras_nas_plus.strategies._hp",
    "keras_nas_plus.oracles._pareto": "keras_nas_plus.engine.pareto",
    # `from keras_nas_plus.oracles import _pareto` asks for it under the new package's name:
    "keras_nas_plus.strategies._pareto": "keras_nas_plus.engine.pareto",
    "keras_nas_plus.tuners": "keras_nas_plus.strategies.registry",
    "keras_nas_plus.curves": "keras_nas_plus.estimation.curves",
    "keras_nas_plus.callbacks": "keras_nas_plus.estimation.learning_curves",
    "keras_nas_plus.costs": "keras_nas_plus.estimation.costs",
    "keras_nas_plus.fidelity": "keras_nas_plus.app.fidelity_compat",
    "keras_nas_plus.morphism.tuning": "keras_nas_plus.estimation.inheritance",
    "keras_nas_plus.run": "keras_nas_plus.app.run",
    "keras_nas_plus.config": "keras_nas_plus.app.config",
    "keras_nas_plus.cli": "keras_nas_plus.app.cli",
    "keras_nas_plus._workers": "keras_nas_plus.app.workers",
    "keras_nas_plus.report": "keras_nas_plus.app.report",
    "keras_nas_plus.benchmarks": "keras_nas_plus.tabular",
    "keras_nas_plus.benchmarks.cli": "keras_nas_plus.tabular.cli",
    "keras_nas_plus.benchmarks.harness": "keras_nas_plus.tabular.harness",
    "keras_nas_plus.benchmarks.multiobjective": "keras_nas_plus.tabular.multiobjective",
    "keras_nas_plus.benchmarks.table": "keras_nas_plus.tabular.table",
    "keras_nas_plus.autokeras": "keras_nas_plus.integrations.autokeras",
    "keras_nas_plus.final_phase": "keras_nas_plus.estimation.final_phase",
}


#: Old packages whose other submodules live under the new package with the same name.
PACKAGE_ALIASES = {
    "keras_nas_plus.oracles": "keras_nas_plus.strategies",
    "keras_nas_plus.benchmarks": "keras_nas_plus.tabular",
}


def new_name(fullname: str):
    """The new module name of an old one, or None."""
    if fullname in ALIASES:
        return ALIASES[fullname]
    for old, new in PACKAGE_ALIASES.items():
        if fullname.startswith(old + "."):
            return new + fullname[len(old):]
    return None


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the module at its new name (no second copy)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self._target_spec = module.__spec__
        return module

    def exec_module(self, module):
        """Nothing to run: the target module ran when it was imported; it keeps its own `__spec__`."""
        module.__spec__ = self._target_spec

    def _target_loader(self):
        module = sys.modules.get(self.target)
        spec = module.__spec__ if module is not None else importlib.util.find_spec(self.target)
        return spec.loader

    def get_code(self, fullname):
        """The target's code, for `python -m <old name>` (runpy)."""
        return self._target_loader().get_code(self.target)

    def is_package(self, fullname):
        return self._target_loader().is_package(self.target)


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds the old module names of `ALIASES`."""

    def find_spec(self, fullname, path=None, target=None):
        new = new_name(fullname)
        if new is None or (new not in ALIASES.values() and importlib.util.find_spec(new) is None):
            return None
        # The target's file as the origin: `python -m <old name>` sets `sys.argv[0]` from it
        # (None there breaks libraries that read `sys.argv`, e.g. TensorFlow's import).
        target = sys.modules[new].__spec__ if new in sys.modules else importlib.util.find_spec(new)
        spec = importlib.util.spec_from_loader(fullname, _AliasLoader(new),
                                               origin=None if target is None else target.origin)
        if new in sys.modules and hasattr(sys.modules[new], "__path__"):
            spec.submodule_search_locations = list(sys.modules[new].__path__)
        return spec


def install() -> None:
    """Puts the alias finder first on `sys.meta_path` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
