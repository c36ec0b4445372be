# stable-egressd: build, test, benchmark and demo.
#
#   make          build build/stable-egressd
#   make deps     install the Debian packages the build and tests need
#   make check    deps + build + every test (what CI runs)
#   make unit     unit tests (plain and under ASan+UBSan)
#   make bench    benchmarks, figures printed
#   make fuzz     a short, bounded libFuzzer campaign per parser
#   make demo     the failover drill against the embedded fakes
#   make drill    egress through failovers in network namespaces (root);
#                 ROUNDS=N rounds of every scenario (default 3)
#   make image    the OCI image from Debian packages (build/image/)

VERSION	:= 0.1.0
CC	?= gcc
ifeq ($(origin CC),default)
CC	:= gcc
endif
CLANG	?= clang
PYTHON	?= python3
B	:= build

PKGS	:= libcurl libcjson yaml-0.1 libseccomp libcap
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# The daemon itself is linked without libcurl: common/curl_dl.c loads it
# in the two workers that use it (start-up time; the file says why).
# Unit tests, benchmarks and fuzzers link libcurl as usual.
DAEMON_LIBS = $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)

# _FORTIFY_SOURCE=3 needs __builtin_dynamic_object_size (gcc >= 12).
FORTIFY := $(shell printf '#if !__has_builtin(__builtin_dynamic_object_size)\n#error\n#endif\n' | \
	$(CC) -x c -E - >/dev/null 2>&1 && echo 3 || echo 2)

WARN	:= -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wvla
BASE	:= -std=c11 -D_GNU_SOURCE -I. -DSE_VERSION='"$(VERSION)"' $(WARN)
HARDEN	:= -fPIE -fstack-protector-strong -fstack-clash-protection \
	   -D_FORTIFY_SOURCE=$(FORTIFY) -fcf-protection
CFLAGS	?= -O2 -g
ALL_CFLAGS = $(BASE) $(HARDEN) $(CFLAGS) $(PKG_CFLAGS)
LDHARDEN := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
SAN	:= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all

