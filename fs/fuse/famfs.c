// SPDX-License-Identifier: GPL-2.0
/*
 * famfs over FUSE: files whose bytes live on shared device-dax memory.
 *
 * On the first open of a regular file of a famfs connection the kernel asks
 * the server for the file's map (FUSE_GET_FMAP), checks it, learns the
 * devices it names that the server did not register with
 * FUSE_DEV_IOC_DAXDEV_OPEN (FUSE_GET_DAXDEV, once per device and connection)
 * and installs it on the inode.  From then on page faults go through fs-dax and
 * famfs_fuse_iomap_begin(), and read and write copy to and from the memory
 * directly, both resolving file offsets from the map: the server is not
 * asked again.
 *
 * See Documentation/filesystems/famfs.rst.
 */

#include <linux/cleanup.h>
#include <linux/cred.h>
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/iomap.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uio.h>

#include "dev.h"
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
 * @ref: the connection's reference, and one per notify_failure at work
 * @rcu: the table is freed after a grace period (see famfs_notify_failure())
 * @pull_lock: serializes FUSE_GET_DAXDEV requests
 * @set_lock: serializes setting entries
 * @files_lock: protects @files
 * @files: the installed maps, to revoke their mappings
 * @cred: the server's credentials when it answered FUSE_INIT
 * @root: the server's root directory then
 * @dev: entries, indexed by the device index of the fmaps
 *
 * The table, not the connection, is the holder of its dax devices, so that
 * a memory failure reported while the connection goes away finds either the
 * table or nothing.  The server registers a device it opened itself
 * (fuse_famfs_daxdev_open()), or the kernel asks for its name when a map
 * needs it: names from FUSE_GET_DAXDEV are resolved from @root with @cred,
 * the way the server itself would open them, whoever opens the file.
 */
struct famfs_devtable {
	refcount_t ref;
	struct rcu_head rcu;
	struct mutex pull_lock;		/* one FUSE_GET_DAXDEV at a time */
	struct mutex set_lock;		/* one entry set at a time */
	struct mutex files_lock;	/* protects @files */
	struct list_head files;
	const struct cred *cred;
	struct path root;
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
		if (!famfs_pull(&r, array_size(h->nextents,
					       sizeof(struct fuse_famfs_simple_ext))))
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
			   struct famfs_ext *ext, unsigned long *dev_bitmap)
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
	__set_bit(se->se_devindex, dev_bitmap);
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
			    struct famfs_ext *strips, unsigned long *dev_bitmap,
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

static int famfs_ext_cmp(const void *a, const void *b)
{
	const struct famfs_ext *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

/*
 * No two ranges of a map (simple extents, or strips) may share bytes of a
 * device: a file must not see a write to one offset appear at another.
 * Ranges are sorted by device and offset, so an overlap shows between
 * neighbours.
 */
static int famfs_fmap_check_overlap(const struct famfs_ext *ext, u32 n)
{
	struct famfs_ext *sorted __free(kvfree) =
		kvmalloc_array(n, sizeof(*ext), GFP_KERNEL);
	u32 i;

	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, ext, n * sizeof(*ext));
	sort(sorted, n, sizeof(*sorted), famfs_ext_cmp, NULL);
	for (i = 1; i < n; i++) {
		const struct famfs_ext *a = &sorted[i - 1], *b = &sorted[i];

		if (a->dev == b->dev && a->offset + a->len > b->offset)
			return famfs_reject("device %u: %#llx+%#llx overlaps %#llx",
					    a->dev, a->offset, a->len,
					    b->offset);
	}
	return 0;
}

/*
 * Add an extent of @len bytes after @i others: record where the next one
 * starts.
 */
static int famfs_fmap_grow(struct famfs_fmap *fmap, u32 i, u64 len)
{
	if (check_add_overflow(fmap->start[i], len, &fmap->start[i + 1]))
		return famfs_reject("extents overflow");
	return 0;
}

/*
 * Simple extents come right after the struct, then the start offsets.  When
 * all extents but the last have the same power-of-two length, the extent
 * of an offset is a shift away (famfs_fmap_find()).
 */
