# pyheartbeat: drop-in replacement for Linux-HA Heartbeat v1.
# Everything here runs as root: the tests and the demo build network namespaces.

PYTHON ?= python3
PYTEST ?= $(PYTHON) -m pytest
# what the tests and the packaging need (rpm: rpmbuild for `make rpm`); not installed by `make install`
APT_PACKAGES = heartbeat iputils-ping kmod busybox tcpdump nftables e2fsprogs iproute2 util-linux psmisc rpm \
	pacemaker pacemaker-cli-utils corosync resource-agents crmsh
RUNTIME_PIP =
# scapy: the tests read captures with it and use it as an independent oracle for wire bytes;
# pytest-xdist: the unit tier runs on every core (under a minute on two)
TEST_PIP = scapy pytest hypothesis pytest-xdist
# the lint gate (`make lint`), pinned so that a new release cannot turn a green tree red;
# the newest mypy that still runs on 3.9
LINT_PIP = ruff==0.17.6 mypy==1.19.1
PIP_PACKAGES = $(RUNTIME_PIP) $(TEST_PIP) $(LINT_PIP) build wheel
# the oldest Python we support (EL9's python3); CI's image has it through pyenv
PY39 ?= $(firstword $(wildcard /root/.pyenv/versions/3.9.*/bin/python3) $(shell command -v python3.9))
VENV39 = .venv39

VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' heartbeat/__init__.py)
PIP_INSTALL_FLAGS ?=
# what ../shared/tools/hb21/build.sh needs to build heartbeat 2.1.3, the 2.1.x interop peer
HB21_APT_PACKAGES = build-essential autoconf automake libtool libtool-bin pkg-config libglib2.0-dev \
	libxml2-dev libbz2-dev zlib1g-dev libltdl-dev uuid-dev libnet1-dev flex bison libpam0g-dev libgnutls28-dev net-tools

.PHONY: deps hb21 install dist rpm demo lint test unit unit39 netns39 netns interop bench check clean

# Test and build dependencies. Debian's heartbeat 3.0.6 is installed for the
# interop tests only; ours runs from a staged tree bind-mounted into each
# namespace node, importing this checkout. An editable install left by an older
# `make deps` would make every command import another tree: it goes.
deps:
	@if ! dpkg -s $(APT_PACKAGES) $(HB21_APT_PACKAGES) >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) $(HB21_APT_PACKAGES) >/dev/null; fi
	$(PYTHON) -m pip install -q --disable-pip-version-check $(PIP_PACKAGES)
	@if $(PYTHON) -m pip show pyheartbeat 2>/dev/null | grep -q '^Editable project location'; then \
	    $(PYTHON) -m pip uninstall -q -y pyheartbeat; fi

# heartbeat 2.1.3 in /opt/hb21, built once (a minute) from ../shared/tools/hb21; the lab
# builds it on first use too, this only does it ahead of time
hb21: deps
	$(PYTHON) -m tests.lab.hb21

# The daemon on this host: a copy of the package (it needs no other library) in
# $(PYTHON)'s site-packages (nothing else: no test tools, no apt packages), then
# the files laid out under $(DESTDIR) (default /). -I: the layout step imports
# the installed copy, not this checkout.
install:
	$(PYTHON) -m pip install -q --disable-pip-version-check $(PIP_INSTALL_FLAGS) .
	$(PYTHON) -I -m heartbeat.tools.install --root $(or $(DESTDIR),/)

# dist/pyheartbeat-$(VERSION).tar.gz and the wheel built from it (needs `make deps`)
dist:
	rm -rf dist
	$(PYTHON) -m build --no-isolation --outdir dist .

# dist/pyheartbeat-$(VERSION)-1.noarch.rpm, built by rpmbuild from the sdist's own spec
rpm: dist
	rm -rf build/rpm
	rpmbuild -tb --quiet --define "_topdir $(CURDIR)/build/rpm" dist/pyheartbeat-$(VERSION).tar.gz
	cp build/rpm/RPMS/noarch/pyheartbeat-$(VERSION)-*.noarch.rpm dist/

demo: deps
	$(PYTHON) -m tests.lab.demo

# Everything under tests/: the three tiers (tests/conftest.py) and tests/packaging (wheel, RPM,
# make install). unit needs neither root nor the original; netns builds namespaces as root;
# interop runs Debian's 3.0.6, heartbeat 2.1.3 and Pacemaker's tools.
test: deps hb21
	$(PYTEST) -q --durations=15 tests

# the unit tier shares nothing between tests (no root, no namespaces, no fixed ports): every core
unit:
	$(PYTEST) -q -n auto tests/unit

# ruff and mypy as pyproject.toml configures them (needs `make deps`); both run, so that
# one report shows every finding, and either failing fails the target
lint:
	@status=0; \
	$(PYTHON) -m ruff check --no-cache . || status=1; \
	$(PYTHON) -m mypy || status=1; \
	exit $$status

# A venv of the 3.9 interpreter with the daemon's and the tests' libraries.
$(VENV39)/ready: Makefile
	$(PY39) -m venv $(VENV39)
	$(VENV39)/bin/python -m pip install -q --disable-pip-version-check $(RUNTIME_PIP) $(TEST_PIP)
	touch $@

# The unit suite on Python 3.9; skipped, saying so, where no 3.9 is installed.
unit39:
	@if [ -z "$(PY39)" ]; then echo "unit39: SKIPPED: no Python 3.9 found (pyenv 3.9.x or python3.9; or PY39=...)"; \
	else $(MAKE) --no-print-directory $(VENV39)/ready && $(VENV39)/bin/python -m pytest -q -n auto tests/unit; fi

# One failover scenario with our daemon and scripts on Python 3.9 in every node
# (start, hb_standby, hb_takeover, a crash taken over after deadtime).
NETNS39_TESTS = ours and (test_start_node1_serves or test_our_daemons_run or test_hb_standby_hands or test_hb_takeover_brings or test_sigkill_of_node1)
netns39:
	@if [ -z "$(PY39)" ]; then echo "netns39: SKIPPED: no Python 3.9 found (pyenv 3.9.x or python3.9; or PY39=...)"; \
	else $(MAKE) --no-print-directory $(VENV39)/ready && \
	    PYHB_NODE_PYTHON=$(CURDIR)/$(VENV39)/bin/python $(PYTEST) -q tests/netns/test_failover.py -k "$(NETNS39_TESTS)"; fi

netns: deps hb21
	$(PYTEST) -q tests/netns

interop: deps hb21
	$(PYTEST) -q tests/interop

bench: deps hb21
	$(PYTHON) -m tests.bench

check:
	$(PYTHON) -m heartbeat.config.configcheck $(or $(HA_DIR),/etc/ha.d)

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache $(VENV39)
