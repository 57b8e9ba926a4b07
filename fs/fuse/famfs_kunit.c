// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the famfs fmap parser and resolver (fs/fuse/famfs.c).
 */

#include <kunit/test.h>
#include <linux/fuse.h>
#include <linux/sizes.h>

#include "famfs_kfmap.h"

#define M2	SZ_2M

/* A reply under construction: header, then extents appended in order. */
struct fmap_buf {
	size_t len;
	u8 data[FAMFS_FMAP_MAX + 64];
};

static struct fuse_famfs_fmap_header *fb_hdr(struct fmap_buf *b, u32 ext_type,
					     u32 nextents, u64 size)
{
	struct fuse_famfs_fmap_header *h = (void *)b->data;

	memset(b, 0, sizeof(*b));
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->file_type = FUSE_FAMFS_FILE_REG;
	h->ext_type = ext_type;
	h->nextents = nextents;
	h->file_size = size;
	b->len = sizeof(*h);
	return h;
}

static struct fuse_famfs_simple_ext *fb_se(struct fmap_buf *b, u32 dev,
					   u64 off, u64 len)
{
	struct fuse_famfs_simple_ext *se = (void *)(b->data + b->len);

	se->se_devindex = dev;
	se->se_offset = off;
	se->se_len = len;
	b->len += sizeof(*se);
	return se;
}

static struct fuse_famfs_iext *fb_ie(struct fmap_buf *b, u32 nstrips,
				     u32 chunk, u64 nbytes)
{
	struct fuse_famfs_iext *ie = (void *)(b->data + b->len);

	ie->ie_nstrips = nstrips;
	ie->ie_chunk_size = chunk;
	ie->ie_nbytes = nbytes;
	b->len += sizeof(*ie);
	return ie;
}

/* Valid simple map: 3 extents on devices 0, 1, 0; 10 MiB file. */
static void mk_simple(struct fmap_buf *b)
{
	fb_hdr(b, FUSE_FAMFS_EXT_SIMPLE, 3, 10 * M2 / 2);
	fb_se(b, 0, 4 * M2, 2 * M2);
	fb_se(b, 1, 0, M2);
	fb_se(b, 0, 16 * M2, 4 * M2);
}

/* Valid interleaved map: 3 strips of 2 MiB chunks, 5 chunks + 1 MiB. */
static void mk_interleave(struct fmap_buf *b)
{
	fb_hdr(b, FUSE_FAMFS_EXT_INTERLEAVE, 1, 5 * M2 + M2 / 2);
	fb_ie(b, 3, M2, 5 * M2 + M2 / 2);
	fb_se(b, 0, 0, 2 * M2);
	fb_se(b, 1, 2 * M2, 2 * M2);
	fb_se(b, 2, 8 * M2, 2 * M2);
}

struct parse_case {
	const char *name;
	void (*mk)(struct fmap_buf *b);
	int err;
};

#define HDR(b)	((struct fuse_famfs_fmap_header *)(b)->data)
#define SE(b, i)	((struct fuse_famfs_simple_ext *)(HDR(b) + 1) + (i))
#define IE(b)	((struct fuse_famfs_iext *)(HDR(b) + 1))
#define STRIP(b, i) ((struct fuse_famfs_simple_ext *)(IE(b) + 1) + (i))

static void mk_version(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->fmap_version = 2;
}

static void mk_version0(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->fmap_version = 0;
}

static void mk_ftype(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->file_type = 3;
}

static void mk_ftype_log(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->file_type = FUSE_FAMFS_FILE_LOG;
}

static void mk_etype(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->ext_type = 2;
}

static void mk_next0(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->nextents = 0;
}

/* More than the 32 extents one buffer used to hold. */
static void mk_next33(struct fmap_buf *b)
{
	int i;

	fb_hdr(b, FUSE_FAMFS_EXT_SIMPLE, 33, 33 * M2);
	for (i = 0; i < 33; i++)
		fb_se(b, 0, i * M2, M2);
}

