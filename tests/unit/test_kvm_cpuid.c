/* kvm engine logic that needs no /dev/kvm: CPUID filtering, register-file conversions and
 * the MSR mapping. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "engine/kvm/kvm_priv.h"
#include "test.h"

static struct kvm_cpuid_entry2 leaf(uint32_t fn, uint32_t index, uint32_t eax, uint32_t ebx,
				    uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 e;

	memset(&e, 0, sizeof(e));
	e.function = fn;
	e.index = index;
	e.eax = eax;
	e.ebx = ebx;
	e.ecx = ecx;
	e.edx = edx;
	return e;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *e, int n, uint32_t fn,
					   uint32_t index)
{
	for (int i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == index)
			return &e[i];
	return NULL;
}

/* A host-like supported set: 8 threads of a 2-way SMT part, with the features we hide. */
static int synthetic_cpuid(struct kvm_cpuid_entry2 *e)
{
	int n = 0;

	e[n++] = leaf(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	/* EBX: APIC ID 6, 16 logical, CLFLUSH 8 qwords, brand 1. ECX: SSE3|MONITOR|VMX|OSXSAVE. */
	e[n++] = leaf(1, 0, 0x000906ea, 0x06100801, 0x1 | 1u << 3 | 1u << 5 | 1u << 27,
		      1u << 28 | 1u << 9);
	/* Leaf 4: L1d, L1i, L2, L3, end. EAX[31:26]=3 cores-1, [25:14]=1 or 15 sharing-1. */
	e[n++] = leaf(4, 0, 3u << 26 | 1u << 14 | 1u << 5 | 1, 0, 63, 0);
	e[n++] = leaf(4, 1, 3u << 26 | 1u << 14 | 1u << 5 | 2, 0, 63, 0);
	e[n++] = leaf(4, 2, 3u << 26 | 1u << 14 | 2u << 5 | 3, 0, 1023, 0);
	e[n++] = leaf(4, 3, 3u << 26 | 15u << 14 | 3u << 5 | 3, 0, 8191, 0);
	e[n++] = leaf(4, 4, 0, 0, 0, 0);
	e[n++] = leaf(5, 0, 0x40, 0x40, 3, 0x11142120);
	e[n++] = leaf(0xb, 0, 1, 2, 0x100, 6);
	e[n++] = leaf(0xb, 1, 4, 8, 0x201, 6);
	e[n++] = leaf(0xb, 2, 0, 0, 2, 6);
	e[n++] = leaf(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	e[n++] = leaf(0x40000001, 0, 0x01007afb, 0, 0, 0);
	e[n++] = leaf(0x80000001, 0, 0, 0, 1u << 2 | 1u << 0, 1u << 29);
	e[n++] = leaf(0x8000000a, 0, 1, 0x8000, 0, 1u << 0 | 1u << 3);
	return n;
}

TEST(kvm_cpuid_leaf1_topology_and_features)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);
	const struct kvm_cpuid_entry2 *l1;

	kvm_cpuid_filter(e, n, 3, 4);
	l1 = find(e, n, 1, 0);
	CHECK(l1 != NULL);
	CHECK_EQ(l1->ebx >> 24, 3);		/* APIC ID = vcpu id */
	CHECK_EQ((l1->ebx >> 16) & 0xff, 4);	/* logical processors */
	CHECK_EQ((l1->ebx >> 8) & 0xff, 8);	/* CLFLUSH size kept */
	CHECK_EQ(l1->ebx & 0xff, 0);		/* no brand index */
	CHECK_EQ(l1->ecx, 0x1u | 1u << 31);	/* MONITOR, VMX, OSXSAVE gone; HYPERVISOR on */
	CHECK_EQ(l1->edx, 1u << 28 | 1u << 9);	/* HTT: more than one logical CPU */
	CHECK_EQ(l1->eax, 0x000906ea);
}

TEST(kvm_cpuid_single_cpu_clears_htt)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);

	kvm_cpuid_filter(e, n, 0, 1);
	CHECK_EQ(find(e, n, 1, 0)->ebx >> 16, 1);
	CHECK_EQ(find(e, n, 1, 0)->edx & (1u << 28), 0);
	CHECK_EQ(find(e, n, 4, 0)->eax >> 26, 0);
	CHECK_EQ(find(e, n, 0xb, 1)->eax, 0);
	CHECK_EQ(find(e, n, 0xb, 1)->ebx, 1);
}

