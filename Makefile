# forkmon — build, test, demo, bench, install.
#
#   make            build/forkmonhook.so  (runs inside the user's program: libc only)
#                   build/forkmon         (the monitor, the watcher, filters, the helper)
#                   build/forkmon-client  (the helper's client: libc only)
#                   Never installs anything: `make deps` does (check and demo call it).
#   make check      every test: the unit suite, then the system suite (one runner, one
#                   Check summary line); `make check-unit` runs the unit suite alone
#   make demo       a real program resumed from the middle, then exits
#   make bench      performance, side by side with the baselines (bench/results.md)
#   make install    PREFIX=/usr/local DESTDIR=   (and `make uninstall`)
#   make sanitize   the whole suite again over an ASan + UBSan build in build/san/
#   make valgrind   memcheck over the monitor and the helper in a real session
#   make deb        build/deb/forkmon_VERSION_amd64.deb (dpkg-buildpackage on a copy of the
#                   tree under build/deb/; debian/ says how; never runs apt-get)
#
# A folder is a process (README, "Layout"); each folder's objects get only the include
# paths of the folders they may call, so a stray #include fails to build.

# The version lives in one place: the first line of debian/changelog, "forkmon (VERSION) ...".
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config
B := build

CFLAGS ?= -O2 -g
LDFLAGS ?=
WARN := -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Wshadow -Wstrict-prototypes
DEFS := -D_GNU_SOURCE -DFORKMON_VERSION='"$(VERSION)"'

