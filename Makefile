# console-tui: `make run` opens the app on the bundled demo guest; `make test` passes the tests.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio socat tmux openssh-client ser2net \
	openssh-server openssl libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config \
	openipmi ipmitool grub-pc-bin grub-efi-amd64-bin grub-common ovmf xorriso mtools strace logrotate

.PHONY: run test bench lint screenshots deps venv clean

# The newest Python >= 3.13 found (PATH, then pyenv's versions), else python3.
PYTHON ?= $(shell tools/find-python)

# libvirt-python builds against Debian's libvirt-dev, so the Debian packages come first.
$(VENV)/.installed: pyproject.toml
	@tools/install-debian-packages $(DEB_PACKAGES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,libvirt,ipmi]'
	@touch $@

venv: $(VENV)/.installed

deps:
	@tools/install-debian-packages $(DEB_PACKAGES)

run: deps venv
	$(VENV)/bin/console-tui lab up
	$(VENV)/bin/console-tui --config "$$($(VENV)/bin/console-tui lab config-path)"

test: deps venv
	$(PY) -m pytest -q

bench: deps venv
	$(PY) -m bench

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

screenshots: deps venv
	$(PY) -m tools.screenshots

clean:
	-$(VENV)/bin/console-tui lab down
	rm -rf $(VENV)
