/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one table of valid and invalid famfs maps (FUSE_GET_FMAP replies) and
 * what the kernel makes of each.  Two tests read it:
 *
 *  - famfs_test.c, here: each map is a file's GET_FMAP reply, and open(2)
 *    must fail with the case's errno, or succeed with the map's file size;
 *  - libfuse's test/test_famfs_ll.c (built with -Dfamfs_fmap_cases=DIR,
 *    this directory): fuse_famfs_fmap_check() must return minus the
 *    case's errno, or 0.
 *
 * So the library's checker and the kernel's parser are held to the same
 * rules, and a rule that changes is changed here once.  The rules are
 * listed in Documentation/filesystems/famfs.rst.
 *
 * Include this after the wire structs (<linux/fuse.h>, or libfuse's
 * fuse_kernel.h).  A map is a header and records: simple extents, runs of
 * simple extents that touch, and interleaved extents, each followed by its
 * strips (simple extents or runs); then trailing bytes.  Maps use device
 * indexes 0 and 1 and offsets below 2 GiB, except where a case is about
 * them: nothing of a device is read or written.
 */
#ifndef FAMFS_FMAP_CASES_H
#define FAMFS_FMAP_CASES_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FC_2M (2ULL << 20)
#define FC_MAX_LFS ((uint64_t)INT64_MAX)	/* MAX_LFS_FILESIZE, 64-bit */

enum fc_kind { FC_END, FC_SE, FC_RUN, FC_IE };

struct fc_rec {
	enum fc_kind kind;
	uint32_t n;	/* FC_RUN: extents; FC_IE: strips */
	uint32_t dev;	/* FC_SE, FC_RUN: device index; FC_IE: chunk size */
	uint64_t off;	/* FC_SE, FC_RUN: device offset (of the first) */
	uint64_t len;	/* FC_SE, FC_RUN: bytes (each); FC_IE: file bytes */
};

#define FC_SIMPLE(dev, off, len)	{ FC_SE, 0, (dev), (off), (len) }
#define FC_SIMPLES(n, dev, off, len)	{ FC_RUN, (n), (dev), (off), (len) }
#define FC_ILV(nstrips, chunk, nbytes)	{ FC_IE, (nstrips), (chunk), 0, (nbytes) }

/*
 * Header fields other than the file size are 0 for what the records say
 * (nextents: their extents; ext_type: FUSE_FAMFS_EXT_INTERLEAVE if there
 * are interleaved ones; fmap_size: 0), or FC_SET(value).  FC_LEN(d) sets
 * fmap_size to the reply's length plus d.
 */
#define FC_SET(v)	((1ULL << 32) | (uint32_t)(v))
#define FC_LEN(d)	((2ULL << 32) | (uint32_t)(d))

struct fmap_case {
	const char *name;
	int err;		/* 0: valid; else the errno it is refused with */
	uint64_t size;		/* file_size */
	uint64_t version, file_type, ext_type, nextents, fmap_size;
	struct fc_rec rec[8];
	uint32_t zeros;		/* zero bytes after the extents ... */
	uint8_t last;		/* ... the last of them this, if not 0 */
	uint32_t cut;		/* bytes cut off the end of the reply */
};

/* Large enough for every map in the table */
#define FMAP_CASE_MAX 4096