static void mk_fmap_size(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->fmap_size = b->len;
}

static void mk_fmap_size_short(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->fmap_size = b->len - sizeof(struct fuse_famfs_simple_ext);
}

/* The "map too large" header, with the extents sent anyway. */
static void mk_fmap_size_hdr(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->fmap_size = sizeof(struct fuse_famfs_fmap_header);
}

static void mk_next_huge(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->nextents = U32_MAX;
}

static void mk_short_hdr(struct fmap_buf *b)
{
	mk_simple(b);
	b->len = sizeof(struct fuse_famfs_fmap_header) - 1;
}

static void mk_empty(struct fmap_buf *b)
{
	mk_simple(b);
	b->len = 0;
}

static void mk_short_ext(struct fmap_buf *b)
{
	mk_simple(b);
	b->len -= 1;
}

static void mk_claims_more(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->nextents = 4;
}

static void mk_trailing(struct fmap_buf *b)
{
	mk_simple(b);
	b->data[b->len] = 1;
	b->len += 8;
}

static void mk_trailing_zero(struct fmap_buf *b)
{
	mk_simple(b);
	b->len += 64;
}

static void mk_off_unaligned(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 1)->se_offset = 4096;
}

static void mk_len_unaligned(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 2)->se_len = 4 * M2 + 4096;
}

static void mk_len0(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 1)->se_len = 0;
}

static void mk_dev64(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 1)->se_devindex = FAMFS_MAX_DAXDEVS;
}

static void mk_dev_big(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 1)->se_devindex = 1U << 31;
}

static void mk_dev63(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 1)->se_devindex = FAMFS_MAX_DAXDEVS - 1;
}

static void mk_end_overflow(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 0)->se_offset = U64_MAX - M2 + 1;
}

static void mk_sum_overflow(struct fmap_buf *b)
{
	fb_hdr(b, FUSE_FAMFS_EXT_SIMPLE, 2, 4 * M2);
	fb_se(b, 0, 0, U64_MAX - M2 + 1);
	fb_se(b, 1, 0, U64_MAX - M2 + 1);
}

static void mk_short_cover(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->file_size = 7 * M2 + 1;
}

static void mk_exact_cover(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->file_size = 7 * M2;
}

static void mk_size0(struct fmap_buf *b)
{
	mk_simple(b);
	HDR(b)->file_size = 0;
}

static void mk_max_simple(struct fmap_buf *b)
{
	int i;

	fb_hdr(b, FUSE_FAMFS_EXT_SIMPLE, FUSE_FAMFS_MAX_EXTENTS,
	       FUSE_FAMFS_MAX_EXTENTS * M2);
	for (i = 0; i < FUSE_FAMFS_MAX_EXTENTS; i++)
		fb_se(b, i % FAMFS_MAX_DAXDEVS, i * M2, M2);
}

static void mk_max_interleave(struct fmap_buf *b)
{
	int i, j;

	fb_hdr(b, FUSE_FAMFS_EXT_INTERLEAVE, FUSE_FAMFS_MAX_EXTENTS, 0);
	for (i = 0; i < FUSE_FAMFS_MAX_EXTENTS; i++) {
		fb_ie(b, FUSE_FAMFS_MAX_STRIPS, M2, FUSE_FAMFS_MAX_STRIPS * M2);
		for (j = 0; j < FUSE_FAMFS_MAX_STRIPS; j++)
			fb_se(b, j % FAMFS_MAX_DAXDEVS, (i * 64 + j) * M2, M2);
	}
	HDR(b)->file_size = (u64)FUSE_FAMFS_MAX_EXTENTS *
			    FUSE_FAMFS_MAX_STRIPS * M2;
}

static void mk_ie_nstrips0(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_nstrips = 0;
}

static void mk_ie_nstrips33(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_nstrips = 33;
}

static void mk_ie_nstrips_big(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_nstrips = 1U << 31;
}

static void mk_ie_nstrips_more(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_nstrips = 4;
}

