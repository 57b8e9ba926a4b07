// SPDX-License-Identifier: GPL-2.0
/*
 * famfs selftest FUSE server: see famfs_srv.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/capability.h>

#include "famfs_srv.h"

#define ROOT_ID		FUSE_ROOT_ID
#define FILE_ID0	100
#define BUFSZ		((1 << 20) + 4096)

static void reply(struct srv *s, uint64_t unique, int err, const void *p,
		  size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + (err ? 0 : len),
		.error = -err,
		.unique = unique,
	};
	struct iovec iov[] = {
		{ .iov_base = &oh, .iov_len = sizeof(oh) },
		{ .iov_base = (void *)p, .iov_len = err ? 0 : len },
	};

	if (writev(s->fd, iov, 2) < 0 && errno != ENOENT)
		;	/* the kernel gave up on the request: nothing to do */
}

static struct srv_file *file_of(struct srv *s, uint64_t nodeid)
{
	if (nodeid >= SRV_DYN_ID0 && s->dyn)
		return s->dyn;
	if (nodeid < FILE_ID0 || nodeid >= FILE_ID0 + (uint64_t)s->nfiles)
		return NULL;
	return &s->files[nodeid - FILE_ID0];
}

static void fill_attr(struct srv *s, uint64_t nodeid, struct fuse_attr *a)
{
	struct srv_file *f = file_of(s, nodeid);

	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->nlink = 1;
	a->blksize = 4096;
	if (nodeid == ROOT_ID || !f) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = f->mode ? f->mode : S_IFREG | 0666;
		a->size = f->size;
		a->blocks = (a->size + 511) / 512;
		a->mtime = f->mtime;
		a->ctime = f->mtime;
	}
}

static void do_init(struct srv *s, struct fuse_in_header *ih, void *arg)
{
	struct fuse_init_in *in = arg;
	struct fuse_init_out out = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = in->max_readahead,
		.max_write = 1 << 20,
		.max_pages = 256,
		.time_gran = 1,
	};
	uint64_t flags = in->flags;

	if (flags & FUSE_INIT_EXT)
		flags |= (uint64_t)in->flags2 << 32;
	s->init_flags = flags;
	flags = FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_BIG_WRITES;
	if (!s->no_dax_fmap)
		flags |= s->init_flags & FUSE_DAX_FMAP;
	flags |= s->init_flags & s->init_extra;
	out.flags = flags;
	out.flags2 = flags >> 32;
	reply(s, ih->unique, 0, &out, sizeof(out));
	__atomic_store_n(&s->inited, 1, __ATOMIC_SEQ_CST);
}

static void do_lookup(struct srv *s, struct fuse_in_header *ih, char *name)
{
	struct fuse_entry_out out = {};
	int i;

	char *end;

	out.attr_valid = 3600;
	out.entry_valid = 3600;
	for (i = 0; i < s->nfiles; i++) {
		if (ih->nodeid != ROOT_ID || strcmp(name, s->files[i].name))
			continue;
		out.nodeid = FILE_ID0 + i;
		fill_attr(s, out.nodeid, &out.attr);
		reply(s, ih->unique, 0, &out, sizeof(out));
		return;
	}
	if (ih->nodeid == ROOT_ID && s->dyn && name[0] == 'z') {
		out.nodeid = SRV_DYN_ID0 + strtoull(name + 1, &end, 10);
		if (!*end) {
			fill_attr(s, out.nodeid, &out.attr);
			reply(s, ih->unique, 0, &out, sizeof(out));
			return;
		}
	}
	reply(s, ih->unique, ENOENT, NULL, 0);
}

static void do_getattr(struct srv *s, struct fuse_in_header *ih)
{
	struct fuse_attr_out out = { .attr_valid = 3600 };

	if (ih->nodeid != ROOT_ID && !file_of(s, ih->nodeid)) {
		reply(s, ih->unique, ENOENT, NULL, 0);
		return;
	}
	fill_attr(s, ih->nodeid, &out.attr);
	reply(s, ih->unique, 0, &out, sizeof(out));
}

static void do_setattr(struct srv *s, struct fuse_in_header *ih, void *arg)
{
	struct fuse_setattr_in *in = arg;
	struct srv_file *f = file_of(s, ih->nodeid);
	struct fuse_attr_out out = { .attr_valid = 3600 };

	if (!f) {
		reply(s, ih->unique, EPERM, NULL, 0);
		return;
	}
	__atomic_store_n(&s->setattr_mode, in->mode, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->setattr_valid, in->valid, __ATOMIC_SEQ_CST);
	if (in->valid & FATTR_SIZE)
		f->size = in->size;
	if (in->valid & FATTR_MODE)
		f->mode = S_IFREG | (in->mode & 07777);
	fill_attr(s, ih->nodeid, &out.attr);
	reply(s, ih->unique, 0, &out, sizeof(out));
}

