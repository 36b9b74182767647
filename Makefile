# linux-kqueue: top-level build.
#
#   make            library, tests, examples, and kqueue.ko for every
#                   supported kernel whose headers are installed
#   make kmod KVERS="6.1.0-56-cloud-amd64"   the module for chosen kernels
#   make check      the whole test run (VM on both kernels and on the debug
#                   kernel; builds m32 too); see README
#   make check-debug  only the debug-kernel tier (KASAN, lockdep, kmemleak)
#   make kmod-debug the module for the debug kernel (built once per machine)
#   make demo       the main job: the module in a VM running the examples
#   make sparse     sparse (C=2) on the module, every kernel
#   make checkpatch checkpatch.pl on the module sources
#   make m32        the library and the test programs for 32-bit (i386)
#                   programs, built with -m32 under build/m32/
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

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(patsubst lib/%.c,$(B)/lib/%.o,$(LIB_SRC))
# The public header and the value header it includes (installed together),
# and the headers the module builds with (kqueue_event.h is one of them).
PUB_HDR := include/sys/event.h include/uapi/kqueue_event.h
UAPI_HDR := include/uapi/kqueue_event.h include/uapi/kqueue_ioctl.h
LIB_HDR := $(PUB_HDR) $(UAPI_HDR) $(wildcard lib/*.h)
# The library's version; dkms.conf's PACKAGE_VERSION and the version in
# debian/changelog must be the same.
VERSION := 0.1.0
# The shared library's ABI version: the file is libkqueue.so.$(SOVERSION),
# its SONAME libkqueue.so.<major>.  The major is 1, not 0: mheily's
# libkqueue 2.x is libkqueue.so.0 and gives some constants other values
# (README, "Binary compatibility with libkqueue 2.x"), so a program built
# against it must never load this library.  Bump the major (and rename the
# Debian package libkqueueN) on any incompatible change of the ABI.
SOVERSION := 1.0.0
SONAME  := libkqueue.so.$(firstword $(subst ., ,$(SOVERSION)))
LIB_SO  := $(B)/lib/libkqueue.so.$(SOVERSION)

TEST_SRC := $(wildcard tests/*.c)
TEST_HDR := $(wildcard tests/*.h)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(EXAMPLE_SRC))
KMOD_SRC := $(wildcard kmod/*.c kmod/*.h) kmod/Kbuild

.PHONY: clients all lib tests examples kmod check demo sparse checkpatch clean bench-ring \
	kmod-debug check-debug m32 \
	bench-progs bench-close bench

all: lib tests examples bench-progs tools-bin kmod

lib: $(B)/lib/libkqueue.a $(B)/lib/$(SONAME) $(B)/lib/libkqueue.pc

$(B)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC -pthread -Iinclude \
		-Iinclude/uapi -c $< -o $@

$(B)/lib/libkqueue.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# Exports only what lib/libkqueue.map lists (the public API).
$(LIB_SO): $(LIB_OBJ) lib/libkqueue.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -pthread -Wl,-soname,$(SONAME) \
		-Wl,--version-script=lib/libkqueue.map -o $@ $(LIB_OBJ)

# A library of another SONAME left by an older tree goes: nothing may
# load it by mistake.
$(B)/lib/$(SONAME): $(LIB_SO)
	find $(@D) -name 'libkqueue.so.*' ! -name $(SONAME) \
		! -name $(notdir $<) -delete
	ln -sf $(notdir $<) $@
	ln -sf $(SONAME) $(B)/lib/libkqueue.so

$(B)/lib/libkqueue.pc: lib/libkqueue.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(libdir)|' \
		-e 's|@INCLUDEDIR@|$(includedir)|; s|@VERSION@|$(VERSION)|' $< > $@

tests: $(B)/tests/kqtest $(B)/tests/kqfuzz $(B)/tests/kqstress

$(B)/tests/kqtest: $(TEST_SRC) $(TEST_HDR) $(B)/lib/libkqueue.a
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(TEST_SRC) \
		$(B)/lib/libkqueue.a -lpthread -o $@

# The fuzzer and the stress program (tools/guest-reliability.sh runs them).
FUZZ_SRC := $(wildcard tests/fuzz/*.c)

$(B)/tests/kqfuzz: $(FUZZ_SRC) tests/fuzz/fuzz.h $(B)/lib/libkqueue.a \
		$(PUB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(FUZZ_SRC) \
		$(B)/lib/libkqueue.a -lpthread -o $@

$(B)/tests/kqstress: tests/stress/kqstress.c $(B)/lib/libkqueue.a \
		$(PUB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $< $(B)/lib/libkqueue.a \
		-lpthread -o $@

# --- 32-bit (i386) programs on an x86-64 kernel (README, "32-bit programs")
# The library and kqtest, kqfuzz, kqstress built with -m32 (gcc-multilib),
# with the same flags.  tools/guest-suite.sh runs build/m32/tests/kqtest on
# the module (names "m32:"), tools/host-suite.sh --m32 on the user-space
# backend (names "user-m32:").
M32         := $(B)/m32
M32_LIB_OBJ := $(patsubst lib/%.c,$(M32)/lib/%.o,$(LIB_SRC))
M32_LIB_SO  := $(M32)/lib/libkqueue.so.$(SOVERSION)

m32: $(M32)/lib/libkqueue.a $(M32)/lib/$(SONAME) $(M32)/tests/kqtest \
	$(M32)/tests/kqfuzz $(M32)/tests/kqstress

$(M32)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) -m32 $(CSTD) $(WARN) $(CFLAGS) -fPIC -pthread -Iinclude \
		-Iinclude/uapi -c $< -o $@

$(M32)/lib/libkqueue.a: $(M32_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(M32_LIB_SO): $(M32_LIB_OBJ) lib/libkqueue.map
	$(CC) -m32 $(CFLAGS) $(LDFLAGS) -shared -pthread -Wl,-soname,$(SONAME) \
		-Wl,--version-script=lib/libkqueue.map -o $@ $(M32_LIB_OBJ)

$(M32)/lib/$(SONAME): $(M32_LIB_SO)
	find $(@D) -name 'libkqueue.so.*' ! -name $(SONAME) \
		! -name $(notdir $<) -delete
	ln -sf $(notdir $<) $@
	ln -sf $(SONAME) $(M32)/lib/libkqueue.so

$(M32)/tests/kqtest: $(TEST_SRC) $(TEST_HDR) $(M32)/lib/libkqueue.a
	@mkdir -p $(@D)
	$(CC) -m32 $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(TEST_SRC) \
		$(M32)/lib/libkqueue.a -lpthread -o $@

$(M32)/tests/kqfuzz: $(FUZZ_SRC) tests/fuzz/fuzz.h $(M32)/lib/libkqueue.a \
		$(PUB_HDR)
	@mkdir -p $(@D)
	$(CC) -m32 $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(FUZZ_SRC) \
		$(M32)/lib/libkqueue.a -lpthread -o $@

$(M32)/tests/kqstress: tests/stress/kqstress.c $(M32)/lib/libkqueue.a \
		$(PUB_HDR)
	@mkdir -p $(@D)
	$(CC) -m32 $(CSTD) $(WARN) $(CFLAGS) -Iinclude $< \
		$(M32)/lib/libkqueue.a -lpthread -o $@

examples: $(EXAMPLES)

# Which backend a new kqueue gets (kmod or user).
tools-bin: $(B)/bin/kqueue-backend

$(B)/bin/kqueue-backend: bin/kqueue-backend.c $(B)/lib/libkqueue.a $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -Iinclude $< \
		$(B)/lib/libkqueue.a -lpthread -o $@

BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

bench-progs: $(BENCHES)

$(B)/bench/%: bench/%.c $(B)/lib/libkqueue.a $(PUB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $< $(B)/lib/libkqueue.a \
		-lpthread -o $@

# close(2) with and without the module, one VM boot per kernel.
bench-close: bench-progs kmod
	tools/bench-close.sh

# Scenarios 1 and 3 on the host with the user-space backend (no VM).
bench-user: bench-progs tools-bin
	tools/bench-user.sh

# The completion ring against epoll, ring on and off, one VM boot per
# kernel (about 5 minutes each).
bench-ring: bench-progs kmod
	tools/bench-ring.sh

# All benchmark scenarios, one VM boot per kernel (see bench/README).
bench: bench-progs kmod
	tools/bench.sh

# Examples link the shared library, as applications would.
$(B)/examples/%: examples/%.c $(B)/lib/$(SONAME) $(PUB_HDR)
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

check: all m32
	tools/run-tests.sh

# The module against the debug kernel (tools/vm/debug-kernel.sh builds it
# once per machine, or KDEBUG_DIR names its tree): build/kmod/debug/kqueue.ko.
kmod-debug: $(KMOD_SRC) $(LIB_HDR)
	@set -e; kdir='$(KDEBUG_DIR)'; \
	[ -n "$$kdir" ] || kdir=$$(tools/vm/debug-kernel.sh); \
	d=$(ABS_B)/kmod/debug; rm -rf $$d/kmod; mkdir -p $$d/kmod; \
	ln -sfn $(CURDIR)/include $$d/include; \
	for f in $(KMOD_SRC); do ln -sf $(CURDIR)/$$f $$d/kmod/; done; \
	echo "  KMOD    debug ($$kdir)"; \
	$(MAKE) -s -C $$kdir M=$$d/kmod modules; \
	cp $$d/kmod/kqueue.ko $$d/kqueue.ko

# Real kqueue programs from Debian's sources, kqueue build vs stock, host
# and VM (tools/clients/run-all.sh; README, "Real programs").
clients: all
	tools/clients/run-all.sh

# Only the debug-kernel tier of `make check` (README, "Debug-kernel tier").
check-debug: all
	tools/debug-tier.sh

# Without kernel headers (no module, no VM) demo.sh uses user space.
demo: lib examples bench-progs tools-bin
	@if [ -n "$(KVERS)" ]; then $(MAKE) kmod; fi
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

# --- make install / uninstall (README "Installing") ------------------------
#   install          libkqueue.so.1 (+ links), libkqueue.a, <sys/event.h> as
#                    $(includedir)/kqueue/sys/event.h and the header of
#                    values it includes as
#                    $(includedir)/kqueue/uapi/kqueue_event.h,
#                    libkqueue.pc, man pages, kqueue-backend (and its man
#                    page)
#   install-dkms     the module's sources for DKMS in
#                    $(dkmssrcdir)/kqueue-$(VERSION), the udev rule and the
#                    modules-load.d entry (then: dkms install kqueue/VERSION)
#   install-examples the example programs in $(libexecdir)/linux-kqueue
#   uninstall        removes what any of them installed
# PREFIX and DESTDIR as usual; none of these builds the module.
PREFIX         ?= /usr/local
bindir         ?= $(PREFIX)/bin
libdir         ?= $(PREFIX)/lib
libexecdir     ?= $(PREFIX)/libexec
includedir     ?= $(PREFIX)/include
mandir         ?= $(PREFIX)/share/man
udevrulesdir   ?= /etc/udev/rules.d
modulesloaddir ?= /etc/modules-load.d
dkmssrcdir     ?= /usr/src
INSTALL        ?= install
D              := $(DESTDIR)
MAN_PAGES      := man/kqueue.2 man/kevent.2
MAN1_PAGES     := man/kqueue-backend.1
# name:target pairs of .so link pages
MAN_LINKS      := man2/kqueuex.2:kqueue.2 man2/kqueue1.2:kqueue.2 \
		  man3/kqueue_backend.3:kqueue.2 man3/EV_SET.3:kevent.2
DKMS_DIR       := $(dkmssrcdir)/kqueue-$(VERSION)
INST_FILES     := $(libdir)/libkqueue.so.$(SOVERSION) $(libdir)/$(SONAME) \
		  $(libdir)/libkqueue.so $(libdir)/libkqueue.a \
		  $(libdir)/pkgconfig/libkqueue.pc \
		  $(includedir)/kqueue/sys/event.h \
		  $(includedir)/kqueue/uapi/kqueue_event.h \
		  $(addprefix $(mandir)/man2/,$(notdir $(MAN_PAGES))) \
		  $(addprefix $(mandir)/man1/,$(notdir $(MAN1_PAGES))) \
		  $(foreach l,$(MAN_LINKS),$(mandir)/$(firstword $(subst :, ,$(l)))) \
		  $(udevrulesdir)/60-kqueue.rules $(modulesloaddir)/kqueue.conf \
		  $(bindir)/kqueue-backend
LDCONFIG_IF_LIVE = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

.PHONY: install install-dkms install-examples uninstall

install: lib tools-bin
	$(INSTALL) -d $(D)$(libdir)/pkgconfig $(D)$(includedir)/kqueue/sys \
		$(D)$(includedir)/kqueue/uapi $(D)$(mandir)/man1 \
		$(D)$(mandir)/man2 $(D)$(mandir)/man3 $(D)$(bindir)
	$(INSTALL) -m 755 $(B)/bin/kqueue-backend $(D)$(bindir)/
	$(INSTALL) -m 755 $(LIB_SO) $(D)$(libdir)/
	ln -sf libkqueue.so.$(SOVERSION) $(D)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(D)$(libdir)/libkqueue.so
	$(INSTALL) -m 644 $(B)/lib/libkqueue.a $(D)$(libdir)/
	$(INSTALL) -m 644 include/sys/event.h $(D)$(includedir)/kqueue/sys/
	$(INSTALL) -m 644 include/uapi/kqueue_event.h \
		$(D)$(includedir)/kqueue/uapi/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(libdir)|' \
		-e 's|@INCLUDEDIR@|$(includedir)|; s|@VERSION@|$(VERSION)|' \
		lib/libkqueue.pc.in > $(D)$(libdir)/pkgconfig/libkqueue.pc
	$(INSTALL) -m 644 $(MAN_PAGES) $(D)$(mandir)/man2/
	$(INSTALL) -m 644 $(MAN1_PAGES) $(D)$(mandir)/man1/
	@set -e; for l in $(MAN_LINKS); do \
		printf '.so man2/%s\n' "$${l#*:}" > $(D)$(mandir)/$${l%%:*}; \
	done
	@$(LDCONFIG_IF_LIVE)

install-dkms:
	@grep -qx 'PACKAGE_VERSION="$(VERSION)"' dkms.conf || { echo \
		"dkms.conf: PACKAGE_VERSION is not $(VERSION)"; exit 1; }
	rm -rf $(D)$(DKMS_DIR)
	$(INSTALL) -d $(D)$(DKMS_DIR)/kmod $(D)$(DKMS_DIR)/include/uapi
	$(INSTALL) -m 644 dkms.conf $(D)$(DKMS_DIR)/
	$(INSTALL) -m 644 $(KMOD_SRC) $(D)$(DKMS_DIR)/kmod/
	$(INSTALL) -m 644 $(UAPI_HDR) $(D)$(DKMS_DIR)/include/uapi/
	$(INSTALL) -D -m 644 dist/60-kqueue.rules $(D)$(udevrulesdir)/60-kqueue.rules
	$(INSTALL) -D -m 644 dist/modules-load.conf $(D)$(modulesloaddir)/kqueue.conf

# Relinked with the installed library's directory as run path.
install-examples: lib
	$(INSTALL) -d $(B)/examples-inst $(D)$(libexecdir)/linux-kqueue
	@set -e; for s in $(EXAMPLE_SRC); do \
		p=$(B)/examples-inst/$$(basename $$s .c); echo "  CC      $$p"; \
		$(CC) $(CSTD) $(WARN) $(CFLAGS) -Iinclude $$s -L$(B)/lib \
			-lkqueue -Wl,-rpath,$(libdir) -o $$p; \
		$(INSTALL) -m 755 $$p $(D)$(libexecdir)/linux-kqueue/; \
	done

uninstall:
	@if [ -z "$(DESTDIR)" ] && command -v dkms >/dev/null && \
	    [ -n "$$(dkms status -m kqueue -v $(VERSION) 2>/dev/null)" ]; then \
		echo "dkms remove kqueue/$(VERSION) --all"; \
		dkms remove -m kqueue -v $(VERSION) --all; fi
	rm -f $(addprefix $(D),$(INST_FILES))
	rm -rf $(D)$(DKMS_DIR) $(D)$(libexecdir)/linux-kqueue
	@rmdir $(D)$(includedir)/kqueue/sys $(D)$(includedir)/kqueue/uapi \
		$(D)$(includedir)/kqueue 2>/dev/null || true
	@$(LDCONFIG_IF_LIVE)

# --- Debian packages and the ABI decision (README "Debian packages") ------
#   deb        kqueue-dkms, libkqueue1, libkqueue1-dev, kqueue-tools in
#              build/deb/ (dpkg-buildpackage in a copy of the tree), then
#              lintian; fails on a lintian error
#   check-deb  make deb, install the packages on this host, check them
#              (user-space backend, pkg-config build, dkms build for each
#              kernel), purge them, check nothing is left (as root)
#   abi-check  compares <sys/event.h> with libkqueue 2.x's and checks that
#              the SONAME and the packages follow from the result (no VM)
.PHONY: deb check-deb abi-check

deb:
	tools/deb-build.sh

check-deb:
	tools/test-deb.sh

abi-check: lib
	tools/test-abi.sh

clean:
	rm -rf $(B)
