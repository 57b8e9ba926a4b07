// SPDX-License-Identifier: GPL-2.0
/*
 * famfs_bench: the guest side of "make bench" (scripts/bench/run).  One
 * measurement per call, printed as "KEY VALUE" lines on stdout.  Timing with
 * clock_gettime(CLOCK_MONOTONIC).
 *
 *   famfs_bench mmap PATH SIZE [SECONDS]
 *       Map SIZE bytes of PATH (MAP_SHARED, read/write) where the kernel
 *       puts it (no manual alignment: what an application gets), then:
 *       fault_us_per_2m  first-touch cost: one load per 2 MiB, total time
 *                        divided by the number of 2 MiB regions;
 *       faults_per_2m    page faults (minor + major, getrusage) per region;
 *       pmd_fraction     regions whose 512 pages are all present in
 *                        /proc/self/pagemap after that single load (a PMD
 *                        mapping; a PTE fault, even with fault-around,
 *                        maps at most a few pages);
 *       mmap_read_MBps   a pass of 8-byte loads over the whole mapping;
 *       mmap_write_MBps  a memset() pass over the whole mapping;
 *       each pass stops early after SECONDS (default 4).
 *   famfs_bench io PATH read|write BS BYTES [SECONDS [BUFOFF]]
 *       Sequential pread/pwrite of BS bytes from offset 0 (wrapping at the
 *       file size) until BYTES are moved or SECONDS (default 4) have
 *       passed: MBps.  The buffer starts BUFOFF bytes (default 4096) past
 *       a 2 MiB boundary.  Under QEMU TCG a buffer congruent to the file's
 *       device address (BUFOFF 0 with 2 MiB-aligned famfs extents) makes
 *       the kernel's copy miss QEMU's direct-mapped software TLB on every
 *       access (source and destination pages share its entries): famfs
 *       1 MiB reads ran at 22 MB/s with BUFOFF 0 and at 270 MB/s with
 *       4096 in one run.  That is the emulator's cost, not famfs's.
 *   famfs_bench rand PATH NOPS [SECONDS [SPOTS]]
 *       Random 4 KiB-aligned pread(2) of 4 KiB over the whole file, NOPS
 *       or SECONDS (default 4): kops.  With SPOTS, the reads go to SPOTS
 *       pages spread evenly over the file, each read once before the
 *       clock starts: the offset lookup of a file of any size, without
 *       the first touch of its memory (under TCG with a lazily allocated
 *       guest RAM, a first touch costs the host a 2 MiB page: 4 ms).
 *   famfs_bench open DIR N [PASSES]
 *       open(O_RDONLY)+close of DIR/f000 .. DIR/f{N-1}: open_first_us
 *       (the first pass, mean per file: the caller drops the dentry and
 *       inode caches first), open_first_cpu_us (the CPU time this process
 *       spent in that pass, per file: the opener's own kernel work, such
 *       as checking a map, without the wait for the server) and
 *       open_again_us (mean of PASSES more passes).
 *   famfs_bench fill PATH SIZE
 *       Write SIZE bytes to PATH (created if needed), for tmpfs and FUSE.
 *
 * Before each mmap, io and rand measurement the file's page cache is
 * dropped (fsync, then POSIX_FADV_DONTNEED): classic FUSE then reads
 * through its server, as on a first access; tmpfs, devdax and famfs have
 * nothing to drop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1UL << 20)
#define PMD_SIZE_B (2 * MIB)
#define PAGE_B 4096UL

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "famfs_bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, ": %s\n", strerror(errno));
	exit(1);
}

static double clock_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static unsigned long parse_size(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	case '\0': break;
	default:
		fprintf(stderr, "famfs_bench: bad size '%s'\n", s);
		exit(2);
	}
	return v;
}

/* Page faults so far, minor and major (a FUSE fault that reads is major). */
static long faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

/* Drop what the page cache holds of the file (a no-op on dax and tmpfs). */
static void drop_cache(int fd)
{
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

static unsigned long file_size(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st))
		die("stat %s", path);
	if (S_ISCHR(st.st_mode))
		return 0;	/* devdax: the caller gives the size */
	return st.st_size;
}

