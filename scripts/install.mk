# Installing (GNU conventions): the programs of bin/ (never the sanitizer
# build), the man pages (docs/man/*.scd, made into roff by scdoc in
# build/man/), the bash completions (completion/), and whatever systemd/
# holds: units (*.service, *.socket, *.target, *.path, *.timer) to
# systemdunitdir, udev rules (*.rules, there and in udev/) to
# udevrulesdir, any other executable (ublk-qcow-attach, which the unit
# runs and an admin may run by hand) to sbindir.  @sbindir@, @bindir@,
# @libexecdir@ and @sysconfdir@ in units, rules and scripts become the
# installed paths.
#
#   make install [DESTDIR=/tmp/root] [PREFIX=/usr] [bindir=...] ...
#   make uninstall (the same variables): removes exactly those files
#   make man: the man pages alone, in build/man/
#   make deb: the Debian package, built from a copy of the tree in
#   build-deb/ (debian/), then checked by lintian

PREFIX ?= /usr/local
prefix ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir ?= $(exec_prefix)/bin
sbindir ?= $(exec_prefix)/sbin
libexecdir ?= $(exec_prefix)/libexec
datarootdir ?= $(prefix)/share
datadir ?= $(datarootdir)
sysconfdir ?= $(if $(filter /usr,$(prefix)),/etc,$(prefix)/etc)
mandir ?= $(datarootdir)/man
man1dir ?= $(mandir)/man1
man8dir ?= $(mandir)/man8
bashcompdir ?= $(datadir)/bash-completion/completions
systemdunitdir ?= $(prefix)/lib/systemd/system
udevrulesdir ?= $(prefix)/lib/udev/rules.d

INSTALL ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 0755
INSTALL_DATA ?= $(INSTALL) -m 0644
SCDOC ?= scdoc

MAN_SRCS := $(wildcard docs/man/*.scd)
MAN_PAGES := $(MAN_SRCS:docs/man/%.scd=build/man/%)
COMPLETIONS := $(wildcard completion/*.bash)
SYSTEMD_UNITS := $(wildcard $(addprefix systemd/*.,service socket target path timer))
SYSTEMD_RULES := $(wildcard systemd/*.rules udev/*.rules)
SYSTEMD_EXECS := $(filter-out $(SYSTEMD_UNITS) $(SYSTEMD_RULES), \
	$(foreach f,$(wildcard systemd/*),$(if $(shell test -f $f -a -x $f && echo x),$f)))

SUBST_PATHS := sed -e 's|@sbindir@|$(sbindir)|g' -e 's|@bindir@|$(bindir)|g' \
	-e 's|@libexecdir@|$(libexecdir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g'

.PHONY: man install uninstall deb check-deb

man: $(MAN_PAGES)

build/man/%: docs/man/%.scd
	@command -v $(SCDOC) >/dev/null || \
		{ echo "$(SCDOC) not found: make deps, or apt-get install scdoc" >&2; exit 1; }
	@mkdir -p $(dir $@)
	$(SCDOC) <$< >$@.tmp
	mv -f $@.tmp $@

ifeq ($(SAN),1)
install uninstall:
	$(error install the release build: make install, without SAN=1)
else
install: bin/qcow-img bin/qcow-io bin/ublk-qcow $(MAN_PAGES)
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(sbindir) \
		$(DESTDIR)$(man1dir) $(DESTDIR)$(man8dir) $(DESTDIR)$(bashcompdir)
	$(INSTALL_PROGRAM) bin/qcow-img bin/qcow-io $(DESTDIR)$(bindir)/
	$(INSTALL_PROGRAM) bin/ublk-qcow $(DESTDIR)$(sbindir)/
	$(INSTALL_DATA) $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(man1dir)/
	$(INSTALL_DATA) $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(man8dir)/
	$(foreach f,$(COMPLETIONS),$(INSTALL_DATA) $f \
		$(DESTDIR)$(bashcompdir)/$(basename $(notdir $f)) &&) true
ifneq ($(SYSTEMD_UNITS),)
	$(INSTALL) -d $(DESTDIR)$(systemdunitdir)
	$(foreach f,$(SYSTEMD_UNITS),$(SUBST_PATHS) $f >$(DESTDIR)$(systemdunitdir)/$(notdir $f) && \
		chmod 0644 $(DESTDIR)$(systemdunitdir)/$(notdir $f) &&) true
endif
ifneq ($(SYSTEMD_RULES),)
	$(INSTALL) -d $(DESTDIR)$(udevrulesdir)
	$(foreach f,$(SYSTEMD_RULES),$(SUBST_PATHS) $f >$(DESTDIR)$(udevrulesdir)/$(notdir $f) && \
		chmod 0644 $(DESTDIR)$(udevrulesdir)/$(notdir $f) &&) true
endif
ifneq ($(SYSTEMD_EXECS),)
	$(foreach f,$(SYSTEMD_EXECS),$(SUBST_PATHS) $f >$(DESTDIR)$(sbindir)/$(notdir $f) && \
		chmod 0755 $(DESTDIR)$(sbindir)/$(notdir $f) &&) true
endif

# the files install wrote; directories are left (they may be shared)
uninstall:
	rm -f $(DESTDIR)$(bindir)/qcow-img $(DESTDIR)$(bindir)/qcow-io \
		$(DESTDIR)$(sbindir)/ublk-qcow \
		$(addprefix $(DESTDIR)$(man1dir)/,$(notdir $(filter %.1,$(MAN_PAGES)))) \
		$(addprefix $(DESTDIR)$(man8dir)/,$(notdir $(filter %.8,$(MAN_PAGES)))) \
		$(addprefix $(DESTDIR)$(bashcompdir)/,$(basename $(notdir $(COMPLETIONS)))) \
		$(addprefix $(DESTDIR)$(systemdunitdir)/,$(notdir $(SYSTEMD_UNITS))) \
		$(addprefix $(DESTDIR)$(udevrulesdir)/,$(notdir $(SYSTEMD_RULES))) \
		$(addprefix $(DESTDIR)$(sbindir)/,$(notdir $(SYSTEMD_EXECS)))
endif

# The Debian package, built from a copy of the tree (tracked and new files,
# as they are now) so that dpkg-buildpackage's clean leaves build/ and
# bin/ alone: build/deb/qcow-ublk_VERSION_ARCH.deb, then lintian, which
# fails the target on an error.  DEB_BUILD_OPTIONS defaults to one job
# per CPU and no tests (make check is the project's, not the package's).
DEB_DIR := build/deb
DEB_BUILD_OPTIONS ?= parallel=$(shell nproc) nocheck
export DEB_BUILD_OPTIONS

deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/qcow-ublk
	git ls-files --cached --others --exclude-standard | \
		while read -r f; do [ -f "$$f" ] && [ "$$f" != .cache ] && echo "$$f"; done | \
		tar -cf - --verbatim-files-from -T - | tar -xf - -C $(DEB_DIR)/qcow-ublk
	cd $(DEB_DIR)/qcow-ublk && dpkg-buildpackage -b -us -uc
	lintian --fail-on error $(DEB_DIR)/*.changes

# make deb, then tests/package/deb.sh: the package's files against make
# install's, installed into and purged from a scratch root with dpkg --root
check-deb: deb
	bash tests/package/deb.sh
