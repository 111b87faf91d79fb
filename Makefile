# Floe — build, run, test, bench. Every target works on a fresh machine after `npm ci` (which `make` runs
# when node_modules is missing).
SHELL := /bin/bash
NODE ?= node
TSC := ./node_modules/.bin/tsc

.PHONY: all build run test test-unit fuzz servers bench sim lint clean flink flink-test flink-install flink-deps

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci
	@touch $@

build: node_modules/.package-lock.json
	$(TSC) -p tsconfig.json

# The daemon on the embedded default: primary storage in ./.floe-run/data, socket in ./.floe-run/floe.sock.
run: build
	$(NODE) dist/bin/floe.js daemon --config config/floe.json

# Installs the test servers (moto S3 server in a venv, Hadoop MiniDFSCluster via Maven) if missing.
servers:
	bash test/support/install-servers.sh

# Full suite: starts a real S3-protocol server and a real HDFS on loopback, runs every tap test,
# prints `N passed, N failed`.
test: build servers flink-deps
	$(NODE) dist/test/support/run-tests.js

# Without the remote servers (remote-backend tests skip loudly).
test-unit: build
	FLOE_NO_SERVERS=1 $(NODE) dist/test/support/run-tests.js

# The deterministic simulator (docs/simulator.md): 10,000 seeds of random workloads with crashes, faults,
# restores and metamorphic option sets. A failing seed prints the command that replays it. Then 60 kill -9
# lives of the daemon under load per durability mode (test/daemon-kill-loop.test.ts; CI runs 20 and 5).
# SIM="--known-bugs" applies test/sim/known-bugs.ts; SIM="--from 20000 --shrink" etc.
sim: build
	$(NODE) dist/test/sim/run.js --seeds 10000 $(SIM)
	FLOE_NO_SERVERS=1 FLOE_KILL_LOOPS=60 $(NODE) dist/test/support/run-tests.js dist/test/daemon-kill-loop.test.js

# The JVM side (flink/, docs/flink.md): the Java client of the daemon protocol and the Flink state backend
# (io.floe.flink.FloeStateBackendFactory). `make test` runs its tests through test/flink-jvm.test.ts.
MVN ?= mvn
flink:
	$(MVN) -q -B -f flink/pom.xml -DskipTests package

# Resolves everything flink/'s `mvn test` needs (Flink 2.3.0, JUnit, the plugins and surefire's JUnit provider)
# into ~/.m2 by compiling and running one quick test that needs no daemon (the provider is only resolved when a
# test runs), so the first run on a fresh machine downloads outside test/flink-jvm.test.ts's time limit; later
# runs work offline (`mvn -o`). Not fatal: that test reports.
flink-deps:
	-$(MVN) -q -B -f flink/pom.xml -Dtest=GoldenFramesTest test

# The backend jar into the local Maven repository (io.floe:floe-client:0.1.0), for jobs and flink/bench/.
flink-install:
	$(MVN) -q -B -f flink/pom.xml -DskipTests install

# Its JUnit tests alone; the integration tests start the daemon from dist/, hence `build` first.
flink-test: build
	$(MVN) -q -B -f flink/pom.xml test

# Long protocol fuzzing of the daemon (the suite runs ~35 s of it): FUZZ_SECONDS, FLOE_SEED to replay.
# Run as a plain node script, so the test runner's per-file timeout does not apply.
FUZZ_SECONDS ?= 600
fuzz: build
	TAP_TIMEOUT=0 FLOE_FUZZ_SECONDS=$(FUZZ_SECONDS) FLOE_FUZZ_FRAMES=100000000 $(NODE) dist/test/daemon-fuzz.test.js

bench: build
	$(NODE) dist/bench/run.js $(BENCH)

# tsc --strict (the build), then Biome's lint rules (biome.jsonc: the recommended set, each exception with its
# reason). Lint only: the formatter is off, `make lint` never rewrites files.
lint: build
	./node_modules/.bin/biome lint --error-on-warnings

clean:
	rm -rf dist .floe-run flink/target
