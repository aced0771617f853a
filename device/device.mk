# The Raspberry Pi firmware: cross-compiled builds, flashing over SSH, its benchmark.
# Included by the top Makefile; paths are relative to the repository root.
#
#   make firmware                      build every target into $(FIRMWARE_DIST)
#   make flash PI=user@host            install on a Pi and restart it, see below
#   make bench-firmware                RSS, CPU and size of the firmware

FIRMWARE_DIST ?= dist/firmware
FIRMWARE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# netgo/osusergo: no glibc name service in the binary, so a static link is complete.
FIRMWARE_GOFLAGS = -trimpath -tags netgo,osusergo
FIRMWARE_LDFLAGS = -s -w -X main.version=$(FIRMWARE_VERSION)

.PHONY: firmware flash bench-firmware

# fw_build NAME GOARCH GOARM CC MODELS: one target. The arm builds link go-dht's C code
# statically with Debian's cross compilers, so one binary runs on any Pi OS release
# (no glibc version to match); armv6 needs the armel compiler (the armhf one emits
# ARMv7 code). amd64 is for simulation on a PC and needs no cgo.
define fw_build
	@out=$(FIRMWARE_DIST)/smartx-firmware-linux-$(1); \
	if [ -n "$(4)" ]; then \
	  CGO_ENABLED=1 CC=$(4) GOOS=linux GOARCH=$(2) GOARM=$(3) $(GO) build $(FIRMWARE_GOFLAGS) \
	    -ldflags '$(FIRMWARE_LDFLAGS) -linkmode external -extldflags -static' -o $$out ./device/cmd/firmware; \
	else \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$(2) $(GO) build $(FIRMWARE_GOFLAGS) -ldflags '$(FIRMWARE_LDFLAGS)' -o $$out ./device/cmd/firmware; \
	fi && \
	awk -v f=$$out -v t=linux-$(1) -v m='$(5)' -v s=$$(stat -c %s $$out) \
	  'BEGIN { printf "  %-44s %-13s %-18s %5.1f MB\n", f, t, m, s / 1e6 }'

endef

firmware: ## cross-compile the Pi firmware (armv6, armv7, arm64, amd64) into dist/firmware
	@bash .ci/tools.sh crosscc
	@mkdir -p $(FIRMWARE_DIST)
	@echo "firmware $(FIRMWARE_VERSION):"
	$(call fw_build,armv6,arm,6,arm-linux-gnueabi-gcc,Pi Zero/1)
	$(call fw_build,armv7,arm,7,arm-linux-gnueabihf-gcc,Pi 2/3 (32-bit))
	$(call fw_build,arm64,arm64,,aarch64-linux-gnu-gcc,Pi 3/4/5 (64-bit))
	$(call fw_build,amd64,amd64,,,PC (--simulate))

# make flash PI=user@host installs the binary that matches the Pi, CONFIG (default
# device/firmware.conf) and the systemd unit, then restarts the service. Optional:
# TOKEN_FILE (installed 0600 as the device's hub token), SSH_CONFIG (an ssh_config
# file, e.g. for a port or a key), BINARY (force a binary; refused if its
# architecture does not match), PI_ROOT (install under this directory on the Pi, for
# tests) and RESTART (the command that restarts the service; default systemctl).
flash: export FLASH_PI = $(PI)
flash: export FLASH_CONFIG = $(CONFIG)
flash: export FLASH_TOKEN_FILE = $(TOKEN_FILE)
flash: export FLASH_SSH_CONFIG = $(SSH_CONFIG)
flash: export FLASH_BINARY = $(BINARY)
flash: export FLASH_ROOT = $(PI_ROOT)
flash: export FLASH_RESTART = $(RESTART)
flash: firmware ## install the firmware on a Pi over SSH and restart it: make flash PI=user@host
	@$(GO) run ./device/cmd/flash -dist $(FIRMWARE_DIST)

bench-firmware: firmware ## measure the firmware: RSS, CPU % at 10 s and 1 s sampling, size per target
	@$(GO) run ./device/cmd/benchfw -dist $(FIRMWARE_DIST)