TEST(kvm_cpuid_leaf4_cache_sharing)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);

	kvm_cpuid_filter(e, n, 0, 6);
	for (uint32_t i = 0; i < 3; i++) {
		const struct kvm_cpuid_entry2 *c = find(e, n, 4, i);

		CHECK_EQ(c->eax >> 26, 5);			/* 6 cores */
		CHECK_EQ((c->eax >> 14) & 0xfff, 0);		/* L1/L2 private */
		CHECK_EQ(c->eax & 0x3fff, (i == 2 ? 2u << 5 | 3 : 1u << 5 | (i + 1)));
	}
	CHECK_EQ((find(e, n, 4, 3)->eax >> 14) & 0xfff, 5);	/* L3 shared by all 6 */
	CHECK_EQ(find(e, n, 4, 3)->ecx, 8191);
	CHECK_EQ(find(e, n, 4, 4)->eax, 0);			/* terminator untouched */
}

TEST(kvm_cpuid_x2apic_topology)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);
	const struct kvm_cpuid_entry2 *smt, *core, *end;

	kvm_cpuid_filter(e, n, 5, 6);
	smt = find(e, n, 0xb, 0);
	core = find(e, n, 0xb, 1);
	end = find(e, n, 0xb, 2);
	CHECK_EQ(smt->eax, 0);
	CHECK_EQ(smt->ebx, 1);
	CHECK_EQ(smt->ecx, 0x100);
	CHECK_EQ(smt->edx, 5);
	CHECK_EQ(core->eax, 3);		/* 6 vCPUs need 3 bits of x2APIC ID */
	CHECK_EQ(core->ebx, 6);
	CHECK_EQ(core->ecx, 0x201);
	CHECK_EQ(core->edx, 5);
	CHECK_EQ(end->ecx, 2);
	CHECK_EQ(end->ebx, 0);
	CHECK_EQ(end->edx, 5);
}

TEST(kvm_cpuid_hidden_and_kept_leaves)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);
	const struct kvm_cpuid_entry2 *l5;

	kvm_cpuid_filter(e, n, 1, 2);
	l5 = find(e, n, 5, 0);
	CHECK(l5->eax == 0 && l5->ebx == 0 && l5->ecx == 0 && l5->edx == 0);
	CHECK_EQ(find(e, n, 0x80000001, 0)->ecx, 1);		/* SVM hidden, LAHF kept */
	CHECK_EQ(find(e, n, 0x80000001, 0)->edx, 1u << 29);
	CHECK_EQ(find(e, n, 0x8000000a, 0)->eax, 0);		/* SVM features with it */
	CHECK_EQ(find(e, n, 0x8000000a, 0)->edx, 0);
	CHECK_EQ(find(e, n, 0x40000000, 0)->eax, 0x40000001);	/* KVM leaves as reported */
	CHECK_EQ(find(e, n, 0x40000000, 0)->ebx, 0x4b4d564b);
	CHECK_EQ(find(e, n, 0x40000001, 0)->eax, 0x01007afb);
	CHECK_EQ(find(e, n, 0, 0)->ebx, 0x756e6547);
}

TEST(kvm_segment_attr_fields)
{
	struct seg_reg s = { .base = 0x1000, .limit = 0xffffffff, .sel = 0x10,
			     .attr = 0xb | SEG_S | SEG_P | SEG_L | SEG_G | (3u << 5) };
	struct kvm_segment k;

	kvm_seg_from_state(&k, &s);
	CHECK_EQ(k.base, 0x1000);
	CHECK_EQ(k.limit, 0xffffffff);
	CHECK_EQ(k.selector, 0x10);
	CHECK_EQ(k.type, 0xb);
	CHECK_EQ(k.s, 1);
	CHECK_EQ(k.dpl, 3);
	CHECK_EQ(k.present, 1);
	CHECK_EQ(k.l, 1);
	CHECK_EQ(k.db, 0);
	CHECK_EQ(k.g, 1);
	CHECK_EQ(k.avl, 0);
	CHECK_EQ(k.unusable, 0);
	CHECK_EQ(k.padding, 0);
}

