# vmon — build, tests, benchmarks.  `make` builds build/vmon; `make check` runs every test.
CC      ?= gcc
NASM    ?= nasm
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
	   -Wformat=2 -Wundef -Wredundant-decls -Wshadow
CFLAGS  ?= -O2 -g
CFLAGS  += $(CSTD) $(WARN) -Isrc -MMD -MP -pthread
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDLIBS  := -pthread -lm -ljson-c -lzstd -lz -lslirp -lseccomp

LIB_SRCS  := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
UNIT_SRCS := $(shell find tests/unit -name '*.c' | sort)
GUEST_ASM := $(shell find tests/guests -name '*.asm' | sort)
DIFF_SRCS := $(shell find tests/difftest -name '*.c' | sort)

OBJ  := build/obj
SOBJ := build/san

LIB_OBJS  := $(LIB_SRCS:%.c=$(OBJ)/%.o)
SLIB_OBJS := $(LIB_SRCS:%.c=$(SOBJ)/%.o)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(SOBJ)/%.o)
DIFF_OBJS := $(DIFF_SRCS:%.c=$(SOBJ)/%.o)
GUESTS    := $(GUEST_ASM:tests/guests/%.asm=build/guests/%.bin)

.PHONY: all check check-slow unit guests guest demo bench fuzz-diff linux-kvm kvm-nested clean
all: build/vmon guests

build/vmon: $(OBJ)/src/main.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The sanitized build runs the tests: ASan + UBSan catch what a hostile guest could trigger.
build/vmon-san: $(SOBJ)/src/main.o $(SLIB_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

build/unit-tests: $(UNIT_OBJS) $(SLIB_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# Differential tester: random instruction sequences on the host CPU vs the bt engine.
build/difftest: $(DIFF_OBJS) $(SLIB_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The bt interpreter's handlers and loop: -O3 runs guests measurably faster there (bench/interp.sh).
$(OBJ)/src/engine/bt/%.o: CFLAGS += -O3

$(SOBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -c -o $@ $<

build/guests/%.bin: tests/guests/%.asm $(wildcard tests/guests/*.inc)
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

check: build/vmon build/vmon-san build/unit-tests build/difftest guests build/guest-programs.cpio.gz
	tests/run.sh

# The default Linux guest: Debian's cloud kernel + busybox-static, cached under build/guest/.
guest:
	scripts/build-guest.sh build/guest

# The guest with a shell, --net user (and a web server on the host) and a scratch disk made in
# build/demo/ (scripts/demo.sh); DEMO_ARGS adds vmon options, e.g. DEMO_ARGS="--reboot exit".
demo: build/vmon guest
	scripts/demo.sh $(DEMO_ARGS)

# Slow suites (minutes each; .ci/run runs them after make check): a whole Debian system with
# systemd under bt.
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

clean:
	rm -rf build/obj build/san build/vmon build/vmon-san build/unit-tests build/difftest build/guests \
		build/demo

-include $(shell find build/obj build/san -name '*.d' 2>/dev/null)
