/*
  FUSE: Filesystem in Userspace
  famfs_ll: a small famfs server on the low-level API

  This program can be distributed under the terms of the GNU GPLv2.
  See the file GPL2.txt.
*/

/** @file
 *
 * A small famfs file system.  famfs files live on shared device-dax
 * memory (CXL type-3 memory, /dev/daxN.M bound to fsdev_dax).  The server
 * owns the namespace and says where each file's bytes are; the kernel
 * asks it once per file for the file's map (get_fmap).  The devices the
 * maps name are registered by the server, which opens them and hands the
 * kernel the fds (fuse_daxdev_open()), or, on kernels without that, or
 * with --pull, the kernel asks for each device's path (get_daxdev).
 * From then on read(2), write(2) and page faults go to the memory without
 * any request to the server: this server has no read or write method at
 * all.
 *
 * It serves two files of fixed size and place, in the root directory:
 *
 *   simple       4 MiB: one simple extent, device 0 at offset 0;
 *   interleaved  8 MiB: one interleaved extent over every device given,
 *                in 2 MiB chunks (file chunk k is on device k % ndevs);
 *                its strip on each device starts at 4 MiB.
 *
 * The same devices given in the same order give the same files, on every
 * mount and on every host that shares the memory.  Files keep their size
 * and the namespace never changes: creating, removing, renaming and
 * setattr (truncate, chmod, utimes...) fail with EPERM.  The files can be
 * written: the file system is not read-only.
 *
 * The kernel must offer famfs (FUSE_CAP_DAX_FMAP: CONFIG_FUSE_FAMFS_DAX,
 * and both the mounter and this server have CAP_SYS_RAWIO).  Without it
 * the data path would come to a server that has none: the server says so,
 * unmounts and exits 1.
 *
 * Compile with:
 *
 *     gcc -Wall famfs_ll.c `pkg-config fuse3 --cflags --libs` -o famfs_ll
 *
 * Usage:
 *
 *     famfs_ll --dev=/dev/dax0.0 [--dev=/dev/dax1.0 ...] [--pull] [-f]
 *              [-s | -o clone_fd] MOUNTPOINT
 *
 * Like the other examples it runs worker threads unless given -s.
 *
 * ## Source code ##
 * \include famfs_ll.c
 */

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 18)

#include <fuse_lowlevel.h>
#include <fuse_famfs.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MIB (1ULL << 20)
#define FAMFS_ALIGN (2 * MIB) /* offsets, lengths and chunks */
#define SIMPLE_SIZE (4 * MIB)
#define INTERLEAVED_SIZE (8 * MIB)
#define INTERLEAVED_OFFSET SIMPLE_SIZE /* after /simple on device 0 */
#define CHUNK_SIZE (2 * MIB)
#define TIMEOUT 86400.0 /* nothing ever changes */

enum { ROOT_INO = FUSE_ROOT_ID, SIMPLE_INO, INTERLEAVED_INO, NR_INO };

struct famfs_file {
	const char *name;
	uint64_t size;
	size_t fmap_len;
	/* the get_fmap reply: a header and its extents (fuse_famfs.h) */
	union {
		struct fuse_famfs_fmap_header hdr;
		unsigned char buf[sizeof(struct fuse_famfs_fmap_header) +
				  sizeof(struct fuse_famfs_iext) +
				  FUSE_FAMFS_MAX_DAXDEVS *
					  sizeof(struct fuse_famfs_simple_ext)];
	} fmap;
};

static struct famfs {
	char *dev[FUSE_FAMFS_MAX_DAXDEVS]; /* absolute paths, by index */
	unsigned int ndevs;
	struct famfs_file file[NR_INO];
	struct fuse_session *se;
	bool no_fmap; /* the kernel did not offer FUSE_CAP_DAX_FMAP */
	bool pull; /* --pull: leave the devices to get_daxdev */
	bool registered; /* the devices were offered by fd */
	pthread_mutex_t lock; /* for registered: lookups may run in parallel */
} fs = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.file = {
		[SIMPLE_INO] = { .name = "simple", .size = SIMPLE_SIZE },
		[INTERLEAVED_INO] = { .name = "interleaved",
				      .size = INTERLEAVED_SIZE },
	},
};

/* ------------------------------------------------------------------ */
/* The maps                                                           */
/* ------------------------------------------------------------------ */