static int famfs_simple_parse(struct famfs_fmap *fmap, struct famfs_reply *r)
{
	u64 len;
	u32 i;
	int err;

	fmap->se = (struct famfs_ext *)(fmap + 1);
	fmap->start = (u64 *)(fmap->se + fmap->nextents);
	for (i = 0; i < fmap->nextents; i++) {
		err = famfs_ext_parse(famfs_pull(r, sizeof(struct fuse_famfs_simple_ext)),
				      &fmap->se[i], fmap->dev_bitmap) ?:
		      famfs_fmap_grow(fmap, i, fmap->se[i].len);
		if (err)
			return err;
	}
	len = fmap->se[0].len;
	if (fmap->nextents > 1 && !(len & (len - 1))) {
		for (i = 1; i < fmap->nextents - 1; i++)
			if (fmap->se[i].len != len)
				break;
		if (i == fmap->nextents - 1)
			fmap->shift = ilog2(len);
	}
	return famfs_fmap_check_overlap(fmap->se, fmap->nextents);
}

/* Interleaved extents, then all their strips, then the start offsets. */
static int famfs_interleave_parse(struct famfs_fmap *fmap,
				  struct famfs_reply *r, u32 nstrips)
{
	struct famfs_ext *strips, *ext;
	u32 i;
	int err;

	fmap->ie = (struct famfs_iext *)(fmap + 1);
	strips = (struct famfs_ext *)(fmap->ie + fmap->nextents);
	fmap->start = (u64 *)(strips + nstrips);
	for (i = 0, ext = strips; i < fmap->nextents; i++) {
		err = famfs_iext_parse(r, &fmap->ie[i], ext, fmap->dev_bitmap,
				       i == fmap->nextents - 1) ?:
		      famfs_fmap_grow(fmap, i, fmap->ie[i].nbytes);
		if (err)
			return err;
		ext += fmap->ie[i].nstrips;
	}
	return famfs_fmap_check_overlap(strips, nstrips);
}

/**
 * famfs_fmap_parse() - check a FUSE_GET_FMAP reply and build its fmap
 * @buf: the reply
 * @len: bytes in @buf
 *
 * Every rejection is reported once (rate limited) with its reason.  The
 * rules are listed in Documentation/filesystems/famfs.rst.
 *
 * Return: the fmap, to be freed with famfs_fmap_free(), or ERR_PTR(-EINVAL)
 * for a malformed reply, ERR_PTR(-ENOMEM).
 */
struct famfs_fmap *famfs_fmap_parse(const void *buf, size_t len)
{
	struct famfs_reply r = { .p = buf, .left = len };
	const struct fuse_famfs_fmap_header *h;
	struct famfs_fmap *fmap;
	u32 nstrips;
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
	if (!h->nextents)
		return ERR_PTR(famfs_reject("no extents"));
	if (h->fmap_size && h->fmap_size != len)
		return ERR_PTR(famfs_reject("map of %u bytes in a reply of %zu",
					    h->fmap_size, len));
	if (h->file_size > MAX_LFS_FILESIZE)
		return ERR_PTR(famfs_reject("file size %#llx", h->file_size));
	err = famfs_fmap_measure(h, r, &nstrips);
	if (err)
		return ERR_PTR(err);