static void mk_ie_chunk0(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_chunk_size = 0;
}

static void mk_ie_chunk_unaligned(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_chunk_size = M2 + 4096;
}

static void mk_ie_nbytes0(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_nbytes = 0;
	HDR(b)->file_size = 0;
}

static void mk_ie_strip_short(struct fmap_buf *b)
{
	mk_interleave(b);
	STRIP(b, 0)->se_len = M2;
}

static void mk_ie_last_partial_ok(struct fmap_buf *b)
{
	/* 4 chunks + 1 MiB over 2 strips: strip 0 needs 2 chunks + 1 MiB. */
	fb_hdr(b, FUSE_FAMFS_EXT_INTERLEAVE, 1, 4 * M2 + M2 / 2);
	fb_ie(b, 2, M2, 4 * M2 + M2 / 2);
	fb_se(b, 0, 0, 3 * M2);
	fb_se(b, 1, 0, 2 * M2);
}

/* Two interleaved extents; the second ends inside a page. */
static void mk_ie_two_tail(struct fmap_buf *b)
{
	fb_hdr(b, FUSE_FAMFS_EXT_INTERLEAVE, 2, 5 * M2 + 12345);
	fb_ie(b, 2, M2, 4 * M2);
	fb_se(b, 0, 0, 2 * M2);
	fb_se(b, 1, 0, 2 * M2);
	fb_ie(b, 2, M2, M2 + 12345);
	fb_se(b, 0, 8 * M2, M2);
	fb_se(b, 1, 8 * M2, M2);
}

static void mk_ie_not_last_unaligned(struct fmap_buf *b)
{
	mk_ie_two_tail(b);
	IE(b)->ie_nbytes -= 4095;
	HDR(b)->file_size -= 4095;
}

static void mk_size_huge(struct fmap_buf *b)
{
	/* covered, but not a possible i_size */
	fb_hdr(b, FUSE_FAMFS_EXT_SIMPLE, 1, 1ULL << 63);
	fb_se(b, 0, 0, 1ULL << 63);
}

static void mk_ie_long_strips(struct fmap_buf *b)
{
	/* As the public famfs server sends: strips longer than needed. */
	mk_interleave(b);
	STRIP(b, 0)->se_len = 64 * M2;
	STRIP(b, 2)->se_len = 32 * M2;
}

static void mk_ie_short_strips(struct fmap_buf *b)
{
	mk_interleave(b);
	b->len -= sizeof(struct fuse_famfs_simple_ext);
}

static void mk_ie_cover(struct fmap_buf *b)
{
	mk_interleave(b);
	HDR(b)->file_size += 1;
}

static void mk_ie_strip_dev64(struct fmap_buf *b)
{
	mk_interleave(b);
	STRIP(b, 1)->se_devindex = FAMFS_MAX_DAXDEVS;
}

static void mk_ie_nbytes_huge(struct fmap_buf *b)
{
	mk_interleave(b);
	IE(b)->ie_nbytes = U64_MAX;
}

/* Extent 2 starts inside extent 0, on the same device. */
static void mk_overlap(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 2)->se_offset = 5 * M2;
}

/* Extent 2 starts where extent 0 ends. */
static void mk_touch(struct fmap_buf *b)
{
	mk_simple(b);
	SE(b, 2)->se_offset = 6 * M2;
}

/* Two strips of one interleaved extent share device 0 bytes. */
static void mk_ie_strips_overlap(struct fmap_buf *b)
{
	mk_interleave(b);
	STRIP(b, 1)->se_devindex = 0;
	STRIP(b, 1)->se_offset = M2;
}

/* A strip of the second extent overlaps one of the first. */
static void mk_ie_extents_overlap(struct fmap_buf *b)
{
	struct fuse_famfs_simple_ext *second;

	mk_ie_two_tail(b);
	second = (void *)((struct fuse_famfs_iext *)(STRIP(b, 2)) + 1);
	second->se_offset = M2;
}

