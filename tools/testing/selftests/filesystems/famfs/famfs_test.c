// SPDX-License-Identifier: GPL-2.0
/*
 * famfs over FUSE, end to end: a FUSE server of the test's own hands the
 * kernel maps onto the device-dax devices bound to fsdev_dax, and the tests
 * check the bytes on the devices (through /dev/mem at the devices' physical
 * addresses), the errno values, the fault sizes and the request counts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "../../kselftest_harness.h"
#include "famfs_srv.h"

#define M2	(2ULL << 20)

struct daxdev {
	char name[32];		/* dax0.0 */
	char path[48];		/* /dev/dax0.0 */
	uint64_t phys, size;
};

static int find_daxdevs(struct daxdev *d, int max)
{
	DIR *dir = opendir("/sys/bus/dax/drivers/fsdev_dax");
	struct dirent *e;
	int n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max) {
		char p[512];
		FILE *f;

		if (strncmp(e->d_name, "dax", 3) || !strchr(e->d_name, '.'))
			continue;
		snprintf(d[n].name, sizeof(d[n].name), "%.24s", e->d_name);
		snprintf(d[n].path, sizeof(d[n].path), "/dev/%.24s", e->d_name);
		snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/mapping0/start", e->d_name);
		f = fopen(p, "r");
		if (!f || fscanf(f, "%lx", &d[n].phys) != 1) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/size", e->d_name);
		f = fopen(p, "r");
		if (!f || fscanf(f, "%lu", &d[n].size) != 1) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		n++;
	}
	closedir(dir);
	/* readdir order is arbitrary: sort by name so dev 0 is dax0.0 */
	if (n == 2 && strcmp(d[0].name, d[1].name) > 0) {
		struct daxdev t = d[0];

		d[0] = d[1];
		d[1] = t;
	}
	return n;
}

/*
 * Bytes on a device.  fsdev_dax devices cannot be mapped from userspace and
 * live above the direct map's high_memory, so read(2) of /dev/mem refuses
 * them: map /dev/mem (write-back, as the memory is mapped in the kernel).
 */
static int dev_rw(const struct daxdev *d, uint64_t off, void *buf, size_t len,
		  bool write)
{
	uint64_t start = (d->phys + off) & ~4095ULL;
	size_t span = ((d->phys + off + len + 4095) & ~4095ULL) - start;
	int fd = open("/dev/mem", write ? O_RDWR : O_RDONLY);
	char *p;

	if (fd < 0)
		return -errno;
	p = mmap(NULL, span, write ? PROT_READ | PROT_WRITE : PROT_READ,
		 MAP_SHARED, fd, start);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	if (write)
		memcpy(p + (d->phys + off - start), buf, len);
	else
		memcpy(buf, p + (d->phys + off - start), len);
	munmap(p, span);
	return 0;
}

static void pattern(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 12)) ^ (i >> 20));
}

static char *fpath(struct srv *s, const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", s->mnt, name);
	return p;
}

FIXTURE(famfs) {
	struct srv *s;
	struct daxdev dev[2];
	int ndev;
};

FIXTURE_SETUP(famfs)
{
	self->ndev = find_daxdevs(self->dev, 2);
	if (!self->ndev)
		SKIP(return, "no device-dax bound to fsdev_dax");
	if (access("/dev/mem", R_OK))
		SKIP(return, "no /dev/mem to check the bytes on the device");
	self->s = calloc(1, sizeof(*self->s));
	ASSERT_NE(NULL, self->s);
	self->s->die_on = SRV_NOP;
	self->s->hang_on = SRV_NOP;
	snprintf(self->s->devs[0].name, DAXDEV_NAME_MAX, "%s", self->dev[0].path);
	if (self->ndev > 1)
		snprintf(self->s->devs[1].name, DAXDEV_NAME_MAX, "%s", self->dev[1].path);
}

