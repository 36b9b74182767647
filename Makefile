# linux-kqueue: top-level build.
#
#   make            library, tests, examples, and kqueue.ko for every
#                   supported kernel whose headers are installed
#   make kmod KVERS="6.1.0-56-cloud-amd64"   the module for chosen kernels
#   make check      the whole test run (VM on both kernels); see README
#   make demo       the main job: the module in a VM running the examples
#   make sparse     sparse (C=2) on the module, every kernel
#   make checkpatch checkpatch.pl on the module sources
#
# Everything is built under build/.  The module for kernel KVER ends up in
# build/kmod/KVER/kqueue.ko.

CC      ?= cc
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
B       := build
ABS_B   := $(abspath $(B))

KVERS   ?= $(shell tools/vm/kernels.sh 2>/dev/null)

LIB_SRC := lib/kqueue.c
LIB_HDR := include/sys/event.h include/uapi/kqueue_ioctl.h
SONAME  := libkqueue.so.0
LIB_SO  := $(B)/lib/libkqueue.so.0.1.0

TEST_SRC := $(wildcard tests/*.c)
TEST_HDR := $(wildcard tests/*.h)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
KMOD_SRC := $(wildcard kmod/*.c kmod/*.h) kmod/Kbuild

.PHONY: all lib tests examples kmod check demo sparse checkpatch clean \
	bench-progs bench-close bench

all: lib tests examples bench-progs kmod

lib: $(B)/lib/libkqueue.a $(B)/lib/$(SONAME) $(B)/lib/libkqueue.pc

$(B)/lib/kqueue.o: $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -fPIC -Iinclude -Iinclude/uapi \
		-c $< -o $@

$(B)/lib/libkqueue.a: $(B)/lib/kqueue.o
	rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(B)/lib/kqueue.o
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^

$(B)/lib/$(SONAME): $(LIB_SO)
	ln -sf $(notdir $<) $@
	ln -sf $(SONAME) $(B)/lib/libkqueue.so

$(B)/lib/libkqueue.pc: lib/libkqueue.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|/usr/local|' $< > $@

tests: $(B)/tests/kqtest

$(B)/tests/kqtest: $(TEST_SRC) $(TEST_HDR) $(B)/lib/libkqueue.a
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(TEST_SRC) \
		$(B)/lib/libkqueue.a -lpthread -o $@

examples: $(EXAMPLES)

BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

bench-progs: $(BENCHES)

$(B)/bench/%: bench/%.c $(B)/lib/libkqueue.a include/sys/event.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $< $(B)/lib/libkqueue.a \
		-lpthread -o $@

# close(2) with and without the module, one VM boot per kernel.
bench-close: bench-progs kmod
	tools/bench-close.sh

# All benchmark scenarios, one VM boot per kernel (see bench/README).
bench: bench-progs kmod
	tools/bench.sh

# Examples link the shared library, as applications would.
$(B)/examples/%: examples/%.c $(B)/lib/$(SONAME) include/sys/event.h
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $< -L$(B)/lib -lkqueue \
		-Wl,-rpath,$(ABS_B)/lib -o $@

# One out-of-tree build per kernel, in a tree of links to kmod/ so that
# the builds do not share object files.
kmod: $(KMOD_SRC) $(LIB_HDR)
	@test -n "$(KVERS)" || { echo "no supported kernel headers found" \
		"(run tools/install-deps.sh)"; exit 1; }
	@set -e; for k in $(KVERS); do \
		d=$(ABS_B)/kmod/$$k; rm -rf $$d/kmod; mkdir -p $$d/kmod; \
		ln -sfn $(CURDIR)/include $$d/include; \
		for f in $(KMOD_SRC); do ln -sf $(CURDIR)/$$f $$d/kmod/; done; \
		echo "  KMOD    $$k"; \
		$(MAKE) -s -C /lib/modules/$$k/build M=$$d/kmod modules; \
		cp $$d/kmod/kqueue.ko $$d/kqueue.ko; \
	done

check: all
	tools/run-tests.sh

demo: lib examples bench-progs kmod
	tools/demo.sh

sparse:
	@set -e; for k in $(KVERS); do \
		d=$(ABS_B)/sparse/$$k; mkdir -p $$d/kmod; \
		ln -sfn $(CURDIR)/include $$d/include; \
		for f in $(KMOD_SRC); do ln -sf $(CURDIR)/$$f $$d/kmod/; done; \
		$(MAKE) -s -C /lib/modules/$$k/build M=$$d/kmod C=2 \
			CF="-D__CHECK_ENDIAN__" modules 2>&1 | tee $$d/sparse.log; \
		! grep -E "warning|error" $$d/sparse.log; \
	done

checkpatch:
	tools/checkpatch.sh kmod/*.c kmod/*.h

clean:
	rm -rf $(B)
