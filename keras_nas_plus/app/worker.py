"""A worker process of `search.workers` (started by `keras_nas_plus.app.workers`)."""

import json
import os

import keras

from keras_nas_plus.app import run
from keras_nas_plus.app import workers
from keras_nas_plus.engine import chief as chief_module
from keras_nas_plus.engine import compilation_cache


def run_worker(directory):
    """A worker's whole life: the run's config, its data, then trials until STOPPED."""
    workers.exit_with_parent()
    with open(os.path.join(directory, run.CONFIG_FILE)) as f:
        config = json.load(f)
    search = dict(config["search"], time_budget=None)  # the chief keeps the budget
    config = dict(config, search=search)
    if search.get("compilation_cache"):  # before any model is built (issue 23)
        compilation_cache.enable(search["compilation_cache"])
    keras.utils.set_random_seed(search["seed"])
    data = run.load_data(config["data"], search["seed"])
    space = run.build_space(config["space"], data)
    tuner = run.build_tuner(config, space, overwrite=False)
    tuner.progress = search["verbose"] >= 1
    args, kwargs = run.search_arguments(data, search)
    with chief_module.quiet_condition_prints():
        tuner.search(*args, **kwargs)