static void do_get_fmap(struct srv *s, struct fuse_in_header *ih, void *arg)
{
	struct fuse_getxattr_in *in = arg;
	struct srv_file *f = file_of(s, ih->nodeid);
	struct fuse_famfs_fmap_header h;
	const void *map;
	size_t len;
	uint32_t claim;

	if (!f) {
		reply(s, ih->unique, ENOENT, NULL, 0);
		return;
	}
	__atomic_add_fetch(&f->fmap_count, 1, __ATOMIC_SEQ_CST);
	if (s->delay_us)
		usleep(s->delay_us);
	if (f->fmap_err) {
		reply(s, ih->unique, f->fmap_err, NULL, 0);
		return;
	}
	map = f->big ? f->big : f->fmap;
	len = f->big ? f->big_len : f->fmap_len;
	claim = f->fmap_lie ? in->size + 4096 : f->fmap_claim;
	if (!claim && f->fmap_probe && len > in->size)
		claim = len;
	if (claim) {
		/* the map does not fit: the header alone says how large it is */
		memcpy(&h, map, sizeof(h));
		h.fmap_size = claim;
		reply(s, ih->unique, 0, &h, sizeof(h));
		return;
	}
	reply(s, ih->unique, 0, map, len);
}

static void do_get_daxdev(struct srv *s, struct fuse_in_header *ih)
{
	struct fuse_daxdev_out out = {};
	struct srv_dev *d;
	size_t n;

	if (ih->nodeid >= SRV_MAX_DEVS) {
		reply(s, ih->unique, EINVAL, NULL, 0);
		return;
	}
	d = &s->devs[ih->nodeid];
	if (s->delay_us)
		usleep(s->delay_us);
	if (d->err) {
		reply(s, ih->unique, d->err, NULL, 0);
		return;
	}
	out.index = ih->nodeid + d->index_delta;
	n = d->name_len ? d->name_len : strlen(d->name) + 1;
	memcpy(out.name, d->name, n > sizeof(out.name) ? sizeof(out.name) : n);
	reply(s, ih->unique, 0, &out, sizeof(out));
}

/* FUSE_CREATE, FUSE_TMPFILE: a new file with the template's map, opened */
static void do_create(struct srv *s, struct fuse_in_header *ih, void *arg)
{
	const char *name = (const char *)arg + sizeof(struct fuse_create_in);
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out = {};
	struct srv_file *f;
	int n = s->nfiles;

	if (!s->create_tmpl || ih->nodeid != ROOT_ID) {
		reply(s, ih->unique, s->create_tmpl ? EPERM : ENOSYS, NULL, 0);
		return;
	}
	if (n >= SRV_MAX_FILES) {
		reply(s, ih->unique, ENOSPC, NULL, 0);
		return;
	}
	f = &s->files[n];
	*f = *s->create_tmpl;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->fmap_count = 0;
	__atomic_store_n(&s->nfiles, n + 1, __ATOMIC_SEQ_CST);
	out.e.nodeid = FILE_ID0 + n;
	out.e.attr_valid = 3600;
	out.e.entry_valid = 3600;
	fill_attr(s, out.e.nodeid, &out.e.attr);
	reply(s, ih->unique, 0, &out, sizeof(out));
}

/*
 * What a server that had these (the kernel must not ask) would answer:
 * success, so that a kernel that asked would go on as if it was done.
 */
static void do_success(struct srv *s, struct fuse_in_header *ih, void *arg)
{
	const struct fuse_copy_file_range_in *cin = arg;
	const struct fuse_lseek_in *lin = arg;
	struct fuse_copy_file_range_out c64 = {};
	struct fuse_lseek_out lo = {};
	struct fuse_write_out wo = {};

	switch (ih->opcode) {
	case FUSE_LSEEK:
		lo.offset = lin->offset;
		reply(s, ih->unique, 0, &lo, sizeof(lo));
		break;
	case FUSE_COPY_FILE_RANGE:
		wo.size = cin->len > UINT32_MAX ? UINT32_MAX : cin->len;
		reply(s, ih->unique, 0, &wo, sizeof(wo));
		break;
	case FUSE_COPY_FILE_RANGE_64:
		c64.bytes_copied = cin->len;
		reply(s, ih->unique, 0, &c64, sizeof(c64));
		break;
	default:	/* FUSE_FALLOCATE */
		reply(s, ih->unique, 0, NULL, 0);
	}
}

