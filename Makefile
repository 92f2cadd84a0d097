# onestop — the two commands: `make demo` and `make test`.
# Both install what is missing (Debian packages; the Rust toolchain is assumed).

SHELL := /bin/bash
CARGO ?= cargo
export OPENSSL_NO_VENDOR := 1

.PHONY: all deps build release demo test lint fmt bench bench-cache clean

all: build

# System packages pingora and sqlx need to build: cmake (zlib-ng), pkg-config
# and libssl-dev (OpenSSL), a C compiler.
deps:
	@missing=""; \
	command -v cmake >/dev/null 2>&1 || missing="$$missing cmake"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	dpkg -s libssl-dev >/dev/null 2>&1 || missing="$$missing libssl-dev"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing build-essential"; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "make: cargo not found: install the Rust toolchain (rustup)"; exit 1; }

build: deps
	$(CARGO) build --workspace --bins

release: deps
	$(CARGO) build --release -p onestop

# The gateway plus the simulated 32-department fleet on loopback.
demo: release
	./target/release/onestop --log-format text demo --data-dir data/demo

# Unit tests and cross-process tests (real fleet and gateway processes).
test: deps
	$(CARGO) build --workspace --bins
	@if command -v cargo-nextest >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --exclude onestop-tests && \
	  $(CARGO) test -p onestop-tests -- --test-threads=1; \
	fi

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: deps
	$(CARGO) bench -p onestop-proxy --bench route_match --bench compile

# Cache-hit against passthrough throughput through real gateway and fleet
# processes (the bench starts target/release/onestop); prints the ratio.
bench-cache: deps
	$(CARGO) build --release -p onestop && $(CARGO) bench -p onestop-tests --bench cache

clean:
	$(CARGO) clean
	rm -rf data
