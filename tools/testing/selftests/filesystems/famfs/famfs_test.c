// SPDX-License-Identifier: GPL-2.0
/*
 * famfs over FUSE, end to end: a FUSE server of the test's own hands the
 * kernel maps onto the device-dax devices bound to fsdev_dax, and the tests
 * check the bytes on the devices (through their views, see dev_rw()), the
 * errno values, the fault sizes and the request counts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/capability.h>

#include "../../kselftest_harness.h"
#include "famfs_srv.h"
#include "fmap_cases.h"

#define M2	(2ULL << 20)
#define NODEV_DIR	"/tmp/famfs-kst-nodev"
#define DEVS_DIR	"/tmp/famfs-kst-devs"	/* a tmpfs that allows devices */
#define CAP(n)		(1ULL << (n))

#ifndef EHWPOISON
#define EHWPOISON	133
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON	100
#endif

struct daxdev {
	char name[32];		/* dax0.0 */
	char path[48];		/* /dev/dax0.0 */
	unsigned char *view;	/* its bytes, mapped (see dev_rw()) */
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
 * Bytes on a device.  fsdev_dax devices cannot be mapped from user space and
 * /dev/mem refuses device memory (STRICT_DEVMEM), so the tests see a device
 * through a view: a file to map that holds its bytes (under QEMU, a PCI BAR
 * of the memory backend's file), named in FAMFS_DEV_VIEWS as
 * "dax0.0=FILE dax1.0=FILE".
 */
static int dev_rw(const struct daxdev *d, uint64_t off, void *buf, size_t len,
		  bool write)
{
	if (off > d->size || len > d->size - off)
		return -ERANGE;
	if (write)
		memcpy(d->view + off, buf, len);
	else
		memcpy(buf, d->view + off, len);
	return 0;
}

/* Map the view of device @d named in FAMFS_DEV_VIEWS: 0 if it has one. */
static int map_view(struct daxdev *d)
{
	const char *v = getenv("FAMFS_DEV_VIEWS");
	size_t n = strlen(d->name);
	struct stat st;
	char path[256];
	int fd;

	for (; v && *v; v += strcspn(v, " ")) {
		v += strspn(v, " ");
		if (strncmp(v, d->name, n) || v[n] != '=')
			continue;
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(v + n + 1, " "),
			 v + n + 1);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) || st.st_size < (off_t)d->size) {
			close(fd);
			return -1;
		}
		d->view = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0);
		close(fd);
		if (d->view == MAP_FAILED) {
			d->view = NULL;
			return -1;
		}
		return 0;
	}
	return -1;
}

static void pattern(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 131 + seed * 7 + (i >> 12)) ^ (i >> 20));
}

/* The path of @name on @s's mount, in a static buffer (not thread safe). */
static char *fpath(struct srv *s, const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", s->mnt, name);
	return p;
}

/* -- A model of the maps: what the kernel must accept, where bytes go ----- */

/* Extents (or strips) a reply of FAMFS_FMAP_MAX bytes can hold */
#define M_MAX_EXT	(FAMFS_FMAP_MAX / sizeof(struct fuse_famfs_simple_ext))
#define M_MAX_DEVS	64
#define M_FMAP_SIZE_MAX	(16U << 20)	/* the largest map the kernel asks for */

struct m_ext {
	uint32_t dev;
	uint64_t off, len;
};

struct m_iext {
	uint32_t nstrips;
	uint64_t chunk, nbytes;
	struct m_ext s[FUSE_FAMFS_MAX_STRIPS];
};

struct m_map {
	uint32_t type, n;
	uint64_t size;
	uint64_t devs;		/* bit n: device index n is used */
	struct m_ext se[M_MAX_EXT];
	struct m_iext ie[M_MAX_EXT];
};

/*
 * Bytes strip @strip of @ie must hold, counted chunk by chunk: the strip
 * gets chunks strip, strip + n, ...; its last one may be the file's last,
 * partial, chunk.
 */
static uint64_t m_strip_need(const struct m_iext *ie, uint32_t strip)
{
	uint64_t nchunks = ie->nbytes / ie->chunk + !!(ie->nbytes % ie->chunk);
	uint64_t last, tail;

	if (strip >= nchunks)
		return 0;
	last = (nchunks - 1 - strip) / ie->nstrips * ie->nstrips + strip;
	tail = ie->nbytes - last * ie->chunk;
	return (last - strip) / ie->nstrips * ie->chunk +
	       (tail < ie->chunk ? tail : ie->chunk);
}

static bool m_ext_bad(const struct m_ext *e)
{
	uint64_t end;

	return e->dev >= M_MAX_DEVS || !e->len || e->len % M2 || e->off % M2 ||
	       __builtin_add_overflow(e->off, e->len, &end);
}

/*
 * Whether two ranges of a map share bytes of a device.  Every simple extent
 * and every strip, at the full length given, is a range of its device; no
 * two may intersect (touching is fine): one file offset's write must not
 * show at another.
 */
static bool m_overlap(const struct m_map *m)
{
	const struct m_ext *r[M_MAX_EXT];
	uint32_t i, j, n = 0;

	for (i = 0; i < m->n; i++) {
		if (m->type == FUSE_FAMFS_EXT_SIMPLE) {
			r[n++] = &m->se[i];
			continue;
		}
		for (j = 0; j < m->ie[i].nstrips; j++)
			r[n++] = &m->ie[i].s[j];
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (r[i]->dev == r[j]->dev && r[i]->off < r[j]->off + r[j]->len &&
			    r[j]->off < r[i]->off + r[i]->len)
				return true;
	return false;
}

/*
 * Parse a GET_FMAP reply as Documentation/filesystems/famfs.rst says the
 * kernel must.  Return: 0 if it is valid, else the errno of the open.
 */
static int m_parse(const unsigned char *b, size_t len, struct m_map *m)
{
	const struct fuse_famfs_fmap_header *h = (const void *)b;
	uint64_t covered = 0, end;
	size_t pos = sizeof(*h);
	uint32_t i, j;

	if (len > FAMFS_FMAP_MAX)
		return EIO;
	if (len < sizeof(*h))
		return EINVAL;
	/* "does not fit": asked again, the same reply is not what it said */
	if (h->fmap_size > FAMFS_FMAP_MAX)
		return h->fmap_size > M_FMAP_SIZE_MAX ? EFBIG : EINVAL;
	if (h->fmap_version != FAMFS_FMAP_VERSION ||
	    h->file_type > FUSE_FAMFS_FILE_LOG ||
	    h->ext_type > FUSE_FAMFS_EXT_INTERLEAVE || !h->nextents ||
	    (h->fmap_size && h->fmap_size != len) || h->file_size > INT64_MAX)
		return EINVAL;
	m->type = h->ext_type;
	m->n = h->nextents;
	m->size = h->file_size;
	m->devs = 0;
	for (i = 0; i < m->n; i++) {
		const struct fuse_famfs_simple_ext *se;
		struct m_ext *e = &m->se[i];
		uint32_t ns = 1;

		if (m->type == FUSE_FAMFS_EXT_INTERLEAVE) {
			const struct fuse_famfs_iext *ie = (const void *)(b + pos);

			if (len - pos < sizeof(*ie))
				return EINVAL;
			pos += sizeof(*ie);
			ns = ie->ie_nstrips;
			if (!ns || ns > FUSE_FAMFS_MAX_STRIPS)
				return EINVAL;
			m->ie[i].nstrips = ns;
			m->ie[i].chunk = ie->ie_chunk_size;
			m->ie[i].nbytes = ie->ie_nbytes;
			e = m->ie[i].s;
		}
		for (j = 0; j < ns; j++) {
			se = (const void *)(b + pos);
			if (len - pos < sizeof(*se))
				return EINVAL;
			pos += sizeof(*se);
			e[j].dev = se->se_devindex;
			e[j].off = se->se_offset;
			e[j].len = se->se_len;
		}
	}
	for (; pos < len; pos++)
		if (b[pos])
			return EINVAL;
	for (i = 0; i < m->n; i++) {
		if (m->type == FUSE_FAMFS_EXT_SIMPLE) {
			if (m_ext_bad(&m->se[i]) ||
			    __builtin_add_overflow(covered, m->se[i].len, &covered))
				return EINVAL;
			m->devs |= 1ULL << m->se[i].dev;
			continue;
		}
		if (!m->ie[i].chunk || m->ie[i].chunk % M2 || !m->ie[i].nbytes ||
		    __builtin_add_overflow(m->ie[i].nbytes, m->ie[i].chunk, &end) ||
		    (i + 1 < m->n && m->ie[i].nbytes % 4096))
			return EINVAL;
		for (j = 0; j < m->ie[i].nstrips; j++) {
			if (m_ext_bad(&m->ie[i].s[j]) ||
			    m->ie[i].s[j].len < m_strip_need(&m->ie[i], j))
				return EINVAL;
			m->devs |= 1ULL << m->ie[i].s[j].dev;
		}
		if (__builtin_add_overflow(covered, m->ie[i].nbytes, &covered))
			return EINVAL;
	}
	/* every range is checked (no sum overflows): now they may be compared */
	return covered < m->size || m_overlap(m) ? EINVAL : 0;
}

/* Where file byte @pos lives, and how many bytes are contiguous from it. */
static int m_resolve(const struct m_map *m, uint64_t pos, struct m_ext *out)
{
	uint32_t i;

	for (i = 0; i < m->n; i++) {
		const struct m_iext *ie = &m->ie[i];
		uint64_t k, co;

		if (m->type == FUSE_FAMFS_EXT_SIMPLE) {
			if (pos < m->se[i].len) {
				*out = m->se[i];
				out->off += pos;
				out->len -= pos;
				return 0;
			}
			pos -= m->se[i].len;
			continue;
		}
		if (pos >= ie->nbytes) {
			pos -= ie->nbytes;
			continue;
		}
		k = pos / ie->chunk;
		co = pos % ie->chunk;
		out->dev = ie->s[k % ie->nstrips].dev;
		out->off = ie->s[k % ie->nstrips].off + k / ie->nstrips * ie->chunk + co;
		out->len = ie->chunk - co;
		if (out->len > ie->nbytes - pos)
			out->len = ie->nbytes - pos;
		return 0;
	}
	return -1;
}

/* The GET_FMAP reply for a model map. */
static void m_build(struct srv_file *f, const struct m_map *m)
{
	uint32_t i, j;

	fm_hdr(f, m->type, m->n, m->size);
	for (i = 0; i < m->n; i++) {
		if (m->type == FUSE_FAMFS_EXT_SIMPLE) {
			fm_se(f, m->se[i].dev, m->se[i].off, m->se[i].len);
			continue;
		}
		fm_ie(f, m->ie[i].nstrips, m->ie[i].chunk, m->ie[i].nbytes);
		for (j = 0; j < m->ie[i].nstrips; j++)
			fm_se(f, m->ie[i].s[j].dev, m->ie[i].s[j].off,
			      m->ie[i].s[j].len);
	}
	f->size = m->size;
}

/*
 * Compare the file bytes [@pos, @pos + @n) of a file with map @m with @w,
 * reading the devices.  Return: -1 if they match, else the first file
 * offset that differs (or that the map does not place on a device).
 */
static int64_t m_check_devs(const struct daxdev *dev, const struct m_map *m,
			    uint64_t pos, const unsigned char *w, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);
	size_t done = 0;
	int64_t bad = -1;

	while (done < n && bad < 0) {
		struct m_ext e;
		size_t k;

		if (m_resolve(m, pos + done, &e) || !d) {
			bad = pos + done;
			break;
		}
		k = e.len < n - done ? e.len : n - done;
		if (e.off + k > dev[e.dev].size ||
		    dev_rw(&dev[e.dev], e.off, d, k, false) ||
		    memcmp(d, w + done, k))
			bad = pos + done;
		done += k;
	}
	free(d);
	return bad;
}

/* A bump allocator of 2 MiB aligned device space, one per device. */
struct dspace {
	uint64_t next[2];
};

static uint64_t dalloc(struct dspace *ds, uint32_t dev, uint64_t len)
{
	uint64_t off = ds->next[dev];

	ds->next[dev] += (len + M2 - 1) / M2 * M2;
	return off;
}

/* Lay out @ie's strips on devices (strip j on device j % ndev). */
static void m_place_strips(struct m_iext *ie, struct dspace *ds, int ndev,
			   uint64_t extra)
{
	uint32_t j;

	for (j = 0; j < ie->nstrips; j++) {
		uint64_t need = m_strip_need(ie, j);

		ie->s[j].dev = j % ndev;
		ie->s[j].len = (need + M2 - 1) / M2 * M2 + (j ? 0 : extra);
		if (!ie->s[j].len)
			ie->s[j].len = M2;
		ie->s[j].off = dalloc(ds, ie->s[j].dev, ie->s[j].len);
	}
}

FIXTURE(famfs) {
	struct srv *s;
	struct daxdev dev[2];
	int ndev;
	bool rebind[2];		/* rebind dev[i] to fsdev_dax on teardown */
	bool nodev_mounted;	/* NODEV_DIR is mounted */
	bool devs_mounted;	/* DEVS_DIR is mounted */
};

FIXTURE_SETUP(famfs)
{
	self->ndev = find_daxdevs(self->dev, 2);
	if (!self->ndev)
		SKIP(return, "no device-dax bound to fsdev_dax");
	for (int i = 0; i < self->ndev; i++)
		if (map_view(&self->dev[i]))
			SKIP(return, "no view of %s's bytes to check them: set FAMFS_DEV_VIEWS=\"%s=FILE\" (a file to map that holds the device's bytes)",
			     self->dev[i].name, self->dev[i].name);
	self->s = calloc(1, sizeof(*self->s));
	ASSERT_NE(NULL, self->s);
	self->s->die_on = SRV_NOP;
	self->s->hang_on = SRV_NOP;
	snprintf(self->s->devs[0].name, DAXDEV_NAME_MAX, "%s", self->dev[0].path);
	if (self->ndev > 1)
		snprintf(self->s->devs[1].name, DAXDEV_NAME_MAX, "%s", self->dev[1].path);
}

