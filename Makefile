# `make example`: install and run the main example; `make test`: install and run the tests.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install install-test example test test-slow test-torch

install:
	$(PIP) install -q -e ".[all]"

install-test:
	$(PIP) install -q -e ".[test]"

example: install
	keras-nas-plus search examples/fashion_mnist.yaml

# The default suite on TensorFlow, then the backend-agnostic core under JAX.
test: install-test
	$(PYTHON) -m pytest
	KERAS_BACKEND=jax $(PYTHON) -m pytest -m "core and not slow"

test-slow: install-test
	$(PYTHON) -m pytest -m slow

test-torch: install-test
	$(PIP) install -q torch==2.13.0
	KERAS_BACKEND=torch $(PYTHON) -m pytest -m "core or torch"
