# Two entry points for a fresh machine: `make run` (set up, then the Drell–Yan workflow) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint sandbox browser benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	# an editable install leaves our own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is set every command
	# and tool then compiles them anew (0.1 s of each start-up); a source edited later is compiled as before
	$(BIN)/python -m compileall -q madagents tools
	touch $@

# KaTeX for `madagents serve`'s maths comes from the npm registry, once; it is third-party code, never committed
KATEX := madagents/web/static/katex/VERSION
$(KATEX): scripts/vendor-katex.sh
	bash scripts/vendor-katex.sh

setup: $(STAMP) $(KATEX)

run: setup
	$(BIN)/madagents run workflows/drell_yan.yaml --sandbox local

lint: setup
	$(BIN)/ruff check madagents tools tests benchmarks
	$(BIN)/ruff format --check madagents tools tests benchmarks
	$(BIN)/mypy

# The docker backend's daemon and images. As root, installs docker.io + debootstrap and starts dockerd when needed.
# hep-full is built from the release tarballs in VENDOR when that directory exists (in CI: the repository is cloned
# beside shared/), ml from the CPU torch wheel this machine's pip takes (containers/README.md).
# Without a daemon the docker tests are skipped with a reason, except in CI, where that is an error.
VENDOR ?= ../shared/vendor
sandbox: setup
	@if [ "$$(id -u)" = 0 ]; then bash containers/install-docker.sh; fi
	@if docker info >/dev/null 2>&1; then $(BIN)/madagents images build hep && $(BIN)/madagents images build ml \
	    && if [ -d "$(VENDOR)" ]; then $(BIN)/madagents images build hep-full --source "$(VENDOR)"; \
	       else echo "make sandbox: no $(VENDOR); hep-full not built (madagents images build hep-full)"; fi; \
	elif [ -n "$$CI" ]; then echo "make sandbox: CI needs a Docker daemon" >&2; exit 1; \
	else echo "make sandbox: no Docker daemon; the docker tests will be skipped"; fi

# The browser tests drive Debian's chromium through chromium-driver (selenium). As root, apt-get installs them when
# missing; elsewhere the tests skip with the reason, except in CI, where that is an error.
browser:
	@if [ "$$(id -u)" = 0 ] && ! { command -v chromium && command -v chromedriver; } >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver >/dev/null; fi

test: lint sandbox browser
	$(BIN)/pytest

benchmark: setup
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) runs
