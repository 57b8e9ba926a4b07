#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# In a guest with famfs (scripts/vm; $FAMFS_DAX_DEVS lists /dev/daxN.M bound
# to fsdev_dax): mount example/famfs_ll on the devices, write files with
# write(2), read them back with read(2) and mmap, compare with the bytes at
# the expected offsets of the devices (through /dev/mem at the devices'
# physical addresses), and check the server's request counts: no READ or
# WRITE, one GET_FMAP per file, one GET_DAXDEV per device.  Then remount
# (same layout: same bytes), refuse another layout, unmount.  TAP on stdout.
#
# usage: famfs_guest_test.sh                (as root, in the guest)
#        famfs_guest_test.sh --share a|b    two hosts on the same memory
#                                           (scripts/vm --peer), $TOKEN set
# --share: host a mounts the manifest on blank memory; host b waits for a's
# header, mounts the same manifest and waits, with read(2), for a's TOKEN in
# a file, then writes its own in another file, which a waits for.
# The binary: $FAMFS_LL, or build/libfuse-build/example/famfs_ll of the
# checkout this script is in.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
share=""
[ "${1:-}" = --share ] && share=${2:-}
bin=${FAMFS_LL:-}
if [ -z "$bin" ]; then
	for c in "$here/../../build/libfuse-build/example/famfs_ll" \
		"$here/../../libfuse-build/example/famfs_ll"; do
		[ -x "$c" ] && bin=$c && break
	done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "1..0 # SKIP famfs_ll not built (scripts/lbuild)"; exit 0; }
