/*
  FUSE: Filesystem in Userspace
  famfs_test_server: the famfs server of the tests and the demo

  This program can be distributed under the terms of the GNU GPLv2.
  See the file GPL2.txt.
*/

/** @file
 *
 * famfs_test_server: the famfs server of the tests and of the demo.  It
 * serves the files of a manifest, laid out deterministically on
 * device-dax devices, counts the requests that reach it, and prints its
 * layout without mounting (--check).  example/famfs_ll.c is the famfs
 * server to read; this is a test tool.
 *
 * Usage:
 *
 *     famfs_test_server --manifest=FILE --dev=/dev/dax0.0 [--dev=...]
 *                       [--stats=FILE] [--no-open] [--max-write=BYTES]
 *                       [-f] [-o opt,...]
 *                       MOUNTPOINT
 *     famfs_test_server --check --manifest=FILE --dev=... [--fake-devices]
 *
 * ## The manifest ##
 *
 * A text file, one entry per line; '#' starts a comment, blank lines are
 * ignored, words are separated by blanks:
 *
 *     dir  PATH [mode=OCTAL]
 *     file PATH size=SIZE [mode=OCTAL] [layout=simple] [dev=N]
 *     file PATH size=SIZE [mode=OCTAL] layout=interleave [devs=N,N,...]
 *                                      [chunk=SIZE]
 *     file PATH size=SIZE [mode=OCTAL] extents=N:OFFSET:LENGTH[,...]
 *
 * PATH is absolute and normalized (no "//", ".", ".." or trailing '/'); its
 * parent must be the root or a dir declared on an earlier line.  SIZE is a
 * number (decimal, 0x hex) with an optional K, M, G or T (binary) suffix.
 * N is a device index: the N-th --dev option, from 0.  mode defaults to
 * 0755 for directories, 0644 for files.
 *
 *   layout=simple (default): one extent on device dev (default 0).
 *   layout=interleave: one interleaved extent striped over devs (default
 *     every device, in order; up to 32 strips, a device may repeat) in
 *     chunks of chunk bytes (default 2M; a multiple of 2M below 4G).
 *   extents=: the file is placed by hand: simple extents, each on device
 *     N at OFFSET, LENGTH bytes (multiples of 2M, together at least the
 *     file's size; as many as a map of FUSE_FAMFS_FMAP_MAX_SIZE bytes
 *     holds).
 *
 * Any other word, a duplicate path, a missing parent, an extent that
 * overlaps another, too many extents or strips, a file that does not fit
 * on its devices: one error naming MANIFEST:LINE, exit status 1, nothing
 * mounted.
 *
 * ## The layout ##
 *
 * Every offset and length is a multiple of 2 MiB.  Files placed with
 * extents= are reserved first, in manifest order.  Then every other file,
 * in manifest order, gets the lowest free range of each device it uses
 * (first fit):
 *
 *   simple:     roundup(size, 2M) bytes on its device (2M for an empty
 *               file: the kernel needs one extent);
 *   interleave: nstrips strips of ceil(size / (chunk * nstrips)) chunks,
 *               strip i on devs[i]; the one interleaved extent covers
 *               size bytes (file chunk k is on strip k % nstrips).
 *
 * The layout is a function of the manifest and the device sizes alone;
 * nothing is stored on the devices.  The same manifest on the same devices
 * in the same --dev order gives the same maps, so the same bytes, on every
 * mount and on every host that shares the memory.  --check prints the
 * layout's identity, a 64-bit FNV-1a hash of the normalized manifest, the
 * device sizes and every file's extents, to compare layouts.
 *
 * ## Requests ##
 *
 * Every operation is implemented, so that every request is counted.
 * Served: lookup, getattr, readdir, opendir, open, release, releasedir,
 * flush, fsync, fsyncdir, statfs, get_fmap, get_daxdev.  mknod, create,
 * tmpfile, mkdir, symlink, link, unlink, rmdir, rename, setattr and an
 * open with O_TRUNC fail with EPERM, fallocate with EOPNOTSUPP; xattrs,
 * access, lseek, copy_file_range and bmap answer ENOSYS.  read and write
 * answer EIO and log a warning: on a famfs connection they never reach
 * the server.  If the kernel does not offer FUSE_DAX_FMAP the server
 * unmounts and exits 1.
 *
 * On SIGUSR1 and at exit the server writes "OPNAME count" lines (every
 * operation, zeros included) to the --stats file, atomically (a new file
 * renamed over the old).  Keep that file outside the mount.
 *
 * ## --no-open ##
 *
 * The server keeps no state per open file, so it can let the kernel skip
 * OPEN and RELEASE: it sets FUSE_CAP_NO_OPEN_SUPPORT and answers the first
 * OPEN of a file with ENOSYS, and the kernel sends no OPEN or RELEASE on
 * this connection again.  FLUSH answers ENOSYS too (an open without a
 * reply cannot set noflush), which stops FLUSH as well.  The map is still
 * fetched once per inode, at its first open.
 *
 * ## --max-write ##
 *
 * Sets conn->max_write, the largest WRITE the kernel sends, at INIT.  Over
 * the io_uring (-o io_uring) it is also the largest reply: a map larger
 * than BYTES is refused with EFBIG (see fuse_reply_fmap()).
 *
 * ## --check ##
 *
 * Parse the manifest, lay it out, check every map, print the layout and
 * exit.  With --fake-devices, and only with --check, a --dev may be a
 * regular file whose size is the device size (for tests without devdax).
 */

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 18)
#define _GNU_SOURCE

#include <fuse_lowlevel.h>
#include <fuse_famfs.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MIB (1ULL << 20)
#define FAMFS_ALIGN (2 * MIB)
#define MAX_DEVS 24 /* the kernel's device table */
#define TIMEOUT 86400.0 /* the namespace never changes */

/* ------------------------------------------------------------------ */
/* Request counters                                                   */
/* ------------------------------------------------------------------ */

enum op {
	OP_INIT,
	OP_DESTROY,
	OP_LOOKUP,
	OP_FORGET,
	OP_BATCH_FORGET,
	OP_GETATTR,
	OP_SETATTR,
	OP_READLINK,
	OP_MKNOD,
	OP_MKDIR,
	OP_UNLINK,
	OP_RMDIR,
	OP_SYMLINK,
	OP_RENAME,
	OP_LINK,
	OP_OPEN,
	OP_READ,
	OP_WRITE,
	OP_FLUSH,
	OP_RELEASE,
	OP_FSYNC,
	OP_OPENDIR,
	OP_READDIR,
	OP_RELEASEDIR,
	OP_FSYNCDIR,
	OP_STATFS,
	OP_SETXATTR,
	OP_GETXATTR,
	OP_LISTXATTR,
	OP_REMOVEXATTR,
	OP_ACCESS,
	OP_CREATE,
	OP_BMAP,
	OP_FALLOCATE,
	OP_COPY_FILE_RANGE,
	OP_LSEEK,
	OP_TMPFILE,
	OP_GET_FMAP,
	OP_GET_DAXDEV,
	OP_NR
};

