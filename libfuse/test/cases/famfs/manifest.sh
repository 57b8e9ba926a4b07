#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host tests of test/famfs_test_server's manifest parser and layout,
# through --check (lay out, check every map, print; no mount).  No devdax
# needed: --fake-devices lets regular files stand in for the devices, in
# --check mode only.  TAP on stdout; a test of test/run-tests.py.
#
# usage: cases/famfs/manifest.sh [FAMFS_TEST_SERVER]
#   The binary: $1, or $FAMFS_TEST_SERVER, or test/famfs_test_server of the
#   build (cases/lib/famfs_tap.sh).
# GROUP: famfs quick
set -uo pipefail
. "$(dirname "$0")/../lib/famfs_tap.sh"
bin=${1:-${FAMFS_TEST_SERVER:-$(famfs_bin test/famfs_test_server)}}
[ -n "$bin" ] && [ -x "$bin" ] || skip_all "famfs_test_server not built"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/famfs-manifest-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
truncate -s 256M d0 d1
truncate -s 64M small

check() { # manifest options...
	local m=$1
	shift
	"$bin" --check --fake-devices --manifest="$m" "$@"
}

# --- a valid manifest and its layout ---------------------------------------
cat >good <<'EOF'
# famfs_test_server manifest: every kind of entry
dir /data
file /data/hello size=5M                 # simple, device 0
file /data/empty size=0 dev=1            # an empty file still gets 2M
file /data/wide size=9M layout=interleave chunk=2M
dir /data/sub mode=0700
file /data/sub/placed size=3M extents=1:100M:2M,0:200M:2M mode=0600
file /big size=20M layout=interleave devs=1,0,1 chunk=4M
file /last size=1 dev=1
EOF
want=$(
	cat <<'EOF'
device 0: d0 size=268435456 free=245366784
device 1: d1 size=268435456 free=239075328
ino 2 dir /data mode=0755
ino 3 file /data/hello size=5242880 mode=0644 layout=simple extents=0:0:0x600000
ino 4 file /data/empty size=0 mode=0644 layout=simple extents=1:0:0x200000
ino 5 file /data/wide size=9437184 mode=0644 layout=interleave chunk=0x200000 strips=0:0x600000:0x600000,1:0x200000:0x600000
ino 6 dir /data/sub mode=0700
ino 7 file /data/sub/placed size=3145728 mode=0600 layout=placed extents=1:0x6400000:0x200000,0:0xc800000:0x200000
ino 8 file /big size=20971520 mode=0644 layout=interleave chunk=0x400000 strips=1:0x800000:0x800000,0:0xc00000:0x800000,1:0x1000000:0x800000
ino 9 file /last size=1 mode=0644 layout=simple extents=1:0x1800000:0x200000
EOF
)
out=$(check good --dev=d0 --dev=d1 2>&1)
rc=$?
got=$(echo "$out" | grep -E '^(device|ino) ' |
	sed -E 's|/[^ ]*/(d[01])|\1|; s| \(fake\)||; s| \([0-9]+ MiB\)||')
if [ $rc = 0 ] && [ "$got" = "$want" ]; then
	ok "valid manifest: expected offsets (simple, empty, interleaved, placed, 3 strips)"
else
	not_ok "valid manifest: expected offsets" "exit $rc" "$(diff <(echo "$want") <(echo "$got"))"
fi
[ -z "$(echo "$out" | grep -vE '^(manifest:|layout:|device [0-9]+:|ino [0-9]+) ')" ] &&
	ok "--check prints the layout and nothing else" ||
	not_ok "--check prints the layout and nothing else" "$out"
# The bytes on the devices do not matter: nothing is read from them.
cp d0 x0 && printf 'not zero' | dd of=x0 conv=notrunc status=none
[ "$(check good --dev=x0 --dev=d1 2>&1 | grep -E '^(layout|ino) ')" = "$(echo "$out" | grep -E '^(layout|ino) ')" ] &&
	ok "what the devices hold does not change the layout" ||
	not_ok "what the devices hold does not change the layout"

id() { check "$@" 2>/dev/null | sed -n 's/^layout: //p'; }
id1=$(id good --dev=d0 --dev=d1)
id2=$(id good --dev=d0 --dev=d1)
[ -n "$id1" ] && [ "$id1" = "$id2" ] &&
	ok "same manifest, same layout identity ($id1)" ||
	not_ok "layout identity is deterministic" "$id1 vs $id2"

# Comments, blank lines and spacing do not change the layout.
sed -e 's/#.*//' -e 's/  */\t/g' -e '1i\\' good >good2
[ "$(id good2 --dev=d0 --dev=d1)" = "$id1" ] &&
	ok "comments and blanks do not change the identity" ||
	not_ok "comments and blanks do not change the identity"

