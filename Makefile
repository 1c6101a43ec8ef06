# PersonalOS — the two commands of the README, and a few helpers.
#   make run    install what is missing, build (server and web app), serve the
#               API and the app on http://127.0.0.1:8420 (data in ./data)
#   make test   install what is missing, build twice (normal, ASan+UBSan), run every test
# Everything is built by CMake; this file only strings the steps together.

BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

PREFIX     ?= /usr/local

.PHONY: all deps build run test test-normal test-asan bench clean web mcp-tests extension install

all: build

deps:
	@./scripts/install-deps

build: deps web extension
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	./$(BUILD)/personalos serve

test: deps web mcp-tests extension
	@$(MAKE) --no-print-directory test-normal
	@$(MAKE) --no-print-directory test-asan

test-normal:
	@echo "== normal build =="
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest $(CTEST_ARGS) -j$(JOBS)

test-asan:
	@echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPOS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS) -j$(JOBS)

bench: deps
	@cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(BENCH_BUILD) -j$(JOBS)
	@python3 bench/run_core.py --bin $(BENCH_BUILD)/personalos

# The web app (web/ -> web/dist, served at /): npm ci + vite build, each
# skipped when up to date.
web: deps
	@./scripts/build-web

# The browser extension (extension/ -> extension/dist and
# extension/personalos-extension.zip): npm ci + vite build, each skipped when
# up to date.
extension: deps
	@./scripts/build-extension

# Test-only npm dependencies of tests/mcp (the MCP SDK): npm ci when needed.
mcp-tests: deps
	@./scripts/build-mcp-tests

# Installs under $(PREFIX) (default /usr/local), staged under $(DESTDIR) if
# set: bin/personalos, share/personalos/web, man pages personalos(1) and
# personalos.conf(5), lib/systemd/system/personalos.service and the example
# config, .env.example, LICENSE and CHANGELOG in share/doc/personalos
# (docs/OPERATIONS.md). The unit's paths follow PREFIX.
install: build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD)