static int dax_bind(const char *dev, const char *driver);

FIXTURE_TEARDOWN(famfs)
{
	int i;

	if (self->s && self->s->fd > 0)
		srv_umount(self->s);
	free(self->s);
	for (i = 0; i < self->ndev; i++)
		if (self->dev[i].view)
			munmap(self->dev[i].view, self->dev[i].size);
	for (i = 0; i < 2; i++)
		if (self->rebind[i])
			dax_bind(self->dev[i].name, "fsdev_dax");
	if (self->nodev_mounted) {
		umount2(NODEV_DIR, MNT_DETACH);
		rmdir(NODEV_DIR);
	}
	if (self->devs_mounted) {
		umount2(DEVS_DIR, MNT_DETACH);
		rmdir(DEVS_DIR);
	}
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
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			found = (unsigned long)addr >= start &&
				(unsigned long)addr < end;
			continue;
		}
		if (found && !strncmp(line, field, strlen(field))) {
			if (sscanf(line + strlen(field), ": %lu", &v) != 1)
				v = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

/* The page frame mapped at @addr, from /proc/self/pagemap; 0 if none. */
static uint64_t pfn_of(void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (uintptr_t)addr / 4096 * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
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
	int fd, i;

	simple_file(s, "m", 0, 48 * M2, size, size);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "m"), O_RDWR);
	ASSERT_GE(fd, 0);
	p = mmap(aligned_hole(size), size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/*
	 * One byte read in a 2 MiB aligned range maps all of it: a PMD.  (DAX
	 * folios are ZONE_DEVICE: smaps_pmd_entry() leaves them out of
	 * FilePmdMapped, so the proof is Rss and the page tables.)
	 */
	ASSERT_EQ(0, smaps_field(p, "Rss"));
	(void)*(volatile unsigned char *)(p + M2 + 5);
	EXPECT_EQ(2048, smaps_field(p, "Rss"));
	ksft_print_msg("FilePmdMapped %lu kB (DAX PMDs are not counted there)\n",
		       smaps_field(p, "FilePmdMapped"));
	/* ... the whole range, on the device where the map says */
	for (i = 0; i < 512; i++) {
		uint64_t want = (self->dev[0].phys + 49 * M2) / 4096 + i;

		if (pfn_of(p + M2 + i * 4096) != want) {
			EXPECT_EQ(want, pfn_of(p + M2 + i * 4096)) TH_LOG("page %d", i);
			break;
		}
	}
	EXPECT_EQ(0, pfn_of(p));
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

/*
 * famfs files never change size: a write past the end fails with EFBIG and
 * writes nothing, a truncate with EPERM, and the file stays usable.
 */
TEST_F(famfs, eof_and_size_changes)
{
	struct srv *s = self->s;
	unsigned char buf[8192] = {}, w[4096], d[4096], before[4096];
	unsigned char *p;
	struct stat st;
	int fd, fd2;

	simple_file(s, "e", 0, 64 * M2, M2 + 100, M2);
	simple_file(s, "t", 0, 72 * M2, M2, M2);
	simple_file(s, "x", 0, 76 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	/* a map that ends right at EOF: reads there return 0, not an error */
	fd = open(fpath(s, "x"), O_RDONLY);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(0, pread(fd, buf, sizeof(buf), M2));
	EXPECT_EQ(0, pread(fd, buf, sizeof(buf), M2 + 4096));
	EXPECT_EQ(4096, pread(fd, buf, sizeof(buf), M2 - 4096));
	close(fd);

	/* e: M2 + 100 bytes; its second extent is at 66 * M2 */
	pattern(before, sizeof(before), 60);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 66 * M2, before, sizeof(before), true));
	fd = open(fpath(s, "e"), O_RDWR);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(100, pread(fd, buf, sizeof(buf), M2));
	EXPECT_EQ(0, pread(fd, buf, sizeof(buf), M2 + 100));
	memset(buf, 0xee, sizeof(buf));
	errno = 0;
	EXPECT_EQ(-1, pwrite(fd, buf, 100, M2 + 100 - 10));
	EXPECT_EQ(EFBIG, errno) TH_LOG("%s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, pwrite(fd, buf, 200, M2));
	EXPECT_EQ(EFBIG, errno) TH_LOG("%s", strerror(errno));
	fd2 = open(fpath(s, "e"), O_WRONLY | O_APPEND);
	ASSERT_GE(fd2, 0);
	errno = 0;
	EXPECT_EQ(-1, write(fd2, buf, 1));
	EXPECT_EQ(EFBIG, errno) TH_LOG("%s", strerror(errno));
	close(fd2);
	/* nothing of them was written */
	ASSERT_EQ(0, dev_rw(&self->dev[0], 66 * M2, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, before, sizeof(d)));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(M2 + 100, st.st_size);

	/* ... and the file is still usable: read, write, faults, another fd */
	EXPECT_EQ(100, pread(fd, buf, sizeof(buf), M2));
	EXPECT_EQ(0, memcmp(buf, before, 100));
	pattern(w, sizeof(w), 61);
	EXPECT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 4096));
	ASSERT_EQ(0, dev_rw(&self->dev[0], 64 * M2 + 4096, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, memcmp(p + 4096, w, sizeof(w)));
	p[2 * 4096] = 0x5a;
	munmap(p, 3 * 4096);
	fd2 = open(fpath(s, "e"), O_RDWR);
	ASSERT_GE(fd2, 0);
	EXPECT_EQ(sizeof(buf), pread(fd2, buf, sizeof(buf), 4096));
	EXPECT_EQ(0, memcmp(buf, w, sizeof(w)));
	EXPECT_EQ(0x5a, buf[4096]);
	EXPECT_EQ(10, pwrite(fd2, w, 10, M2 + 90));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd2, M2);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, memcmp(p + 90, w, 10));
	munmap(p, 4096);
	close(fd2);
	close(fd);

	/* t: truncate is refused and changes nothing */
	fd = open(fpath(s, "t"), O_RDWR);
	ASSERT_GE(fd, 0);
	errno = 0;
	EXPECT_EQ(-1, ftruncate(fd, 4096));
	EXPECT_EQ(EPERM, errno) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(M2, st.st_size);
	EXPECT_EQ(10, pread(fd, buf, 10, 0));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, memcmp(p, buf, 10));
	munmap(p, 4096);
	close(fd);
	EXPECT_EQ(0, srv_count(s, FUSE_SETATTR));
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
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

/* -- GET_FMAP replies: the map table (fmap_cases.h) --------------------- */

/*
 * Every map of the table is a file's GET_FMAP reply: an invalid one fails
 * the open with the table's errno, a valid one opens with its file size.
 * libfuse's fuse_famfs_fmap_check() is tested on the same table.
 */
TEST_F(famfs, fmap_cases)
{
	struct srv *s = self->s;
	size_t i, n = ARRAY_SIZE(fmap_cases);
	struct srv_file *f;
	struct stat st;
	char name[16];
	int fd;

	if (self->ndev < 2)
		SKIP(return, "the table's maps use device indexes 0 and 1: needs two devdax");
	ASSERT_LE(n, SRV_MAX_FILES);
	for (i = 0; i < n; i++) {
		const struct fmap_case *c = &fmap_cases[i];

		snprintf(name, sizeof(name), "case%zu", i);
		f = srv_add_file(s, name, c->err ? 3 * M2 : c->size);
		f->fmap_len = fmap_case_encode(c, f->fmap);
		ASSERT_NE((size_t)-1, f->fmap_len) TH_LOG("%s", c->name);
	}
	ASSERT_EQ(0, srv_mount(s));
	for (i = 0; i < n; i++) {
		const struct fmap_case *c = &fmap_cases[i];

		snprintf(name, sizeof(name), "case%zu", i);
		errno = 0;
		fd = open(fpath(s, name), O_RDONLY);
		ksft_print_msg("fmap case: %-60s -> %s\n", c->name,
			       fd < 0 ? strerror(errno) : "opened");
		if (c->err) {
			EXPECT_EQ(-1, fd) TH_LOG("%s: accepted", c->name);
			EXPECT_EQ(c->err, errno) TH_LOG("%s", c->name);
		} else {
			EXPECT_LE(0, fd) TH_LOG("%s: %s", c->name, strerror(errno));
		}
		if (fd < 0)
			continue;
		ASSERT_EQ(0, fstat(fd, &st));
		EXPECT_EQ(c->size, (uint64_t)st.st_size) TH_LOG("%s", c->name);
		close(fd);
	}
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
}

/* A reply longer than the buffer offered is the transport's error: EIO. */
TEST_F(famfs, fmap_reply_too_long)
{
	struct srv *s = self->s;
	struct srv_file *f;
	int fd;

	f = srv_add_file(s, "long", M2);
	fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, 1, M2);
	fm_se(f, 0, 64 * M2, M2);
	f->fmap_len = FAMFS_FMAP_MAX + 1;
	ASSERT_EQ(0, srv_mount(s));
	errno = 0;
	fd = open(fpath(s, "long"), O_RDONLY);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EIO, errno) TH_LOG("%s", strerror(errno));
	if (fd >= 0)
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
	size_t i, n = ARRAY_SIZE(bad_devs);
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

