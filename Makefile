# lb4 — make targets. Each works on a fresh clone: dependencies are installed
# when node_modules is missing or older than package-lock.json.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json
RELAY := build/Release/lb4_relay.node
RELAY_ASAN := build-asan/lb4_relay.node
RELAY_SRC := native/relay-engine.c native/relay-engine.h native/relay-addon.c

.PHONY: all build native native-asan test test-native-asan typecheck lint-deps demo certs perf bench bench-deps bench-pick bench-slow soak torture clean

all: build

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_MODULES_STAMP)

build: $(NODE_MODULES_STAMP) $(RELAY)
	npm run --silent build

# The optional native relay (native/relay-engine.c + its binding
# native/relay-addon.c). npm ci builds it; this rebuilds it when its source
# changes. A machine that cannot build it (no compiler, not Linux) gets one
# warning line and runs every tunnel in JavaScript.
$(RELAY): $(RELAY_SRC) binding.gyp
	@npm run --silent build:native || true

native:
	npm run --silent build:native

# The relay built with AddressSanitizer + UBSan, in build-asan/ (build/ is
# left alone), and the relay's tests run against it: every lb4 of the run
# loads it (LB4_RELAY_ADDON) with libasan preloaded; an ASan/UBSan report,
# or a leak from the relay, fails the run (scripts/test-native-asan.mjs).
$(RELAY_ASAN): $(RELAY_SRC) scripts/build-native.mjs
	node scripts/build-native.mjs --asan

native-asan: $(RELAY_ASAN)

test-native-asan: build $(RELAY_ASAN)
	node scripts/test-native-asan.mjs

typecheck: $(NODE_MODULES_STAMP)
	npm run --silent typecheck

# The import rules of docs/architecture.md (dependency-cruiser).
lint-deps: $(NODE_MODULES_STAMP)
	npm run --silent lint:deps

certs:
	certs/make-dev-cert.sh

# Unit and integration tests (real sockets on 127.0.0.1). Integration tests
# run bin/lb4, so the build comes first.
test: build typecheck lint-deps
	npx tap

# The stress/fault suite at full size (test/torture/, loopback only; make test
# runs it small): 10,000 idle connections (plain, TLS, L7), an EMFILE storm,
# a half-open TLS storm, 100,000 short connections, 200 concurrent 1-8 MiB
# transfers on both relay paths, backends reset/stalled/killed mid-transfer.
# Bounded (about 5 min on 2 cores, 15 min per file at most); figures → perf/out/TORTURE.md.
torture: build
	@mkdir -p perf/out && : > perf/out/torture.jsonl
	LB4_TORTURE_SCALE=full LB4_TORTURE_OUT=perf/out/torture.jsonl npx tap --jobs 1 --timeout 900 --disable-coverage test/torture
	node perf/torture.mjs

# Run lb4 for real on a built-in demo: three HTTP backends, TLS on :4443, admin on 127.0.0.1:9090.
demo: build certs
	node scripts/demo.mjs $(ARGS)

bench-pick: build
	node --expose-gc perf/bench-pick.mjs

# One backend turns slow under steady load: round-robin, least-connections and
# p2c-ewma side by side (share sent to it, p50/p99) → perf/out/slow-backend.md.
# ARGS="--mode l7" for L7; see the file's header for the options.
bench-slow: build
	node perf/slow-backend.mjs $(ARGS)

perf: build
	@if [ -x perf/perf.sh ]; then perf/perf.sh; else echo "make perf: not yet (see the performance issue)"; fi

# lb4 beside HAProxy → perf/out/RESULTS.md. The tools are checked first
# (before the build): when wrk or haproxy is missing it says so, names
# `make bench-deps`, and exits 1; it never installs anything itself, and
# never starts or stops a system service.
bench:
	@perf/deps.sh check bench
	@$(MAKE) --no-print-directory build
	@LB4_BENCH_DEPS_CHECKED=1 perf/bench.sh

# The only target that installs system packages (haproxy wrk nginx-light
# iperf3, with apt-get as root or through sudo), and only when run by name.
# No service is started (policy-rc.d) and none is stopped.
bench-deps:
	@perf/deps.sh install

# Ten minutes of mixed load on lb4: does its memory grow? → perf/out/SOAK.md
# (SOAK_SECONDS to change). Needs wrk (make bench-deps).
soak:
	@perf/deps.sh check soak
	@$(MAKE) --no-print-directory build
	@bash -c 'ulimit -n 65536 2>/dev/null; node perf/soak.mjs'

clean:
	rm -rf dist build build-asan .tap coverage perf/out
