#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A famfs server builds against an installed libfuse alone: the headers and
# the library of the install prefix, found through pkg-config fuse3, nothing
# from the source or build trees.  Host only (nothing is mounted): builds
# install_server.c (next to this script) and runs it (--help, --map), and
# compiles example/famfs_ll.c the same way.  TAP on stdout; a test of
# test/run-tests.py, which needs FUSE_PREFIX (meson install puts the library
# there; the runner does not install).
#
# usage: cases/famfs/install.sh [PREFIX]
#   The install prefix: $1, or $FUSE_PREFIX, or build/libfuse-prefix of the
#   checkout this script is in.  CC (default cc) is the compiler.
# GROUP: famfs quick
set -uo pipefail
. "$(dirname "$0")/../lib/famfs_tap.sh"
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-${FUSE_PREFIX:-}}
if [ -z "$prefix" ] && [ -z "${TEST_NAME:-}" ]; then
	for c in "$here/../../../../build/libfuse-prefix" "$here/../../../../libfuse-prefix"; do
		[ -d "$c" ] && prefix=$c && break
	done
fi
[ -n "$prefix" ] && [ -f "$prefix/lib/pkgconfig/fuse3.pc" ] ||
	skip_all "no installed libfuse: FUSE_PREFIX=DIR, where meson install put it${prefix:+ (not $prefix)}"
prefix=$(cd "$prefix" && pwd)
cc=${CC:-cc}
cxx=${CXX:-c++}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/famfs-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
# Only what pkg-config says: no include or library paths from the
# environment.
unset CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH LD_LIBRARY_PATH
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig


