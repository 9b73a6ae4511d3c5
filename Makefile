# flowfs - a FUSE filesystem that ships data to the cloud.
#
#   make run      install missing packages, build, mount the demo at ./mnt
#   make check    install what the tests need, build, run every test
#   make install  PREFIX=/usr/local DESTDIR=
#   make bench    figures, not tests

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/flowfs
SYSCONFDIR ?= /etc

CC        ?= cc
CFLAGS    ?= -O2 -g
PKGS      := fuse3 libcurl openssl zlib liblzma sqlite3
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Debian's iniparser ships no .pc file.
INI_CFLAGS = $(shell pkg-config --cflags iniparser 2>/dev/null || echo -I/usr/include/iniparser)
INI_LIBS   = $(shell pkg-config --libs iniparser 2>/dev/null || echo -liniparser)

ifdef SANITIZE
CFLAGS    += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=address,undefined
endif

ALL_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow \
	     -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -DFLOWFS_VERSION='"$(VERSION)"' \
	     -pthread $(PKG_CFLAGS) $(INI_CFLAGS) $(CFLAGS)
ALL_LIBS   = -pthread $(PKG_LIBS) $(INI_LIBS)

UTIL_SRC    := $(wildcard util/*.c)
BACKEND_SRC := $(wildcard backend/*.c)
CACHE_SRC   := $(wildcard cache/*.c)
FS_SRC      := $(filter-out fs/flowctl.c fs/reassemble.c,$(wildcard fs/*.c))
LIB_OBJ     := $(UTIL_SRC:.c=.o) $(BACKEND_SRC:.c=.o) $(CACHE_SRC:.c=.o)
FS_OBJ      := $(FS_SRC:.c=.o)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:.c=)

.PHONY: all deps test-deps run check unit e2e install uninstall clean lint bench

all: flowfs $(if $(wildcard fs/flowctl.c),flowctl)

%.o: %.c $(wildcard */*.h)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

libflowfs.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

flowfs: $(FS_OBJ) libflowfs.a
	$(CC) $(LDFLAGS) -o $@ $(FS_OBJ) libflowfs.a $(ALL_LIBS)

flowctl: fs/flowctl.o fs/reassemble.o libflowfs.a
	$(CC) $(LDFLAGS) -o $@ fs/flowctl.o fs/reassemble.o libflowfs.a $(ALL_LIBS)

tests/unit/test_%: tests/unit/test_%.c tests/unit/unit.h libflowfs.a
	$(CC) $(ALL_CFLAGS) -o $@ $< libflowfs.a $(ALL_LIBS)

deps:
	@sh contrib/install-deps.sh build

test-deps:
	@sh contrib/install-deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	@sh contrib/demo.sh

unit: $(UNIT_BIN)

check: test-deps
	@$(MAKE) --no-print-directory all unit
	@bash tests/run

bench:
	@sh contrib/install-deps.sh bench
	@$(MAKE) --no-print-directory all
	@bash tests/bench/bench.sh
	@echo
	@bash tests/bench/bench_s3.sh

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
	install -m 644 $(wildcard contrib/*.ini contrib/*.mount contrib/*.automount contrib/fstab*) $(DESTDIR)$(DOCDIR)/contrib/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/flowfs $(DESTDIR)$(BINDIR)/flowctl
	rm -f $(DESTDIR)$(MANDIR)/man1/flowfs.1 $(DESTDIR)$(MANDIR)/man1/flowctl.1 $(DESTDIR)$(MANDIR)/man5/flowfs.ini.5
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -f flowfs flowctl libflowfs.a */*.o $(UNIT_BIN)