TEST_F(famfs, no_rawio_no_famfs)
{
	struct srv *s = self->s;
	char buf[16];
	int fd;

	simple_file(s, "n", 0, 0, M2, M2);
	ASSERT_EQ(0, caps_drop(CAP(CAP_SYS_RAWIO)));
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

/* -- Interleave: chunk sizes, boundaries, the last partial stripe -------- */

static void mk_interleaved(struct m_map *m, struct dspace *ds, int ndev,
			   uint64_t chunk, uint32_t nstrips)
{
	memset(m, 0, sizeof(*m));
	m->type = FUSE_FAMFS_EXT_INTERLEAVE;
	m->n = 2;
	/* one chunk more than a stripe: the last stripe is partial */
	m->ie[0].nstrips = nstrips;
	m->ie[0].chunk = chunk;
	m->ie[0].nbytes = (nstrips + 1) * chunk;
	m_place_strips(&m->ie[0], ds, ndev, 0);
	/* then a chunk and a half and a bit: a partial chunk, empty strips */
	m->ie[1].nstrips = nstrips;
	m->ie[1].chunk = chunk;
	m->ie[1].nbytes = chunk + chunk / 2 + 12345;
	m_place_strips(&m->ie[1], ds, ndev, M2);	/* strip 0 longer */
	m->size = m->ie[0].nbytes + m->ie[1].nbytes;
}

TEST_F_TIMEOUT(famfs, interleave_chunk_sizes, 240)
{
	static const struct { uint64_t chunk; uint32_t nstrips; } cfg[] = {
		{ M2, 2 }, { 2 * M2, 2 }, { 4 * M2, 3 }, { 2 * M2, 5 },
	};
	struct srv *s = self->s;
	struct m_map *m = calloc(ARRAY_SIZE(cfg), sizeof(*m));
	struct dspace ds = { { 2 * M2, 2 * M2 } };
	size_t c, nc = ARRAY_SIZE(cfg);
	char name[16];

	ASSERT_NE(NULL, m);
	for (c = 0; c < nc; c++) {
		mk_interleaved(&m[c], &ds, self->ndev, cfg[c].chunk, cfg[c].nstrips);
		snprintf(name, sizeof(name), "i%zu", c);
		m_build(srv_add_file(s, name, 0), &m[c]);
	}
	ASSERT_LE(ds.next[0], self->dev[0].size);
	if (self->ndev > 1)
		ASSERT_LE(ds.next[1], self->dev[1].size);
	ASSERT_EQ(0, srv_mount(s));

	for (c = 0; c < nc; c++) {
		uint64_t size = m[c].size, chunk = cfg[c].chunk;
		uint64_t bounds[] = {
			chunk, 2 * chunk, m[c].ie[0].nbytes - chunk,
			m[c].ie[0].nbytes, m[c].ie[0].nbytes + chunk, size - 1,
		};
		unsigned char *w = malloc(size), *r = malloc(size + 4096), *p;
		size_t b;
		struct m_ext e;
		int fd;

		ASSERT_NE(NULL, w);
		ASSERT_NE(NULL, r);
		snprintf(name, sizeof(name), "i%zu", c);
		fd = open(fpath(s, name), O_RDWR);
		ASSERT_GE(fd, 0);
		/* one write across every chunk, strip and extent boundary */
		pattern(w, size, 10 + c);
		ASSERT_EQ(size, pwrite(fd, w, size, 0));
		EXPECT_EQ(-1, m_check_devs(self->dev, &m[c], 0, w, size))
			TH_LOG("chunk %lu x %u: bytes misplaced", chunk, cfg[c].nstrips);
		/* small unaligned writes straddling each boundary */
		for (b = 0; b < ARRAY_SIZE(bounds); b++) {
			uint64_t pos = bounds[b] > 3000 ? bounds[b] - 3000 : 0;
			size_t n = pos + 6001 > size ? size - pos : 6001;

			pattern(w + pos, n, 100 + b);
			ASSERT_EQ(n, pwrite(fd, w + pos, n, pos));
			EXPECT_EQ(-1, m_check_devs(self->dev, &m[c], pos, w + pos, n))
				TH_LOG("chunk %lu: write at %lu misplaced", chunk, pos);
		}
		/* the device written directly, read through the file */
		ASSERT_EQ(0, m_resolve(&m[c], size - 5000, &e));
		pattern(w + size - 5000, 5000, 77);
		ASSERT_EQ(0, dev_rw(&self->dev[e.dev], e.off, w + size - 5000,
				    5000, true));
		ASSERT_EQ(size, pread(fd, r, size + 4096, 0));
		EXPECT_EQ(0, memcmp(r, w, size)) TH_LOG("chunk %lu: read", chunk);
		/* and through a mapping: faults across chunks and strips */
		p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		EXPECT_EQ(0, memcmp(p, w, size)) TH_LOG("chunk %lu: mmap", chunk);
		munmap(p, size);
		close(fd);
		free(w);
		free(r);
	}
	/* a 2 MiB aligned mapping of chunk 1 (strip 1): a PMD there too */
	{
		int fd = open(fpath(s, "i0"), O_RDWR);
		char *p;

		ASSERT_GE(fd, 0);
		p = mmap(aligned_hole(4 * M2), 4 * M2, PROT_READ,
			 MAP_SHARED | MAP_FIXED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		(void)*(volatile char *)(p + M2 + 4096);
		EXPECT_EQ(2048, smaps_field(p, "Rss"));
		munmap(p, 4 * M2);
		close(fd);
	}
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
	EXPECT_EQ(nc, srv_count(s, FUSE_GET_FMAP));
	EXPECT_EQ(self->ndev, srv_count(s, FUSE_GET_DAXDEV));
	free(m);
}

/* -- More hostile GET_DAXDEV replies: one slot, failed many ways ---------- */

static int sysfs_put(const char *file, const char *val)
{
	int fd = open(file, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The driver @dev is bound to ("" if none). */
static const char *dax_driver(const char *dev)
{
	static char cur[256];
	char p[128];
	ssize_t n;

	snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/driver", dev);
	n = readlink(p, cur, sizeof(cur) - 1);
	if (n <= 0)
		return "";
	cur[n] = 0;
	return strrchr(cur, '/') ? strrchr(cur, '/') + 1 : cur;
}

/* Bind @dev to @driver (NULL: leave it unbound).  Return: 0 or -errno. */
static int dax_bind(const char *dev, const char *driver)
{
	const char *cur = dax_driver(dev);
	char p[128];
	int ret;

	if (driver && !strcmp(cur, driver))
		return 0;
	if (*cur) {
		snprintf(p, sizeof(p), "/sys/bus/dax/drivers/%s/unbind", cur);
		ret = sysfs_put(p, dev);
		if (ret)
			return ret;
	}
	if (!driver)
		return 0;
	snprintf(p, sizeof(p), "/sys/bus/dax/drivers/%s/bind", driver);
	ret = sysfs_put(p, dev);
	if (ret)
		return ret;
	return strcmp(dax_driver(dev), driver) ? -ENODEV : 0;
}

struct dev_case {
	const char *name;
	int expect;
};

TEST_F(famfs, hostile_daxdev_slot_recovers)
{
	static const struct dev_case hostile[] = {
		{ "/dev/zero", ENODEV },
		{ "/dev/mem", ENODEV },
		{ "dax char device on a nodev mount", EACCES },
		{ "device 0 again (held by slot 0)", EBUSY },
		{ "devdax bound to device_dax", EOPNOTSUPP },
		{ "devdax bound to no driver", ENODEV },
	};
	struct srv *s = self->s;
	struct srv_dev *d = &s->devs[5];
	struct daxdev *other = &self->dev[self->ndev - 1];
	unsigned char w[8192], r[8192];
	struct srv_file *f;
	struct stat st;
	size_t i;
	int fd;

	/* file h: 2 MiB on device 0, then 2 MiB on device 5 */
	f = srv_add_file(s, "h", 2 * M2);
	fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, 2, 2 * M2);
	fm_se(f, 0, 20 * M2, M2);
	fm_se(f, 5, 4 * M2, M2);
	ASSERT_EQ(0, stat(self->dev[0].path, &st));
	mkdir(NODEV_DIR, 0700);
	ASSERT_EQ(0, mount("famfs-kst", NODEV_DIR, "tmpfs", MS_NODEV, NULL));
	self->nodev_mounted = true;
	ASSERT_EQ(0, mknod(NODEV_DIR "/dax", S_IFCHR | 0600, st.st_rdev));
	ASSERT_EQ(0, srv_mount(s));

	for (i = 0; i < ARRAY_SIZE(hostile); i++) {
		const char *path = hostile[i].name;

		if (i == 2) {
			path = NODEV_DIR "/dax";
		} else if (i == 3) {
			path = self->dev[0].path;
		} else if (i >= 4) {
			if (self->ndev < 2) {
				ksft_print_msg("%s: needs a second devdax\n", path);
				continue;
			}
			self->rebind[1] = true;
			ASSERT_EQ(0, dax_bind(self->dev[1].name,
					      i == 4 ? "device_dax" : NULL));
			path = self->dev[1].path;
		}
		snprintf(d->name, sizeof(d->name), "%s", path);
		errno = 0;
		fd = open(fpath(s, "h"), O_RDWR);
		EXPECT_EQ(-1, fd) TH_LOG("%s: accepted", hostile[i].name);
		EXPECT_EQ(hostile[i].expect, errno) TH_LOG("%s: %s", hostile[i].name,
							 strerror(errno));
		ksft_print_msg("daxdev %-34s -> %s\n", hostile[i].name,
			       fd >= 0 ? "ACCEPTED" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (self->rebind[1]) {
		ASSERT_EQ(0, dax_bind(self->dev[1].name, "fsdev_dax"));
		self->rebind[1] = false;
	}
	if (self->ndev < 2)
		SKIP(return, "a second devdax is needed for the slot to recover");
	/* the slot that failed six ways now takes a good device */
	snprintf(d->name, sizeof(d->name), "%s", other->path);
	fd = open(fpath(s, "h"), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("slot 5 after failures: %s", strerror(errno));
	pattern(w, sizeof(w), 9);
	ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), M2 + 4096));
	ASSERT_EQ(0, dev_rw(other, 4 * M2 + 4096, r, sizeof(r), false));
	EXPECT_EQ(0, memcmp(w, r, sizeof(w)));
	close(fd);
	/* slot 0 was fetched once; slot 5 once per attempt */
	EXPECT_EQ(1 + 1 + (self->ndev > 1 ? 6 : 4), srv_count(s, FUSE_GET_DAXDEV));
}

/* -- The server dies, or hangs and is aborted, in the middle of a request - */

struct opener {
	const char *path;
	int fd, err;
	bool done;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;

	o->fd = open(o->path, O_RDWR);
	o->err = errno;
	__atomic_store_n(&o->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Wait up to @ms for *@flag, or for @count to reach 1. */
static bool wait_until(bool *flag, struct srv *s, int opcode, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (flag ? __atomic_load_n(flag, __ATOMIC_SEQ_CST) :
			   srv_count(s, opcode) > 0)
			return true;
		usleep(10000);
	}
	return false;
}

static void server_gone(struct __test_metadata *_metadata,
			FIXTURE_DATA(famfs) *self, int opcode, bool die)
{
	struct srv *s = self->s;
	struct opener o = { .fd = -1 };
	pthread_t t;
	struct timespec t0, t1;

	simple_file(s, "f", 0, 8 * M2, M2, M2);
	if (die)
		s->die_on = opcode;
	else
		s->hang_on = opcode;
	ASSERT_EQ(0, srv_mount(s));
	o.path = fpath(s, "f");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_EQ(0, pthread_create(&t, NULL, open_thread, &o));
	ASSERT_TRUE(wait_until(NULL, s, opcode, 10000));
	if (!die) {
		/* the server holds the request: the opener waits ... */
		usleep(200000);
		EXPECT_FALSE(__atomic_load_n(&o.done, __ATOMIC_SEQ_CST));
		/* ... until the connection is aborted */
		srv_abort(s);
	}
	ASSERT_TRUE(wait_until(&o.done, s, 0, 10000)) TH_LOG("the opener hangs");
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* every request in flight on an aborted connection: ECONNABORTED */
	EXPECT_EQ(-1, o.fd);
	EXPECT_EQ(ECONNABORTED, o.err) TH_LOG("%s", strerror(o.err));
	ksft_print_msg("%s in %s: open -> %s after %ld ms\n",
		       die ? "server died" : "server hung, aborted",
		       opcode == FUSE_GET_FMAP ? "GET_FMAP" : "GET_DAXDEV",
		       strerror(o.err), (t1.tv_sec - t0.tv_sec) * 1000 +
		       (t1.tv_nsec - t0.tv_nsec) / 1000000);
	/* later requests: the connection is gone */
	EXPECT_EQ(-1, open(o.path, O_RDWR));
	EXPECT_EQ(ENOTCONN, errno);
	EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
	EXPECT_EQ(opcode == FUSE_GET_DAXDEV, srv_count(s, FUSE_GET_DAXDEV));
	/* a plain umount works: nothing is left busy */
	EXPECT_EQ(0, umount2(s->mnt, 0)) TH_LOG("umount: %s", strerror(errno));
	srv_umount(s);
}

TEST_F(famfs, server_dies_in_get_fmap)
{
	server_gone(_metadata, self, FUSE_GET_FMAP, true);
}

TEST_F(famfs, server_dies_in_get_daxdev)
{
	server_gone(_metadata, self, FUSE_GET_DAXDEV, true);
}

TEST_F(famfs, abort_hung_get_fmap)
{
	server_gone(_metadata, self, FUSE_GET_FMAP, false);
}

TEST_F(famfs, abort_hung_get_daxdev)
{
	server_gone(_metadata, self, FUSE_GET_DAXDEV, false);
}

/* -- Concurrency: first opens racing; mount cycles ------------------------ */

#define RACE_THREADS	32
#define RACE_FILES	8

struct racer {
	struct srv *s;
	pthread_barrier_t *bar;
	const unsigned char (*want)[4096];
	int id, failed, wrong;
	char why[96];		/* the last wrong read */
};

static void *race_thread(void *arg)
{
	struct racer *r = arg;
	unsigned char buf[4096];
	int fds[RACE_FILES], i;
	ssize_t n;

	pthread_barrier_wait(r->bar);
	for (i = 0; i < RACE_FILES; i++) {
		int k = (i + r->id) % RACE_FILES;
		char path[96];

		/* not fpath(): its buffer is shared */
		snprintf(path, sizeof(path), "%s/r%d", r->s->mnt, k);
		fds[k] = open(path, O_RDWR);
		if (fds[k] < 0) {
			r->failed++;
			continue;
		}
		n = pread(fds[k], buf, sizeof(buf), 0);
		if (n != sizeof(buf) || memcmp(buf, r->want[k], sizeof(buf))) {
			r->wrong++;
			snprintf(r->why, sizeof(r->why), "r%d: read %zd (%s), byte 0 %#x",
				 k, n, n < 0 ? strerror(errno) : "-", buf[0]);
		}
	}
	for (i = 0; i < RACE_FILES; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return NULL;
}

/*
 * 32 threads open the same 8 files at once; none of them has a map yet and
 * the connection knows no device yet (files r4..r7 also use device 1).  The
 * server answers slowly so that the requests pile up.  What the kernel
 * promises (famfs.rst): every open succeeds and sees the right bytes;
 * concurrent first opens may each fetch a map, the first installed wins
 * and the others are freed (kmemleak checks that); each device is fetched
 * once per connection; later opens send nothing.
 */
TEST_F_TIMEOUT(famfs, race_first_opens, 180)
{
	static unsigned char want[RACE_FILES][4096];
	struct racer r[RACE_THREADS];
	pthread_t t[RACE_THREADS];
	pthread_barrier_t bar;
	struct srv *s = self->s;
	uint64_t fmaps = 0, daxdevs;
	char name[8];
	int i, fd;

	for (i = 0; i < RACE_FILES; i++) {
		struct srv_file *f;

		snprintf(name, sizeof(name), "r%d", i);
		f = srv_add_file(s, name, 2 * M2);
		fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, 2, 2 * M2);
		fm_se(f, 0, (20 + 2 * i) * M2, M2);
		fm_se(f, i >= 4 ? self->ndev - 1 : 0, (21 + 2 * i) * M2, M2);
		pattern(want[i], sizeof(want[i]), 40 + i);
		ASSERT_EQ(0, dev_rw(&self->dev[0], (20 + 2 * i) * M2, want[i],
				    sizeof(want[i]), true));
	}
	s->delay_us = 20000;
	ASSERT_EQ(0, srv_mount(s));
	ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, RACE_THREADS));
	for (i = 0; i < RACE_THREADS; i++) {
		r[i] = (struct racer){ .s = s, .bar = &bar, .want = want, .id = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, race_thread, &r[i]));
	}
	for (i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, r[i].failed) TH_LOG("thread %d", i);
		EXPECT_EQ(0, r[i].wrong) TH_LOG("thread %d: %s", i, r[i].why);
	}
	pthread_barrier_destroy(&bar);
	for (i = 0; i < RACE_FILES; i++) {
		fmaps += s->files[i].fmap_count;
		EXPECT_GE(s->files[i].fmap_count, 1);
		EXPECT_LE(s->files[i].fmap_count, RACE_THREADS);
	}
	daxdevs = srv_count(s, FUSE_GET_DAXDEV);
	ksft_print_msg("%d threads x %d files: %lu GET_FMAP, %lu GET_DAXDEV\n",
		       RACE_THREADS, RACE_FILES, fmaps, daxdevs);
	EXPECT_EQ(self->ndev, daxdevs);
	/* every inode has its map now: nothing more is asked */
	s->delay_us = 0;
	for (i = 0; i < RACE_THREADS * RACE_FILES; i++) {
		snprintf(name, sizeof(name), "r%d", i % RACE_FILES);
		fd = open(fpath(s, name), O_RDONLY);
		ASSERT_GE(fd, 0);
		close(fd);
	}
	EXPECT_EQ(fmaps, srv_count(s, FUSE_GET_FMAP));
	EXPECT_EQ(daxdevs, srv_count(s, FUSE_GET_DAXDEV));
}