/* /simple: one simple extent on device 0 */
static void build_simple(struct famfs_file *f)
{
	struct fuse_famfs_fmap_header *h = &f->fmap.hdr;
	struct fuse_famfs_simple_ext *se = (void *)(h + 1);

	h->file_type = FUSE_FAMFS_FILE_REG;
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = FUSE_FAMFS_EXT_SIMPLE;
	h->nextents = 1;
	h->file_size = f->size;
	se->se_devindex = 0;
	se->se_offset = 0;
	se->se_len = SIMPLE_SIZE;
	f->fmap_len = sizeof(*h) + sizeof(*se);
}

/*
 * /interleaved: one interleaved extent, a strip on each device.  Chunk k
 * of the file is on strip k % ndevs, so each strip holds
 * ceil(chunks / ndevs) chunks.
 */
static void build_interleaved(struct famfs_file *f)
{
	struct fuse_famfs_fmap_header *h = &f->fmap.hdr;
	struct fuse_famfs_iext *ie = (void *)(h + 1);
	struct fuse_famfs_simple_ext *se = (void *)(ie + 1);
	uint64_t chunks = (f->size + CHUNK_SIZE - 1) / CHUNK_SIZE;
	uint64_t strip_len = (chunks + fs.ndevs - 1) / fs.ndevs * CHUNK_SIZE;
	unsigned int i;

	h->file_type = FUSE_FAMFS_FILE_REG;
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = FUSE_FAMFS_EXT_INTERLEAVE;
	h->nextents = 1;
	h->file_size = f->size;
	ie->ie_nstrips = fs.ndevs;
	ie->ie_chunk_size = CHUNK_SIZE;
	ie->ie_nbytes = f->size;
	for (i = 0; i < fs.ndevs; i++) {
		se[i].se_devindex = i;
		se[i].se_offset = INTERLEAVED_OFFSET;
		se[i].se_len = strip_len;
	}
	f->fmap_len = sizeof(*h) + sizeof(*ie) + fs.ndevs * sizeof(*se);
}

/*
 * Build both maps and check them the way the kernel will: a server finds
 * a bad map at start, not at the first open of the file.
 */
