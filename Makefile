# onestop — the two commands: `make demo` and `make test`.
# Both install what is missing (Debian packages; the Rust toolchain is assumed).

SHELL := /bin/bash
CARGO ?= cargo
export OPENSSL_NO_VENDOR := 1

.PHONY: all deps test-deps console-screenshots build release demo test lint fmt bench bench-deps bench-micro bench-cache bench-overview bench-exchange bench-transcode bench-evidence bench-appeals clean

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

# The gateway, and the bare pingora proxy `make bench` measures as the
# framework's floor, in one build (one feature set, one set of artifacts).
release: deps
	$(CARGO) build --release -p onestop -p onestop-proxy --bins --example bare_pingora

# The gateway plus the simulated 32-department fleet on loopback.
demo: release
	./target/release/onestop --log-format text demo --data-dir data/demo

# Unit tests and cross-process tests (real fleet and gateway processes).
# Bins and tests are built in one go: the bins then get the features the
# tests' dev-dependencies unify, so the test run does not build the
# workspace a second time.
# The console's browser tests drive Debian's headless Chromium over
# WebDriver (chromium-driver).
test-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: deps test-deps
	$(CARGO) build --workspace --bins --tests
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

# Side by side with nginx and HAProxy (bench/run.sh, about 6 minutes): installs
# nginx, HAProxy, wrk and h2load from Debian when missing, builds onestop in
# release, runs every scenario against direct / onestop / nginx / HAProxy
# (and a bare pingora proxy, the framework's floor, on the passthrough),
# prints the table and writes bench/results/<time>.json. BENCH_PROFILE=1 adds
# perf profiles of onestop and of bare pingora; see docs/PERFORMANCE.md
# for the knobs.
bench: deps bench-deps release
	bench/run.sh

bench-deps:
	@missing=""; \
	command -v nginx >/dev/null 2>&1 || missing="$$missing nginx-light"; \
	dpkg -s libnginx-mod-http-echo >/dev/null 2>&1 || missing="$$missing libnginx-mod-http-echo"; \
	command -v haproxy >/dev/null 2>&1 || missing="$$missing haproxy"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v h2load >/dev/null 2>&1 || missing="$$missing nghttp2-client"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v python3 >/dev/null 2>&1 || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The criterion micro-benchmarks of the hot pure functions (full runs).
bench-micro: deps
	$(CARGO) bench -p onestop-proxy --bench route_match --bench compile
	$(CARGO) bench -p onestop-policy --bench policy
	$(CARGO) bench -p onestop-cache --bench cache
	$(CARGO) bench -p onestop-core --bench mask

# Cache-hit against passthrough throughput through real gateway and fleet
# processes (the bench starts target/release/onestop); prints the ratio.
bench-cache: deps
	$(CARGO) build --release -p onestop && $(CARGO) bench -p onestop-tests --bench cache

# The citizen overview over 30 departments whose slowest answers in T = 50 ms:
# real fleet and gateway processes; prints p50/p99 and p50 - T (goal <= 2 ms).
bench-overview: deps
	$(CARGO) build --release -p onestop && $(CARGO) bench -p onestop-tests --bench overview

# The data exchange with the access audit log on against off, in one run
# (real fleet and two gateways; about a minute); prints the cost.
bench-exchange: deps
	$(CARGO) build --release -p onestop && $(CARGO) bench -p onestop-tests --bench exchange

# JSON/gRPC transcoding against gRPC passthrough for the same unary call
# (real fleet and gateway; about a minute); prints calls/s, p50/p99, the
# gateway's CPU per call and the ratio transcoded/passthrough.
bench-transcode: deps
	$(CARGO) build --release -p onestop && $(CARGO) bench -p onestop-tests --bench transcode

# Evidence (一证通办): a case step reading 3 data items from 3 delayed
# departments against the same step without them, and each read alone
# (real fleet and gateway; about a minute); prints p50/p99 of the step's
# evidence cost beyond the slowest read (goal <= 2 ms).
bench-evidence: deps
	$(CARGO) build --release -p onestop && $(CARGO) bench -p onestop-tests --bench evidence

# Appeals at a province's scale: 1,000,000 appeals filled into a fresh
# PostgreSQL schema, then submit, a citizen's list, a department's open
# queue and the overdue scan through the appeals desk; prints p50/p99
# against the goals (a few minutes; ONESTOP_BENCH_APPEALS=N for fewer).
bench-appeals: deps
	$(CARGO) bench -p onestop-appeals-desk --bench scale

# Screenshots of the operator console for the docs (docs/console/*.png):
# the demo's pages and the operator's walk, in headless Chromium with
# Debian's CJK fonts.
console-screenshots: deps test-deps
	@dpkg -s fonts-noto-cjk >/dev/null 2>&1 || { \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends fonts-noto-cjk; }
	$(CARGO) build --workspace --bins --tests
	ONESTOP_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(CARGO) nextest run -p onestop-tests \
	  -E 'test(=console::the_demo_feeds_every_console_page) | test(=console::an_operator_works_the_console_in_a_real_browser)'

clean:
	$(CARGO) clean
	rm -rf data