static int do_mmap(const char *path, unsigned long size, double secs)
{
	int fd = open(path, O_RDWR);
	unsigned long nreg = size / PMD_SIZE_B, i, whole = 0;
	uint64_t *pm = malloc(512 * sizeof(*pm)), sum = 0;
	volatile char *vp;
	char *p;
	double t0, t;
	long f0;
	int pmfd;

	if (fd < 0)
		die("open %s", path);
	if (!nreg || !pm) {
		fprintf(stderr, "famfs_bench: size must be at least 2M\n");
		return 2;
	}
	size = nreg * PMD_SIZE_B;
	drop_cache(fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s", path);
	printf("map_2m_aligned %d\n", ((uintptr_t)p & (PMD_SIZE_B - 1)) == 0);

	/* First touch: one load per 2 MiB region. */
	vp = p;
	f0 = faults();
	t0 = now();
	for (i = 0; i < nreg; i++)
		sum += vp[i * PMD_SIZE_B];
	t = now() - t0;
	printf("fault_us_per_2m %.2f\n", t * 1e6 / nreg);
	printf("faults_per_2m %.2f\n", (double)(faults() - f0) / nreg);

	/* Which regions did that one load map whole? */
	pmfd = open("/proc/self/pagemap", O_RDONLY);
	if (pmfd < 0)
		die("open %s", "/proc/self/pagemap");
	for (i = 0; i < nreg; i++) {
		off_t off = ((uintptr_t)p + i * PMD_SIZE_B) / PAGE_B * 8;
		int k, present = 0;

		if (pread(pmfd, pm, 512 * 8, off) != 512 * 8)
			die("read %s", "/proc/self/pagemap");
		for (k = 0; k < 512; k++)
			present += !!(pm[k] & (1ULL << 63));
		whole += present == 512;
	}
	close(pmfd);
	printf("pmd_fraction %.3f\n", (double)whole / nreg);

	/* Bandwidth over the mapped file, 2 MiB at a time, capped at secs. */
	{
		const uint64_t *q = (const uint64_t *)p;
		uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
		unsigned long done = 0, k;

		t0 = now();
		do {
			const uint64_t *c = q + done / 8;

			for (k = 0; k < PMD_SIZE_B / 8; k += 4) {
				s0 += c[k];
				s1 += c[k + 1];
				s2 += c[k + 2];
				s3 += c[k + 3];
			}
			done += PMD_SIZE_B;
		} while (done < size && now() - t0 < secs);
		t = now() - t0;
		sum += s0 + s1 + s2 + s3;
		printf("mmap_read_MBps %.1f\n", done / t / 1e6);

		done = 0;
		t0 = now();
		do {
			memset(p + done, (int)(sum & 0x7f) | 1, PMD_SIZE_B);
			done += PMD_SIZE_B;
		} while (done < size && now() - t0 < secs);
		t = now() - t0;
		printf("mmap_write_MBps %.1f\n", done / t / 1e6);
	}
	msync(p, size, MS_SYNC);
	munmap(p, size);
	close(fd);
	return 0;
}

static int do_io(const char *path, int wr, unsigned long bs, unsigned long bytes, double secs,
		 unsigned long bufoff)
{
	int fd = open(path, wr ? O_RDWR : O_RDONLY);
	unsigned long fsize, off = 0, done = 0;
	double t0, t;
	char *mem, *buf;

	if (fd < 0)
		die("open %s", path);
	fsize = file_size(fd, path) / bs * bs;
	if (!fsize) {
		fprintf(stderr, "famfs_bench: %s smaller than %lu\n", path, bs);
		return 2;
	}
	if (posix_memalign((void **)&mem, PMD_SIZE_B, bufoff + bs))
		die("alloc %s", "buffer");
	buf = mem + bufoff;
	memset(buf, 0x5a, bs);
	drop_cache(fd);
	t0 = now();
	do {
		ssize_t n = wr ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);

		if (n != (ssize_t)bs)
			die(wr ? "pwrite %s" : "pread %s", path);
		done += bs;
		off += bs;
		if (off >= fsize)
			off = 0;
		/* Look at the clock every 64 calls or so. */
	} while (done < bytes && ((done / bs) % 64 || now() - t0 < secs));
	t = now() - t0;
	printf("%s_MBps %.1f\nbytes %lu\n", wr ? "write" : "read", done / t / 1e6, done);
	if (wr)
		fsync(fd);
	free(mem);
	close(fd);
	return 0;
}

