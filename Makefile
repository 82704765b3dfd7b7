# sztp-client: the two commands a new machine needs are `make demo` and `make test` (as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the test suite and the demo use (installed when missing, as root).
# swtpm and the TSS: the TPM identity tests; tpm2-pytss compiles against libtss2-dev.
# dnsmasq, dhclient, busybox udhcpc and iproute2: the DHCP and DNS discovery tests (network
# namespaces; dnsmasq also serves the DNS tests' names). fusefat, mtools and udev: the
# removable-media tests.
SYSTEM_PACKAGES := openssl ca-certificates swtpm libtss2-dev pkg-config build-essential python3-dev \
	dnsmasq dnsmasq-base isc-dhcp-client busybox iproute2 fusefat mtools udev
# Debian packages `make bench` needs on top: the image server and the download baseline.
BENCH_PACKAGES := nginx curl
PYTEST_WORKERS ?= 2

.PHONY: all test lint bench demo system-deps bench-deps venv clean

all: test

system-deps:
	@scripts/install-system-deps $(SYSTEM_PACKAGES)

bench-deps:
	@scripts/install-system-deps $(BENCH_PACKAGES)

# Two distributions, both editable: the client (pyproject.toml, the device's wheel) and the lab
# (packaging/sztp-lab: sztp_lab and the sztp-lab command, never shipped to devices).
LAB_PROJECT := packaging/sztp-lab
# system-deps first: the test extra compiles tpm2-pytss.
$(STAMP): pyproject.toml $(LAB_PROJECT)/pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' -e $(LAB_PROJECT)
	touch $(STAMP)

venv: $(STAMP)

test: system-deps $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests

lint: $(STAMP)
	$(VENV)/bin/ruff check sztp_client sztp_lab tests bench
	$(VENV)/bin/ruff format --check sztp_client sztp_lab tests bench
	$(VENV)/bin/mypy --strict sztp_client sztp_lab
	$(PY) -m sztp_client.protocol.graph --check docs/architecture.md

bench: system-deps bench-deps $(STAMP)
	$(PY) bench/verify_bench.py
	$(PY) bench/session_bench.py
	$(PY) bench/startup_bench.py --importtime
	$(PY) bench/tpm_bench.py

# make demo KEEP=/tmp/sztp-demo: leave the device, its status and the logs there to look at.
# make demo TPM=1: the device's IDevID key inside a software TPM (swtpm) instead of a file.
demo: system-deps $(STAMP)
	$(PY) -m sztp_lab.demo $(if $(KEEP),--keep '$(KEEP)') $(if $(TPM),--tpm)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
