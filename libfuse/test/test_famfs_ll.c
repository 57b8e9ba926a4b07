/*
  FUSE: Filesystem in Userspace

  Host test of the famfs protocol (FUSE_CAP_DAX_FMAP) in the low-level
  library: INIT negotiation, FUSE_GET_FMAP and FUSE_GET_DAXDEV dispatch on
  every transport, fuse_reply_fmap() (maps of any size, and the header-only
  reply that asks for a larger buffer), fuse_reply_daxdev(),
  fuse_daxdev_open() and fuse_famfs_fmap_check().  No kernel is involved:
  raw requests are fed to a session whose replies go to a socket (or, for
  replies larger than a socket takes, a memory file), and the reply bytes
  and the calls made are checked.  The ioctl of fuse_daxdev_open() reaches
  the socket, which refuses it, or a stand-in for the kernel that records
  it.  Prints TAP.

  fuse_famfs_fmap_check() and a model of the kernel's rules written here
  (model_accepts()) give every map of the kernel selftest's table
  (tools/testing/selftests/filesystems/famfs/fmap_cases.h, found through
  -Dfamfs_fmap_cases=DIR) the kernel's verdict.  The checker is also
  checked against the model on generated maps: valid maps and
  their mutations.  FAMFS_FUZZ_SEED=N repeats a run (the seed is printed),
  FAMFS_FUZZ_MAPS=N sets the number of maps (100000).

  The test links libfuse's objects (not the shared library) to reach the
  io_uring dispatch entry point and the session's file descriptor.

  This program can be distributed under the terms of the GNU LGPLv2.
  See the file LGPL2.txt
*/

#include "fuse_config.h"
#include "fuse_i.h"
#include "fuse_kernel.h"
#include "fuse_lowlevel.h"
#include "fuse_uring_i.h"
#ifdef FAMFS_FMAP_CASES
#include "fmap_cases.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024ULL * 1024)

static int ntest, nfail;

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	ntest++;
	if (!cond)
		nfail++;
	printf("%sok %d - ", cond ? "" : "not ", ntest);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* What the filesystem saw and how it answers                          */

enum fmap_answer {
	ANSWER_FMAP,
	ANSWER_BAD_FMAP,
	ANSWER_BUF,
	ANSWER_DAXDEV,
	/* fuse_daxdev_open(open_fd, open_index), then fuse_reply_fmap() */
	ANSWER_DAXDEV_OPEN,
};

static struct {
	/* init */
	uint64_t capable_ext;
	/*
	 * 1: fuse_set_feature_flag, 2: force the bit in want_ext,
	 * 3: conn->want |= FUSE_CAP_WRITEBACK_CACHE, then 1,
	 * 4: 1, then conn->want |= FUSE_CAP_WRITEBACK_CACHE,
	 * 5: 2, then conn->want |= FUSE_CAP_WRITEBACK_CACHE,
	 * 6: conn->want |= (uint32_t)FUSE_CAP_DAX_FMAP
	 */
	int want_dax;
	bool set_flag_ret;
	/* get_fmap */
	int fmap_calls;
	fuse_ino_t fmap_ino;
	size_t fmap_size;
	enum fmap_answer fmap_answer;
	int reply_ret;
	int open_fd, open_index, open_ret;
	/* get_daxdev */
	int daxdev_calls;
	int daxdev_index;
	/* answer with fuse_reply_daxdev(daxdev_path), not by hand */
	bool daxdev_reply;
	const char *daxdev_path;
	int daxdev_ret;
	/* exit the session loop after this many get_daxdev calls */
	int exit_after;
} st;

static unsigned char map_buf[FUSE_FAMFS_FMAP_MAX_SIZE + 64];
static size_t map_len;

static void t_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	st.capable_ext = conn->capable_ext;
	if (st.want_dax == 3)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (st.want_dax == 1 || st.want_dax == 3 || st.want_dax == 4)
		st.set_flag_ret =
			fuse_set_feature_flag(conn, FUSE_CAP_DAX_FMAP);
	else if (st.want_dax == 2 || st.want_dax == 5)
		conn->want_ext |= FUSE_CAP_DAX_FMAP;
	else if (st.want_dax == 6)
		conn->want |= (uint32_t)FUSE_CAP_DAX_FMAP;
	if (st.want_dax == 4 || st.want_dax == 5)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
}

static void t_get_fmap(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	st.fmap_calls++;
	st.fmap_ino = ino;
	st.fmap_size = size;
	switch (st.fmap_answer) {
	case ANSWER_DAXDEV_OPEN:
		st.open_ret = fuse_daxdev_open(req, st.open_fd, st.open_index);
		/* fall through */
	case ANSWER_FMAP:
	case ANSWER_BAD_FMAP:
		st.reply_ret = fuse_reply_fmap(req, map_buf, map_len);
		break;
	case ANSWER_BUF:
		st.reply_ret = fuse_reply_buf(req, (char *)map_buf, map_len);
		break;
	case ANSWER_DAXDEV:
		st.reply_ret = fuse_reply_daxdev(req, "/dev/dax0.0");
		break;
	}
}

static void t_get_daxdev(fuse_req_t req, int index)
{
	struct fuse_session *s = req->se;
	struct fuse_daxdev_out out;

	st.daxdev_calls++;
	st.daxdev_index = index;
	if (st.daxdev_reply) {
		st.daxdev_ret = fuse_reply_daxdev(req, st.daxdev_path);
		return;
	}
	memset(&out, 0, sizeof(out));
	out.index = index;
	snprintf(out.name, sizeof(out.name), "/dev/dax%d.0", index);
	fuse_reply_buf(req, (char *)&out, sizeof(out));
	if (st.exit_after && st.daxdev_calls >= st.exit_after)
		fuse_session_exit(s);
}

static const struct fuse_lowlevel_ops famfs_ops = {
	.init = t_init,
	.get_fmap = t_get_fmap,
	.get_daxdev = t_get_daxdev,
};

static const struct fuse_lowlevel_ops plain_ops = {
	.init = t_init,
};

/* ------------------------------------------------------------------ */
/* A session talking to a socket instead of /dev/fuse                  */

static struct fuse_session *se;
static int peer = -1; /* our end: replies arrive here */
static uint64_t unique = 1;

static void session_new(const struct fuse_lowlevel_ops *ops, size_t op_size)
{
	char *argv[] = { (char *)"test_famfs_ll", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) {
		perror("socketpair");
		exit(1);
	}
	se = fuse_session_new(&args, ops, op_size, NULL);
	fuse_opt_free_args(&args);
	if (!se) {
		fprintf(stderr, "fuse_session_new failed\n");
		exit(1);
	}
	se->fd = sv[0];
	peer = sv[1];
	memset(&st, 0, sizeof(st));
}

static void session_end(void)
{
	fuse_session_destroy(se);
	close(peer);
	se = NULL;
	peer = -1;
}

/* Build a request: header plus @arglen bytes of @arg. */
static size_t request(void *buf, uint32_t opcode, uint64_t nodeid,
		      const void *arg, size_t arglen)
{
	struct fuse_in_header *in = buf;

	memset(in, 0, sizeof(*in));
	in->len = sizeof(*in) + arglen;
	in->opcode = opcode;
	in->unique = unique++;
	in->nodeid = nodeid;
	in->uid = getuid();
	in->gid = getgid();
	in->pid = getpid();
	if (arglen)
		memcpy(in + 1, arg, arglen);
	return in->len;
}

enum transport { T_MEM, T_PIPE, T_URING };
static const char *const tname[] = { "dev read", "splice pipe", "io_uring" };

static void process(enum transport t, const void *req, size_t len)
{
	const struct fuse_in_header *in = req;
	struct fuse_buf buf = { .size = len, .mem = (void *)req };
	int p[2];

	switch (t) {
	case T_MEM:
		fuse_session_process_buf(se, &buf);
		break;
	case T_PIPE:
		if (pipe(p) || write(p[1], req, len) != (ssize_t)len) {
			perror("pipe");
			exit(1);
		}
		buf.mem = NULL;
		buf.fd = p[0];
		buf.flags = FUSE_BUF_IS_FD;
		fuse_session_process_buf(se, &buf);
		close(p[0]);
		close(p[1]);
		break;
	case T_URING: {
		/*
		 * What fuse_uring.c does with a ring entry: the first argument
		 * in the op header area, the rest as payload.  The request is
		 * not marked as a ring request, so the reply goes to the
		 * session's fd like any other.
		 */
		struct fuse_req *r = calloc(1, sizeof(*r));
		unsigned char op_in[FUSE_URING_OP_IN_OUT_SZ] = { 0 };
		struct fuse_in_header hdr = *in;
		size_t arglen = len - sizeof(*in);

		memset(op_in, 0xa5, sizeof(op_in)); /* stale ring contents */
		memcpy(op_in, in + 1,
		       arglen < sizeof(op_in) ? arglen : sizeof(op_in));
		r->se = se;
		r->ref_cnt = 1;
		list_init_req(r);
		pthread_mutex_init(&r->lock, NULL);
		fuse_session_process_uring_cqe(se, r, &hdr, op_in, NULL, 0);
		break;
	}
	}
}