DIRS	:= common spawner supervisor supervisor/config supervisor/net k8s-worker hcloud-worker probe-worker
ALL_SRC	:= $(foreach d,$(DIRS),$(wildcard $(d)/*.c))
MAIN_SRC := supervisor/main.c
DL_SRC	:= common/curl_dl.c
LIB_SRC	:= $(filter-out $(MAIN_SRC) $(DL_SRC),$(ALL_SRC))
HDRS	:= $(foreach d,$(DIRS),$(wildcard $(d)/*.h))

# Object names flatten the directory so the archive has no duplicates.
obj	= $(addprefix $(1)/obj/,$(subst /,__,$(2:.c=.o)))

REL_OBJ	:= $(call obj,$(B),$(LIB_SRC))
TST_OBJ	:= $(call obj,$(B)/test,$(LIB_SRC))
ASAN_OBJ := $(call obj,$(B)/asan,$(LIB_SRC))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
ASAN_BIN := $(patsubst tests/unit/%.c,$(B)/asan/unit/%,$(UNIT_SRC))
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 10

.PHONY: all deps check unit unit-plain unit-asan integration bench fuzz fuzz-bin \
	demo drill format fmt-check clean test-bin image image-deps asan-bin
.SUFFIXES:

all: $(B)/stable-egressd

# ---- release binary ------------------------------------------------------
# One explicit rule per source and flavour (release, test hooks, ASan).
define objrule
$(call obj,$(B),$(1)): $(1) $(HDRS)
	@mkdir -p $$(@D)
	$(CC) $$(ALL_CFLAGS) -c $(1) -o $$@
$(call obj,$(B)/test,$(1)): $(1) $(HDRS)
	@mkdir -p $$(@D)
	$(CC) $$(ALL_CFLAGS) -DSE_TEST_HOOKS -c $(1) -o $$@
$(call obj,$(B)/asan,$(1)): $(1) $(HDRS)
	@mkdir -p $$(@D)
	$(CC) $$(BASE) -O1 -g $$(SAN) $$(PKG_CFLAGS) -c $(1) -o $$@
endef
$(foreach s,$(LIB_SRC) $(DL_SRC),$(eval $(call objrule,$(s))))

$(B)/libse.a: $(REL_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/stable-egressd: $(MAIN_SRC) $(B)/libse.a $(call obj,$(B),$(DL_SRC))
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) $(MAIN_SRC) $(B)/libse.a \
	    $(call obj,$(B),$(DL_SRC)) $(DAEMON_LIBS) -o $@

# ---- test build: same code plus the test-only hooks (never shipped) -----
$(B)/test/libse.a: $(TST_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/test/stable-egressd: $(MAIN_SRC) $(B)/test/libse.a \
    $(call obj,$(B)/test,$(DL_SRC))
	$(CC) $(ALL_CFLAGS) -DSE_TEST_HOOKS $(LDHARDEN) $(MAIN_SRC) \
	    $(B)/test/libse.a $(call obj,$(B)/test,$(DL_SRC)) $(DAEMON_LIBS) \
	    -o $@

test-bin: $(B)/stable-egressd $(B)/test/stable-egressd

# ---- the daemon under ASan + UBSan, for one full controller e2e run -----
# The release code (no test hooks), as the unit tests' ASan archive is.
$(B)/asan/stable-egressd: $(MAIN_SRC) $(B)/asan/libse.a \
    $(call obj,$(B)/asan,$(DL_SRC))
	$(CC) $(BASE) -O1 -g $(SAN) $(PKG_CFLAGS) $(MAIN_SRC) \
	    $(B)/asan/libse.a $(call obj,$(B)/asan,$(DL_SRC)) $(DAEMON_LIBS) \
	    -o $@

asan-bin: $(B)/asan/stable-egressd

# ---- unit tests (cmocka), plain and under ASan + UBSan -------------------
$(B)/unit/%: tests/unit/%.c $(B)/libse.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) $< $(B)/libse.a $(PKG_LIBS) \
	    -lcmocka -o $@

$(B)/asan/libse.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/asan/unit/%: tests/unit/%.c $(B)/asan/libse.a
	@mkdir -p $(@D)
	$(CC) $(BASE) -O1 -g $(SAN) $(PKG_CFLAGS) $< $(B)/asan/libse.a \
	    $(PKG_LIBS) -lcmocka -o $@

unit-plain: $(UNIT_BIN)
unit-asan: $(ASAN_BIN)

unit: deps unit-plain unit-asan
	$(PYTHON) tests/run.py --unit

# ---- benchmarks ----------------------------------------------------------
$(B)/bench/%: bench/%.c $(B)/libse.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDHARDEN) $< $(B)/libse.a $(PKG_LIBS) -lm -o $@

bench: deps all $(BENCH_BIN)
	$(PYTHON) bench/run.py

# ---- fuzzing (clang + libFuzzer), bounded --------------------------------
# -fno-sanitize-recover=all: undefined behaviour a fuzzer finds stops the
# run (and tests/run.py sets UBSAN_OPTIONS=halt_on_error=1 as well); it
# never prints and passes.
FUZZ_CFLAGS = $(BASE) -Wno-missing-prototypes -O1 -g $(PKG_CFLAGS) \
	-fno-sanitize-recover=all
FUZZ_OBJ := $(call obj,$(B)/fuzz,$(LIB_SRC))

define fuzzobj
$(call obj,$(B)/fuzz,$(1)): $(1) $(HDRS)
	@mkdir -p $$(@D)
	$(CLANG) $$(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    -c $(1) -o $$@
endef
$(foreach s,$(LIB_SRC),$(eval $(call fuzzobj,$(s))))

$(B)/fuzz/libse.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/fuzz/%: tests/fuzz/%.c $(B)/fuzz/libse.a
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    $< $(B)/fuzz/libse.a $(PKG_LIBS) -o $@

fuzz-bin: $(FUZZ_BIN)

fuzz: deps $(FUZZ_BIN)
	$(PYTHON) tests/run.py --fuzz --fuzz-seconds $(FUZZ_SECONDS)

# ---- the whole suite -----------------------------------------------------
# Every test, plus each fuzz target for a few seconds over its corpus so
# the targets cannot rot; `make fuzz` is the longer campaign.
check: deps image-deps all test-bin asan-bin unit-plain unit-asan fuzz-bin fmt-check
	$(PYTHON) tests/run.py --all --fuzz --fuzz-seconds 3

demo: deps all
	$(PYTHON) tests/demo.py

ROUNDS ?= 3
drill: deps all
	$(PYTHON) tests/drill/drill.py --rounds $(ROUNDS)

# ---- formatting ----------------------------------------------------------
FMT_SRC = $(ALL_SRC) $(HDRS) $(UNIT_SRC) $(BENCH_SRC) $(FUZZ_SRC)

format:
	clang-format -i $(FMT_SRC)

fmt-check:
	@clang-format --dry-run --Werror $(FMT_SRC) && \
	    echo "clang-format: $(words $(FMT_SRC)) files clean"

# ---- Debian packages -----------------------------------------------------
DEB_PKGS := gcc make libc6-dev pkg-config libcurl4-openssl-dev libcjson-dev \
	libyaml-dev libseccomp-dev libcap-dev libcmocka-dev clang \
	libclang-rt-14-dev clang-format man-db openssl python3 curl iproute2 \
	procps nftables prometheus python3-yaml libfaketime

deps:
	@sh tests/deps.sh $(DEB_PKGS)

# ---- container image: Debian packages, no registry ----------------------
# The root filesystem is cached under build/image/cache, keyed by the
# package list; docs/operations.md says what is in the image.
image-deps:
	@sh tests/deps.sh mmdebstrap || \
	    echo "image-deps: no mmdebstrap; make image cannot build"

image: image-deps all
	$(PYTHON) deploy/image/mkimage.py build --binary $(B)/stable-egressd \
	    --out $(B)/image --version $(VERSION)

clean:
	rm -rf $(B)