FIXTURE_TEARDOWN(famfs)
{
	if (self->s && self->s->fd > 0)
		srv_umount(self->s);
	free(self->s);
}

/* A file of @size on device @dev at @off, in extents of @ext bytes. */
static struct srv_file *simple_file(struct srv *s, const char *name, uint32_t dev,
				    uint64_t off, uint64_t size, uint64_t ext)
{
	uint64_t alloc = (size + M2 - 1) / M2 * M2, done;
	struct srv_file *f = srv_add_file(s, name, size);

	fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, (alloc + ext - 1) / ext, size);
	for (done = 0; done < alloc; done += ext)
		fm_se(f, dev, off + 2 * done, alloc - done < ext ? alloc - done : ext);
	return f;
}

TEST_F(famfs, negotiation_and_upcall_counts)
{
	struct srv *s = self->s;
	char buf[4096];
	int fd, i;

	simple_file(s, "f", 0, 0, 4 * M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	ASSERT_TRUE(s->init_flags & FUSE_DAX_FMAP);
	for (i = 0; i < 5; i++) {
		fd = open(fpath(s, "f"), O_RDWR);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(sizeof(buf), pread(fd, buf, sizeof(buf), i * 4096));
		ASSERT_EQ(sizeof(buf), pwrite(fd, buf, sizeof(buf), i * 4096));
		close(fd);
	}
	EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
	EXPECT_EQ(1, srv_count(s, FUSE_GET_DAXDEV));
	EXPECT_EQ(0, srv_count(s, FUSE_READ));
	EXPECT_EQ(0, srv_count(s, FUSE_WRITE));
}

TEST_F(famfs, write_lands_where_the_map_says)
{
	struct srv *s = self->s;
	size_t size = 3 * M2 + 12345;
	unsigned char *w = malloc(size), *r = malloc(size + 100), *d = malloc(M2);
	uint64_t pos;
	int fd;

	/* extents of 2 MiB at 2x the file offset: 0, 4M, 8M, 12M on dev 0 */
	simple_file(s, "f", 0, 16 * M2, size, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "f"), O_RDWR);
	ASSERT_GE(fd, 0);
	pattern(w, size, 1);
	ASSERT_EQ(size, pwrite(fd, w, size, 0));
	for (pos = 0; pos < size; pos += M2) {
		size_t n = size - pos < M2 ? size - pos : M2;

		ASSERT_EQ(0, dev_rw(&self->dev[0], 16 * M2 + 2 * pos, d, n, false));
		ASSERT_EQ(0, memcmp(d, w + pos, n)) TH_LOG("extent at %lu", pos);
	}
	/* and the reverse: the device written, the file read */
	pattern(d, M2, 2);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 16 * M2 + 2 * M2, d, M2, true));
	ASSERT_EQ(size, pread(fd, r, size + 100, 0));
	ASSERT_EQ(0, memcmp(r + M2, d, M2));
	ASSERT_EQ(0, memcmp(r, w, M2));
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
	close(fd);
	free(w);
	free(r);
	free(d);
}

TEST_F(famfs, interleave_across_devices)
{
	struct srv *s = self->s;
	uint64_t chunk = 2 * M2, nbytes = 5 * chunk + M2 / 2, pos;
	unsigned char *w = malloc(nbytes), *d = malloc(chunk);
	struct srv_file *f;
	int fd, strips = self->ndev > 1 ? 2 : 1;

	f = srv_add_file(s, "i", nbytes);
	fm_hdr(f, FUSE_FAMFS_EXT_INTERLEAVE, 1, nbytes);
	fm_ie(f, strips, chunk, nbytes);
	fm_se(f, 0, 32 * M2, 4 * chunk);
	if (strips > 1)
		fm_se(f, 1, 8 * M2, 4 * chunk);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "i"), O_RDWR);
	ASSERT_GE(fd, 0);
	pattern(w, nbytes, 3);
	/* one write crossing every chunk boundary */
	ASSERT_EQ(nbytes, pwrite(fd, w, nbytes, 0));
	for (pos = 0; pos < nbytes; pos += chunk) {
		uint64_t k = pos / chunk, n = nbytes - pos < chunk ? nbytes - pos : chunk;
		int strip = k % strips;
		uint64_t base = strip ? 8 * M2 : 32 * M2;

		ASSERT_EQ(0, dev_rw(&self->dev[strip], base + (k / strips) * chunk, d, n, false));
		ASSERT_EQ(0, memcmp(d, w + pos, n)) TH_LOG("chunk %lu", k);
	}
	close(fd);
	free(w);
	free(d);
}