TEST(kvm_segment_attr_round_trip_all)
{
	/* Every combination of the attribute bits cpu_state defines. */
	const uint32_t bits = 0xf | SEG_S | 3u << 5 | SEG_P | SEG_AVL | SEG_L | SEG_DB | SEG_G |
			      SEG_UNUSABLE;

	for (uint32_t attr = 0; attr <= bits; attr++) {
		struct seg_reg in = { .base = 0xffffffff00000000ull | attr, .limit = attr * 7,
				      .sel = (uint16_t)attr, .attr = attr & bits };
		struct seg_reg out;
		struct kvm_segment k;

		if ((attr & ~bits) != 0)
			continue;
		kvm_seg_from_state(&k, &in);
		memset(&out, 0xa5, sizeof(out));
		kvm_seg_to_state(&out, &k);
		if (out.attr != in.attr || out.base != in.base || out.limit != in.limit ||
		    out.sel != in.sel) {
			CHECK_EQ(out.attr, in.attr);
			break;
		}
	}
}

TEST(kvm_segment_from_kvm_round_trip)
{
	struct kvm_segment k = { .base = 0xfffff000, .limit = 0xffff, .selector = 0xf000,
				 .type = 3, .present = 1, .dpl = 2, .db = 1, .s = 1, .l = 0,
				 .g = 0, .avl = 1, .unusable = 1 };
	struct kvm_segment back;
	struct seg_reg s;

	kvm_seg_to_state(&s, &k);
	CHECK_EQ(s.attr, 3 | SEG_S | 2u << 5 | SEG_P | SEG_AVL | SEG_DB | SEG_UNUSABLE);
	kvm_seg_from_state(&back, &s);
	CHECK(memcmp(&back, &k, sizeof(k)) == 0);
}

TEST(kvm_regs_and_sregs_round_trip)
{
	struct cpu_state in, out;
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	memset(&in, 0, sizeof(in));
	for (int i = 0; i < 16; i++)
		in.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	in.rip = 0xffffffff81000000ull;
	in.rflags = RFLAGS_FIXED | RFLAGS_IF;
	for (int i = 0; i < S_NR; i++) {
		in.seg[i].base = 0x1000ull * (uint64_t)i;
		in.seg[i].limit = 0xfffff + (uint32_t)i;
		in.seg[i].sel = (uint16_t)(8 * i);
		in.seg[i].attr = SEG_P | SEG_S | (uint32_t)i;
	}
	in.gdt.base = 0x5000;
	in.gdt.limit = 0x27;
	in.idt.base = 0x6000;
	in.idt.limit = 0xfff;
	in.cr0 = CR0_PE | CR0_PG | CR0_ET;
	in.cr2 = 0xdead000;
	in.cr3 = 0x9000;
	in.cr4 = CR4_PAE;
	in.cr8 = 5;
	in.efer = EFER_LME | EFER_LMA;
	in.apic_base = 0xfee00900;

	kvm_regs_from_state(&regs, &in);
	CHECK_EQ(regs.rbx, in.gpr[R_RBX]);
	CHECK_EQ(regs.rsp, in.gpr[R_RSP]);
	CHECK_EQ(regs.r15, in.gpr[R_R15]);
	memset(&sregs, 0, sizeof(sregs));
	sregs.interrupt_bitmap[1] = 1;	/* pending vector 64, owned by KVM */
	kvm_sregs_from_state(&sregs, &in);
	CHECK_EQ(sregs.interrupt_bitmap[1], 1);
	CHECK_EQ(sregs.cs.selector, 8 * S_CS);
	CHECK_EQ(sregs.ldt.selector, 8 * S_LDTR);
	CHECK_EQ(sregs.tr.base, 0x1000ull * S_TR);

	memset(&out, 0, sizeof(out));
	kvm_regs_to_state(&out, &regs);
	kvm_sregs_to_state(&out, &sregs);
	CHECK(memcmp(out.gpr, in.gpr, sizeof(in.gpr)) == 0);
	CHECK_EQ(out.rip, in.rip);
	CHECK_EQ(out.rflags, in.rflags);
	for (int i = 0; i < S_NR; i++) {
		CHECK_EQ(out.seg[i].base, in.seg[i].base);
		CHECK_EQ(out.seg[i].limit, in.seg[i].limit);
		CHECK_EQ(out.seg[i].sel, in.seg[i].sel);
		CHECK_EQ(out.seg[i].attr, in.seg[i].attr);
	}
	CHECK_EQ(out.gdt.base, in.gdt.base);
	CHECK_EQ(out.gdt.limit, in.gdt.limit);
	CHECK_EQ(out.idt.base, in.idt.base);
	CHECK_EQ(out.idt.limit, in.idt.limit);
	CHECK_EQ(out.cr0, in.cr0);
	CHECK_EQ(out.cr2, in.cr2);
	CHECK_EQ(out.cr3, in.cr3);
	CHECK_EQ(out.cr4, in.cr4);
	CHECK_EQ(out.cr8, in.cr8);
	CHECK_EQ(out.efer, in.efer);
	CHECK_EQ(out.apic_base, in.apic_base);
}

