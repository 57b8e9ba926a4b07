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

apt_private_update() {
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/cache"
	local key=/usr/share/keyrings/debian-archive-keyring.gpg
	local m=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	cat > "$APTDIR/sources.list" <<EOL
deb [signed-by=$key] $m sid main
deb-src [signed-by=$key] $m sid main
deb [signed-by=$key] $m bookworm-backports main
deb [signed-by=$key] $m bookworm main
EOL
	# Refresh at most once a day.
	if [ -z "$(find "$APTDIR/lists" -maxdepth 1 -name '*sid_InRelease' -mmin -1440 2>/dev/null)" ]; then
		note "apt: updating private package lists (sid, bookworm-backports)"
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

# Run a command with output to a log file and a progress line every 30 s.
run_logged() {
	local log=$1; shift
	local t0=$SECONDS n=0
	"$@" >"$log" 2>&1 &
	local pid=$!
	while kill -0 $pid 2>/dev/null; do
		sleep 1
		n=$((n + 1))
		if [ $((n % 30)) = 0 ] && kill -0 $pid 2>/dev/null; then
			printf '    ... %ss: %s\n' $((SECONDS - t0)) "$(tail -n1 "$log" | cut -c1-90)" >&2
		fi
	done
	wait $pid
}