static const struct parse_case parse_cases[] = {
	{ "valid touching extents", mk_touch, 0 },
	{ "extents overlap on a device", mk_overlap, -EINVAL },
	{ "strips overlap on a device", mk_ie_strips_overlap, -EINVAL },
	{ "strips of two extents overlap", mk_ie_extents_overlap, -EINVAL },
	{ "valid simple", mk_simple, 0 },
	{ "valid interleave", mk_interleave, 0 },
	{ "valid file type log", mk_ftype_log, 0 },
	{ "valid device 63", mk_dev63, 0 },
	{ "valid trailing zero padding", mk_trailing_zero, 0 },
	{ "valid exact cover", mk_exact_cover, 0 },
	{ "valid empty file", mk_size0, 0 },
	{ "valid 32 simple extents", mk_max_simple, 0 },
	{ "valid 32x32 interleave", mk_max_interleave, 0 },
	{ "valid last partial stripe", mk_ie_last_partial_ok, 0 },
	{ "valid strips longer than needed", mk_ie_long_strips, 0 },
	{ "valid last extent ends inside a page", mk_ie_two_tail, 0 },
	{ "interleave not last, ends inside a page", mk_ie_not_last_unaligned, -EINVAL },
	{ "file size 2^63", mk_size_huge, -EINVAL },
	{ "version 2", mk_version, -EINVAL },
	{ "version 0", mk_version0, -EINVAL },
	{ "unknown file type", mk_ftype, -EINVAL },
	{ "unknown extent type", mk_etype, -EINVAL },
	{ "nextents 0", mk_next0, -EINVAL },
	{ "valid 33 simple extents", mk_next33, 0 },
	{ "nextents huge, short buffer", mk_next_huge, -EINVAL },
	{ "empty reply", mk_empty, -EINVAL },
	{ "short header", mk_short_hdr, -EINVAL },
	{ "truncated extent", mk_short_ext, -EINVAL },
	{ "more extents claimed than sent", mk_claims_more, -EINVAL },
	{ "garbage after the extents", mk_trailing, -EINVAL },
	{ "offset not aligned", mk_off_unaligned, -EINVAL },
	{ "length not aligned", mk_len_unaligned, -EINVAL },
	{ "length 0", mk_len0, -EINVAL },
	{ "device index 64", mk_dev64, -EINVAL },
	{ "device index 2^31", mk_dev_big, -EINVAL },
	{ "offset + length overflows", mk_end_overflow, -EINVAL },
	{ "sum of lengths overflows", mk_sum_overflow, -EINVAL },
	{ "extents shorter than file", mk_short_cover, -EINVAL },
	{ "interleave nstrips 0", mk_ie_nstrips0, -EINVAL },
	{ "interleave nstrips 33", mk_ie_nstrips33, -EINVAL },
	{ "interleave nstrips 2^31", mk_ie_nstrips_big, -EINVAL },
	{ "interleave more strips than sent", mk_ie_nstrips_more, -EINVAL },
	{ "interleave chunk 0", mk_ie_chunk0, -EINVAL },
	{ "interleave chunk not aligned", mk_ie_chunk_unaligned, -EINVAL },
	{ "interleave nbytes 0", mk_ie_nbytes0, -EINVAL },
	{ "interleave nbytes overflows", mk_ie_nbytes_huge, -EINVAL },
	{ "interleave strip too short", mk_ie_strip_short, -EINVAL },
	{ "interleave truncated strips", mk_ie_short_strips, -EINVAL },
	{ "interleave shorter than file", mk_ie_cover, -EINVAL },
	{ "interleave strip device 64", mk_ie_strip_dev64, -EINVAL },
	{ "fmap_size is the reply's length", mk_fmap_size, 0 },
	{ "fmap_size is not the reply's length", mk_fmap_size_short, -EINVAL },
	{ "fmap_size of the header alone", mk_fmap_size_hdr, -EINVAL },
};