static const char *const op_name[OP_NR] = {
	[OP_INIT] = "INIT",
	[OP_DESTROY] = "DESTROY",
	[OP_LOOKUP] = "LOOKUP",
	[OP_FORGET] = "FORGET",
	[OP_BATCH_FORGET] = "BATCH_FORGET",
	[OP_GETATTR] = "GETATTR",
	[OP_SETATTR] = "SETATTR",
	[OP_READLINK] = "READLINK",
	[OP_MKNOD] = "MKNOD",
	[OP_MKDIR] = "MKDIR",
	[OP_UNLINK] = "UNLINK",
	[OP_RMDIR] = "RMDIR",
	[OP_SYMLINK] = "SYMLINK",
	[OP_RENAME] = "RENAME",
	[OP_LINK] = "LINK",
	[OP_OPEN] = "OPEN",
	[OP_READ] = "READ",
	[OP_WRITE] = "WRITE",
	[OP_FLUSH] = "FLUSH",
	[OP_RELEASE] = "RELEASE",
	[OP_FSYNC] = "FSYNC",
	[OP_OPENDIR] = "OPENDIR",
	[OP_READDIR] = "READDIR",
	[OP_RELEASEDIR] = "RELEASEDIR",
	[OP_FSYNCDIR] = "FSYNCDIR",
	[OP_STATFS] = "STATFS",
	[OP_SETXATTR] = "SETXATTR",
	[OP_GETXATTR] = "GETXATTR",
	[OP_LISTXATTR] = "LISTXATTR",
	[OP_REMOVEXATTR] = "REMOVEXATTR",
	[OP_ACCESS] = "ACCESS",
	[OP_CREATE] = "CREATE",
	[OP_BMAP] = "BMAP",
	[OP_FALLOCATE] = "FALLOCATE",
	[OP_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
	[OP_LSEEK] = "LSEEK",
	[OP_TMPFILE] = "TMPFILE",
	[OP_GET_FMAP] = "GET_FMAP",
	[OP_GET_DAXDEV] = "GET_DAXDEV",
};

static uint64_t op_count[OP_NR];

static void count(enum op op)
{
	__atomic_add_fetch(&op_count[op], 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Devices, entries, layout                                           */
/* ------------------------------------------------------------------ */

struct entry;

struct range {
	uint64_t start, end;
	const struct entry *owner;
};

struct dev {
	const char *arg; /* as given */
	char path[DAXDEV_NAME_MAX]; /* absolute, sent in GET_DAXDEV */
	char name[64]; /* daxN.M */
	uint64_t size;
	bool fake; /* a regular file standing in (--check only) */
	struct range *used; /* allocated, sorted by start */
	size_t nused, cap;
};

struct ext {
	uint32_t dev;
	uint64_t off, len;
};

enum layout { LAYOUT_SIMPLE, LAYOUT_INTERLEAVE, LAYOUT_PLACED };

struct entry {
	char *path;
	const char *name; /* last component of path */
	size_t parent; /* index of the parent dir */
	int line;
	bool is_dir;
	mode_t mode;
	uint32_t nlink;
	uint64_t size;
	enum layout layout;
	uint32_t chunk; /* interleave */
	uint32_t nexts; /* simple extents, or strips */
	struct ext *ext;
	unsigned char *fmap; /* GET_FMAP reply */
	size_t fmap_len;
};

static struct fs {
	const char *manifest;
	const char *stats;
	int check, fake, no_open;
	unsigned int max_write;
	struct dev dev[MAX_DEVS];
	unsigned int ndevs;
	struct entry *ent; /* ent[0] is the root; inode = index + 1 */
	size_t nent;
	uint64_t id; /* the layout's identity */
	struct fuse_session *se;
	bool no_fmap; /* the kernel did not offer FUSE_DAX_FMAP */
	pthread_mutex_t stats_lock;
} fs = { .stats_lock = PTHREAD_MUTEX_INITIALIZER };

static int line_err(int line, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int line_err(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "famfs_test_server: %s:%d: ", fs.manifest, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("famfs_test_server: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static uint64_t roundup2m(uint64_t n)
{
	return (n + FAMFS_ALIGN - 1) & ~(FAMFS_ALIGN - 1);
}

/* "16M", "0x200000", "4096": 0 or -1 (not a size, or it overflows). */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -1;
	switch (*end) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_index(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v >= MAX_DEVS)
		return -1;
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Devices                                                            */
/* ------------------------------------------------------------------ */

static int sysfs_read(const char *name, const char *attr, char *buf, size_t len)
{
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/%s", name, attr);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A regular file as a device: --check --fake-devices only. */
static int dev_open_fake(struct dev *d, const struct stat *st)
{
	if (!fs.check || !fs.fake)
		return fail("--dev %s: not a device-dax character device",
			    d->arg);
	d->fake = true;
	d->size = st->st_size;
	snprintf(d->name, sizeof(d->name), "fake");
	return 0;
}

/*
 * Resolve a --dev argument: it must be a device-dax character device bound
 * to fsdev_dax.  Its size comes from sysfs.
 */
static int dev_open(struct dev *d)
{
	char p[PATH_MAX], link[PATH_MAX], buf[64], *base;
	struct stat st;
	ssize_t n;

	if (!realpath(d->arg, p))
		return fail("--dev %s: %s", d->arg, strerror(errno));
	if (strlen(p) >= sizeof(d->path))
		return fail("--dev %s: path longer than %d bytes", d->arg,
			    DAXDEV_NAME_MAX - 1);
	strcpy(d->path, p);
	if (stat(p, &st))
		return fail("--dev %s: %s", d->arg, strerror(errno));
	if (S_ISREG(st.st_mode))
		return dev_open_fake(d, &st);
	if (!S_ISCHR(st.st_mode))
		return fail("--dev %s: not a device-dax character device",
			    d->arg);
	snprintf(p, sizeof(p), "/sys/dev/char/%u:%u/subsystem",
		 major(st.st_rdev), minor(st.st_rdev));
	n = readlink(p, link, sizeof(link) - 1);
	if (n < 0 ||
	    (link[n] = '\0', strcmp(strrchr(link, '/') ?: link, "/dax")))
		return fail("--dev %s: not a device-dax character device",
			    d->arg);
	snprintf(p, sizeof(p), "/sys/dev/char/%u:%u", major(st.st_rdev),
		 minor(st.st_rdev));
	n = readlink(p, link, sizeof(link) - 1);
	if (n < 0)
		return fail("--dev %s: %s: %s", d->arg, p, strerror(errno));
	link[n] = '\0';
	base = strrchr(link, '/');
	snprintf(d->name, sizeof(d->name), "%.63s", base ? base + 1 : link);
	if (sysfs_read(d->name, "size", buf, sizeof(buf)) ||
	    parse_size(buf, &d->size))
		return fail(
			"--dev %s: cannot read /sys/bus/dax/devices/%s/size",
			d->arg, d->name);
	snprintf(p, sizeof(p), "/sys/bus/dax/devices/%s/driver", d->name);
	n = readlink(p, link, sizeof(link) - 1);
	link[n < 0 ? 0 : n] = '\0';
	base = strrchr(link, '/');
	if (n < 0 || strcmp(base ? base + 1 : link, "fsdev_dax"))
		return fail(
			"--dev %s: %s is bound to %s, famfs needs fsdev_dax "
			"(daxctl reconfigure-device --mode=famfs %s)",
			d->arg, d->name, n < 0 ? "no driver" : base + 1,
			d->name);
	return 0;
}

/*
 * Mark [off, off + len) of a device used by owner.  NULL, or the range it
 * would overlap.  The used ranges are sorted and disjoint, so their ends
 * are sorted too: a binary search finds the first that ends after off
 * (a map of 10^5 extents is laid out in O(n log n)).
 */
static const struct range *dev_take(struct dev *d, uint64_t off, uint64_t len,
				    const struct entry *owner)
{
	size_t lo = 0, hi = d->nused;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->used[mid].end > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < d->nused && d->used[lo].start < off + len)
		return &d->used[lo];
	if (d->nused == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 8;
		d->used = realloc(d->used, d->cap * sizeof(*d->used));
		if (!d->used)
			abort();
	}
	memmove(&d->used[lo + 1], &d->used[lo],
		(d->nused - lo) * sizeof(*d->used));
	d->used[lo] = (struct range){ off, off + len, owner };
	d->nused++;
	return NULL;
}

/* First fit: the lowest free range of len bytes; -1 if there is none. */
static int dev_alloc(struct dev *d, uint64_t len, uint64_t *off,
		     const struct entry *owner)
{
	uint64_t at = 0;
	size_t i;

	for (i = 0; i <= d->nused; i++) {
		uint64_t end = i < d->nused ? d->used[i].start : d->size;

		if (end >= at && end - at >= len) {
			*off = at;
			dev_take(d, at, len, owner);
			return 0;
		}
		if (i < d->nused)
			at = d->used[i].end;
	}
	return -1;
}

static uint64_t dev_free(const struct dev *d)
{
	uint64_t used = 0;
	size_t i;

	for (i = 0; i < d->nused; i++)
		used += d->used[i].end - d->used[i].start;
	return d->size - used;
}

/* ------------------------------------------------------------------ */
/* Manifest                                                           */
/* ------------------------------------------------------------------ */

static struct entry *entry_new(void)
{
	fs.ent = realloc(fs.ent, (fs.nent + 1) * sizeof(*fs.ent));
	if (!fs.ent)
		abort();
	memset(&fs.ent[fs.nent], 0, sizeof(*fs.ent));
	return &fs.ent[fs.nent++];
}

static long entry_find(const char *path)
{
	size_t i;

	for (i = 0; i < fs.nent; i++)
		if (!strcmp(fs.ent[i].path, path))
			return i;
	return -1;
}

/* An absolute path without "//", ".", ".." or a trailing '/'. */
static bool path_ok(const char *p)
{
	const char *c = p;

	if (*p != '/' || !p[1] || strlen(p) >= PATH_MAX)
		return false;
	while (*c) {
		size_t n;

		c++; /* the '/' */
		n = strcspn(c, "/");
		if (!n || n > 255 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
	}
	return true;
}

/* Set e->parent from e->path; -1 if the parent is not a declared dir. */
static int entry_link(struct entry *e)
{
	char *slash = strrchr(e->path, '/');
	long p;

	e->name = slash + 1;
	if (slash == e->path) {
		e->parent = 0;
	} else {
		*slash = '\0';
		p = entry_find(e->path);
		*slash = '/';
		if (p < 0 || !fs.ent[p].is_dir)
			return line_err(e->line,
					"%.*s: no such directory "
					"(declare it on an earlier line)",
					(int)(slash - e->path), e->path);
		e->parent = p;
	}
	if (e->is_dir)
		fs.ent[e->parent].nlink++;
	return 0;
}

/*
 * A new zeroed extent or strip at the end of e->ext, or NULL if e has as
 * many as a map of FUSE_FAMFS_FMAP_MAX_SIZE bytes holds.
 */
static struct ext *ext_add(struct entry *e)
{
	const size_t max = (FUSE_FAMFS_FMAP_MAX_SIZE -
			    sizeof(struct fuse_famfs_fmap_header)) /
			   sizeof(struct fuse_famfs_simple_ext);
	struct ext *x;

	if (e->nexts == max)
		return NULL;
	/* grown at powers of two */
	if (!(e->nexts & (e->nexts - 1))) {
		x = realloc(e->ext, (e->nexts ? 2 * e->nexts : 1) * sizeof(*x));
		if (!x)
			abort();
		e->ext = x;
	}
	x = &e->ext[e->nexts++];
	memset(x, 0, sizeof(*x));
	return x;
}

/* extents=N:OFF:LEN,...: hand placement. */
static int parse_extents(struct entry *e, char *v)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(v, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *a = tok, *b = strchr(a, ':'),
		     *c = b ? strchr(b + 1, ':') : NULL;
		struct ext *x = ext_add(e);

		if (!x)
			return line_err(
				e->line,
				"more extents than a map of %d bytes holds",
				FUSE_FAMFS_FMAP_MAX_SIZE);
		if (!c)
			return line_err(e->line,
					"extent '%s': want DEV:OFFSET:LENGTH",
					tok);
		*b++ = '\0';
		*c++ = '\0';
		if (parse_index(a, &x->dev) || parse_size(b, &x->off) ||
		    parse_size(c, &x->len))
			return line_err(
				e->line,
				"extent '%s:%s:%s': want DEV:OFFSET:LENGTH", a,
				b, c);
	}
	if (!e->nexts)
		return line_err(e->line, "extents= lists no extent");
	return 0;
}

static int parse_devs(struct entry *e, char *v)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(v, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (e->nexts == FUSE_FAMFS_MAX_STRIPS)
			return line_err(e->line, "more than %d strips",
					FUSE_FAMFS_MAX_STRIPS);
		if (parse_index(tok, &ext_add(e)->dev))
			return line_err(e->line,
					"devs: '%s' is not a device index",
					tok);
	}
	if (!e->nexts)
		return line_err(e->line, "devs= lists no device");
	return 0;
}

/* One key=value word of a dir or file line. */
static int parse_key(struct entry *e, char *word, bool *has_size, int *dev,
		     bool *has_devs, bool *has_chunk)
{
	char *v = strchr(word, '=');
	uint64_t n;
	unsigned int i;
	char *end;

	if (!v)
		return line_err(e->line, "'%s': expected key=value", word);
	*v++ = '\0';
	if (!strcmp(word, "mode")) {
		e->mode = strtoul(v, &end, 8);
		if (!*v || *end || e->mode > 07777)
			return line_err(e->line, "mode '%s': not an octal mode",
					v);
		return 0;
	}
	if (e->is_dir)
		return line_err(e->line, "unknown key '%s' for a dir", word);
	if (!strcmp(word, "size")) {
		if (parse_size(v, &e->size) || e->size > INT64_MAX)
			return line_err(e->line, "size '%s': not a size", v);
		*has_size = true;
	} else if (!strcmp(word, "layout")) {
		if (e->layout == LAYOUT_PLACED)
			return line_err(e->line,
					"extents= places the file: no layout=");
		if (!strcmp(v, "interleave"))
			e->layout = LAYOUT_INTERLEAVE;
		else if (strcmp(v, "simple"))
			return line_err(e->line,
					"layout '%s': simple or interleave", v);
	} else if (!strcmp(word, "dev")) {
		if (parse_index(v, &i))
			return line_err(e->line, "dev '%s': not a device index",
					v);
		*dev = i;
	} else if (!strcmp(word, "devs")) {
		*has_devs = true;
		return parse_devs(e, v);
	} else if (!strcmp(word, "chunk")) {
		if (parse_size(v, &n) || !n || n % FAMFS_ALIGN ||
		    n > UINT32_MAX)
			return line_err(e->line,
					"chunk '%s': a multiple of 2M below 4G",
					v);
		e->chunk = n;
		*has_chunk = true;
	} else if (!strcmp(word, "extents")) {
		if (e->layout == LAYOUT_INTERLEAVE)
			return line_err(e->line,
					"extents= places the file: no layout=");
		e->layout = LAYOUT_PLACED;
		return parse_extents(e, v);
	} else {
		return line_err(e->line, "unknown key '%s'", word);
	}
	return 0;
}

/* Keys that do not go together, and defaults. */
static int entry_finish(struct entry *e, bool has_size, int dev, bool has_devs,
			bool has_chunk)
{
	unsigned int i;

	if (e->is_dir)
		return 0;
	if (!has_size)
		return line_err(e->line, "file without size=");
	if (e->layout == LAYOUT_PLACED && (dev >= 0 || has_devs || has_chunk))
		return line_err(
			e->line,
			"extents= places the file: no dev=, devs= or chunk=");
	if (e->layout == LAYOUT_SIMPLE && (has_devs || has_chunk))
		return line_err(e->line,
				"devs= and chunk= need layout=interleave");
	if (e->layout == LAYOUT_INTERLEAVE && dev >= 0)
		return line_err(e->line,
				"layout=interleave takes devs=, not dev=");
	if (e->layout == LAYOUT_SIMPLE)
		ext_add(e)->dev = dev < 0 ? 0 : dev;
	if (e->layout == LAYOUT_INTERLEAVE) {
		if (!e->size)
			return line_err(
				e->line,
				"an interleaved file needs a size above 0");
		if (!has_chunk)
			e->chunk = FAMFS_ALIGN;
		for (i = 0; !has_devs && i < fs.ndevs; i++)
			ext_add(e)->dev = i;
	}
	for (i = 0; i < e->nexts; i++)
		if (e->ext[i].dev >= fs.ndevs)
			return line_err(
				e->line,
				"device %u: only %u device%s given (--dev)",
				e->ext[i].dev, fs.ndevs,
				fs.ndevs == 1 ? "" : "s");
	return 0;
}

/* One line: "dir PATH key=value..." or "file PATH key=value...". */
/* Was the key of word (key=value) among the keys seen on the line? */
static bool key_seen(char *const *seen, unsigned int nseen, const char *word)
{
	size_t len = strcspn(word, "=");
	unsigned int i;

	for (i = 0; i < nseen; i++)
		if (!strncmp(seen[i], word, len) && !seen[i][len])
			return true;
	return false;
}

static int parse_line(char *s, int line)
{
	bool has_size = false, has_devs = false, has_chunk = false;
	char *save = NULL, *kind, *path, *word, *seen[8];
	unsigned int nseen = 0;
	struct entry *e;
	int dev = -1;
	long other;

	kind = strtok_r(s, " \t", &save);
	if (!kind)
		return 0;
	if (strcmp(kind, "dir") && strcmp(kind, "file"))
		return line_err(line, "'%s': a line starts with dir or file",
				kind);
	path = strtok_r(NULL, " \t", &save);
	if (!path)
		return line_err(line, "%s without a path", kind);
	if (!path_ok(path))
		return line_err(line, "'%s': not an absolute normalized path",
				path);
	other = entry_find(path);
	if (other >= 0)
		return line_err(line, "%s: already declared on line %d", path,
				fs.ent[other].line);
	e = entry_new();
	e->line = line;
	e->is_dir = kind[0] == 'd';
	e->mode = e->is_dir ? 0755 : 0644;
	e->nlink = e->is_dir ? 2 : 1;
	e->path = strdup(path);
	if (!e->path)
		abort();
	while ((word = strtok_r(NULL, " \t", &save))) {
		if (key_seen(seen, nseen, word))
			return line_err(line, "%.*s= given twice",
					(int)strcspn(word, "="), word);
		if (parse_key(e, word, &has_size, &dev, &has_devs, &has_chunk))
			return -1;
		seen[nseen++] = word; /* parse_key() cut it at '=' */
	}
	if (entry_finish(e, has_size, dev, has_devs, has_chunk))
		return -1;
	return entry_link(e);
}

static int parse_manifest(void)
{
	char *buf = NULL;
	size_t cap = 0;
	int line = 0;
	FILE *f;
	struct entry *root;

	f = fopen(fs.manifest, "r");
	if (!f)
		return fail("%s: %s", fs.manifest, strerror(errno));
	root = entry_new();
	root->path = strdup("/");
	root->name = "";
	root->is_dir = true;
	root->mode = 0755;
	root->nlink = 2;
	while (getline(&buf, &cap, f) > 0) {
		line++;
		buf[strcspn(buf, "#\n")] = '\0';
		if (parse_line(buf, line)) {
			fclose(f);
			free(buf);
			return -1;
		}
	}
	free(buf);
	fclose(f);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Layout and maps                                                    */
/* ------------------------------------------------------------------ */

static int place_by_hand(struct entry *e)
{
	const struct range *clash;
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < e->nexts; i++) {
		struct ext *x = &e->ext[i];
		struct dev *d = &fs.dev[x->dev];

		if (!x->len || x->off % FAMFS_ALIGN || x->len % FAMFS_ALIGN)
			return line_err(
				e->line,
				"extent %u (%u:%#" PRIx64 ":%#" PRIx64
				"): offset and length must be multiples of 2M, length above 0",
				i, x->dev, x->off, x->len);
		if (x->off > d->size || x->len > d->size - x->off)
			return line_err(e->line,
					"extent %u (%u:%#" PRIx64 ":%#" PRIx64
					"): past the end of device %u (%" PRIu64
					" bytes)",
					i, x->dev, x->off, x->len, x->dev,
					d->size);
		clash = dev_take(d, x->off, x->len, e);
		if (clash)
			return line_err(e->line,
					"extent %u (%u:%#" PRIx64 ":%#" PRIx64
					"): overlaps %s (line %d)",
					i, x->dev, x->off, x->len,
					clash->owner->path, clash->owner->line);
		total += x->len;
	}
	if (total < e->size)
		return line_err(e->line,
				"extents hold %" PRIu64
				" bytes, size is %" PRIu64,
				total, e->size);
	return 0;
}

static int place_auto(struct entry *e)
{
	uint64_t len, stripes;
	unsigned int i;

	if (e->layout == LAYOUT_SIMPLE) {
		len = e->size ? roundup2m(e->size) : FAMFS_ALIGN;
	} else {
		stripes = (e->size + (uint64_t)e->chunk * e->nexts - 1) /
			  ((uint64_t)e->chunk * e->nexts);
		len = stripes * e->chunk;
	}
	for (i = 0; i < e->nexts; i++) {
		struct dev *d = &fs.dev[e->ext[i].dev];

		e->ext[i].len = len;
		if (len > d->size)
			return line_err(e->line,
					"%s needs %" PRIu64
					" bytes on device %u, "
					"which has %" PRIu64,
					e->path, len, e->ext[i].dev, d->size);
		if (dev_alloc(d, len, &e->ext[i].off, e))
			return line_err(
				e->line,
				"%s does not fit: device %u has no free "
				"range of %" PRIu64 " bytes (%" PRIu64
				" free in all)",
				e->path, e->ext[i].dev, len, dev_free(d));
	}
	return 0;
}

/* Serialize e's map: the GET_FMAP reply. */
static void build_fmap(struct entry *e)
{
	struct fuse_famfs_fmap_header *h;
	struct fuse_famfs_simple_ext *se;
	struct fuse_famfs_iext *ie;
	bool il = e->layout == LAYOUT_INTERLEAVE;
	unsigned int i;

	e->fmap_len =
		sizeof(*h) + (il ? sizeof(*ie) : 0) + e->nexts * sizeof(*se);
	e->fmap = calloc(1, e->fmap_len);
	if (!e->fmap)
		abort();
	h = (void *)e->fmap;
	h->file_type = FUSE_FAMFS_FILE_REG;
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = il ? FUSE_FAMFS_EXT_INTERLEAVE : FUSE_FAMFS_EXT_SIMPLE;
	h->nextents = il ? 1 : e->nexts;
	h->file_size = e->size;
	se = (void *)(h + 1);
	if (il) {
		ie = (void *)(h + 1);
		ie->ie_nstrips = e->nexts;
		ie->ie_chunk_size = e->chunk;
		ie->ie_nbytes = e->size;
		se = (void *)(ie + 1);
	}
	for (i = 0; i < e->nexts; i++) {
		se[i].se_devindex = e->ext[i].dev;
		se[i].se_offset = e->ext[i].off;
		se[i].se_len = e->ext[i].len;
	}
}

/*
 * What only the server can check: every extent is on a device it serves
 * and inside it.  The map's structure was checked by fuse_famfs_fmap_check().
 */
static const char *fmap_on_devices(const struct fuse_famfs_fmap_header *h)
{
	const unsigned char *p = (const unsigned char *)(h + 1);
	const struct fuse_famfs_simple_ext *se;
	uint64_t size;
	uint32_t i, s, n;

	for (i = 0; i < h->nextents; i++) {
		n = 1;
		if (h->ext_type == FUSE_FAMFS_EXT_INTERLEAVE) {
			n = ((const struct fuse_famfs_iext *)p)->ie_nstrips;
			p += sizeof(struct fuse_famfs_iext);
		}
		for (s = 0; s < n; s++, p += sizeof(*se)) {
			se = (const void *)p;
			if (se->se_devindex >= fs.ndevs)
				return "device index out of range";
			size = fs.dev[se->se_devindex].size;
			if (se->se_offset > size ||
			    se->se_len > size - se->se_offset)
				return "extent past the end of its device";
		}
	}
	return NULL;
}

/* NULL if the kernel would take the map and it fits the devices. */
static const char *fmap_check(const void *buf, size_t len)
{
	if (fuse_famfs_fmap_check(buf, len))
		return "refused by fuse_famfs_fmap_check()";
	return fmap_on_devices(buf);
}

/* 64-bit FNV-1a */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

/* One line per entry, the normalized manifest with its placement. */
static void entry_describe(const struct entry *e, FILE *f)
{
	unsigned int i;

	if (e->is_dir) {
		fprintf(f, "dir %s mode=%04o\n", e->path, e->mode);
		return;
	}
	fprintf(f, "file %s size=%" PRIu64 " mode=%04o", e->path, e->size,
		e->mode);
	if (e->layout == LAYOUT_INTERLEAVE)
		fprintf(f, " layout=interleave chunk=%#x strips=", e->chunk);
	else
		fprintf(f, " layout=%s extents=",
			e->layout == LAYOUT_PLACED ? "placed" : "simple");
	for (i = 0; i < e->nexts; i++)
		fprintf(f, "%s%u:%#" PRIx64 ":%#" PRIx64, i ? "," : "",
			e->ext[i].dev, e->ext[i].off, e->ext[i].len);
	fputc('\n', f);
}

/* The identity: devices' sizes and every entry with its placement. */
static uint64_t layout_id(void)
{
	char *text = NULL;
	size_t len = 0, i;
	uint64_t h = 0xcbf29ce484222325ULL;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		abort();
	fputs("famfs_test_server layout\n", f);
	for (i = 0; i < fs.ndevs; i++)
		fprintf(f, "device %zu size=%" PRIu64 "\n", i, fs.dev[i].size);
	for (i = 1; i < fs.nent; i++)
		entry_describe(&fs.ent[i], f);
	fclose(f);
	h = fnv(h, text, len);
	free(text);
	return h;
}

static int lay_out(void)
{
	const char *why;
	size_t i;

	for (i = 0; i < fs.ndevs; i++) {
		if (fs.dev[i].size < FAMFS_ALIGN)
			return fail("device %zu (%s): %" PRIu64
				    " bytes, below 2 MiB",
				    i, fs.dev[i].arg, fs.dev[i].size);
	}
	for (i = 1; i < fs.nent; i++)
		if (fs.ent[i].layout == LAYOUT_PLACED && !fs.ent[i].is_dir &&
		    place_by_hand(&fs.ent[i]))
			return -1;
	for (i = 1; i < fs.nent; i++)
		if (fs.ent[i].layout != LAYOUT_PLACED && !fs.ent[i].is_dir &&
		    place_auto(&fs.ent[i]))
			return -1;
	for (i = 1; i < fs.nent; i++) {
		if (fs.ent[i].is_dir)
			continue;
		build_fmap(&fs.ent[i]);
		why = fmap_check(fs.ent[i].fmap, fs.ent[i].fmap_len);
		if (why)
			return line_err(fs.ent[i].line, "%s: bad map: %s",
					fs.ent[i].path, why);
	}
	fs.id = layout_id();
	return 0;
}

/* ------------------------------------------------------------------ */
/* --check output                                                     */
/* ------------------------------------------------------------------ */

static void print_layout(void)
{
	size_t i;

	printf("manifest: %s\n", fs.manifest);
	printf("layout: %016" PRIx64 "\n", fs.id);
	for (i = 0; i < fs.ndevs; i++)
		printf("device %zu: %s%s size=%" PRIu64 " (%" PRIu64
		       " MiB) free=%" PRIu64 "\n",
		       i, fs.dev[i].path, fs.dev[i].fake ? " (fake)" : "",
		       fs.dev[i].size, (uint64_t)(fs.dev[i].size / MIB),
		       dev_free(&fs.dev[i]));
	for (i = 1; i < fs.nent; i++) {
		printf("ino %zu ", i + 1);
		entry_describe(&fs.ent[i], stdout);
	}
}

/* ------------------------------------------------------------------ */
/* Request counts                                                     */
/* ------------------------------------------------------------------ */

static void stats_write(void)
{
	char tmp[PATH_MAX];
	FILE *f;
	int i;

	if (!fs.stats)
		return;
	pthread_mutex_lock(&fs.stats_lock);
	snprintf(tmp, sizeof(tmp), "%s.tmp", fs.stats);
	f = fopen(tmp, "w");
	if (f) {
		for (i = 0; i < OP_NR; i++)
			fprintf(f, "%s %" PRIu64 "\n", op_name[i],
				__atomic_load_n(&op_count[i],
						__ATOMIC_RELAXED));
		if (fclose(f) || rename(tmp, fs.stats))
			fuse_log(FUSE_LOG_ERR, "famfs_test_server: %s: %s\n",
				 fs.stats, strerror(errno));
	} else {
		fuse_log(FUSE_LOG_ERR, "famfs_test_server: %s: %s\n", tmp,
			 strerror(errno));
	}
	pthread_mutex_unlock(&fs.stats_lock);
}

/* SIGUSR1 is blocked in every thread; this one takes it. */
static void *stats_thread(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;)
		if (!sigwait(set, &sig))
			stats_write();
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

static struct entry *ino_entry(fuse_ino_t ino)
{
	return ino >= 1 && ino <= fs.nent ? &fs.ent[ino - 1] : NULL;
}

static void entry_stat(const struct entry *e, struct stat *st)
{
	unsigned int i;

	memset(st, 0, sizeof(*st));
	st->st_ino = e - fs.ent + 1;
	st->st_mode = (e->is_dir ? S_IFDIR : S_IFREG) | e->mode;
	st->st_nlink = e->nlink;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = e->is_dir ? 0 : e->size;
	st->st_blksize = FAMFS_ALIGN;
	for (i = 0; !e->is_dir && i < e->nexts; i++)
		st->st_blocks += e->ext[i].len / 512;
}

static void famfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	count(OP_INIT);
	if (!fuse_set_feature_flag(conn, FUSE_CAP_DAX_FMAP)) {
		fuse_log(FUSE_LOG_ERR,
			 "famfs_test_server: the kernel does not offer "
			 "FUSE_DAX_FMAP (famfs needs CONFIG_FUSE_FAMFS_DAX and "
			 "a mount by a process with CAP_SYS_RAWIO): "
			 "unmounting\n");
		fs.no_fmap = true;
		fuse_session_exit(fs.se);
	}
	if (fs.max_write)
		conn->max_write = fs.max_write;
	if (fs.no_open &&
	    !fuse_set_feature_flag(conn, FUSE_CAP_NO_OPEN_SUPPORT))
		fuse_log(FUSE_LOG_WARNING,
			 "famfs_test_server: the kernel cannot skip OPEN\n");
}

static void famfs_destroy(void *userdata)
{
	(void)userdata;
	count(OP_DESTROY);
}

static void famfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param ep;
	size_t i;

	count(OP_LOOKUP);
	for (i = 1; i < fs.nent; i++) {
		if (fs.ent[i].parent + 1 != parent ||
		    strcmp(fs.ent[i].name, name))
			continue;
		memset(&ep, 0, sizeof(ep));
		ep.ino = i + 1;
		ep.attr_timeout = TIMEOUT;
		ep.entry_timeout = TIMEOUT;
		entry_stat(&fs.ent[i], &ep.attr);
		fuse_reply_entry(req, &ep);
		return;
	}
	fuse_reply_err(req, ino_entry(parent) ? ENOENT : ESTALE);
}

static void famfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	count(OP_FORGET);
	fuse_reply_none(req);
}

static void famfs_forget_multi(fuse_req_t req, size_t n,
			       struct fuse_forget_data *forgets)
{
	(void)n;
	(void)forgets;
	count(OP_BATCH_FORGET);
	fuse_reply_none(req);
}

static void famfs_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct entry *e = ino_entry(ino);
	struct stat st;

	(void)fi;
	count(OP_GETATTR);
	if (!e) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	entry_stat(e, &st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

/* The manifest fixes sizes, modes and owners: nothing to set. */
static void famfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	count(OP_SETATTR);
	fuse_reply_err(req, EPERM);
}

static void famfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	count(OP_READLINK);
	fuse_reply_err(req, EINVAL);
}

/* The namespace is the manifest's: no file or directory comes or goes. */
static void famfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	count(OP_MKNOD);
	fuse_reply_err(req, EPERM);
}

