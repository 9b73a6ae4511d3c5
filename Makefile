# flowfs - a FUSE filesystem that ships data to the cloud.
#
#   make run      install missing packages, build, mount the demo at ./mnt
#   make check    install what the tests need, build, run every test
#   make install  PREFIX=/usr/local DESTDIR=
#   make check-faults  the fault suite alone, each fault FAULT_SECONDS (default 30)
#   make bench    figures, not tests
#   make fuzz     libFuzzer targets (clang), each run FUZZ_SECONDS (default 30)
#   make check-valgrind  unit tests under valgrind

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/flowfs
SYSCONFDIR ?= /etc

CC        ?= cc
CFLAGS    ?= -O2 -g
PKGS      := fuse3 libcurl openssl zlib liblzma libzstd sqlite3
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Debian's iniparser ships no .pc file.
INI_CFLAGS = $(shell pkg-config --cflags iniparser 2>/dev/null || echo -I/usr/include/iniparser)
INI_LIBS   = $(shell pkg-config --libs iniparser 2>/dev/null || echo -liniparser)
# nor does libbz2.
BZ2_LIBS   = -lbz2

ifdef SANITIZE
CFLAGS    += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif

BASE_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow \
	     -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -DFLOWFS_VERSION='"$(VERSION)"' \
	     -pthread $(PKG_CFLAGS) $(INI_CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) $(CFLAGS)
ALL_LIBS   = -pthread $(PKG_LIBS) $(INI_LIBS) $(BZ2_LIBS)

UTIL_SRC    := $(wildcard util/*.c)
BACKEND_SRC := $(wildcard backend/*.c)
CACHE_SRC   := $(wildcard cache/*.c)
REC_SRC     := $(wildcard records/*.c)
CTL_SRC     := fs/flowctl.c fs/flowctl_read.c fs/reassemble.c fs/pipectl.c
FS_SRC      := $(filter-out $(CTL_SRC),$(wildcard fs/*.c))
LIB_OBJ     := $(UTIL_SRC:.c=.o) $(BACKEND_SRC:.c=.o) $(CACHE_SRC:.c=.o) $(REC_SRC:.c=.o)
FS_OBJ      := $(FS_SRC:.c=.o)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:.c=)

# Fuzzers: the library again, built by clang with libFuzzer's coverage and
# ASan + UBSan, in tests/fuzz/obj/ so it never mixes with the gcc objects.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -Wno-missing-field-initializers -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:.c=)
FUZZ_LIB_OBJ := $(addprefix tests/fuzz/obj/,$(LIB_OBJ))
VALGRIND     ?= valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --quiet

.PHONY: all deps test-deps run check unit e2e install uninstall clean lint bench \
	fuzz fuzz-build check-valgrind check-faults

all: flowfs $(if $(wildcard fs/flowctl.c),flowctl)

# Objects are rebuilt when the compiler or flags change (make SANITIZE=1 ...
# after a plain build): .cflags holds the last set used.
BUILD_ID := $(CC) $(ALL_CFLAGS) $(LDFLAGS)
ifneq ($(BUILD_ID),$(file <.cflags))
$(file >.cflags,$(BUILD_ID))
endif
# written above while make reads this file, after make has looked at the
# directory: without a rule of its own, a fresh clone's first `make` would
# not see it and fall back to the built-in %.o rule (no pkg-config flags)
.cflags: ;

%.o: %.c $(wildcard */*.h) .cflags
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

libflowfs.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

flowfs: $(FS_OBJ) libflowfs.a
	$(CC) $(LDFLAGS) -o $@ $(FS_OBJ) libflowfs.a $(ALL_LIBS)

flowctl: $(CTL_SRC:.c=.o) libflowfs.a
	$(CC) $(LDFLAGS) -o $@ $(CTL_SRC:.c=.o) libflowfs.a $(ALL_LIBS)

tests/unit/test_%: tests/unit/test_%.c tests/unit/unit.h libflowfs.a .cflags
	$(CC) $(ALL_CFLAGS) -o $@ $< libflowfs.a $(ALL_LIBS)

