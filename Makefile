# SPDX-License-Identifier: GPL-2.0
# famfs over FUSE: workbench entry points.  See README.md.
#
#   make demo        build everything, boot the guest, show famfs at work
#   make check       every test layer; ends with "N passed, N failed"
#   make bench       famfs beside devdax, tmpfs and FUSE: build/bench/results.{csv,md,png}
#
#   make deps fetch assemble refresh kernel libfuse tools vm series series-check clean
#   FLAVOUR=debug|perf selects the kernel for kernel/vm/check/demo.

FLAVOUR ?= debug
S := scripts
export FLAVOUR

.PHONY: all deps fetch assemble refresh kernel kernel-perf libfuse tools vm check demo bench series series-check clean distclean

all: kernel libfuse tools

deps:
	@$(S)/deps

fetch: deps
	@$(S)/fetch

assemble: fetch
	@$(S)/assemble

refresh:
	@$(S)/refresh

kernel: assemble
	@$(S)/kbuild $(FLAVOUR)

kernel-perf: assemble
	@$(S)/kbuild perf

libfuse: assemble
	@if [ -x $(S)/lbuild ]; then $(S)/lbuild; else echo "libfuse: no fork in the tree yet, nothing to build"; fi

tools: deps
	@mkdir -p build/tools
	@cc -O2 -Wall -Wextra -Werror -o build/tools/daxio $(S)/tools/daxio.c
	@cc -O2 -Wall -Wextra -Werror -o build/tools/famfs_bench $(S)/bench/famfs_bench.c

# make vm CMD='uname -a'
vm: tools
	@$(S)/vm --kernel $(FLAVOUR) -- $(or $(CMD),true)

check: all
	@$(S)/check

demo: all
	@$(S)/demo

# make bench [BENCH_ARGS='--rounds 5 --secs 5']: tables and plot in build/bench/ (scripts/bench/run --help)
bench: tools
	@$(S)/bench/run $(BENCH_ARGS)

series: assemble
	@$(S)/export-series

# Every patch of both series applies, passes checkpatch and builds.
series-check: all
	@$(S)/series-check

clean:
	rm -rf build/kernel-* build/libfuse-* build/vm build/check build/tools

distclean:
	rm -rf build
