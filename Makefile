# pyheartbeat: drop-in replacement for Linux-HA Heartbeat v1.
# Everything here runs as root: the tests and the demo build network namespaces.

PYTHON ?= python3
PYTEST ?= $(PYTHON) -m pytest
APT_PACKAGES = heartbeat iputils-ping kmod busybox tcpdump nftables e2fsprogs iproute2 util-linux psmisc
PIP_PACKAGES = pyroute2 scapy netifaces pytest hypothesis
# the oldest Python we support (EL9's python3); CI's image has it through pyenv
PY39 ?= $(firstword $(wildcard /root/.pyenv/versions/3.9.*/bin/python3) $(shell command -v python3.9))
VENV39 = .venv39

.PHONY: deps install demo test unit unit39 netns39 netns bench check clean

# Debian's heartbeat 3.0.6 is installed for the interop tests only; ours runs
# from a staged tree bind-mounted into each namespace node.
deps:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; fi
	$(PYTHON) -m pip install -q --disable-pip-version-check $(PIP_PACKAGES)
	$(PYTHON) -m pip install -q --disable-pip-version-check --no-deps -e .

install: deps
	$(PYTHON) -m heartbeat.install --root $(or $(DESTDIR),/)

demo: deps
	$(PYTHON) -m tests.lab.demo

test: deps
	$(PYTEST) -q tests

unit:
	$(PYTEST) -q tests/unit

# A venv of the 3.9 interpreter with the daemon's and the tests' libraries.
$(VENV39)/ready:
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/python -m pip install -q --disable-pip-version-check $(PIP_PACKAGES)
	touch $@

# The unit suite on Python 3.9; skipped, saying so, where no 3.9 is installed.
unit39:
	@if [ -z "$(PY39)" ]; then echo "unit39: SKIPPED: no Python 3.9 found (pyenv 3.9.x or python3.9; or PY39=...)"; \
	else $(MAKE) --no-print-directory $(VENV39)/ready && $(VENV39)/bin/python -m pytest -q tests/unit; fi

netns: deps
	$(PYTEST) -q tests/netns

bench: deps
	$(PYTHON) -m tests.bench

check:
	$(PYTHON) -m heartbeat.configcheck $(or $(HA_DIR),/etc/ha.d)

clean:
	rm -rf build *.egg-info .pytest_cache .hypothesis