static void famfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	count(OP_MKDIR);
	fuse_reply_err(req, EPERM);
}

static void famfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	count(OP_UNLINK);
	fuse_reply_err(req, EPERM);
}

static void famfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	count(OP_RMDIR);
	fuse_reply_err(req, EPERM);
}

static void famfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	count(OP_SYMLINK);
	fuse_reply_err(req, EPERM);
}

static void famfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	count(OP_RENAME);
	fuse_reply_err(req, EPERM);
}

static void famfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	count(OP_LINK);
	fuse_reply_err(req, EPERM);
}

static void famfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	count(OP_CREATE);
	fuse_reply_err(req, EPERM);
}

static void famfs_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode,
			  struct fuse_file_info *fi)
{
	(void)parent;
	(void)mode;
	(void)fi;
	count(OP_TMPFILE);
	fuse_reply_err(req, EPERM);
}

static void famfs_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct entry *e = ino_entry(ino);

	count(OP_OPEN);
	if (!e) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (e->is_dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	/* O_TRUNC (atomic_o_trunc): famfs sizes never change */
	if (fi->flags & O_TRUNC) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (fs.no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

/* The kernel reads and writes famfs files itself: these only count. */
static void famfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)size;
	(void)off;
	(void)fi;
	count(OP_READ);
	fuse_log(FUSE_LOG_WARNING,
		 "famfs_test_server: READ of inode %" PRIu64
		 " reached the server: is the kernel using the map?\n",
		 (uint64_t)ino);
	fuse_reply_err(req, EIO);
}

