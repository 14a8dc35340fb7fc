# pyheartbeat: drop-in replacement for Linux-HA Heartbeat v1.
# Everything here runs as root: the tests and the demo build network namespaces.

PYTHON ?= python3
PYTEST ?= $(PYTHON) -m pytest
APT_PACKAGES = heartbeat iputils-ping kmod busybox tcpdump nftables e2fsprogs iproute2 util-linux psmisc pacemaker pacemaker-cli-utils corosync resource-agents crmsh
PIP_PACKAGES = pyroute2 scapy netifaces pytest hypothesis

.PHONY: deps install demo test unit netns bench check clean

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

netns: deps
	$(PYTEST) -q tests/netns

bench: deps
	$(PYTHON) -m tests.bench

check:
	$(PYTHON) -m heartbeat.configcheck $(or $(HA_DIR),/etc/ha.d)

clean:
	rm -rf build *.egg-info .pytest_cache .hypothesis