TEST_F_TIMEOUT(famfs, mount_cycles, 300)
{
	struct srv *s = self->s;
	unsigned char w[4096], r[4096];
	int cycle, fd, dev = self->ndev - 1;

	simple_file(s, "a", 0, 10 * M2, M2, M2);
	simple_file(s, "b", dev, 12 * M2, M2, M2);
	for (cycle = 0; cycle < 50; cycle++) {
		/* the previous connection let go of both devices */
		ASSERT_EQ(0, srv_mount(s)) TH_LOG("cycle %d", cycle);
		fd = open(fpath(s, "a"), O_RDWR);
		ASSERT_GE(fd, 0) TH_LOG("cycle %d: %s", cycle, strerror(errno));
		pattern(w, sizeof(w), cycle);
		ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 4096));
		close(fd);
		fd = open(fpath(s, "b"), O_RDWR);
		ASSERT_GE(fd, 0) TH_LOG("cycle %d: %s", cycle, strerror(errno));
		ASSERT_EQ(sizeof(r), pread(fd, r, sizeof(r), 0));
		close(fd);
		ASSERT_EQ(0, dev_rw(&self->dev[0], 10 * M2 + 4096, r, sizeof(r), false));
		ASSERT_EQ(0, memcmp(w, r, sizeof(w))) TH_LOG("cycle %d", cycle);
		srv_umount(s);
	}
	EXPECT_EQ(100, srv_count(s, FUSE_GET_FMAP));
	EXPECT_EQ(50 * self->ndev, srv_count(s, FUSE_GET_DAXDEV));
}

/* -- An untrusted server, and everything else FUSE can do ---------------- */

/*
 * Whether famfs is on for a file: GET_FMAP on open and no READ, or no
 * GET_FMAP and read(2) served by the server (which answers READ with
 * ENOSYS, so the read fails).
 */
static void expect_famfs(struct __test_metadata *_metadata, struct srv *s,
			 const char *name, bool famfs)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(fpath(s, name), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", name, strerror(errno));
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (famfs) {
		EXPECT_EQ(sizeof(buf), n);
		EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
		EXPECT_EQ(0, srv_count(s, FUSE_READ));
	} else {
		EXPECT_EQ(-1, n);
		EXPECT_EQ(0, srv_count(s, FUSE_GET_FMAP));
		EXPECT_GE(srv_count(s, FUSE_READ), 1);
	}
}

/*
 * A privileged mounter (the test, as fusermount3 is) mounts for a server
 * that becomes uid and gid nobody, with no capabilities, before it reads
 * FUSE_INIT: the kernel offers FUSE_DAX_FMAP (the mounter may), the server
 * accepts it, and famfs stays off: only a server with CAP_SYS_RAWIO gets it.
 */
TEST_F(famfs, server_nobody_no_famfs)
{
	struct srv *s = self->s;

	simple_file(s, "p", 0, 26 * M2, M2, M2);
	s->fusermount = true;
	s->setup.nobody = true;
	ASSERT_EQ(0, srv_mount(s));
	EXPECT_TRUE(s->init_flags & FUSE_DAX_FMAP);
	expect_famfs(_metadata, s, "p", false);
}

TEST_F(famfs, server_without_rawio_no_famfs)
{
	struct srv *s = self->s;

	simple_file(s, "p", 0, 26 * M2, M2, M2);
	s->fusermount = true;
	s->setup.drop_caps = CAP(CAP_SYS_RAWIO);
	ASSERT_EQ(0, srv_mount(s));
	EXPECT_TRUE(s->init_flags & FUSE_DAX_FMAP);
	expect_famfs(_metadata, s, "p", false);
}

/* The control of the two above: the same mount, the server keeps its rights. */
TEST_F(famfs, server_with_rawio_famfs)
{
	struct srv *s = self->s;

	simple_file(s, "p", 0, 26 * M2, M2, M2);
	s->fusermount = true;
	ASSERT_EQ(0, srv_mount(s));
	EXPECT_TRUE(s->init_flags & FUSE_DAX_FMAP);
	expect_famfs(_metadata, s, "p", true);
}

/* Mark 4 KiB at @off of both devices: @a on dev[0], @b on dev[1]. */
static void fill_both(struct __test_metadata *_metadata, FIXTURE_DATA(famfs) *self,
		      uint64_t off, unsigned char *a, unsigned char *b)
{
	pattern(a, 4096, 70);
	pattern(b, 4096, 71);
	ASSERT_EQ(0, dev_rw(&self->dev[0], off, a, 4096, true));
	ASSERT_EQ(0, dev_rw(&self->dev[1], off, b, 4096, true));
}

/* @c is on @on at @off, and the other device still holds @was there. */
static void expect_on(struct __test_metadata *_metadata, FIXTURE_DATA(famfs) *self,
		      int on, uint64_t off, const unsigned char *c,
		      const unsigned char *was)
{
	unsigned char d[4096];

	ASSERT_EQ(0, dev_rw(&self->dev[on], off, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, c, sizeof(d))) TH_LOG("not on dev[%d]", on);
	ASSERT_EQ(0, dev_rw(&self->dev[!on], off, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, was, sizeof(d))) TH_LOG("written to dev[%d]", !on);
}

/*
 * The server's name for a device is resolved in the server's mount
 * namespace: there /dev/dax0.0 is the second device.
 */
TEST_F(famfs, daxdev_name_in_server_namespace)
{
	struct srv *s = self->s;
	unsigned char a[4096], b[4096], c[4096];
	int fd;

	if (self->ndev < 2)
		SKIP(return, "needs a second devdax");
	simple_file(s, "n", 0, 28 * M2, M2, M2);
	fill_both(_metadata, self, 28 * M2, a, b);
	s->setup.bind_src = self->dev[1].path;
	s->setup.bind_dst = self->dev[0].path;
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "n"), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	pattern(c, sizeof(c), 72);
	ASSERT_EQ(sizeof(c), pwrite(fd, c, sizeof(c), 0));
	close(fd);
	expect_on(_metadata, self, 1, 28 * M2, c, a);
}

/*
 * ... and not in the opener's: a process that sees the second device at
 * /dev/dax0.0 opens the file first, and the bytes still go to the first.
 */
TEST_F(famfs, daxdev_name_not_in_opener_namespace)
{
	struct srv *s = self->s;
	unsigned char a[4096], b[4096], c[4096];
	char *path;
	int status;
	pid_t pid;

	if (self->ndev < 2)
		SKIP(return, "needs a second devdax");
	simple_file(s, "o", 0, 28 * M2, M2, M2);
	fill_both(_metadata, self, 28 * M2, a, b);
	pattern(c, sizeof(c), 73);
	ASSERT_EQ(0, srv_mount(s));
	path = fpath(s, "o");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd;

		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(self->dev[1].path, self->dev[0].path, NULL, MS_BIND, NULL))
			_exit(2);
		fd = open(path, O_RDWR);
		if (fd < 0)
			_exit(3);
		_exit(pwrite(fd, c, sizeof(c), 0) == sizeof(c) ? 0 : 4);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	expect_on(_metadata, self, 0, 28 * M2, c, b);
	EXPECT_EQ(1, srv_count(s, FUSE_GET_DAXDEV));
}

/*
 * The server's credentials decide whether it may use a device node: one it
 * cannot open (owned by another user, mode 0600, and the server without
 * CAP_DAC_OVERRIDE) fails the open with EACCES, whoever opens the file.
 * Nothing is remembered: once the node is 0666 the next open works.
 */
TEST_F(famfs, daxdev_node_server_may_not_open)
{
	const char *node = DEVS_DIR "/dax";
	struct srv *s = self->s;
	unsigned char w[4096], d[4096];
	struct stat st;
	int fd;

	simple_file(s, "u", 0, 30 * M2, M2, M2);
	snprintf(s->devs[0].name, sizeof(s->devs[0].name), "%s", node);
	s->setup.drop_caps = CAP(CAP_DAC_OVERRIDE) | CAP(CAP_DAC_READ_SEARCH) |
			     CAP(CAP_FOWNER);
	ASSERT_EQ(0, stat(self->dev[0].path, &st));
	mkdir(DEVS_DIR, 0755);
	ASSERT_EQ(0, mount("famfs-kst", DEVS_DIR, "tmpfs", 0, "mode=0755"));
	self->devs_mounted = true;
	ASSERT_EQ(0, mknod(node, S_IFCHR | 0600, st.st_rdev));
	ASSERT_EQ(0, chown(node, 4242, 4242));
	ASSERT_EQ(0, chmod(node, 0600));
	ASSERT_EQ(0, srv_mount(s));

	errno = 0;
	fd = open(fpath(s, "u"), O_RDWR);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(EACCES, errno) TH_LOG("%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	ASSERT_EQ(0, chmod(node, 0666));
	fd = open(fpath(s, "u"), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	pattern(w, sizeof(w), 74);
	ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 4096));
	close(fd);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 30 * M2 + 4096, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	EXPECT_EQ(2, srv_count(s, FUSE_GET_DAXDEV));
	EXPECT_EQ(2, srv_count(s, FUSE_GET_FMAP));
}

/*
 * What the tests of a file that changes nothing start from: @name opened
 * read-write, all of it mapped shared, a pattern written through the
 * mapping (every page faulted).  Return: the mapping, or MAP_FAILED.
 */
static unsigned char *map_filled(struct srv *s, const char *name, size_t size,
				 unsigned char *w, unsigned int seed, int *fd)
{
	unsigned char *p;

	*fd = open(fpath(s, name), O_RDWR);
	if (*fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED)
		return p;
	pattern(w, size, seed);
	memcpy(p, w, size);
	return p;
}

/* The file still holds @w: through its mapping, read(2) and the device. */
static void expect_intact(struct __test_metadata *_metadata, int fd,
			  const unsigned char *p, const unsigned char *w,
			  size_t size)
{
	unsigned char *r = malloc(size);
	struct stat st;

	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(size, st.st_size);
	EXPECT_EQ(0, memcmp(p, w, size)) TH_LOG("the mapping changed");
	EXPECT_EQ(size, pread(fd, r, size, 0));
	EXPECT_EQ(0, memcmp(r, w, size)) TH_LOG("read(2) differs");
	free(r);
}

TEST_F(famfs, size_change_refused)
{
	static const off_t sizes[] = { 0, 4096, 2 * M2, 3 * M2 };
	struct srv *s = self->s;
	size_t size = 2 * M2, i;
	unsigned char *w = malloc(size), *p;
	uint64_t opens;
	int fd;

	ASSERT_NE(NULL, w);
	simple_file(s, "t", 0, 32 * M2, size, M2);
	ASSERT_EQ(0, srv_mount(s));
	p = map_filled(s, "t", size, w, 75, &fd);
	ASSERT_NE(MAP_FAILED, p);
	opens = srv_count(s, FUSE_OPEN);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		errno = 0;
		EXPECT_EQ(-1, ftruncate(fd, sizes[i]));
		EXPECT_EQ(EPERM, errno) TH_LOG("ftruncate to %ld: %s",
					       (long)sizes[i], strerror(errno));
	}
	errno = 0;
	EXPECT_EQ(-1, truncate(fpath(s, "t"), 4096));
	EXPECT_EQ(EPERM, errno) TH_LOG("truncate: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, open(fpath(s, "t"), O_RDWR | O_TRUNC));
	EXPECT_EQ(EPERM, errno) TH_LOG("O_TRUNC: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, syscall(SYS_fallocate, fd, 0, 0L, 4096L));
	EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("fallocate: %s", strerror(errno));
	/* refused before any request: the server would have said yes */
	EXPECT_EQ(0, srv_count(s, FUSE_SETATTR));
	EXPECT_EQ(0, srv_count(s, FUSE_FALLOCATE));
	EXPECT_EQ(opens, srv_count(s, FUSE_OPEN));
	expect_intact(_metadata, fd, p, w, size);
	munmap(p, size);
	close(fd);
	free(w);
}

/* Page faults of this thread while it reads one byte of each page. */
static long touch_faults(const unsigned char *p, size_t size)
{
	struct rusage r0, r1;
	unsigned int sum = 0;
	size_t i;

	getrusage(RUSAGE_THREAD, &r0);
	for (i = 0; i < size; i += 4096)
		sum += *(volatile const unsigned char *)(p + i);
	getrusage(RUSAGE_THREAD, &r1);
	(void)sum;
	return r1.ru_minflt - r0.ru_minflt;
}

static int notify_inval_inode(struct srv *s, const char *name, int64_t off,
			      int64_t len)
{
	struct fuse_notify_inval_inode_out o = {
		.ino = srv_nodeid(s, srv_file(s, name)),
		.off = off,
		.len = len,
	};

	return srv_notify(s, FUSE_NOTIFY_INVAL_INODE, &o, sizeof(o), NULL, 0);
}

/*
 * The server's attributes never resize a famfs file and never drop its
 * mapping: the server reports another size and mtime (with
 * FUSE_AUTO_INVAL_DATA, a new mtime means "data changed") and invalidates
 * the inode, attributes and data.
 */
TEST_F(famfs, server_attrs_keep_size_and_mapping)
{
	struct srv *s = self->s;
	size_t size = 2 * M2;
	unsigned char *w = malloc(size), *p, *q;
	struct srv_file *f;
	struct stat st;
	uint64_t getattrs;
	int fd;

	ASSERT_NE(NULL, w);
	f = simple_file(s, "a", 0, 36 * M2, size, M2);
	f->mtime = 1000;
	s->init_extra = FUSE_AUTO_INVAL_DATA;
	ASSERT_EQ(0, srv_mount(s));
	ASSERT_TRUE(s->init_flags & FUSE_AUTO_INVAL_DATA);
	p = map_filled(s, "a", size, w, 76, &fd);
	ASSERT_NE(MAP_FAILED, p);
	/* the measure: a mapping not touched yet faults */
	q = mmap(NULL, 4 * 4096, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_GE(touch_faults(q, 4 * 4096), 1);
	munmap(q, 4 * 4096);
	EXPECT_EQ(0, touch_faults(p, size));

	f->size = M2;
	f->mtime = 2000;
	ASSERT_EQ(0, notify_inval_inode(s, "a", -1, 0));
	getattrs = srv_count(s, FUSE_GETATTR);
	ASSERT_EQ(0, stat(fpath(s, "a"), &st));
	EXPECT_GT(srv_count(s, FUSE_GETATTR), getattrs);
	EXPECT_EQ(size, st.st_size);
	EXPECT_EQ(2000, st.st_mtime);

	f->size = 3 * M2;
	f->mtime = 3000;
	EXPECT_EQ(0, notify_inval_inode(s, "a", 0, 0));
	getattrs = srv_count(s, FUSE_GETATTR);
	ASSERT_EQ(0, stat(fpath(s, "a"), &st));
	EXPECT_GT(srv_count(s, FUSE_GETATTR), getattrs);
	EXPECT_EQ(size, st.st_size);
	/* the mapping was not taken down: touching it again faults nowhere */
	EXPECT_EQ(0, touch_faults(p, size));
	expect_intact(_metadata, fd, p, w, size);
	munmap(p, size);
	close(fd);
	free(w);
}

static int notify_store(struct srv *s, const char *name, const void *data,
			size_t len)
{
	struct fuse_notify_store_out o = {
		.nodeid = srv_nodeid(s, srv_file(s, name)),
		.offset = 0,
		.size = len,
	};

	return srv_notify(s, FUSE_NOTIFY_STORE, &o, sizeof(o), data, len);
}

/* famfs files have no page cache: the server cannot store into one. */
TEST_F(famfs, notify_store_refused)
{
	struct srv *s = self->s;
	size_t size = M2;
	unsigned char *w = malloc(size), *p, junk[4096], b[4096], d[4096];
	struct stat st;
	int fd;

	ASSERT_NE(NULL, w);
	simple_file(s, "a", 0, 40 * M2, size, M2);
	simple_file(s, "b", 0, 42 * M2, size, M2);
	pattern(b, sizeof(b), 77);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 42 * M2, b, sizeof(b), true));
	memset(junk, 0xee, sizeof(junk));
	ASSERT_EQ(0, srv_mount(s));
	p = map_filled(s, "a", size, w, 78, &fd);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EPERM, notify_store(s, "a", junk, sizeof(junk)));
	expect_intact(_metadata, fd, p, w, size);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 40 * M2, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	munmap(p, size);
	close(fd);

	/* b has an inode (looked up) but was never opened: no map yet */
	ASSERT_EQ(0, stat(fpath(s, "b"), &st));
	EXPECT_EQ(-EPERM, notify_store(s, "b", junk, sizeof(junk)));
	ASSERT_EQ(0, dev_rw(&self->dev[0], 42 * M2, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, b, sizeof(d)));
	fd = open(fpath(s, "b"), O_RDONLY);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(sizeof(d), pread(fd, d, sizeof(d), 0));
	EXPECT_EQ(0, memcmp(d, b, sizeof(d)));
	close(fd);
	EXPECT_EQ(0, srv_count(s, FUSE_READ));
	free(w);
}

