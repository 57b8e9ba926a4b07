/*
  FUSE: Filesystem in Userspace

  famfs (FUSE_CAP_DAX_FMAP): the FUSE_GET_FMAP and FUSE_GET_DAXDEV requests,
  their replies, a check of famfs maps with the kernel's rules, and the
  registration of a device by the server (FUSE_DEV_IOC_DAXDEV_OPEN).

  This program can be distributed under the terms of the GNU LGPLv2.
  See the file LGPL2.txt
*/

#include "fuse_config.h"
#include "fuse_i.h"
#include "fuse_kernel.h"
/* After fuse_kernel.h, which then defines it all: the order servers use */
#include "fuse_famfs.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define FAMFS_ALIGN (2ULL * 1024 * 1024)
/* The kernel's MAX_LFS_FILESIZE on 64-bit architectures */
#define FAMFS_MAX_FILE_SIZE ((uint64_t)INT64_MAX)

struct famfs_cursor {
	const unsigned char *p;
	size_t left;
};

static const void *famfs_pull(struct famfs_cursor *c, size_t n)
{
	const void *p = c->p;

	if (c->left < n)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

static int famfs_aligned(uint64_t v)
{
	return !(v & (FAMFS_ALIGN - 1));
}

/* Bytes strip @strip of an interleaved extent needs to hold its nbytes. */
static uint64_t famfs_strip_need(uint64_t nbytes, uint64_t chunk,
				 uint32_t nstrips, uint32_t strip)
{
	uint64_t nchunks = (nbytes + chunk - 1) / chunk;
	uint64_t mine = nchunks / nstrips + (strip < nchunks % nstrips);

	if (!mine)
		return 0;
	if (strip != (nchunks - 1) % nstrips)
		return mine * chunk;
	/* This strip holds the file's last chunk, which may be partial. */
	return (mine - 1) * chunk + nbytes - (nchunks - 1) * chunk;
}

static int famfs_ext_check(const struct fuse_famfs_simple_ext *se,
			   const char **why)
{
	if (se->se_devindex >= FUSE_FAMFS_MAX_DAXDEVS) {
		*why = "device index out of range";
		return -EINVAL;
	}
	if (!se->se_len || !famfs_aligned(se->se_offset) ||
	    !famfs_aligned(se->se_len)) {
		*why = "extent not 2 MiB aligned";
		return -EINVAL;
	}
	if (se->se_offset + se->se_len < se->se_offset) {
		*why = "extent overflows";
		return -EINVAL;
	}
	return 0;
}

/*
 * Every extent and strip of a map, for the overlap check: at most one per
 * struct fuse_famfs_simple_ext the map has room for.
 */
struct famfs_ranges {
	const struct fuse_famfs_simple_ext **r;
	size_t n;
};

static int famfs_range_cmp(const void *a, const void *b)
{
	const struct fuse_famfs_simple_ext *x =
		*(const struct fuse_famfs_simple_ext *const *)a;
	const struct fuse_famfs_simple_ext *y =
		*(const struct fuse_famfs_simple_ext *const *)b;

	if (x->se_devindex != y->se_devindex)
		return x->se_devindex < y->se_devindex ? -1 : 1;
	if (x->se_offset != y->se_offset)
		return x->se_offset < y->se_offset ? -1 : 1;
	return 0;
}

/*
 * Do two ranges [se_offset, se_offset + se_len) on the same device overlap?
 * Ranges that only touch do not.  famfs_ext_check() made sure no range
 * wraps.
 */
static int famfs_overlap(struct famfs_ranges *rs)
{
	const struct fuse_famfs_simple_ext *r, *prev = NULL;
	uint64_t end = 0;
	size_t i;

	qsort(rs->r, rs->n, sizeof(rs->r[0]), famfs_range_cmp);
	for (i = 0; i < rs->n; i++, prev = r) {
		r = rs->r[i];
		if (!prev || prev->se_devindex != r->se_devindex)
			end = 0;
		else if (r->se_offset < end)
			return 1;
		if (r->se_offset + r->se_len > end)
			end = r->se_offset + r->se_len;
	}
	return 0;
}

static int famfs_iext_check(struct famfs_cursor *c, int last,
			    struct famfs_ranges *rs, uint64_t *nbytes,
			    const char **why)
{
	const struct fuse_famfs_iext *ie = famfs_pull(c, sizeof(*ie));
	const struct fuse_famfs_simple_ext *se;
	uint32_t i;
	int err;

	if (!ie) {
		*why = "reply ends in an interleaved extent";
		return -EINVAL;
	}
	if (!ie->ie_nstrips || ie->ie_nstrips > FUSE_FAMFS_MAX_STRIPS) {
		*why = "strip count out of range";
		return -EINVAL;
	}
	if (!ie->ie_chunk_size || !famfs_aligned(ie->ie_chunk_size)) {
		*why = "chunk size not 2 MiB aligned";
		return -EINVAL;
	}
	if (!ie->ie_nbytes ||
	    ie->ie_nbytes + ie->ie_chunk_size < ie->ie_nbytes) {
		*why = "interleaved extent size out of range";
		return -EINVAL;
	}
	/* Faults map whole pages: only the last extent may end inside one. */
	if (!last && ie->ie_nbytes % (uint64_t)sysconf(_SC_PAGESIZE)) {
		*why = "interleaved extent ends inside a page";
		return -EINVAL;
	}
	for (i = 0; i < ie->ie_nstrips; i++) {
		se = famfs_pull(c, sizeof(*se));
		if (!se) {
			*why = "reply ends in the strips of an extent";
			return -EINVAL;
		}
		err = famfs_ext_check(se, why);
		if (err)
			return err;
		if (se->se_len < famfs_strip_need(ie->ie_nbytes,
						  ie->ie_chunk_size,
						  ie->ie_nstrips, i)) {
			*why = "strip too short";
			return -EINVAL;
		}
		rs->r[rs->n++] = se;
	}
	*nbytes = ie->ie_nbytes;
	return 0;
}

static int famfs_extents_check(struct famfs_cursor *c,
			       const struct fuse_famfs_fmap_header *h,
			       struct famfs_ranges *rs, const char **why)
{
	const struct fuse_famfs_simple_ext *se;
	uint64_t covered = 0, n;
	uint32_t i;
	int err;

	for (i = 0; i < h->nextents; i++) {
		if (h->ext_type == FUSE_FAMFS_EXT_SIMPLE) {
			se = famfs_pull(c, sizeof(*se));
			if (!se) {
				*why = "reply ends in an extent";
				return -EINVAL;
			}
			err = famfs_ext_check(se, why);
			n = se->se_len;
			rs->r[rs->n++] = se;
		} else {
			err = famfs_iext_check(c, i == h->nextents - 1, rs, &n,
					       why);
		}
		if (err)
			return err;
		if (covered + n < covered) {
			*why = "extents overflow";
			return -EINVAL;
		}
		covered += n;
	}
	for (; c->left; c->left--)
		if (*c->p++) {
			*why = "garbage after the extents";
			return -EINVAL;
		}
	if (covered < h->file_size) {
		*why = "extents do not cover the file size";
		return -EINVAL;
	}
	if (famfs_overlap(rs)) {
		*why = "ranges overlap on a device";
		return -EINVAL;
	}
	return 0;
}

static int famfs_fmap_check(const void *buf, size_t len, const char **why)
{
	struct famfs_cursor c = { .p = buf, .left = len };
	const struct fuse_famfs_fmap_header *h;
	struct famfs_ranges rs = { .n = 0 };
	size_t room;
	int err;

	if (len > FUSE_FAMFS_FMAP_MAX_SIZE) {
		*why = "map larger than FUSE_FAMFS_FMAP_MAX_SIZE";
		return -EFBIG;
	}
	h = famfs_pull(&c, sizeof(*h));
	if (!buf || !h) {
		*why = "no header";
		return -EINVAL;
	}
	if (h->fmap_version != FAMFS_FMAP_VERSION) {
		*why = "unknown version";
		return -EINVAL;
	}
	if (h->file_type > FUSE_FAMFS_FILE_LOG) {
		*why = "unknown file type";
		return -EINVAL;
	}
	if (h->ext_type != FUSE_FAMFS_EXT_SIMPLE &&
	    h->ext_type != FUSE_FAMFS_EXT_INTERLEAVE) {
		*why = "unknown extent type";
		return -EINVAL;
	}
	if (h->fmap_size && h->fmap_size != len) {
		*why = "fmap_size is not the size of the map";
		return -EINVAL;
	}
	/* Each extent takes at least one struct fuse_famfs_simple_ext */
	room = c.left / sizeof(struct fuse_famfs_simple_ext);
	if (!h->nextents) {
		*why = "no extents";
		return -EINVAL;
	}
	if (h->nextents > room) {
		*why = "reply shorter than its extent count";
		return -EINVAL;
	}
	if (h->file_size > FAMFS_MAX_FILE_SIZE) {
		*why = "file size above MAX_LFS_FILESIZE";
		return -EINVAL;
	}
	rs.r = malloc(room * sizeof(rs.r[0]));
	if (!rs.r) {
		*why = "out of memory";
		return -ENOMEM;
	}
	err = famfs_extents_check(&c, h, &rs, why);
	free(rs.r);
	return err;
}

int fuse_famfs_fmap_check(const void *buf, size_t len)
{
	const char *why;

	return famfs_fmap_check(buf, len, &why);
}

/*
 * The largest reply req can carry: a reply on the io_uring goes into the
 * ring entry's payload buffer, the size of the largest write (max_write).
 */
static size_t famfs_reply_room(fuse_req_t req)
{
	if (req->flags.is_uring)
		return req->se->bufsize - FUSE_BUFFER_HEADER_SIZE;
	return SIZE_MAX;
}

int fuse_reply_fmap(fuse_req_t req, const void *buf, size_t len)
{
	struct fuse_famfs_fmap_header h;
	const char *why = "the kernel offered less than a header";
	int err;

	err = famfs_fmap_check(buf, len, &why);
	if (!err && req->fmap_size < sizeof(h))
		err = -ERANGE;
	if (!err && len > famfs_reply_room(req)) {
		fuse_log(
			FUSE_LOG_ERR,
			"fuse: famfs: map of %zu bytes not sent: an io_uring reply holds %zu bytes (max_write)\n",
			len, famfs_reply_room(req));
		fuse_reply_err(req, EFBIG);
		return -EFBIG;
	}
	if (err) {
		fuse_log(FUSE_LOG_ERR,
			 "fuse: famfs: map of %zu bytes not sent: %s\n", len,
			 why);
		fuse_reply_err(req, err == -EFBIG ? EFBIG : EIO);
		return err;
	}
	if (len <= req->fmap_size)
		return fuse_reply_buf(req, buf, len);
	/* The header alone says how large a buffer to offer next time. */
	memcpy(&h, buf, sizeof(h));
	h.fmap_size = len;
	return fuse_reply_buf(req, (const char *)&h, sizeof(h));
}

int fuse_daxdev_open(fuse_req_t req, int fd, int daxdev_index)
{
	struct fuse_backing_map map = { .fd = fd };

	if (daxdev_index < 0)
		return -EINVAL;
	map.daxdev_index = daxdev_index;
	if (ioctl(req->ch ? req->ch->fd : req->se->fd, FUSE_DEV_IOC_DAXDEV_OPEN,
		  &map) == -1)
		return -errno;
	return 1;
}

int fuse_reply_daxdev(fuse_req_t req, const char *path)
{
	struct fuse_daxdev_out out;
	const char *why = NULL;
	size_t len = 0;

	if (req->daxdev_index < 0)
		why = "not a get_daxdev request";
	else if (!path || path[0] != '/')
		why = "not an absolute path";
	else if ((len = strnlen(path, sizeof(out.name))) == sizeof(out.name))
		why = "path longer than DAXDEV_NAME_MAX - 1";
	if (why) {
		fuse_log(FUSE_LOG_ERR, "fuse: famfs: device %d not sent: %s\n",
			 req->daxdev_index, why);
		fuse_reply_err(req, EIO);
		return -EINVAL;
	}
	memset(&out, 0, sizeof(out));
	out.index = req->daxdev_index;
	memcpy(out.name, path, len);
	return fuse_reply_buf(req, (const char *)&out, sizeof(out));
}

/*
 * Without FUSE_CAP_DAX_FMAP in want_ext the kernel does not send the famfs
 * requests: a request that comes anyway is not the filesystem's business.
 */
static int famfs_negotiated(fuse_req_t req)
{
	if (req->se->conn.want_ext & FUSE_CAP_DAX_FMAP)
		return 1;
	fuse_reply_err(req, EOPNOTSUPP);
	return 0;
}

/*
 * FUSE_GET_FMAP carries a struct fuse_getxattr_in whose size is the largest
 * reply the kernel accepts.  Some kernels sent no input at all: their reply
 * buffer was FUSE_FAMFS_FMAP_DEFAULT_SIZE.  An input that is there but too
 * short for the struct is a protocol error.  The input's length is what the
 * transport received (req->in_len), not what the header claims.
 */
void _fuse_famfs_do_get_fmap(fuse_req_t req, const fuse_ino_t nodeid,
			     const void *op_in, const void *in_payload)
{
	const struct fuse_getxattr_in *arg = op_in;
	size_t inlen = 0;

	(void)in_payload;
	if (!famfs_negotiated(req))
		return;
	if (req->in_len > sizeof(struct fuse_in_header))
		inlen = req->in_len - sizeof(struct fuse_in_header);
	if (inlen && inlen < sizeof(*arg)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	req->fmap_size = inlen ? arg->size : FUSE_FAMFS_FMAP_DEFAULT_SIZE;
	if (req->se->op.get_fmap)
		req->se->op.get_fmap(req, nodeid, req->fmap_size);
	else
		fuse_reply_err(req, EOPNOTSUPP);
}

void fuse_famfs_do_get_fmap(fuse_req_t req, fuse_ino_t nodeid,
			    const void *inarg)
{
	_fuse_famfs_do_get_fmap(req, nodeid, inarg, NULL);
}

/* The device index is in the nodeid; the input need not be there. */
void _fuse_famfs_do_get_daxdev(fuse_req_t req, const fuse_ino_t nodeid,
			       const void *op_in, const void *in_payload)
{
	(void)op_in;
	(void)in_payload;
	if (!famfs_negotiated(req))
		return;
	if (nodeid >= FUSE_FAMFS_MAX_DAXDEVS) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	req->daxdev_index = (int)nodeid;
	if (req->se->op.get_daxdev)
		req->se->op.get_daxdev(req, (int)nodeid);
	else
		fuse_reply_err(req, EOPNOTSUPP);
}

void fuse_famfs_do_get_daxdev(fuse_req_t req, fuse_ino_t nodeid,
			      const void *inarg)
{
	_fuse_famfs_do_get_daxdev(req, nodeid, inarg, NULL);
}