/* Read one reply; returns its length, or -1 if there is none. */
static ssize_t reply(void *buf, size_t size)
{
	return recv(peer, buf, size, MSG_DONTWAIT);
}

static struct {
	struct fuse_out_header h;
	unsigned char data[FAMFS_FMAP_MAX + 4096];
} rep;

/*
 * Send a request on transport @t and get the reply's error (or 1 for none).
 * If hdr_len is set, the header's len field says that instead of the bytes
 * sent.
 */
static uint32_t hdr_len;

static int call(enum transport t, uint32_t opcode, uint64_t nodeid,
		const void *arg, size_t arglen, size_t *outlen)
{
	unsigned char req[256 + sizeof(struct fuse_in_header)];
	uint64_t u = unique;
	size_t len = request(req, opcode, nodeid, arg, arglen);
	ssize_t n;

	if (hdr_len)
		((struct fuse_in_header *)req)->len = hdr_len;
	process(t, req, len);
	n = reply(&rep, sizeof(rep));
	if (n < 0)
		return 1;
	if ((size_t)n < sizeof(rep.h) || rep.h.len != n || rep.h.unique != u) {
		fprintf(stderr, "# bad reply: %zd bytes, len %u, unique %llu\n",
			n, rep.h.len, (unsigned long long)rep.h.unique);
		return 2;
	}
	if (outlen)
		*outlen = n - sizeof(rep.h);
	return rep.h.error;
}

/* INIT with @flags (64 bits); returns the reply's flags, or -errno. */
static int64_t init(uint64_t flags, int ext)
{
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = 65536,
	};
	const struct fuse_init_out *out = (const void *)rep.data;
	size_t len = 0;
	int err;

	in.flags = (uint32_t)flags | (ext ? FUSE_INIT_EXT : 0);
	in.flags2 = flags >> 32; /* ignored without FUSE_INIT_EXT */
	err = call(T_MEM, FUSE_INIT, 0, &in, sizeof(in), &len);
	if (err)
		return err > 0 ? -EIO : err;
	if (len < sizeof(*out))
		return -EIO;
	return out->flags | (uint64_t)out->flags2 << 32;
}

/* ------------------------------------------------------------------ */
/* Maps                                                                 */

static void *put(size_t *off, size_t n)
{
	void *p = map_buf + *off;

	memset(p, 0, n);
	*off += n;
	return p;
}

/* A simple map of @n extents of @len bytes each, covering @size bytes. */
static size_t simple_map(uint32_t n, uint64_t len, uint64_t size)
{
	struct fuse_famfs_fmap_header *h;
	struct fuse_famfs_simple_ext *se;
	size_t off = 0;
	uint32_t i;

	h = put(&off, sizeof(*h));
	h->file_type = FUSE_FAMFS_FILE_REG;
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = FUSE_FAMFS_EXT_SIMPLE;
	h->nextents = n;
	h->file_size = size;
	for (i = 0; i < n; i++) {
		se = put(&off, sizeof(*se));
		se->se_devindex = i % 2;
		se->se_offset = (2 + i) * 2 * MiB + (i % 2) * 64 * MiB;
		se->se_len = len;
	}
	return off;
}

/*
 * An interleaved map of @n extents of @nstrips strips, each strip
 * @striplen bytes, chunk @chunk, each extent covering @nbytes.
 */
static size_t iext_map(uint32_t n, uint32_t nstrips, uint32_t chunk,
		       uint64_t nbytes, uint64_t striplen, uint64_t size)
{
	struct fuse_famfs_fmap_header *h;
	struct fuse_famfs_simple_ext *se;
	struct fuse_famfs_iext *ie;
	size_t off = 0;
	uint32_t i, j;

	h = put(&off, sizeof(*h));
	h->fmap_version = FAMFS_FMAP_VERSION;
	h->ext_type = FUSE_FAMFS_EXT_INTERLEAVE;
	h->nextents = n;
	h->file_size = size;
	for (i = 0; i < n; i++) {
		ie = put(&off, sizeof(*ie));
		ie->ie_nstrips = nstrips;
		ie->ie_chunk_size = chunk;
		ie->ie_nbytes = nbytes;
		for (j = 0; j < nstrips; j++) {
			se = put(&off, sizeof(*se));
			se->se_devindex = j % FUSE_FAMFS_MAX_DAXDEVS;
			se->se_offset = (uint64_t)(i * nstrips + j) * striplen;
			se->se_len = striplen;
		}
	}
	return off;
}

#define HDR ((struct fuse_famfs_fmap_header *)map_buf)
#define SE(i) ((struct fuse_famfs_simple_ext *)(map_buf + sizeof(*HDR)) + (i))
#define IE0 ((struct fuse_famfs_iext *)(map_buf + sizeof(*HDR)))
#define IE0_SE(j) ((struct fuse_famfs_simple_ext *)(IE0 + 1) + (j))

struct map_case {
	const char *name;
	size_t (*make)(void);
	int want;
};

static size_t m_simple1(void)
{
	return simple_map(1, 2 * MiB, 2 * MiB);
}
static size_t m_simple32(void)
{
	return simple_map(32, 2 * MiB, 64 * MiB);
}
static size_t m_iext(void)
{
	/* 5 chunks of 2 MiB over 2 strips: strip 0 holds 3, strip 1 holds 2 */
	return iext_map(1, 2, 2 * MiB, 10 * MiB - 4096, 6 * MiB,
			10 * MiB - 4096);
}
static size_t m_iext_max(void)
{
	return iext_map(32, 32, 2 * MiB, 64 * MiB, 2 * MiB, 32 * 64 * MiB);
}
static size_t m_iext33(void)
{
	return iext_map(33, 2, 2 * MiB, 4 * MiB, 2 * MiB, 33 * 4 * MiB);
}
static size_t m_simple100k(void)
{
	return simple_map(100000, 2 * MiB, 100000 * 2 * MiB);
}
static size_t m_simple100k_overlap(void)
{
	size_t len = m_simple100k();

	/* the last extent on the second one: both on device 1 */
	SE(99999)->se_offset = SE(1)->se_offset;
	return len;
}
/* The most simple extents FUSE_FAMFS_FMAP_MAX_SIZE holds, zero padded */
#define MAX_SIMPLE ((FUSE_FAMFS_FMAP_MAX_SIZE - 32) / 24)
static size_t m_simple_max(void)
{
	simple_map(MAX_SIMPLE, 2 * MiB, 2 * MiB);
	return FUSE_FAMFS_FMAP_MAX_SIZE;
}
static size_t m_header_only(void)
{
	/* what fuse_reply_fmap() sends when the map does not fit */
	HDR->fmap_size = m_simple32();
	return sizeof(*HDR);
}
static size_t m_devindex_last(void)
{
	size_t len = m_simple1();

	SE(0)->se_devindex = FUSE_FAMFS_MAX_DAXDEVS - 1;
	return len;
}
static size_t m_too_long(void)
{
	simple_map(1, 2 * MiB, 2 * MiB);
	return FUSE_FAMFS_FMAP_MAX_SIZE + 1;
}
static size_t m_max_len(void)
{
	simple_map(1, 2 * MiB, 2 * MiB);
	return FUSE_FAMFS_FMAP_MAX_SIZE;
}
static size_t m_first_max_len(void)
{
	simple_map(1, 2 * MiB, 2 * MiB);
	return FAMFS_FMAP_MAX + 1;
}

/*
 * Maps of the library's own: sizes (the shared table's maps are small),
 * device indexes the kernel would have to ask for, and what
 * fuse_reply_fmap() sends when a map does not fit.
 */