/* open(O_CREAT) of a new name: CREATE, then GET_FMAP; then famfs I/O. */
TEST_F(famfs, create_gets_a_map)
{
	static struct srv_file tmpl_file;
	struct srv_file *tmpl = &tmpl_file;
	struct srv *s = self->s;
	unsigned char w[4096], d[4096];
	int fd;

	tmpl->size = M2;
	fm_hdr(tmpl, FUSE_FAMFS_EXT_SIMPLE, 1, M2);
	fm_se(tmpl, 0, 44 * M2, M2);
	s->create_tmpl = tmpl;
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "new"), O_CREAT | O_RDWR, 0644);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, srv_count(s, FUSE_CREATE));
	EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
	ASSERT_NE(NULL, srv_file(s, "new"));
	EXPECT_EQ(1, srv_file(s, "new")->fmap_count);
	pattern(w, sizeof(w), 79);
	EXPECT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 8192));
	EXPECT_EQ(sizeof(d), pread(fd, d, sizeof(d), 8192));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	close(fd);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 44 * M2 + 8192, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
}

/* O_TMPFILE: TMPFILE, then GET_FMAP; then famfs I/O. */
TEST_F(famfs, tmpfile_gets_a_map)
{
	static struct srv_file tmpl_file;
	struct srv_file *tmpl = &tmpl_file;
	struct srv *s = self->s;
	unsigned char w[4096], d[4096];
	int fd;

	tmpl->size = M2;
	fm_hdr(tmpl, FUSE_FAMFS_EXT_SIMPLE, 1, M2);
	fm_se(tmpl, 0, 50 * M2, M2);
	s->create_tmpl = tmpl;
	ASSERT_EQ(0, srv_mount(s));
	fd = open(s->mnt, O_TMPFILE | O_RDWR, 0600);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, srv_count(s, FUSE_TMPFILE));
	EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
	pattern(w, sizeof(w), 85);
	EXPECT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 4096));
	close(fd);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 50 * M2 + 4096, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
}

/* ... and if GET_FMAP fails, the created file is released, not left open. */
TEST_F(famfs, create_fmap_error_releases)
{
	static struct srv_file tmpl_file;
	struct srv_file *tmpl = &tmpl_file;
	struct srv *s = self->s;

	tmpl->size = M2;
	fm_hdr(tmpl, FUSE_FAMFS_EXT_SIMPLE, 1, M2);
	fm_se(tmpl, 0, 44 * M2, M2);
	tmpl->fmap_err = EIO;
	s->create_tmpl = tmpl;
	ASSERT_EQ(0, srv_mount(s));
	errno = 0;
	EXPECT_EQ(-1, open(fpath(s, "new"), O_CREAT | O_RDWR, 0644));
	EXPECT_EQ(EIO, errno) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, srv_count(s, FUSE_CREATE));
	EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
	EXPECT_TRUE(wait_until(NULL, s, FUSE_RELEASE, 2000));
	EXPECT_EQ(1, srv_count(s, FUSE_RELEASE));
	/* nothing is open on the mount: a plain umount works */
	EXPECT_EQ(0, umount2(s->mnt, 0)) TH_LOG("umount: %s", strerror(errno));
	srv_umount(s);
}

/*
 * famfs files are dense and their size is the kernel's: lseek answers
 * without the server; copy_file_range copies the bytes itself (the server
 * would answer LSEEK and COPY_FILE_RANGE with "done", doing nothing).
 */
TEST_F(famfs, lseek_and_copy_stay_in_kernel)
{
	struct srv *s = self->s;
	uint64_t size = M2 + 8192, getattrs;
	unsigned char *w = malloc(size), *d = malloc(size);
	loff_t in = 4096, out = 8192;
	size_t n = 3 * 4096 + 100;
	int fa, fb;

	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, d);
	simple_file(s, "a", 0, 46 * M2, size, M2);
	simple_file(s, "b", 0, 52 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fa = open(fpath(s, "a"), O_RDWR);
	ASSERT_GE(fa, 0);
	fb = open(fpath(s, "b"), O_RDWR);
	ASSERT_GE(fb, 0);
	getattrs = srv_count(s, FUSE_GETATTR);
	EXPECT_EQ(0, lseek(fa, 0, SEEK_DATA));
	EXPECT_EQ(size, lseek(fa, 0, SEEK_HOLE));
	EXPECT_EQ(size, lseek(fa, 4096, SEEK_HOLE));
	errno = 0;
	EXPECT_EQ(-1, lseek(fa, size, SEEK_DATA));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(size, lseek(fa, 0, SEEK_END));
	EXPECT_EQ(0, srv_count(s, FUSE_LSEEK));
	EXPECT_EQ(getattrs, srv_count(s, FUSE_GETATTR));

	pattern(w, size, 80);
	ASSERT_EQ(size, pwrite(fa, w, size, 0));
	memset(d, 0, n);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 52 * M2 + out, d, n, true));
	EXPECT_EQ(n, copy_file_range(fa, &in, fb, &out, n, 0));
	EXPECT_EQ(4096 + n, in);
	EXPECT_EQ(8192 + n, out);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 52 * M2 + 8192, d, n, false));
	EXPECT_EQ(0, memcmp(d, w + 4096, n)) TH_LOG("the copy is not on the device");
	EXPECT_EQ(0, srv_count(s, FUSE_COPY_FILE_RANGE) +
		     srv_count(s, FUSE_COPY_FILE_RANGE_64));
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
	close(fa);
	close(fb);
	free(w);
	free(d);
}

struct blocker {
	int fd, opcode, ret, err;
	bool done;
};

/*
 * What the server never answers, sent with the inode lock held by the VFS:
 * fchmod(2) (SETATTR) or fsetxattr(2) (SETXATTR).
 */
static void *blocker_thread(void *arg)
{
	struct blocker *b = arg;

	if (b->opcode == FUSE_SETATTR)
		b->ret = fchmod(b->fd, 0600);
	else
		b->ret = fsetxattr(b->fd, "user.famfs", "1", 1, 0);
	b->err = errno;
	__atomic_store_n(&b->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

struct watchdog {
	struct srv *s;
	bool done, fired;
};

/* Abort the connection if the I/O is not done in 10 s: a clean failure. */
static void *watchdog_thread(void *arg)
{
	struct watchdog *wd = arg;
	int ms;

	for (ms = 0; ms < 10000; ms += 10) {
		if (__atomic_load_n(&wd->done, __ATOMIC_SEQ_CST))
			return NULL;
		usleep(10000);
	}
	wd->fired = true;
	srv_abort(wd->s);
	return NULL;
}

/*
 * A server that never answers @opcode, sent by another thread that holds
 * the inode lock, holds up that thread only: read, write and a new fault of
 * the same file complete.
 */
static void hung_server_io(struct __test_metadata *_metadata,
			   FIXTURE_DATA(famfs) *self, int opcode)
{
	struct srv *s = self->s;
	struct blocker b = { .opcode = opcode };
	struct watchdog wd = { .s = s };
	unsigned char w[4096], r[4096], d[4096], *p;
	pthread_t tb, tw;

	simple_file(s, "h", 0, 54 * M2, 2 * M2, M2);
	s->hang_on = opcode;
	ASSERT_EQ(0, srv_mount(s));
	b.fd = open(fpath(s, "h"), O_RDWR);
	ASSERT_GE(b.fd, 0);
	p = mmap(NULL, 2 * M2, PROT_READ | PROT_WRITE, MAP_SHARED, b.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	ASSERT_EQ(0, pthread_create(&tb, NULL, blocker_thread, &b));
	ASSERT_TRUE(wait_until(NULL, s, opcode, 10000));
	usleep(300000);
	ASSERT_FALSE(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST))
		TH_LOG("the server never answers, yet: %d (%s)", b.ret, strerror(b.err));

	ASSERT_EQ(0, pthread_create(&tw, NULL, watchdog_thread, &wd));
	pattern(w, sizeof(w), 81 + opcode);
	EXPECT_EQ(sizeof(w), pwrite(b.fd, w, sizeof(w), 8192));
	EXPECT_EQ(sizeof(r), pread(b.fd, r, sizeof(r), 8192));
	p[3 * M2 / 2 + 4096] = 0x5a;		/* not faulted yet */
	__atomic_store_n(&wd.done, true, __ATOMIC_SEQ_CST);
	pthread_join(tw, NULL);
	EXPECT_FALSE(wd.fired) TH_LOG("I/O waited for the hung server");
	EXPECT_EQ(0, memcmp(r, w, sizeof(r)));
	EXPECT_FALSE(__atomic_load_n(&b.done, __ATOMIC_SEQ_CST));

	/* the abort ends the hung request */
	srv_abort(s);
	EXPECT_TRUE(wait_until(&b.done, s, 0, 10000));
	pthread_join(tb, NULL);
	EXPECT_EQ(-1, b.ret);
	/* the second extent of h is at 54 * M2 + 2 * M2 */
	ASSERT_EQ(0, dev_rw(&self->dev[0], 56 * M2 + M2 / 2 + 4096, d, 1, false));
	EXPECT_EQ(0x5a, d[0]);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 54 * M2 + 8192, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	munmap(p, 2 * M2);
	close(b.fd);
}

TEST_F_TIMEOUT(famfs, hung_setattr_does_not_stall_io, 60)
{
	hung_server_io(_metadata, self, FUSE_SETATTR);
}

TEST_F_TIMEOUT(famfs, hung_setxattr_does_not_stall_io, 60)
{
	hung_server_io(_metadata, self, FUSE_SETXATTR);
}

/*
 * fsync has nothing to do: the bytes are in device memory.  The server,
 * which would never answer FSYNC, is not asked, and a write meanwhile
 * completes.
 */
TEST_F_TIMEOUT(famfs, fsync_sends_nothing, 60)
{
	struct srv *s = self->s;
	struct watchdog wd = { .s = s };
	unsigned char w[4096], d[4096];
	pthread_t tw;
	int fd;

	simple_file(s, "h", 0, 54 * M2, M2, M2);
	s->hang_on = FUSE_FSYNC;
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "h"), O_RDWR);
	ASSERT_GE(fd, 0);
	pattern(w, sizeof(w), 84);
	ASSERT_EQ(0, pthread_create(&tw, NULL, watchdog_thread, &wd));
	EXPECT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 4096));
	EXPECT_EQ(0, fsync(fd)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, fdatasync(fd)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE |
				     SYNC_FILE_RANGE_WAIT_AFTER));
	__atomic_store_n(&wd.done, true, __ATOMIC_SEQ_CST);
	pthread_join(tw, NULL);
	EXPECT_FALSE(wd.fired) TH_LOG("fsync waited for the server");
	EXPECT_EQ(0, srv_count(s, FUSE_FSYNC));
	close(fd);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 54 * M2 + 4096, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
}