static const struct fmap_case fmap_cases[] = {
	/* valid */
	{ "simple, one extent", 0, FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "simple, size not a multiple of 2 MiB", 0, 3 * FC_2M + 1,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, 4 * FC_2M) } },
	{ "simple, empty file", 0, 0,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "simple, offset 0", 0, FC_2M, .rec = { FC_SIMPLE(0, 0, FC_2M) } },
	{ "simple, two devices", 0, 3 * FC_2M,
	  .rec = { FC_SIMPLE(0, 96 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(1, 100 * FC_2M, 2 * FC_2M) } },
	{ "simple, 33 extents (the first generation's limit was 32)", 0,
	  33 * FC_2M, .rec = { FC_SIMPLES(33, 0, 64 * FC_2M, FC_2M) } },
	{ "simple, 33 extents, fmap_size set", 0, 33 * FC_2M,
	  .fmap_size = FC_LEN(0),
	  .rec = { FC_SIMPLES(33, 0, 64 * FC_2M, FC_2M) } },
	{ "file type SUPERBLOCK", 0, FC_2M,
	  .file_type = FC_SET(FUSE_FAMFS_FILE_SUPERBLOCK),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "file type LOG", 0, FC_2M, .file_type = FC_SET(FUSE_FAMFS_FILE_LOG),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "simple extents touch on a device", 0, 8 * FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, 4 * FC_2M),
		   FC_SIMPLE(0, 68 * FC_2M, 4 * FC_2M) } },
	{ "a later extent touches an earlier one from below", 0, 3 * FC_2M,
	  .rec = { FC_SIMPLE(0, 98 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 96 * FC_2M, 2 * FC_2M) } },
	{ "the same range on two devices", 0, 2 * FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M),
		   FC_SIMPLE(1, 64 * FC_2M, FC_2M) } },
	{ "file size MAX_LFS_FILESIZE", 0, FC_MAX_LFS,
	  .rec = { FC_SIMPLES(2, 0, 0, 1ULL << 62) } },
	{ "zero bytes after the extents", 0, FC_2M, .zeros = 100,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "fmap_size the length of the reply", 0, 2 * FC_2M,
	  .fmap_size = FC_LEN(0),
	  .rec = { FC_SIMPLES(2, 0, 64 * FC_2M, FC_2M) } },
	{ "fmap_size the length with the zero bytes after the extents", 0,
	  FC_2M, .fmap_size = FC_LEN(0), .zeros = 100,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "interleaved, 2 strips, the last chunk partial", 0,
	  5 * FC_2M - 4096,
	  .rec = { FC_ILV(2, FC_2M, 5 * FC_2M - 4096),
		   FC_SIMPLE(0, 104 * FC_2M, 3 * FC_2M),
		   FC_SIMPLE(1, 104 * FC_2M, 3 * FC_2M) } },
	{ "interleaved, strips just long enough", 0, 7 * FC_2M / 2,
	  .rec = { FC_ILV(2, FC_2M, 7 * FC_2M / 2),
		   FC_SIMPLE(0, 104 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 108 * FC_2M, 2 * FC_2M) } },
	{ "interleaved, strips longer than needed", 0, 3 * FC_2M / 2,
	  .rec = { FC_ILV(4, FC_2M, 3 * FC_2M / 2),
		   FC_SIMPLES(4, 0, 128 * FC_2M, 64 * FC_2M) } },
	{ "interleaved, 32 strips", 0, 32 * FC_2M,
	  .rec = { FC_ILV(32, FC_2M, 32 * FC_2M),
		   FC_SIMPLES(32, 0, 64 * FC_2M, FC_2M) } },
	{ "interleaved, strips touch on a device", 0, 3 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 104 * FC_2M, FC_2M),
		   FC_SIMPLE(0, 105 * FC_2M, FC_2M),
		   FC_ILV(1, FC_2M, FC_2M),
		   FC_SIMPLE(0, 103 * FC_2M, FC_2M) } },
	{ "interleaved, the first extent ends on a page, not on 2 MiB", 0,
	  4 * FC_2M - 4096,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M - 4096),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M),
		   FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 108 * FC_2M, FC_2M) } },
	{ "interleaved, the last extent ends inside a page", 0,
	  7 * FC_2M / 2 + 1,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M),
		   FC_ILV(2, FC_2M, 3 * FC_2M / 2 + 1),
		   FC_SIMPLES(2, 0, 108 * FC_2M, FC_2M) } },

	/* the header */
	{ "version 2", EINVAL, FC_2M, .version = FC_SET(2),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "file type 3", EINVAL, FC_2M, .file_type = FC_SET(3),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "file type 255", EINVAL, FC_2M, .file_type = FC_SET(255),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "extent type 2", EINVAL, FC_2M, .ext_type = FC_SET(2),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "extent type 2^32-1", EINVAL, FC_2M, .ext_type = FC_SET(~0U),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "0 extents", EINVAL, FC_2M, .nextents = FC_SET(0),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "more extents claimed than sent", EINVAL, FC_2M,
	  .nextents = FC_SET(3),
	  .rec = { FC_SIMPLES(2, 0, 64 * FC_2M, FC_2M) } },
	{ "2^32-1 extents claimed", EINVAL, FC_2M, .nextents = FC_SET(~0U),
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "fmap_size one more than the reply", EINVAL, 2 * FC_2M,
	  .fmap_size = FC_LEN(1),
	  .rec = { FC_SIMPLES(2, 0, 64 * FC_2M, FC_2M) } },
	{ "fmap_size one less than the reply", EINVAL, 2 * FC_2M,
	  .fmap_size = FC_LEN(-1),
	  .rec = { FC_SIMPLES(2, 0, 64 * FC_2M, FC_2M) } },
	{ "fmap_size without the zero bytes after the extents", EINVAL, FC_2M,
	  .fmap_size = FC_LEN(-100), .zeros = 100,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "file size MAX_LFS_FILESIZE + 1", EINVAL, FC_MAX_LFS + 1,
	  .rec = { FC_SIMPLES(2, 0, 0, 1ULL << 62) } },
	{ "file size 2^64-1", EINVAL, UINT64_MAX,
	  .rec = { FC_SIMPLES(2, 0, 0, 1ULL << 62) } },

	/* the length of the reply */
	{ "an empty reply", EINVAL, FC_2M, .cut = 32 },
	{ "a reply shorter than the header", EINVAL, FC_2M, .cut = 1,
	  .nextents = FC_SET(1) },
	{ "a reply that ends in an extent", EINVAL, FC_2M, .cut = 8,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "garbage after the extents", EINVAL, FC_2M, .zeros = 16,
	  .last = 0xff, .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },
	{ "a reply that ends in the strips", EINVAL, 2 * FC_2M, .cut = 24,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "a reply that ends before a claimed interleaved extent", EINVAL,
	  2 * FC_2M, .nextents = FC_SET(2),
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },

	/* simple extents */
	{ "offset not 2 MiB aligned", EINVAL, FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M + 4096, FC_2M) } },
	{ "length not 2 MiB aligned", EINVAL, 3 * FC_2M / 2,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, 3 * FC_2M / 2) } },
	{ "length 4 KiB short of 2 MiB", EINVAL, 4096,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M - 4096) } },
	{ "length 0", EINVAL, 0, .rec = { FC_SIMPLE(0, 64 * FC_2M, 0) } },
	{ "offset + length overflows", EINVAL, 2 * FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M),
		   FC_SIMPLE(0, 0 - FC_2M, 2 * FC_2M) } },
	{ "the sum of the lengths overflows", EINVAL, FC_2M,
	  .rec = { FC_SIMPLE(0, 0, 1ULL << 63),
		   FC_SIMPLE(1, 0, 1ULL << 63) } },
	{ "device index 64", EINVAL, FC_2M,
	  .rec = { FC_SIMPLE(64, 64 * FC_2M, FC_2M) } },
	{ "device index 2^31", EINVAL, FC_2M,
	  .rec = { FC_SIMPLE(1U << 31, 64 * FC_2M, FC_2M) } },
	{ "extents shorter than the file", EINVAL, 4 * FC_2M + 1,
	  .rec = { FC_SIMPLES(2, 0, 64 * FC_2M, 2 * FC_2M) } },
	{ "extents overlap on a device", EINVAL, 4 * FC_2M,
	  .rec = { FC_SIMPLE(0, 96 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 97 * FC_2M, 2 * FC_2M) } },
	{ "an extent inside another", EINVAL, 10 * FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, 8 * FC_2M),
		   FC_SIMPLE(1, 64 * FC_2M, FC_2M),
		   FC_SIMPLE(0, 68 * FC_2M, FC_2M) } },
	{ "the same extent twice", EINVAL, 2 * FC_2M,
	  .rec = { FC_SIMPLE(0, 64 * FC_2M, FC_2M),
		   FC_SIMPLE(0, 64 * FC_2M, FC_2M) } },

	/* interleaved extents */
	{ "interleaved, 0 strips", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(0, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "interleaved, 33 strips", EINVAL, 33 * FC_2M,
	  .rec = { FC_ILV(33, FC_2M, 33 * FC_2M),
		   FC_SIMPLES(33, 0, 64 * FC_2M, FC_2M) } },
	{ "interleaved, 2^31 strips", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(1U << 31, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "interleaved, chunk 0", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(2, 0, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "interleaved, chunk not 2 MiB aligned", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M + 4096, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, 2 * FC_2M) } },
	{ "interleaved, 0 bytes", EINVAL, 0,
	  .rec = { FC_ILV(2, FC_2M, 0),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "interleaved, bytes + chunk overflows", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M, UINT64_MAX - 4096),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "interleaved, the first strip too short", EINVAL, 5 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M, 5 * FC_2M),
		   FC_SIMPLE(0, 104 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 110 * FC_2M, 2 * FC_2M) } },
	{ "interleaved, the last strip too short", EINVAL, 7 * FC_2M / 2,
	  .rec = { FC_ILV(2, FC_2M, 7 * FC_2M / 2),
		   FC_SIMPLE(0, 104 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 108 * FC_2M, FC_2M) } },
	{ "interleaved, a strip offset not 2 MiB aligned", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 104 * FC_2M, FC_2M),
		   FC_SIMPLE(0, 106 * FC_2M + 4096, FC_2M) } },
	{ "interleaved, shorter than the file", EINVAL, 5 * FC_2M / 2,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M) } },
	{ "interleaved, an extent not the last ends inside a page", EINVAL,
	  4 * FC_2M - 512,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M - 512),
		   FC_SIMPLES(2, 0, 104 * FC_2M, FC_2M),
		   FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLES(2, 0, 108 * FC_2M, FC_2M) } },
	{ "interleaved, the strips of an extent overlap", EINVAL, 2 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 104 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 105 * FC_2M, 2 * FC_2M) } },
	{ "interleaved, the strips of two extents overlap", EINVAL,
	  3 * FC_2M,
	  .rec = { FC_ILV(2, FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 104 * FC_2M, 2 * FC_2M),
		   FC_SIMPLE(0, 108 * FC_2M, 2 * FC_2M),
		   FC_ILV(1, FC_2M, FC_2M),
		   FC_SIMPLE(0, 109 * FC_2M, 2 * FC_2M) } },
};