TEST(kvm_fxsave_fpu_round_trip)
{
	uint8_t in[512], out[512];
	struct kvm_fpu fpu;

	for (int i = 0; i < 512; i++)
		in[i] = (uint8_t)(i * 37 + 11);
	/* Not carried by kvm_fpu: reserved byte 5, MXCSR_MASK, bytes 416-511. */
	in[5] = 0;
	memset(in + 28, 0, 4);
	memset(in + 416, 0, 96);

	kvm_fpu_from_fxsave(&fpu, in);
	CHECK_EQ(fpu.fcw, in[0] | in[1] << 8);
	CHECK_EQ(fpu.fsw, in[2] | in[3] << 8);
	CHECK_EQ(fpu.ftwx, in[4]);
	CHECK_EQ(fpu.last_opcode, in[6] | in[7] << 8);
	CHECK_EQ(fpu.mxcsr & 0xff, in[24]);
	CHECK_EQ(fpu.fpr[0][0], in[32]);
	CHECK_EQ(fpu.fpr[7][15], in[32 + 7 * 16 + 15]);
	CHECK_EQ(fpu.xmm[0][0], in[160]);
	CHECK_EQ(fpu.xmm[15][15], in[160 + 15 * 16 + 15]);
	CHECK_EQ(fpu.pad1, 0);
	CHECK_EQ(fpu.pad2, 0);

	memset(out, 0xff, sizeof(out));
	kvm_fpu_to_fxsave(out, &fpu);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
}

TEST(kvm_fpu_reset_values)
{
	struct cpu_state s;
	struct kvm_fpu fpu;

	cpu_state_reset(&s);
	kvm_fpu_from_fxsave(&fpu, s.fxsave);
	CHECK_EQ(fpu.fcw, 0x37f);
	CHECK_EQ(fpu.mxcsr, 0x1f80);
}

TEST(kvm_msr_select_and_round_trip)
{
	/* Host list without TSC_AUX or the KVM clock MSRs. */
	const uint32_t host[] = { MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP,
				  MSR_IA32_SYSENTER_EIP, MSR_STAR, MSR_LSTAR, MSR_CSTAR,
				  MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_IA32_TSC, MSR_IA32_CR_PAT,
				  MSR_IA32_MISC_ENABLE, 0x12345678 };
	uint32_t idx[KVM_MSR_MAX];
	struct kvm_msr_entry e[KVM_MSR_MAX];
	struct cpu_state in, out;
	int n = kvm_msr_select(host, (int)(sizeof(host) / sizeof(host[0])), idx);
	bool has_aux = false, has_def = false, has_bogus = false;

	/* 11 listed + MTRRdefType + 11 fixed + 16 variable MTRRs. */
	CHECK_EQ(n, 11 + 1 + MTRR_FIXED_COUNT + 2 * MTRR_VAR_COUNT);
	for (int i = 0; i < n; i++) {
		has_aux |= idx[i] == MSR_TSC_AUX;
		has_def |= idx[i] == MSR_MTRRdefType;
		has_bogus |= idx[i] == 0x12345678;
	}
	CHECK(!has_aux);
	CHECK(has_def);
	CHECK(!has_bogus);

	memset(&in, 0, sizeof(in));
	in.star = 0x0023001000000000ull;
	in.lstar = 0xffffffff81a00000ull;
	in.sysenter_eip = 0x1234;
	in.tsc = 99;
	in.pat = 0x0007040600070406ull;
	in.misc_enable = 1;
	in.mtrr_def_type = 0x806;
	for (int i = 0; i < MTRR_FIXED_COUNT; i++)
		in.mtrr_fixed[i] = 0x0606060606060606ull + (uint64_t)i;
	for (int i = 0; i < 2 * MTRR_VAR_COUNT; i++)
		in.mtrr_var[i] = 0x1000ull * (uint64_t)(i + 1);
	in.tsc_aux = 7;		/* not selected: must not come back */

	kvm_msrs_from_state(e, idx, n, &in);
	for (int i = 0; i < n; i++) {
		if (e[i].index == MSR_LSTAR)
			CHECK_EQ(e[i].data, in.lstar);
		if (e[i].index == MSR_MTRRfix4K_C0000 + 7)
			CHECK_EQ(e[i].data, in.mtrr_fixed[10]);
		if (e[i].index == MSR_MTRRphysBase0 + 15)
			CHECK_EQ(e[i].data, in.mtrr_var[15]);
	}
	memset(&out, 0, sizeof(out));
	kvm_msrs_to_state(&out, e, n);
	in.tsc_aux = 0;
	CHECK(memcmp(&in, &out, sizeof(in)) == 0);
}

