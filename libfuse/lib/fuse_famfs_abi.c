/*
  FUSE: Filesystem in Userspace

  famfs: the public wire format (fuse_famfs.h, installed) must be the
  kernel's (fuse_kernel.h, private) byte for byte.  Static assertions only:
  this file compiles to no code.

  This program can be distributed under the terms of the GNU LGPLv2.
  See the file LGPL2.txt
*/

#include "fuse_config.h"

#include <stddef.h>

/*
 * Both headers define the same names.  Read the public one first with its
 * names prefixed by pub_ (its own guard lets it define everything: the
 * kernel's header is not read yet), keep its constants, then read the
 * kernel's.  A name added to fuse_famfs.h and not renamed here is defined
 * twice: the build fails, it does not go unchecked.
 */
#define fuse_famfs_file_type pub_fuse_famfs_file_type
#define famfs_ext_type pub_famfs_ext_type
#define fuse_famfs_simple_ext pub_fuse_famfs_simple_ext
#define fuse_famfs_iext pub_fuse_famfs_iext
#define fuse_famfs_fmap_header pub_fuse_famfs_fmap_header
#define fuse_get_daxdev_in pub_fuse_get_daxdev_in
#define fuse_daxdev_out pub_fuse_daxdev_out
#define FUSE_FAMFS_FILE_REG PUB_FUSE_FAMFS_FILE_REG
#define FUSE_FAMFS_FILE_SUPERBLOCK PUB_FUSE_FAMFS_FILE_SUPERBLOCK
#define FUSE_FAMFS_FILE_LOG PUB_FUSE_FAMFS_FILE_LOG
#define FUSE_FAMFS_EXT_SIMPLE PUB_FUSE_FAMFS_EXT_SIMPLE
#define FUSE_FAMFS_EXT_INTERLEAVE PUB_FUSE_FAMFS_EXT_INTERLEAVE

#include "fuse_famfs.h"

#if defined(_LINUX_FUSE_H) || !defined(FUSE_FAMFS_H_)
#error "fuse_famfs.h must be read before fuse_kernel.h here"
#endif

#undef fuse_famfs_file_type
#undef famfs_ext_type
#undef fuse_famfs_simple_ext
#undef fuse_famfs_iext
#undef fuse_famfs_fmap_header
#undef fuse_get_daxdev_in
#undef fuse_daxdev_out
#undef FUSE_FAMFS_FILE_REG
#undef FUSE_FAMFS_FILE_SUPERBLOCK
#undef FUSE_FAMFS_FILE_LOG
#undef FUSE_FAMFS_EXT_SIMPLE
#undef FUSE_FAMFS_EXT_INTERLEAVE

enum {
	PUB_FAMFS_FMAP_VERSION = FAMFS_FMAP_VERSION,
	PUB_FAMFS_FMAP_MAX = FAMFS_FMAP_MAX,
	PUB_FUSE_FAMFS_MAX_EXTENTS = FUSE_FAMFS_MAX_EXTENTS,
	PUB_FUSE_FAMFS_MAX_STRIPS = FUSE_FAMFS_MAX_STRIPS,
	PUB_DAXDEV_NAME_MAX = DAXDEV_NAME_MAX,
	/* 32 bits, above INT_MAX on some architectures: compared as an int */
	PUB_FUSE_DEV_IOC_DAXDEV_OPEN = (int)FUSE_DEV_IOC_DAXDEV_OPEN,
};

#undef FAMFS_FMAP_VERSION
#undef FAMFS_FMAP_MAX
#undef FUSE_FAMFS_MAX_EXTENTS
#undef FUSE_FAMFS_MAX_STRIPS
#undef DAXDEV_NAME_MAX
#undef FUSE_DEV_IOC_DAXDEV_OPEN

#include "fuse_kernel.h"

