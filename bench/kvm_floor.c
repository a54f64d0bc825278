/* kvm_floor: the least a VMM can do to run a boot-sector guest on /dev/kvm, timed.
 *
 * The floor vmon's kvm engine is compared against (bench/kvm.sh): one VM, one memory slot,
 * one vCPU in real mode at 0:7c00, and a KVM_RUN loop that only counts port writes.
 * Port 0x80 writes are counted, a write to port 0xf4 ends the run.
 *
 *   kvm_floor --probe                 exit 0 if /dev/kvm is usable, else print why, exit 1
 *   kvm_floor GUEST.bin [T0_NS]       run GUEST.bin; T0_NS is CLOCK_REALTIME (ns) taken just
 *                                     before this process was started, for start-up time
 *
 * Prints "key value" lines: first_exit_us (T0 to the first guest instruction's exit, if T0
 * given), setup_us (main() to the first KVM_RUN), exits, loop_ns_per_exit, and the process's
 * VmRSS / RssAnon / RssShmem at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_RAM	(2u << 20)
#define LOAD_ADDR	0x7c00u
#define PORT_POST	0x80
#define PORT_EXIT	0xf4

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void print_status_kb(const char *key)
{
	char line[256];
	size_t len = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, len) == 0 && line[len] == ':')
			printf("%s_kb %lld\n", key, strtoll(line + len + 1, NULL, 10));
	fclose(f);
}

static int probe(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("/dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		printf("/dev/kvm: unexpected API version\n");
		return 1;
	}
	close(fd);
	return 0;
}

static void load_guest(const char *path, uint8_t *ram)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		die(path);
	n = read(fd, ram + LOAD_ADDR, GUEST_RAM - LOAD_ADDR);
	if (n <= 0)
		die(path);
	close(fd);
}

static void real_mode_at(int vcpu, uint32_t ip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = ip, .rflags = 2 };

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

int main(int argc, char **argv)
{
	uint64_t t_main = now_ns(CLOCK_MONOTONIC), t_run, t_first = 0, t_last = 0;
	uint64_t t0_real = 0, first_real = 0;
	unsigned long exits = 0;
	int sys, vm, vcpu, run_size;
	struct kvm_run *run;
	uint8_t *ram;

	if (argc == 2 && strcmp(argv[1], "--probe") == 0)
		return probe();
	if (argc > 2) {
		char *end;

		t0_real = strtoull(argv[2], &end, 10);
		if (*end || !t0_real)
			argc = 0;	/* not a plain number of ns: usage */
	}
	if (argc < 2) {
		fprintf(stderr, "usage: kvm_floor --probe | kvm_floor GUEST.bin [T0_NS]\n");
		return 2;
	}

	sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (sys < 0)
		die("/dev/kvm");
	vm = ioctl(sys, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		die("KVM_SET_TSS_ADDR");
	ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap guest RAM");
	load_guest(argv[1], ram);
	struct kvm_userspace_memory_region slot = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_RAM,
		.userspace_addr = (uint64_t)(uintptr_t)ram,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0ul);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	run_size = ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(*run))
		die("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	real_mode_at(vcpu, LOAD_ADDR);

	t_run = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT) {
			fprintf(stderr, "kvm_floor: unexpected exit %u\n", run->exit_reason);
			return 1;
		}
		t_last = now_ns(CLOCK_MONOTONIC);
		if (!exits++) {
			t_first = t_last;
			first_real = now_ns(CLOCK_REALTIME);
		}
		if (run->io.port == PORT_EXIT)
			break;
		if (run->io.port != PORT_POST) {
			fprintf(stderr, "kvm_floor: unexpected port %#x\n", run->io.port);
			return 1;
		}
	}

	if (t0_real)
		printf("first_exit_us %.1f\n", (double)(first_real - t0_real) / 1e3);
	printf("setup_us %.1f\n", (double)(t_run - t_main) / 1e3);
	printf("exits %lu\n", exits);
	if (exits > 1)
		printf("loop_ns_per_exit %.1f\n", (double)(t_last - t_first) / (double)(exits - 1));
	print_status_kb("VmRSS");
	print_status_kb("RssAnon");
	print_status_kb("RssShmem");
	return 0;
}
