# SPDX-License-Identifier: GPL-2.0
# What the famfs tests (cases/famfs/*.sh) share: TAP results and where the
# binaries are.  A famfs test runs under test/run-tests.py (exit 0, 77 for a
# skip, 1 for a failure) or on its own, when its TAP lines are the point
# (scripts that merge them, a guest).  Source it first.
#
#   ok DESCRIPTION
#   not_ok DESCRIPTION [DETAIL...]   a failure and the lines that explain it
#   skip_all REASON                  nothing can run here: "1..0 # SKIP"
#   tap_done                         the plan, and the exit status
#   famfs_bin PATH                   PATH (below the meson build directory) of
#                                    the run's build: $BUILD_DIR under the
#                                    runner, else the checkout's build

# The runner starts a case with bash -e; here a failing command is a result
# to report, and the case goes on.
set +e
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }

not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	[ $# = 0 ] || printf '%s\n' "$@" | sed 's/^/#   /'
}

skip_all() {
	echo "1..0 # SKIP $1"
	[ -z "${TEST_NAME:-}" ] || { echo "SKIP: $1"; exit 77; }
	exit 0
}

tap_done() {
	echo "1..$n"
	[ $failed = 0 ]
}

famfs_bin() {
	local d c
	d=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	for c in ${BUILD_DIR:+"$BUILD_DIR"} "$d/../../../../build/libfuse-build" \
		"$d/../../../../libfuse-build"; do
		[ -x "$c/$1" ] && echo "$c/$1" && return
	done
}

# Under the runner the results are in the logs (script.out, and
# timestamps.out with a time before each line), where "error" in the name of
# a check is not a finding: the exit status says how the checks went.
[ -z "${TEST_LOGDIR:-}" ] || printf '%s\n' '(not )?ok [0-9]+ - .*$' '#   .*$' \
	>>"$TEST_LOGDIR/.allow"