static unsigned long smaps_field(void *addr, const char *field)
{
	unsigned long start, end, v = 0, found = 0;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			found = (unsigned long)addr >= start && (unsigned long)addr < end;
			continue;
		}
		if (found && !strncmp(line, field, strlen(field))) {
			sscanf(line + strlen(field), ": %lu", &v);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

/* An address aligned to 2 MiB with @len bytes of free space after it. */
static void *aligned_hole(size_t len)
{
	char *p = mmap(NULL, len + M2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((unsigned long)p + M2 - 1) & ~(M2 - 1));
	munmap(p, len + M2);
	return a;
}

TEST_F(famfs, mmap_pmd_and_bytes)
{
	struct srv *s = self->s;
	size_t size = 4 * M2;
	unsigned char *p, *d = malloc(M2), *w = malloc(size);
	int fd;

	simple_file(s, "m", 0, 48 * M2, size, size);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "m"), O_RDWR);
	ASSERT_GE(fd, 0);
	p = mmap(aligned_hole(size), size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* one byte read in a 2 MiB aligned range maps all of it: a PMD */
	ASSERT_EQ(0, smaps_field(p, "Rss"));
	(void)*(volatile unsigned char *)(p + M2 + 5);
	EXPECT_EQ(2048, smaps_field(p, "Rss"));
	pattern(w, size, 4);
	memcpy(p, w, size);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 48 * M2 + M2, d, M2, false));
	ASSERT_EQ(0, memcmp(d, w + M2, M2));
	munmap(p, size);

	/* an unaligned mapping falls back to PTEs and still sees the bytes */
	p = mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, fd, 4096);
	ASSERT_NE(MAP_FAILED, p);
	(void)*(volatile unsigned char *)(p + 4096);
	EXPECT_EQ(4, smaps_field(p, "Rss"));
	ASSERT_EQ(0, memcmp(p, w + 4096, 3 * 4096));
	munmap(p, 3 * 4096);
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
	close(fd);
	free(d);
	free(w);
}

TEST_F(famfs, eof_and_size_changes)
{
	struct srv *s = self->s;
	char buf[8192] = {};
	int fd;

	simple_file(s, "e", 0, 64 * M2, M2 + 100, M2);
	simple_file(s, "t", 0, 72 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "e"), O_RDWR);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(100, pread(fd, buf, sizeof(buf), M2));
	EXPECT_EQ(0, pread(fd, buf, sizeof(buf), M2 + 100));
	EXPECT_EQ(-1, pwrite(fd, buf, 200, M2));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(-1, pread(fd, buf, 10, 0));
	EXPECT_EQ(ENXIO, errno);
	close(fd);

	fd = open(fpath(s, "t"), O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, 4096));
	EXPECT_EQ(-1, pread(fd, buf, 10, 0));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	close(fd);
}

/* splice(2) has no page cache to use: the VFS copies through read_iter */
TEST_F(famfs, splice_reads_the_device)
{
	struct srv *s = self->s;
	unsigned char d[4096], r[4096];
	int fd, pfd[2];
	loff_t off = 8192;

	simple_file(s, "p", 0, 80 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	pattern(d, sizeof(d), 5);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 80 * M2 + 8192, d, sizeof(d), true));
	fd = open(fpath(s, "p"), O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(sizeof(d), splice(fd, &off, pfd[1], NULL, sizeof(d), 0));
	ASSERT_EQ(sizeof(r), read(pfd[0], r, sizeof(r)));
	EXPECT_EQ(0, memcmp(d, r, sizeof(d)));
	EXPECT_EQ(0, srv_count(s, FUSE_READ));
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
}

