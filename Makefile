# The two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-tf2.15 fuzz bench samples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) demo/run_demo.py

test: $(STAMP)
	$(PY) -m pytest -n 2 -q tests

# The recording, seed and trust tests under the oldest TensorFlow tftrace supports (2.15,
# with Keras 2): a second venv, build/venv-tf2.15, also used by sample_traces/make_samples.py.
# tf-keras is installed without its dependencies, else pip pulls the full tensorflow 2.15 wheel.
TF215 := build/venv-tf2.15
TF215_STAMP := $(TF215)/.installed-tests
TF215_TESTS := tests/recording tests/format/test_output.py tests/capture/test_summaries.py

$(TF215_STAMP):
	$(PYTHON) -m venv $(TF215)
	$(TF215)/bin/python -m pip install --quiet --upgrade pip
	$(TF215)/bin/python -m pip install --quiet tensorflow-cpu==2.15.1 numpy==1.26.4 tf-slim==1.1.0 \
		zarr==3.1.5 msgpack click ml_dtypes "pytest>=8.0" pytest-xdist
	$(TF215)/bin/python -m pip install --quiet --no-deps tf-keras==2.15.1
	$(TF215)/bin/python -m pip install --quiet --no-deps -e .
	touch $(TF215)/.installed $@

test-tf2.15: $(TF215_STAMP)
	$(TF215)/bin/python -m pytest -n 2 -q $(TF215_TESTS)

# The long fuzz run of the trace reader (make test runs 300 cases); FUZZ_SAMPLES=all adds the
# 2.3 MB Inception v2 samples (about 0.4 s a case). Figures: docs/format.md, "Fuzzed".
FUZZ_CASES ?= 2000
FUZZ_SAMPLES ?= small
fuzz: $(STAMP)
	$(PY) tests/format/fuzz_traces.py --cases $(FUZZ_CASES) --samples $(FUZZ_SAMPLES)

# Regenerate sample_traces/ (sample 4 creates build/venv-tf2.15 with TensorFlow 2.15 on first use).
samples: $(STAMP)
	$(PY) sample_traces/make_samples.py

bench: $(STAMP)
	$(PY) benchmarks/write_read.py

clean:
	rm -rf $(VENV) build *.egg-info