static void parse_case_desc(const struct parse_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(famfs_parse, parse_cases, parse_case_desc);

static void famfs_parse_test(struct kunit *test)
{
	const struct parse_case *c = test->param_value;
	struct fmap_buf *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct famfs_fmap *fmap;

	KUNIT_ASSERT_NOT_NULL(test, b);
	c->mk(b);
	fmap = famfs_fmap_parse(b->data, b->len);
	if (c->err) {
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(fmap), c->err);
		if (!IS_ERR(fmap))
			famfs_fmap_free(fmap);
		return;
	}
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(fmap), "err %ld", PTR_ERR(fmap));
	KUNIT_EXPECT_EQ(test, fmap->file_size, HDR(b)->file_size);
	KUNIT_EXPECT_EQ(test, fmap->nextents, HDR(b)->nextents);
	famfs_fmap_free(fmap);
}

static void famfs_parse_bitmap_test(struct kunit *test)
{
	struct fmap_buf *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct famfs_fmap *fmap;

	KUNIT_ASSERT_NOT_NULL(test, b);
	mk_interleave(b);
	fmap = famfs_fmap_parse(b->data, b->len);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fmap));
	KUNIT_EXPECT_EQ(test, fmap->dev_bitmap[0], 0x7ul);
	KUNIT_EXPECT_EQ(test, fmap->ie[0].nstrips, 3u);
	KUNIT_EXPECT_EQ(test, fmap->ie[0].strips[2].offset, 8ull * M2);
	famfs_fmap_free(fmap);

	mk_simple(b);
	fmap = famfs_fmap_parse(b->data, b->len);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fmap));
	KUNIT_EXPECT_EQ(test, fmap->dev_bitmap[0], 0x3ul);
	famfs_fmap_free(fmap);
}

struct resolve_case {
	const char *name;
	void (*mk)(struct fmap_buf *b);
	u64 pos, len;
	int err;
	u32 dev;
	u64 offset, out_len;
};

static const struct resolve_case resolve_cases[] = {
	/* simple: [0,4M) dev0@8M, [4M,6M) dev1@0, [6M,14M) dev0@32M */
	{ "simple start", mk_simple, 0, 4096, 0, 0, 4 * M2, 4096 },
	{ "simple clamp to extent", mk_simple, M2, 8 * M2, 0, 0, 5 * M2, M2 },
	{ "simple last byte of extent 0", mk_simple, 2 * M2 - 1, 8, 0, 0, 6 * M2 - 1, 1 },
	{ "simple first byte of extent 1", mk_simple, 2 * M2, 8, 0, 1, 0, 8 },
	{ "simple into extent 2", mk_simple, 3 * M2 + 12, M2, 0, 0, 16 * M2 + 12, M2 },
	{ "simple last byte of map", mk_simple, 7 * M2 - 1, 4096, 0, 0, 20 * M2 - 1, 1 },
	{ "simple past the map", mk_simple, 7 * M2, 1, -EIO },
	{ "simple far past the map", mk_simple, U64_MAX, 1, -EIO },
	/* interleave: 3 strips, 2M chunks: chunk k on strip k%3, stripe k/3 */
	{ "interleave chunk 0", mk_interleave, 100, M2, 0, 0, 100, M2 - 100 },
	{ "interleave chunk 1", mk_interleave, M2, 4096, 0, 1, 2 * M2, 4096 },
	{ "interleave chunk 2", mk_interleave, 2 * M2 + 5, 10, 0, 2, 8 * M2 + 5, 10 },
	{ "interleave chunk 3, stripe 1", mk_interleave, 3 * M2, 3 * M2, 0, 0, M2, M2 },
	{ "interleave chunk 4, stripe 1", mk_interleave, 4 * M2 + 7, M2,
	  0, 1, 3 * M2 + 7, M2 - 7 },
	{ "interleave last partial chunk", mk_interleave, 5 * M2, M2, 0, 2, 9 * M2, M2 / 2 },
	{ "interleave last byte", mk_interleave, 5 * M2 + M2 / 2 - 1, M2,
	  0, 2, 9 * M2 + M2 / 2 - 1, 1 },
	{ "interleave past the map", mk_interleave, 5 * M2 + M2 / 2, 1, -EIO },
	{ "interleave 32x32 second extent", mk_max_interleave, 33 * M2 + 1, 8,
	  0, 1, 65 * M2 + 1, 8 },
	/* extent 1, from 4 * M2: chunk 0 on dev0@8M2, chunk 1 (12345 bytes) dev1@8M2 */
	{ "interleave last chunk to page end", mk_ie_two_tail, 5 * M2, M2,
	  0, 1, 8 * M2, 16384 },
	{ "interleave last page is whole", mk_ie_two_tail, 5 * M2 + 12288, 4096,
	  0, 1, 8 * M2 + 12288, 4096 },
};