/* -- Hostile GET_FMAP replies --------------------------------------------- */

struct bad_fmap {
	const char *name;
	void (*mk)(struct srv_file *f);
	int err;
};

#define HDR(f)	((struct fuse_famfs_fmap_header *)(f)->fmap)
#define SE(f, i) ((struct fuse_famfs_simple_ext *)(HDR(f) + 1) + (i))
#define IE(f)	((struct fuse_famfs_iext *)(HDR(f) + 1))

static void good_simple(struct srv_file *f)
{
	fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, 2, 3 * M2);
	fm_se(f, 0, 96 * M2, 2 * M2);
	fm_se(f, 0, 100 * M2, 2 * M2);
}

static void good_ie(struct srv_file *f)
{
	fm_hdr(f, FUSE_FAMFS_EXT_INTERLEAVE, 1, 4 * M2);
	fm_ie(f, 2, M2, 4 * M2);
	fm_se(f, 0, 104 * M2, 2 * M2);
	fm_se(f, 0, 108 * M2, 2 * M2);
}

#define MUT(fn, base, stmt) static void fn(struct srv_file *f) { base(f); stmt; }
MUT(b_version, good_simple, HDR(f)->fmap_version = 2)
MUT(b_ftype, good_simple, HDR(f)->file_type = 7)
MUT(b_etype, good_simple, HDR(f)->ext_type = 9)
MUT(b_next0, good_simple, HDR(f)->nextents = 0)
MUT(b_next33, good_simple, HDR(f)->nextents = 33)
MUT(b_next_huge, good_simple, HDR(f)->nextents = 0xffffffff)
MUT(b_zero_len, good_simple, f->fmap_len = 0)
MUT(b_short_hdr, good_simple, f->fmap_len = 20)
MUT(b_truncated, good_simple, f->fmap_len -= 8)
MUT(b_claims_more, good_simple, HDR(f)->nextents = 3)
MUT(b_garbage, good_simple, (f->fmap[f->fmap_len] = 0xff, f->fmap_len += 16))
MUT(b_too_long, good_simple, f->fmap_len = FAMFS_FMAP_MAX + 1)
MUT(b_off_unaligned, good_simple, SE(f, 1)->se_offset += 4096)
MUT(b_len_unaligned, good_simple, SE(f, 0)->se_len -= 4096)
MUT(b_len0, good_simple, SE(f, 0)->se_len = 0)
MUT(b_overflow, good_simple, SE(f, 1)->se_offset = ~0ULL - M2 + 1)
MUT(b_dev24, good_simple, SE(f, 1)->se_devindex = 24)
MUT(b_dev2_31, good_simple, SE(f, 1)->se_devindex = 1U << 31)
MUT(b_short_cover, good_simple, HDR(f)->file_size = 4 * M2 + 1)
MUT(b_ie_nstrips0, good_ie, IE(f)->ie_nstrips = 0)
MUT(b_ie_nstrips33, good_ie, IE(f)->ie_nstrips = 33)
MUT(b_ie_nstrips2_31, good_ie, IE(f)->ie_nstrips = 1U << 31)
MUT(b_ie_chunk0, good_ie, IE(f)->ie_chunk_size = 0)
MUT(b_ie_chunk_unaligned, good_ie, IE(f)->ie_chunk_size = M2 + 4096)
MUT(b_ie_strip_short, good_ie, ((struct fuse_famfs_simple_ext *)(IE(f) + 1))->se_len = M2)
MUT(b_ie_cover, good_ie, HDR(f)->file_size = 5 * M2)

