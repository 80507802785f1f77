# The two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz bench samples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) demo/run_demo.py

test: $(STAMP)
	$(PY) -m pytest -n 2 -q tests

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