TEST_F(famfs, odirect_and_nowait)
{
	struct srv *s = self->s;
	unsigned char w[8192], *r;
	struct iovec iov;
	int fd, fl;

	r = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	simple_file(s, "d", 0, 58 * M2, M2, M2);
	pattern(w, sizeof(w), 82);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 58 * M2, w, sizeof(w), true));
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "d"), O_RDWR | O_DIRECT);
	ASSERT_GE(fd, 0) TH_LOG("O_DIRECT: %s", strerror(errno));
	EXPECT_EQ(4096, pread(fd, r, 4096, 4096));
	EXPECT_EQ(0, memcmp(r, w + 4096, 4096));
	close(fd);

	fd = open(fpath(s, "d"), O_RDWR);
	ASSERT_GE(fd, 0);
	fl = fcntl(fd, F_GETFL);
	EXPECT_EQ(0, fcntl(fd, F_SETFL, fl | O_DIRECT)) TH_LOG("%s", strerror(errno));
	EXPECT_TRUE(fcntl(fd, F_GETFL) & O_DIRECT);
	iov.iov_base = r;
	iov.iov_len = 8192;
	memset(r, 0, 8192);
	EXPECT_EQ(8192, preadv2(fd, &iov, 1, 0, RWF_NOWAIT))
		TH_LOG("RWF_NOWAIT: %s", strerror(errno));
	EXPECT_EQ(0, memcmp(r, w, sizeof(w)));
	close(fd);
	munmap(r, 8192);
	EXPECT_EQ(0, srv_count(s, FUSE_READ));
}

/*
 * A write by a task without CAP_FSETID drops setuid and setgid, as on
 * every file system: a SETATTR with the mode without them.  Reads do not.
 */
TEST_F(famfs, write_drops_suid_sgid)
{
	struct srv *s = self->s;
	unsigned char w[4096], d[4096];
	struct srv_file *f;
	struct stat st;
	int fd;

	f = simple_file(s, "x", 0, 60 * M2, M2, M2);
	f->mode = S_IFREG | S_ISUID | S_ISGID | 0775;
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "x"), O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(S_ISUID | S_ISGID, st.st_mode & (S_ISUID | S_ISGID));
	/* this thread only: the server thread keeps its capabilities */
	ASSERT_EQ(0, caps_drop(CAP(CAP_FSETID)));
	EXPECT_EQ(sizeof(d), pread(fd, d, sizeof(d), 0));
	EXPECT_EQ(0, srv_count(s, FUSE_SETATTR));
	pattern(w, sizeof(w), 83);
	EXPECT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 0));
	EXPECT_EQ(1, srv_count(s, FUSE_SETATTR));
	EXPECT_TRUE(s->setattr_valid & FATTR_MODE);
	EXPECT_EQ(0775, s->setattr_mode & 07777) TH_LOG("mode %o", s->setattr_mode);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(0, st.st_mode & (S_ISUID | S_ISGID));
	/* nothing left to drop: the next write sends nothing */
	EXPECT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 4096));
	EXPECT_EQ(1, srv_count(s, FUSE_SETATTR));
	close(fd);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 60 * M2 + 4096, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(d, w, sizeof(d)));
	EXPECT_EQ(0, srv_count(s, FUSE_WRITE));
}

/*
 * The inode keeps its map while its dentry is cached: a refresh of its
 * attributes does not make it go at close, so the next open sends nothing.
 */
TEST_F(famfs, reopen_after_attr_refresh_sends_nothing)
{
	struct srv *s = self->s;
	struct stat st;
	uint64_t getattrs;
	int fd;

	simple_file(s, "c", 0, 62 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "c"), O_RDWR);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(0, notify_inval_inode(s, "c", -1, 0));
	getattrs = srv_count(s, FUSE_GETATTR);
	ASSERT_EQ(0, stat(fpath(s, "c"), &st));
	EXPECT_GT(srv_count(s, FUSE_GETATTR), getattrs);
	fd = open(fpath(s, "c"), O_RDWR);
	ASSERT_GE(fd, 0);
	close(fd);
	EXPECT_EQ(1, srv_count(s, FUSE_LOOKUP));
	EXPECT_EQ(1, srv_count(s, FUSE_GET_FMAP));
}

/* -- Fuzz: randomly mutated valid maps ------------------------------------ */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 2685821657736338717ULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/*
 * A random place for @len bytes on device @dev: after the last one handed
 * out, with a random gap, so that no two ranges of a map overlap.  Large
 * maps may run past the end of the device (the kernel accepts the map; I/O
 * there fails).
 */
static uint64_t fz_place(uint64_t *next, uint32_t dev, uint64_t len)
{
	uint64_t off = next[dev] + rnd_below(3) * M2;

	next[dev] = off + len;
	return off;
}

/* A random valid map on @ndev devices of @devsize bytes each. */
static void fz_valid(struct m_map *m, int ndev, uint64_t devsize)
{
	uint64_t covered = 0, slots = devsize / M2;
	uint64_t next[2] = { rnd_below(slots / 4) * M2, rnd_below(slots / 4) * M2 };
	uint32_t i, j;

	memset(m, 0, sizeof(*m));
	m->type = rnd_below(2);
	m->n = 1 + (rnd_below(4) ? rnd_below(4) : rnd_below(32));
	for (i = 0; i < m->n; i++) {
		struct m_iext *ie = &m->ie[i];

		if (m->type == FUSE_FAMFS_EXT_SIMPLE) {
			m->se[i].dev = rnd_below(ndev);
			m->se[i].len = (1 + rnd_below(4)) * M2;
			m->se[i].off = fz_place(next, m->se[i].dev, m->se[i].len);
			covered += m->se[i].len;
			continue;
		}
		ie->nstrips = 1 + (rnd_below(4) ? rnd_below(3) : rnd_below(32));
		ie->chunk = (1 + rnd_below(3)) * M2;
		ie->nbytes = 1 + rnd_below(ie->nstrips * 2 * ie->chunk);
		if (i + 1 < m->n)	/* only the last may end inside a page */
			ie->nbytes = (ie->nbytes + 4095) / 4096 * 4096;
		for (j = 0; j < ie->nstrips; j++) {
			uint64_t need = m_strip_need(ie, j);

			ie->s[j].dev = rnd_below(ndev);
			ie->s[j].len = ((need + M2 - 1) / M2 + rnd_below(2)) * M2;
			if (!ie->s[j].len)
				ie->s[j].len = M2;
			ie->s[j].off = fz_place(next, ie->s[j].dev, ie->s[j].len);
		}
		covered += ie->nbytes;
	}
	m->size = covered - rnd_below(covered < M2 ? covered : M2);
}

static const uint64_t fz_vals[] = {
	0, 1, 2, 23, 24, 31, 32, 33, 4096, M2 - 1, M2, M2 + 4096, 2 * M2,
	1ULL << 31, (1ULL << 32) - 1, 1ULL << 32, 1ULL << 40, INT64_MAX,
	1ULL << 63, ~0ULL, ~0ULL - M2 + 1, 256ULL << 20,
};

/* An aligned field of @width (4 or 8) bytes gets an interesting value. */
static void fz_put_val(unsigned char *b, size_t len, size_t width)
{
	uint64_t v;
	uint32_t v32;
	size_t at;

	if (len < width)
		return;
	at = rnd_below(len / width) * width;
	v = fz_vals[rnd_below(ARRAY_SIZE(fz_vals))];
	v32 = v;
	memcpy(b + at, width == 4 ? (void *)&v32 : (void *)&v, width);
}

/* Mutate a reply in place; return its new length. */
static size_t fz_mutate(unsigned char *b, size_t len, size_t max)
{
	int k, nmut = 1 + rnd_below(3);
	uint64_t v;
	size_t at;

	for (k = 0; k < nmut; k++) {
		switch (rnd_below(8)) {
		case 0:		/* flip a bit */
			if (len)
				b[rnd_below(len)] ^= 1 << rnd_below(8);
			break;
		case 1:		/* a 32-bit field gets an interesting value */
		case 2:
			fz_put_val(b, len, 4);
			break;
		case 3:		/* a 64-bit field gets an interesting value */
		case 4:
			fz_put_val(b, len, 8);
			break;
		case 5:		/* a 64-bit field moves by 2 MiB multiples */
			if (len < 8)
				break;
			at = rnd_below(len / 8) * 8;
			memcpy(&v, b + at, 8);
			v += (rnd_below(9) - 4) * M2;
			memcpy(b + at, &v, 8);
			break;
		case 6:		/* truncated */
			len = rnd_below(len + 1);
			break;
		case 7:		/* longer: zeroes, or a stray byte */
			at = rnd_below(64);
			if (len + at + 1 > max)
				break;
			memset(b + len, 0, at + 1);
			if (rnd_below(2))
				b[len + at] = 1 + rnd_below(255);
			len += at + 1;
			break;
		}
	}
	return len;
}

struct fz_stats {
	unsigned long opened, rejected, rw_ok, rw_err, wrong;
};

/*
 * The map was accepted: a write and a read of random bytes within the file
 * must land where the model says, or fail where the model places bytes
 * beyond the end of a device.
 */
static int fz_roundtrip(const struct daxdev *dev, const struct m_map *m, int fd,
			unsigned char *w, unsigned char *r, struct fz_stats *st)
{
	uint64_t lim = m->size < 64 * M2 ? m->size : 64 * M2, pos, ok = 0;
	struct m_ext e;
	ssize_t got;
	size_t n;

	if (!lim)
		return pread(fd, r, 1, 0) == 0 ? 0 : -1;
	pos = rnd_below(lim / M2 + 1) * M2;
	pos = pos > 3000 ? pos - rnd_below(3000) : 0;
	if (pos >= lim)
		pos = rnd_below(lim);
	n = 1 + rnd_below(12000);
	if (n > m->size - pos)
		n = m->size - pos;
	/* bytes the devices hold before the first piece beyond a device */
	while (ok < n && !m_resolve(m, pos + ok, &e)) {
		uint64_t k = e.len < n - ok ? e.len : n - ok;

		if (e.off + k > dev[e.dev].size)
			break;
		ok += k;
	}
	pattern(w, n, rnd());
	got = pwrite(fd, w, n, pos);
	if (ok < n) {
		/* the kernel stops at the piece it cannot reach */
		st->rw_err++;
		if (ok ? got != (ssize_t)ok : got != -1) {
			ksft_print_msg("write %zu at %lu: %zd, expected %lu\n",
				       n, pos, got, ok);
			return -1;
		}
		if (!ok && errno != EFAULT)
			ksft_print_msg("write beyond the device: %s\n",
				       strerror(errno));
		if (!ok)
			return 0;
		n = ok;
	} else if (got != (ssize_t)n) {
		ksft_print_msg("write %zu at %lu: %zd (%s)\n", n, pos, got,
			       strerror(errno));
		return -1;
	}
	/* valid maps never overlap: every byte has a place of its own */
	st->rw_ok++;
	if (pread(fd, r, n, pos) != (ssize_t)n || memcmp(r, w, n)) {
		ksft_print_msg("read back %zu at %lu differs\n", n, pos);
		return -1;
	}
	if (m_check_devs(dev, m, pos, w, n) >= 0) {
		ksft_print_msg("%zu bytes at %lu not where the map says\n", n, pos);
		return -1;
	}
	return 0;
}

static void fz_dump(const unsigned char *b, size_t len)
{
	char line[100];
	size_t i, o = 0;

	for (i = 0; i < len && i < 256; i++) {
		o += snprintf(line + o, sizeof(line) - o, "%02x", b[i]);
		if (i % 32 == 31 || i + 1 == len || i == 255) {
			ksft_print_msg("  %s\n", line);
			o = 0;
		}
	}
}

TEST_F_TIMEOUT(famfs, fuzz_fmaps, 600)
{
	const char *env_seed = getenv("FAMFS_FUZZ_SEED");
	const char *env_n = getenv("FAMFS_FUZZ_N");
	unsigned long i, n = env_n ? strtoul(env_n, NULL, 0) : 10000;
	unsigned int seed = env_seed ? strtoul(env_seed, NULL, 0) :
			    (unsigned int)time(NULL) ^ getpid();
	uint64_t devsize = self->dev[0].size;
	struct m_map *m = malloc(sizeof(*m)), *got = malloc(sizeof(*got));
	unsigned char *w = malloc(12000), *r = malloc(12000);
	struct srv *s = self->s;
	struct fz_stats st = {};
	struct timespec t0, t1;
	char name[24];
	int fd, want;

	ksft_print_msg("fuzz: seed %u (FAMFS_FUZZ_SEED=%u repeats it), %lu maps\n",
		       seed, seed, n);
	rnd_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	if (self->ndev > 1 && self->dev[1].size < devsize)
		devsize = self->dev[1].size;
	s->dyn = calloc(1, sizeof(*s->dyn));
	ASSERT_NE(NULL, s->dyn);
	ASSERT_EQ(0, srv_mount(s));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		struct srv_file *f = s->dyn;
		const struct fuse_famfs_fmap_header *h = (void *)f->fmap;

		fz_valid(m, self->ndev, devsize);
		m_build(f, m);
		if (rnd_below(8))	/* 1 in 8 stays valid */
			f->fmap_len = fz_mutate(f->fmap, f->fmap_len, FAMFS_FMAP_MAX);
		f->size = f->fmap_len >= sizeof(*h) && h->file_size < (1ULL << 62) ?
			  h->file_size : 0;
		want = m_parse(f->fmap, f->fmap_len, got);
		if (!want && (got->devs >> self->ndev))
			want = EINVAL;	/* devices 2..23 have no name */

		snprintf(name, sizeof(name), "z%lu", i);
		errno = 0;
		fd = open(fpath(s, name), O_RDWR);
		if (fd < 0 ? errno != want : want != 0) {
			st.wrong++;
			ksft_print_msg("map %lu: open %s, expected %s\n", i,
				       fd < 0 ? strerror(errno) : "succeeded",
				       want ? strerror(want) : "success");
			fz_dump(f->fmap, f->fmap_len);
		}
		if (fd < 0) {
			st.rejected++;
			continue;
		}
		st.opened++;
		if (!want && fz_roundtrip(self->dev, got, fd, w, r, &st)) {
			st.wrong++;
			ksft_print_msg("map %lu: served wrong\n", i);
			fz_dump(f->fmap, f->fmap_len);
		}
		close(fd);
		if (st.wrong > 20)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ksft_print_msg("fuzz: %lu maps in %ld s: %lu opened", i,
		       (long)(t1.tv_sec - t0.tv_sec), st.opened);
	printf(" (%lu written and read back;", st.rw_ok);
	printf(" %lu beyond a device), %lu rejected, %lu wrong\n",
	       st.rw_err, st.rejected, st.wrong);
	EXPECT_EQ(0, st.wrong);
	EXPECT_EQ(n, i);
	EXPECT_GT(st.opened, n / 20);
	EXPECT_EQ(0, srv_count(s, FUSE_READ) + srv_count(s, FUSE_WRITE));
	free(m);
	free(got);
	free(w);
	free(r);
}