static const struct bad_fmap bad_fmaps[] = {
	{ "version 2", b_version, EINVAL },
	{ "file type 7", b_ftype, EINVAL },
	{ "extent type 9", b_etype, EINVAL },
	{ "nextents 0", b_next0, EINVAL },
	{ "nextents 33", b_next33, EINVAL },
	{ "nextents 2^32-1 with a short buffer", b_next_huge, EINVAL },
	{ "zero-length reply", b_zero_len, EINVAL },
	{ "short header", b_short_hdr, EINVAL },
	{ "truncated extent", b_truncated, EINVAL },
	{ "more extents claimed than sent", b_claims_more, EINVAL },
	{ "garbage after the extents", b_garbage, EINVAL },
	{ "reply one byte longer than asked", b_too_long, EIO },
	{ "offset not 2 MiB aligned", b_off_unaligned, EINVAL },
	{ "length not 2 MiB aligned", b_len_unaligned, EINVAL },
	{ "length 0", b_len0, EINVAL },
	{ "offset + length overflows", b_overflow, EINVAL },
	{ "device index 24", b_dev24, EINVAL },
	{ "device index 2^31", b_dev2_31, EINVAL },
	{ "extents shorter than the file", b_short_cover, EINVAL },
	{ "interleave nstrips 0", b_ie_nstrips0, EINVAL },
	{ "interleave nstrips 33", b_ie_nstrips33, EINVAL },
	{ "interleave nstrips 2^31", b_ie_nstrips2_31, EINVAL },
	{ "interleave chunk 0", b_ie_chunk0, EINVAL },
	{ "interleave chunk not 2 MiB aligned", b_ie_chunk_unaligned, EINVAL },
	{ "interleave strip too short", b_ie_strip_short, EINVAL },
	{ "interleave shorter than the file", b_ie_cover, EINVAL },
};

TEST_F(famfs, hostile_fmaps)
{
	struct srv *s = self->s;
	size_t i, n = sizeof(bad_fmaps) / sizeof(bad_fmaps[0]);
	char name[16], buf[64];
	int fd;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bad%zu", i);
		bad_fmaps[i].mk(srv_add_file(s, name, 3 * M2));
	}
	good_simple(srv_add_file(s, "good", 3 * M2));
	s->files[s->nfiles - 1].size = 3 * M2;
	ASSERT_EQ(0, srv_mount(s));
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "bad%zu", i);
		errno = 0;
		fd = open(fpath(s, name), O_RDWR);
		EXPECT_EQ(-1, fd) TH_LOG("%s: accepted", bad_fmaps[i].name);
		EXPECT_EQ(bad_fmaps[i].err, errno) TH_LOG("%s", bad_fmaps[i].name);
		if (fd >= 0)
			close(fd);
		ksft_print_msg("hostile fmap: %-40s -> %s\n", bad_fmaps[i].name,
			       fd < 0 ? strerror(errno) : "ACCEPTED");
	}
	fd = open(fpath(s, "good"), O_RDWR);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(sizeof(buf), pwrite(fd, buf, sizeof(buf), 0));
	close(fd);
}

TEST_F(famfs, fmap_server_error_then_retry)
{
	struct srv *s = self->s;
	struct srv_file *f = simple_file(s, "r", 0, 112 * M2, M2, M2);
	int fd;

	f->fmap_err = EPERM;
	ASSERT_EQ(0, srv_mount(s));
	EXPECT_EQ(-1, open(fpath(s, "r"), O_RDWR));
	EXPECT_EQ(EPERM, errno);
	f->fmap_err = 0;
	fd = open(fpath(s, "r"), O_RDWR);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(2, srv_count(s, FUSE_GET_FMAP));
	close(fd);
}

/* -- Hostile GET_DAXDEV replies ------------------------------------------- */

struct bad_dev {
	const char *name;
	const char *path;
	int err, index_delta, no_nul;
	int expect;
};

