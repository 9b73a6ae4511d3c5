#!/bin/sh
# contrib/install-deps.sh build|test - install the Debian packages flowfs
# needs to build (build) or to run its tests (test), when missing.
# Silent when everything is there; needs root to install.
set -eu
build="libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev zlib1g-dev liblzma-dev
       libsqlite3-dev libiniparser-dev libzstd-dev pkg-config gcc make"
test="attr rsync jq psmisc procps util-linux bc sqlite3 curl man-db xz-utils gzip iproute2 strace
      clang libclang-rt-14-dev valgrind zstd"
bench="s3fs rclone awscli"
case "${1:-build}" in
build) want=$build ;;
test) want="$build $test" ;;
bench) want="$build $test $bench" ;;
*) echo "usage: $0 build|test|bench" >&2; exit 64 ;;
esac
missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "flowfs needs:$missing" >&2
		echo "run as root: apt-get update && apt-get install -y$missing" >&2
		exit 1
	fi
	echo "installing:$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "${1:-}" != build ] && ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	echo "installing: nodejs npm (for the test servers)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null ||
		echo "note: could not install npm: the S3 tests will SKIP" >&2
fi
# npm ci again whenever the lockfile changed since the last install
lock=$(sha256sum tests/package-lock.json 2>/dev/null | cut -d' ' -f1)
if [ "${1:-}" != build ] && [ -n "$lock" ] && [ "$(cat tests/node_modules/.flowfs-lock 2>/dev/null)" != "$lock" ]; then
	if command -v npm >/dev/null 2>&1; then
		npm ci --prefix tests --no-audit --no-fund --loglevel=error &&
			echo "$lock" > tests/node_modules/.flowfs-lock
	else
		echo "note: npm is missing: the S3 and Azure tests will SKIP" >&2
	fi
fi
exit 0