TEST(kvm_msr_boot_values)
{
	const uint32_t host[] = { MSR_IA32_TSC, MSR_IA32_MISC_ENABLE, MSR_STAR, MSR_TSC_AUX };
	uint32_t idx[KVM_MSR_MAX];
	struct kvm_msr_entry e[KVM_MSR_MAX];
	int n = kvm_msr_select(host, 4, idx);
	int nb = kvm_msrs_boot(e, idx, n);
	bool seen_def = false, seen_misc = false;

	CHECK_EQ(nb, 4);	/* TSC, STAR, MISC_ENABLE, MTRRdefType; no TSC_AUX */
	for (int i = 0; i < nb; i++) {
		CHECK(e[i].index != MSR_TSC_AUX);
		if (e[i].index == MSR_MTRRdefType) {
			CHECK_EQ(e[i].data, 0x806);
			seen_def = true;
		}
		if (e[i].index == MSR_IA32_MISC_ENABLE) {
			CHECK_EQ(e[i].data, 1);
			seen_misc = true;
		}
		if (e[i].index == MSR_IA32_TSC || e[i].index == MSR_STAR)
			CHECK_EQ(e[i].data, 0);
	}
	CHECK(seen_def && seen_misc);
}

TEST(kvm_probe_names_the_reason)
{
	char why[160] = "";
	int missing = access("/dev/kvm", F_OK) != 0 && errno == ENOENT;
	int ret = kvm_engine.probe(why, sizeof(why));

	if (missing) {
		CHECK_EQ(ret, -1);
		CHECK(strcmp(why, "/dev/kvm: No such file or directory") == 0);
	} else {
		CHECK(ret == 0 || strncmp(why, "/dev/kvm: ", 10) == 0);
	}
}

TEST(kvm_cpuid_vendor_amd)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);	/* GenuineIntel */

	CHECK(!kvm_cpuid_vendor_amd(e, n));
	e[0] = leaf(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);	/* "Auth" "cAMD" "enti" */
	CHECK(kvm_cpuid_vendor_amd(e, n));
	e[0] = leaf(0, 0, 0x10, 0x6f677948, 0x656e6975, 0x6e65476e);	/* "Hygo" "uine" "nGen" */
	CHECK(kvm_cpuid_vendor_amd(e, n));
	CHECK(!kvm_cpuid_vendor_amd(e + 1, n - 1));			/* no leaf 0 */
}

/* An AMD host's set: 2 cores (ApicIdSize 1, NC 1, PerfTscSize kept), CmpLegacy off, TOPOEXT. */
static int synthetic_amd_cpuid(struct kvm_cpuid_entry2 *e)
{
	int n = 0;

	e[n++] = leaf(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);
	e[n++] = leaf(1, 0, 0x00a00f11, 0x00020800, 0, 1u << 28);
	e[n++] = leaf(0x80000001, 0, 0, 0, 1u << 2 | 1u << 0, 1u << 29);
	e[n++] = leaf(0x80000008, 0, 0x3030, 0, 3u << 16 | 1u << 12 | 1, 0);
	e[n++] = leaf(0x8000001d, 0, 1u << 14 | 1u << 5 | 1, 0, 63, 0);
	e[n++] = leaf(0x8000001d, 1, 1u << 14 | 1u << 5 | 2, 0, 63, 0);
	e[n++] = leaf(0x8000001d, 2, 1u << 14 | 2u << 5 | 3, 0, 1023, 0);
	e[n++] = leaf(0x8000001d, 3, 1u << 14 | 3u << 5 | 3, 0, 8191, 0);
	e[n++] = leaf(0x8000001d, 4, 0, 0, 0, 0);
	e[n++] = leaf(0x8000001e, 0, 1, 0x100, 0x300, 0);
	return n;
}

