# memtide - `make deps demo` to install what is missing, build and profile
# the bundled example; `make deps test` to build and run every test, plain
# and under ASan+UBSan.
#
# Outputs (under $(BUILD)):
#   bin/memtide                  the command line
#   lib/libmemtide.so            the tracker, preloaded into profiled programs
#   python/memtide/              the Python package, with _memtide built for
#                                every interpreter in $(PYTHONS)

BUILD ?= build
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers
CPPFLAGS += -Iinclude -D_GNU_SOURCE
# cairo's headers only: `memtide plot` loads libcairo when it draws
# (src/report/cairo_dl.c), so that it costs nothing to other commands.
CAIRO_CFLAGS = $(shell pkg-config --cflags-only-I cairo 2>/dev/null || echo -I/usr/include/cairo)
SAN ?=
ifeq ($(SAN),1)
CLI_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The tracker traps on undefined behaviour instead of linking UBSan's
# runtime: that runtime would bring libstdc++ into every tracked program,
# and its constructors' allocations into every capture.
LIB_SAN = -fsanitize=undefined -fsanitize-undefined-trap-on-error
endif

# Every CPython this machine has: Debian's, then pyenv's 3.9+.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
PYTHONS ?= $(wildcard /usr/bin/python3) \
	$(wildcard $(foreach v,3.9 3.10 3.11 3.12 3.13,$(PYENV_ROOT)/versions/$(v).*/bin/python3))

CAPTURE_SRC = $(wildcard src/capture/*.c)
CLI_SRC = $(wildcard src/cli/*.c src/format/*.c src/analysis/*.c src/report/*.c src/live/*.c)
HEADERS = $(wildcard include/memtide/*.h src/*/*.h web/*.h)
# The HTML pages: our templates and scripts plus pinned npm packages,
# embedded into the binary as one generated C file.
WEB_SRC = $(wildcard web/*.html web/*.js web/*.css) web/package-lock.json
NPM_STAMP = web/node_modules/.package-lock.json
ASSETS = $(BUILD)/gen/assets.c

LIB = $(BUILD)/lib/libmemtide.so
BIN = $(BUILD)/bin/memtide
PYPKG = $(BUILD)/python/memtide
PYSTAMP = $(BUILD)/python/.stamp

all: $(BIN) $(LIB) $(PYSTAMP)

# zstd is linked in, its symbols hidden (the program's own libzstd stays
# its own): one library less for the loader in every tracked process.
$(LIB): $(CAPTURE_SRC) $(HEADERS) src/analysis/heap.c	# heap.c: compiled into aggregate.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(LIB_SAN) $(CPPFLAGS) -fPIC -shared -fvisibility=hidden \
		-ftls-model=initial-exec -o $@ $(CAPTURE_SRC) \
		-Wl,--exclude-libs,libzstd.a -Wl,-Bstatic -lzstd -Wl,-Bdynamic \
		-lunwind -ldl -lpthread

# elfutils and its compressors, zstd and the demangler are linked in
# statically: loading and relocating them took 3 ms of every command's
# start-up, `memtide run` included (bench/startup.py).
CLI_LIBS = -Wl,-Bstatic -ldw -lelf -lz -llzma -lbz2 -lzstd -liberty -lncursesw -ltinfo -Wl,-Bdynamic -lpthread -lm

$(BIN): $(CLI_SRC) $(HEADERS) $(ASSETS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(CLI_SAN) $(CPPFLAGS) $(CAIRO_CFLAGS) -I. -o $@ $(CLI_SRC) $(ASSETS) $(CLI_LIBS)

$(NPM_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	@touch $@

$(ASSETS): $(WEB_SRC) $(NPM_STAMP)
	@mkdir -p $(dir $@)
	node web/embed.js $(dir $@)

# One helper per interpreter, named by its EXT_SUFFIX; the tracker picks
# the one matching the Python it finds in the process.
# The package is self-contained: the command and the tracker library go
# in too (memtide/bin/memtide, memtide/libmemtide.so).
PYHELPER_SRC = python/_memtide.c python/census.c
PYHELPER_DEPS = $(PYHELPER_SRC) python/census.h src/capture/pyhelper.h include/memtide/format.h \
	src/format/varint.h
$(PYSTAMP): $(PYHELPER_DEPS) $(wildcard python/memtide/*.py) $(LIB) $(BIN)
	@mkdir -p $(PYPKG)/bin
	cp python/memtide/*.py $(PYPKG)/
	cp $(LIB) $(PYPKG)/libmemtide.so
	cp $(BIN) $(PYPKG)/bin/memtide
	@set -e; for py in $(PYTHONS); do \
		inc=$$($$py -c 'import sysconfig; print(sysconfig.get_paths()["include"])'); \
		ext=$$($$py -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))'); \
		[ -f "$$inc/Python.h" ] || { echo "skipping $$py: no headers in $$inc"; continue; }; \
		fresh=1; for f in $(PYHELPER_DEPS); do \
			[ "$(PYPKG)/_memtide$$ext" -nt $$f ] || fresh=0; done; \
		[ $$fresh = 1 ] && continue; \
		echo "  helper for $$py -> _memtide$$ext"; \
		$(CC) $(WARN) $(CFLAGS) -fPIC -shared -fvisibility=hidden -I"$$inc" \
			-o "$(PYPKG)/_memtide$$ext" $(PYHELPER_SRC); \
	done
	@touch $@

deps:
	@scripts/install-deps.sh

# The example needs numpy: Debian's python3-numpy, for Debian's python3
# (a python3 first on PATH, e.g. pyenv's, may not have it).
demo: all
	$(BIN) run --python /usr/bin/python3 -f -o $(BUILD)/pipeline.tide examples/pipeline.py
	$(BIN) stats $(BUILD)/pipeline.tide

# The suite runs twice: as built, then with the command line under
# ASan+UBSan and the tracker under UBSan (ASan cannot share malloc with a
# preloaded allocator hook).
test: all
	MEMTIDE_BIN=$(abspath $(BIN)) /usr/bin/python3 -m pytest -q tests
ifneq ($(SAN),1)
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60
	$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test
endif

# The capture reader's fuzzer (tests/fuzz/fuzz_reader.c): libFuzzer from
# clang-14 under ASan+UBSan, run for FUZZ_SECONDS on the seed corpus
# (tests/fuzz/corpus, tests/fixtures); what it learns goes to
# $(BUILD)/fuzz/corpus, inputs that fail to $(BUILD)/fuzz/crashes.
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ = $(BUILD)/fuzz/fuzz_reader
FUZZ_SRC = tests/fuzz/fuzz_reader.c src/format/reader.c src/format/proc.c src/analysis/replay.c \
	src/analysis/heap.c src/analysis/frames.c src/analysis/hiding.c src/analysis/symbols.c

$(FUZZ): $(FUZZ_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(CPPFLAGS) -I. -o $@ $(FUZZ_SRC) -lzstd -ldw -lelf -liberty -lm

fuzz: $(FUZZ)
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/crashes
	$(FUZZ) -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix=$(BUILD)/fuzz/crashes/ $(BUILD)/fuzz/corpus tests/fuzz/corpus tests/fixtures

clean:
	rm -rf build build-asan

.PHONY: all deps demo test fuzz clean
