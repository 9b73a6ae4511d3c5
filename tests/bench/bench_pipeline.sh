#!/usr/bin/env bash
# tests/bench/bench_pipeline.sh - what a pipeline step costs: BENCH_GIB GiB
# `cat >>` a stream, until `flowctl sync` returns, with a `cat` step and
# without, in one mount, side by side (compress = none, a dir sink).
set -euo pipefail
cd "$(dirname "$0")/../.."
FLOWFS=$PWD/flowfs
FLOWCTL=$PWD/flowctl
GIB=${BENCH_GIB:-1}
tmp=$(mktemp -d /tmp/flowfs-bench-pipe.XXXXXX)
mnt=$tmp/mnt
mkdir -p "$mnt" "$tmp/out"
pid=
cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || true
	[ -n "$pid" ] && wait "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cat > "$tmp/flowfs.ini" <<INI
[flowfs]
spool = $tmp/spool
spool_max = $((GIB * 4 + 1))G
log = $tmp/flowfs.log
log_level = warn
[sink.out]
type = dir
path = $tmp/out
fsync = no
[transform.cat]
command = cat
[flow.plain]
sinks = out
compress = none
[flow.step]
sinks = out
compress = none
transforms = cat
INI
"$FLOWFS" "$tmp/flowfs.ini" "$mnt" -f & pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "bench_pipeline: mount failed"; cat "$tmp/flowfs.log"; exit 1; }
{ yes "$(head -c 99 /dev/zero | tr "\0" x)" || true; } | head -c $((GIB << 30)) > "$tmp/big.log"
cat "$tmp/big.log" > /dev/null
run() {	# FLOW: seconds from the first byte until sync returns
	local t0 t1
	t0=$(date +%s.%N)
	cat "$tmp/big.log" >> "$mnt/$1/x.log"
	"$FLOWCTL" sync "$mnt" --timeout 900 >/dev/null
	t1=$(date +%s.%N)
	rm -rf "${tmp:?}/out/$1"
	echo "$t1 - $t0" | bc -l
}
plain=$(run plain)
step=$(run step)
plain2=$(run plain)
step2=$(run step)
best() { echo "if ($1 < $2) $1 else $2" | bc -l; }
p=$(best "$plain" "$plain2") s=$(best "$step" "$step2")
r=$(echo "scale=2; $s / $p" | bc -l)
echo "flowfs pipeline bench ($(nproc) cores): $GIB GiB cat >> a stream until delivered (dir sink), best of 2"
printf '    no step           %6.2fs\n' "$p"
printf '    a cat step        %6.2fs   %sx (target <= 1.3x): %s\n' "$s" "$r" \
	"$(echo "$r <= 1.3" | bc -l | sed 's/1/MET/; s/0/NOT MET/')"
