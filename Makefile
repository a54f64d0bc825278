# vmon — build, tests, benchmarks.  `make` builds build/vmon; `make check` runs every test.
CC      ?= gcc
NASM    ?= nasm
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
	   -Wformat=2 -Wundef -Wredundant-decls -Wshadow
CFLAGS  ?= -O2 -g
CFLAGS  += $(CSTD) $(WARN) -Isrc -MMD -MP -pthread
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
TSAN    := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
LDLIBS  := -pthread -lm -ljson-c -lzstd -lz -lslirp -lseccomp

LIB_SRCS  := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
UNIT_SRCS := $(shell find tests/unit -name '*.c' | sort)
GUEST_ASM := $(shell find tests/guests -name '*.asm' | sort)
DIFF_SRCS := $(shell find tests/difftest -name '*.c' | sort)

OBJ  := build/obj
SOBJ := build/san
TOBJ := build/tsan

LIB_OBJS  := $(LIB_SRCS:%.c=$(OBJ)/%.o)
SLIB_OBJS := $(LIB_SRCS:%.c=$(SOBJ)/%.o)
TLIB_OBJS := $(LIB_SRCS:%.c=$(TOBJ)/%.o)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(SOBJ)/%.o)
DIFF_OBJS := $(DIFF_SRCS:%.c=$(SOBJ)/%.o)
GUESTS    := $(GUEST_ASM:tests/guests/%.asm=build/guests/%.bin)

.PHONY: all check check-slow unit tsan guests guest demo bench fuzz-diff fuzz fuzz-smoke \
	fuzz-replay fuzz-coverage linux-kvm kvm-nested clean
all: build/vmon guests