static void famfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)buf;
	(void)size;
	(void)off;
	(void)fi;
	count(OP_WRITE);
	fuse_log(FUSE_LOG_WARNING,
		 "famfs_test_server: WRITE of inode %" PRIu64
		 " reached the server: is the kernel using the map?\n",
		 (uint64_t)ino);
	fuse_reply_err(req, EIO);
}

static void famfs_flush(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(OP_FLUSH);
	fuse_reply_err(req, fs.no_open ? ENOSYS : 0);
}

static void famfs_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(OP_RELEASE);
	fuse_reply_err(req, 0);
}

/* The bytes are in the memory already: nothing to flush. */
static void famfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	count(OP_FSYNC);
	fuse_reply_err(req, 0);
}

static void famfs_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct entry *e = ino_entry(ino);

	count(OP_OPENDIR);
	if (!e || !e->is_dir) {
		fuse_reply_err(req, e ? ENOTDIR : ESTALE);
		return;
	}
	fuse_reply_open(req, fi);
}

/* Add one entry to a readdir reply; false when the buffer is full. */
static bool dirent_add(fuse_req_t req, char *buf, size_t size, size_t *used,
		       const char *name, const struct entry *e, off_t next)
{
	struct stat st;
	size_t len;

	entry_stat(e, &st);
	len = fuse_add_direntry(req, buf + *used, size - *used, name, &st,
				next);
	if (len > size - *used)
		return false;
	*used += len;
	return true;
}

