# pyheartbeat: drop-in replacement for Linux-HA Heartbeat v1.
# Everything here runs as root: the tests and the demo build network namespaces.

PYTHON ?= python3
PYTEST ?= $(PYTHON) -m pytest
APT_PACKAGES = heartbeat iputils-ping kmod busybox tcpdump nftables e2fsprogs iproute2 util-linux psmisc
PIP_PACKAGES = pyroute2 scapy netifaces pytest hypothesis
# what ../shared/tools/hb21/build.sh needs to build heartbeat 2.1.3, the 2.1.x interop peer
HB21_APT_PACKAGES = build-essential autoconf automake libtool libtool-bin pkg-config libglib2.0-dev \
	libxml2-dev libbz2-dev zlib1g-dev libltdl-dev uuid-dev libnet1-dev flex bison libpam0g-dev libgnutls28-dev net-tools

.PHONY: deps hb21 install demo test unit netns bench check clean

# Debian's heartbeat 3.0.6 is installed for the interop tests only; ours runs
# from a staged tree bind-mounted into each namespace node.
deps:
	@if ! dpkg -s $(APT_PACKAGES) $(HB21_APT_PACKAGES) >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) $(HB21_APT_PACKAGES) >/dev/null; fi
	$(PYTHON) -m pip install -q --disable-pip-version-check $(PIP_PACKAGES)
	$(PYTHON) -m pip install -q --disable-pip-version-check --no-deps -e .

# heartbeat 2.1.3 in /opt/hb21, built once (a minute) from ../shared/tools/hb21; the lab
# builds it on first use too, this only does it ahead of time
hb21: deps
	$(PYTHON) -m tests.lab.hb21

install: deps
	$(PYTHON) -m heartbeat.install --root $(or $(DESTDIR),/)

demo: deps
	$(PYTHON) -m tests.lab.demo

test: deps hb21
	$(PYTEST) -q tests

unit:
	$(PYTEST) -q tests/unit

netns: deps hb21
	$(PYTEST) -q tests/netns

bench: deps hb21
	$(PYTHON) -m tests.bench

check:
	$(PYTHON) -m heartbeat.configcheck $(or $(HA_DIR),/etc/ha.d)

clean:
	rm -rf build *.egg-info .pytest_cache .hypothesis