/**
 * caps_drop() - drop capabilities from the calling thread only
 * @mask: bit n drops capability n from the effective, permitted and
 *	  inheritable sets
 *
 * Return: 0, or -1 with errno set.
 */
int caps_drop(uint64_t mask)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	int i;

	if (syscall(SYS_capget, &h, d))
		return -1;
	for (i = 0; i < 2; i++) {
		d[i].effective &= ~(uint32_t)(mask >> (32 * i));
		d[i].permitted &= ~(uint32_t)(mask >> (32 * i));
		d[i].inheritable &= ~(uint32_t)(mask >> (32 * i));
	}
	return syscall(SYS_capset, &h, d);
}

/* The server thread's own namespace and credentials: see struct srv_setup. */
static int srv_thread_setup(const struct srv_setup *st)
{
	gid_t g = SRV_NOBODY;
	uid_t u = SRV_NOBODY;

	if (st->bind_src) {
		/* a thread may: CLONE_NEWNS implies CLONE_FS */
		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(st->bind_src, st->bind_dst, NULL, MS_BIND, NULL))
			return errno;
	}
	if (st->drop_caps && caps_drop(st->drop_caps))
		return errno;
	/* leaving uid 0 clears the thread's capabilities */
	if (st->nobody && (syscall(SYS_setgroups, 0, NULL) ||
			   syscall(SYS_setresgid, g, g, g) ||
			   syscall(SYS_setresuid, u, u, u)))
		return errno;
	return 0;
}

static void *srv_loop(void *arg)
{
	struct srv *s = arg;
	unsigned char *buf = malloc(BUFSZ);

	s->setup_err = srv_thread_setup(&s->setup);
	while (buf) {
		struct fuse_in_header *ih = (void *)buf;
		void *in = buf + sizeof(*ih);
		struct fuse_open_out oo = {};
		struct fuse_statfs_out so = {};
		ssize_t n = read(s->fd, buf, BUFSZ);

		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n < (ssize_t)sizeof(*ih))
			break;		/* ENODEV: unmounted or aborted */
		if (ih->opcode < 64)
			__atomic_add_fetch(&s->counts[ih->opcode], 1, __ATOMIC_SEQ_CST);
		else
			__atomic_add_fetch(&s->cnt_other, 1, __ATOMIC_SEQ_CST);
		if ((int)ih->opcode == s->die_on) {
			/* a dead server: its /dev/fuse file goes away */
			close(s->fd);
			__atomic_store_n(&s->dead, true, __ATOMIC_SEQ_CST);
			break;
		}
		if ((int)ih->opcode == s->hang_on)
			continue;
		switch (ih->opcode) {
		case FUSE_INIT:
			do_init(s, ih, in);
			break;
		case FUSE_LOOKUP:
			do_lookup(s, ih, in);
			break;
		case FUSE_GETATTR:
			do_getattr(s, ih);
			break;
		case FUSE_SETATTR:
			do_setattr(s, ih, in);
			break;
		case FUSE_OPEN:
		case FUSE_OPENDIR:
			reply(s, ih->unique, 0, &oo, sizeof(oo));
			break;
		case FUSE_RELEASE:
		case FUSE_RELEASEDIR:
		case FUSE_FLUSH:
		case FUSE_FSYNC:
		case FUSE_DESTROY:
			reply(s, ih->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
			break;
		case FUSE_STATFS:
			so.st.bsize = 4096;
			so.st.namelen = 255;
			reply(s, ih->unique, 0, &so, sizeof(so));
			break;
		case FUSE_GET_FMAP:
			do_get_fmap(s, ih, in);
			break;
		case FUSE_GET_DAXDEV:
			do_get_daxdev(s, ih);
			break;
		case FUSE_CREATE:
		case FUSE_TMPFILE:
			do_create(s, ih, in);
			break;
		case FUSE_LSEEK:
		case FUSE_COPY_FILE_RANGE:
		case FUSE_COPY_FILE_RANGE_64:
		case FUSE_FALLOCATE:
			do_success(s, ih, in);
			break;
		default:
			reply(s, ih->unique, ENOSYS, NULL, 0);
		}
	}
	free(buf);
	return NULL;
}

/**
 * srv_mount() - mount the server's file system on a new directory
 * @s: the server, configured
 *
 * Return: 0, or -errno.
 */
