#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo, in the guest (scripts/guest/demo runs this), on the emulated
# CXL devdax: libfuse's example famfs server (example/famfs_ll) serves its
# two files; one is written with write(2), read back with read(2) and mmap,
# and the same bytes are on the device where the map says.  Then the test
# server (test/famfs_test_server) serves a manifest, laid out on the
# devices, and counts the requests that reach it: no READ and no WRITE.
# The bytes on a device are read from its view ($FAMFS_DEV_VIEWS: a file to
# mmap(2) that holds them; under QEMU a PCI BAR of the memory's backing file).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
find_bin() { # relative path in the build directory
	local c
	for c in "$here/../../build/libfuse-build/$1" "$here/../../libfuse-build/$1"; do
		[ -x "$c" ] && { echo "$(cd "$(dirname "$c")" && pwd)/${c##*/}"; return; }
	done
}
ex=${FAMFS_LL:-$(find_bin example/famfs_ll)}
bin=${FAMFS_TEST_SERVER:-$(find_bin test/famfs_test_server)}
[ -n "$ex" ] && [ -n "$bin" ] || { echo "famfs_ll or famfs_test_server is not built (scripts/lbuild)"; exit 1; }
read -ra devs <<<"${FAMFS_DAX_DEVS:-}"
[ ${#devs[@]} -ge 2 ] || { echo "the demo needs two devdax (\$FAMFS_DAX_DEVS)"; exit 1; }
devs=("${devs[@]:0:2}")
declare -A view_of
for v in ${FAMFS_DEV_VIEWS:-}; do view_of[${v%%=*}]=${v#*=}; done
for d in "${devs[@]}"; do
	[ -f "${view_of[${d##*/}]:-}" ] || { echo "no view of ${d##*/} (\$FAMFS_DEV_VIEWS): the demo cannot show the device's bytes"; exit 1; }
done
w=$(mktemp -d /tmp/famfs-demo.XXXXXX)
mnt=/tmp/famfs
stats=$w/stats
pid=""
mkdir -p "$mnt"
trap 'mountpoint -q "$mnt" && umount "$mnt"; [ -z "$pid" ] || wait "$pid"' EXIT

say() { printf '\n== %s ==\n' "$*"; }
run() { echo "\$ $*"; "$@"; }
# The bytes of a device at an offset, through a mapping of its view.
devread() { # dev offset len
	python3 -c '
import mmap, os, sys
off, n = int(sys.argv[2], 0), int(sys.argv[3])
base = off & ~(mmap.PAGESIZE - 1)
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, off + n - base, mmap.MAP_SHARED, offset=base)
sys.stdout.buffer.write(m[off - base:])' "${view_of[${1##*/}]}" "$2" "$3"
}
mmapread() { # file offset len: the bytes through a shared mapping
	python3 -c '
import mmap, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
o, n = int(sys.argv[2], 0), int(sys.argv[3])
sys.stdout.buffer.write(m[o:o + n])' "$@"
}
show() { printf '%-34s %s\n' "$1:" "$(cat)"; }

mount_wait() { # the server's pid: 0 once the mount is there
	for ((i = 0; i < 100; i++)); do
		grep -q " $mnt fuse.famfs " /proc/mounts && return 0
		kill -0 "$1" 2>/dev/null || { cat "$w/server.log"; return 1; }
		sleep 0.1
	done
	return 1
}

say "libfuse's example famfs server: famfs_ll (example/famfs_ll.c)"
echo "\$ $ex --dev=${devs[0]} --dev=${devs[1]} -f $mnt &"
"$ex" --dev="${devs[0]}" --dev="${devs[1]}" -f "$mnt" >"$w/server.log" 2>&1 &
pid=$!
mount_wait $pid || exit 1
run ls -l "$mnt"
msg="Hello from libfuse's famfs example, written with write(2) at $(date -u +%H:%M:%S)"
echo "\$ echo '$msg' | dd of=$mnt/simple conv=notrunc"
echo "$msg" | dd of="$mnt/simple" conv=notrunc status=none
n=$((${#msg} + 1))
head -c $n "$mnt/simple" | show "read(2) of /simple"
mmapread "$mnt/simple" 0 $n | show "mmap of /simple"
devread "${devs[0]}" 0 $n | show "${devs[0]} at offset 0 (its map)"
echo "(/interleaved: 2 MiB chunks on ${devs[0]} and ${devs[1]} in turn, from offset 4 MiB)"
run umount "$mnt"
wait $pid
pid=""

cat >"$w/manifest" <<'EOF'
# famfs_test_server manifest: what the file system holds and where
dir /demo
file /demo/hello.txt size=4M                                # one extent on device 0
file /demo/striped.bin size=16M layout=interleave chunk=2M  # 2 MiB chunks, devices 0 and 1 in turn
dir /demo/logs
file /demo/logs/empty size=0 dev=1
EOF
say "the manifest ($w/manifest)"
cat "$w/manifest"

say "the test server: famfs_test_server --check lays the manifest out (offsets are bytes on the devices, DEV:OFFSET:LENGTH)"
run "$bin" --check --manifest="$w/manifest" --dev="${devs[0]}" --dev="${devs[1]}" | tee "$w/layout"
ext() { # file: its first extent or strip "dev offset"
	grep " file $1 " "$w/layout" | sed -E 's/.*(extents|strips)=([0-9]+):([0-9a-fx]+):.*/\2 \3/'
}
strip() { # file n: strip n "dev offset"
	grep " file $1 " "$w/layout" | sed 's/.*strips=//' | tr ',' '\n' | sed -n "$(($2 + 1))p" | awk -F: '{ print $1, $2 }'
}

say "mount, with request counting"
echo "\$ $bin --manifest=... --dev=${devs[0]} --dev=${devs[1]} --stats=$stats -f $mnt &"
"$bin" --manifest="$w/manifest" --dev="${devs[0]}" --dev="${devs[1]}" --stats="$stats" \
	-f "$mnt" >"$w/server.log" 2>&1 &
pid=$!
mount_wait $pid || exit 1
grep " $mnt " /proc/mounts
run ls -lR "$mnt"
run df -h "$mnt"

say "write(2) into /demo/hello.txt, then read(2) and mmap"
msg="Hello from famfs over FUSE, through famfs_test_server, at $(date -u +%H:%M:%S)"
echo "\$ echo '$msg' | dd of=$mnt/demo/hello.txt conv=notrunc"
echo "$msg" | dd of="$mnt/demo/hello.txt" conv=notrunc status=none
n=$((${#msg} + 1))
head -c $n "$mnt/demo/hello.txt" | show "read(2) of the file"
mmapread "$mnt/demo/hello.txt" 0 $n | show "mmap of the file"
read -r d off < <(ext /demo/hello.txt)
devread "${devs[$d]}" "$off" $n | show "${devs[$d]} at offset $off"
[ "$(devread "${devs[$d]}" "$off" $n)" = "$msg" ] && echo "=> the same bytes, on the device where the map says"

say "an interleaved file: chunk 0 on one device, chunk 1 on the other"
for k in 0 1; do
	m="chunk $k of striped.bin"
	printf '%s' "$m" | dd of="$mnt/demo/striped.bin" bs=2M seek=$k conv=notrunc status=none
	read -r d off < <(strip /demo/striped.bin $k)
	devread "${devs[$d]}" "$off" ${#m} | show "${devs[$d]} at offset $off"
done
echo "a store through a mapping of the file, at file offset 4 MiB (chunk 2):"
python3 -c '
import mmap, sys
f = open(sys.argv[1], "r+b")
m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED)
s = b"stored through a mapping"
m[4 << 20:(4 << 20) + len(s)] = s
m.close()' "$mnt/demo/striped.bin"
read -r d off < <(strip /demo/striped.bin 0)
devread "${devs[$d]}" $((off + (2 << 20))) 24 | show "${devs[$d]} at offset $(printf '%#x' $((off + (2 << 20))))"
head -c $(((4 << 20) + 24)) "$mnt/demo/striped.bin" | tail -c 24 | show "read(2) at file offset 4 MiB"

say "what famfs refuses (the namespace and the sizes are the manifest's)"
for c in "touch $mnt/demo/new" "truncate -s 1M $mnt/demo/hello.txt" "rm $mnt/demo/hello.txt"; do
	echo "\$ $c"
	$c 2>&1 | sed 's/^/  /'
done

say "the server's request counts (SIGUSR1 -> $stats)"
rm -f "$stats"
kill -USR1 $pid
for ((i = 0; i < 50; i++)); do [ -s "$stats" ] && break; sleep 0.1; done
awk '$2 != 0 { printf "  %-12s %s\n", $1, $2 }' "$stats"
echo "  (every other operation: 0, READ and WRITE included)"
r=$(awk '$1 == "READ" { print $2 }' "$stats") wr=$(awk '$1 == "WRITE" { print $2 }' "$stats")
g=$(awk '$1 == "GET_FMAP" { print $2 }' "$stats")
echo "=> READ $r, WRITE $wr: read(2), write(2) and page faults never reached the server;"
echo "   GET_FMAP $g: one map per file opened, fetched on its first open."

say "unmount"
run umount "$mnt"
wait $pid
rc=$?
pid=""
echo "server exited with status $rc"
[ "$r/$wr/$rc" = 0/0/0 ]
