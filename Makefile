# vmrepair.azure: `make demo` and `make test` are the contract (README.md).
# Every target installs what it needs: a virtual environment, Azurite from npm, Debian packages.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
COLLECTIONS := .build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/vmrepair/azure
SCENARIO ?= c21a-with-dump
EMULATOR := PYTHONPATH=tests/emulator $(PY) -m vmrepair_emulator
WITH_EMULATOR := $(PY) tests/emulator/run_with_emulator.py
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false

.PHONY: all deps demo test unit integration sanity lint emulator bench clean

all: test

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# Debian packages (bindep.txt): OCR of boot screenshots (tesseract, the collection's own need),
# NTFS images and VHDs for the emulator, Chromium and its driver for the report browser test.
SYSTEM_COMMANDS := mkntfs qemu-img tesseract chromium chromedriver
SYSTEM_PACKAGES := ntfs-3g qemu-utils tesseract-ocr chromium chromium-driver
.cache/system-deps: bindep.txt
	@missing=0; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); \
	fi
	@mkdir -p .cache && touch $@

tests/emulator/node_modules/.installed: tests/emulator/package.json tests/emulator/package-lock.json
	cd tests/emulator && npm ci --no-audit --no-fund --silent
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

deps: $(VENV)/.installed .cache/system-deps tests/emulator/node_modules/.installed $(COLLECTION_LINK)

demo: deps
	$(WITH_EMULATOR) --scenario $(SCENARIO) --state-dir .demo/emulator -- \
	  $(VENV)/bin/ansible-playbook vmrepair.azure.collect_dump \
	    -e vm_name=web-01 -e resource_group=prod-rg -e output_dir=$(CURDIR)/.demo/output

emulator: deps
	$(EMULATOR) serve --scenario $(SCENARIO) --state-dir .cache/emulator/$(SCENARIO)

unit: deps
	$(PY) -m pytest -q tests/unit tests/emulator/tests

integration: deps
	$(PY) -m pytest -q tests/integration

sanity: deps
	$(PY) tests/sanity/run_sanity.py

lint: deps
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/ansible-lint roles playbooks
	$(VENV)/bin/antsibull-changelog lint

# Two pytest runs: each keeps one emulator per scenario for its whole session, and repair VMs of two
# emulators of the same scenario would claim the same loopback WinRM address.
test: deps
	$(PY) -m pytest -q tests/unit tests/emulator/tests
	$(PY) -m pytest -q tests/integration
	$(MAKE) --no-print-directory sanity lint

bench: deps
	$(PY) bench/run.py

clean:
	rm -rf .build .demo .cache $(VENV) tests/output