int srv_mount(struct srv *s)
{
	struct stat st;
	char opts[128];
	unsigned int id;
	int i;

	s->inited = 0;
	s->setup_err = 0;
	s->dead = false;
	strcpy(s->mnt, "/tmp/famfs-kst.XXXXXX");
	if (!mkdtemp(s->mnt))
		return -errno;
	s->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	id = s->fusermount ? SRV_NOBODY : 0;
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other",
		 s->fd, id, id);
	if (mount("famfs-kst", s->mnt, "fuse",
		  s->fusermount ? MS_NOSUID | MS_NODEV : 0, opts))
		return -errno;
	if (pthread_create(&s->thread, NULL, srv_loop, s))
		return -EAGAIN;
	/* FUSE_INIT is answered asynchronously: wait for it */
	for (i = 0; i < 1000 && !__atomic_load_n(&s->inited, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	if (!s->inited)
		return -ETIMEDOUT;
	if (s->setup_err)
		return -s->setup_err;
	if (stat(s->mnt, &st))
		return -errno;
	s->conn = minor(st.st_dev);
	return 0;
}

/**
 * srv_umount() - unmount and stop the server
 * @s: the server
 */
void srv_umount(struct srv *s)
{
	srv_abort(s);
	umount2(s->mnt, MNT_DETACH);
	pthread_join(s->thread, NULL);
	if (!s->dead)
		close(s->fd);
	s->fd = -1;
	rmdir(s->mnt);
}

/**
 * srv_abort() - abort the connection through fusectl
 * @s: the server
 *
 * Every pending and future request fails; the server's read() returns.
 */
void srv_abort(struct srv *s)
{
	char p[64];
	int fd;

	snprintf(p, sizeof(p), "/sys/fs/fuse/connections/%u/abort", s->conn);
	fd = open(p, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			;	/* already gone */
		close(fd);
	}
}

uint64_t srv_count(struct srv *s, int opcode)
{
	return __atomic_load_n(&s->counts[opcode], __ATOMIC_SEQ_CST);
}

struct srv_file *srv_add_file(struct srv *s, const char *name, uint64_t size)
{
	struct srv_file *f = &s->files[s->nfiles++];

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->size = size;
	return f;
}

/* The file named @name, or NULL. */
struct srv_file *srv_file(struct srv *s, const char *name)
{
	int i, n = __atomic_load_n(&s->nfiles, __ATOMIC_SEQ_CST);

	for (i = 0; i < n; i++)
		if (!strcmp(s->files[i].name, name))
			return &s->files[i];
	return NULL;
}

/* The node id of a file of @s's table: what notifications name it by. */
uint64_t srv_nodeid(struct srv *s, const struct srv_file *f)
{
	return FILE_ID0 + (f - s->files);
}

/**
 * srv_notify() - send a notification to the kernel, as the server would
 * @s: the server, mounted
 * @code: FUSE_NOTIFY_*
 * @arg: its argument structure
 * @len: bytes of @arg
 * @data: bytes that follow it (FUSE_NOTIFY_STORE), or NULL
 * @dlen: bytes of @data
 *
 * Return: 0, or -errno of the write to /dev/fuse: the kernel's answer.
 */
int srv_notify(struct srv *s, int code, const void *arg, size_t len,
	       const void *data, size_t dlen)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len + dlen,
		.error = code,
		.unique = 0,
	};
	unsigned char *buf = malloc(oh.len);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &oh, sizeof(oh));
	memcpy(buf + sizeof(oh), arg, len);
	if (dlen)
		memcpy(buf + sizeof(oh) + len, data, dlen);
	n = write(s->fd, buf, oh.len);
	free(buf);
	if (n < 0)
		return -errno;
	return (size_t)n == oh.len ? 0 : -EIO;
}

void fm_hdr(struct srv_file *f, uint32_t ext_type, uint32_t nextents,
	    uint64_t size)
{
	struct fuse_famfs_fmap_header *h = (void *)f->fmap;

	memset(f->fmap, 0, sizeof(f->fmap));
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->file_type = FUSE_FAMFS_FILE_REG;
	h->ext_type = ext_type;
	h->nextents = nextents;
	h->file_size = size;
	f->fmap_len = sizeof(*h);
}

void fm_se(struct srv_file *f, uint32_t dev, uint64_t off, uint64_t len)
{
	struct fuse_famfs_simple_ext *se = (void *)(f->fmap + f->fmap_len);

	se->se_devindex = dev;
	se->se_offset = off;
	se->se_len = len;
	f->fmap_len += sizeof(*se);
}

void fm_ie(struct srv_file *f, uint32_t nstrips, uint32_t chunk,
	   uint64_t nbytes)
{
	struct fuse_famfs_iext *ie = (void *)(f->fmap + f->fmap_len);

	ie->ie_nstrips = nstrips;
	ie->ie_chunk_size = chunk;
	ie->ie_nbytes = nbytes;
	f->fmap_len += sizeof(*ie);
}
