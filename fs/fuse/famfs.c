// SPDX-License-Identifier: GPL-2.0
/*
 * famfs over FUSE: files whose bytes live on shared device-dax memory.
 *
 * On the first open of a regular file of a famfs connection the kernel asks
 * the server for the file's map (FUSE_GET_FMAP), checks it, learns the
 * devices it names (FUSE_GET_DAXDEV, once per device and connection) and
 * installs it on the inode.  From then on read, write and page faults go
 * through fs-dax and famfs_fuse_iomap_begin(), which resolves file offsets
 * from the map: the server is not asked again.
 *
 * See Documentation/filesystems/famfs.rst.
 */

#include <linux/cleanup.h>
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/iomap.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "fuse_i.h"
#include "famfs_kfmap.h"

#define famfs_reject(fmt, ...)						\
({									\
	pr_warn_ratelimited("fuse: famfs: invalid fmap: " fmt "\n",	\
			    ##__VA_ARGS__);				\
	-EINVAL;							\
})

/**
 * struct famfs_daxdev - one entry of a connection's device table
 * @dax: the device, set once with release semantics; the entry is usable
 *	 from then on and never changes again until the connection goes
 * @poisoned: memory failure reported on the device
 * @removed: the device is going away (fsdev_dax unbound)
 */
struct famfs_daxdev {
	struct dax_device *dax;
	bool poisoned;
	bool removed;
};

/**
 * struct famfs_devtable - the devices a famfs connection uses
 * @lock: serializes filling entries, including the FUSE_GET_DAXDEV request
 * @dev: entries, indexed by the device index of the fmaps
 */
struct famfs_devtable {
	struct mutex lock;	/* serializes filling entries and their requests */
	struct famfs_daxdev dev[FAMFS_MAX_DAXDEVS];
};

/* -- The fmap: parsing and resolving ------------------------------------ */

struct famfs_reply {
	const u8 *p;
	size_t left;
};

static const void *famfs_pull(struct famfs_reply *r, size_t n)
{
	const void *p = r->p;

	if (r->left < n)
		return NULL;
	r->p += n;
	r->left -= n;
	return p;
}

/*
 * First pass over a reply: check that the buffer holds what the counts
 * claim, and count the strips of an interleaved map.  Nothing read here
 * sizes an allocation before it is bounded.
 */
static int famfs_fmap_measure(const struct fuse_famfs_fmap_header *h,
			      struct famfs_reply r, u32 *nstrips)
{
	u32 i;

	*nstrips = 0;
	if (h->ext_type == FUSE_FAMFS_EXT_SIMPLE) {
		if (!famfs_pull(&r, h->nextents * sizeof(struct fuse_famfs_simple_ext)))
			return famfs_reject("%u extents do not fit in the reply",
					    h->nextents);
	} else {
		for (i = 0; i < h->nextents; i++) {
			const struct fuse_famfs_iext *ie;

			ie = famfs_pull(&r, sizeof(*ie));
			if (!ie)
				return famfs_reject("reply ends in extent %u", i);
			if (!ie->ie_nstrips || ie->ie_nstrips > FUSE_FAMFS_MAX_STRIPS)
				return famfs_reject("extent %u has %u strips",
						    i, ie->ie_nstrips);
			if (!famfs_pull(&r, ie->ie_nstrips *
					sizeof(struct fuse_famfs_simple_ext)))
				return famfs_reject("reply ends in the strips of extent %u",
						    i);
			*nstrips += ie->ie_nstrips;
		}
	}
	if (memchr_inv(r.p, 0, r.left))
		return famfs_reject("%zu bytes of garbage after the extents",
				    r.left);
	return 0;
}

static int famfs_ext_parse(const struct fuse_famfs_simple_ext *se,
			   struct famfs_ext *ext, u32 *dev_bitmap)
{
	u64 end;

	if (se->se_devindex >= FAMFS_MAX_DAXDEVS)
		return famfs_reject("device index %u out of range",
				    se->se_devindex);
	if (!se->se_len || !IS_ALIGNED(se->se_offset, FAMFS_ALIGN) ||
	    !IS_ALIGNED(se->se_len, FAMFS_ALIGN))
		return famfs_reject("extent %#llx+%#llx not 2 MiB aligned",
				    se->se_offset, se->se_len);
	if (check_add_overflow(se->se_offset, se->se_len, &end))
		return famfs_reject("extent %#llx+%#llx overflows",
				    se->se_offset, se->se_len);
	ext->dev = se->se_devindex;
	ext->offset = se->se_offset;
	ext->len = se->se_len;
	*dev_bitmap |= BIT(se->se_devindex);
	return 0;
}

/* Bytes of strip @strip an interleaved extent needs to hold its @nbytes. */
static u64 famfs_strip_need(const struct famfs_iext *ie, u32 strip)
{
	u64 nchunks = div64_u64(ie->nbytes + ie->chunk - 1, ie->chunk);
	u32 rem;
	u64 mine = div_u64_rem(nchunks, ie->nstrips, &rem) + (strip < rem);
	u32 last_strip;

	if (!mine)
		return 0;
	div_u64_rem(nchunks - 1, ie->nstrips, &last_strip);
	if (strip != last_strip)
		return mine * ie->chunk;
	/* This strip holds the file's last chunk, which may be partial. */
	return (mine - 1) * ie->chunk + ie->nbytes - (nchunks - 1) * ie->chunk;
}

static int famfs_iext_parse(struct famfs_reply *r, struct famfs_iext *ie,
			    struct famfs_ext *strips, u32 *dev_bitmap,
			    bool last)
{
	const struct fuse_famfs_iext *in = famfs_pull(r, sizeof(*in));
	u64 end;
	u32 i;
	int err;

	if (!in->ie_chunk_size || !IS_ALIGNED(in->ie_chunk_size, FAMFS_ALIGN))
		return famfs_reject("chunk size %#x not 2 MiB aligned",
				    in->ie_chunk_size);
	if (!in->ie_nbytes ||
	    check_add_overflow(in->ie_nbytes, (u64)in->ie_chunk_size, &end))
		return famfs_reject("interleaved extent of %#llx bytes",
				    in->ie_nbytes);
	/*
	 * Faults map whole pages: only the file's last page may end inside
	 * an extent's last chunk (famfs_fmap_resolve() serves that page from
	 * the strip, which is a multiple of 2 MiB long).
	 */
	if (!last && !PAGE_ALIGNED(in->ie_nbytes))
		return famfs_reject("extent of %#llx bytes ends inside a page",
				    in->ie_nbytes);
	ie->nstrips = in->ie_nstrips;
	ie->chunk = in->ie_chunk_size;
	ie->nbytes = in->ie_nbytes;
	ie->strips = strips;
	for (i = 0; i < ie->nstrips; i++) {
		err = famfs_ext_parse(famfs_pull(r, sizeof(struct fuse_famfs_simple_ext)),
				      &strips[i], dev_bitmap);
		if (err)
			return err;
		if (strips[i].len < famfs_strip_need(ie, i))
			return famfs_reject("strip %u of %#llx bytes is too short",
					    i, strips[i].len);
	}
	return 0;
}

/**
 * famfs_fmap_parse() - check a FUSE_GET_FMAP reply and build its fmap
 * @buf: the reply
 * @len: bytes in @buf
 *
 * Every rejection is reported once (rate limited) with its reason.
 *
 * Return: the fmap, to be freed with famfs_fmap_free(), or ERR_PTR(-EINVAL)
 * for a malformed reply, ERR_PTR(-ENOMEM).
 */
struct famfs_fmap *famfs_fmap_parse(const void *buf, size_t len)
{
	struct famfs_reply r = { .p = buf, .left = len };
	const struct fuse_famfs_fmap_header *h;
	struct famfs_fmap *fmap;
	struct famfs_ext *ext;
	u64 covered = 0;
	u32 nstrips, i;
	size_t size;
	int err;

	h = famfs_pull(&r, sizeof(*h));
	if (!h)
		return ERR_PTR(famfs_reject("reply of %zu bytes has no header", len));
	if (h->fmap_version != FAMFS_FMAP_VERSION)
		return ERR_PTR(famfs_reject("version %u", h->fmap_version));
	if (h->file_type > FUSE_FAMFS_FILE_LOG)
		return ERR_PTR(famfs_reject("file type %u", h->file_type));
	if (h->ext_type != FUSE_FAMFS_EXT_SIMPLE &&
	    h->ext_type != FUSE_FAMFS_EXT_INTERLEAVE)
		return ERR_PTR(famfs_reject("extent type %u", h->ext_type));
	if (!h->nextents || h->nextents > FUSE_FAMFS_MAX_EXTENTS)
		return ERR_PTR(famfs_reject("%u extents", h->nextents));
	if (h->file_size > MAX_LFS_FILESIZE)
		return ERR_PTR(famfs_reject("file size %#llx", h->file_size));
	err = famfs_fmap_measure(h, r, &nstrips);
	if (err)
		return ERR_PTR(err);

	/* Bounded: at most 32 extents of at most 32 strips each. */
	if (h->ext_type == FUSE_FAMFS_EXT_SIMPLE)
		size = h->nextents * sizeof(*ext);
	else
		size = h->nextents * sizeof(struct famfs_iext) +
		       nstrips * sizeof(*ext);
	fmap = kvzalloc(sizeof(*fmap) + size, GFP_KERNEL);
	if (!fmap)
		return ERR_PTR(-ENOMEM);
	fmap->file_size = h->file_size;
	fmap->file_type = h->file_type;
	fmap->ext_type = h->ext_type;
	fmap->nextents = h->nextents;

	if (h->ext_type == FUSE_FAMFS_EXT_SIMPLE) {
		fmap->se = (struct famfs_ext *)(fmap + 1);
		for (i = 0; i < fmap->nextents && !err; i++) {
			err = famfs_ext_parse(famfs_pull(&r, sizeof(struct fuse_famfs_simple_ext)),
					      &fmap->se[i], &fmap->dev_bitmap);
			if (!err && check_add_overflow(covered, fmap->se[i].len,
						       &covered))
				err = famfs_reject("extents overflow");
		}
	} else {
		fmap->ie = (struct famfs_iext *)(fmap + 1);
		ext = (struct famfs_ext *)(fmap->ie + fmap->nextents);
		for (i = 0; i < fmap->nextents && !err; i++) {
			err = famfs_iext_parse(&r, &fmap->ie[i], ext,
					       &fmap->dev_bitmap,
					       i == fmap->nextents - 1);
			ext += fmap->ie[i].nstrips;
			if (!err && check_add_overflow(covered, fmap->ie[i].nbytes,
						       &covered))
				err = famfs_reject("extents overflow");
		}
	}
	if (!err && covered < fmap->file_size)
		err = famfs_reject("extents cover %#llx of %#llx bytes",
				   covered, fmap->file_size);
	if (err) {
		kvfree(fmap);
		return ERR_PTR(err);
	}
	return fmap;
}

/**
 * famfs_fmap_free() - free an fmap made by famfs_fmap_parse()
 * @fmap: the fmap, or NULL
 */
void famfs_fmap_free(struct famfs_fmap *fmap)
{
	kvfree(fmap);
}

/**
 * famfs_fmap_resolve() - where a range of a famfs file lives
 * @fmap: the file's map
 * @pos: file offset
 * @len: bytes wanted from @pos, more than zero
 * @out: the device, the device offset of @pos and how many bytes from there
 *	 are contiguous on the device (at most @len, never across an extent
 *	 or an interleave chunk; the last chunk of an interleaved extent
 *	 counts up to the end of the page holding its last byte)
 *
 * Return: 0, or -EIO if @pos is past the end of the map.
 */
int famfs_fmap_resolve(const struct famfs_fmap *fmap, u64 pos, u64 len,
		       struct famfs_ext *out)
{
	u32 i;

	if (fmap->ext_type == FUSE_FAMFS_EXT_SIMPLE) {
		for (i = 0; i < fmap->nextents; i++) {
			const struct famfs_ext *se = &fmap->se[i];

			if (pos < se->len) {
				out->dev = se->dev;
				out->offset = se->offset + pos;
				out->len = min(len, se->len - pos);
				return 0;
			}
			pos -= se->len;
		}
		return -EIO;
	}

	for (i = 0; i < fmap->nextents; i++) {
		const struct famfs_iext *ie = &fmap->ie[i];
		u64 chunk_num, chunk_off, stripe;
		u32 strip;

		if (pos >= ie->nbytes) {
			pos -= ie->nbytes;
			continue;
		}
		chunk_num = div64_u64_rem(pos, ie->chunk, &chunk_off);
		stripe = div_u64_rem(chunk_num, ie->nstrips, &strip);
		out->dev = ie->strips[strip].dev;
		out->offset = ie->strips[strip].offset + stripe * ie->chunk +
			      chunk_off;
		/*
		 * Up to the end of the chunk, or of the page holding the
		 * extent's last byte: a fault needs the whole page.
		 */
		out->len = min3(len, ie->chunk - chunk_off,
				PAGE_ALIGN(ie->nbytes) - pos);
		return 0;
	}
	return -EIO;
}

/* -- The device table ---------------------------------------------------- */

static struct famfs_devtable *famfs_devtable(struct fuse_conn *fc)
{
	/* Pairs with cmpxchg() below: the table is initialized when seen. */
	struct famfs_devtable *table = smp_load_acquire(&fc->famfs_devs);
	struct famfs_devtable *old;

	if (table)
		return table;
	table = kzalloc_obj(*table, GFP_KERNEL);
	if (!table)
		return NULL;
	mutex_init(&table->lock);
	old = cmpxchg(&fc->famfs_devs, NULL, table);
	if (old) {
		kfree(table);
		return old;
	}
	return table;
}

static int famfs_notify_failure(struct dax_device *dax, u64 offset, u64 len,
				int mf_flags)
{
	struct fuse_conn *fc = dax_holder(dax);
	struct famfs_devtable *table = fc ? READ_ONCE(fc->famfs_devs) : NULL;
	int i;

	for (i = 0; table && i < FAMFS_MAX_DAXDEVS; i++) {
		if (READ_ONCE(table->dev[i].dax) != dax)
			continue;
		if (mf_flags & MF_MEM_PRE_REMOVE)
			WRITE_ONCE(table->dev[i].removed, true);
		else
			WRITE_ONCE(table->dev[i].poisoned, true);
		pr_err_ratelimited("fuse: famfs: device %d: %s at %#llx+%#llx\n",
				   i, mf_flags & MF_MEM_PRE_REMOVE ?
				   "removal" : "memory failure", offset, len);
	}
	/* Let memory-failure unmap the page and signal whoever maps it. */
	return -EOPNOTSUPP;
}

static const struct dax_holder_operations famfs_holder_ops = {
	.notify_failure = famfs_notify_failure,
};

/*
 * The dax_device behind a device path from the server.  The path must name
 * a character device (not a symlink to one) on a mount that allows devices,
 * and the device must be a registered device-dax: dax_dev_find() never
 * creates a dax_device for a number that is not one.
 */
static struct dax_device *famfs_daxdev_lookup(const char *name)
{
	struct dax_device *dax;
	struct inode *inode;
	struct path path;
	int err;

	if (name[0] != '/')
		return ERR_PTR(-EINVAL);
	err = kern_path(name, 0, &path);
	if (err)
		return ERR_PTR(err);
	inode = d_backing_inode(path.dentry);
	if (!S_ISCHR(inode->i_mode))
		dax = ERR_PTR(-ENODEV);
	else if (!may_open_dev(&path))
		dax = ERR_PTR(-EACCES);
	else
		dax = dax_dev_find(inode->i_rdev) ?: ERR_PTR(-ENODEV);
	path_put(&path);
	return dax;
}

static int famfs_daxdev_install(struct fuse_conn *fc,
				struct famfs_devtable *table, u32 index,
				const char *name)
{
	struct dax_device *dax;
	int err;

	lockdep_assert_held(&table->lock);
	dax = famfs_daxdev_lookup(name);
	if (IS_ERR(dax)) {
		err = PTR_ERR(dax);
	} else {
		err = fs_dax_get(dax, fc, &famfs_holder_ops);
		if (err)
			put_dax(dax);
	}
	if (err) {
		pr_warn_ratelimited("fuse: famfs: device %u: cannot use %s: %d\n",
				    index, name, err);
		return err;
	}
	/* Pairs with smp_load_acquire() in famfs_get_daxdevs(). */
	smp_store_release(&table->dev[index].dax, dax);
	return 0;
}

static int famfs_get_daxdev(struct fuse_mount *fm,
			    struct famfs_devtable *table, u32 index)
{
	struct fuse_get_daxdev_in in = { .daxdev_num = index };
	struct fuse_args args = {};
	struct fuse_daxdev_out out;
	ssize_t ret;

	args.opcode = FUSE_GET_DAXDEV;
	args.nodeid = index;
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(in);
	args.in_args[0].value = &in;
	args.out_numargs = 1;
	args.out_args[0].size = sizeof(out);
	args.out_args[0].value = &out;
	ret = fuse_simple_request(fm, &args);
	if (ret < 0)
		return ret;
	if (out.index != index) {
		pr_warn_ratelimited("fuse: famfs: asked for device %u, got %u\n",
				    index, out.index);
		return -EINVAL;
	}
	if (strnlen(out.name, sizeof(out.name)) == sizeof(out.name)) {
		pr_warn_ratelimited("fuse: famfs: device %u: name not terminated\n",
				    index);
		return -EINVAL;
	}
	return famfs_daxdev_install(fm->fc, table, index, out.name);
}

/*
 * Make sure every device @fmap uses is in the table.  The table lock is held
 * across FUSE_GET_DAXDEV, so each device is asked for once per connection
 * however many first opens race for it.
 */
static int famfs_get_daxdevs(struct fuse_mount *fm,
			     const struct famfs_fmap *fmap)
{
	struct famfs_devtable *table = famfs_devtable(fm->fc);
	unsigned long bits = fmap->dev_bitmap;
	unsigned int i;
	int err;

	if (!table)
		return -ENOMEM;
	for_each_set_bit(i, &bits, FAMFS_MAX_DAXDEVS) {
		/* Pairs with smp_store_release() in famfs_daxdev_install(). */
		if (smp_load_acquire(&table->dev[i].dax))
			continue;
		/*
		 * One request per device: concurrent first users wait for it
		 * (killable; an aborted connection ends the request).
		 */
		err = mutex_lock_killable(&table->lock);
		if (err)
			return err;
		if (!table->dev[i].dax)
			err = famfs_get_daxdev(fm, table, i);
		mutex_unlock(&table->lock);
		if (err)
			return err;
	}
	return 0;
}

/**
 * fuse_famfs_conn_free() - release the devices of a famfs connection
 * @fc: the connection, with no inode left
 *
 * Runs when the last reference to @fc goes, after every inode of it was
 * evicted (and dax_break_layout_final() waited for their mappings), so no
 * mapping can still fault through a device released here.
 */
void fuse_famfs_conn_free(struct fuse_conn *fc)
{
	struct famfs_devtable *table = fc->famfs_devs;
	int i;

	if (!table)
		return;
	for (i = 0; i < FAMFS_MAX_DAXDEVS; i++) {
		struct dax_device *dax = table->dev[i].dax;

		if (!dax)
			continue;
		fs_put_dax(dax, fc);
		put_dax(dax);
	}
	mutex_destroy(&table->lock);
	kfree(table);
	fc->famfs_devs = NULL;
}

/* -- Opening a famfs file ------------------------------------------------- */

static const struct address_space_operations famfs_dax_aops = {
	.dirty_folio	= noop_dirty_folio,
};

static struct famfs_fmap *famfs_get_fmap(struct fuse_mount *fm,
					 struct inode *inode)
{
	void *buf __free(kvfree) = kvmalloc(FAMFS_FMAP_MAX, GFP_KERNEL);
	struct fuse_getxattr_in in = { .size = FAMFS_FMAP_MAX };
	struct fuse_args args = {};
	ssize_t ret;

	if (!buf)
		return ERR_PTR(-ENOMEM);
	args.opcode = FUSE_GET_FMAP;
	args.nodeid = get_node_id(inode);
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(in);
	args.in_args[0].value = &in;
	args.out_numargs = 1;
	args.out_argvar = true;
	args.out_args[0].size = FAMFS_FMAP_MAX;
	args.out_args[0].value = buf;
	ret = fuse_simple_request(fm, &args);
	if (ret < 0)
		return ERR_PTR(ret);
	return famfs_fmap_parse(buf, ret);
}

/**
 * fuse_famfs_open() - give a regular file of a famfs connection its map
 * @fm: the mount
 * @inode: a regular file without a map
 *
 * Called on open.  Asks the server for the map and for the devices it uses
 * that the connection does not know yet.  Openers may race: the first map
 * installed wins.  On failure the file stays without a map, so a later open
 * tries again.
 *
 * Return: 0, or the server's error, -EINVAL for a malformed map or device
 * reply, or the error of looking up or taking a device.
 */
int fuse_famfs_open(struct fuse_mount *fm, struct inode *inode)
{
	struct fuse_inode *fi = get_fuse_inode(inode);
	struct famfs_fmap *fmap;
	int err;

	fmap = famfs_get_fmap(fm, inode);
	if (IS_ERR(fmap))
		return PTR_ERR(fmap);
	err = famfs_get_daxdevs(fm, fmap);
	if (err)
		goto out;

	inode_lock(inode);
	if (!fi->famfs_fmap) {
		spin_lock(&fi->lock);
		i_size_write(inode, fmap->file_size);
		spin_unlock(&fi->lock);
		inode->i_data.a_ops = &famfs_dax_aops;
		inode_set_flags(inode, S_DAX, S_DAX);
		/* Publish the map after the size, aops and S_DAX it implies. */
		smp_store_release(&fi->famfs_fmap, fmap);
		fmap = NULL;
	}
	inode_unlock(inode);
out:
	famfs_fmap_free(fmap);
	return err;
}

/**
 * fuse_famfs_free_inode() - free the map of an inode being freed
 * @fi: the inode
 */
void fuse_famfs_free_inode(struct fuse_inode *fi)
{
	famfs_fmap_free(fi->famfs_fmap);
}

/* -- The data path ---------------------------------------------------------- */

/*
 * A famfs file is unusable once its size no longer matches its map (the
 * kernel never resizes famfs files: truncate and extending writes end here)
 * or it was marked so.
 */
static int famfs_file_check(struct inode *inode, struct famfs_fmap *fmap)
{
	if (READ_ONCE(fmap->error) || !IS_DAX(inode))
		return -ENXIO;
	if (i_size_read(inode) != fmap->file_size) {
		WRITE_ONCE(fmap->error, true);
		return -ENXIO;
	}
	return 0;
}

static struct famfs_fmap *famfs_fmap(struct inode *inode)
{
	/* Pairs with smp_store_release() in fuse_famfs_open(). */
	return smp_load_acquire(&get_fuse_inode(inode)->famfs_fmap);
}

static int famfs_fuse_iomap_begin(struct inode *inode, loff_t pos,
				  loff_t len, unsigned int flags,
				  struct iomap *iomap, struct iomap *srcmap)
{
	struct famfs_devtable *table = get_fuse_conn(inode)->famfs_devs;
	struct famfs_fmap *fmap = famfs_fmap(inode);
	const struct famfs_daxdev *dd;
	struct famfs_ext ext;
	int err;

	err = famfs_file_check(inode, fmap);
	if (err)
		return err;
	err = famfs_fmap_resolve(fmap, pos, len, &ext);
	if (err)
		return err;
	/* Every device of the map was installed before the map was. */
	dd = &table->dev[ext.dev];
	if (READ_ONCE(dd->poisoned))
		return -EHWPOISON;
	if (READ_ONCE(dd->removed))
		return -EIO;

	iomap->type = IOMAP_MAPPED;
	iomap->flags = 0;
	iomap->offset = pos;
	iomap->length = ext.len;
	iomap->addr = ext.offset;
	iomap->dax_dev = dd->dax;
	iomap->bdev = NULL;
	return 0;
}

static const struct iomap_ops famfs_iomap_ops = {
	.iomap_begin	= famfs_fuse_iomap_begin,
};

static int famfs_lock(struct kiocb *iocb, struct inode *inode, bool write)
{
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (write ? !inode_trylock(inode) : !inode_trylock_shared(inode))
			return -EAGAIN;
	} else if (write) {
		inode_lock(inode);
	} else {
		inode_lock_shared(inode);
	}
	return 0;
}