/* -- Teardown: holders released, devices rebound, live mappings ----------- */

/* Open @name, retrying while the device is still held (EBUSY) for 2 s. */
static int open_retry_busy(struct srv *s, const char *name, int *tries)
{
	int fd;

	for (*tries = 1; ; (*tries)++) {
		fd = open(fpath(s, name), O_RDWR);
		if (fd >= 0 || errno != EBUSY || *tries >= 20)
			return fd;
		usleep(100000);
	}
}

TEST_F_TIMEOUT(famfs, teardown_unbind_rebind, 120)
{
	struct srv *s = self->s;
	unsigned char w[8192], r[8192];
	int fd, tries;

	if (access("/sys/bus/dax/drivers/fsdev_dax/bind", W_OK))
		SKIP(return, "no /sys/bus/dax/drivers/fsdev_dax/bind");
	simple_file(s, "t", 0, 6 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "t"), O_RDWR);
	ASSERT_GE(fd, 0);
	pattern(w, sizeof(w), 21);
	ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 8192));
	close(fd);
	srv_umount(s);

	/* a second connection can take the device: the first let it go */
	ASSERT_EQ(0, srv_mount(s));
	fd = open_retry_busy(s, "t", &tries);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, tries);
	close(fd);
	srv_umount(s);

	/* no holder is left: unbind, rebind, and the bytes are still there */
	self->rebind[0] = true;
	ASSERT_EQ(0, dax_bind(self->dev[0].name, NULL));
	EXPECT_STREQ("", dax_driver(self->dev[0].name));
	ASSERT_EQ(0, dax_bind(self->dev[0].name, "fsdev_dax"));
	self->rebind[0] = false;
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "t"), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("after rebind: %s", strerror(errno));
	ASSERT_EQ(sizeof(r), pread(fd, r, sizeof(r), 8192));
	EXPECT_EQ(0, memcmp(w, r, sizeof(w)));
	close(fd);
	EXPECT_EQ(3, srv_count(s, FUSE_GET_DAXDEV));
}

/*
 * A process keeps a mapping while the file system is lazily unmounted and
 * its connection aborted: the mapping keeps working (faults do not need
 * the server), the process exits cleanly, and then the device is free.
 */
TEST_F_TIMEOUT(famfs, umount_with_live_mapping, 120)
{
	struct srv *s = self->s;
	int go[2], ready[2], status, fd, tries;
	unsigned char w[4096];
	char c = 0;
	pid_t pid;

	simple_file(s, "l", 0, 4 * M2, 2 * M2, 2 * M2);
	pattern(w, sizeof(w), 31);
	ASSERT_EQ(0, dev_rw(&self->dev[0], 4 * M2 + M2, w, sizeof(w), true));
	ASSERT_EQ(0, srv_mount(s));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int cfd = open(fpath(s, "l"), O_RDWR);
		unsigned char *p;

		close(ready[0]);
		close(go[1]);
		if (cfd < 0)
			_exit(2);
		p = mmap(NULL, 2 * M2, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
		if (p == MAP_FAILED)
			_exit(3);
		close(cfd);
		p[0] = 0x5a;			/* fault one page now */
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		/* unmounted and aborted meanwhile: fault more, check bytes */
		if (p[0] != 0x5a || memcmp(p + M2, w, sizeof(w)))
			_exit(5);
		p[M2 + 4096] = 0xa5;
		_exit(0);			/* exits with the mapping */
	}
	close(ready[1]);
	close(go[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1)) {
		waitpid(pid, &status, 0);
		TH_LOG("child: exit status %d", WEXITSTATUS(status));
	}
	srv_abort(s);
	ASSERT_EQ(0, umount2(s->mnt, MNT_DETACH));
	srv_umount(s);
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, dev_rw(&self->dev[0], 4 * M2 + M2 + 4096, &c, 1, false));
	EXPECT_EQ((char)0xa5, c);
	/* the last reference went with the process: the device is free */
	ASSERT_EQ(0, srv_mount(s));
	fd = open_retry_busy(s, "l", &tries);
	ASSERT_GE(fd, 0) TH_LOG("%s", strerror(errno));
	ksft_print_msg("device free after %d open(s)\n", tries);
	close(fd);
}

/* -- Poison (last: the page stays poisoned until the guest reboots) ------ */

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	_exit(si->si_code == BUS_MCEERR_AR ? 42 : si->si_code == BUS_MCEERR_AO ?
	      43 : 44);
}

/* In a child: map @len bytes of @path at @off, touch @at, maybe poison it. */
static int child_touch(const char *path, off_t off, size_t len, size_t at,
		       bool poison)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		int fd = open(path, O_RDWR);
		volatile unsigned char *p;

		sigaction(SIGBUS, &sa, NULL);
		if (fd < 0)
			_exit(2);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
		if (p == MAP_FAILED)
			_exit(3);
		(void)p[at];
		if (poison && madvise((void *)(p + (at & ~4095UL)), 4096,
				      MADV_HWPOISON))
			_exit(errno == EINVAL || errno == EPERM ? 4 : 5);
		(void)p[at];
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * A device unbound from fsdev_dax while a connection holds it: before the
 * removal proceeds every mapping of a file on it is taken down, and later
 * reads, writes and faults fail; files on the other device are unaffected.
 * The rebound device serves a new connection, with the bytes still there.
 */
TEST_F_TIMEOUT(famfs, device_removed_while_held, 120)
{
	struct srv *s = self->s;
	uint32_t di = self->ndev - 1;
	struct daxdev *d = &self->dev[di];
	unsigned char w[8192], r[8192];
	unsigned char *p;
	int fd, fo, ret;

	if (access("/sys/bus/dax/drivers/fsdev_dax/unbind", W_OK))
		SKIP(return, "no /sys/bus/dax/drivers/fsdev_dax/unbind");
	simple_file(s, "r", di, 66 * M2, M2, M2);
	if (self->ndev > 1)
		simple_file(s, "o", 0, 68 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "r"), O_RDWR);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, sizeof(w), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	pattern(w, sizeof(w), 86);
	memcpy(p, w, sizeof(w));
	ASSERT_NE(0, pfn_of(p));

	self->rebind[di] = true;
	ASSERT_EQ(0, dax_bind(d->name, NULL));
	/* no page table entry to the device's memory is left */
	EXPECT_EQ(0, pfn_of(p));
	EXPECT_EQ(0, pfn_of(p + 4096));
	errno = 0;
	EXPECT_EQ(-1, pread(fd, r, sizeof(r), 0));
	EXPECT_EQ(EIO, errno) TH_LOG("read: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, pwrite(fd, w, sizeof(w), 0));
	EXPECT_EQ(EIO, errno) TH_LOG("write: %s", strerror(errno));
	ret = child_touch(fpath(s, "r"), 0, sizeof(w), 10, false);
	EXPECT_EQ(44, ret) TH_LOG("a fault after the removal: %d", ret);
	if (self->ndev > 1) {
		fo = open(fpath(s, "o"), O_RDWR);
		ASSERT_GE(fo, 0);
		EXPECT_EQ(sizeof(w), pwrite(fo, w, sizeof(w), 0));
		EXPECT_EQ(sizeof(r), pread(fo, r, sizeof(r), 0));
		EXPECT_EQ(0, memcmp(w, r, sizeof(w)));
		close(fo);
	}
	munmap(p, sizeof(w));

	ASSERT_EQ(0, dax_bind(d->name, "fsdev_dax"));
	self->rebind[di] = false;
	/* the old connection keeps failing ... */
	errno = 0;
	EXPECT_EQ(-1, pread(fd, r, sizeof(r), 0));
	EXPECT_EQ(EIO, errno);
	close(fd);
	srv_umount(s);
	/* ... a new one gets the device, and the bytes */
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "r"), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("after the rebind: %s", strerror(errno));
	EXPECT_EQ(sizeof(r), pread(fd, r, sizeof(r), 0));
	EXPECT_EQ(0, memcmp(w, r, sizeof(w)));
	close(fd);
}

/*
 * Unbind, rebind, a second connection takes the device while the first is
 * still mounted, then the first unmounts: it must not release a holder it
 * no longer is (a WARN in fs_put_dax(), and the second connection's holder
 * operations cleared), so the next removal still reaches the second one.
 */
TEST_F_TIMEOUT(famfs, rebind_new_holder_then_old_unmounts, 120)
{
	struct srv *s = self->s, *s2 = calloc(1, sizeof(*s2));
	uint32_t di = self->ndev - 1;
	struct daxdev *d = &self->dev[di];
	unsigned char w[8192], r[8192], *p;
	int fd, fd2;

	if (access("/sys/bus/dax/drivers/fsdev_dax/unbind", W_OK))
		SKIP(return, "no /sys/bus/dax/drivers/fsdev_dax/unbind");
	ASSERT_NE(NULL, s2);
	s2->die_on = SRV_NOP;
	s2->hang_on = SRV_NOP;
	s2->devs[di] = s->devs[di];
	simple_file(s, "a", di, 70 * M2, M2, M2);
	simple_file(s2, "b", di, 72 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "a"), O_RDWR);	/* connection 1 holds the device */
	ASSERT_GE(fd, 0);

	self->rebind[di] = true;
	ASSERT_EQ(0, dax_bind(d->name, NULL));
	ASSERT_EQ(0, dax_bind(d->name, "fsdev_dax"));
	self->rebind[di] = false;
	ASSERT_EQ(0, srv_mount(s2));
	fd2 = open(fpath(s2, "b"), O_RDWR);	/* connection 2 takes it */
	ASSERT_GE(fd2, 0) TH_LOG("second connection: %s", strerror(errno));
	p = mmap(NULL, sizeof(w), PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, p);
	pattern(w, sizeof(w), 87);
	memcpy(p, w, sizeof(w));
	ASSERT_NE(0, pfn_of(p));

	close(fd);
	srv_umount(s);				/* connection 1 goes */
	ASSERT_EQ(sizeof(r), pread(fd2, r, sizeof(r), 0));
	EXPECT_EQ(0, memcmp(w, r, sizeof(w)));

	self->rebind[di] = true;
	ASSERT_EQ(0, dax_bind(d->name, NULL));
	EXPECT_EQ(0, pfn_of(p)) TH_LOG("the removal did not reach connection 2");
	errno = 0;
	EXPECT_EQ(-1, pread(fd2, r, sizeof(r), 0));
	EXPECT_EQ(EIO, errno);
	munmap(p, sizeof(w));
	close(fd2);
	srv_umount(s2);
	free(s2);
}

static void *umount_thread(void *arg)
{
	srv_umount(arg);
	return NULL;
}

/*
 * Memory failures on a device while the connection holding it goes away:
 * the notification finds the connection's device table alive or not at all
 * (a use after free is a KASAN report, which fails the run), and the
 * connection goes every time.  Each round poisons another page of a range no
 * other test uses (hwpoison-inject needs no mapping).
 */
TEST_F_TIMEOUT(famfs, notify_failure_during_unmount, 180)
{
	const char *inject = "/sys/kernel/debug/hwpoison/corrupt-pfn";
	struct daxdev *d = &self->dev[0];
	struct srv *s = self->s;
	unsigned long long pfn;
	char val[32];
	pthread_t t;
	int i, fd, ret;

	if (access(inject, W_OK))
		SKIP(return, "no %s (CONFIG_HWPOISON_INJECT)", inject);
	simple_file(s, "n", 0, 74 * M2, M2, M2);
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, srv_mount(s)) TH_LOG("round %d", i);
		fd = open(fpath(s, "n"), O_RDWR);	/* the table holds dev 0 */
		ASSERT_GE(fd, 0);
		close(fd);
		pfn = (d->phys + d->size - 8 * M2) / 4096 + i;
		snprintf(val, sizeof(val), "%#llx", pfn);
		ASSERT_EQ(0, pthread_create(&t, NULL, umount_thread, s));
		ret = sysfs_put(inject, val);
		ASSERT_EQ(0, pthread_join(t, NULL));
		if (i == 0)
			ksft_print_msg("hwpoison-inject of pfn %#llx: %d\n", pfn, ret);
	}
}