sed 's/size=5M/size=7M/' good >good3
[ "$(id good3 --dev=d0 --dev=d1)" != "$id1" ] &&
	ok "another size, another identity" ||
	not_ok "another size, another identity"

truncate -s 512M d1big
[ "$(id good --dev=d0 --dev=d1big)" != "$id1" ] &&
	ok "another device size, another identity" ||
	not_ok "another device size, another identity"

# Interleave: the strip length is whole stripes of chunks.
printf 'file /i size=6M layout=interleave\nfile /j size=2M layout=interleave devs=0,0\n' >il
got=$(check il --dev=d0 --dev=d1 | grep '^ino')
want='ino 2 file /i size=6291456 mode=0644 layout=interleave chunk=0x200000 strips=0:0:0x400000,1:0:0x400000
ino 3 file /j size=2097152 mode=0644 layout=interleave chunk=0x200000 strips=0:0x400000:0x200000,0:0x600000:0x200000'
[ "$got" = "$want" ] &&
	ok "interleave: default devices, 2 strips on one device" ||
	not_ok "interleave layout" "$got"

# First fit reuses the hole before a placed extent.
printf 'file /p size=2M extents=0:8M:2M\nfile /a size=6M\nfile /b size=4M\nfile /c size=2M\n' >ff
got=$(check ff --dev=d0 | grep '^ino' | sed 's/.*extents=//')
[ "$got" = $'0:0x800000:0x200000\n0:0:0x600000\n0:0xa00000:0x400000\n0:0x600000:0x200000' ] &&
	ok "first fit around a placed extent" ||
	not_ok "first fit around a placed extent" "$got"

# A file exactly as large as the free space of a device fits.
printf 'file /full size=64M\n' >full
check full --dev=small >/dev/null 2>&1 &&
	ok "a file filling a whole device fits (nothing is reserved)" ||
	not_ok "a file filling a whole device fits"

# Placed extents have no limit of their own (only the 16 MiB map): 5,000
# of them, a map of 32 + 5,000 * 24 bytes, larger than the 32 KiB the
# kernel offers first.
truncate -s 10G dhuge
printf 'file /many size=10000M extents=%s\n' "$(for ((i = 0; i < 5000; i++)); do printf '0:%dM:2M,' $((i * 2)); done | sed 's/,$//')" >many
got=$(check many --dev=dhuge 2>&1 | grep '^ino' | sed 's/.*extents=//' | tr ',' '\n')
[ "$(echo "$got" | wc -l)" = 5000 ] && [ "$(echo "$got" | tail -n1)" = "0:0x270e00000:0x200000" ] &&
	ok "5,000 placed extents lay out, in order (a map of 120,032 bytes)" ||
	not_ok "5,000 placed extents lay out" "$(echo "$got" | head -n3)"