/*
 * A directory lists ".", "..", then its children in manifest order; the
 * offset of an entry is its position in that list, from 1.
 */
static void famfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct entry *dir = ino_entry(ino);
	size_t used = 0, i;
	off_t n = 0;
	char *buf;

	(void)fi;
	count(OP_READDIR);
	if (!dir || !dir->is_dir) {
		fuse_reply_err(req, dir ? ENOTDIR : ESTALE);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n++ >= off && !dirent_add(req, buf, size, &used, ".", dir, n))
		goto reply;
	if (n++ >= off &&
	    !dirent_add(req, buf, size, &used, "..", &fs.ent[dir->parent], n))
		goto reply;
	for (i = 1; i < fs.nent; i++) {
		if (&fs.ent[fs.ent[i].parent] != dir)
			continue;
		if (n++ >= off && !dirent_add(req, buf, size, &used,
					      fs.ent[i].name, &fs.ent[i], n))
			break;
	}
reply:
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void famfs_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(OP_RELEASEDIR);
	fuse_reply_err(req, 0);
}

static void famfs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	count(OP_FSYNCDIR);
	fuse_reply_err(req, 0);
}

static void famfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = { .f_bsize = 4096,
			      .f_frsize = 4096,
			      .f_namemax = 255 };
	unsigned int i;

	(void)ino;
	count(OP_STATFS);
	for (i = 0; i < fs.ndevs; i++) {
		sv.f_blocks += fs.dev[i].size / sv.f_frsize;
		sv.f_bfree += dev_free(&fs.dev[i]) / sv.f_frsize;
	}
	sv.f_bavail = sv.f_bfree;
	sv.f_files = fs.nent;
	fuse_reply_statfs(req, &sv);
}

