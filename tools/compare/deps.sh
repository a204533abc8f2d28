#!/bin/sh
# tools/compare/deps.sh - installs the host packages `make compare` and
# `make plots` need, when missing: Go (the Go side), the Boehm collector's
# headers and library (the Boehm side), gnuplot without X (the plots) and
# python3 (the driver). Like tools/deps.sh: as root it runs apt-get,
# otherwise it prints the exact command and fails. Never skips silently: a
# package that cannot be installed stops the run with apt's message.
set -eu

missing=""
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need go golang-go
need gnuplot gnuplot-nox
need python3 python3
need gcc gcc
# libgc-dev has no command: look for its header and its linker symlink.
{ [ -f /usr/include/gc.h ] || [ -f /usr/include/gc/gc.h ]; } &&
	ls /usr/lib/*/libgc.so >/dev/null 2>&1 || missing="$missing libgc-dev"

[ -z "$missing" ] && exit 0
# shellcheck disable=SC2086
set -- $(printf '%s\n' $missing | sort -u)
cmd="apt-get install -y --no-install-recommends $*"
if [ "$(id -u)" -ne 0 ]; then
	echo "compare-deps: missing host packages: $*" >&2
	echo "compare-deps: run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "compare-deps: installing $*"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
if ! apt-get install -y -qq --no-install-recommends "$@" >/tmp/compare-deps.log 2>&1; then
	cat /tmp/compare-deps.log >&2
	echo "compare-deps: could not install $* (see above); the comparison cannot run without them" >&2
	exit 1
fi
# Check again: a package that installed but does not provide what we look
# for is as fatal as one that did not install.
for c in go gnuplot python3; do
	command -v "$c" >/dev/null 2>&1 || { echo "compare-deps: '$c' still missing after install" >&2; exit 1; }
done