static const struct map_case map_cases[] = {
	{ "simple, 100,000 extents", m_simple100k, 0 },
	{ "simple, 699,049 extents in FUSE_FAMFS_FMAP_MAX_SIZE bytes",
	  m_simple_max, 0 },
	{ "simple, device index 63", m_devindex_last, 0 },
	{ "interleaved, 32 x 32 strips (25376 bytes)", m_iext_max, 0 },
	{ "interleaved, 33 extents", m_iext33, 0 },
	{ "FAMFS_FMAP_MAX + 1 bytes with zero padding", m_first_max_len, 0 },
	{ "FUSE_FAMFS_FMAP_MAX_SIZE bytes with zero padding", m_max_len, 0 },
	{ "the header alone, fmap_size set (asks for a larger buffer)",
	  m_header_only, -EINVAL },
	{ "simple, 100,000 extents, the last overlaps another",
	  m_simple100k_overlap, -EINVAL },
	{ "FUSE_FAMFS_FMAP_MAX_SIZE + 1 bytes", m_too_long, -EFBIG },
};

static void test_fmap_check(void)
{
	size_t i, len;
	int ret;

	for (i = 0; i < sizeof(map_cases) / sizeof(map_cases[0]); i++) {
		memset(map_buf, 0, sizeof(map_buf));
		len = map_cases[i].make();
		ret = fuse_famfs_fmap_check(map_buf, len);
		ok(ret == map_cases[i].want,
		   "fuse_famfs_fmap_check: %s (%zu bytes): %d, want %d",
		   map_cases[i].name, len, ret, map_cases[i].want);
	}
	ok(fuse_famfs_fmap_check(NULL, 0) == -EINVAL,
	   "fuse_famfs_fmap_check: NULL buffer");
	ok(FUSE_FAMFS_FMAP_MAX_SIZE == 16 * MiB && MAX_SIMPLE == 699049,
	   "FUSE_FAMFS_FMAP_MAX_SIZE is 16 MiB: %zu simple extents",
	   (size_t)MAX_SIMPLE);
}

/* ------------------------------------------------------------------ */
/* INIT                                                                 */

static void test_init(void)
{
	int64_t f;

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	f = init(FUSE_DAX_FMAP | FUSE_MAX_PAGES, 1);
	ok(!!(st.capable_ext & FUSE_CAP_DAX_FMAP),
	   "INIT: FUSE_DAX_FMAP offered -> capable_ext has FUSE_CAP_DAX_FMAP");
	ok(st.set_flag_ret,
	   "INIT: fuse_set_feature_flag(FUSE_CAP_DAX_FMAP) succeeds");
	ok(f > 0 && (f & FUSE_DAX_FMAP) && (f & FUSE_INIT_EXT),
	   "INIT: server wants it -> reply has FUSE_DAX_FMAP (flags2 bit 11): %#llx",
	   (unsigned long long)f);
	session_end();

	session_new(&famfs_ops, sizeof(famfs_ops));
	f = init(FUSE_DAX_FMAP, 1);
	ok(!!(st.capable_ext & FUSE_CAP_DAX_FMAP),
	   "INIT: offered, capable_ext set");
	ok(f > 0 && !(f & FUSE_DAX_FMAP),
	   "INIT: server does not want it -> no FUSE_DAX_FMAP in the reply");
	session_end();

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	f = init(FUSE_MAX_PAGES, 1);
	ok(!(st.capable_ext & FUSE_CAP_DAX_FMAP),
	   "INIT: not offered -> capable_ext lacks FUSE_CAP_DAX_FMAP");
	ok(!st.set_flag_ret,
	   "INIT: not offered -> fuse_set_feature_flag fails");
	ok(f > 0 && !(f & FUSE_DAX_FMAP),
	   "INIT: not offered -> no FUSE_DAX_FMAP in the reply");
	session_end();

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 2;
	f = init(FUSE_MAX_PAGES, 1);
	ok(f == -EPROTO,
	   "INIT: not offered, server forces want_ext -> INIT refused (EPROTO): %lld",
	   (long long)f);
	session_end();

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	f = init(FUSE_DAX_FMAP, 0);
	ok(!(st.capable_ext & FUSE_CAP_DAX_FMAP) && f > 0 &&
		   !(f & FUSE_DAX_FMAP),
	   "INIT: bit 43 without FUSE_INIT_EXT is not an offer");
	session_end();
}

/*
 * A server that mixes the 32-bit conn->want with FUSE_CAP_DAX_FMAP: what
 * fuse_common.h documents.
 */
static void test_init_mixed(void)
{
	static const struct {
		int mode;
		const char *what;
		int dax, wb;
	} cases[] = {
		{ 3,
		  "conn->want |= WRITEBACK_CACHE, then fuse_set_feature_flag(DAX_FMAP)",
		  1, 1 },
		{ 4,
		  "fuse_set_feature_flag(DAX_FMAP), then conn->want |= WRITEBACK_CACHE",
		  1, 1 },
		{ 5,
		  "want_ext |= DAX_FMAP by hand, then conn->want |= WRITEBACK_CACHE",
		  1, 0 },
		{ 6, "conn->want |= (uint32_t)DAX_FMAP", 0, 0 },
	};
	size_t i;
	int64_t f;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		session_new(&famfs_ops, sizeof(famfs_ops));
		st.want_dax = cases[i].mode;
		f = init(FUSE_DAX_FMAP | FUSE_WRITEBACK_CACHE | FUSE_MAX_PAGES,
			 1);
		ok(f > 0 && !!(f & FUSE_DAX_FMAP) == cases[i].dax &&
			   !!(f & FUSE_WRITEBACK_CACHE) == cases[i].wb,
		   "INIT: %s -> reply %s FUSE_DAX_FMAP, %s FUSE_WRITEBACK_CACHE (%#llx)",
		   cases[i].what, cases[i].dax ? "has" : "lacks",
		   cases[i].wb ? "has" : "lacks", (unsigned long long)f);
		session_end();
	}
}

/* ------------------------------------------------------------------ */
/* GET_FMAP and GET_DAXDEV                                              */

static void test_get_fmap(enum transport t)
{
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	struct fuse_famfs_fmap_header want;
	unsigned char longer[16] = { 0 };
	const char *tn = tname[t];
	size_t len = 0;
	int err, calls;

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);

	memset(map_buf, 0, sizeof(map_buf));
	map_len = m_iext();
	err = call(t, FUSE_GET_FMAP, 42, &gin, sizeof(gin), &len);
	ok(err == 0 && st.fmap_calls == 1 && st.fmap_ino == 42 &&
		   st.fmap_size == FAMFS_FMAP_MAX,
	   "%s: GET_FMAP with fuse_getxattr_in -> get_fmap(ino 42, size %zu)",
	   tn, st.fmap_size);
	ok(err == 0 && len == map_len && !memcmp(rep.data, map_buf, map_len) &&
		   st.reply_ret == 0,
	   "%s: GET_FMAP reply is the map, %zu bytes", tn, len);

	err = call(t, FUSE_GET_FMAP, 43, NULL, 0, &len);
	ok(err == 0 && st.fmap_calls == 2 && st.fmap_ino == 43 &&
		   st.fmap_size == FUSE_FAMFS_FMAP_DEFAULT_SIZE,
	   "%s: GET_FMAP without input -> size %zu (FUSE_FAMFS_FMAP_DEFAULT_SIZE)",
	   tn, st.fmap_size);

	err = call(t, FUSE_GET_FMAP, 44, &gin, 4, NULL);
	ok(err == -EINVAL && st.fmap_calls == 2,
	   "%s: GET_FMAP with a 4-byte input -> EINVAL, op not called: %d", tn,
	   err);

	memcpy(longer, &gin, sizeof(gin));
	longer[8] = 0xff;
	err = call(t, FUSE_GET_FMAP, 45, longer, sizeof(longer), NULL);
	ok(err == 0 && st.fmap_calls == 3 && st.fmap_size == FAMFS_FMAP_MAX,
	   "%s: GET_FMAP with a longer input -> size from its first field", tn);

	/* the kernel's size bounds fuse_reply_fmap(): exactly, and one more */
	gin.size = map_len;
	err = call(t, FUSE_GET_FMAP, 46, &gin, sizeof(gin), &len);
	ok(err == 0 && len == map_len && st.reply_ret == 0,
	   "%s: fuse_reply_fmap: map of exactly the size offered (%zu) is sent",
	   tn, map_len);
	gin.size = map_len - 1;
	err = call(t, FUSE_GET_FMAP, 47, &gin, sizeof(gin), &len);
	memcpy(&want, map_buf, sizeof(want));
	want.fmap_size = map_len;
	ok(err == 0 && len == sizeof(want) &&
		   !memcmp(rep.data, &want, sizeof(want)) && st.reply_ret == 0,
	   "%s: fuse_reply_fmap: map one byte larger than offered -> the header alone, fmap_size %zu",
	   tn, map_len);
	gin.size = sizeof(want) - 1;
	err = call(t, FUSE_GET_FMAP, 47, &gin, sizeof(gin), &len);
	ok(err == -EIO && st.reply_ret == -ERANGE,
	   "%s: fuse_reply_fmap: less than a header offered -> kernel gets EIO, caller -ERANGE",
	   tn);

	gin.size = FAMFS_FMAP_MAX;
	IE0->ie_chunk_size = 3 * MiB;
	err = call(t, FUSE_GET_FMAP, 48, &gin, sizeof(gin), &len);
	ok(err == -EIO && st.reply_ret == -EINVAL,
	   "%s: fuse_reply_fmap: invalid map not sent -> kernel gets EIO, caller -EINVAL",
	   tn);

	/* the input is what was received, whatever the header says */
	if (t != T_URING) {
		calls = st.fmap_calls;
		hdr_len = sizeof(struct fuse_in_header) + sizeof(gin);
		err = call(t, FUSE_GET_FMAP, 50, &gin, 4, NULL);
		ok(err == -EINVAL && st.fmap_calls == calls,
		   "%s: GET_FMAP, header says 8 bytes of input, 4 received -> EINVAL, op not called: %d",
		   tn, err);
		hdr_len = sizeof(struct fuse_in_header);
		gin.size = 12345;
		call(t, FUSE_GET_FMAP, 51, &gin, sizeof(gin), NULL);
		ok(st.fmap_calls == calls + 1 && st.fmap_size == 12345,
		   "%s: GET_FMAP, header says no input, 8 bytes received -> size %zu from the input",
		   tn, st.fmap_size);
		hdr_len = 0;
		gin.size = FAMFS_FMAP_MAX;
	}

	st.fmap_answer = ANSWER_BUF;
	err = call(t, FUSE_GET_FMAP, 49, &gin, sizeof(gin), &len);
	ok(err == 0 && len == map_len,
	   "%s: fuse_reply_buf still sends whatever the server gives", tn);
	session_end();
}