static void resolve_case_desc(const struct resolve_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(famfs_resolve, resolve_cases, resolve_case_desc);

static void famfs_resolve_test(struct kunit *test)
{
	const struct resolve_case *c = test->param_value;
	struct fmap_buf *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct famfs_ext ext = {};
	struct famfs_fmap *fmap;
	int err;

	KUNIT_ASSERT_NOT_NULL(test, b);
	c->mk(b);
	fmap = famfs_fmap_parse(b->data, b->len);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fmap));
	err = famfs_fmap_resolve(fmap, c->pos, c->len, &ext);
	KUNIT_EXPECT_EQ(test, err, c->err);
	if (!err && !c->err) {
		KUNIT_EXPECT_EQ(test, ext.dev, c->dev);
		KUNIT_EXPECT_EQ(test, ext.offset, c->offset);
		KUNIT_EXPECT_EQ(test, ext.len, c->out_len);
	}
	famfs_fmap_free(fmap);
}

/* Walking a whole interleaved file visits every chunk of every strip once. */
static void famfs_resolve_walk_test(struct kunit *test)
{
	struct fmap_buf *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	u64 used[3] = {};
	struct famfs_fmap *fmap;
	struct famfs_ext ext;
	u64 pos = 0;

	KUNIT_ASSERT_NOT_NULL(test, b);
	mk_interleave(b);
	fmap = famfs_fmap_parse(b->data, b->len);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fmap));
	while (pos < fmap->file_size) {
		KUNIT_ASSERT_EQ(test, famfs_fmap_resolve(fmap, pos, U64_MAX, &ext), 0);
		KUNIT_ASSERT_LT(test, ext.dev, 3u);
		KUNIT_EXPECT_GT(test, ext.len, 0ull);
		used[ext.dev] += ext.len;
		pos += ext.len;
	}
	KUNIT_EXPECT_EQ(test, pos, fmap->file_size);
	KUNIT_EXPECT_EQ(test, used[0], 2ull * M2);
	KUNIT_EXPECT_EQ(test, used[1], 2ull * M2);
	KUNIT_EXPECT_EQ(test, used[2], 3ull * M2 / 2);
	famfs_fmap_free(fmap);
}

/*
 * Maps of many simple extents: extent i is on device i % 3 at 8 MiB * i,
 * 2 MiB long (uniform) or 2, 4 or 6 MiB (not uniform).
 */
struct large_case {
	const char *name;
	u32 n;
	bool uniform;
};

static const struct large_case large_cases[] = {
	{ "1 extent", 1, true },
	{ "32 uniform extents", 32, true },
	{ "32 extents", 32, false },
	{ "33 uniform extents", 33, true },
	{ "33 extents", 33, false },
	{ "10^4 uniform extents", 10000, true },
	{ "10^4 extents", 10000, false },
	{ "10^5 uniform extents", 100000, true },
	{ "10^5 extents", 100000, false },
};