static int build_maps(void)
{
	int i;

	build_simple(&fs.file[SIMPLE_INO]);
	build_interleaved(&fs.file[INTERLEAVED_INO]);
	for (i = SIMPLE_INO; i < NR_INO; i++) {
		if (fuse_famfs_fmap_check(fs.file[i].fmap.buf,
					  fs.file[i].fmap_len)) {
			fprintf(stderr,
				"famfs_ll: the map of /%s is not valid\n",
				fs.file[i].name);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Devices                                                            */
/* ------------------------------------------------------------------ */

/*
 * Check a --dev argument and remember its absolute path (what get_daxdev
 * sends): a character device with room for the files' extents.  The size
 * of a device-dax device is in sysfs, next to its other attributes.
 */
static int add_dev(const char *arg)
{
	char path[PATH_MAX], sysfs[64];
	unsigned long long size;
	uint64_t need;
	struct stat st;
	FILE *f;
	int n = 0;

	if (fs.ndevs == FUSE_FAMFS_MAX_DAXDEVS) {
		fprintf(stderr, "famfs_ll: at most %d devices\n",
			FUSE_FAMFS_MAX_DAXDEVS);
		return -1;
	}
	if (!realpath(arg, path) || stat(path, &st)) {
		fprintf(stderr, "famfs_ll: %s: %s\n", arg, strerror(errno));
		return -1;
	}
	if (!S_ISCHR(st.st_mode) || strlen(path) >= DAXDEV_NAME_MAX) {
		fprintf(stderr, "famfs_ll: %s: not a device-dax device\n", arg);
		return -1;
	}
	snprintf(sysfs, sizeof(sysfs), "/sys/dev/char/%u:%u/size",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(sysfs, "r");
	if (f) {
		n = fscanf(f, "%llu", &size);
		fclose(f);
	}
	if (n != 1) {
		fprintf(stderr, "famfs_ll: %s: no size in %s\n", arg, sysfs);
		return -1;
	}
	need = INTERLEAVED_OFFSET + INTERLEAVED_SIZE;
	if (size < need) {
		fprintf(stderr,
			"famfs_ll: %s: %llu bytes, the files need %" PRIu64
			"\n",
			arg, size, need);
		return -1;
	}
	fs.dev[fs.ndevs] = strdup(path);
	if (!fs.dev[fs.ndevs])
		return -1;
	fs.ndevs++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

static bool is_file(fuse_ino_t ino)
{
	return ino >= SIMPLE_INO && ino < NR_INO;
}

static int famfs_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (ino == ROOT_INO) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!is_file(ino))
		return -1;
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = fs.file[ino].size;
	st->st_blksize = FAMFS_ALIGN;
	st->st_blocks = fs.file[ino].size / 512;
	return 0;
}

static void famfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;

	/*
	 * The one thing that makes this a famfs server.  Without it the
	 * kernel would send READ and WRITE, which this server cannot answer.
	 */
	if (!fuse_set_feature_flag(conn, FUSE_CAP_DAX_FMAP)) {
		fuse_log(FUSE_LOG_ERR,
			 "famfs_ll: the kernel does not offer famfs "
			 "(FUSE_CAP_DAX_FMAP: CONFIG_FUSE_FAMFS_DAX, and "
			 "CAP_SYS_RAWIO for the mounter and the server)\n");
		fs.no_fmap = true;
		fuse_session_exit(fs.se);
	}
}

/*
 * Register every device with the kernel: the server opens it (so the
 * device node's permissions apply to the server) and passes the fd.  The
 * kernel keeps the device, not the fd.  A kernel without the ioctl says
 * ENOTTY: it will ask for the devices' paths with get_daxdev instead.
 * Done once, before the first map is asked for (the first lookup).
 */
static void register_devs(fuse_req_t req)
{
	unsigned int i;
	int fd, ret;

	fs.registered = true;
	for (i = 0; i < fs.ndevs; i++) {
		fd = open(fs.dev[i], O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			fuse_log(FUSE_LOG_ERR, "famfs_ll: %s: %s\n", fs.dev[i],
				 strerror(errno));
			continue;
		}
		ret = fuse_daxdev_open(req, fd, i);
		close(fd);
		if (ret == -ENOTTY) {
			fuse_log(
				FUSE_LOG_INFO,
				"famfs_ll: the kernel asks for devices by path\n");
			return;
		}
		if (ret <= 0)
			fuse_log(FUSE_LOG_ERR, "famfs_ll: device %u: %s\n", i,
				 strerror(-ret));
		else
			fuse_log(FUSE_LOG_INFO,
				 "famfs_ll: device %u registered by fd: %s\n",
				 i, fs.dev[i]);
	}
}

static void famfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	fuse_ino_t ino;

	pthread_mutex_lock(&fs.lock);
	if (!fs.registered && !fs.pull)
		register_devs(req);
	pthread_mutex_unlock(&fs.lock);

	for (ino = SIMPLE_INO; ino < NR_INO; ino++)
		if (parent == ROOT_INO && !strcmp(name, fs.file[ino].name))
			break;
	if (ino == NR_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr_timeout = TIMEOUT;
	e.entry_timeout = TIMEOUT;
	famfs_stat(ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void famfs_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (famfs_stat(ino, &st))
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, TIMEOUT);
}

static void famfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	static const char *const dots[] = { ".", ".." };
	char *buf, *p;
	struct stat st;
	size_t len;
	off_t i;

	(void)fi;
	if (ino != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	buf = p = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Entry i is ".", "..", then the files; its offset is i + 1. */
	for (i = off; i < 2 + NR_INO - SIMPLE_INO; i++) {
		fuse_ino_t e = i < 2 ? ROOT_INO : SIMPLE_INO + i - 2;

		famfs_stat(e, &st);
		len = fuse_add_direntry(req, p, size - (p - buf),
					i < 2 ? dots[i] : fs.file[e].name, &st,
					i + 1);
		if (len > size - (p - buf))
			break;
		p += len;
	}
	fuse_reply_buf(req, buf, p - buf);
	free(buf);
}

static void famfs_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	if (ino == ROOT_INO)
		fuse_reply_err(req, EISDIR);
	else if (fi->flags & O_TRUNC) /* sizes never change */
		fuse_reply_err(req, EPERM);
	else
		fuse_reply_open(req, fi);
}

/*
 * The namespace and the sizes are fixed: nothing is created, removed,
 * renamed, truncated or changed.  EPERM ("Operation not permitted"), not
 * EROFS: the files can be written.
 */
static void famfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	fuse_reply_err(req, EPERM);
}

static void famfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EPERM);
}

static void famfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EPERM);
}

static void famfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EPERM);
}

static void famfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void famfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

/* unlink and rmdir */
static void famfs_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
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
	fuse_reply_err(req, EPERM);
}

/*
 * The map of a file, sent on its first open.  fuse_reply_fmap() checks it
 * again, and that it fits in the size the kernel offered, before sending.
 */
