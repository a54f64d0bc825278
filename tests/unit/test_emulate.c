/* The bt interpreter on another engine's vCPU state (engine/bt/emulate.h), as the kvm engine's
 * fallback uses it: instruction names, one instruction run on a cpu_state, faults delivered
 * through the guest's IDT, and nothing cached from one call to the next. */
#include <stdlib.h>
#include <string.h>

#include "boot/entry.h"
#include "engine/bt/emulate.h"
#include "test.h"
#include "vm.h"

#define RAM	(4ull << 20)
#define CODE	0x100000ull
#define STACK	0x200000ull
#define IDT	0x3000ull
#define HANDLER	0x101000ull

struct fixture {
	struct vm vm;
	struct vcpu vcpu;
	struct bt_emulator *e;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->vm.mem.fd = -1;
	if (mem_init(&f->vm.mem, RAM) || boot_write_gdt(&f->vm.mem) || boot_write_identity_map(&f->vm.mem))
		abort();
	f->vcpu.vm = &f->vm;
	f->e = bt_emulator_create(&f->vcpu);
	if (!f->e)
		abort();
}

static void fixture_free(struct fixture *f)
{
	bt_emulator_destroy(f->e);
	mem_destroy(&f->vm.mem);
}

static void put(struct fixture *f, uint64_t gpa, const void *bytes, size_t len)
{
	if (mem_write(&f->vm.mem, gpa, bytes, len))
		abort();
}

TEST(emulate_describes_the_instruction_at_rip)
{
	static const uint8_t cx16[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0f };
	static const uint8_t iretd = 0xcf;
	struct bt_insn_text t;
	struct cpu_state s;
	struct fixture f;

	fixture_init(&f);
	put(&f, CODE, cx16, sizeof(cx16));
	boot_state_long(&s, CODE);
	CHECK_EQ(bt_emulator_describe(f.e, &s, &t), 0);
	CHECK(strcmp(t.bytes, "f0 48 0f c7 0f") == 0);
	CHECK(strcmp(t.name, "cmpxchg16b") == 0);
	put(&f, CODE, &iretd, 1);
	boot_state_protected(&s, (uint32_t)CODE);
	CHECK_EQ(bt_emulator_describe(f.e, &s, &t), 0);
	CHECK(strcmp(t.name, "iretd") == 0);
	/* Code outside RAM and any device: no bytes, a reason. */
	s.rip = 0xfff00000;
	CHECK_EQ(bt_emulator_describe(f.e, &s, &t), -1);
	fixture_free(&f);
}

TEST(emulate_runs_iretd_on_the_state)
{
	static const uint8_t iretd = 0xcf;
	uint32_t frame[3] = { 0x123456, BOOT_SEL_CODE32, 0x202 };
	struct cpu_state s;
	struct fixture f;

	fixture_init(&f);
	put(&f, CODE, &iretd, 1);
	put(&f, STACK - sizeof(frame), frame, sizeof(frame));
	boot_state_protected(&s, (uint32_t)CODE);
	s.gpr[R_RSP] = STACK - sizeof(frame);
	CHECK_EQ(bt_emulate(f.e, &s, 1), BT_EMULATE_DONE);
	CHECK_EQ(s.rip, 0x123456);
	CHECK_EQ(s.gpr[R_RSP], STACK);
	CHECK_EQ(s.rflags, 0x202);
	fixture_free(&f);
}

/* The other engine ran the guest between two calls, and rewrote the code: the second call
 * must run the new instruction, not a decoded copy of the old one. */
TEST(emulate_caches_no_code_between_calls)
{
	static const uint8_t inc_eax[] = { 0xff, 0xc0 }, dec_eax[] = { 0xff, 0xc8 };
	struct cpu_state s;
	struct fixture f;

	fixture_init(&f);
	put(&f, CODE, inc_eax, sizeof(inc_eax));
	boot_state_long(&s, CODE);
	s.gpr[R_RAX] = 10;
	CHECK_EQ(bt_emulate(f.e, &s, 1), BT_EMULATE_DONE);
	CHECK_EQ(s.gpr[R_RAX], 11);
	CHECK_EQ(s.rip, CODE + 2);
	put(&f, CODE, dec_eax, sizeof(dec_eax));
	s.rip = CODE;
	CHECK_EQ(bt_emulate(f.e, &s, 1), BT_EMULATE_DONE);
	CHECK_EQ(s.gpr[R_RAX], 10);
	fixture_free(&f);
}

TEST(emulate_delivers_int3_through_the_idt)
{
	static const uint8_t int3 = 0xcc;
	uint64_t gate[2] = {
		(HANDLER & 0xffff) | (uint64_t)BOOT_SEL_CODE64 << 16 | 0x8eull << 40 |
			(HANDLER >> 16 & 0xffff) << 48,
		HANDLER >> 32,
	};
	uint64_t ret;
	struct cpu_state s;
	struct fixture f;

	fixture_init(&f);
	put(&f, CODE, &int3, 1);
	put(&f, IDT + 3 * 16, gate, sizeof(gate));
	boot_state_long(&s, CODE);
	s.idt = (struct dtable){ .base = IDT, .limit = 0xfff };
	s.gpr[R_RSP] = STACK;
	CHECK_EQ(bt_emulate(f.e, &s, 1), BT_EMULATE_DONE);
	CHECK_EQ(s.rip, HANDLER);
	CHECK_EQ(s.gpr[R_RSP], STACK - 5 * 8);
	mem_read(&f.vm.mem, STACK - 5 * 8, &ret, sizeof(ret));
	CHECK_EQ(ret, CODE + 1);	/* a trap: the frame returns after int3 */
	/* No IDT at all: #GP, #DF, triple fault. */
	boot_state_long(&s, CODE);
	s.idt = (struct dtable){ .base = IDT, .limit = 0 };
	s.gpr[R_RSP] = STACK;
	CHECK_EQ(bt_emulate(f.e, &s, 1), BT_EMULATE_SHUTDOWN);
	fixture_free(&f);
}
