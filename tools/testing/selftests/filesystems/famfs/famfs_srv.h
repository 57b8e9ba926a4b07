/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small FUSE server for the famfs selftests.  It speaks the protocol on
 * /dev/fuse itself (no libfuse), serves a flat directory of files whose
 * maps, device names and errors each test chooses, and counts the requests
 * it sees by opcode.
 */
#ifndef FAMFS_SRV_H
#define FAMFS_SRV_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SRV_MAX_FILES	96
#define SRV_MAX_DEVS	32
#define SRV_NOP		0x7fffffff	/* no opcode */
#define SRV_DYN_ID0	(1ULL << 20)	/* node ids of the files named zN */

struct srv_file {
	char name[32];
	uint64_t size;		/* the size the server reports (attributes) */
	uint64_t mtime;		/* the mtime it reports, in seconds */
	uint32_t mode;		/* the mode it reports; 0: S_IFREG | 0666 */
	unsigned char fmap[FAMFS_FMAP_MAX + 64];
	size_t fmap_len;
	int fmap_err;		/* reply to GET_FMAP with this errno */
	const void *big;	/* a map larger than @fmap, @big_len bytes */
	size_t big_len;
	bool fmap_probe;	/* a map larger than offered: header alone */
	uint32_t fmap_claim;	/* always the header alone, saying this size */
	bool fmap_lie;		/* ... or saying more than was offered */
	uint64_t fmap_count;	/* GET_FMAP requests seen for this file */
};

struct srv_dev {
	char name[DAXDEV_NAME_MAX];
	size_t name_len;	/* bytes of name to send; 0: strlen + 1 */
	int err;		/* reply to GET_DAXDEV with this errno */
	int index_delta;	/* reply with index + index_delta */
};

/*
 * What the server thread does to itself when it starts, before it reads
 * FUSE_INIT: the kernel sees these credentials and this root when the server
 * answers.  Raw syscalls: they change the server thread only.
 */
struct srv_setup {
	const char *bind_src;	/* unshare its mount namespace, bind this ... */
	const char *bind_dst;	/* ... over this */
	uint64_t drop_caps;	/* drop these capabilities (bit n: CAP n) */
	bool nobody;		/* become uid/gid SRV_NOBODY: no capabilities */
};

#define SRV_NOBODY	65534

struct srv {
	int fd;
	unsigned int conn;	/* fusectl connection number */
	int inited;
	char mnt[64];
	pthread_t thread;
	struct srv_setup setup;
	int setup_err;		/* errno of the setup that failed */
	bool fusermount;	/* mount as fusermount3 does: nosuid, nodev, */
				/* user_id and group_id SRV_NOBODY */
	bool no_dax_fmap;	/* do not accept FUSE_DAX_FMAP */
	uint64_t init_extra;	/* more INIT flags to accept if offered */
	uint64_t init_flags;	/* flags the kernel offered */
	uint64_t counts[64];
	uint64_t cnt_other;
	int die_on;		/* close /dev/fuse and exit on this opcode */
	int hang_on;		/* never answer this opcode */
	bool dead;		/* died on die_on: /dev/fuse is closed */
	unsigned int delay_us;	/* wait before answering GET_FMAP/DAXDEV */
	/*
	 * Files named "zN" that are not in @files are node SRV_DYN_ID0 + N and
	 * all get the map in @dyn at the time of their GET_FMAP (the fuzz
	 * test: one new inode per map without a table entry per map).
	 */
	struct srv_file *dyn;
	/* CREATE and TMPFILE make a file with this file's map; NULL: ENOSYS */
	const struct srv_file *create_tmpl;
	uint32_t setattr_valid;	/* the last SETATTR: its valid bits */
	uint32_t setattr_mode;	/* and its mode */
	int nfiles;
	struct srv_file files[SRV_MAX_FILES];
	struct srv_dev devs[SRV_MAX_DEVS];
};

int srv_mount(struct srv *s);
void srv_umount(struct srv *s);
void srv_abort(struct srv *s);
uint64_t srv_count(struct srv *s, int opcode);
struct srv_file *srv_add_file(struct srv *s, const char *name, uint64_t size);
struct srv_file *srv_file(struct srv *s, const char *name);
uint64_t srv_nodeid(struct srv *s, const struct srv_file *f);
int srv_notify(struct srv *s, int code, const void *arg, size_t len,
	       const void *data, size_t dlen);
int caps_drop(uint64_t mask);

/* fmap builders */
void fm_hdr(struct srv_file *f, uint32_t ext_type, uint32_t nextents,
	    uint64_t size);
void fm_se(struct srv_file *f, uint32_t dev, uint64_t off, uint64_t len);
void fm_ie(struct srv_file *f, uint32_t nstrips, uint32_t chunk,
	   uint64_t nbytes);

#endif
