/*
  FUSE: Filesystem in Userspace

  The smallest famfs server: built by test/cases/famfs/install.sh against an
  installed libfuse alone (pkg-config fuse3), which it shows is enough.  It
  asks for FUSE_CAP_DAX_FMAP, maps every file to the 2 MiB at 2 MiB of
  device 0, and registers that device with fuse_daxdev_open() where the
  headers have it (FUSE_DEV_IOC_DAXDEV_OPEN, as the public famfs server
  tests for it) and the kernel does, or names it in get_daxdev.  It serves
  no namespace: it is built and run (--help, --map), not mounted.

  This program can be distributed under the terms of the GNU GPLv2.
  See the file GPL2.txt.
*/

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 18)

#include <fuse_lowlevel.h>
#include <fuse_famfs.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define DAXDEV "/dev/dax0.0"

/* The kernel's layout, from the installed header */
_Static_assert(sizeof(struct fuse_famfs_fmap_header) == 32, "header");
_Static_assert(sizeof(struct fuse_famfs_simple_ext) == 24, "simple ext");
_Static_assert(sizeof(struct fuse_famfs_iext) == 24, "interleaved ext");
_Static_assert(sizeof(struct fuse_daxdev_out) == 24 + DAXDEV_NAME_MAX,
	       "daxdev out");

struct one_extent_map {
	struct fuse_famfs_fmap_header h;
	struct fuse_famfs_simple_ext se;
};

static void build_map(struct one_extent_map *m)
{
	memset(m, 0, sizeof(*m));
	m->h.file_type = FUSE_FAMFS_FILE_REG;
	m->h.fmap_version = FAMFS_FMAP_VERSION;
	m->h.ext_type = FUSE_FAMFS_EXT_SIMPLE;
	m->h.nextents = 1;
	m->h.file_size = 2 * MIB;
	m->se.se_devindex = 0;
	m->se.se_offset = 2 * MIB;
	m->se.se_len = 2 * MIB;
}

static void srv_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (!fuse_set_feature_flag(conn, FUSE_CAP_DAX_FMAP))
		fprintf(stderr, "the kernel does not offer FUSE_DAX_FMAP\n");
}

#ifdef FUSE_DEV_IOC_DAXDEV_OPEN
/*
 * Register device 0 before the first map naming it is sent.  If the kernel
 * will not have it (ENOTTY: a kernel without the ioctl), get_daxdev names
 * the device when the kernel asks.
 */
static void push_daxdev(fuse_req_t req)
{
	static int pushed;
	int fd, ret;

	if (pushed)
		return;
	fd = open(DAXDEV, O_RDWR);
	if (fd < 0)
		return;
	ret = fuse_daxdev_open(req, fd, 0);
	close(fd);
	if (ret > 0)
		pushed = 1;
	else if (ret != -ENOTTY)
		fprintf(stderr, "fuse_daxdev_open(%s): %s\n", DAXDEV,
			strerror(-ret));
}
#endif

static void srv_get_fmap(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct one_extent_map m;

	(void)ino;
	(void)size;
#ifdef FUSE_DEV_IOC_DAXDEV_OPEN
	push_daxdev(req);
#endif
	build_map(&m);
	fuse_reply_fmap(req, &m, sizeof(m));
}

static void srv_get_daxdev(fuse_req_t req, int index)
{
	if (index != 0)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_daxdev(req, DAXDEV);
}

static const struct fuse_lowlevel_ops srv_ops = {
	.init = srv_init,
	.get_fmap = srv_get_fmap,
	.get_daxdev = srv_get_daxdev,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se;
	struct one_extent_map m;
	int ret = 1;

	if (argc == 2 && !strcmp(argv[1], "--map")) {
		build_map(&m);
		ret = fuse_famfs_fmap_check(&m, sizeof(m));
		printf("map of %zu bytes: %s\n", sizeof(m),
		       ret ? "refused" : "accepted");
		return ret ? 1 : 0;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_help || !opts.mountpoint) {
		printf("usage: %s [options] <mountpoint>\n       %s --map\n\n",
		       argv[0], argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = opts.show_help ? 0 : 1;
		goto out;
	}
	se = fuse_session_new(&args, &srv_ops, sizeof(srv_ops), NULL);
	if (se) {
		if (fuse_session_mount(se, opts.mountpoint) == 0) {
			ret = fuse_session_loop(se) ? 1 : 0;
			fuse_session_unmount(se);
		}
		fuse_session_destroy(se);
	}
out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