read -ra devs <<<"${FAMFS_DAX_DEVS:-}"
[ ${#devs[@]} -ge 2 ] || { echo "1..0 # SKIP needs two devdax in \$FAMFS_DAX_DEVS (scripts/vm)"; exit 0; }
devs=("${devs[@]:0:2}")

w=$(mktemp -d /tmp/famfs-guest.XXXXXX)
mnt=$w/mnt
stats=${FAMFS_OUT:-$w}/famfs_ll.stats
mkdir -p "$mnt"
n=0 failed=0 pid=""
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	[ $# = 0 ] || printf '%s\n' "$@" | sed 's/^/#   /'
}
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

# --- helpers: patterns, mmap, the device through /dev/mem ------------------
cat >"$w/io.py" <<'EOF'
import mmap, os, random, sys

def pattern(seed, n):
    return random.Random(seed).randbytes(n)

def dev_bytes(dev, off, n):
    """n bytes at off of a devdax bound to fsdev_dax: through /dev/mem."""
    name = os.path.basename(os.path.realpath(dev))
    sysfs = '/sys/bus/dax/devices/%s/' % name
    start = int(open(sysfs + 'mapping0/start').read(), 16)
    end = int(open(sysfs + 'mapping0/end').read(), 16)
    assert off + n <= end - start + 1, 'past mapping0 of %s' % name
    page = mmap.PAGESIZE
    base = (start + off) & ~(page - 1)
    fd = os.open('/dev/mem', os.O_RDONLY)
    try:
        m = mmap.mmap(fd, start + off + n - base, mmap.MAP_SHARED,
                      mmap.PROT_READ, offset=base)
    finally:
        os.close(fd)
    data = m[start + off - base:]
    m.close()
    return data

def file_on_devices(line, devs):
    """Bytes of a file as its --check layout line places them."""
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
            out += dev_bytes(devs[d], off + (k // len(exts)) * chunk, want)
            k += 1
    else:
        for d, off, ln in exts:
            out += dev_bytes(devs[d], off, min(ln, size - len(out)))
    return bytes(out[:size])

def dev_zero(dev, n):
    """Clear the first n bytes of a devdax (the famfs_ll header)."""
    name = os.path.basename(os.path.realpath(dev))
    start = int(open('/sys/bus/dax/devices/%s/mapping0/start' % name).read(), 16)
    fd = os.open('/dev/mem', os.O_RDWR)
    m = mmap.mmap(fd, n, mmap.MAP_SHARED, offset=start)
    os.close(fd)
    m[:] = bytes(n)
    m.close()

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == 'dev-zero':       # dev-zero DEV LEN
    dev_zero(args[0], int(args[1]))
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
elif cmd == 'patch':        # patch EXPECTED OFF SEED LEN: the same in a file
    off, n = int(args[1]), int(args[3])
    with open(args[0], 'r+b') as f:
        f.seek(off)
        f.write(pattern(args[2], n))
elif cmd == 'dev-cmp':      # dev-cmp EXPECTED LAYOUT-LINE DEV...
    got = file_on_devices(args[1], args[2:])
    want = open(args[0], 'rb').read()
    if got != want:
        bad = next(i for i in range(len(want)) if i >= len(got) or got[i] != want[i])
        sys.exit('device bytes differ from the file at file offset %#x' % bad)
EOF
io() { python3 "$w/io.py" "$@"; }
clear_headers() { io dev-zero "${devs[0]}" 4096 && io dev-zero "${devs[1]}" 4096; }

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
start_server() { # manifest extra-options...: mounts; 0 once the mount answers
	local m=$1 i
	shift
	"$bin" --manifest="$m" --dev="${devs[0]}" --dev="${devs[1]}" --stats="$stats" \
		"$@" -f "$mnt" >>"$w/server.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		if ! kill -0 $pid 2>/dev/null; then
			wait $pid
			return 1
		fi
		grep -q " $mnt fuse.famfs " /proc/mounts && stat -f "$mnt" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
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
find_order() { # the --dev order under which both headers match
	local order
	for order in "${devs[0]} ${devs[1]}" "${devs[1]} ${devs[0]}"; do
		read -ra o <<<"$order"
		if [ "$("$bin" --check --manifest="$w/manifest" --dev="${o[0]}" --dev="${o[1]}" |
			grep -c '^header [01]: this layout$')" = 2 ]; then
			devs=("${o[@]}")
			return 0
		fi
	done
	return 1
}
share_test() {
	local me=$share other mine theirs
	[ -n "${TOKEN:-}" ] || { echo "1..0 # SKIP --share needs \$TOKEN"; exit 1; }
	case $me in
	a) other=b mine=$mnt/data/simple theirs=$mnt/data/odd ;;
	b) other=a mine=$mnt/data/odd theirs=$mnt/data/simple ;;
	*) echo "1..0 # SKIP --share a or b"; exit 1 ;;
	esac
	if [ $me = a ]; then
		t "host a: clear the headers of ${devs[*]}" clear_headers
	else
		# a mounts first, on blank memory: its mount writes the headers.
		# Which device is device 0 depends on the order the guest probed
		# the memory: the headers say.
		wait_for 600 find_order &&
			ok "host b: host a's headers are this manifest's layout (--dev ${devs[*]})" ||
			not_ok "host b: host a's headers appear"
	fi
	start_server "$w/manifest" && ok "host $me: famfs_ll mounted" ||
		{ not_ok "host $me: famfs_ll mounted" "$(cat "$w/server.log")"; echo "1..$n"; exit 1; }
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
	if [ $me = a ]; then
		# b may still read: wait for b to write, then a little more.
		sleep 5
	fi
	stop_server && ok "host $me: unmount" || not_ok "host $me: unmount" "$(tail -n3 "$w/server.log")"
	echo "1..$n"
	[ $failed = 0 ]
}

# --- the manifest --------------------------------------------------------
cat >"$w/manifest" <<'EOF'
# famfs_ll guest test
dir /data
file /data/simple size=6M                           # device 0
file /data/odd size=3000001 dev=1                   # not 2M-aligned
file /data/wide size=11M layout=interleave chunk=2M # both devices
file /data/victim size=2M                           # for the refusals
EOF
files=(simple odd wide)
layout_of() { grep " file /data/$1 " "$w/layout"; }
[ -z "$share" ] || { share_test; exit; }
# The backing memory may hold an earlier run's layout: start from a blank
# header, so that the first mount writes it.
t "clear the headers of ${devs[*]} (/dev/mem)" clear_headers
"$bin" --check --manifest="$w/manifest" --dev="${devs[0]}" --dev="${devs[1]}" >"$w/layout" 2>&1
rc=$?
sed 's/^/# /' "$w/layout"
[ $rc = 0 ] && ok "--check lays the manifest out on ${devs[*]}" ||
	not_ok "--check lays the manifest out" "exit $rc"
[ "$(grep -c '^header [01]: blank' "$w/layout")" = 2 ] && grep -q '^headers: the mount can go ahead' "$w/layout" &&
	ok "--check: the devices are blank, the mount will write the headers" ||
	not_ok "--check sees blank headers"

if start_server "$w/manifest"; then
	ok "famfs_ll mounted on $mnt"
else
	not_ok "famfs_ll mounted" "$(cat "$w/server.log")"
	echo "1..$n"
	exit 1
fi
grep -q 'famfs_fuse_iomap_begin' /proc/kallsyms &&
	ok "kernel has famfs_fuse_iomap_begin" || not_ok "kernel has famfs_fuse_iomap_begin"

# --- namespace -------------------------------------------------------------
t "readdir lists the manifest's files" \
	test "$(ls "$mnt/data" | tr '\n' ' ')" = "odd simple victim wide "
t "sizes are the manifest's" \
	test "$(stat -c %s "$mnt/data/simple" "$mnt/data/odd" "$mnt/data/wide")" = $'6291456\n3000001\n11534336'

# --- write(2), read(2), mmap, device bytes --------------------------------
for f in "${files[@]}"; do
	size=$(stat -c %s "$mnt/data/$f")
	io gen "w-$f" "$size" "$w/$f.want"
	t "$f: write(2) $size bytes (dd conv=notrunc)" \
		dd if="$w/$f.want" of="$mnt/data/$f" bs=1M conv=notrunc,fsync status=none
	t "$f: read(2) of its size gives the bytes written" \
		cmp "$w/$f.want" <(head -c "$size" "$mnt/data/$f")
	t "$f: read(2) at the end of the file returns 0" eof "$mnt/data/$f" "$size"
	t "$f: mmap gives the bytes written" io mmap-cmp "$mnt/data/$f" "$w/$f.want"
	t "$f: the devices hold the bytes where the map says ($(layout_of "$f" | sed 's/.*=//'))" \
		io dev-cmp "$w/$f.want" "$(layout_of "$f")" "${devs[@]}"
done
# Store through a mapping across the interleave's chunk boundary at 4 MiB.
off=$((4 * 1024 * 1024 - 4096)) len=12288
t "wide: stores through a shared mapping" io mmap-write "$mnt/data/wide" $off m-wide $len
io patch "$w/wide.want" $off m-wide $len
t "wide: read(2) sees the mapped stores" \
	cmp "$w/wide.want" <(head -c "$(stat -c %s "$mnt/data/wide")" "$mnt/data/wide")
t "wide: the devices hold the mapped stores" \
	io dev-cmp "$w/wide.want" "$(layout_of wide)" "${devs[@]}"

# --- what famfs refuses ------------------------------------------------------
refuses() { # name errno-text command...
	local name=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1) && { not_ok "$name: succeeded" "$out"; return; }
	[[ $out == *"$want"* ]] && ok "$name: $want" || not_ok "$name" "$out"
}
v=$mnt/data/victim
refuses "create outside the manifest" "Operation not permitted" touch "$mnt/data/new"
refuses "mkdir" "Operation not permitted" mkdir "$mnt/data/dir"
refuses "unlink" "Operation not permitted" rm -f "$v"
refuses "rename" "Operation not permitted" mv "$v" "$mnt/data/moved"
refuses "truncate" "Operation not permitted" truncate -s 1M "$v"
refuses "open with O_TRUNC" "Operation not permitted" dd if=/dev/zero of="$v" bs=4k count=1 status=none
refuses "chmod" "Operation not permitted" chmod 600 "$v"
refuses "write past the end of the file" "File too large" \
	dd if=/dev/zero of="$v" bs=1M seek=2 count=1 conv=notrunc status=none
t "the other files are still there" test "$(stat -c %s "$mnt/data/simple")" = 6291456

# --- request counts ---------------------------------------------------------
if refresh_stats; then
	ok "SIGUSR1: counts written to $stats"
	show_counts "after the I/O"
	t "READ requests: 0" test "$(count_of READ)" = 0
	t "WRITE requests: 0" test "$(count_of WRITE)" = 0
	# simple, odd, wide, victim: one map each, whatever the number of opens
	t "GET_FMAP: 1 per file opened (4)" test "$(count_of GET_FMAP)" = 4
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

# --- the same layout again: the same bytes ------------------------------------
if start_server "$w/manifest"; then
	ok "remount with the same manifest (the header matches)"
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

# --- the devices in another order ------------------------------------------
devs=("${devs[1]}" "${devs[0]}")
: >"$w/server.log"
if start_server "$w/manifest"; then
	not_ok "the devices in another --dev order are refused"
	stop_server
else
	grep -q 'is device 1 of this layout (--dev order?): refusing to mount' "$w/server.log" &&
		! grep -q " $mnt " /proc/mounts &&
		ok "the devices in another --dev order are refused, nothing mounted" ||
		not_ok "the devices in another --dev order are refused" "$(cat "$w/server.log")"
fi
devs=("${devs[1]}" "${devs[0]}")

# --- another layout on the same devices ------------------------------------
sed 's|/data/odd size=3000001|/data/odd size=5000001|' "$w/manifest" >"$w/other"
: >"$w/server.log"
if start_server "$w/other"; then
	not_ok "another layout is refused without --format"
	stop_server
else
	grep -q 'refusing to mount' "$w/server.log" && ! grep -q " $mnt " /proc/mounts &&
		ok "another layout is refused without --format, nothing mounted" ||
		not_ok "another layout refused" "$(cat "$w/server.log")"
fi
if start_server "$w/other" --format; then
	ok "--format mounts another layout"
	t "its file has the new size" test "$(stat -c %s "$mnt/data/odd")" = 5000001
	stop_server && ok "unmount" || not_ok "unmount" "$(tail -n3 "$w/server.log")"
else
	not_ok "--format mounts another layout" "$(cat "$w/server.log")"
fi

echo "1..$n"
[ $failed = 0 ]