/* No extended attributes: ENOSYS makes the kernel stop asking. */
static void famfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	count(OP_SETXATTR);
	fuse_reply_err(req, ENOSYS);
}

static void famfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	count(OP_GETXATTR);
	fuse_reply_err(req, ENOSYS);
}

static void famfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	(void)size;
	count(OP_LISTXATTR);
	fuse_reply_err(req, ENOSYS);
}

static void famfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	count(OP_REMOVEXATTR);
	fuse_reply_err(req, ENOSYS);
}

static void famfs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	(void)mask;
	count(OP_ACCESS);
	fuse_reply_err(req, ENOSYS);
}

static void famfs_bmap(fuse_req_t req, fuse_ino_t ino, size_t blocksize,
		       uint64_t idx)
{
	(void)ino;
	(void)blocksize;
	(void)idx;
	count(OP_BMAP);
	fuse_reply_err(req, ENOSYS);
}

/* Allocation is the manifest's. */
static void famfs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t offset, off_t length,
			    struct fuse_file_info *fi)
{
	(void)ino;
	(void)mode;
	(void)offset;
	(void)length;
	(void)fi;
	count(OP_FALLOCATE);
	fuse_reply_err(req, EOPNOTSUPP);
}

/* ENOSYS: the kernel copies and seeks by itself. */
static void famfs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
				  off_t off_in, struct fuse_file_info *fi_in,
				  fuse_ino_t ino_out, off_t off_out,
				  struct fuse_file_info *fi_out, size_t len,
				  int flags)
{
	(void)ino_in;
	(void)off_in;
	(void)fi_in;
	(void)ino_out;
	(void)off_out;
	(void)fi_out;
	(void)len;
	(void)flags;
	count(OP_COPY_FILE_RANGE);
	fuse_reply_err(req, ENOSYS);
}