	/* Bounded by the reply: every extent and strip takes 24 bytes of it. */
	if (h->ext_type == FUSE_FAMFS_EXT_SIMPLE)
		size = array_size(h->nextents, sizeof(struct famfs_ext));
	else
		size = size_add(array_size(h->nextents, sizeof(struct famfs_iext)),
				array_size(nstrips, sizeof(struct famfs_ext)));
	size = size_add(size, array_size(h->nextents + 1ULL, sizeof(u64)));
	fmap = kvzalloc(size_add(sizeof(*fmap), size), GFP_KERNEL);
	if (!fmap)
		return ERR_PTR(-ENOMEM);
	fmap->file_size = h->file_size;
	fmap->file_type = h->file_type;
	fmap->ext_type = h->ext_type;
	fmap->nextents = h->nextents;
	init_rwsem(&fmap->rwsem);
	if (h->ext_type == FUSE_FAMFS_EXT_SIMPLE)
		err = famfs_simple_parse(fmap, &r);
	else
		err = famfs_interleave_parse(fmap, &r, nstrips);
	if (!err && fmap->start[fmap->nextents] < fmap->file_size)
		err = famfs_reject("extents cover %#llx of %#llx bytes",
				   fmap->start[fmap->nextents], fmap->file_size);
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
 * famfs_fmap_find() - which extent of a map holds a file offset
 * @fmap: the map
 * @pos: file offset
 * @probes: if not NULL, incremented for every start offset compared with
 *	    @pos (the cost of the search)
 *
 * Computed when all extents but the last have one power-of-two length,
 * else a binary search of the extents' start offsets.
 *
 * Return: the extent's index, or @fmap->nextents if @pos is past the end of
 * the map.
 */
u32 famfs_fmap_find(const struct famfs_fmap *fmap, u64 pos, u32 *probes)
{
	u32 lo = 0, hi = fmap->nextents;

	if (pos >= fmap->start[hi])
		return hi;
	if (fmap->shift)
		return min_t(u64, pos >> fmap->shift, hi - 1);
	/* start[lo] <= pos < start[hi] */
	while (hi - lo > 1) {
		u32 mid = lo + (hi - lo) / 2;

		if (probes)
			(*probes)++;
		if (fmap->start[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* @pos bytes into interleaved extent @ie. */
static void famfs_iext_resolve(const struct famfs_iext *ie, u64 pos, u64 len,
			       struct famfs_ext *out)
{
	u64 chunk_num, chunk_off, stripe;
	u32 strip;

	chunk_num = div64_u64_rem(pos, ie->chunk, &chunk_off);
	stripe = div_u64_rem(chunk_num, ie->nstrips, &strip);
	out->dev = ie->strips[strip].dev;
	out->offset = ie->strips[strip].offset + stripe * ie->chunk + chunk_off;
	/*
	 * Up to the end of the chunk, or of the page holding the extent's
	 * last byte: a fault needs the whole page.
	 */
	out->len = min3(len, ie->chunk - chunk_off, PAGE_ALIGN(ie->nbytes) - pos);
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
	u32 i = famfs_fmap_find(fmap, pos, NULL);
	const struct famfs_ext *se;

	if (i == fmap->nextents)
		return -EIO;
	pos -= fmap->start[i];
	if (fmap->ext_type == FUSE_FAMFS_EXT_INTERLEAVE) {
		famfs_iext_resolve(&fmap->ie[i], pos, len, out);
		return 0;
	}
	se = &fmap->se[i];
	out->dev = se->dev;
	out->offset = se->offset + pos;
	out->len = min(len, se->len - pos);
	return 0;
}

/* -- The device table ---------------------------------------------------- */

/**
 * fuse_famfs_may_offer() - whether FUSE_INIT may offer FUSE_DAX_FMAP
 * @fc: the connection being mounted
 *
 * Called by the mounter.  famfs needs a /dev/fuse server (never virtio-fs)
 * that answers FUSE_INIT asynchronously, so that the task answering it can
 * be told apart from the mounter, and a mounter with CAP_SYS_RAWIO.  The
 * check does not audit: it is made for every FUSE mount.
 *
 * Return: true if the flag may be offered.
 */
bool fuse_famfs_may_offer(struct fuse_conn *fc)
{
	return fuse_chan_is_dev(fc->chan) && !fc->sync_init &&
	       has_capability_noaudit(current, CAP_SYS_RAWIO);
}

/**
 * fuse_famfs_enable() - turn famfs on for a connection whose server wants it
 * @fc: the connection
 *
 * Called from the FUSE_INIT reply, in the context of the task that wrote it:
 * the server.  famfs is enabled only if that task too has CAP_SYS_RAWIO, so a
 * privileged mounter (fusermount3) cannot lend the right to an unprivileged
 * server.  The server's credentials and root are kept to resolve the device
 * names it sends later.  On failure the mount stays an ordinary FUSE mount.
 */
void fuse_famfs_enable(struct fuse_conn *fc)
{
	struct famfs_devtable *table;

	if (!has_capability_noaudit(current, CAP_SYS_RAWIO))
		return;
	table = kzalloc_obj(*table, GFP_KERNEL);
	if (!table)
		return;
	refcount_set(&table->ref, 1);
	mutex_init(&table->pull_lock);
	mutex_init(&table->set_lock);
	mutex_init(&table->files_lock);
	INIT_LIST_HEAD(&table->files);
	table->cred = get_current_cred();
	get_fs_root(current->fs, &table->root);
	/* Pairs with smp_load_acquire() in fuse_famfs_daxdev_open(). */
	smp_store_release(&fc->famfs_devs, table);
	fc->famfs = 1;
}

static void famfs_devtable_put(struct famfs_devtable *table)
{
	if (refcount_dec_and_test(&table->ref)) {
		mutex_destroy(&table->files_lock);
		mutex_destroy(&table->set_lock);
		mutex_destroy(&table->pull_lock);
		kfree_rcu(table, rcu);
	}
}

/*
 * The device at @index goes away: no mapping of a file that uses it may
 * keep a page table entry to its memory, and no DAX entry may keep its
 * pages (their memmap goes with the device).  The flag is set first, so
 * that a fault after the unmapping fails (famfs_fuse_iomap_begin() checks it
 * under the invalidate lock, which is taken here to wait for faults under
 * way).  dax_break_layout_final() unmaps, waits for pinned pages and drops
 * the entries, as eviction does.
 */
static void famfs_revoke(struct famfs_devtable *table, u32 index)
{
	struct famfs_fmap *fmap;

	WRITE_ONCE(table->dev[index].removed, true);
	mutex_lock(&table->files_lock);
	list_for_each_entry(fmap, &table->files, node) {
		if (!test_bit(index, fmap->dev_bitmap))
			continue;
		filemap_invalidate_lock(fmap->mapping);
		dax_break_layout_final(fmap->mapping->host);
		filemap_invalidate_unlock(fmap->mapping);
	}
	mutex_unlock(&table->files_lock);
}

/*
 * Memory failure or removal of a device the table holds.  The holder may be
 * released by fuse_famfs_conn_free() at the same time: the table is taken
 * only while it still has a reference, and freed after a grace period.
 */
static int famfs_notify_failure(struct dax_device *dax, u64 offset, u64 len,
				int mf_flags)
{
	bool remove = mf_flags & MF_MEM_PRE_REMOVE;
	struct famfs_devtable *table;
	u32 i;

	rcu_read_lock();
	table = dax_holder(dax);
	if (table && !refcount_inc_not_zero(&table->ref))
		table = NULL;
	rcu_read_unlock();
	if (!table)
		return -EOPNOTSUPP;

	for (i = 0; i < FAMFS_MAX_DAXDEVS; i++) {
		if (READ_ONCE(table->dev[i].dax) != dax)
			continue;
		pr_err_ratelimited("fuse: famfs: device %u: %s at %#llx+%#llx\n",
				   i, remove ? "removal" : "memory failure",
				   offset, len);
		if (remove)
			famfs_revoke(table, i);
		else
			WRITE_ONCE(table->dev[i].poisoned, true);
	}
	famfs_devtable_put(table);
	/* On a memory failure, let the caller unmap the page and signal. */
	return remove ? 0 : -EOPNOTSUPP;
}

static const struct dax_holder_operations famfs_holder_ops = {
	.notify_failure = famfs_notify_failure,
};

/*
 * May the server use the device node at @path?  It must be a character
 * device on a mount that allows devices, and the server must be allowed to
 * open it for reading and writing.  Runs with the server's credentials.
 */
static int famfs_daxdev_may_use(const struct path *path)
{
	struct inode *inode = d_backing_inode(path->dentry);

	if (!S_ISCHR(inode->i_mode))
		return -ENODEV;
	if (!may_open_dev(path))
		return -EACCES;
	return inode_permission(mnt_idmap(path->mnt), inode,
				MAY_READ | MAY_WRITE);
}

/*
 * The dax_device behind a device name from the server, resolved from the
 * server's root with its credentials, without following a final symlink.
 * dax_dev_find() never creates a dax_device and knows only device-dax ones.
 */
static struct dax_device *famfs_daxdev_lookup(struct famfs_devtable *table,
					      const char *name)
{
	struct dax_device *dax;
	struct path path;
	int err;

	if (name[0] != '/')
		return ERR_PTR(-EINVAL);
	scoped_with_creds(table->cred) {
		err = vfs_path_lookup(table->root.dentry, table->root.mnt,
				      name, 0, &path);
		if (err)
			return ERR_PTR(err);
		err = famfs_daxdev_may_use(&path);
	}
	if (err)
		dax = ERR_PTR(err);
	else
		dax = dax_dev_find(d_backing_inode(path.dentry)->i_rdev) ?:
		      ERR_PTR(-ENODEV);
	path_put(&path);
	return dax;
}

/*
 * Enter @dax in the table at @index and hold it for the table.  An entry is
 * set once: setting it again to the same device is not an error, to another
 * one is -EBUSY.  Consumes the caller's reference on @dax.
 */
static int famfs_daxdev_set(struct famfs_devtable *table, u32 index,
			    struct dax_device *dax)
{
	struct famfs_daxdev *dd = &table->dev[index];
	int err;

	guard(mutex)(&table->set_lock);
	if (dd->dax) {
		err = dd->dax == dax ? 0 : -EBUSY;
	} else {
		err = fs_dax_get(dax, table, &famfs_holder_ops);
		if (!err) {
			/* Pairs with smp_load_acquire() in famfs_get_daxdevs(). */
			smp_store_release(&dd->dax, dax);
			return 0;
		}
	}
	put_dax(dax);
	return err;
}

static int famfs_daxdev_install(struct famfs_devtable *table, u32 index,
				const char *name)
{
	struct dax_device *dax;
	int err;

	dax = famfs_daxdev_lookup(table, name);
	err = IS_ERR(dax) ? PTR_ERR(dax) : famfs_daxdev_set(table, index, dax);
	if (err)
		pr_warn_ratelimited("fuse: famfs: device %u: cannot use %s: %d\n",
				    index, name, err);
	return err;
}

/**
 * fuse_famfs_daxdev_open() - register a device the server opened
 * @fc: the connection of the /dev/fuse file the ioctl came on
 * @map: @map->fd, an open device-dax node, and @map->daxdev_index, the
 *	 index the server's maps give it
 *
 * FUSE_DEV_IOC_DAXDEV_OPEN.  The server opened the device, so the node's
 * permissions decided who may use it: the fd must be open for reading and
 * writing.  The caller must have CAP_SYS_RAWIO too, as the server needed to
 * get famfs at all.  A device stays registered until the connection goes.
 *
 * Return: 0, also if the device already has that index; -EOPNOTSUPP if the
 * connection has no famfs, -EPERM without CAP_SYS_RAWIO, -EINVAL for flags
 * or an index out of range, -EBADF for a bad fd or one not open for reading
 * and writing, -ENODEV if it is not a device-dax bound to fsdev_dax, -EBUSY
 * if the index has another device or the device is in use.
 */
int fuse_famfs_daxdev_open(struct fuse_conn *fc,
			   const struct fuse_backing_map *map)
{
	/* Pairs with smp_store_release() in fuse_famfs_enable(). */
	struct famfs_devtable *table = smp_load_acquire(&fc->famfs_devs);
	struct dax_device *dax;
	struct inode *inode;
	int err;

	if (!table)
		return -EOPNOTSUPP;
	if (!capable(CAP_SYS_RAWIO))
		return -EPERM;
	if (map->flags || map->daxdev_index >= FAMFS_MAX_DAXDEVS)
		return -EINVAL;
	CLASS(fd, f)(map->fd);
	if (fd_empty(f) || (~fd_file(f)->f_mode & (FMODE_READ | FMODE_WRITE)))
		return -EBADF;
	inode = file_inode(fd_file(f));
	dax = S_ISCHR(inode->i_mode) ? dax_dev_find(inode->i_rdev) : NULL;
	if (!dax)
		return -ENODEV;
	err = famfs_daxdev_set(table, map->daxdev_index, dax);
	/* fs_dax_get(): a device-dax bound to another driver */
	return err == -EOPNOTSUPP ? -ENODEV : err;
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
	return famfs_daxdev_install(table, index, out.name);
}

/*
 * Make sure every device @fmap uses is in the table.  The table lock is held
 * across FUSE_GET_DAXDEV, so each device is asked for once per connection
 * however many first opens race for it.
 */
static int famfs_get_daxdevs(struct fuse_mount *fm,
			     const struct famfs_fmap *fmap)
{
	struct famfs_devtable *table = fm->fc->famfs_devs;
	unsigned int i;
	int err;

	for_each_set_bit(i, fmap->dev_bitmap, FAMFS_MAX_DAXDEVS) {
		/* Pairs with smp_store_release() in famfs_daxdev_set(). */
		if (smp_load_acquire(&table->dev[i].dax))
			continue;
		/*
		 * One request per device: concurrent first users wait for it
		 * (killable; an aborted connection ends the request).
		 */
		err = mutex_lock_killable(&table->pull_lock);
		if (err)
			return err;
		/* Registered while we waited? (famfs_daxdev_set()) */
		if (!smp_load_acquire(&table->dev[i].dax))
			err = famfs_get_daxdev(fm, table, i);
		mutex_unlock(&table->pull_lock);
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
 * mapping can still fault through a device released here.  A removed device
 * is no longer held by the table (kill_dax() dropped the holder, and another
 * connection may hold it since): only its references are dropped.
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
		if (READ_ONCE(table->dev[i].removed))
			put_dax(dax);
		else
			fs_put_dax(dax, table);
		put_dax(dax);
	}
	path_put(&table->root);
	put_cred(table->cred);
	fc->famfs_devs = NULL;
	famfs_devtable_put(table);
}

/**
 * fuse_famfs_evict_inode() - forget the map of an inode being evicted
 * @inode: the inode
 *
 * Its mappings are gone (dax_break_layout_final()); device removal need not
 * revoke them any more.
 */
void fuse_famfs_evict_inode(struct inode *inode)
{
	struct famfs_fmap *fmap = get_fuse_inode(inode)->famfs_fmap;
	struct famfs_devtable *table = get_fuse_conn(inode)->famfs_devs;

	if (!fmap)
		return;
	mutex_lock(&table->files_lock);
	list_del(&fmap->node);
	mutex_unlock(&table->files_lock);
}

/* -- Opening a famfs file ------------------------------------------------- */

static const struct address_space_operations famfs_dax_aops = {
	.dirty_folio	= noop_dirty_folio,
	.direct_IO	= noop_direct_IO,
};

/* The largest map the kernel asks for when the server says it needs more. */
#define FAMFS_FMAP_SIZE_MAX	SZ_16M

static ssize_t famfs_fmap_request(struct fuse_mount *fm, u64 nodeid,
				  void *buf, u32 size)
{
	struct fuse_getxattr_in in = { .size = size };
	struct fuse_args args = {};

	args.opcode = FUSE_GET_FMAP;
	args.nodeid = nodeid;
	args.in_numargs = 1;
	args.in_args[0].size = sizeof(in);
	args.in_args[0].value = &in;
	args.out_numargs = 1;
	args.out_argvar = true;
	args.out_args[0].size = size;
	args.out_args[0].value = buf;
	return fuse_simple_request(fm, &args);
}

/*
 * The map is asked for with a buffer of FAMFS_FMAP_MAX bytes.  A server whose
 * map needs more replies with the header alone, saying how much in
 * fmap_size, and is asked once more with that much.
 */
static struct famfs_fmap *famfs_get_fmap(struct fuse_mount *fm,
					 struct inode *inode)
{
	u32 size = FAMFS_FMAP_MAX;
	bool retried = false;

	for (;;) {
		void *buf __free(kvfree) = kvmalloc(size, GFP_KERNEL);
		const struct fuse_famfs_fmap_header *h = buf;
		ssize_t ret;

		if (!buf)
			return ERR_PTR(-ENOMEM);
		ret = famfs_fmap_request(fm, get_node_id(inode), buf, size);
		if (ret < 0)
			return ERR_PTR(ret);
		if (ret < sizeof(*h) || h->fmap_size <= size)
			return famfs_fmap_parse(buf, ret);
		if (retried)
			return ERR_PTR(famfs_reject("needs %u bytes, offered %u",
						    h->fmap_size, size));
		if (h->fmap_size > FAMFS_FMAP_SIZE_MAX) {
			pr_warn_ratelimited("fuse: famfs: node %llu: map of %u bytes is too large\n",
					    get_node_id(inode), h->fmap_size);
			return ERR_PTR(-EFBIG);
		}
		size = h->fmap_size;
		retried = true;
	}
}

/*
 * Make @inode a famfs inode with @fmap, unless an opener that raced with us
 * did it first.  Only an inode that never had page cache and is not mapped
 * can turn into a DAX inode.
 */
static int famfs_install(struct inode *inode, struct famfs_fmap *fmap)
{
	struct fuse_inode *fi = get_fuse_inode(inode);
	struct fuse_conn *fc = get_fuse_conn(inode);

	if (fi->famfs_fmap)
		return -EEXIST;
	if (!mapping_empty(inode->i_mapping) || mapping_mapped(inode->i_mapping)) {
		pr_warn_ratelimited("fuse: famfs: node %llu has page cache: no map\n",
				    get_node_id(inode));
		return -EBUSY;
	}
	spin_lock(&fi->lock);
	/* An attribute reply sent before the map must not apply after it. */
	fi->attr_version = atomic64_inc_return(&fc->attr_version);
	i_size_write(inode, fmap->file_size);
	spin_unlock(&fi->lock);
	inode->i_data.a_ops = &famfs_dax_aops;
	inode_set_flags(inode, S_DAX, S_DAX);
	fmap->mapping = inode->i_mapping;
	mutex_lock(&fc->famfs_devs->files_lock);
	list_add(&fmap->node, &fc->famfs_devs->files);
	mutex_unlock(&fc->famfs_devs->files_lock);
	/* Publish the map after the size, aops and S_DAX it implies. */
	smp_store_release(&fi->famfs_fmap, fmap);
	return 0;
}

/**
 * fuse_famfs_open() - give a regular file of a famfs connection its map
 * @inode: a regular file of a famfs connection
 * @file: the file being opened
 *
 * Called on every open, after FUSE_OPEN or FUSE_CREATE.  On the first, asks
 * the server for the map and for the devices it uses that the connection
 * does not know yet.  Openers may race: the first map installed wins.  On
 * failure the file stays without a map, so a later open tries again.
 *
 * Return: 0, or the server's error, -EINVAL for a malformed map or device
 * reply, -EBUSY for an inode with page cache, or the error of looking up or
 * taking a device.
 */
int fuse_famfs_open(struct inode *inode, struct file *file)
{
	struct fuse_mount *fm = get_fuse_mount(inode);
	struct famfs_fmap *fmap;
	int err = 0;

	if (!fuse_file_famfs(get_fuse_inode(inode))) {
		fmap = famfs_get_fmap(fm, inode);
		if (IS_ERR(fmap))
			return PTR_ERR(fmap);
		err = famfs_get_daxdevs(fm, fmap);
		if (!err) {
			inode_lock(inode);
			err = famfs_install(inode, fmap);
			inode_unlock(inode);
			if (!err)
				fmap = NULL;
			else if (err == -EEXIST)
				err = 0;
		}
		famfs_fmap_free(fmap);
	}
	if (!err)
		file->f_mode |= FMODE_NOWAIT;
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
 * The data path takes no inode lock and sends no request: a server that
 * stops answering while a task holds the inode lock in setattr cannot hold
 * up reads, writes and faults.  famfs files never change size, so there is
 * no truncate to exclude; the map's rwsem orders writes against each other
 * and against reads.
 */
static struct famfs_fmap *famfs_fmap(struct inode *inode)
{
	/* Pairs with smp_store_release() in famfs_install(). */
	return smp_load_acquire(&get_fuse_inode(inode)->famfs_fmap);
}

static int famfs_lock(struct kiocb *iocb, struct famfs_fmap *fmap, bool write)
{
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (write ? !down_write_trylock(&fmap->rwsem) :
			    !down_read_trylock(&fmap->rwsem))
			return -EAGAIN;
	} else if (write) {
		down_write(&fmap->rwsem);
	} else {
		down_read(&fmap->rwsem);
	}
	return 0;
}

static const struct famfs_daxdev *famfs_dev(struct inode *inode, u32 index)
{
	/* Every device of the map was installed before the map was. */
	return &get_fuse_conn(inode)->famfs_devs->dev[index];
}

static int famfs_dev_check(const struct famfs_daxdev *dd)
{
	if (READ_ONCE(dd->poisoned))
		return -EHWPOISON;
	if (READ_ONCE(dd->removed))
		return -EIO;
	return 0;
}

static int famfs_fuse_iomap_begin(struct inode *inode, loff_t pos,
				  loff_t len, unsigned int flags,
				  struct iomap *iomap, struct iomap *srcmap)
{
	const struct famfs_daxdev *dd;
	struct famfs_ext ext;
	int err;

	err = famfs_fmap_resolve(famfs_fmap(inode), pos, len, &ext);
	if (err)
		return err;
	dd = famfs_dev(inode, ext.dev);
	err = famfs_dev_check(dd);
	if (err)
		return err;

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

/* Copy up to @ext->len bytes between @iter and device memory at @ext. */
static ssize_t famfs_copy(const struct famfs_daxdev *dd,
			  const struct famfs_ext *ext, struct iov_iter *iter)
{
	pgoff_t pgoff = ext->offset >> PAGE_SHIFT;
	size_t head = offset_in_page(ext->offset);
	size_t len = ext->len;
	void *kaddr;
	ssize_t ret;
	long nr;
	int id;

	id = dax_read_lock();
	nr = dax_direct_access(dd->dax, pgoff, PHYS_PFN(PAGE_ALIGN(head + len)),
			       DAX_ACCESS, &kaddr, NULL);
	if (nr < 0) {
		ret = nr == -EHWPOISON ? nr : -EIO;
	} else {
		len = min_t(size_t, len, PFN_PHYS(nr) - head);
		if (iov_iter_rw(iter) == WRITE)
			ret = dax_copy_from_iter(dd->dax, pgoff, kaddr + head,
						 len, iter);
		else
			ret = dax_copy_to_iter(dd->dax, pgoff, kaddr + head,
					       len, iter);
	}
	dax_read_unlock(id);
	return ret;
}

/*
 * read(2) and write(2), extent by extent.  This is what dax_iomap_rw() does,
 * without the inode lock it requires: famfs files never change size, so
 * there is no truncate to exclude.  Stops at a short copy (a fault on the
 * user buffer) and on a fatal signal.
 */
static ssize_t famfs_rw(struct kiocb *iocb, struct iov_iter *iter)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	struct famfs_fmap *fmap = famfs_fmap(inode);
	const struct famfs_daxdev *dd;
	struct famfs_ext ext;
	ssize_t done = 0, ret = 0;

	while (iov_iter_count(iter)) {
		ret = famfs_fmap_resolve(fmap, iocb->ki_pos, iov_iter_count(iter),
					 &ext);
		if (ret)
			break;
		dd = famfs_dev(inode, ext.dev);
		ret = famfs_dev_check(dd) ?: famfs_copy(dd, &ext, iter);
		if (ret <= 0) {
			ret = ret ?: -EFAULT;
			break;
		}
		iocb->ki_pos += ret;
		done += ret;
		if (ret < ext.len)
			break;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	return done ?: ret;
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
	struct famfs_fmap *fmap = famfs_fmap(inode);
	loff_t size = i_size_read(inode);
	size_t cut;
	ssize_t ret;

	if (!iov_iter_count(to) || iocb->ki_pos >= size)
		return 0;
	ret = famfs_lock(iocb, fmap, false);
	if (ret)
		return ret;
	cut = iov_iter_count(to);
	iov_iter_truncate(to, size - iocb->ki_pos);
	cut -= iov_iter_count(to);
	ret = famfs_rw(iocb, to);
	iov_iter_reexpand(to, iov_iter_count(to) + cut);
	up_read(&fmap->rwsem);
	file_accessed(iocb->ki_filp);
	return ret;
}

/*
 * What every write does first: drop setuid and setgid, as file_remove_privs()
 * does, and update the times.  Only a file that has such bits to drop takes
 * the inode lock (file capabilities are not looked up: that would be a
 * request to the server on every write).
 */
static int famfs_write_prepare(struct kiocb *iocb)
{
	struct file *file = iocb->ki_filp;
	struct inode *inode = file_inode(file);
	int err = 0;

	if (setattr_should_drop_suidgid(file_mnt_idmap(file), inode)) {
		if (iocb->ki_flags & IOCB_NOWAIT)
			return -EAGAIN;
		inode_lock(inode);
		err = file_remove_privs(file);
		inode_unlock(inode);
	}
	return err ?: file_update_time(file);
}

/**
 * fuse_famfs_write_iter() - write to a famfs file
 * @iocb: the I/O
 * @from: what
 *
 * famfs files never change size: a write that would extend the file fails
 * with -EFBIG and writes nothing.
 *
 * Return: bytes written, or a negative errno.
 */
ssize_t fuse_famfs_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	struct famfs_fmap *fmap = famfs_fmap(inode);
	ssize_t ret;

	/* The size never changes: the checks need no lock. */
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		return ret;
	if (iocb->ki_pos + iov_iter_count(from) > i_size_read(inode))
		return -EFBIG;
	ret = famfs_write_prepare(iocb);
	if (ret)
		return ret;
	ret = famfs_lock(iocb, fmap, true);
	if (ret)
		return ret;
	ret = famfs_rw(iocb, from);
	up_write(&fmap->rwsem);
	return ret;
}

static vm_fault_t famfs_fault(struct vm_fault *vmf, unsigned int order)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	bool write = (vmf->flags & FAULT_FLAG_WRITE) &&
		     (vmf->vma->vm_flags & VM_SHARED);
	unsigned long pfn;
	vm_fault_t ret;

	if (write) {
		sb_start_pagefault(inode->i_sb);
		file_update_time(vmf->vma->vm_file);
	}
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
 * Return: 0.
 */
int fuse_famfs_mmap(struct file *file, struct vm_area_struct *vma)
{
	file_accessed(file);
	vma->vm_ops = &famfs_vm_ops;
	vm_flags_set(vma, VM_HUGEPAGE);
	return 0;
}