# --- bad manifests: exit 1, one error naming FILE:LINE ---------------------
# name | manifest (printf format) | line | text expected in the error
bad_cases=(
	"overlap|file /a size=4M extents=0:4M:4M\nfile /b size=2M extents=0:6M:2M\n|2|overlaps /a (line 1)"
	"overlap from below|file /a size=2M extents=0:6M:2M\nfile /b size=4M extents=0:4M:4M\n|2|overlaps /a (line 1)"
	"overlap inside one file|file /a size=6M extents=0:8M:2M,0:2M:2M,0:6M:4M\n|1|extent 2 (0:0x600000:0x400000): overlaps /a (line 1)"
	"too many strips|file /a size=66M layout=interleave devs=$(printf '0,%.0s' $(seq 0 32) | sed 's/,$//')\n|1|more than 32 strips"
	"file larger than the device|dir /d\nfile /d/a size=1G\n|2|needs 1073741824 bytes on device 0"
	"files larger than the free space|file /x size=200M\nfile /y size=100M\n|2|/y does not fit"
	"placed extent past the device|file /a size=2M extents=1:256M:2M\n|1|past the end of device 1"
	"misaligned placed extent|file /a size=2M extents=0:3M:2M\n|1|multiples of 2M"
	"placed extents too small|file /a size=5M extents=0:4M:2M\n|1|extents hold 2097152 bytes, size is 5242880"
	"unknown key|file /a size=4M colour=red\n|1|unknown key 'colour'"
	"unknown key for a dir|dir /a size=4M\n|1|unknown key 'size' for a dir"
	"unknown line kind|dir /a\nlink /a/b /c\n|2|'link': a line starts with dir or file"
	"missing size|\n\nfile /a\n|3|file without size="
	"bad size|file /a size=12Q\n|1|size '12Q': not a size"
	"word without =|file /a size=1 big\n|1|'big': expected key=value"
	"device index out of range|file /a size=4M dev=2\n|1|device 2: only 2 devices given"
	"bad chunk|file /a size=4M layout=interleave chunk=3M\n|1|chunk '3M'"
	"dev= with interleave|file /a size=4M layout=interleave dev=1\n|1|takes devs=, not dev="
	"devs= without interleave|file /a size=4M devs=0,1\n|1|need layout=interleave"
	"empty interleaved file|file /a size=0 layout=interleave\n|1|needs a size above 0"
	"unknown layout|file /a size=4M layout=raid5\n|1|layout 'raid5'"
	"relative path|file a size=1\n|1|not an absolute normalized path"
	"dot-dot path|dir /a\nfile /a/../b size=1\n|2|not an absolute normalized path"
	"duplicate path|dir /a\nfile /a size=1\n|2|/a: already declared on line 1"
	"parent not declared|dir /a\nfile /a/b/c size=1\n|2|/a/b: no such directory"
	"parent is a file|file /a size=1\nfile /a/b size=1\n|2|/a: no such directory"
	"bad mode|dir /a mode=999\n|1|mode '999'"
	"malformed extent|file /a size=2M extents=0:4M\n|1|want DEV:OFFSET:LENGTH"
	"key given twice|file /a size=2M devs=0 layout=interleave devs=1\n|1|devs= given twice"
	"extents= with layout=|file /a size=2M layout=interleave extents=0:4M:2M\n|1|extents= places the file: no layout="
)
for c in "${bad_cases[@]}"; do
	IFS='|' read -r name text line expect <<<"$c"
	printf '%b' "$text" >bad
	out=$(check bad --dev=d0 --dev=d1 2>&1 >/dev/null)
	rc=$?
	nlines=$(echo "$out" | wc -l)
	if [ $rc = 1 ] && [ "$nlines" = 1 ] && [[ $out == "famfs_test_server: bad:$line: "*"$expect"* ]]; then
		ok "bad manifest: $name (bad:$line)"
	else
		not_ok "bad manifest: $name" "exit $rc, want 1; error: $out" "want: famfs_test_server: bad:$line: ...$expect..."
	fi
done

# --- devices -------------------------------------------------------------
out=$("$bin" --check --manifest=good --dev=d0 2>&1)
rc=$?
[ $rc = 1 ] && [[ $out == *"--dev d0: not a device-dax character device"* ]] &&
	ok "a regular file is not a device without --fake-devices" ||
	not_ok "regular file refused as a device" "exit $rc: $out"
out=$("$bin" --check --manifest=good --dev=/dev/null 2>&1)
rc=$?
[ $rc = 1 ] && [[ $out == *"--dev /dev/null: not a device-dax character device"* ]] &&
	ok "a character device that is not device-dax is refused" ||
	not_ok "/dev/null refused as a device" "exit $rc: $out"
mkdir mnt
out=$("$bin" --fake-devices --manifest=good --dev=d0 "$tmp/mnt" 2>&1)
rc=$?
[ $rc = 1 ] && [[ $out == *"--fake-devices only goes with --check"* ]] &&
	ok "--fake-devices only with --check (no mount)" ||
	not_ok "--fake-devices refused for a mount" "exit $rc: $out"
out=$("$bin" --check --fake-devices --manifest=nonexistent --dev=d0 2>&1)
rc=$?
[ $rc = 1 ] && [[ $out == *"nonexistent: No such file or directory"* ]] &&
	ok "missing manifest: error names it" ||
	not_ok "missing manifest" "exit $rc: $out"
out=$("$bin" --check --manifest=good 2>&1)
[ $? = 1 ] && [[ $out == *"no --dev"* ]] && ok "no device: error" || not_ok "no device" "$out"
truncate -s 1M tiny
printf 'file /a size=1\n' >one
out=$(check one --dev=tiny 2>&1)
[ $? = 1 ] && [[ $out == *"device 0 (tiny): 1048576 bytes, below 2 MiB"* ]] &&
	ok "a device below 2 MiB (one extent) is refused" || not_ok "tiny device 0" "$out"

# --- options ---------------------------------------------------------------
"$bin" --help >/dev/null 2>&1 && ok "--help" || not_ok "--help"
out=$("$bin" --manifest=good --dev=d0 2>&1)
[ $? = 1 ] && [[ $out == *"no mount point"* ]] && ok "no mount point without --check: error" || not_ok "no mount point" "$out"

tap_done
