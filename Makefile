# `make run` and `make test` each do all set-up on a fresh machine (scripts/setup.sh).
VENV ?= .venv
STAMP := $(VENV)/.topnet-setup

.PHONY: setup run test test-fast clean

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup: $(STAMP)

BUDGET ?= 15m

run: $(STAMP)
	$(VENV)/bin/topnet run --data fashion-mnist --budget $(BUDGET)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q --durations=20

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow and not e2e"

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