TEST_F(famfs, poison_memory_failure)
{
	struct srv *s = self->s;
	struct daxdev *d = &self->dev[self->ndev - 1];
	uint32_t di = self->ndev - 1;
	uint64_t at = d->size - M2;	/* no other test uses this range */
	unsigned char w[16384], r[16384];
	int fd, fq, fo, ret;

	/* p: the poisoned page's file; q: same device; o: the other device */
	simple_file(s, "p", di, at, M2, M2);
	simple_file(s, "q", di, at - 2 * M2, M2, M2);
	if (self->ndev > 1)
		simple_file(s, "o", 0, 2 * M2, M2, M2);
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "p"), O_RDWR);
	ASSERT_GE(fd, 0);
	pattern(w, sizeof(w), 51);
	ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), 0));

	/* a child maps page 2 and injects a memory failure on it */
	ret = child_touch(fpath(s, "p"), 0, 16384, 2 * 4096 + 10, true);
	if (ret == 4)
		SKIP(return, "MADV_HWPOISON not available (CONFIG_MEMORY_FAILURE?)");
	/* memory_failure() kills the process that consumed it: SIGBUS AR */
	EXPECT_EQ(42, ret) TH_LOG("poisoning child: %d", ret);

	/* reads and writes of the file now fail, never return stale bytes */
	errno = 0;
	EXPECT_EQ(-1, pread(fd, r, 4096, 2 * 4096));
	EXPECT_EQ(EHWPOISON, errno) TH_LOG("read: %s", strerror(errno));
	ksft_print_msg("poison: read of the page -> %s\n", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, pread(fd, r, 4096, 0));
	EXPECT_EQ(EHWPOISON, errno);
	errno = 0;
	EXPECT_EQ(-1, pwrite(fd, w, 4096, 0));
	EXPECT_EQ(EHWPOISON, errno);
	/* mapping it is allowed; touching it is SIGBUS */
	ret = child_touch(fpath(s, "p"), 0, 16384, 2 * 4096 + 10, false);
	EXPECT_EQ(42, ret) TH_LOG("mapper of the poisoned page: %d", ret);
	ret = child_touch(fpath(s, "p"), 0, 16384, 0, false);
	EXPECT_EQ(42, ret) TH_LOG("mapper of another page: %d", ret);
	ksft_print_msg("poison: fault after the failure -> %s\n",
		       ret == 42 ? "SIGBUS BUS_MCEERR_AR" : "unexpected");
	/* the failure is recorded for the device: q on it fails too */
	fq = open(fpath(s, "q"), O_RDWR);
	ASSERT_GE(fq, 0);
	errno = 0;
	EXPECT_EQ(-1, pread(fq, r, 4096, 0));
	EXPECT_EQ(EHWPOISON, errno);
	close(fq);
	/* the other device is not affected */
	if (self->ndev > 1) {
		fo = open(fpath(s, "o"), O_RDWR);
		ASSERT_GE(fo, 0);
		EXPECT_EQ(sizeof(w), pwrite(fo, w, sizeof(w), 0));
		EXPECT_EQ(sizeof(r), pread(fo, r, sizeof(r), 0));
		EXPECT_EQ(0, memcmp(w, r, sizeof(w)));
		close(fo);
	}
	close(fd);
	/* unmount with a poisoned page in the file's mapping */
	srv_umount(s);

	/*
	 * What a new connection sees: the failure was recorded for the old
	 * connection only, and fsdev_dax does not check the page's poison
	 * flag.  Under TCG the memory is not really broken; report it.
	 */
	ASSERT_EQ(0, srv_mount(s));
	fd = open(fpath(s, "p"), O_RDWR);
	ASSERT_GE(fd, 0);
	ret = pread(fd, r, 4096, 2 * 4096);
	ksft_print_msg("poison: after a remount the page reads: %s\n",
		       ret < 0 ? strerror(errno) : !memcmp(r, w + 2 * 4096, 4096) ?
		       "the old bytes" : "other bytes");
	close(fd);
}

/* -- Devices the server registers: FUSE_DEV_IOC_DAXDEV_OPEN ---------------- */

/* Open @path (NULL: fd -1) and register it at @index: 0 or -errno. */
static int push_dev(struct srv *s, const char *path, int oflags, uint64_t index,
		    uint32_t flags)
{
	struct fuse_backing_map map = { .flags = flags, .daxdev_index = index };
	int err = 0;

	map.fd = path ? open(path, oflags | O_CLOEXEC) : -1;
	if (path && map.fd < 0)
		return -errno;
	if (ioctl(s->fd, FUSE_DEV_IOC_DAXDEV_OPEN, &map))
		err = -errno;
	if (map.fd >= 0)
		close(map.fd);
	return err;
}

/* A file of one 2 MiB extent at @off on each device, in order. */
static void per_dev_file(FIXTURE_DATA(famfs) *self, const char *name,
			 uint64_t off)
{
	struct srv_file *f = srv_add_file(self->s, name, self->ndev * M2);
	int i;

	fm_hdr(f, FUSE_FAMFS_EXT_SIMPLE, self->ndev, self->ndev * M2);
	for (i = 0; i < self->ndev; i++)
		fm_se(f, i, off, M2);
}

/* Write through @name, then find the bytes at @off of every device. */
static void expect_per_dev(struct __test_metadata *_metadata,
			   FIXTURE_DATA(famfs) *self, const char *name,
			   uint64_t off, unsigned int seed)
{
	unsigned char w[8192], d[8192];
	int fd = open(fpath(self->s, name), O_RDWR);
	int i;

	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", name, strerror(errno));
	for (i = 0; i < self->ndev; i++) {
		pattern(w, sizeof(w), seed + i);
		ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), i * M2 + 4096));
		ASSERT_EQ(0, dev_rw(&self->dev[i], off + 4096, d, sizeof(d), false));
		EXPECT_EQ(0, memcmp(w, d, sizeof(w))) TH_LOG("device %d", i);
	}
	close(fd);
}

/* Registered devices are used as they are: no FUSE_GET_DAXDEV. */
TEST_F(famfs, daxdev_push)
{
	struct srv *s = self->s;
	int i;

	for (i = 0; i < self->ndev; i++)
		s->devs[i].err = ENXIO;		/* a pull would fail the open */
	per_dev_file(self, "p", 90 * M2);
	ASSERT_EQ(0, srv_mount(s));
	for (i = 0; i < self->ndev; i++)
		ASSERT_EQ(0, push_dev(s, self->dev[i].path, O_RDWR, i, 0));
	expect_per_dev(_metadata, self, "p", 90 * M2, 21);
	EXPECT_EQ(0, srv_count(s, FUSE_GET_DAXDEV));
	EXPECT_EQ(1, srv_file(s, "p")->fmap_count);
}

/* A server that registers device 0 and lets device 1 be pulled. */
TEST_F(famfs, daxdev_push_and_pull)
{
	struct srv *s = self->s;

	if (self->ndev < 2)
		SKIP(return, "needs a second devdax");
	s->devs[0].err = ENXIO;
	per_dev_file(self, "p", 92 * M2);
	ASSERT_EQ(0, srv_mount(s));
	ASSERT_EQ(0, push_dev(s, self->dev[0].path, O_RDWR, 0, 0));
	expect_per_dev(_metadata, self, "p", 92 * M2, 23);
	EXPECT_EQ(1, srv_count(s, FUSE_GET_DAXDEV));
}

static int push_unprivileged(struct srv *s, const char *path, uint64_t index)
{
	int status;
	pid_t pid = fork();

	if (!pid)
		_exit(caps_drop(CAP(CAP_SYS_RAWIO)) ? 100 :
		      -push_dev(s, path, O_RDWR, index, 0));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

TEST_F(famfs, daxdev_push_refused)
{
	struct srv *s = self->s, *plain;
	const char *dev0 = self->dev[0].path;
	const char *last = self->dev[self->ndev - 1].path;
	int reg;

	reg = open("/tmp/famfs-kst-regular", O_RDWR | O_CREAT, 0600);
	ASSERT_GE(reg, 0);
	close(reg);
	per_dev_file(self, "p", 94 * M2);
	s->devs[0].err = ENXIO;
	ASSERT_EQ(0, srv_mount(s));

	EXPECT_EQ(-EBADF, push_dev(s, NULL, 0, 0, 0));
	EXPECT_EQ(-ENODEV, push_dev(s, "/tmp/famfs-kst-regular", O_RDWR, 0, 0));
	EXPECT_EQ(-ENODEV, push_dev(s, "/dev/null", O_RDWR, 0, 0));
	EXPECT_EQ(-EBADF, push_dev(s, dev0, O_RDONLY, 0, 0));
	EXPECT_EQ(-EINVAL, push_dev(s, dev0, O_RDWR, 64, 0));
	EXPECT_EQ(-EINVAL, push_dev(s, dev0, O_RDWR, 0, 1));
	EXPECT_EQ(-EPERM, push_unprivileged(s, last, 7));
	EXPECT_EQ(0, push_dev(s, dev0, O_RDWR, 0, 0));
	EXPECT_EQ(0, push_dev(s, dev0, O_RDWR, 0, 0)) TH_LOG("same device again");
	EXPECT_EQ(-EBUSY, push_dev(s, dev0, O_RDWR, 1, 0)) TH_LOG("same device, index 1");
	if (self->ndev > 1) {
		EXPECT_EQ(-EBUSY, push_dev(s, last, O_RDWR, 0, 0)) TH_LOG("index 0 taken");
		/* a devdax bound to device_dax, not fsdev_dax */
		self->rebind[1] = true;
		ASSERT_EQ(0, dax_bind(self->dev[1].name, "device_dax"));
		EXPECT_EQ(-ENODEV, push_dev(s, self->dev[1].path, O_RDWR, 1, 0));
		ASSERT_EQ(0, dax_bind(self->dev[1].name, "fsdev_dax"));
		self->rebind[1] = false;
		EXPECT_EQ(0, push_dev(s, last, O_RDWR, 1, 0));
	}
	/* what was refused left nothing behind: the file works */
	expect_per_dev(_metadata, self, "p", 94 * M2, 25);
	EXPECT_EQ(0, srv_count(s, FUSE_GET_DAXDEV));
	unlink("/tmp/famfs-kst-regular");

	/* a connection without famfs */
	plain = calloc(1, sizeof(*plain));
	ASSERT_NE(NULL, plain);
	plain->die_on = SRV_NOP;
	plain->hang_on = SRV_NOP;
	plain->no_dax_fmap = true;
	ASSERT_EQ(0, srv_mount(plain));
	EXPECT_EQ(-EOPNOTSUPP, push_dev(plain, dev0, O_RDWR, 0, 0));
	srv_umount(plain);
	free(plain);
}

/*
 * Maps larger than the kernel's first buffer (FAMFS_FMAP_MAX): the server
 * answers with the header alone, fmap_size saying how large the map is, and
 * is asked again, once, with that much room.
 */
#define BIG_EXTENTS	2000	/* 48,032 bytes of map */

static void *big_map(int ndev, uint64_t base, size_t *len)
{
	struct fuse_famfs_fmap_header *h;
	struct fuse_famfs_simple_ext *se;
	uint32_t i;

	*len = sizeof(*h) + BIG_EXTENTS * sizeof(*se);
	h = calloc(1, *len);
	if (!h)
		return NULL;
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = FUSE_FAMFS_EXT_SIMPLE;
	h->nextents = BIG_EXTENTS;
	h->file_size = BIG_EXTENTS * M2;
	h->fmap_size = *len;
	se = (void *)(h + 1);
	for (i = 0; i < BIG_EXTENTS; i++) {
		se[i].se_devindex = i % ndev;
		se[i].se_offset = base + i / ndev * M2;
		se[i].se_len = M2;
	}
	return h;
}

TEST_F_TIMEOUT(famfs, fmap_size_probe, 120)
{
	uint64_t per_dev = (BIG_EXTENTS + self->ndev - 1) / self->ndev * M2;
	uint64_t last = BIG_EXTENTS - 1, off;
	unsigned char w[8192], d[8192];
	struct srv *s = self->s;
	struct srv_file *f;
	void *map;
	size_t len;
	int fd;

	if (self->dev[self->ndev - 1].size < per_dev)
		SKIP(return, "%d devices of %lu MiB: %d extents of 2 MiB need %lu MiB each (run the guest with --size 2048)",
		     self->ndev, self->dev[0].size >> 20, BIG_EXTENTS, per_dev >> 20);
	map = big_map(self->ndev, 0, &len);
	ASSERT_NE(NULL, map);
	ASSERT_GT(len, FAMFS_FMAP_MAX);
	f = srv_add_file(s, "big", BIG_EXTENTS * M2);
	f->big = map;
	f->big_len = len;
	f->fmap_probe = true;
	/* a server that claims more each time it is asked */
	f = srv_add_file(s, "liar", BIG_EXTENTS * M2);
	f->big = map;
	f->big_len = len;
	f->fmap_lie = true;
	/* a map larger than the kernel takes */
	f = srv_add_file(s, "huge", BIG_EXTENTS * M2);
	f->big = map;
	f->big_len = len;
	f->fmap_claim = (16 << 20) + 4096;
	ASSERT_EQ(0, srv_mount(s));

	fd = open(fpath(s, "big"), O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("big: %s", strerror(errno));
	EXPECT_EQ(2, srv_file(s, "big")->fmap_count);
	pattern(w, sizeof(w), 27);
	ASSERT_EQ(sizeof(w), pwrite(fd, w, sizeof(w), last * M2 + 4096));
	off = last / self->ndev * M2 + 4096;
	ASSERT_EQ(0, dev_rw(&self->dev[last % self->ndev], off, d, sizeof(d), false));
	EXPECT_EQ(0, memcmp(w, d, sizeof(w))) TH_LOG("the last extent");
	close(fd);

	errno = 0;
	EXPECT_EQ(-1, open(fpath(s, "liar"), O_RDWR));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(2, srv_file(s, "liar")->fmap_count);
	errno = 0;
	EXPECT_EQ(-1, open(fpath(s, "huge"), O_RDWR));
	EXPECT_EQ(EFBIG, errno);
	EXPECT_EQ(1, srv_file(s, "huge")->fmap_count);
	srv_umount(s);
	free(map);
}

TEST_HARNESS_MAIN