static void test_get_daxdev(enum transport t)
{
	const struct fuse_daxdev_out *out = (const void *)rep.data;
	struct fuse_get_daxdev_in din = { .daxdev_num = 5 };
	static const struct {
		uint64_t nodeid;
		int called;
	} cases[] = {
		{ 0, 1 },
		{ 5, 1 },
		{ FUSE_FAMFS_MAX_DAXDEVS - 1, 1 },
		{ FUSE_FAMFS_MAX_DAXDEVS, 0 },
		{ (1ULL << 32) + 1, 0 }, /* would narrow to 1 */
		{ 1ULL << 40, 0 },
		{ UINT64_MAX, 0 },
	};
	const char *tn = tname[t];
	size_t i, len = 0;
	int err, calls;

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		calls = st.daxdev_calls;
		st.daxdev_index = -1;
		err = call(t, FUSE_GET_DAXDEV, cases[i].nodeid, &din,
			   sizeof(din), &len);
		if (cases[i].called)
			ok(err == 0 && st.daxdev_calls == calls + 1 &&
				   st.daxdev_index == (int)cases[i].nodeid &&
				   len == sizeof(*out) &&
				   out->index == cases[i].nodeid,
			   "%s: GET_DAXDEV nodeid %llu -> get_daxdev(%d), %zu-byte fuse_daxdev_out \"%s\"",
			   tn, (unsigned long long)cases[i].nodeid,
			   st.daxdev_index, len, out->name);
		else
			ok(err == -EINVAL && st.daxdev_calls == calls,
			   "%s: GET_DAXDEV nodeid %#llx -> EINVAL, op not called: %d",
			   tn, (unsigned long long)cases[i].nodeid, err);
	}
	err = call(t, FUSE_GET_DAXDEV, 3, NULL, 0, &len);
	ok(err == 0 && st.daxdev_index == 3,
	   "%s: GET_DAXDEV without input -> index from nodeid", tn);
	session_end();
}

/* Without FUSE_CAP_DAX_FMAP negotiated the ops are never called. */
static void test_not_negotiated(enum transport t)
{
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	static const struct {
		uint64_t offer;
		int want;
		const char *what;
	} cases[] = {
		{ FUSE_DAX_FMAP, 0, "offered, not wanted" },
		{ FUSE_MAX_PAGES, 1, "not offered" },
		{ FUSE_DAX_FMAP, 6, "wanted through conn->want only" },
	};
	const char *tn = tname[t];
	size_t i;
	int err;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		session_new(&famfs_ops, sizeof(famfs_ops));
		st.want_dax = cases[i].want;
		init(cases[i].offer, 1);
		memset(map_buf, 0, sizeof(map_buf));
		map_len = m_simple1();
		err = call(t, FUSE_GET_FMAP, 2, &gin, sizeof(gin), NULL);
		ok(err == -EOPNOTSUPP && !st.fmap_calls,
		   "%s: DAX_FMAP %s: GET_FMAP -> EOPNOTSUPP, get_fmap not called: %d",
		   tn, cases[i].what, err);
		err = call(t, FUSE_GET_DAXDEV, 1, NULL, 0, NULL);
		ok(err == -EOPNOTSUPP && !st.daxdev_calls,
		   "%s: DAX_FMAP %s: GET_DAXDEV -> EOPNOTSUPP, get_daxdev not called: %d",
		   tn, cases[i].what, err);
		session_end();
	}
}

static void test_missing_ops(enum transport t)
{
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	const char *tn = tname[t];
	int err;

	session_new(&plain_ops, sizeof(plain_ops));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);
	err = call(t, FUSE_GET_FMAP, 2, &gin, sizeof(gin), NULL);
	ok(err == -EOPNOTSUPP, "%s: no get_fmap -> EOPNOTSUPP: %d", tn, err);
	err = call(t, FUSE_GET_DAXDEV, 0, NULL, 0, NULL);
	ok(err == -EOPNOTSUPP, "%s: no get_daxdev -> EOPNOTSUPP: %d", tn, err);
	session_end();

	/* a server built against the struct before the famfs ops */
	session_new(&famfs_ops, offsetof(struct fuse_lowlevel_ops, get_fmap));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);
	err = call(t, FUSE_GET_FMAP, 2, &gin, sizeof(gin), NULL);
	ok(err == -EOPNOTSUPP && !st.fmap_calls,
	   "%s: old ops struct (op_size without get_fmap) -> EOPNOTSUPP", tn);
	err = call(t, FUSE_GET_DAXDEV, 1, NULL, 0, NULL);
	ok(err == -EOPNOTSUPP && !st.daxdev_calls,
	   "%s: old ops struct (op_size without get_daxdev) -> EOPNOTSUPP", tn);
	session_end();
}

/*
 * fuse_reply_daxdev(): the bytes sent, written out from the wire layout
 * (index: 16 bits at 0, name: DAXDEV_NAME_MAX bytes at 24, 280 bytes in
 * all, everything else zero) rather than from the struct.
 */
