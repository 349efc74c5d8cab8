# The two commands of the README:
#   make validate   set up .venv and run `lifbridge validate` on the bundled models
#   make test       set up .venv and run the test suite
# Both install the Debian packages they need (as root) and the Python packages into .venv.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
EXTRAS ?= nest,pynn,spinnaker,nir,test

.PHONY: setup validate test benchmark clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	# PyNN's own NEURON mechanisms, compiled once by NEURON's nrnivmodl (found on PATH)
	if $(BIN)/python -c "import pyNN, neuron" 2>/dev/null; then \
		PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -c "from lifbridge.pynn.neuron import import_pynn_neuron; import_pynn_neuron()"; fi
	touch $@

validate: setup
	$(BIN)/lifbridge validate

test: setup
	$(BIN)/python -m pytest -q -ra

benchmark: setup
	$(BIN)/python benchmarks/nest_vs_builtin.py
	$(BIN)/python benchmarks/brian2_vs_handwritten.py
	$(BIN)/python benchmarks/validate_runtime.py

clean:
	rm -rf $(VENV) lifbridge-report