TEST(kvm_cpuid_amd_topology)
{
	struct kvm_cpuid_entry2 e[16];
	int n = synthetic_amd_cpuid(e);

	kvm_cpuid_filter(e, n, 5, 6);
	CHECK_EQ(find(e, n, 0x80000001, 0)->ecx, 1u << 1 | 1u << 0);	/* CmpLegacy on, SVM off */
	CHECK_EQ(find(e, n, 0x80000008, 0)->ecx, 3u << 16 | 3u << 12 | 5);	/* 6 cores, 3 bits */
	for (uint32_t i = 0; i < 3; i++)
		CHECK_EQ((find(e, n, 0x8000001d, i)->eax >> 14) & 0xfff, 0);	/* L1/L2 private */
	CHECK_EQ((find(e, n, 0x8000001d, 3)->eax >> 14) & 0xfff, 5);		/* L3 shared by 6 */
	CHECK_EQ(find(e, n, 0x8000001d, 4)->eax, 0);
	CHECK_EQ(find(e, n, 0x8000001e, 0)->eax, 5);		/* extended APIC ID */
	CHECK_EQ(find(e, n, 0x8000001e, 0)->ebx, 5);		/* core 5, one thread */
	CHECK_EQ(find(e, n, 0x8000001e, 0)->ecx, 0);		/* node 0 of 1 */

	n = synthetic_amd_cpuid(e);
	kvm_cpuid_filter(e, n, 0, 1);
	CHECK_EQ(find(e, n, 0x80000001, 0)->ecx, 1u << 0);
	CHECK_EQ(find(e, n, 0x80000008, 0)->ecx, 3u << 16);
}

TEST(kvm_cpuid_amd_leaves_untouched_on_intel)
{
	struct kvm_cpuid_entry2 e[32];
	int n = synthetic_cpuid(e);

	e[n++] = leaf(0x80000008, 0, 0x3027, 0, 0, 0);
	kvm_cpuid_filter(e, n, 1, 4);
	CHECK_EQ(find(e, n, 0x80000001, 0)->ecx, 1u << 0);		/* no CmpLegacy */
	CHECK_EQ(find(e, n, 0x80000008, 0)->ecx, 0);
}

/* What a software KVM cannot run (engine/kvm/probe.h) disappears from CPUID, nothing else. */
TEST(kvm_cpuid_hides_what_the_host_cannot_run)
{
	struct kvm_cpuid_entry2 e[8];
	int n = 0;
	/* FMA, CX16, XSAVE, OSXSAVE, AVX, F16C + SSE3; leaf 7: AVX2, AVX-512F, BMI1; XSAVES. */
	const uint32_t ecx1 = 1u << 12 | 1u << 13 | 1u << 26 | 1u << 27 | 1u << 28 | 1u << 29 | 1;

	e[n++] = leaf(1, 0, 0x000906ea, 0, ecx1, 0);
	e[n++] = leaf(7, 0, 0, 1u << 5 | 1u << 16 | 1u << 3, 0, 0);
	e[n++] = leaf(0xd, 0, 7, 0x340, 0x340, 0);
	e[n++] = leaf(0xd, 1, 0xf, 0, 0, 0);
	e[n++] = leaf(0x40000001, 0, 0x01007afb, 0, 0, 0);

	struct kvm_hidden none = { 0 };
	kvm_cpuid_hide(e, n, &none);
	CHECK_EQ(find(e, n, 1, 0)->ecx, ecx1);
	CHECK_EQ(find(e, n, 0x40000001, 0)->eax, 0x01007afb);

	struct kvm_hidden xsaves = { .xsaves = true, .cx16 = true, .pv_features = 1u << 7 | 1u << 13 };
	kvm_cpuid_hide(e, n, &xsaves);
	CHECK_EQ(find(e, n, 0xd, 1)->eax, 0x7);
	CHECK_EQ(find(e, n, 0xd, 0)->eax, 7);
	CHECK_EQ(find(e, n, 1, 0)->ecx, ecx1 & ~(1u << 13));
	CHECK_EQ(find(e, n, 0x40000001, 0)->eax, 0x01007afb & ~(1u << 7 | 1u << 13));

	struct kvm_hidden xsave = { .xsave = true };
	kvm_cpuid_hide(e, n, &xsave);
	CHECK_EQ(find(e, n, 1, 0)->ecx, 1u);
	CHECK_EQ(find(e, n, 7, 0)->ebx, 1u << 3);		/* BMI1 stays */
	CHECK_EQ(find(e, n, 0xd, 0)->eax, 0);
	CHECK_EQ(find(e, n, 0xd, 1)->eax, 0);
}
