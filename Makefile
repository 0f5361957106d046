# The two entry points a newcomer needs: `make run` and `make test`.
BUILD      ?= build
BUILD_SAN  ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps deps-build deps-fuzz deps-bench build install run test test-sanitize test-tsan format check clean fuzz bench bench-static bench-rss bench-store-scale

all: build

deps:
	@scripts/install-deps.sh all

deps-build:
	@scripts/install-deps.sh build

deps-fuzz:
	@scripts/install-deps.sh fuzz

deps-bench:
	@scripts/install-deps.sh bench

build: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)
	cmake --build $(BUILD) -j $(JOBS)

# `make install PREFIX=/usr DESTDIR=/tmp/stage`: cmake --install of the build (docs/operations.md).
PREFIX ?= /usr/local
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

run: deps build
	scripts/run-demo.sh

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-sanitize: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DSCEP_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_SAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_SAN) --output-on-failure -j $(JOBS) -LE static

# Enrollment throughput on 127.0.0.1 against this machine's RSA limit (docs/performance.md;
# BENCH_WRITE_DOCS=1 writes the table there). About two minutes.
bench: build
	BUILD=$(BUILD) bench/run.sh

# GetCACaps and GetCACert against nginx serving the same bytes, same client, same run
# (about a minute).
bench-static: deps-bench build
	BUILD=$(BUILD) bench/static.sh

# scepd's VmRSS and VmHWM with 1,000 idle kept-alive connections, over repeated rounds.
bench-rss: build
	BUILD=$(BUILD) bench/rss.sh

# A SQLite store with 10^6 certificates, requests and end entities against an empty one:
# enrollments A/B, scepctl and GetCert timings, query plans (a few minutes, 3.5 GB in /tmp).
bench-store-scale: build
	BUILD=$(BUILD) bench/store_scale.sh

# The multi-threaded tests (client shared by threads, concurrent enrollment, store races)
# under ThreadSanitizer.
TSAN_TESTS = test_client test_scepd test_scepd_ra test_store test_scepd_crl test_scepd_admin test_scepd_webhook
test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DSCEP_TSAN=ON $(CMAKE_ARGS)
	cmake --build build-tsan -j $(JOBS) --target $(TSAN_TESTS)
	TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure \
	  -R '^unit\.($(subst $(eval) ,|,$(TSAN_TESTS)))$$'

# The libFuzzer targets (clang, ASan + UBSan). FUZZ_SECONDS=0 (default): build them and
# replay each seed corpus once; FUZZ_SECONDS=N: then fuzz each target N seconds in turn
# (scripts/fuzz.sh; FUZZ_TARGETS="dn san" picks some).
FUZZ_SECONDS ?= 0
FUZZ_TARGETS ?=
fuzz: deps-fuzz
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSCEP_FUZZ=ON $(CMAKE_ARGS)
	cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

format:
	find include src tests bench -name '*.[ch]' -print0 | xargs -0 -r clang-format -i --style=file

check: deps-build
	scripts/check-format.sh
	scripts/check-banned.sh
	scripts/check-layers.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz build-tsan