static inline uint32_t fc_field(uint64_t set, uint32_t dflt)
{
	return set >> 32 ? (uint32_t)set : dflt;
}

static inline int fc_put(unsigned char *buf, size_t *len, uint32_t dev,
			 uint64_t off, uint64_t ext_len)
{
	struct fuse_famfs_simple_ext *se = (void *)(buf + *len);

	if (*len + sizeof(*se) > FMAP_CASE_MAX)
		return -1;
	se->se_devindex = dev;
	se->se_offset = off;
	se->se_len = ext_len;
	*len += sizeof(*se);
	return 0;
}

/*
 * fmap_case_encode() - the GET_FMAP reply of case @c
 * @buf: FMAP_CASE_MAX bytes
 *
 * Return: its length in bytes, or (size_t)-1 if it does not fit.
 */
static inline size_t fmap_case_encode(const struct fmap_case *c,
				      unsigned char *buf)
{
	struct fuse_famfs_fmap_header *h = (void *)buf;
	struct fuse_famfs_iext *ie;
	uint32_t nsimple = 0, nilv = 0;
	size_t len = sizeof(*h);
	const struct fc_rec *r;
	uint64_t i;

	memset(buf, 0, FMAP_CASE_MAX);
	for (r = c->rec; r < c->rec + 8 && r->kind != FC_END; r++) {
		uint32_t n = r->kind == FC_RUN ? r->n : 1;

		if (r->kind != FC_IE) {
			for (i = 0; i < n; i++)
				if (fc_put(buf, &len, r->dev,
					   r->off + i * r->len, r->len))
					return (size_t)-1;
			nsimple += n;
			continue;
		}
		ie = (void *)(buf + len);
		if (len + sizeof(*ie) > FMAP_CASE_MAX)
			return (size_t)-1;
		ie->ie_nstrips = r->n;
		ie->ie_chunk_size = r->dev;
		ie->ie_nbytes = r->len;
		len += sizeof(*ie);
		nilv++;
	}
	h->fmap_version = fc_field(c->version, FAMFS_FMAP_VERSION);
	h->file_type = fc_field(c->file_type, FUSE_FAMFS_FILE_REG);
	h->ext_type = fc_field(c->ext_type, nilv ? FUSE_FAMFS_EXT_INTERLEAVE :
						   FUSE_FAMFS_EXT_SIMPLE);
	h->nextents = fc_field(c->nextents, nilv ? nilv : nsimple);
	h->file_size = c->size;
	if (len + c->zeros > FMAP_CASE_MAX)
		return (size_t)-1;
	len += c->zeros;
	if (c->last)
		buf[len - 1] = c->last;
	len = c->cut < len ? len - c->cut : 0;
	if (c->fmap_size >> 32 == 2)
		h->fmap_size = len + (int32_t)c->fmap_size;
	else
		h->fmap_size = fc_field(c->fmap_size, 0);
	return len;
}

#endif /* FAMFS_FMAP_CASES_H */
