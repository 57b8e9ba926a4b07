#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In a guest with famfs (scripts/vm; $FAMFS_DAX_DEVS lists /dev/daxN.M bound
# to fsdev_dax, $FAMFS_DEV_VIEWS names for each a file to mmap(2) that holds
# its bytes at the same offsets: "dax0.0=FILE dax1.0=FILE").  TAP on stdout.
#
#   1. example/famfs_ll on two devices: bytes written with write(2) are
#      read back with read(2) and mmap and are on the devices where its
#      fixed maps say; namespace changes and truncation fail with EPERM.
#      It registers its devices by fd; with --pull the kernel asks for
#      them by path (get_daxdev), and the bytes are the same, also with the
#      requests on io_uring (-o io_uring); single-threaded (-s) and with
#      worker threads on cloned fds (-o clone_fd).
#   2. test/famfs_test_server with a manifest: the same for its layout
#      (--check), a store into a device's view is read(2) through the file,
#      and the request counts: no READ or WRITE, one GET_FMAP per file, one
#      GET_DAXDEV per device.  A remount gives the same bytes (the layout is
#      a function of the manifest and the device sizes).
#   3. famfs_test_server --no-open: the kernel skips OPEN, RELEASE, FLUSH.
#   4. A map of 8672 bytes with max_write 8192: it works over /dev/fuse and
#      is refused with EFBIG over the io_uring, whose replies hold max_write.
#      It needs devices of 512 MiB (scripts/vm --size 512).
#
# usage: cases/famfs/guest.sh                (as root, in the guest)
#        cases/famfs/guest.sh --share a|b    two hosts on the same memory
#                                            (scripts/vm --peer), $TOKEN set
# --share: both hosts mount the same manifest with famfs_test_server; host a
# writes its TOKEN into a file with write(2), host b waits for it with
# read(2), checks it through mmap, then writes its own into another file,
# which a waits for.  Both give the devices in the order of their views, so
# device n is the same memory on both hosts.
# The binaries: $FAMFS_LL and $FAMFS_TEST_SERVER, or those of the build
# (cases/lib/famfs_tap.sh).  A test of test/run-tests.py too, where it
# skips unless $FAMFS_DAX_DEVS and $FAMFS_DEV_VIEWS are set.
# GROUP: famfs
# TIMEOUT: 900
set -uo pipefail
. "$(dirname "$0")/../lib/famfs_tap.sh"
share=""
[ "${1:-}" = --share ] && share=${2:-}
ex=${FAMFS_LL:-$(famfs_bin example/famfs_ll)}
srv=${FAMFS_TEST_SERVER:-$(famfs_bin test/famfs_test_server)}
[ -n "$ex" ] && [ -x "$ex" ] && [ -n "$srv" ] && [ -x "$srv" ] ||
	skip_all "famfs_ll and famfs_test_server not built"
