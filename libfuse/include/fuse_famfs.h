/*
  FUSE: Filesystem in Userspace

  famfs (FUSE_CAP_DAX_FMAP): the wire format of the FUSE_GET_FMAP and
  FUSE_GET_DAXDEV replies, for servers.

  This program can be distributed under the terms of the GNU LGPLv2.
  See the file LGPL2.txt.
*/

#ifndef FUSE_FAMFS_H_
#define FUSE_FAMFS_H_

/** @file
 *
 * famfs wire format
 *
 * The structs and constants a famfs server needs to build the replies to
 * the get_fmap and get_daxdev operations of the low-level API
 * (fuse_lowlevel.h): a file's map, sent with fuse_reply_fmap(), and a
 * device's name, sent with fuse_reply_daxdev().  They are those of the
 * kernel's protocol 7.46 (include/uapi/linux/fuse.h), with the same names,
 * values and layout; libfuse checks at build time that they match its copy
 * of the kernel header byte for byte.
 *
 * This header needs nothing but <stdint.h> and <sys/ioctl.h>; include it
 * next to fuse_lowlevel.h.  A program that also includes the kernel's
 * header (linux/fuse.h, or a copy of it) must include that one first: if it
 * is a header with famfs (FUSE_DAX_FMAP defined), the definitions here are
 * left out, the kernel's serve (and its FUSE_DEV_IOC_DAXDEV_OPEN, if it
 * has one).
 *
 * The FUSE_GET_FMAP reply is a struct fuse_famfs_fmap_header followed by,
 * for FUSE_FAMFS_EXT_SIMPLE, nextents struct fuse_famfs_simple_ext, or for
 * FUSE_FAMFS_EXT_INTERLEAVE, nextents groups of one struct fuse_famfs_iext
 * and its ie_nstrips struct fuse_famfs_simple_ext (the strips).  Offsets,
 * lengths and chunk sizes are multiples of 2 MiB; fuse_famfs_fmap_check()
 * lists every rule the kernel applies.  All fields are in the host's byte
 * order; reserved fields are zero.
 *
 * fmap_size is the size of the whole map, header and extents, or 0 for "the
 * size of the reply".  A map larger than the size the kernel offered is
 * answered with the header alone, fmap_size set: the kernel asks again,
 * once, offering fmap_size.  fuse_reply_fmap() does this.
 *
 * A server can register a device itself rather than name it in get_daxdev:
 * fuse_daxdev_open() (fuse_lowlevel.h), the FUSE_DEV_IOC_DAXDEV_OPEN ioctl.
 * This header defines FUSE_DEV_IOC_DAXDEV_OPEN, so that a server can test
 * for it.
 */

#include <stdint.h>

#if !(defined(_LINUX_FUSE_H) && defined(FUSE_DAX_FMAP))

/** fmap_version of struct fuse_famfs_fmap_header */
#define FAMFS_FMAP_VERSION 1
/**
 * The size, in bytes, the kernel offers first for a FUSE_GET_FMAP reply; a
 * larger map is asked for again (see fmap_size)
 */
#define FAMFS_FMAP_MAX 32768
/**
 * The most extents (nextents) in a map of the kernels without fmap_size;
 * the number of extents is now bounded by the size of the map only
 */
#define FUSE_FAMFS_MAX_EXTENTS 32
/** The most strips (ie_nstrips) in an interleaved extent */
#define FUSE_FAMFS_MAX_STRIPS 32
/** Bytes of the name of struct fuse_daxdev_out, its NUL included */
#define DAXDEV_NAME_MAX 256

/** file_type of struct fuse_famfs_fmap_header */
enum fuse_famfs_file_type {
	FUSE_FAMFS_FILE_REG,
	FUSE_FAMFS_FILE_SUPERBLOCK,
	FUSE_FAMFS_FILE_LOG,
};

/** ext_type of struct fuse_famfs_fmap_header: what the extents are */
enum famfs_ext_type {
	FUSE_FAMFS_EXT_SIMPLE = 0,
	FUSE_FAMFS_EXT_INTERLEAVE = 1,
};

/** A range of a device: a simple extent, or a strip of an interleaved one */
struct fuse_famfs_simple_ext {
	uint32_t se_devindex; /**< device index, as asked by get_daxdev */
	uint32_t reserved;
	uint64_t se_offset; /**< byte offset on the device */
	uint64_t se_len; /**< bytes */
};

/**
 * An interleaved extent: ie_nbytes of the file cut into ie_chunk_size
 * chunks, chunk k on strip k % ie_nstrips; the ie_nstrips strips (struct
 * fuse_famfs_simple_ext) follow it in the map
 */
struct fuse_famfs_iext {
	uint32_t ie_nstrips; /**< strips that follow */
	uint32_t ie_chunk_size; /**< bytes of a strip before the next one */
	uint64_t ie_nbytes; /**< file bytes this extent covers */
	uint64_t reserved;
};

/** The start of a FUSE_GET_FMAP reply */
struct fuse_famfs_fmap_header {
	uint8_t file_type; /**< enum fuse_famfs_file_type */
	uint8_t reserved;
	uint16_t fmap_version; /**< FAMFS_FMAP_VERSION */
	uint32_t ext_type; /**< enum famfs_ext_type */
	uint32_t nextents; /**< 1 or more */
	uint32_t fmap_size; /**< bytes of header and extents, or 0 */
	uint64_t file_size; /**< bytes */
	uint64_t reserved1;
};

/**
 * The input of FUSE_GET_DAXDEV.  libfuse passes the index to get_daxdev
 * (the kernel puts it in the request header's nodeid too).
 */
struct fuse_get_daxdev_in {
	uint32_t daxdev_num;
};

/** The FUSE_GET_DAXDEV reply, as fuse_reply_daxdev() builds it */
struct fuse_daxdev_out {
	uint16_t index; /**< the device index asked for */
	uint16_t reserved;
	uint32_t reserved2;
	uint64_t reserved3;
	uint64_t reserved4;
	char name[DAXDEV_NAME_MAX]; /**< NUL-terminated absolute path */
};

#endif /* !(_LINUX_FUSE_H && FUSE_DAX_FMAP) */

#ifndef FUSE_DEV_IOC_DAXDEV_OPEN
#include <sys/ioctl.h>

/**
 * The ioctl on /dev/fuse that registers a device, as the kernel defines it:
 * _IOW(FUSE_DEV_IOC_MAGIC, 4, struct fuse_backing_map), a 16-byte struct.
 * fuse_daxdev_open() issues it.
 */
#define FUSE_DEV_IOC_DAXDEV_OPEN _IOC(_IOC_WRITE, 229, 4, 16)
#endif

#endif /* FUSE_FAMFS_H_ */