static void famfs_get_fmap(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)size;
	if (!is_file(ino)) {
		fuse_reply_err(req, ino == ROOT_INO ? EISDIR : ENOENT);
		return;
	}
	fuse_reply_fmap(req, fs.file[ino].fmap.buf, fs.file[ino].fmap_len);
}

/*
 * The device behind an index of the maps, when it was not registered: the
 * kernel opens it by path, as this server would.
 */
static void famfs_get_daxdev(fuse_req_t req, int index)
{
	if (index < 0 || (unsigned int)index >= fs.ndevs) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_log(FUSE_LOG_INFO, "famfs_ll: device %d asked for by path: %s\n",
		 index, fs.dev[index]);
	fuse_reply_daxdev(req, fs.dev[index]);
}

/*
 * Left out, libfuse answers for them: read and write (never sent on a
 * famfs connection), opendir, release, releasedir (success), flush and
 * fsync (ENOSYS: the kernel stops sending them; the bytes are in the
 * memory already), statfs (a default), xattrs, access, lseek,
 * copy_file_range, fallocate, tmpfile (ENOSYS: the kernel does without or
 * refuses).
 */
static const struct fuse_lowlevel_ops famfs_ops = {
	.init = famfs_init,
	.lookup = famfs_lookup,
	.getattr = famfs_getattr,
	.readdir = famfs_readdir,
	.open = famfs_open,
	.setattr = famfs_setattr,
	.mknod = famfs_mknod,
	.create = famfs_create,
	.mkdir = famfs_mkdir,
	.symlink = famfs_symlink,
	.link = famfs_link,
	.unlink = famfs_remove,
	.rmdir = famfs_remove,
	.rename = famfs_rename,
	.get_fmap = famfs_get_fmap,
	.get_daxdev = famfs_get_daxdev,
};

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

enum { KEY_DEV, KEY_PULL };

static const struct fuse_opt famfs_opts[] = { FUSE_OPT_KEY("--dev=", KEY_DEV),
					      FUSE_OPT_KEY("--pull", KEY_PULL),
					      FUSE_OPT_END };

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == KEY_PULL) {
		fs.pull = true;
		return 0;
	}
	if (key != KEY_DEV)
		return 1; /* not ours: keep it */
	return add_dev(arg + strlen("--dev=")) ? -1 : 0;
}

static void usage(const char *prog)
{
	printf("usage: %s --dev=DAXDEV [--dev=DAXDEV ...] [options] MOUNTPOINT\n\n"
	       "    --dev=DAXDEV   a device-dax device bound to fsdev_dax; the n-th\n"
	       "                   is device n of the maps (at least one)\n"
	       "    --pull         do not register the devices: the kernel asks\n"
	       "                   for their paths (get_daxdev)\n\n",
	       prog);
}

/* -s: one thread; otherwise worker threads, each on its own fd with -o clone_fd */
static int famfs_loop(const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config *config;
	int ret;

	if (opts->singlethread)
		return fuse_session_loop(fs.se);
	config = fuse_loop_cfg_create();
	if (!config)
		return -1;
	fuse_loop_cfg_set_clone_fd(config, opts->clone_fd);
	fuse_loop_cfg_set_max_threads(config, opts->max_threads);
	ret = fuse_session_loop_mt(fs.se, config);
	fuse_loop_cfg_destroy(config);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	int ret = 1;

	if (fuse_opt_parse(&args, NULL, famfs_opts, opt_proc) ||
	    fuse_parse_cmdline(&args, &opts))
		goto out;
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
	if (!opts.mountpoint || !fs.ndevs) {
		usage(argv[0]);
		goto out;
	}
	if (build_maps())
		goto out;

	/* The kernel checks permissions: the server has no access method. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	fuse_opt_add_arg(&args, "-ofsname=famfs_ll,subtype=famfs");
	fs.se = fuse_session_new(&args, &famfs_ops, sizeof(famfs_ops), NULL);
	if (!fs.se)
		goto out;
	if (fuse_set_signal_handlers(fs.se))
		goto out_destroy;
	if (fuse_session_mount(fs.se, opts.mountpoint))
		goto out_signals;
	fuse_daemonize(opts.foreground);
	ret = famfs_loop(&opts) || fs.no_fmap;
	fuse_session_unmount(fs.se);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_destroy:
	fuse_session_destroy(fs.se);
out:
	while (fs.ndevs)
		free(fs.dev[--fs.ndevs]);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