tests/e2e/recconv: tests/e2e/recconv.c libflowfs.a .cflags
	$(CC) $(ALL_CFLAGS) -o $@ $< libflowfs.a $(ALL_LIBS)

tests/fuzz/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

tests/fuzz/libflowfs-fuzz.a: $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/libflowfs-fuzz.a
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
		tests/fuzz/libflowfs-fuzz.a $(ALL_LIBS)

fuzz-build: $(FUZZ_BIN)

# Each fuzzer starts from its seeds in tests/fuzz/corpus/NAME; what it finds
# goes to tests/fuzz/work/NAME (not in git), crashes to tests/fuzz/work/.
fuzz: fuzz-build
	@for f in $(FUZZ_BIN); do \
		n=$$(basename $$f); mkdir -p tests/fuzz/work/$$n; \
		echo "== $$n for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=tests/fuzz/work/ tests/fuzz/work/$$n \
			tests/fuzz/corpus/$$n || exit 1; \
	done

check-valgrind: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do \
		echo "== valgrind $$t"; \
		$(VALGRIND) ./$$t || { echo "FAIL - valgrind $$t"; exit 1; }; \
	done

deps:
	@sh contrib/install-deps.sh build

test-deps:
	@sh contrib/install-deps.sh test

run:
	@sh contrib/install-deps.sh run
	@$(MAKE) --no-print-directory all
	@sh contrib/demo.sh

unit: $(UNIT_BIN) tests/e2e/recconv

check: test-deps
	@$(MAKE) --no-print-directory all unit
	@bash tests/run

# make check runs the fault suite too, with faults of a few seconds each.
check-faults: test-deps
	@$(MAKE) --no-print-directory all
	@FAULT_SECONDS=$${FAULT_SECONDS:-30} CRASH_KILLS=$${CRASH_KILLS:-50} TEST_TIMEOUT=3600 \
		bash tests/run tests/e2e/t_faults_*.sh

bench:
	@sh contrib/install-deps.sh bench
	@$(MAKE) --no-print-directory all
	@bash tests/bench/bench.sh
	@echo
	@bash tests/bench/bench_s3.sh
	@echo
	@bash tests/bench/bench_pipeline.sh

lint:
	@! grep -rlE '#include *<(curl/|openssl/|sqlite3\.h)' fs || { echo "fs/ must not include curl, OpenSSL or SQLite"; exit 1; }
	@! grep -rlE '#include *<(fuse|sqlite3\.h)' backend || { echo "backend/ must not include FUSE or SQLite"; exit 1; }
	@! grep -rlE '#include *<sqlite3\.h>' util backend fs || { echo "only cache/ includes sqlite3.h"; exit 1; }
	@! grep -nE '\b(sprintf|strcpy|strcat|atoi|strtok|strerror)\(' */*.c || { echo "banned function"; exit 1; }
	@echo lint ok

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/contrib
	install -m 755 flowfs $(DESTDIR)$(BINDIR)/flowfs
	$(if $(wildcard flowctl),install -m 755 flowctl $(DESTDIR)$(BINDIR)/flowctl)
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	install -m 644 $(wildcard contrib/*.ini contrib/*.mount contrib/*.automount contrib/*.service contrib/*.timer contrib/fstab*) $(DESTDIR)$(DOCDIR)/contrib/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/flowfs $(DESTDIR)$(BINDIR)/flowctl
	rm -f $(DESTDIR)$(MANDIR)/man1/flowfs.1 $(DESTDIR)$(MANDIR)/man1/flowctl.1 $(DESTDIR)$(MANDIR)/man5/flowfs.ini.5
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -f flowfs flowctl libflowfs.a */*.o .cflags $(UNIT_BIN) $(FUZZ_BIN) tests/fuzz/libflowfs-fuzz.a tests/e2e/recconv
	rm -rf tests/fuzz/obj tests/fuzz/work
