/* SPDX-License-Identifier: GPL-2.0 */
/*
 * famfs over FUSE: the in-memory form of a file's map (fmap).
 *
 * A FUSE server describes where a famfs file's bytes live with a
 * FUSE_GET_FMAP reply (include/uapi/linux/fuse.h).  famfs_fmap_parse()
 * validates that reply and turns it into a struct famfs_fmap, which
 * famfs_fmap_resolve() then answers "which device, which offset, how many
 * contiguous bytes" from, for every read, write and fault.  Both are pure
 * functions of their arguments, so KUnit tests them without a connection.
 *
 * Two layouts exist:
 *
 * simple      a list of extents, each a contiguous range of one device; the
 *             file is their concatenation.
 *
 * interleave  a list of interleaved extents.  Each covers @nbytes of the file,
 *             striped over @nstrips strips (one extent each, usually on
 *             different devices) in @chunk sized pieces: file chunk k of the
 *             extent is chunk k / nstrips of strip k % nstrips.
 */
#ifndef _FS_FUSE_FAMFS_KFMAP_H
#define _FS_FUSE_FAMFS_KFMAP_H

#include <linux/bitmap.h>
#include <linux/list.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/types.h>

/* Devices a connection can name, and so the size of its device table. */
#define FAMFS_MAX_DAXDEVS	64

/* All offsets, lengths and chunk sizes in a map are multiples of this. */
#define FAMFS_ALIGN		SZ_2M

/**
 * struct famfs_ext - a contiguous range on one device
 * @dev: index in the connection's device table
 * @offset: byte offset on the device
 * @len: bytes
 */
struct famfs_ext {
	u32 dev;
	u64 offset;
	u64 len;
};

/**
 * struct famfs_iext - an interleaved extent
 * @nstrips: number of strips
 * @chunk: bytes placed on one strip before moving to the next
 * @nbytes: file bytes this extent covers
 * @strips: the strips, @nstrips of them
 */
struct famfs_iext {
	u32 nstrips;
	u64 chunk;
	u64 nbytes;
	struct famfs_ext *strips;
};

/**
 * struct famfs_fmap - a famfs file's map
 * @file_size: file size the map was made for
 * @file_type: enum fuse_famfs_file_type
 * @ext_type: enum famfs_ext_type
 * @nextents: number of entries in @se or @ie
 * @shift: if not 0, every extent but the last is 1 << @shift bytes long:
 *	   the extent holding an offset is computed, not searched for
 * @dev_bitmap: devices the map uses, bit n for table index n
 * @rwsem: serializes writes to the file against each other and reads
 * @mapping: the file's mapping, once the map is installed
 * @node: in the connection's list of installed maps
 * @start: file offset where each extent starts, and where the last ends
 *	   (@nextents + 1 entries, increasing)
 * @se: simple extents, for FUSE_FAMFS_EXT_SIMPLE
 * @ie: interleaved extents, for FUSE_FAMFS_EXT_INTERLEAVE
 *
 * One allocation holds the struct and the arrays it points to.
 */
struct famfs_fmap {
	u64 file_size;
	u8 file_type;
	u8 shift;
	u32 ext_type;
	u32 nextents;
	DECLARE_BITMAP(dev_bitmap, FAMFS_MAX_DAXDEVS);
	struct rw_semaphore rwsem;
	struct address_space *mapping;
	struct list_head node;
	u64 *start;
	union {
		struct famfs_ext *se;
		struct famfs_iext *ie;
	};
};

struct famfs_fmap *famfs_fmap_parse(const void *buf, size_t len);
void famfs_fmap_free(struct famfs_fmap *fmap);
u32 famfs_fmap_find(const struct famfs_fmap *fmap, u64 pos, u32 *probes);
int famfs_fmap_resolve(const struct famfs_fmap *fmap, u64 pos, u64 len,
		       struct famfs_ext *out);

#endif /* _FS_FUSE_FAMFS_KFMAP_H */