#define FAMFS_SAME_VALUE(name)                                   \
	_Static_assert((long long)PUB_##name == (long long)name, \
		       "fuse_famfs.h: " #name " differs from fuse_kernel.h")

FAMFS_SAME_VALUE(FAMFS_FMAP_VERSION);
FAMFS_SAME_VALUE(FAMFS_FMAP_MAX);
FAMFS_SAME_VALUE(FUSE_FAMFS_MAX_EXTENTS);
FAMFS_SAME_VALUE(FUSE_FAMFS_MAX_STRIPS);
FAMFS_SAME_VALUE(DAXDEV_NAME_MAX);
_Static_assert(
	PUB_FUSE_DEV_IOC_DAXDEV_OPEN == (int)FUSE_DEV_IOC_DAXDEV_OPEN,
	"fuse_famfs.h: FUSE_DEV_IOC_DAXDEV_OPEN differs from fuse_kernel.h");
FAMFS_SAME_VALUE(FUSE_FAMFS_FILE_REG);
FAMFS_SAME_VALUE(FUSE_FAMFS_FILE_SUPERBLOCK);
FAMFS_SAME_VALUE(FUSE_FAMFS_FILE_LOG);
FAMFS_SAME_VALUE(FUSE_FAMFS_EXT_SIMPLE);
FAMFS_SAME_VALUE(FUSE_FAMFS_EXT_INTERLEAVE);

_Static_assert(sizeof(enum pub_fuse_famfs_file_type) ==
		       sizeof(enum fuse_famfs_file_type),
	       "fuse_famfs.h: enum fuse_famfs_file_type differs in size");
_Static_assert(sizeof(enum pub_famfs_ext_type) == sizeof(enum famfs_ext_type),
	       "fuse_famfs.h: enum famfs_ext_type differs in size");

#define FAMFS_SAME_SIZE(s)                                                     \
	_Static_assert(sizeof(struct pub_##s) == sizeof(struct s) &&           \
			       _Alignof(struct pub_##s) == _Alignof(struct s), \
		       "fuse_famfs.h: struct " #s " differs in size")

/* Same offset, same size, same type */
#define FAMFS_SAME_FIELD(s, f)                                                 \
	_Static_assert(offsetof(struct pub_##s, f) == offsetof(struct s, f) && \
			       sizeof(((struct pub_##s *)0)->f) ==             \
				       sizeof(((struct s *)0)->f) &&           \
			       __builtin_types_compatible_p(                   \
				       __typeof__(((struct pub_##s *)0)->f),   \
				       __typeof__(((struct s *)0)->f)),        \
		       "fuse_famfs.h: field " #s "." #f " differs")

FAMFS_SAME_SIZE(fuse_famfs_simple_ext);
FAMFS_SAME_FIELD(fuse_famfs_simple_ext, se_devindex);
FAMFS_SAME_FIELD(fuse_famfs_simple_ext, reserved);
FAMFS_SAME_FIELD(fuse_famfs_simple_ext, se_offset);
FAMFS_SAME_FIELD(fuse_famfs_simple_ext, se_len);

FAMFS_SAME_SIZE(fuse_famfs_iext);
FAMFS_SAME_FIELD(fuse_famfs_iext, ie_nstrips);
FAMFS_SAME_FIELD(fuse_famfs_iext, ie_chunk_size);
FAMFS_SAME_FIELD(fuse_famfs_iext, ie_nbytes);
FAMFS_SAME_FIELD(fuse_famfs_iext, reserved);

FAMFS_SAME_SIZE(fuse_famfs_fmap_header);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, file_type);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, reserved);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, fmap_version);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, ext_type);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, nextents);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, fmap_size);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, file_size);
FAMFS_SAME_FIELD(fuse_famfs_fmap_header, reserved1);

FAMFS_SAME_SIZE(fuse_get_daxdev_in);
FAMFS_SAME_FIELD(fuse_get_daxdev_in, daxdev_num);

FAMFS_SAME_SIZE(fuse_daxdev_out);
FAMFS_SAME_FIELD(fuse_daxdev_out, index);
FAMFS_SAME_FIELD(fuse_daxdev_out, reserved);
FAMFS_SAME_FIELD(fuse_daxdev_out, reserved2);
FAMFS_SAME_FIELD(fuse_daxdev_out, reserved3);
FAMFS_SAME_FIELD(fuse_daxdev_out, reserved4);
FAMFS_SAME_FIELD(fuse_daxdev_out, name);