static void large_case_desc(const struct large_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(famfs_large, large_cases, large_case_desc);
KUNIT_DEFINE_ACTION_WRAPPER(kvfree_action, kvfree, const void *);

static u64 large_len(const struct large_case *c, u32 i)
{
	return c->uniform ? M2 : (1 + i % 3) * M2;
}

/* Probes of famfs_fmap_find() for @pos, which must be in extent @want. */
static u32 large_probes(struct kunit *test, const struct famfs_fmap *fmap,
			u64 pos, u32 want)
{
	u32 probes = 0;

	KUNIT_EXPECT_EQ(test, famfs_fmap_find(fmap, pos, &probes), want);
	return probes;
}

static void famfs_large_test(struct kunit *test)
{
	const struct large_case *c = test->param_value;
	size_t len = sizeof(struct fuse_famfs_fmap_header) +
		     c->n * sizeof(struct fuse_famfs_simple_ext);
	struct fuse_famfs_fmap_header *h = kvzalloc(len, GFP_KERNEL);
	struct fuse_famfs_simple_ext *se = (void *)(h + 1);
	u32 i, first, last, bound = ilog2(c->n) + 1;
	struct famfs_fmap *fmap;
	struct famfs_ext ext;
	u64 pos = 0;

	KUNIT_ASSERT_NOT_NULL(test, h);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, kvfree_action, h), 0);
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = FUSE_FAMFS_EXT_SIMPLE;
	h->nextents = c->n;
	for (i = 0; i < c->n; i++) {
		se[i].se_devindex = i % 3;
		se[i].se_offset = (u64)i * 4 * M2;
		se[i].se_len = large_len(c, i);
		h->file_size += se[i].se_len;
	}
	fmap = famfs_fmap_parse(h, len);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(fmap), "err %ld", PTR_ERR(fmap));
	KUNIT_EXPECT_EQ(test, fmap->shift, c->uniform && c->n > 1 ? 21 : 0);

	/* Every boundary: the last byte of an extent, the first of the next. */
	for (i = 0; i < c->n; i++) {
		KUNIT_ASSERT_EQ(test, famfs_fmap_resolve(fmap, pos, U64_MAX, &ext), 0);
		KUNIT_EXPECT_EQ(test, ext.dev, i % 3);
		KUNIT_EXPECT_EQ(test, ext.offset, (u64)i * 4 * M2);
		KUNIT_EXPECT_EQ(test, ext.len, large_len(c, i));
		pos += large_len(c, i);
		KUNIT_ASSERT_EQ(test, famfs_fmap_resolve(fmap, pos - 1, 8, &ext), 0);
		KUNIT_EXPECT_EQ(test, ext.offset, (u64)i * 4 * M2 + large_len(c, i) - 1);
		KUNIT_EXPECT_EQ(test, ext.len, 1ull);
	}
	KUNIT_EXPECT_EQ(test, famfs_fmap_resolve(fmap, pos, 1, &ext), -EIO);

	/* The last extent costs what the first does: nothing, or a log. */
	first = large_probes(test, fmap, 0, 0);
	last = large_probes(test, fmap, pos - 1, c->n - 1);
	if (fmap->shift) {
		KUNIT_EXPECT_EQ(test, first, 0u);
		KUNIT_EXPECT_EQ(test, last, 0u);
	} else {
		KUNIT_EXPECT_LE(test, first, bound);
		KUNIT_EXPECT_LE(test, last, bound);
		KUNIT_EXPECT_LE(test, abs((int)first - (int)last), 1);
	}
	famfs_fmap_free(fmap);
}

static struct kunit_case famfs_fmap_cases[] = {
	KUNIT_CASE_PARAM(famfs_parse_test, famfs_parse_gen_params),
	KUNIT_CASE(famfs_parse_bitmap_test),
	KUNIT_CASE_PARAM(famfs_resolve_test, famfs_resolve_gen_params),
	KUNIT_CASE(famfs_resolve_walk_test),
	KUNIT_CASE_PARAM(famfs_large_test, famfs_large_gen_params),
	{}
};

static struct kunit_suite famfs_fmap_suite = {
	.name = "famfs_fmap",
	.test_cases = famfs_fmap_cases,
};

kunit_test_suite(famfs_fmap_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for the famfs fmap parser and resolver");