static void test_reply_daxdev(enum transport t)
{
	static char longest[DAXDEV_NAME_MAX], too_long[DAXDEV_NAME_MAX + 1];
	static const struct {
		uint64_t nodeid;
		const char *path;
		int sent;
		const char *what;
	} cases[] = {
		{ 0, "/dev/dax0.0", 1, "a device path" },
		{ 7, "/dev/dax1.0", 1, "a device path" },
		{ FUSE_FAMFS_MAX_DAXDEVS - 1, "/", 1, "the shortest path" },
		{ 4, longest, 1, "a path of DAXDEV_NAME_MAX - 1 bytes" },
		{ 4, too_long, 0, "a path of DAXDEV_NAME_MAX bytes" },
		{ 4, "dev/dax0.0", 0, "a relative path" },
		{ 4, "", 0, "an empty path" },
		{ 4, NULL, 0, "NULL" },
	};
	unsigned char want[280];
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	const char *tn = tname[t];
	uint16_t index;
	size_t i, len;
	int err;

	memset(longest, 'a', sizeof(longest) - 1);
	longest[0] = '/';
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[0] = '/';
	ok(sizeof(struct fuse_daxdev_out) == sizeof(want) &&
		   offsetof(struct fuse_daxdev_out, name) == 24,
	   "%s: struct fuse_daxdev_out is %zu bytes, name at %zu", tn,
	   sizeof(struct fuse_daxdev_out),
	   offsetof(struct fuse_daxdev_out, name));

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);
	st.daxdev_reply = true;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st.daxdev_path = cases[i].path;
		st.daxdev_ret = 1;
		len = 0;
		err = call(t, FUSE_GET_DAXDEV, cases[i].nodeid, NULL, 0, &len);
		if (cases[i].sent) {
			memset(want, 0, sizeof(want));
			index = cases[i].nodeid;
			memcpy(want, &index, sizeof(index));
			memcpy(want + 24, cases[i].path, strlen(cases[i].path));
			ok(err == 0 && st.daxdev_ret == 0 &&
				   len == sizeof(want) &&
				   !memcmp(rep.data, want, sizeof(want)),
			   "%s: fuse_reply_daxdev, device %llu, %s: %zu bytes, index and NUL-terminated name, zeros elsewhere",
			   tn, (unsigned long long)cases[i].nodeid,
			   cases[i].what, len);
		} else {
			ok(err == -EIO && st.daxdev_ret == -EINVAL,
			   "%s: fuse_reply_daxdev, %s: not sent, kernel gets EIO, caller -EINVAL: %d, %d",
			   tn, cases[i].what, err, st.daxdev_ret);
		}
		ok(reply(&rep, sizeof(rep)) < 0,
		   "%s: fuse_reply_daxdev, device %llu, %s: one reply", tn,
		   (unsigned long long)cases[i].nodeid, cases[i].what);
	}

	/* only a get_daxdev request has a device index to answer for */
	memset(map_buf, 0, sizeof(map_buf));
	map_len = m_simple1();
	st.fmap_answer = ANSWER_DAXDEV;
	err = call(t, FUSE_GET_FMAP, 2, &gin, sizeof(gin), NULL);
	ok(err == -EIO && st.reply_ret == -EINVAL &&
		   reply(&rep, sizeof(rep)) < 0,
	   "%s: fuse_reply_daxdev to a get_fmap request: not sent, kernel gets EIO, caller -EINVAL",
	   tn);
	session_end();
}

/* ------------------------------------------------------------------ */
/* Large maps                                                           */

/*
 * GET_FMAP (dev read) offering @size, the reply written to a temporary file:
 * a socket takes no message that large.  Returns the reply's error, or 2 for
 * a malformed reply; the payload in *out (to be freed), its length in
 * *outlen.
 */
static int big_call(uint64_t nodeid, uint32_t size, unsigned char **out,
		    size_t *outlen)
{
	struct fuse_getxattr_in gin = { .size = size };
	unsigned char req[sizeof(struct fuse_in_header) + sizeof(gin)];
	struct fuse_out_header h;
	FILE *f = tmpfile();
	int sock = se->fd, fd;
	off_t n;

	*out = NULL;
	*outlen = 0;
	if (!f) {
		perror("tmpfile");
		exit(1);
	}
	fd = fileno(f);
	se->fd = fd;
	process(T_MEM, req,
		request(req, FUSE_GET_FMAP, nodeid, &gin, sizeof(gin)));
	se->fd = sock;
	n = lseek(fd, 0, SEEK_END);
	if (n < (off_t)sizeof(h) ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.len != n) {
		fclose(f);
		return 2;
	}
	*outlen = n - sizeof(h);
	*out = malloc(*outlen + 1);
	if (!*out || pread(fd, *out, *outlen, sizeof(h)) != (ssize_t)*outlen) {
		fclose(f);
		return 2;
	}
	fclose(f);
	return h.error;
}

/*
 * fuse_reply_fmap() with maps larger than the first buffer the kernel
 * offers: the header alone with fmap_size, then the whole map when the
 * kernel offers that much.
 */
static void test_large_fmap(void)
{
	struct fuse_famfs_fmap_header want;
	unsigned char *out;
	size_t len;
	int err;

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);

	memset(map_buf, 0, sizeof(map_buf));
	map_len = m_simple100k();
	memcpy(&want, map_buf, sizeof(want));
	want.fmap_size = map_len;
	err = big_call(2, FAMFS_FMAP_MAX, &out, &len);
	ok(err == 0 && st.reply_ret == 0 && len == sizeof(want) &&
		   !memcmp(out, &want, sizeof(want)),
	   "large map: 100,000 extents (%zu bytes), %d offered -> the header alone (%zu bytes), fmap_size the map's size, the rest as built",
	   map_len, FAMFS_FMAP_MAX, len);
	free(out);
	err = big_call(2, map_len - 1, &out, &len);
	ok(err == 0 && len == sizeof(want) && !memcmp(out, &want, sizeof(want)),
	   "large map: one byte less than the map offered -> the header alone");
	free(out);
	err = big_call(2, map_len, &out, &len);
	ok(err == 0 && st.reply_ret == 0 && len == map_len &&
		   !memcmp(out, map_buf, map_len) && !HDR->fmap_size,
	   "large map: the map's size offered -> the map, %zu bytes, as built (fmap_size 0)",
	   len);
	free(out);

	HDR->fmap_size = map_len;
	err = big_call(2, map_len, &out, &len);
	ok(err == 0 && len == map_len && !memcmp(out, map_buf, map_len),
	   "large map: a map with fmap_size set is sent as built");
	free(out);
	HDR->fmap_size = map_len - 24;
	err = big_call(2, map_len, &out, &len);
	ok(err == -EIO && st.reply_ret == -EINVAL && !len,
	   "large map: fmap_size not the map's size -> kernel gets EIO, caller -EINVAL");
	free(out);

	memset(map_buf, 0, sizeof(map_buf));
	map_len = m_simple_max();
	err = big_call(3, FUSE_FAMFS_FMAP_MAX_SIZE, &out, &len);
	ok(err == 0 && st.reply_ret == 0 && len == map_len &&
		   !memcmp(out, map_buf, map_len),
	   "large map: %zu extents in FUSE_FAMFS_FMAP_MAX_SIZE bytes, all offered -> sent",
	   (size_t)MAX_SIMPLE);
	free(out);

	map_len = m_too_long();
	err = big_call(4, FUSE_FAMFS_FMAP_MAX_SIZE, &out, &len);
	ok(err == -EFBIG && st.reply_ret == -EFBIG && !len,
	   "large map: FUSE_FAMFS_FMAP_MAX_SIZE + 1 bytes -> kernel and caller get EFBIG: %d, %d",
	   err, st.reply_ret);
	free(out);
	err = big_call(4, FAMFS_FMAP_MAX, &out, &len);
	ok(err == -EFBIG && st.reply_ret == -EFBIG && !len,
	   "large map: FUSE_FAMFS_FMAP_MAX_SIZE + 1 bytes, less offered -> EFBIG, no header");
	free(out);
	session_end();
}

/* ------------------------------------------------------------------ */
/* fuse_daxdev_open()                                                   */

/*
 * A stand-in for the kernel's side of the ioctl: while fake_ioctl.on, the
 * ioctls libfuse makes land here and are recorded, and fail with
 * fake_ioctl.err if it is set.  Otherwise they go to the kernel.
 */
static struct {
	bool on;
	int err;
	int calls;
	int fd;
	unsigned long request;
	unsigned char arg[16];
} fake_ioctl;

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!fake_ioctl.on)
		return (int)syscall(SYS_ioctl, fd, request, arg);
	fake_ioctl.calls++;
	fake_ioctl.fd = fd;
	fake_ioctl.request = request;
	memcpy(fake_ioctl.arg, arg, sizeof(fake_ioctl.arg));
	if (fake_ioctl.err) {
		errno = fake_ioctl.err;
		return -1;
	}
	return 0;
}

/* fuse_daxdev_open(@fd, @index) in get_fmap, then the map */
static int daxdev_open_call(int fd, int index)
{
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	size_t len = 0;
	int err;

	st.fmap_answer = ANSWER_DAXDEV_OPEN;
	st.open_fd = fd;
	st.open_index = index;
	st.open_ret = 12345;
	err = call(T_MEM, FUSE_GET_FMAP, 2, &gin, sizeof(gin), &len);
	if (err || len != map_len)
		return 12345;
	return st.open_ret;
}

