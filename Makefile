# `make up` and `make test` install whatever is missing on a Debian 12 machine (as root), then act.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := lxc lxc-dev pkg-config gcc etcd-server etcd-client busybox-static uidmap iproute2 debootstrap rsync lxcfs chromium nftables openssl zstd systemd
PYTEST_ARGS ?=
# Test files run in this many pytest-xdist workers at once (most e2e time is waiting on LXC, etcd and timers).
TEST_WORKERS ?= 2

.PHONY: deps apt venv up down test unit lint clean screenshots

deps: apt venv

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | apt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

up: deps
	@# Put `dlxc` on PATH unless another one is there already.
	@if [ ! -e /usr/local/bin/dlxc ] || [ -L /usr/local/bin/dlxc ]; then ln -sfn $(CURDIR)/$(BIN)/dlxc /usr/local/bin/dlxc; fi
	$(BIN)/dlxc up

down: venv
	$(BIN)/dlxc down

test: deps
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# The dashboard figures in docs/ (README), from a simulated cluster in Debian's chromium.
screenshots: deps
	$(BIN)/python bench/screenshots.py --out docs

clean:
	rm -rf $(VENV) build *.egg-info