# --- pkg-config ------------------------------------------------------------
pc_prefix=$(pkg-config --variable=prefix fuse3 2>pc.err)
cflags=$(pkg-config --cflags fuse3 2>>pc.err)
libs=$(pkg-config --libs fuse3 2>>pc.err)
libdir=$(pkg-config --variable=libdir fuse3 2>>pc.err)
outside=""
for f in $cflags $libs; do
	case $f in
	-I* | -L*)
		d=${f#-?}
		case $d in "$prefix"/* | /usr/include* | /usr/lib*) ;; *) outside+=" $f" ;; esac ;;
	esac
done
if [ "$pc_prefix" = "$prefix" ] && [ -z "$outside" ] && [ -n "$libs" ]; then
	ok "pkg-config fuse3 is the install's ($prefix): $(echo $cflags $libs)"
else
	not_ok "pkg-config fuse3: prefix '$pc_prefix', not the install's, or paths outside it:${outside:- none}" "$(head -n 20 pc.err)"
fi

# --- the public header alone -------------------------------------------------
hdr=$prefix/include/fuse3/fuse_famfs.h
printf '#include <fuse_famfs.h>\nstruct fuse_famfs_fmap_header h;\nstruct fuse_daxdev_out d;\nunsigned long ioc = FUSE_DEV_IOC_DAXDEV_OPEN;\n' >alone.c
cp alone.c alone.cc
# a kernel header of before famfs first: fuse_famfs.h still defines it all
printf '#include <linux/fuse.h>\n' | cat - alone.c >after_kernel.c
: >hdr.err
if [ ! -f "$hdr" ]; then
	echo "not installed" >hdr.err
else
	$cc $cflags -std=c99 -Wall -Wextra -Wpedantic -Werror -c alone.c -o alone.o 2>>hdr.err &&
		$cxx $cflags -Wall -Wextra -Werror -c alone.cc -o alone_cc.o 2>>hdr.err &&
		{ [ ! -f /usr/include/linux/fuse.h ] ||
			grep -q FUSE_DAX_FMAP /usr/include/linux/fuse.h ||
			$cc $cflags -Wall -Wextra -Werror -c after_kernel.c -o after_kernel.o 2>>hdr.err; }
fi
if [ ! -s hdr.err ]; then
	ok "fuse_famfs.h is installed, self-contained and defines FUSE_DEV_IOC_DAXDEV_OPEN (C99 pedantic, C++, after a <linux/fuse.h> without famfs)"
else
	not_ok "fuse_famfs.h: $prefix/include/fuse3/fuse_famfs.h is missing or does not compile alone" "$(head -n 20 hdr.err)"
fi

# --- a small famfs server ----------------------------------------------------
cp "$here/install_server.c" server.c
# -H: every header read, to show where the fuse ones came from
if $cc -H -Wall -Wextra -Werror $cflags server.c -o server $libs \
	-Wl,-rpath,"$libdir" >build.log 2>&1; then
	bad=$(grep -E '^\.+ ' build.log | sed 's/^\.* //' |
		grep -E '/(fuse[^/]*|cuse_lowlevel|libfuse_config)\.h$' |
		grep -v "^$prefix/include/fuse3/" || true)
	if [ -z "$bad" ]; then
		ok "famfs server (install_server.c) compiles and links with pkg-config fuse3 alone: fuse headers from $prefix/include/fuse3"
	else
		echo "$bad" >bad.log
		not_ok "famfs server: fuse headers read from outside the install" "$(head -n 20 bad.log)"
	fi
else
	grep -vE '^(\.+ |Multiple include guards may be useful for:$|/)' build.log >build.err
	not_ok "famfs server (install_server.c) does not build against the install" "$(head -n 20 build.err)"
fi

if [ -x server ]; then
	# fuse_daxdev_open: the installed fuse_famfs.h has FUSE_DEV_IOC_DAXDEV_OPEN
	sym=$(nm -D --undefined-only server 2>/dev/null | grep -E 'fuse_(reply_daxdev|reply_fmap|famfs_fmap_check|daxdev_open)@' | awk '{ print $NF }' | sort | tr '\n' ' ')
	lib=$(ldd server 2>/dev/null | awk '$1 ~ /^libfuse3\.so/ { print $3 }')
	if [ "$(echo $sym)" = "fuse_daxdev_open@FUSE_3.19 fuse_famfs_fmap_check@FUSE_3.19 fuse_reply_daxdev@FUSE_3.19 fuse_reply_fmap@FUSE_3.19" ] &&
		[ -n "$lib" ] && [ "$(dirname "$lib")" = "$libdir" ]; then
		ok "famfs server binds the famfs symbols, fuse_daxdev_open() (under #ifdef FUSE_DEV_IOC_DAXDEV_OPEN) included, at version FUSE_3.19, from $lib"
	else
		echo "symbols: $sym; libfuse3: $lib" >sym.log
		not_ok "famfs server: famfs symbols or library not as expected" "$(head -n 20 sym.log)"
	fi
	./server --help >help.log 2>&1
	rc=$?
	if [ $rc = 0 ] && grep -q 'usage:' help.log; then
		ok "famfs server runs: --help exits 0"
	else
		not_ok "famfs server --help: exit $rc" "$(head -n 20 help.log)"
	fi
	./server --map >map.log 2>&1
	rc=$?
	if [ $rc = 0 ] && grep -q 'accepted' map.log; then
		ok "famfs server runs: fuse_famfs_fmap_check() of the installed library accepts its one-extent map"
	else
		not_ok "famfs server --map: exit $rc" "$(head -n 20 map.log)"
	fi
fi

# --- the example server -------------------------------------------------------
ex=$here/../../../example/famfs_ll.c
if [ ! -f "$ex" ]; then
	not_ok "example/famfs_ll.c: no $ex"
elif cp "$ex" famfs_ll.c && $cc -Wall -Wextra -Werror $cflags famfs_ll.c -o famfs_ll $libs \
	-Wl,-rpath,"$libdir" >famfs_ll.log 2>&1 && ./famfs_ll --help >/dev/null 2>&1; then
	ok "example/famfs_ll.c compiles and links with pkg-config fuse3 alone, and runs (--help)"
else
	not_ok "example/famfs_ll.c does not build against the install" "$(head -n 20 famfs_ll.log)"
fi

tap_done