static void famfs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)off;
	(void)whence;
	(void)fi;
	count(OP_LSEEK);
	fuse_reply_err(req, ENOSYS);
}

/*
 * The map of a regular file, built and checked when the manifest was laid
 * out.  fuse_reply_fmap() checks it once more, and its length against the
 * size the kernel takes, so the kernel never gets a bad one.
 */
static void famfs_get_fmap(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)size;
	struct entry *e = ino_entry(ino);

	count(OP_GET_FMAP);
	if (!e || e->is_dir) {
		fuse_reply_err(req, e ? EISDIR : ESTALE);
		return;
	}
	fuse_reply_fmap(req, e->fmap, e->fmap_len);
}

static void famfs_get_daxdev(fuse_req_t req, int index)
{
	count(OP_GET_DAXDEV);
	if (index < 0 || (unsigned int)index >= fs.ndevs) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* dev_open() made it absolute and shorter than DAXDEV_NAME_MAX */
	fuse_reply_daxdev(req, fs.dev[index].path);
}

static const struct fuse_lowlevel_ops famfs_ops = {
	.init = famfs_init,
	.destroy = famfs_destroy,
	.lookup = famfs_lookup,
	.forget = famfs_forget,
	.forget_multi = famfs_forget_multi,
	.getattr = famfs_getattr,
	.setattr = famfs_setattr,
	.readlink = famfs_readlink,
	.mknod = famfs_mknod,
	.mkdir = famfs_mkdir,
	.unlink = famfs_unlink,
	.rmdir = famfs_rmdir,
	.symlink = famfs_symlink,
	.rename = famfs_rename,
	.link = famfs_link,
	.open = famfs_open,
	.read = famfs_read,
	.write = famfs_write,
	.flush = famfs_flush,
	.release = famfs_release,
	.fsync = famfs_fsync,
	.opendir = famfs_opendir,
	.readdir = famfs_readdir,
	.releasedir = famfs_releasedir,
	.fsyncdir = famfs_fsyncdir,
	.statfs = famfs_statfs,
	.setxattr = famfs_setxattr,
	.getxattr = famfs_getxattr,
	.listxattr = famfs_listxattr,
	.removexattr = famfs_removexattr,
	.access = famfs_access,
	.create = famfs_create,
	.bmap = famfs_bmap,
	.fallocate = famfs_fallocate,
	.copy_file_range = famfs_copy_file_range,
	.lseek = famfs_lseek,
	.tmpfile = famfs_tmpfile,
	.get_fmap = famfs_get_fmap,
	.get_daxdev = famfs_get_daxdev,
};

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

