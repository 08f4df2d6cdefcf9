# lb4 — make targets. Each works on a fresh clone: dependencies are installed
# when node_modules is missing or older than package-lock.json.
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json
RELAY := build/Release/lb4_relay.node

.PHONY: all build native test typecheck lint-deps demo certs perf bench bench-pick bench-slow soak clean

all: build

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_MODULES_STAMP)

build: $(NODE_MODULES_STAMP) $(RELAY)
	npm run --silent build

# The optional native relay (native/relay.c). npm ci builds it; this rebuilds
# it when its source changes. A machine that cannot build it (no compiler,
# not Linux) gets one warning line and runs every tunnel in JavaScript.
$(RELAY): native/relay.c binding.gyp
	@npm run --silent build:native || true

native:
	npm run --silent build:native

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

bench: build
	@if [ -x perf/bench.sh ]; then perf/bench.sh; else $(MAKE) --no-print-directory bench-pick; fi

# Ten minutes of mixed load on lb4: does its memory grow? → perf/out/SOAK.md (SOAK_SECONDS to change)
soak: build
	@command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
	@bash -c 'ulimit -n 65536 2>/dev/null; node perf/soak.mjs'

clean:
	rm -rf dist build .tap coverage perf/out
