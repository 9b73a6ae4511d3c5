#!/usr/bin/env bash
# tests/bench/bench.sh - figures, not tests: flowfs beside local disk, same
# work, one run.  `make bench` runs it; BENCH_LINES / BENCH_GIB scale it down.
set -euo pipefail
cd "$(dirname "$0")/../.."
FLOWFS=$PWD/flowfs
FLOWCTL=$PWD/flowctl
LINES=${BENCH_LINES:-1000000}
GIB=${BENCH_GIB:-1}
tmp=$(mktemp -d /tmp/flowfs-bench.XXXXXX)
mnt=$tmp/mnt local=$tmp/local
mkdir -p "$mnt" "$local" "$tmp/out"
pid=
cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || true
	[ -n "$pid" ] && wait "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cc -O2 -o "$tmp/lines" tests/bench/lines.c

cat > "$tmp/flowfs.ini" <<INI
[flowfs]
spool = $tmp/spool
spool_max = $((GIB * 3 + 1))G
log = $tmp/flowfs.log
log_level = warn
[sink.out]
type = dir
path = $tmp/out
fsync = no
[flow.bench]
sinks = out
maxsize = 64M
compress = none
INI
"$FLOWFS" "$tmp/flowfs.ini" "$mnt" -f & pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "bench: mount failed"; cat "$tmp/flowfs.log"; exit 1; }

secs() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }

echo "flowfs bench ($(nproc) cores); ratios are flowfs / local disk, measured side by side"
echo
# (a) 10,000 `echo line >> FILE` from one shell loop
echo_loop() { for i in $(seq 10000); do echo "line $i" >> "$1"; done; }
la=$(secs echo_loop "$local/a.log")
fa=$(secs echo_loop "$mnt/bench/a.log")
printf '(a) 10,000 echo >> FILE:      local %6.2fs  flowfs %6.2fs  ratio %sx (target <= 10x)\n' "$la" "$fa" "$(ratio "$fa" "$la")"

# (b) one process, LINES lines of 100 bytes, one write() per line
read -r lb lbr < <("$tmp/lines" "$local/b.log" "$LINES" 100)
read -r fb fbr < <("$tmp/lines" "$mnt/bench/b.log" "$LINES" 100)
printf '(b) %d lines x 100 B:     local %6.2fs  flowfs %6.2fs  flowfs %.0f lines/s (target >= 250,000)\n' "$LINES" "$lb" "$fb" "$fbr"

# (c) cat of a GIB GiB log file >> a stream
{ yes "$(head -c 99 /dev/zero | tr "\0" x)" || true; } | head -c $((GIB << 30)) > "$tmp/big.log"
cat "$tmp/big.log" > /dev/null
lc=$(secs sh -c "cat '$tmp/big.log' >> '$local/c.log'")
fc=$(secs sh -c "cat '$tmp/big.log' >> '$mnt/bench/c.log'")
lmb=$(echo "$GIB * 1024 / $lc" | bc -l); fmb=$(echo "$GIB * 1024 / $fc" | bc -l)
printf '(c) cat %d GiB >> stream:      local %6.0f MB/s  flowfs %6.0f MB/s  %s%% of local (target >= 50%%)\n' \
	"$GIB" "$lmb" "$fmb" "$(echo "scale=0; 100 * $fmb / $lmb" | bc -l)"
rm -f "$tmp/big.log"
t0=$(date +%s.%N)
"$FLOWCTL" sync "$mnt" --timeout 600 >/dev/null
printf '    flowctl sync after the runs:  %.2fs\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)"
printf 'daemon peak RSS: %d MiB (target <= 64 MiB)\n' "$(( $(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024 ))"