enum { KEY_DEV };

static const struct fuse_opt famfs_opts[] = {
	{ "--manifest=%s", offsetof(struct fs, manifest), 1 },
	{ "--stats=%s", offsetof(struct fs, stats), 1 },
	{ "--check", offsetof(struct fs, check), 1 },
	{ "--fake-devices", offsetof(struct fs, fake), 1 },
	{ "--no-open", offsetof(struct fs, no_open), 1 },
	{ "--max-write=%u", offsetof(struct fs, max_write), 0 },
	FUSE_OPT_KEY("--dev=", KEY_DEV),
	FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key != KEY_DEV)
		return 1;
	if (fs.ndevs == MAX_DEVS)
		return fail("at most %d devices", MAX_DEVS);
	fs.dev[fs.ndevs++].arg = strdup(arg + strlen("--dev="));
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s --manifest=FILE --dev=DAXDEV [--dev=DAXDEV...] [options] MOUNTPOINT\n"
	       "       %s --check --manifest=FILE --dev=DAXDEV... [--fake-devices]\n\n"
	       "    --manifest=FILE     files and directories to serve\n"
	       "    --dev=DAXDEV        device-dax bound to fsdev_dax; the n-th is device n\n"
	       "    --stats=FILE        write request counts here on SIGUSR1 and at exit\n"
	       "    --no-open           let the kernel skip OPEN, RELEASE and FLUSH\n"
	       "    --max-write=BYTES   the largest write, and io_uring reply\n"
	       "    --check             lay out, check and print; do not mount\n"
	       "    --fake-devices      with --check: regular files may stand in for devices\n",
	       prog, prog);
}

/* Make a path absolute: the daemon changes to / */
static const char *absolute(const char *p)
{
	char cwd[PATH_MAX], *abs;

	if (!p || *p == '/' || !getcwd(cwd, sizeof(cwd)))
		return p;
	if (asprintf(&abs, "%s/%s", cwd, p) < 0)
		abort();
	return abs;
}

/* Devices, manifest, layout: everything before the mount. */
static int prepare(void)
{
	unsigned int i;

	if (!fs.manifest)
		return fail("no --manifest");
	if (!fs.ndevs)
		return fail("no --dev");
	if (fs.fake && !fs.check)
		return fail("--fake-devices only goes with --check");
	for (i = 0; i < fs.ndevs; i++)
		if (dev_open(&fs.dev[i]))
			return -1;
	if (parse_manifest() || lay_out())
		return -1;
	if (fs.check)
		print_layout();
	return 0;
}

static int serve(struct fuse_args *args, struct fuse_cmdline_opts *opts)
{
	static sigset_t set;
	pthread_t thr;
	int ret;

	/* Before the mount: a SIGUSR1 must never find it unblocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	fuse_opt_add_arg(args, "-odefault_permissions");
	fuse_opt_add_arg(args, "-ofsname=famfs_test_server,subtype=famfs");
	fs.se = fuse_session_new(args, &famfs_ops, sizeof(famfs_ops), NULL);
	if (!fs.se)
		return 1;
	if (fuse_set_signal_handlers(fs.se))
		goto out_destroy;
	if (fuse_session_mount(fs.se, opts->mountpoint))
		goto out_signals;
	fuse_daemonize(opts->foreground);
	if (pthread_create(&thr, NULL, stats_thread, &set) == 0)
		pthread_detach(thr);
	ret = fuse_session_loop(fs.se);
	fuse_session_unmount(fs.se);
	stats_write();
	fuse_remove_signal_handlers(fs.se);
	fuse_session_destroy(fs.se);
	return ret || fs.no_fmap ? 1 : 0;
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_destroy:
	fuse_session_destroy(fs.se);
	return 1;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	int ret = 1;

	if (fuse_opt_parse(&args, &fs, famfs_opts, opt_proc) ||
	    fuse_parse_cmdline(&args, &opts))
		return 1;
	if (opts.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (opts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	fs.stats = absolute(fs.stats);
	if (!fs.check && !opts.mountpoint) {
		fail("no mount point (--check does not need one)");
		goto out;
	}
	if (prepare())
		goto out;
	if (fs.check) {
		ret = 0;
		goto out;
	}
	ret = serve(&args, &opts);
out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