static void test_daxdev_open(void)
{
	static const struct {
		int err;
		const char *what;
	} errs[] = {
		{ EINVAL, "flags or index out of range" },
		{ EBADF, "bad fd" },
		{ ENODEV, "not a devdax bound to fsdev_dax" },
		{ EPERM, "no CAP_SYS_RAWIO" },
		{ EOPNOTSUPP, "connection without famfs" },
		{ EBUSY, "index taken by another device" },
		{ ENOTTY, "kernel without the ioctl" },
	};
	/* The kernel's _IOW(229, 4, struct fuse_backing_map), spelled out */
	const unsigned long want_req = _IOC(_IOC_WRITE, 229, 4, 16);
	unsigned char want[16] = { 0 };
	int32_t fd = 1234;
	uint64_t index = FUSE_FAMFS_MAX_DAXDEVS - 1;
	struct fuse_chan *ch;
	struct fuse_buf buf;
	unsigned char req[sizeof(struct fuse_in_header) +
			  sizeof(struct fuse_getxattr_in)];
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	size_t i;
	int ret, sv[2];

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	init(FUSE_DAX_FMAP, 1);
	memset(map_buf, 0, sizeof(map_buf));
	map_len = m_simple1();

	/* the session's fd is a socket: the kernel refuses the ioctl */
	ret = daxdev_open_call(0, 0);
	ok(ret == -ENOTTY,
	   "fuse_daxdev_open on a socket (no such ioctl) -> -ENOTTY, map still sent: %d",
	   ret);

	fake_ioctl.on = true;
	ret = daxdev_open_call(fd, index);
	memcpy(want, &fd, sizeof(fd));
	memcpy(want + 8, &index, sizeof(index));
	ok(ret == 1 && fake_ioctl.calls == 1 && fake_ioctl.fd == se->fd &&
		   fake_ioctl.request == want_req &&
		   fake_ioctl.request == FUSE_DEV_IOC_DAXDEV_OPEN &&
		   !memcmp(fake_ioctl.arg, want, sizeof(want)),
	   "fuse_daxdev_open(fd %d, index %llu): ioctl %#lx on the session's fd, struct fuse_backing_map { fd, flags 0, daxdev_index }, returns %d",
	   fd, (unsigned long long)index, fake_ioctl.request, ret);
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		fake_ioctl.err = errs[i].err;
		ret = daxdev_open_call(fd, 0);
		ok(ret == -errs[i].err,
		   "fuse_daxdev_open: kernel says %s (%s) -> %d", errs[i].what,
		   strerror(errs[i].err), ret);
	}
	fake_ioctl.err = 0;
	fake_ioctl.calls = 0;
	ret = daxdev_open_call(fd, -1);
	ok(ret == -EINVAL && !fake_ioctl.calls,
	   "fuse_daxdev_open: negative index -> -EINVAL, no ioctl: %d", ret);

	/* a request that came on a cloned fd: the ioctl goes there */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) {
		perror("socketpair");
		exit(1);
	}
	ch = calloc(1, sizeof(*ch));
	ch->fd = sv[0];
	ch->ctr = 1;
	pthread_mutex_init(&ch->lock, NULL);
	st.open_fd = fd;
	st.open_index = 0;
	st.open_ret = 12345;
	buf = (struct fuse_buf){
		.size = request(req, FUSE_GET_FMAP, 2, &gin, sizeof(gin)),
		.mem = req,
	};
	fuse_session_process_buf_internal(se, &buf, ch);
	ok(st.open_ret == 1 && fake_ioctl.fd == sv[0] &&
		   recv(sv[1], &rep, sizeof(rep), MSG_DONTWAIT) ==
			   (ssize_t)(sizeof(rep.h) + map_len),
	   "fuse_daxdev_open: request on a cloned fd -> ioctl on that fd (%d), reply there too",
	   fake_ioctl.fd);
	fuse_chan_put(ch); /* closes sv[0] */
	close(sv[1]);
	fake_ioctl.on = false;
	session_end();
}

/* ------------------------------------------------------------------ */
/* The session loops, reading requests from the socket                  */

static void *loop_thread(void *arg)
{
	intptr_t mt = (intptr_t)arg;
	struct fuse_loop_config *cfg;
	intptr_t ret;

	if (!mt)
		return (void *)(intptr_t)fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, 2);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return (void *)ret;
}

static int loop_call(uint32_t opcode, uint64_t nodeid, const void *arg,
		     size_t arglen, size_t *outlen)
{
	unsigned char req[256 + sizeof(struct fuse_in_header)];
	size_t len = request(req, opcode, nodeid, arg, arglen);
	ssize_t n;

	if (send(peer, req, len, 0) != (ssize_t)len)
		return 1;
	n = recv(peer, &rep, sizeof(rep), 0); /* blocking */
	if (n < (ssize_t)sizeof(rep.h) || rep.h.len != n)
		return 2;
	if (outlen)
		*outlen = n - sizeof(rep.h);
	return rep.h.error;
}

static void test_loop(int mt)
{
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.flags = FUSE_INIT_EXT,
		.flags2 = FUSE_DAX_FMAP >> 32,
	};
	struct fuse_getxattr_in gin = { .size = FAMFS_FMAP_MAX };
	const char *tn = mt ? "multi-threaded loop" : "session loop";
	const struct fuse_init_out *iout = (const void *)rep.data;
	struct timeval tv = { .tv_sec = 10 };
	pthread_t thr;
	void *ret = NULL;
	size_t len = 0;
	int err;

	session_new(&famfs_ops, sizeof(famfs_ops));
	st.want_dax = 1;
	st.exit_after = 1;
	setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(map_buf, 0, sizeof(map_buf));
	map_len = m_simple32();
	pthread_create(&thr, NULL, loop_thread, (void *)(intptr_t)mt);

	err = loop_call(FUSE_INIT, 0, &in, sizeof(in), &len);
	ok(err == 0 && (iout->flags2 & (FUSE_DAX_FMAP >> 32)),
	   "%s: INIT negotiates FUSE_DAX_FMAP", tn);
	err = loop_call(FUSE_GET_FMAP, 7, &gin, sizeof(gin), &len);
	ok(err == 0 && st.fmap_ino == 7 && len == map_len &&
		   !memcmp(rep.data, map_buf, map_len),
	   "%s: GET_FMAP reaches get_fmap, map of %zu bytes back", tn, len);
	/* get_daxdev ends the loop after its reply */
	err = loop_call(FUSE_GET_DAXDEV, 9, NULL, 0, &len);
	ok(err == 0 && st.daxdev_index == 9 &&
		   len == sizeof(struct fuse_daxdev_out),
	   "%s: GET_DAXDEV reaches get_daxdev(9)", tn);
	if (mt) {
		/* wake the idle worker blocked in read() */
		shutdown(peer, SHUT_WR);
	}
	pthread_join(thr, &ret);
	ok(1, "%s: loop ended (%d)", tn, (int)(intptr_t)ret);
	session_end();
}

/* ------------------------------------------------------------------ */
/* Differential fuzz: fuse_famfs_fmap_check() against a model          */

/*
 * The model: the kernel's rules (fs/fuse/famfs.c, famfs_fmap_parse()),
 * written out again from the wire layout, byte offsets and all, without
 * the library's structs or code.
 */
#define M_HDR 32 /* header */
#define M_EXT 24 /* simple extent, or strip */
#define M_IEXT 24 /* interleaved extent */
#define M_2M (2 * MiB)
#define M_PAGE 4096ULL

static uint16_t get16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void set16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void set32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void set64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

struct m_range {
	uint32_t dev;
	uint64_t off, len;
};

/* Bytes strip @s of an interleaved extent holds: chunk c goes to c % n. */
static uint64_t m_strip_bytes(uint64_t nbytes, uint64_t chunk, uint64_t n,
			      uint64_t s)
{
	uint64_t nchunks = nbytes / chunk + (nbytes % chunk != 0);
	uint64_t k, last;

	if (s >= nchunks)
		return 0;
	k = (nchunks - 1 - s) / n + 1; /* chunks s, s + n, ... */
	last = s + (k - 1) * n;
	if (nbytes - last * chunk < chunk)
		return (k - 1) * chunk + (nbytes - last * chunk);
	return k * chunk;
}

static int m_range_ok(const unsigned char *p, struct m_range *r)
{
	r->dev = get32(p);
	r->off = get64(p + 8);
	r->len = get64(p + 16);
	return r->dev < 64 && r->len && !(r->off % M_2M) && !(r->len % M_2M) &&
	       r->off <= UINT64_MAX - r->len;
}

/* The kernel's MAX_LFS_FILESIZE (64-bit) */
#define MAX_LFS ((uint64_t)INT64_MAX)