/*
 * fs-dax asks for a mapping before it clips a read to i_size, and the map of
 * a famfs file may end right at i_size: stop the read there first.
 */
static ssize_t famfs_read_to_eof(struct kiocb *iocb, struct inode *inode,
				 struct iov_iter *to)
{
	loff_t size = i_size_read(inode);
	size_t cut = iov_iter_count(to);
	ssize_t ret;

	if (iocb->ki_pos >= size)
		return 0;
	iov_iter_truncate(to, size - iocb->ki_pos);
	cut -= iov_iter_count(to);
	ret = dax_iomap_rw(iocb, to, &famfs_iomap_ops);
	iov_iter_reexpand(to, iov_iter_count(to) + cut);
	return ret;
}

/**
 * fuse_famfs_read_iter() - read from a famfs file
 * @iocb: the I/O
 * @to: where to
 *
 * Return: bytes read (stopping at i_size), or a negative errno.
 */
ssize_t fuse_famfs_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	ssize_t ret;

	if (!iov_iter_count(to))
		return 0;
	ret = famfs_lock(iocb, inode, false);
	if (ret)
		return ret;
	ret = famfs_file_check(inode, famfs_fmap(inode));
	if (!ret)
		ret = famfs_read_to_eof(iocb, inode, to);
	inode_unlock_shared(inode);
	return ret;
}