/* The page of random draw x: any page, or one of spots spread evenly. */
static uint64_t rand_page(uint64_t x, unsigned long npages, unsigned long spots)
{
	return spots ? x % spots * (npages / spots) : x % npages;
}

static int do_rand(const char *path, unsigned long nops, double secs,
		   unsigned long spots)
{
	int fd = open(path, O_RDONLY);
	unsigned long npages, done = 0, i;
	uint64_t x = 88172645463325252ULL;
	double t0, t;
	char *buf;

	if (fd < 0)
		die("open %s", path);
	npages = file_size(fd, path) / PAGE_B;
	if (!npages || posix_memalign((void **)&buf, PAGE_B, PAGE_B))
		die("empty or no memory: %s", path);
	if (spots > npages)
		spots = npages;
	drop_cache(fd);
	for (i = 0; i < spots; i++)
		if (pread(fd, buf, PAGE_B, rand_page(i, npages, spots) * PAGE_B) != (ssize_t)PAGE_B)
			die("pread %s", path);
	t0 = now();
	do {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (pread(fd, buf, PAGE_B, rand_page(x, npages, spots) * PAGE_B) != (ssize_t)PAGE_B)
			die("pread %s", path);
		done++;
	} while (done < nops && (done % 64 || now() - t0 < secs));
	t = now() - t0;
	printf("rand_kops %.2f\nops %lu\n", done / t / 1e3, done);
	free(buf);
	close(fd);
	return 0;
}

/* Mean µs per open+close of dir/f000.. dir/f{n-1}; *cpu: the CPU time. */
static double open_pass(const char *dir, int n, double *cpu)
{
	double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), c1, t;
	char name[4096];
	int i, fd;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s/f%03d", dir, i);
		fd = open(name, O_RDONLY);
		if (fd < 0)
			die("open %s", name);
		close(fd);
	}
	c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	t = now();
	*cpu = (c1 - c0) * 1e6 / n;
	return (t - t0) * 1e6 / n;
}

static int do_open(const char *dir, int n, int passes)
{
	double cpu, unused, first = open_pass(dir, n, &cpu), again = 0;
	int i;

	for (i = 0; i < passes; i++)
		again += open_pass(dir, n, &unused);
	printf("open_first_us %.1f\nopen_first_cpu_us %.1f\nopen_again_us %.1f\n",
	       first, cpu, again / passes);
	return 0;
}

static int do_fill(const char *path, unsigned long size)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	unsigned long done = 0;
	char *buf = malloc(MIB);

	if (fd < 0 || !buf)
		die("create %s", path);
	memset(buf, 0xa5, MIB);
	while (done < size) {
		unsigned long n = size - done < MIB ? size - done : MIB;

		if (pwrite(fd, buf, n, done) != (ssize_t)n)
			die("write %s", path);
		done += n;
	}
	if (fsync(fd) || close(fd))
		die("close %s", path);
	free(buf);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: famfs_bench mmap PATH SIZE [SECONDS]\n"
		"       famfs_bench io PATH read|write BS BYTES [SECONDS [BUFOFF]]\n"
		"       famfs_bench rand PATH NOPS [SECONDS [SPOTS]]\n"
		"       famfs_bench open DIR N [PASSES]\n"
		"       famfs_bench fill PATH SIZE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "mmap") && (argc == 4 || argc == 5))
		return do_mmap(argv[2], parse_size(argv[3]), argc == 5 ? atof(argv[4]) : 4.0);
	if (!strcmp(argv[1], "io") && argc >= 6 && argc <= 8) {
		if (strcmp(argv[3], "read") && strcmp(argv[3], "write"))
			usage();
		return do_io(argv[2], !strcmp(argv[3], "write"), parse_size(argv[4]),
			     parse_size(argv[5]), argc >= 7 ? atof(argv[6]) : 4.0,
			     argc == 8 ? parse_size(argv[7]) : 4096);
	}
	if (!strcmp(argv[1], "rand") && argc >= 4 && argc <= 6)
		return do_rand(argv[2], parse_size(argv[3]), argc >= 5 ? atof(argv[4]) : 4.0,
			       argc == 6 ? parse_size(argv[5]) : 0);
	if (!strcmp(argv[1], "open") && (argc == 4 || argc == 5))
		return do_open(argv[2], atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 5);
	if (!strcmp(argv[1], "fill") && argc == 4)
		return do_fill(argv[2], parse_size(argv[3]));
	usage();
	return 2;
}