/* The fuzzed maps: FZ_SIZE bytes at most, and room to grow */
#define FZ_SIZE (128 * 1024)
#define FZ_RANGES (FZ_SIZE / M_EXT)

static int model_accepts(const unsigned char *b, size_t len)
{
	static struct m_range r[FZ_RANGES + 8];
	uint64_t size, covered = 0, chunk, nbytes;
	uint32_t ext_type, n, fmap_size, nstrips, e, j, k;
	unsigned int nr = 0;
	size_t off = M_HDR;

	/* The kernel asks for 16 MiB at most. */
	if (len > 16 * MiB || len < M_HDR)
		return 0;
	ext_type = get32(b + 4);
	n = get32(b + 8);
	fmap_size = get32(b + 12);
	size = get64(b + 16);
	if (b[0] > 2 || get16(b + 2) != 1 || ext_type > 1 || !n ||
	    (fmap_size && fmap_size != len) || size > MAX_LFS)
		return 0;
	for (e = 0; e < n; e++) {
		if (ext_type == 0) {
			if (len - off < M_EXT || !m_range_ok(b + off, &r[nr]))
				return 0;
			off += M_EXT;
			if (covered > UINT64_MAX - r[nr].len)
				return 0;
			covered += r[nr++].len;
			continue;
		}
		if (len - off < M_IEXT)
			return 0;
		nstrips = get32(b + off);
		chunk = get32(b + off + 4);
		nbytes = get64(b + off + 8);
		off += M_IEXT;
		if (!nstrips || nstrips > 32 || len - off < nstrips * M_EXT)
			return 0;
		if (!chunk || chunk % M_2M || !nbytes ||
		    nbytes > UINT64_MAX - chunk)
			return 0;
		if (e != n - 1 && nbytes % (uint64_t)sysconf(_SC_PAGESIZE))
			return 0;
		for (j = 0; j < nstrips; j++) {
			if (!m_range_ok(b + off, &r[nr]) ||
			    r[nr].len <
				    m_strip_bytes(nbytes, chunk, nstrips, j))
				return 0;
			off += M_EXT;
			nr++;
		}
		if (covered > UINT64_MAX - nbytes)
			return 0;
		covered += nbytes;
	}
	for (; off < len; off++)
		if (b[off])
			return 0;
	if (covered < size)
		return 0;
	for (j = 0; j < nr; j++)
		for (k = j + 1; k < nr; k++)
			if (r[j].dev == r[k].dev &&
			    r[j].off < r[k].off + r[k].len &&
			    r[k].off < r[j].off + r[j].len)
				return 0;
	return 1;
}

/* splitmix64 */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* A count of extents or strips: small mostly, sometimes the maximum. */
static uint32_t some_count(void)
{
	switch (below(4)) {
	case 0:
		return 1;
	case 1:
		return 1 + below(4);
	case 2:
		return 1 + below(32);
	default:
		return below(2) ? 32 : 1 + below(8);
	}
}

/*
 * A count of extents: as some_count() mostly, sometimes more than 32, now
 * and then (simple extents only) thousands.
 */
static uint32_t some_nextents(int interleave)
{
	if (below(32) == 0)
		return 33 + below(200);
	if (!interleave && below(512) == 0)
		return 1000 + below(4000);
	return some_count();
}

static union {
	uint64_t align;
	unsigned char b[FZ_SIZE + 4096];
} fz;
static size_t fz_ranges[FZ_RANGES]; /* offsets of the simple extents/strips */
static size_t fz_iexts[FZ_RANGES];
static unsigned int fz_nranges, fz_niexts;

/* Where the next range goes on each device: valid maps do not overlap. */
static uint64_t fz_cursor[64];

static void fz_range(size_t off, uint64_t minlen)
{
	uint32_t dev = below(3) ? below(4) : below(64);
	uint64_t len = (minlen + M_2M - 1) / M_2M * M_2M;

	if (!len)
		len = M_2M;
	len += below(3) * M_2M;
	fz_cursor[dev] += below(2) * M_2M * below(8); /* a gap, or none */
	set32(fz.b + off, dev);
	set64(fz.b + off + 8, fz_cursor[dev]);
	set64(fz.b + off + 16, len);
	fz_cursor[dev] += len;
	fz_ranges[fz_nranges++] = off;
}

/* A valid map; returns its length. */
static size_t fz_valid(void)
{
	int interleave = below(2);
	uint32_t n = some_nextents(interleave), e, j, nstrips;
	uint64_t covered = 0, nbytes, chunk, size;
	size_t off = M_HDR;

	memset(fz.b, 0, sizeof(fz.b));
	memset(fz_cursor, 0, sizeof(fz_cursor));
	if (below(8) == 0) /* far up the device */
		for (j = 0; j < 64; j++)
			fz_cursor[j] = (1ULL << 62) + below(1024) * M_2M;
	fz_nranges = fz_niexts = 0;
	fz.b[0] = below(3);
	set16(fz.b + 2, 1);
	set32(fz.b + 4, interleave);
	if (!interleave && below(8) == 0) {
		/* extents of 2^62 bytes: file sizes around MAX_LFS_FILESIZE */
		static const uint64_t sizes[] = { MAX_LFS - M_2M, MAX_LFS,
						  MAX_LFS + 1, 1ULL << 62 };

		n = 1 + below(3);
		for (e = 0; e < n; e++, off += M_EXT) {
			set32(fz.b + off, e);
			set64(fz.b + off + 8, below(4) * M_2M);
			set64(fz.b + off + 16, (1ULL << 62) + below(2) * M_2M);
			fz_ranges[fz_nranges++] = off;
		}
		set32(fz.b + 8, n);
		set64(fz.b + 16, sizes[below(4)]);
		return off;
	}
	set32(fz.b + 8, n);
	for (e = 0; e < n; e++) {
		if (!interleave) {
			fz_range(off, M_2M * (1 + below(4)));
			covered += get64(fz.b + off + 16);
			off += M_EXT;
			continue;
		}
		/* many extents have few strips: the map fits in FZ_SIZE */
		nstrips = n > 32 ? 1 + below(4) : some_count();
		chunk = M_2M * (1 + below(3));
		nbytes = 1 + below(nstrips * chunk * 3);
		if (e != n - 1 || below(2))
			nbytes = (nbytes + M_PAGE - 1) / M_PAGE * M_PAGE;
		set32(fz.b + off, nstrips);
		set32(fz.b + off + 4, chunk);
		set64(fz.b + off + 8, nbytes);
		fz_iexts[fz_niexts++] = off;
		off += M_IEXT;
		for (j = 0; j < nstrips; j++, off += M_EXT)
			fz_range(off, m_strip_bytes(nbytes, chunk, nstrips, j));
		covered += nbytes;
	}
	switch (below(4)) {
	case 0:
		size = covered;
		break;
	case 1:
		size = 0;
		break;
	default:
		size = below(covered + 1);
	}
	set64(fz.b + 16, size);
	if (below(4) == 0)
		set32(fz.b + 12, off); /* fmap_size, else 0 */
	return off;
}

static uint64_t boundary64(void)
{
	static const uint64_t v[] = {
		0,
		1,
		M_PAGE,
		M_PAGE + 1,
		M_2M - 1,
		M_2M,
		M_2M + 1,
		M_2M + M_PAGE,
		4 * M_2M,
		MAX_LFS,
		MAX_LFS + 1,
		MAX_LFS & ~(M_2M - 1),
		(MAX_LFS & ~(M_2M - 1)) + M_2M,
		UINT64_MAX,
		UINT64_MAX & ~(M_2M - 1),
		1ULL << 62,
	};

	return below(4) ? v[below(sizeof(v) / sizeof(v[0]))] :
			  rnd() >> below(64);
}

static uint32_t boundary32(void)
{
	static const uint32_t v[] = {
		0,	  1,	      2,	  23,	     24,       31,
		32,	  33,	      63,	  64,	     M_2M - 1, M_2M,
		M_2M + 1, 0xffe00000, 0x7fffffff, 0xffffffff
	};

	return below(4) ? v[below(sizeof(v) / sizeof(v[0]))] : (uint32_t)rnd();
}