build/vmon: $(OBJ)/src/main.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The sanitized build runs the tests: ASan + UBSan catch what a hostile guest could trigger.
build/vmon-san: $(SOBJ)/src/main.o $(SLIB_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# ThreadSanitizer build (make tsan): data races between vCPU, event, migration and API threads.
# -Wno-tsan: TSan cannot model fences; the only ones order guest-visible kvmclock updates.
build/vmon-tsan: $(TOBJ)/src/main.o $(TLIB_OBJS)
	$(CC) $(CFLAGS) $(TSAN) -o $@ $^ $(LDLIBS)

build/unit-tests: $(UNIT_OBJS) $(SLIB_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# Differential tester: random instruction sequences on the host CPU vs the bt engine.
build/difftest: $(DIFF_OBJS) $(SLIB_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# The Debian packages everything here needs (scripts/install-deps.sh), once per build tree.
build/.deps: scripts/install-deps.sh
	scripts/install-deps.sh $@

$(OBJ)/%.o: %.c | build/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The bt interpreter's handlers and loop: -O3 runs guests measurably faster there (bench/interp.sh).
$(OBJ)/src/engine/bt/%.o: CFLAGS += -O3

$(SOBJ)/%.o: %.c | build/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -c -o $@ $<

$(TOBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(TSAN) -c -o $@ $<

build/guests/%.bin: tests/guests/%.asm $(wildcard tests/guests/*.inc tests/guests/*/*.inc) \
		   | build/.deps
	@mkdir -p $(dir $@)
	$(NASM) -f bin -I tests/guests/ -o $@ $<

guests: $(GUESTS)

# Static programs run inside the Linux guest (tests/guest-programs/), packed as an initramfs
# fragment the tests append to the guest's own (Linux unpacks concatenated archives in order).
GUEST_PROGS := $(patsubst tests/guest-programs/%.c,build/guest-programs/%,\
		$(wildcard tests/guest-programs/*.c))
build/guest-programs/%: tests/guest-programs/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -O2 $(WARN) -static -no-pie -pthread -o $@ $<

build/guest-programs.cpio.gz: $(GUEST_PROGS)
	rm -rf build/guest-programs/root && mkdir -p build/guest-programs/root/usr/bin
	cp $^ build/guest-programs/root/usr/bin/
	(cd build/guest-programs/root && find . -mindepth 1 | cpio -o -H newc --quiet) | gzip -9n >$@

unit: build/unit-tests
	build/unit-tests

check: build/vmon build/vmon-san build/unit-tests build/difftest guests build/guest-programs.cpio.gz \
       fuzz-replay
	tests/run.sh

# The guests (SMP ones included), pause, snapshot, migration and API tests under ThreadSanitizer.
tsan: build/vmon build/vmon-tsan guests
	tests/tsan.sh

# The default Linux guest: Debian's cloud kernel + busybox-static, cached under build/guest/.
guest:
	scripts/build-guest.sh build/guest

# The guest with a shell, --net user (and a web server on the host) and a scratch disk made in
# build/demo/ (scripts/demo.sh); DEMO_ARGS adds vmon options, e.g. DEMO_ARGS="--reboot exit".
demo: build/vmon guest
	scripts/demo.sh $(DEMO_ARGS)

# Slow suites (minutes each; .ci/run runs them after make check): a whole Debian system with
# systemd, and memtest86+'s first pass, under bt.
check-slow: build/vmon
	tests/slow/run.sh

# Slow: Debian's kernel prints its first lines under the kvm engine (skips without /dev/kvm).
linux-kvm: build/vmon guest
	tests/slow/linux_kvm.sh

# Slow: the kvm engine on nested KVM, in QEMU TCG with AMD SVM (for hosts without /dev/kvm).
kvm-nested: build/vmon build/vmon-san guests
	bench/kvm.sh --build-only
	tests/slow/kvm_nested.sh

bench: build/vmon guests
	bench/run.sh

# Runs as long as asked (FUZZ_SECONDS) and keeps a reproducer per mismatch in build/fuzz-diff/.
FUZZ_SECONDS ?= 300
fuzz-diff: build/difftest
	build/difftest --seed $$(date +%s) --seconds $(FUZZ_SECONDS) --repro build/fuzz-diff

# ---- Fuzzing: libFuzzer harnesses (tests/fuzz/TARGET.c) -------------------------------------
# `make fuzz` runs every harness FUZZ_SECONDS (default above) from its seeds; new inputs go to
# build/fuzz/TARGET/corpus/, crashes leave reproducers as build/fuzz/TARGET/crash-*.
# `make fuzz-smoke` is the short run CI does. The harnesses are clang-only (libFuzzer); the same
# harnesses built by $(CC) with the sanitizers replay the seeds and tests/fuzz/regressions/ in
# `make check` (tests/integration/fuzz_replay.sh), so no clang is needed for that.
FUZZ_CC      ?= clang-14
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/*.c)))
FUZZ_SUPPORT := $(filter-out tests/fuzz/support/replay.c,$(wildcard tests/fuzz/support/*.c)) \
		tests/unit/boot_fixture.c
FOBJ         := build/fuzz/obj
COBJ         := build/fuzz/cov/obj
# clang's -Wextra also flags `{ NULL }` initialisers and the kernel's variable-size structs.
FUZZ_CFLAGS  := -O1 -g $(CSTD) $(WARN) -Wno-missing-field-initializers \
		-Wno-gnu-variable-sized-type-not-at-end -Isrc -Itests/unit -Itests/fuzz \
		-Itests/fuzz/support -MMD -MP -pthread -fno-omit-frame-pointer
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_BINS    := $(FUZZ_TARGETS:%=build/fuzz/bin/%)
REPLAY_BINS  := $(FUZZ_TARGETS:%=build/fuzz-replay/%)

# The network harness is the backend itself (it defines net_backend_start): its binaries link
# without src/net/backend.c.
FUZZ_LINK_OUT :=
build/fuzz/bin/net build/fuzz-replay/net build/fuzz/cov/bin/net: FUZZ_LINK_OUT := %/src/net/backend.o

$(FOBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libvmon.a: $(LIB_SRCS:%.c=$(FOBJ)/%.o)
	rm -f $@
	ar rcs $@ $^

build/fuzz/bin/%: $(FOBJ)/tests/fuzz/%.o $(FUZZ_SUPPORT:%.c=$(FOBJ)/%.o) build/fuzz/libvmon.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $(filter-out $(FUZZ_LINK_OUT),$^) \
		$(LDLIBS)

$(SOBJ)/tests/fuzz/%.o: CFLAGS += -Itests/fuzz -Itests/fuzz/support

build/fuzz-replay/%: $(SOBJ)/tests/fuzz/%.o $(SOBJ)/tests/fuzz/support/replay.o \
		     $(FUZZ_SUPPORT:%.c=$(SOBJ)/%.o) $(SLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $(filter-out $(FUZZ_LINK_OUT),$^) $(LDLIBS)

fuzz-replay: $(REPLAY_BINS)

# Pattern-built objects, kept between builds.
.SECONDARY: $(patsubst %.c,$(SOBJ)/%.o,$(wildcard tests/fuzz/*.c tests/fuzz/support/*.c)) \
	    $(patsubst %.c,$(FOBJ)/%.o,$(wildcard tests/fuzz/*.c tests/fuzz/support/*.c)) \
	    $(patsubst %.c,$(COBJ)/%.o,$(wildcard tests/fuzz/*.c tests/fuzz/support/*.c)) \
	    $(LIB_SRCS:%.c=$(COBJ)/%.o)

fuzz: build/vmon guests $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: build/vmon guests $(FUZZ_BINS)
	tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# Line coverage of what the fuzzers' corpora reach (after `make fuzz`), per source file of each
# harness's surface: the harnesses with clang's source-based coverage, replaying the corpora.
$(COBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fprofile-instr-generate -fcoverage-mapping -c -o $@ $<

build/fuzz/cov/bin/%: $(COBJ)/tests/fuzz/%.o $(COBJ)/tests/fuzz/support/replay.o \
		      $(FUZZ_SUPPORT:%.c=$(COBJ)/%.o) $(LIB_SRCS:%.c=$(COBJ)/%.o)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fprofile-instr-generate -o $@ $(filter-out $(FUZZ_LINK_OUT),$^) $(LDLIBS)

fuzz-coverage: $(FUZZ_TARGETS:%=build/fuzz/cov/bin/%)
	tests/fuzz/coverage.sh $(FUZZ_TARGETS)

clean:
	rm -rf build/obj build/san build/tsan build/vmon build/vmon-san build/vmon-tsan build/unit-tests \
		build/difftest build/guests build/tsan-logs build/demo build/guest-programs \
		build/guest-programs.cpio.gz build/fuzz/obj build/fuzz/bin build/fuzz/libvmon.a \
		build/fuzz/cov build/fuzz-replay

-include $(shell find build/obj build/san build/tsan $(FOBJ) $(COBJ) -name '*.d' 2>/dev/null)