# ---- what each target is made of ---------------------------------------------------------
# common/: libc-only code any executable may link (the hook too).
COMMON_SRC := $(wildcard common/*.c)
HOOK_SRC := $(wildcard hook/*.c) common/path.c common/peer.c common/ring.c
MON_SRC := $(wildcard monitor/*.c watcher/*.c filters/*.c helper/*.c) $(COMMON_SRC)
CLIENT_SRC := $(wildcard client/*.c) common/sockpath.c common/sibling.c common/exe.c common/peer.c common/stdfds.c common/escape.c \
	common/loop.c
UNIT_SRC := $(wildcard tests/unit/*.c)
SYS_SRC := $(wildcard tests/system/*.c) $(wildcard tests/*.c)
HEADERS := $(wildcard include/*.h common/*.h hook/*.h hook/*.def monitor/*.h watcher/*.h \
	filters/*.h helper/*.h client/*.h tests/*.h tests/unit/*.h tests/system/*.h)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
MON_OBJ := $(call obj,$(MON_SRC))
CLIENT_OBJ = $(patsubst %.c,$(B)/obj/client-$(notdir $(firstword $(CLIENT_CC)))/%.o,$(CLIENT_SRC))
LIB_OBJ := $(filter-out $(B)/obj/monitor/main.o,$(MON_OBJ))
TEST_OBJ := $(call obj,$(UNIT_SRC) $(SYS_SRC))
TEST_PROGS := $(patsubst tests/progs/%.c,$(B)/progs/%,$(wildcard tests/progs/*.c)) $(B)/progs/reader32

# ---- include paths: what a folder may call ------------------------------------------------
INC_common := -Iinclude -Icommon
INC_hook := $(INC_common) -Ihook
INC_filters := -Ifilters
INC_watcher := $(INC_common) -Iwatcher
INC_monitor := $(INC_common) -Imonitor -Iwatcher -Ifilters -Ihelper
INC_helper := $(INC_common) -Ihelper -Imonitor -Ifilters
INC_client := $(INC_common) -Iclient
INC_tests := $(INC_common) -Itests -Ihook -Imonitor -Iwatcher -Ifilters -Ihelper -Iclient
folder = $(firstword $(subst /, ,$(1)))

# ---- libraries, from pkg-config (evaluated lazily: after `make deps` installed them) -------
pc = $(shell $(PKG_CONFIG) $(1) 2>/dev/null)
LIB_CFLAGS = $(call pc,--cflags lua5.4 jansson) -pthread
MON_LIBS = $(call pc,--libs lua5.4 jansson) -linotifytools -pthread
CHECK_CFLAGS = $(call pc,--cflags check)
CHECK_LIBS = $(call pc,--libs check)
# The hook: no stack protector, and no fortified libc calls (CPPFLAGS may ask for
# _FORTIFY_SOURCE): its own open() would call the __open_2 it interposes.
HOOK_CFLAGS := -fPIC -fvisibility=hidden -fno-stack-protector -ftls-model=initial-exec

all: $(B)/forkmonhook.so $(B)/forkmon $(B)/forkmon-client

# The libraries must be known to pkg-config: say which are missing, and how to get them.
$(B)/.pkg-%:
	@mkdir -p $(B)
	@$(PKG_CONFIG) --exists $(subst +, ,$*) || { \
		echo "forkmon: $(PKG_CONFIG) cannot find: $$(for p in $(subst +, ,$*); do \
			$(PKG_CONFIG) --exists $$p || printf '%s ' $$p; done)(run 'make deps')" >&2; exit 1; }
	@touch $@
PKG_LIB := $(B)/.pkg-lua5.4+jansson
PKG_CHECK := $(B)/.pkg-check
.PRECIOUS: $(B)/.pkg-%

# Dependencies come from Debian: `make deps` installs what is missing (apt-get; sudo
# when not root). Only `make deps`, `make check` and `make demo` ever do.
deps:
	@scripts/install-deps

# ---- the hook: one object of its own, position-independent, exports only the interposers
$(B)/forkmonhook.so: $(HOOK_SRC) $(HEADERS) hook/exports.map
	@mkdir -p $(B)
	$(CC) $(CPPFLAGS) -U_FORTIFY_SOURCE $(DEFS) $(INC_hook) $(CFLAGS) $(WARN) $(HOOK_CFLAGS) $(LDFLAGS) -shared -Wl,-z,defs \
		-Wl,--version-script=hook/exports.map -o $@ $(HOOK_SRC) -ldl

# ---- forkmon's own executables ------------------------------------------------------------
$(B)/obj/tests/%.o: tests/%.c $(HEADERS) | $(PKG_LIB) $(PKG_CHECK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEFS) $(INC_tests) $(CFLAGS) $(WARN) $(LIB_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

# libc-only folders need no library's flags
$(B)/obj/common/%.o: common/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEFS) $(INC_common) $(CFLAGS) $(WARN) -c -o $@ $<

$(B)/obj/%.o: %.c $(HEADERS) | $(PKG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEFS) $(INC_$(call folder,$<)) $(CFLAGS) $(WARN) $(LIB_CFLAGS) -c -o $@ $<

# forkmon itself is linked statically where that links (glibc's and the libraries'
# archives are in Debian's -dev packages): every `forkmon run` then starts without the
# dynamic loader mapping and relocating five shared libraries (forkmon --version: 2.0
# -> 1.4 ms on our CI machines). Else, and for make sanitize and make valgrind
# (MON_LDFLAGS=: ASan and memcheck replace the shared libc's malloc), dynamically. Asked
# (links, below: with the libraries) when forkmon is linked, after `make deps`; forkmon
# is linked again when the answer changes.
MON_STATIC_LIBS = $(call pc,--static --libs lua5.4 jansson) -linotifytools -pthread
ifeq ($(origin MON_LDFLAGS),undefined)
MON_LDFLAGS = $(call links,$(CC) $(CFLAGS) $(LDFLAGS),-static,$(MON_STATIC_LIBS))
endif
$(B)/.mon-link: FORCE | $(PKG_LIB)
	@mkdir -p $(B)
	@echo '$(MON_LDFLAGS)' | cmp -s - $@ 2>/dev/null || echo '$(MON_LDFLAGS)' >$@
$(B)/forkmon: $(MON_OBJ) $(B)/.mon-link
	$(CC) $(CFLAGS) $(LDFLAGS) $(MON_LDFLAGS) -o $@ $(MON_OBJ) $(if $(MON_LDFLAGS),$(MON_STATIC_LIBS),$(MON_LIBS))

# The helper's client: small and quick to start (libc only, common/), since it starts on
# every warm call. Before main, glibc asks the processor what it is (CPUID, 68
# times, to choose its string functions); in a virtual machine every CPUID traps to the
# hypervisor (7 us each on our CI machines), and an empty main took 0.77 ms to start
# and end, 0.19 ms with musl. So the client is built with musl-gcc (Debian's musl-tools)
# when it is there and no other compiler was asked for (CC), linked statically (musl-gcc
# cannot make a static PIE); else with $(CC), statically too (a PIE) where glibc has the
# archive for it, dynamically where not. CLIENT_CC=cc picks glibc; CLIENT_LDFLAGS= links
# dynamically. Both are asked once per make; the client is linked again when they change.
links = $(shell printf 'int main(void){return 0;}\n' | $(1) $(2) -x c -o /dev/null - $(3) 2>/dev/null && echo $(2))
ifeq ($(origin CLIENT_CC),undefined)
CLIENT_CC := $(if $(filter default,$(origin CC)),$(if $(shell command -v musl-gcc 2>/dev/null),$(if $(call links,musl-gcc,-static),musl-gcc)))
CLIENT_CC := $(or $(CLIENT_CC),$(CC))
endif
ifeq ($(origin CLIENT_LDFLAGS),undefined)
CLIENT_LDFLAGS := $(if $(filter musl-gcc,$(notdir $(firstword $(CLIENT_CC)))),-static,$(call links,$(CLIENT_CC),-static-pie))
endif
$(B)/obj/client-$(notdir $(firstword $(CLIENT_CC)))/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLIENT_CC) $(CPPFLAGS) $(DEFS) $(INC_client) $(CFLAGS) $(WARN) -c -o $@ $<
# what the client was last linked with: a change links it again
$(B)/.client-link: FORCE
	@mkdir -p $(B)
	@echo '$(CLIENT_CC) $(CLIENT_LDFLAGS)' | cmp -s - $@ 2>/dev/null || echo '$(CLIENT_CC) $(CLIENT_LDFLAGS)' >$@
$(B)/forkmon-client: $(CLIENT_OBJ) $(B)/.client-link
	$(CLIENT_CC) $(CFLAGS) $(LDFLAGS) $(CLIENT_LDFLAGS) -o $@ $(CLIENT_OBJ)
FORCE:

# ---- tests ----------------------------------------------------------------------------------
# Test programs, built the way distributions build C: -O2, fortified, 64-bit offsets
# (open → __open64_2); the *32 variants keep 32-bit offsets (open → __open_2).
$(B)/progs/%: tests/progs/%.c
	@mkdir -p $(B)/progs
	$(CC) -D_GNU_SOURCE -O2 -D_FILE_OFFSET_BITS=64 -D_FORTIFY_SOURCE=2 -Wall $(LDFLAGS) -o $@ $< -pthread
$(B)/progs/%32: tests/progs/%.c
	@mkdir -p $(B)/progs
	$(CC) -D_GNU_SOURCE -O2 -D_FORTIFY_SOURCE=2 -Wall $(LDFLAGS) -o $@ $< -pthread

$(B)/forkmon-tests: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIB_OBJ) $(MON_LIBS) $(CHECK_LIBS)

tests: all $(B)/forkmon-tests $(TEST_PROGS)

# One runner, one summary line: the unit suite first (fast: no processes of the user's
# kind, a fake clock), then the system suite (real programs, real files, real signals).
# The build under it uses every core (JOBS=1 for a serial one); the tests run one at a time.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
check: deps
	@$(MAKE) --no-print-directory -j$(JOBS) tests
	@cd $(B) && FORKMON_TOP=$(CURDIR) ./forkmon-tests all

check-unit: $(B)/forkmon-tests
	@cd $(B) && FORKMON_TOP=$(CURDIR) ./forkmon-tests unit

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

bench: all
	@bench/run

# ---- install --------------------------------------------------------------------------------
# Shell completions: bash-completion loads completions/NAME for command NAME; zsh looks
# in its fpath (Debian's zsh has /usr/local/share/zsh/site-functions and, for packages,
# /usr/share/zsh/vendor-completions).
BASH_COMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSH_COMPDIR ?= $(PREFIX)/share/zsh/site-functions
BINDIR := $(DESTDIR)$(PREFIX)/bin
LIBDIR := $(DESTDIR)$(PREFIX)/lib/forkmon
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
install: all
	install -d $(BINDIR) $(LIBDIR) $(MANDIR) $(DESTDIR)$(BASH_COMPDIR) $(DESTDIR)$(ZSH_COMPDIR)
	install -m 755 $(B)/forkmon $(LIBDIR)/forkmon
	install -m 644 $(B)/forkmonhook.so $(LIBDIR)/forkmonhook.so
	install -m 755 scripts/forkmon $(BINDIR)/forkmon
	install -m 755 $(B)/forkmon-client $(BINDIR)/forkmon-client
	sed 's/@VERSION@/$(VERSION)/' forkmon.1 > $(MANDIR)/forkmon.1
	chmod 644 $(MANDIR)/forkmon.1
	install -m 644 completions/forkmon.bash $(DESTDIR)$(BASH_COMPDIR)/forkmon
	ln -sf forkmon $(DESTDIR)$(BASH_COMPDIR)/forkmon-client
	install -m 644 completions/_forkmon $(DESTDIR)$(ZSH_COMPDIR)/_forkmon
	ln -sf forkmon.1 $(MANDIR)/forkmon-client.1

uninstall:
	rm -f $(LIBDIR)/forkmon $(LIBDIR)/forkmonhook.so $(BINDIR)/forkmon $(BINDIR)/forkmon-client \
		$(MANDIR)/forkmon.1 $(MANDIR)/forkmon-client.1 $(DESTDIR)$(BASH_COMPDIR)/forkmon \
		$(DESTDIR)$(BASH_COMPDIR)/forkmon-client $(DESTDIR)$(ZSH_COMPDIR)/_forkmon
	-rmdir $(LIBDIR) 2>/dev/null

# ---- the Debian package ---------------------------------------------------------------------
# dpkg-buildpackage writes its results next to the source tree (..): it runs on a copy of
# the tree in $(B)/deb/tree/, so nothing is written outside this one. Rebuilt only when
# one of the package's inputs changed.
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(B)/deb/forkmon_$(VERSION)_$(DEB_ARCH).deb
DEB_INPUTS := Makefile forkmon.1 scripts/forkmon $(wildcard completions/* debian/* debian/source/*) \
	$(HOOK_SRC) $(MON_SRC) $(CLIENT_SRC) $(UNIT_SRC) $(SYS_SRC) $(HEADERS) hook/exports.map
deb: $(DEB)
$(DEB): $(DEB_INPUTS)
	@command -v dpkg-buildpackage >/dev/null || { \
		echo "forkmon: dpkg-buildpackage not found (run 'make deps')" >&2; exit 1; }
	rm -rf $(B)/deb/tree && mkdir -p $(B)/deb/tree/forkmon
	tar -cf - --exclude=./$(B) --exclude=./.git . | tar -xf - -C $(B)/deb/tree/forkmon
	cd $(B)/deb/tree/forkmon && MAKEFLAGS= dpkg-buildpackage -us -uc -b -Jauto >../build.log 2>&1 || { \
		tail -n 30 ../build.log >&2; exit 1; }
	mv $(B)/deb/tree/*.deb $(B)/deb/tree/*.buildinfo $(B)/deb/tree/*.changes \
		$(B)/deb/tree/build.log $(B)/deb/
	rm -rf $(B)/deb/tree
	@echo "forkmon: $@"

# ---- sanitize and valgrind ------------------------------------------------------------------
# make sanitize: the whole suite (forkmon-tests all, as make check) over a second build in
# build/san/ with ASan and UBSan: the monitor, helper, client, hook and the tests; the test
# programs stay as distributions build them (they are the user's). Any report fails the run
# (scripts/sanitize says how the user's programs get the hook's runtime, and why).
# make valgrind: memcheck over the monitor and the helper in a real session (scripts/valgrind).
SAN := $(B)/san
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_RT = $(shell readlink -f "$$($(CC) -print-file-name=libasan.so)")
sanitize: deps
	@$(MAKE) --no-print-directory -j$(JOBS) B=$(SAN) CFLAGS='$(SAN_FLAGS)' CLIENT_CC='$(CC)' CLIENT_LDFLAGS= MON_LDFLAGS= \
		CPPFLAGS='-DFORKMON_SAN_RUNTIME="\"$(SAN_RT)\""' tests
	@scripts/sanitize $(SAN) $(SAN_RT)

valgrind: deps
	@$(MAKE) --no-print-directory B=$(B)/vg MON_LDFLAGS= all
	@scripts/valgrind $(B)/vg

clean:
	rm -rf $(B)

.PHONY: FORCE all deps tests check check-unit demo bench install uninstall deb clean sanitize valgrind

# ---- fuzz
# libFuzzer targets for every decoder of input forkmon does not control (tests/fuzz/):
# tests/fuzz/fuzz_NAME.c and the sources FUZZ_SRC_NAME it exercises. Each is built twice:
#   $(B)/fuzz/bin/NAME     clang, libFuzzer + ASan + UBSan, its objects in $(B)/fuzz/obj/
#   $(B)/fuzz/replay/NAME  gcc with tests/fuzz/replay.c (no libFuzzer): feeds it every file
#                          of tests/fuzz/corpus/NAME and tests/fuzz/regress/NAME; `make
#                          check` runs it (suite fuzz_replay)
# `make fuzz` runs each target for FUZZ_RUNS executions (default 1M), or FUZZ_TIME
# seconds each when that is set (CI's smoke run: make fuzz FUZZ_TIME=10); FUZZ_NAMES="a b"
# runs only those targets, FUZZ_ARGS adds libFuzzer options. New inputs go
# to $(B)/fuzz/work/NAME; an input that breaks a target is copied to
# tests/fuzz/regress/NAME/ (commit it with the fix) and make fails.
FUZZ_CC ?= clang
FUZZ_RUNS ?= 1000000
FUZZ_TIME ?=
FUZZ_ARGS ?=
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRC_request := helper/wire.c common/peer.c
FUZZ_SRC_peer := common/peer.c
FUZZ_SRC_ring := common/ring.c common/peer.c
FUZZ_SRC_path := common/path.c
FUZZ_SRC_hints := $(wildcard filters/*.c) monitor/hints.c hook/candidate.c common/path.c
FUZZ_SRC_filter := $(wildcard filters/*.c)
FUZZ_SRC_events := monitor/out.c monitor/events.c common/loop.c common/escape.c
FUZZ_SRC_conn := $(filter-out monitor/main.c,$(MON_SRC))
# Longest input (-max_len): Lua's matching costs grow fast with the subject's length.
FUZZ_LEN_filter := 512
FUZZ_LEN_hints := 512
fuzz_len = $(or $(FUZZ_LEN_$(1)),4096)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 $(FUZZ_SAN)
FUZZ_INC := $(INC_tests) -Itests/fuzz
fuzz_obj = $(patsubst %.c,$(B)/fuzz/obj/%.o,$(1))
FUZZ_BIN := $(addprefix $(B)/fuzz/bin/,$(FUZZ_NAMES))
FUZZ_REPLAY := $(addprefix $(B)/fuzz/replay/,$(FUZZ_NAMES))
FUZZ_HDR := $(HEADERS) $(wildcard tests/fuzz/*.h)

.PRECIOUS: $(B)/fuzz/obj/%.o $(B)/obj/hook/candidate.o
$(B)/fuzz/obj/%.o: %.c $(FUZZ_HDR) | $(PKG_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(DEFS) $(INC_$(call folder,$<)) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(LIB_CFLAGS) -c -o $@ $<

.SECONDEXPANSION:
$(B)/fuzz/bin/%: tests/fuzz/fuzz_%.c $$(call fuzz_obj,$$(FUZZ_SRC_$$*)) $(FUZZ_HDR) | $(PKG_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(DEFS) $(FUZZ_INC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(LIB_CFLAGS) -o $@ $< \
		$(call fuzz_obj,$(FUZZ_SRC_$*)) $(MON_LIBS)

$(B)/fuzz/replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $$(call obj,$$(FUZZ_SRC_$$*)) $(FUZZ_HDR) | $(PKG_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEFS) $(FUZZ_INC) $(CFLAGS) $(WARN) $(LIB_CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c \
		$(call obj,$(FUZZ_SRC_$*)) $(MON_LIBS)

tests: $(FUZZ_REPLAY)

# One target at a time (the machine is shared): its log in $(B)/fuzz/log/NAME.log, one
# summary line each.
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-run

fuzz-run: $(FUZZ_BIN)
	@for tl in $(foreach t,$(FUZZ_NAMES),$(t):$(call fuzz_len,$(t))); do \
		t=$${tl%%:*}; len=$${tl#*:}; \
		mkdir -p $(B)/fuzz/work/$$t $(B)/fuzz/crash/$$t $(B)/fuzz/log; rm -f $(B)/fuzz/crash/$$t/*; \
		if [ -n "$(FUZZ_TIME)" ]; then lim="-max_total_time=$(FUZZ_TIME)"; else lim="-runs=$(FUZZ_RUNS)"; fi; \
		start=$$(date +%s%N); \
		$(B)/fuzz/bin/$$t $$lim -max_len=$$len -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(B)/fuzz/crash/$$t/ $(FUZZ_ARGS) $(B)/fuzz/work/$$t \
			tests/fuzz/corpus/$$t $$(test -d tests/fuzz/regress/$$t && echo tests/fuzz/regress/$$t) \
			>$(B)/fuzz/log/$$t.log 2>&1; rc=$$?; \
		end=$$(date +%s%N); \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/log/$$t.log); \
		printf 'fuzz %-8s %10s executions in %6.1f s\n' $$t "$$runs" $$(awk "BEGIN{print ($$end - $$start) / 1e9}"); \
		if [ $$rc -ne 0 ]; then \
			mkdir -p tests/fuzz/regress/$$t; \
			for c in $(B)/fuzz/crash/$$t/*; do [ -f "$$c" ] && cp "$$c" tests/fuzz/regress/$$t/; done; \
			grep -m3 -E 'ERROR|property broken|runtime error' $(B)/fuzz/log/$$t.log >&2; \
			echo "forkmon: fuzz target $$t failed (log: $(B)/fuzz/log/$$t.log); its input is kept in tests/fuzz/regress/$$t/" >&2; \
			exit 1; \
		fi; \
	done

.PHONY: fuzz fuzz-run
