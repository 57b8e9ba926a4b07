// SPDX-License-Identifier: GPL-2.0
/*
 * daxio - poke and peek bytes of a device-dax device from a guest.
 *
 *   daxio write DEV OFFSET STRING        store STRING at OFFSET
 *   daxio read  DEV OFFSET LEN           print LEN bytes at OFFSET
 *   daxio wait  DEV OFFSET STRING SECS   until STRING is at OFFSET (exit 1 on timeout)
 *
 * DEV is a /dev/daxX.Y bound to device_dax, or any file to map that holds a
 * device's bytes (one of $FAMFS_DEV_VIEWS for a device bound to fsdev_dax,
 * which cannot be mapped itself).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WINDOW (2UL << 20)

static void die(const char *what)
{
	fprintf(stderr, "daxio: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Map the 2 MiB window holding [off, off + len) and return a pointer to off. */
static char *map(const char *dev, unsigned long long off, size_t len, int prot)
{
	unsigned long long start = off & ~(WINDOW - 1);
	size_t span = ((off + len + WINDOW - 1) & ~(WINDOW - 1)) - start;
	char *p;
	int fd;

	fd = open(dev, prot & PROT_WRITE ? O_RDWR : O_RDONLY);
	if (fd < 0)
		die(dev);
	p = mmap(NULL, span, prot, MAP_SHARED, fd, start);
	if (p == MAP_FAILED)
		die("mmap");
	close(fd);
	return p + (off - start);
}

int main(int argc, char **argv)
{
	unsigned long long off;
	const char *s;
	char *p;

	if (argc < 5) {
		fprintf(stderr, "usage: daxio write|read|wait DEV OFFSET ARG [SECS]\n");
		return 2;
	}
	off = strtoull(argv[3], NULL, 0);
	s = argv[4];
	if (!strcmp(argv[1], "write")) {
		p = map(argv[2], off, strlen(s), PROT_READ | PROT_WRITE);
		memcpy(p, s, strlen(s));
		__sync_synchronize();	/* devdax mappings are not msync()able */
		return 0;
	}
	if (!strcmp(argv[1], "read")) {
		size_t len = strtoul(s, NULL, 0);

		p = map(argv[2], off, len, PROT_READ);
		fwrite(p, 1, len, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "wait") && argc == 6) {
		time_t end = time(NULL) + atoi(argv[5]);

		p = map(argv[2], off, strlen(s), PROT_READ);
		while (memcmp((const void *)p, s, strlen(s))) {
			if (time(NULL) > end)
				return 1;
			usleep(100000);
			__sync_synchronize();
		}
		return 0;
	}
	fprintf(stderr, "daxio: unknown command %s\n", argv[1]);
	return 2;
}