static const struct bad_dev bad_devs[] = {
	{ "regular file", "/etc/hostname", 0, 0, 0, ENODEV },
	{ "/dev/null", "/dev/null", 0, 0, 0, ENODEV },
	{ "directory", "/dev", 0, 0, 0, ENODEV },
	{ "missing path", "/dev/nonexistent-dax", 0, 0, 0, ENOENT },
	{ "relative path", "dev/dax0.0", 0, 0, 0, EINVAL },
	{ "symlink to the device", "/tmp/famfs-kst-link", 0, 0, 0, ENODEV },
	{ "name without NUL", "/dev/x", 0, 0, 1, EINVAL },
	{ "wrong index", NULL, 0, 1, 0, EINVAL },
	{ "error reply", NULL, EACCES, 0, 0, EACCES },
};

TEST_F(famfs, hostile_daxdevs)
{
	struct srv *s = self->s;
	size_t i, n = sizeof(bad_devs) / sizeof(bad_devs[0]);
	char name[16];
	int fd;

	unlink("/tmp/famfs-kst-link");
	ASSERT_EQ(0, symlink(self->dev[0].path, "/tmp/famfs-kst-link"));
	/* device i + 2 is hostile case i; every file uses device 0 and it */
	for (i = 0; i < n; i++) {
		struct srv_dev *d = &s->devs[i + 2];
		struct srv_file *f;

		snprintf(name, sizeof(name), "d%zu", i);
		f = srv_add_file(s, name, 2 * M2);
		fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, 2, 2 * M2);
		fm_se(f, 0, 120 * M2, M2);
		fm_se(f, i + 2, 0, M2);
		snprintf(d->name, sizeof(d->name), "%s",
			 bad_devs[i].path ? bad_devs[i].path : self->dev[0].path);
		d->err = bad_devs[i].err;
		d->index_delta = bad_devs[i].index_delta;
		if (bad_devs[i].no_nul)
			memset(d->name, 'x', sizeof(d->name)), d->name_len = sizeof(d->name);
	}
	simple_file(s, "ok", 0, 124 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "d%zu", i);
		errno = 0;
		fd = open(fpath(s, name), O_RDWR);
		EXPECT_EQ(-1, fd) TH_LOG("%s: accepted", bad_devs[i].name);
		EXPECT_EQ(bad_devs[i].expect, errno) TH_LOG("%s", bad_devs[i].name);
		if (fd >= 0)
			close(fd);
	}
	/* device 0 is fine and still usable */
	fd = open(fpath(s, "ok"), O_RDWR);
	ASSERT_GE(fd, 0);
	close(fd);
	unlink("/tmp/famfs-kst-link");
}

/* -- Without CAP_SYS_RAWIO: an ordinary FUSE mount ------------------------ */

static int drop_rawio(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_SYS_RAWIO / 32].effective &= ~(1U << (CAP_SYS_RAWIO % 32));
	d[CAP_SYS_RAWIO / 32].permitted &= ~(1U << (CAP_SYS_RAWIO % 32));
	return syscall(SYS_capset, &h, d);
}

TEST_F(famfs, no_rawio_no_famfs)
{
	struct srv *s = self->s;
	char buf[16];
	int fd;

	simple_file(s, "n", 0, 0, M2, M2);
	ASSERT_EQ(0, drop_rawio());
	ASSERT_EQ(0, srv_mount(s));
	EXPECT_FALSE(s->init_flags & FUSE_DAX_FMAP);
	fd = open(fpath(s, "n"), O_RDONLY);
	ASSERT_GE(fd, 0);
	/* served by the server (which has no READ: ENOSYS), not by famfs */
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), 0));
	EXPECT_EQ(0, srv_count(s, FUSE_GET_FMAP));
	EXPECT_GE(srv_count(s, FUSE_READ), 1);
	close(fd);
}

TEST_HARNESS_MAIN