read -ra devs <<<"${FAMFS_DAX_DEVS:-}"
[ ${#devs[@]} -ge 2 ] ||
	skip_all "needs a famfs kernel and two devdax bound to fsdev_dax in \$FAMFS_DAX_DEVS (the workbench's scripts/vm sets it)"
devs=("${devs[@]:0:2}")

w=$(mktemp -d /tmp/famfs-guest.XXXXXX)
mnt=$w/mnt
stats=${FAMFS_OUT:-$w}/famfs_test_server.stats
mkdir -p "$mnt"
pid=""
t() { # name command...: ok if the command succeeds
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}
cleanup() {
	mountpoint -q "$mnt" && umount -l "$mnt"
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$w"
}
trap cleanup EXIT

# --- the views: the bytes of each device, in a file to map --------------------
# views[i] is the view of devs[i]; the devices are put in the order of their
# views' names (cxl0 first), the same on every host that shares the memory.
declare -A view_of
for v in ${FAMFS_DEV_VIEWS:-}; do view_of[${v%%=*}]=${v#*=}; done
devname() { basename "$(realpath "$1")"; }
noview=""
for d in "${devs[@]}"; do
	f=${view_of[$(devname "$d")]:-}
	[ -n "$f" ] && [ -f "$f" ] || noview+="${noview:+, }$(devname "$d")"
done
views=()
if [ -z "$noview" ]; then
	mapfile -t devs < <(for d in "${devs[@]}"; do echo "${view_of[$(devname "$d")]} $d"; done | sort | cut -d' ' -f2)
	for d in "${devs[@]}"; do views+=("${view_of[$(devname "$d")]}"); done
fi
tv() { # name command...: t, but "not ok" at once when a device has no view
	if [ -n "$noview" ]; then
		not_ok "$1 # no view of $noview"
		return
	fi
	t "$@"
}

# --- helpers: patterns, mmap, the device bytes in the views -------------------
cat >"$w/io.py" <<'EOF'
import mmap, os, random, sys

def pattern(seed, n):
    return random.Random(seed).randbytes(n)

def view_map(view, off, n):
    """A mapping of the n bytes at offset off of a device's view, and
    where they start in it (a view is mapped, never read(2))."""
    base = off & ~(mmap.PAGESIZE - 1)
    fd = os.open(view, os.O_RDWR)
    try:
        m = mmap.mmap(fd, off + n - base, mmap.MAP_SHARED, offset=base)
    finally:
        os.close(fd)
    return m, off - base

def view_bytes(view, off, n):
    """n bytes at offset off of a device, from its view."""
    m, at = view_map(view, off, n)
    data = m[at:at + n]
    m.close()
    return data

def file_on_devices(line, views):
    """Bytes of a file as its layout line (--check format) places them."""
    kv = dict(w.split('=', 1) for w in line.split() if '=' in w)
    size = int(kv['size'])
    exts = [tuple(int(x, 0) for x in e.split(':'))
            for e in (kv.get('extents') or kv['strips']).split(',')]
    out = bytearray()
    if kv['layout'] == 'interleave':
        chunk = int(kv['chunk'], 0)
        k = 0
        while len(out) < size:
            d, off, _ = exts[k % len(exts)]
            want = min(chunk, size - len(out))
            out += view_bytes(views[d], off + (k // len(exts)) * chunk, want)
            k += 1
    else:
        for d, off, ln in exts:
            out += view_bytes(views[d], off, min(ln, size - len(out)))
    return bytes(out[:size])

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == 'gen':            # gen SEED SIZE OUT
    open(args[2], 'wb').write(pattern(args[0], int(args[1])))
elif cmd == 'mmap-cmp':     # mmap-cmp FILE EXPECTED: read through a mapping
    want = open(args[1], 'rb').read()
    with open(args[0], 'rb') as f:
        m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
        got = m[:]
        m.close()
    if got != want:
        sys.exit('mmap of %s differs from %s' % (args[0], args[1]))
elif cmd == 'mmap-write':   # mmap-write FILE OFF SEED LEN: store through a mapping
    off, n = int(args[1]), int(args[3])
    with open(args[0], 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED)
        m[off:off + n] = pattern(args[2], n)
        m.close()
elif cmd == 'patch':        # patch FILE OFF SEED LEN: the same with pwrite
    off, n = int(args[1]), int(args[3])
    with open(args[0], 'r+b') as f:
        f.seek(off)
        f.write(pattern(args[2], n))
elif cmd == 'view-write':   # view-write VIEW OFF SEED LEN: store into a view
    off, n = int(args[1]), int(args[3])
    m, at = view_map(args[0], off, n)
    m[at:at + n] = pattern(args[2], n)
    m.close()
elif cmd == 'dev-cmp':      # dev-cmp EXPECTED LAYOUT-LINE VIEW...
    got = file_on_devices(args[1], args[2:])
    want = open(args[0], 'rb').read()
    if got != want:
        bad = next(i for i in range(len(want)) if i >= len(got) or got[i] != want[i])
        sys.exit('device bytes differ from the file at file offset %#x' % bad)
EOF
io() { python3 "$w/io.py" "$@"; }

count_of() { awk -v op="$1" '$1 == op { print $2 }' "$stats"; }
# Ask the server for its counts (SIGUSR1) and wait for the new file.
refresh_stats() {
	local i
	rm -f "$stats"
	kill -USR1 "$pid" || return 1
	for ((i = 0; i < 100; i++)); do
		[ -s "$stats" ] && return 0
		sleep 0.1
	done
	return 1
}
start() { # server options...: mounts; 0 once the mount answers
	local i
	"$@" --dev="${devs[0]}" --dev="${devs[1]}" -f "$mnt" >>"$w/server.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		if ! kill -0 $pid 2>/dev/null; then
			wait $pid
			pid=""
			return 1
		fi
		grep -q " $mnt fuse.famfs " /proc/mounts && stat -f "$mnt" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
start_server() { # manifest: famfs_test_server
	start "$srv" --manifest="$1" --stats="$stats"
}
stop_server() { # 0 if the unmount ends the server with status 0
	local rc
	umount "$mnt" || return 1
	wait "$pid"
	rc=$?
	pid=""
	return $rc
}
eof() { # file size: a read(2) at the end of the file returns 0 bytes
	local got
	got=$(dd if="$1" bs=4096 skip="$2" iflag=skip_bytes count=1 status=none | wc -c) &&
		[ "$got" = 0 ]
}
show_counts() { # the non-zero counts, as TAP comments
	echo "# request counts ($1): $(awk '$2 != 0 { printf "%s=%s ", $1, $2 }' "$stats")"
}
io_tests() { # dir layout-of-function files...: write, read, mmap, device bytes
	local dir=$1 layout=$2 f size
	shift 2
	for f in "$@"; do
		size=$(stat -c %s "$dir/$f")
		io gen "w-$f" "$size" "$w/$f.want"
		t "$f: write(2) $size bytes (dd conv=notrunc)" \
			dd if="$w/$f.want" of="$dir/$f" bs=1M conv=notrunc,fsync status=none
		t "$f: read(2) of its size gives the bytes written" \
			cmp "$w/$f.want" <(head -c "$size" "$dir/$f")
		t "$f: read(2) at the end of the file returns 0" eof "$dir/$f" "$size"
		t "$f: mmap gives the bytes written" io mmap-cmp "$dir/$f" "$w/$f.want"
		tv "$f: the devices hold the bytes where the map says ($($layout "$f" | sed 's/.*=//'))" \
			io dev-cmp "$w/$f.want" "$($layout "$f")" "${views[@]}"
	done
}
refuses() { # name errno-text command...
	local name=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1) && { not_ok "$name: succeeded" "$out"; return; }
	[[ $out == *"$want"* ]] && ok "$name: $want" || not_ok "$name" "$out"
}

# --- two hosts, one memory (--share) --------------------------------------
wait_for() { # seconds command...: until the command succeeds
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
holds() { # file token: the file starts with the token (read(2))
	[ "$(head -c ${#2} "$1")" = "$2" ]
}
share_test() {
	local me=$share other mine theirs
	[ -n "${TOKEN:-}" ] || { not_ok "--share needs \$TOKEN"; tap_done; exit; }
	case $me in
	a) other=b mine=$mnt/data/simple theirs=$mnt/data/odd ;;
	b) other=a mine=$mnt/data/odd theirs=$mnt/data/simple ;;
	*) not_ok "--share a or b, not '$me'"; tap_done; exit ;;
	esac
	# Device n must be the same memory on both hosts: the view order.
	if [ -n "$noview" ]; then
		not_ok "host $me: the devices in the order of their views # no view of $noview"
		tap_done
		exit
	fi
	ok "host $me: --dev ${devs[*]} (views ${views[*]##*/})"
	start_server "$w/manifest" && ok "host $me: famfs_test_server mounted" ||
		{ not_ok "host $me: famfs_test_server mounted" "$(cat "$w/server.log")"; tap_done; exit; }
	if [ $me = a ]; then
		t "host a: write(2) its token into ${mine#$mnt}" \
			dd of="$mine" conv=notrunc status=none <<<"$TOKEN-a"
	fi
	wait_for 600 holds "$theirs" "$TOKEN-$other" &&
		ok "host $me: read(2) of ${theirs#$mnt} gives host $other's token" ||
		not_ok "host $me: host $other's token in ${theirs#$mnt}" "$(head -c 64 "$theirs" | od -c | head -n 3)"
	if [ $me = b ]; then
		t "host b: mmap of ${theirs#$mnt} gives host a's token too" \
			python3 -c 'import mmap, sys; f = open(sys.argv[1], "rb"); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); sys.exit(m[:len(sys.argv[2])] != sys.argv[2].encode())' \
			"$theirs" "$TOKEN-a"
		t "host b: write(2) its token into ${mine#$mnt}" \
			dd of="$mine" conv=notrunc status=none <<<"$TOKEN-b"
	fi
	if refresh_stats; then
		show_counts "host $me"
		t "host $me: READ 0, WRITE 0" test "$(count_of READ)/$(count_of WRITE)" = 0/0
	else
		not_ok "host $me: request counts" "$(cat "$w/server.log")"
	fi
	stop_server && ok "host $me: unmount" || not_ok "host $me: unmount" "$(tail -n3 "$w/server.log")"
	tap_done
}

# --- the manifest of famfs_test_server --------------------------------------
cat >"$w/manifest" <<'EOF'
# famfs_test_server, guest test
dir /data
file /data/simple size=6M                           # device 0
file /data/odd size=3000001 dev=1                   # not 2M-aligned
file /data/wide size=11M layout=interleave chunk=2M # both devices
EOF
[ -z "$share" ] || { share_test; exit; }

# --- 1. the example: famfs_ll ----------------------------------------------
if start "$ex"; then
	ok "example famfs_ll mounted on $mnt (--dev ${devs[*]})"
	grep -q 'famfs_fuse_iomap_begin' /proc/kallsyms &&
		ok "kernel has famfs_fuse_iomap_begin" || not_ok "kernel has famfs_fuse_iomap_begin"
	t "famfs_ll: readdir lists its two files" test "$(ls "$mnt" | tr '\n' ' ')" = "interleaved simple "
	t "famfs_ll: sizes 4 MiB and 8 MiB" \
		test "$(stat -c %s "$mnt/simple" "$mnt/interleaved")" = $'4194304\n8388608'
	# Its fixed maps (famfs_ll.c), in the format of --check.
	example_layout() {
		case $1 in
		simple) echo "layout=simple size=4194304 extents=0:0:0x400000" ;;
		interleaved) echo "layout=interleave size=8388608 chunk=0x200000 strips=0:0x400000:0x400000,1:0x400000:0x400000" ;;
		esac
	}
	io_tests "$mnt" example_layout simple interleaved
	refuses "famfs_ll: create" "Operation not permitted" touch "$mnt/new"
	refuses "famfs_ll: mkdir" "Operation not permitted" mkdir "$mnt/dir"
	refuses "famfs_ll: unlink" "Operation not permitted" rm -f "$mnt/simple"
	refuses "famfs_ll: rename" "Operation not permitted" mv "$mnt/simple" "$mnt/moved"
	refuses "famfs_ll: truncate" "Operation not permitted" truncate -s 1M "$mnt/simple"
	refuses "famfs_ll: open with O_TRUNC" "Operation not permitted" \
		dd if=/dev/zero of="$mnt/simple" bs=4k count=1 status=none
	refuses "famfs_ll: chmod" "Operation not permitted" chmod 600 "$mnt/simple"
	refuses "famfs_ll: write past the end of the file" "File too large" \
		dd if=/dev/zero of="$mnt/simple" bs=1M seek=4 count=1 conv=notrunc status=none
	t "famfs_ll: the file keeps its bytes" cmp "$w/simple.want" "$mnt/simple"
	stop_server && ok "famfs_ll: unmount, the server exits with status 0" ||
		not_ok "famfs_ll: unmount" "$(tail -n3 "$w/server.log")"
	t "famfs_ll: it registered both devices by fd, none was asked for by path" \
		test "$(grep -c 'registered by fd' "$w/server.log") $(grep -c 'by path' "$w/server.log")" = "2 0"
else
	not_ok "example famfs_ll mounted" "$(cat "$w/server.log")"
fi
# The same files again, the devices left to the kernel to ask for by path.
: >"$w/server.log"
if start "$ex" --pull; then
	t "famfs_ll --pull: simple holds the bytes written before" cmp "$w/simple.want" "$mnt/simple"
	t "famfs_ll --pull: interleaved too" cmp "$w/interleaved.want" "$mnt/interleaved"
	stop_server && ok "famfs_ll --pull: unmount, the server exits with status 0" ||
		not_ok "famfs_ll --pull: unmount" "$(tail -n3 "$w/server.log")"
	t "famfs_ll --pull: the kernel asked for both devices by path (get_daxdev)" \
		test "$(grep -c 'registered by fd' "$w/server.log") $(grep -c 'asked for by path' "$w/server.log")" = "0 2"
else
	not_ok "example famfs_ll --pull mounted" "$(cat "$w/server.log")"
fi
# Over io_uring (FUSE_OVER_IO_URING, fuse.enable_uring=1): the maps and the
# device paths (--pull) are answered on the ring.
uring=/sys/module/fuse/parameters/enable_uring
: >"$w/server.log"
if ! { [ -w $uring ] && echo 1 >$uring; }; then
	not_ok "famfs_ll -o io_uring: the kernel has no FUSE io_uring ($uring)"
elif start "$ex" --pull -o io_uring; then
	t "famfs_ll -o io_uring: the server has io_uring instances" \
		test "$(ls -l /proc/$pid/fd | grep -c 'io_uring')" -gt 0
	t "famfs_ll -o io_uring: simple holds the bytes written before" cmp "$w/simple.want" "$mnt/simple"
	t "famfs_ll -o io_uring: interleaved too" cmp "$w/interleaved.want" "$mnt/interleaved"
	stop_server && ok "famfs_ll -o io_uring: unmount, the server exits with status 0" ||
		not_ok "famfs_ll -o io_uring: unmount" "$(tail -n3 "$w/server.log")"
	t "famfs_ll -o io_uring: both devices asked for by path" \
		test "$(grep -c 'asked for by path' "$w/server.log")" = 2
	echo 0 >$uring
else
	not_ok "example famfs_ll -o io_uring mounted" "$(cat "$w/server.log")"
fi

# Threads: one with -s; worker threads otherwise (every run above), each
# with its own /dev/fuse fd with -o clone_fd.
: >"$w/server.log"
if start "$ex" -s; then
	t "famfs_ll -s: one thread" test "$(ls /proc/$pid/task | wc -l)" = 1
	t "famfs_ll -s: simple holds the bytes written before" cmp "$w/simple.want" "$mnt/simple"
	stop_server && ok "famfs_ll -s: unmount, the server exits with status 0" ||
		not_ok "famfs_ll -s: unmount" "$(tail -n3 "$w/server.log")"
else
	not_ok "example famfs_ll -s mounted" "$(cat "$w/server.log")"
fi
: >"$w/server.log"
if start "$ex" -o clone_fd; then
	t "famfs_ll -o clone_fd: worker threads" test "$(ls /proc/$pid/task | wc -l)" -ge 2
	t "famfs_ll -o clone_fd: a worker has a /dev/fuse fd of its own" \
		test "$(ls -l /proc/$pid/fd | grep -c '/dev/fuse$')" -ge 2
	t "famfs_ll -o clone_fd: four readers at once get the bytes written before" \
		bash -c 'for i in 1 2 3 4; do cmp "$1" "$2" & cmp "$3" "$4" & done; s=0; for j in $(jobs -p); do wait $j || s=1; done; exit $s' \
		_ "$w/simple.want" "$mnt/simple" "$w/interleaved.want" "$mnt/interleaved"
	t "famfs_ll -o clone_fd: mmap too" io mmap-cmp "$mnt/interleaved" "$w/interleaved.want"
	stop_server && ok "famfs_ll -o clone_fd: unmount, the server exits with status 0" ||
		not_ok "famfs_ll -o clone_fd: unmount" "$(tail -n3 "$w/server.log")"
	t "famfs_ll -o clone_fd: both devices registered by fd" \
		test "$(grep -c 'registered by fd' "$w/server.log")" = 2
else
	not_ok "example famfs_ll -o clone_fd mounted" "$(cat "$w/server.log")"
fi

# --- 2. famfs_test_server ----------------------------------------------------
: >"$w/server.log"
files=(simple odd wide)
layout_of() { grep " file /data/$1 " "$w/layout"; }
"$srv" --check --manifest="$w/manifest" --dev="${devs[0]}" --dev="${devs[1]}" >"$w/layout" 2>&1
rc=$?
sed 's/^/# /' "$w/layout"
[ $rc = 0 ] && ok "--check lays the manifest out on ${devs[*]}" ||
	not_ok "--check lays the manifest out" "exit $rc"

if start_server "$w/manifest"; then
	ok "famfs_test_server mounted on $mnt"
else
	not_ok "famfs_test_server mounted" "$(cat "$w/server.log")"
	tap_done
	exit
fi
t "readdir lists the manifest's files" \
	test "$(ls "$mnt/data" | tr '\n' ' ')" = "odd simple wide "
t "sizes are the manifest's" \
	test "$(stat -c %s "$mnt/data/simple" "$mnt/data/odd" "$mnt/data/wide")" = $'6291456\n3000001\n11534336'
io_tests "$mnt/data" layout_of "${files[@]}"
# Store through a mapping across the interleave's chunk boundary at 4 MiB.
off=$((4 * 1024 * 1024 - 4096)) len=12288
t "wide: stores through a shared mapping" io mmap-write "$mnt/data/wide" $off m-wide $len
io patch "$w/wide.want" $off m-wide $len
t "wide: read(2) sees the mapped stores" \
	cmp "$w/wide.want" <(head -c "$(stat -c %s "$mnt/data/wide")" "$mnt/data/wide")
tv "wide: the devices hold the mapped stores" \
	io dev-cmp "$w/wide.want" "$(layout_of wide)" "${views[@]}"
# The other way round: a store into the device's view is on the device.
if [ -n "$noview" ]; then
	not_ok "odd: read(2) sees a store into its device's view # no view of $noview"
else
	read -r d voff < <(layout_of odd | sed -E 's/.*extents=([0-9]+):([0-9a-fx]+):.*/\1 \2/')
	io view-write "${views[$d]}" $((voff + 8192)) v-odd 4096
	io patch "$w/odd.want" 8192 v-odd 4096
	t "odd: read(2) sees a store into its device's view" cmp "$w/odd.want" "$mnt/data/odd"
fi

# --- request counts ---------------------------------------------------------
if refresh_stats; then
	ok "SIGUSR1: counts written to $stats"
	show_counts "after the I/O"
	t "READ requests: 0" test "$(count_of READ)" = 0
	t "WRITE requests: 0" test "$(count_of WRITE)" = 0
	t "GET_FMAP: 1 per file opened (3)" test "$(count_of GET_FMAP)" = 3
	t "GET_DAXDEV: 1 per device (2)" test "$(count_of GET_DAXDEV)" = 2
	t "INIT: 1" test "$(count_of INIT)" = 1
else
	not_ok "SIGUSR1: counts written" "$(cat "$w/server.log")"
fi
rm -f "$stats"
stop_server && ok "unmount: the server exits with status 0" ||
	not_ok "unmount: the server exits with status 0" "$(tail -n3 "$w/server.log")"
[ -s "$stats" ] && [ "$(count_of READ)/$(count_of WRITE)" = 0/0 ] &&
	ok "counts written at exit: READ 0, WRITE 0" || not_ok "counts written at exit"

# --- the same manifest again: the same bytes ----------------------------------
if start_server "$w/manifest"; then
	ok "remount with the same manifest"
	for f in "${files[@]}"; do
		t "$f: the bytes are still there after the remount" \
			cmp "$w/$f.want" <(head -c "$(stat -c %s "$w/$f.want")" "$mnt/data/$f")
	done
	refresh_stats && show_counts "after the remount"
	t "remount: READ 0, WRITE 0, GET_FMAP 3" \
		test "$(count_of READ)/$(count_of WRITE)/$(count_of GET_FMAP)" = 0/0/3
	stop_server && ok "unmount again" || not_ok "unmount again" "$(tail -n3 "$w/server.log")"
else
	not_ok "remount with the same manifest" "$(tail -n3 "$w/server.log")"
fi

# --- 3. --no-open: the kernel skips OPEN, RELEASE and FLUSH ---------------------
# 3 files, each opened 5 times for read(2) and once for mmap: 18 opens, of
# which only the first reaches the server (and gets ENOSYS).
if start "$srv" --manifest="$w/manifest" --stats="$stats" --no-open; then
	ok "--no-open: mounted"
	reads5() { # file: 5 opens, each read(2) gives the bytes written
		local i
		for i in 1 2 3 4 5; do
			cmp "$w/$1.want" <(head -c "$(stat -c %s "$w/$1.want")" "$mnt/data/$1") || return 1
		done
	}
	for f in "${files[@]}"; do
		t "--no-open: $f: 5 opens, read(2) gives its bytes each time" reads5 "$f"
		t "--no-open: $f: mmap gives its bytes" io mmap-cmp "$mnt/data/$f" "$w/$f.want"
	done
	refuses "--no-open: open with O_TRUNC still refused" "Operation not permitted" \
		sh -c ": >'$mnt/data/simple'"
	t "--no-open: simple: its bytes are intact after the O_TRUNC open" \
		cmp "$w/simple.want" <(head -c "$(stat -c %s "$w/simple.want")" "$mnt/data/simple")
	if refresh_stats; then
		show_counts "--no-open, 19 opens"
		t "--no-open: OPEN 1 (the first, answered ENOSYS), RELEASE 0, FLUSH 1 (ENOSYS)" \
			test "$(count_of OPEN)/$(count_of RELEASE)/$(count_of FLUSH)" = 1/0/1
		t "--no-open: GET_FMAP 3, READ 0, WRITE 0" \
			test "$(count_of GET_FMAP)/$(count_of READ)/$(count_of WRITE)" = 3/0/0
	else
		not_ok "--no-open: SIGUSR1: counts written" "$(tail -n3 "$w/server.log")"
	fi
	stop_server && ok "--no-open: unmount" || not_ok "--no-open: unmount" "$(tail -n3 "$w/server.log")"
else
	not_ok "--no-open: mounted" "$(tail -n3 "$w/server.log")"
fi

# --- 4. maps larger than a reply buffer -------------------------------------
# big: 360 extents (360 MiB per device), a map of 32 + 360 * 24 = 8672
# bytes; small: 20 extents (512 bytes).  max_write 8192 is the smallest the
# kernel takes for the io_uring.  With it both work over /dev/fuse (the
# kernel offers 32 KiB for a map); over the io_uring a reply holds max_write
# bytes, so big is refused with EFBIG and small still works.  (A map larger
# than the kernel's first offer needs more device than the guest has: the
# kselftests cover it.)
extents_of() { # count first-MiB: 2 MiB extents alternating between the devices
	local i e=""
	for ((i = 0; i < $1; i++)); do e+="$((i % 2)):$(($2 + i / 2 * 2))M:2M,"; done
	echo "${e%,}"
}
cat >"$w/manifest-big" <<EOF
dir /data
file /data/big size=16M extents=$(extents_of 360 0)
file /data/small size=8M extents=$(extents_of 20 360)
EOF
big_layout_of() { grep " file /data/$1 " "$w/layout-big"; }
"$srv" --check --manifest="$w/manifest-big" --dev="${devs[0]}" --dev="${devs[1]}" >"$w/layout-big" 2>&1 &&
	ok "large maps: --check lays out 360 and 20 extents" ||
	not_ok "large maps: --check" "$(tail -n3 "$w/layout-big")"
: >"$w/server.log"
if start "$srv" --manifest="$w/manifest-big" --stats="$stats" --max-write=8192; then
	ok "large maps, /dev/fuse, --max-write=8192: mounted"
	io_tests "$mnt/data" big_layout_of big small
	refresh_stats && show_counts "large maps, /dev/fuse"
	t "large maps, /dev/fuse: GET_FMAP 2, READ 0, WRITE 0" \
		test "$(count_of GET_FMAP)/$(count_of READ)/$(count_of WRITE)" = 2/0/0
	stop_server && ok "large maps, /dev/fuse: unmount" ||
		not_ok "large maps, /dev/fuse: unmount" "$(tail -n3 "$w/server.log")"
else
	not_ok "large maps, /dev/fuse, --max-write=8192: mounted" "$(tail -n3 "$w/server.log")"
fi
: >"$w/server.log"
if ! { [ -w $uring ] && echo 1 >$uring; }; then
	not_ok "large maps, -o io_uring: the kernel has no FUSE io_uring ($uring)"
elif start "$srv" --manifest="$w/manifest-big" --stats="$stats" --max-write=8192 -o io_uring; then
	t "large maps, -o io_uring: the server has io_uring instances" \
		test "$(ls -l /proc/$pid/fd | grep -c 'io_uring')" -gt 0
	t "large maps, -o io_uring: small holds the bytes written before" \
		cmp "$w/small.want" "$mnt/data/small"
	refuses "large maps, -o io_uring: open of big (8672 bytes of map)" "File too large" \
		cat "$mnt/data/big"
	t "large maps, -o io_uring: the server says why" \
		grep -q "map of 8672 bytes not sent: an io_uring reply holds 8192 bytes" "$w/server.log"
	t "large maps, -o io_uring: small still reads after the refusal" \
		cmp "$w/small.want" "$mnt/data/small"
	stop_server && ok "large maps, -o io_uring: unmount, the server exits with status 0" ||
		not_ok "large maps, -o io_uring: unmount" "$(tail -n3 "$w/server.log")"
	echo 0 >$uring
else
	not_ok "large maps, -o io_uring: mounted" "$(tail -n3 "$w/server.log")"
	echo 0 >$uring
fi

tap_done