/**
 * fuse_famfs_write_iter() - write to a famfs file
 * @iocb: the I/O
 * @from: what
 *
 * famfs files never change size: a write that would extend the file fails
 * and leaves the file unusable (-ENXIO), as a size change does.
 *
 * Return: bytes written, or a negative errno.
 */
ssize_t fuse_famfs_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	struct famfs_fmap *fmap = famfs_fmap(inode);
	ssize_t ret;

	ret = famfs_lock(iocb, inode, true);
	if (ret)
		return ret;
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		goto out;
	ret = famfs_file_check(inode, fmap);
	if (ret)
		goto out;
	if (iocb->ki_pos + iov_iter_count(from) > i_size_read(inode)) {
		WRITE_ONCE(fmap->error, true);
		ret = -ENXIO;
		goto out;
	}
	ret = dax_iomap_rw(iocb, from, &famfs_iomap_ops);
out:
	inode_unlock(inode);
	return ret;
}

static vm_fault_t famfs_fault(struct vm_fault *vmf, unsigned int order)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	bool write = (vmf->flags & FAULT_FLAG_WRITE) &&
		     (vmf->vma->vm_flags & VM_SHARED);
	unsigned long pfn;
	vm_fault_t ret;

	if (famfs_file_check(inode, famfs_fmap(inode)))
		return VM_FAULT_SIGBUS;
	if (write)
		sb_start_pagefault(inode->i_sb);
	filemap_invalidate_lock_shared(inode->i_mapping);
	ret = dax_iomap_fault(vmf, order, &pfn, NULL, &famfs_iomap_ops);
	if (ret & VM_FAULT_NEEDDSYNC)
		ret = dax_finish_sync_fault(vmf, order, pfn);
	filemap_invalidate_unlock_shared(inode->i_mapping);
	if (write)
		sb_end_pagefault(inode->i_sb);
	return ret;
}

static vm_fault_t famfs_pte_fault(struct vm_fault *vmf)
{
	return famfs_fault(vmf, 0);
}

static const struct vm_operations_struct famfs_vm_ops = {
	.fault		= famfs_pte_fault,
	.huge_fault	= famfs_fault,
	.page_mkwrite	= famfs_pte_fault,
	.pfn_mkwrite	= famfs_pte_fault,
};

/**
 * fuse_famfs_mmap() - map a famfs file
 * @file: the file
 * @vma: the mapping
 *
 * Faults are served by fs-dax from the file's map, with PMD mappings where
 * the range allows.
 *
 * Return: 0, or -ENXIO if the file is unusable.
 */
int fuse_famfs_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct inode *inode = file_inode(file);
	int err;

	err = famfs_file_check(inode, famfs_fmap(inode));
	if (err)
		return err;
	file_accessed(file);
	vma->vm_ops = &famfs_vm_ops;
	vm_flags_set(vma, VM_HUGEPAGE);
	return 0;
}