/* One mutation of the map in fz.b of *len bytes. */
static void fz_mutate(size_t *len)
{
	size_t r = fz_nranges ? fz_ranges[below(fz_nranges)] : M_HDR;
	size_t o = fz_nranges ? fz_ranges[below(fz_nranges)] : M_HDR;
	size_t ie = fz_niexts ? fz_iexts[below(fz_niexts)] : M_HDR;
	uint64_t v;

	switch (below(21)) {
	case 0: /* file size */
		set64(fz.b + 16, below(2) ? boundary64() :
					    get64(fz.b + 16) + below(3) - 1);
		break;
	case 1: /* extent count */
		set32(fz.b + 8,
		      below(2) ? boundary32() : get32(fz.b + 8) + below(3) - 1);
		break;
	case 2: /* version, file type, extent type */
		switch (below(3)) {
		case 0:
			set16(fz.b + 2, below(3));
			break;
		case 1:
			fz.b[0] = below(5);
			break;
		default:
			set32(fz.b + 4, below(3));
		}
		break;
	case 3: /* a range's offset */
		set64(fz.b + r + 8, boundary64());
		break;
	case 4: /* a range's length */
		set64(fz.b + r + 16, boundary64());
		break;
	case 5: /* a range's device */
		set32(fz.b + r, below(2) ? boundary32() : get32(fz.b + o));
		break;
	case 6: /* overlap: a range on another's device, inside it */
		set32(fz.b + r, get32(fz.b + o));
		v = get64(fz.b + o + 16) / M_2M;
		set64(fz.b + r + 8, get64(fz.b + o + 8) + below(v) * M_2M);
		break;
	case 7: /* touching: a range right after or before another */
		set32(fz.b + r, get32(fz.b + o));
		if (below(2))
			set64(fz.b + r + 8,
			      get64(fz.b + o + 8) + get64(fz.b + o + 16));
		else
			set64(fz.b + r + 8,
			      get64(fz.b + o + 8) - get64(fz.b + r + 16));
		break;
	case 8: /* overlap by one 2 MiB step, either side */
		set32(fz.b + r, get32(fz.b + o));
		v = get64(fz.b + o + 8);
		set64(fz.b + r + 8, below(2) ? v + get64(fz.b + o + 16) - M_2M :
					       v - get64(fz.b + r + 16) + M_2M);
		break;
	case 9: /* strips */
		set32(fz.b + ie, below(2) ? boundary32() :
					    get32(fz.b + ie) + below(3) - 1);
		break;
	case 10: /* chunk */
		set32(fz.b + ie + 4, boundary32());
		break;
	case 11: /* bytes of an interleaved extent */
		v = get64(fz.b + ie + 8);
		switch (below(4)) {
		case 0:
			v = boundary64();
			break;
		case 1:
			v += below(2 * M_PAGE) - M_PAGE;
			break;
		case 2:
			v = (v | (M_PAGE - 1)) + 1;
			break;
		default:
			v += M_2M * (below(3)) - M_2M;
		}
		set64(fz.b + ie + 8, v);
		break;
	case 12: /* truncated */
		*len -= below(*len + 1) / (below(2) ? 1 : 64);
		break;
	case 13: /* zeros after the extents */
		memset(fz.b + *len, 0, 64);
		*len += 1 + below(64);
		if (below(8) == 0)
			*len = FAMFS_FMAP_MAX + below(2);
		break;
	case 14: /* garbage after the extents */
		memset(fz.b + *len, 0, 64);
		*len += 1 + below(64);
		fz.b[*len - 1 - below(*len < 8 ? *len : 8)] = 1 + below(255);
		break;
	case 15: /* reserved fields */
		fz.b[1] = rnd();
		set64(fz.b + 24, rnd());
		set32(fz.b + r + 4, rnd());
		set64(fz.b + ie + 16, rnd());
		break;
	case 16: /* a random byte */
		fz.b[below(*len)] = rnd();
		break;
	case 17: /* a length that is short for a strip, by a little */
		v = get64(fz.b + r + 16);
		set64(fz.b + r + 16, v > M_2M ? v - M_2M : v);
		break;
	case 18: /* a range near the top of the address space */
		v = UINT64_MAX & ~(M_2M - 1);
		set64(fz.b + r + 8, v - below(4) * M_2M);
		break;
	case 19: /* fmap_size */
		switch (below(4)) {
		case 0:
			v = 0;
			break;
		case 1:
			v = *len;
			break;
		case 2:
			v = *len + below(3) - 1;
			break;
		default:
			v = below(2) ? M_HDR : boundary32();
		}
		set32(fz.b + 12, v);
		break;
	default: /* the same range twice */
		memcpy(fz.b + r, fz.b + o, M_EXT);
	}
}

static void test_fmap_fuzz(void)
{
	const char *e = getenv("FAMFS_FUZZ_SEED");
	const char *c = getenv("FAMFS_FUZZ_MAPS");
	uint64_t seed, maps, i, acc = 0, rej = 0, diff = 0, mutated = 0;
	uint64_t many = 0;
	size_t len;
	int want, got, m;

	seed = e ? strtoull(e, NULL, 0) :
		   (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	maps = c ? strtoull(c, NULL, 0) : 100000;
	rng_state = seed;
	printf("# fuzz: seed %#llx (FAMFS_FUZZ_SEED=%#llx repeats it), %llu maps\n",
	       (unsigned long long)seed, (unsigned long long)seed,
	       (unsigned long long)maps);
	fflush(stdout); /* kept if the run crashes */
	for (i = 0; i < maps; i++) {
		len = fz_valid();
		many += get32(fz.b + 8) > 32;
		m = below(4) ? 1 + below(3) : 0;
		mutated += !!m;
		while (m--)
			fz_mutate(&len);
		want = model_accepts(fz.b, len);
		got = fuse_famfs_fmap_check(fz.b, len) == 0;
		acc += want;
		rej += !want;
		if (want != got && ++diff <= 5)
			printf("# fuzz: map %llu (%zu bytes): model %s, fuse_famfs_fmap_check %s\n",
			       (unsigned long long)i, len,
			       want ? "accepts" : "rejects",
			       got ? "accepts" : "rejects");
	}
	ok(diff == 0,
	   "fuzz: fuse_famfs_fmap_check agrees with the model of the kernel's rules on %llu maps (%llu accepted, %llu rejected, %llu mutated): %llu differences",
	   (unsigned long long)maps, (unsigned long long)acc,
	   (unsigned long long)rej, (unsigned long long)mutated,
	   (unsigned long long)diff);
	ok(maps < 1000 || (acc > maps / 10 && rej > maps / 10 && many),
	   "fuzz: both sides exercised (%llu accepted, %llu rejected), %llu maps of more than 32 extents",
	   (unsigned long long)acc, (unsigned long long)rej,
	   (unsigned long long)many);
}

#ifdef FAMFS_FMAP_CASES
/*
 * The kernel's table (fmap_cases.h), which its selftest serves as GET_FMAP
 * replies: the checker and the model give each map the kernel's verdict.
 */
static void test_fmap_cases(void)
{
	size_t i, len;
	int ret, model;

	for (i = 0; i < sizeof(fmap_cases) / sizeof(fmap_cases[0]); i++) {
		const struct fmap_case *c = &fmap_cases[i];

		len = fmap_case_encode(c, map_buf);
		if (len == (size_t)-1) {
			ok(0, "shared table: %s: more than %d bytes", c->name,
			   FMAP_CASE_MAX);
			continue;
		}
		ret = fuse_famfs_fmap_check(map_buf, len);
		model = model_accepts(map_buf, len);
		ok(ret == -c->err && model == !c->err,
		   "shared table: %s (%zu bytes): fuse_famfs_fmap_check %d, model %s, want %d",
		   c->name, len, ret, model ? "accepts" : "rejects", -c->err);
	}
}
#else
static void test_fmap_cases(void)
{
	ok(1,
	   "shared table # SKIP built without -Dfamfs_fmap_cases=DIR (the kernel's tools/testing/selftests/filesystems/famfs)");
}
#endif

static void quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

int main(void)
{
	enum transport t;

	/* errors the tests provoke on purpose are logged: keep them quiet */
	if (!getenv("TEST_FAMFS_VERBOSE"))
		fuse_set_log_func(quiet);

	test_fmap_check();
	test_fmap_cases();
	test_fmap_fuzz();
	test_init();
	test_init_mixed();
	for (t = T_MEM; t <= T_URING; t++) {
		test_get_fmap(t);
		test_get_daxdev(t);
		test_reply_daxdev(t);
		test_not_negotiated(t);
		test_missing_ops(t);
	}
	test_large_fmap();
	test_daxdev_open();
	test_loop(0);
	test_loop(1);
	printf("1..%d\n", ntest);
	printf("# %d passed, %d failed\n", ntest - nfail, nfail);
	return nfail ? 1 : 0;
}
