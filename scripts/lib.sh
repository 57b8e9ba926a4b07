# SPDX-License-Identifier: GPL-2.0
# Common settings for the famfs-over-FUSE workbench scripts.  Source it.

# --- Pins: change one of these to re-pin an upstream tree. ---------------
LINUX_PKG_VERSION=${LINUX_PKG_VERSION:-7.2.13-1}	# Debian linux-source-7.2
FUSE_PKG_VERSION=${FUSE_PKG_VERSION:-3.18.3-1}		# Debian fuse3 source
NDCTL_PKG_VERSION=${NDCTL_PKG_VERSION:-85-1}		# only for the optional cxl/daxctl tools
# ---------------------------------------------------------------------------

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
CACHE=${FAMFS_CACHE:-$HOME/.cache/famfs}
APTDIR=$CACHE/apt
DLDIR=$CACHE/dl
LINUX_SERIES=${LINUX_PKG_VERSION%%.*}.$(echo "$LINUX_PKG_VERSION" | cut -d. -f2)

die() { printf '%s: error: %s\n' "${STEP:-famfs}" "$*" >&2; exit 1; }
note() { printf '==> %s\n' "$*" >&2; }

# Private apt configuration: sid + bookworm-backports lists in our cache,
# never the system's sources.list, never an upgrade of the system.
apt_private_opts() {
	echo "-o Dir::Etc::sourcelist=$APTDIR/sources.list -o Dir::Etc::sourceparts=- \
-o Dir::State::Lists=$APTDIR/lists -o Dir::Cache=$APTDIR/cache \
-o Dir::Cache::Archives=$APTDIR/archives -o APT::Get::List-Cleanup=0 \
-o Debug::NoLocking=1 -o APT::Sandbox::User=root"
}

# The system's apt sources, one "URI SUITE..." line each, in the order apt
# reads them: one-line *.list files and deb822 *.sources files.
apt_system_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" || $1 == "deb-src" { print $2, $3 }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk '
			function flush(i, n, u) {
				if (on) { n = split(uris, u, " "); for (i = 1; i <= n; i++) print u[i], suites }
				uris = suites = ""; on = 1
			}
			BEGIN { on = 1 }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { if (k == "uris:") uris = uris " " $0; if (k == "suites:") suites = suites " " $0; next }
			{ k = tolower($1) }
			k == "uris:" { $1 = ""; uris = $0 }
			k == "suites:" { $1 = ""; suites = $0 }
			k == "enabled:" && tolower($2) == "no" { on = 0 }
			END { flush() }' "$f"
	done
}

# The system's apt URI for a suite (empty if none).
apt_system_uri() {
	apt_system_sources | awk -v s="$1" '{ for (i = 2; i <= NF; i++) if ($i == s) { sub(/\/$/, "", $1); print $1; exit } }'
}

# The Debian mirror: $DEBIAN_MIRROR, else the system's apt URI for bookworm,
# else its first Debian URI.
debian_mirror() {
	local m=${DEBIAN_MIRROR:-}
	[ -n "$m" ] || m=$(apt_system_uri bookworm)
	[ -n "$m" ] || m=$(apt_system_sources | awk '$1 ~ /debian/ && $1 !~ /security/ { sub(/\/$/, "", $1); print $1; exit }')
	[ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources}: set DEBIAN_MIRROR"
	echo "$m"
}

apt_private_update() {
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/cache"
	local key=/usr/share/keyrings/debian-archive-keyring.gpg m
	m=$(debian_mirror) || exit 1
	cat > "$APTDIR/sources.list.new" <<EOL
deb [signed-by=$key] $m sid main
deb-src [signed-by=$key] $m sid main
deb [signed-by=$key] $m bookworm-backports main
deb [signed-by=$key] $m bookworm main
EOL
	# Refresh at most once a day, and whenever the mirror changed.
	local fresh
	fresh=$(find "$APTDIR/lists" -maxdepth 1 -name '*sid_InRelease' -mmin -1440 2>/dev/null)
	cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list" || fresh=""
	mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
	if [ -z "$fresh" ]; then
		note "apt: updating private package lists (sid, bookworm-backports) from $m"
		# shellcheck disable=SC2046
		apt-get $(apt_private_opts) -q update >"$APTDIR/update.log" 2>&1 ||
			die "apt-get update of the private lists failed (see $APTDIR/update.log)"
	fi
}

# Print the candidate version of a binary or source package in the private lists.
apt_private_version() {
	# shellcheck disable=SC2046
	apt-cache $(apt_private_opts) policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'
}

# The pids of a process's children.
child_pids() { cat /proc/"$1"/task/*/children 2>/dev/null || pgrep -P "$1" || true; }

# SIGTERM a process and all its descendants (each one's children are listed
# before it is signalled: they move to init when it dies).  With a tag, also
# every process whose environment has FAMFS_TAG=tag: descendants whose parent
# died first (Ctrl-C kills a shell in between, not what it started in the
# background).
kill_tree() { # pid [tag]
	local c kids
	kids=$(child_pids "$1")
	kill -TERM "$1" 2>/dev/null || true
	for c in $kids; do kill_tree "$c"; done
	[ -n "${2:-}" ] || return 0
	# (grep and cut without the tag: not themselves.)
	FAMFS_TAG="" grep -lzxF "FAMFS_TAG=$2" /proc/[0-9]*/environ 2>/dev/null | FAMFS_TAG="" cut -d/ -f3 |
		while read -r c; do kill -TERM "$c" 2>/dev/null; done || true
}

# Run a command (a program or a shell function) with output to a log file and
# a progress line every 30 s.  On SIGINT or SIGTERM, stop the command and
# everything it started (make and its compilers, ninja ...) and exit 130 or
# 143: the command runs in the background, where SIGINT may be ignored and
# SIGTERM only reaches this script.
run_logged() {
	local log=$1; shift
	local t0=$SECONDS n=0 pid rc
	RUN_LOGGED_TAG=$$.$RANDOM RUN_LOGGED_CMD=$1 RUN_LOGGED_LOG=$log
	FAMFS_TAG=$RUN_LOGGED_TAG "$@" >"$log" 2>&1 &
	pid=$!
	RUN_LOGGED_PID=$pid
	trap 'run_logged_stop 130' INT
	trap 'run_logged_stop 143' TERM
	while kill -0 $pid 2>/dev/null; do
		sleep 1
		n=$((n + 1))
		if [ $((n % 30)) = 0 ] && kill -0 $pid 2>/dev/null; then
			printf '    ... %ss: %s\n' $((SECONDS - t0)) "$(tail -n1 "$log" | cut -c1-90)" >&2
		fi
	done
	wait $pid
	rc=$?
	trap - INT TERM
	return $rc
}
run_logged_stop() { # exit status
	trap - INT TERM
	printf '    ... interrupted: stopping %s (log: %s)\n' "$RUN_LOGGED_CMD" "$RUN_LOGGED_LOG" >&2
	kill_tree "$RUN_LOGGED_PID" "$RUN_LOGGED_TAG"
	wait "$RUN_LOGGED_PID" 2>/dev/null || true
	exit "$1"
}
