// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of dax_dev_find(): it finds device-dax instances by device
 * number, and only them (famfs over FUSE looks up device numbers that come
 * from userspace).
 */

#include <kunit/test.h>
#include <linux/dax.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>

#include "dax-private.h"

static int kunit_zero_page_range(struct dax_device *dax_dev, pgoff_t pgoff,
				 size_t nr_pages)
{
	return -EOPNOTSUPP;
}

/* What pmem, dm and virtio-fs register: a dax_device with operations. */
static const struct dax_operations kunit_dax_ops = {
	.zero_page_range = kunit_zero_page_range,
};

static void kunit_dax_free(void *dax_dev)
{
	kill_dax(dax_dev);
	put_dax(dax_dev);
}

static struct dax_device *kunit_alloc_dax(struct kunit *test,
					  const struct dax_operations *ops)
{
	struct dax_device *dax_dev = alloc_dax(test, ops);

	KUNIT_ASSERT_FALSE(test, IS_ERR(dax_dev));
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, kunit_dax_free, dax_dev));
	return dax_dev;
}

static void dax_dev_find_devdax_test(struct kunit *test)
{
	struct dax_device *dax_dev = kunit_alloc_dax(test, NULL), *found;

	set_dax_devdax(dax_dev);
	found = dax_dev_find(dax_inode(dax_dev)->i_rdev);
	KUNIT_EXPECT_PTR_EQ(test, found, dax_dev);
	if (found)
		put_dax(found);
}

static void dax_dev_find_not_devdax_test(struct kunit *test)
{
	struct dax_device *dax_dev = kunit_alloc_dax(test, &kunit_dax_ops);
	struct dax_device *found = dax_dev_find(dax_inode(dax_dev)->i_rdev);

	KUNIT_EXPECT_NULL(test, found);
	if (found)
		put_dax(found);
}

static void dax_dev_find_no_device_test(struct kunit *test)
{
	struct dax_device *dax_dev = kunit_alloc_dax(test, NULL);
	dev_t devt = dax_inode(dax_dev)->i_rdev;

	/* Another major (/dev/null's), and a dax minor nobody registered. */
	KUNIT_EXPECT_NULL(test, dax_dev_find(MKDEV(1, 3)));
	KUNIT_EXPECT_NULL(test, dax_dev_find(MKDEV(MAJOR(devt), MINORMASK)));
}

static struct kunit_case dax_dev_find_cases[] = {
	KUNIT_CASE(dax_dev_find_devdax_test),
	KUNIT_CASE(dax_dev_find_not_devdax_test),
	KUNIT_CASE(dax_dev_find_no_device_test),
	{}
};

static struct kunit_suite dax_dev_find_suite = {
	.name = "famfs_dax_dev_find",
	.test_cases = dax_dev_find_cases,
};

kunit_test_suite(dax_dev_find_suite);
