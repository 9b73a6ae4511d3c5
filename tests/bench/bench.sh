#!/usr/bin/env bash
# tests/bench/bench.sh - figures, not tests: flowfs beside local disk and a
# null FUSE file system (tests/bench/nullfs.c: every write accepted and
# dropped, the ceiling of FUSE on this kernel), same work, one run; then
# compression beside gzip and zstd, and issue 15's targets, MET or NOT MET.
# `make bench` runs it; BENCH_LINES / BENCH_GIB scale it down.
set -euo pipefail
cd "$(dirname "$0")/../.."
FLOWFS=$PWD/flowfs
FLOWCTL=$PWD/flowctl
LINES=${BENCH_LINES:-1000000}
GIB=${BENCH_GIB:-1}
LEVEL=6		# compress_level of the gz and zst flows, and of gzip and zstd
tmp=$(mktemp -d /tmp/flowfs-bench.XXXXXX)
mnt=$tmp/mnt local=$tmp/local nd=$tmp/null-direct nw=$tmp/null-wb
mkdir -p "$mnt" "$local" "$tmp/out" "$nd" "$nw"
pid= npids=()
cleanup() {
	for m in "$mnt" "$nd" "$nw"; do fusermount3 -u "$m" 2>/dev/null || true; done
	[ -n "$pid" ] && wait "$pid" 2>/dev/null || true
	for p in "${npids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cc -O2 -o "$tmp/lines" tests/bench/lines.c
cc -O2 -o "$tmp/loggen" tests/bench/loggen.c
cc -O2 -o "$tmp/nullfs" tests/bench/nullfs.c $(pkg-config --cflags --libs fuse3)
cc -O2 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread -o "$tmp/compress" tests/bench/compress.c \
	libflowfs.a $(pkg-config --libs libcrypto zlib liblzma libzstd) -lbz2

cat > "$tmp/flowfs.ini" <<INI
[flowfs]
spool = $tmp/spool
spool_max = $((GIB * 4 + 1))G
retain = 1s
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
[flow.fast]
sinks = out
maxsize = 64M
compress = none
durability = close
[flow.gz]
sinks = out
maxsize = 256M
compress = gz
compress_level = $LEVEL
[flow.zst]
sinks = out
maxsize = 256M
compress = zst
compress_level = $LEVEL
INI
wait_mount() {	# MNT PID LOG
	for _ in $(seq 100); do mountpoint -q "$1" && return 0; kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	echo "bench: mount of $1 failed"; cat "$3" 2>/dev/null; exit 1
}
"$FLOWFS" "$tmp/flowfs.ini" "$mnt" -f & pid=$!
wait_mount "$mnt" "$pid" "$tmp/flowfs.log"
# libfuse 3.14's fuse_main() warns of its own default max_threads: not ours
"$tmp/nullfs" "$nd" direct 2>/dev/null & npids+=($!)
wait_mount "$nd" "${npids[-1]}" /dev/null
"$tmp/nullfs" "$nw" writeback 2>/dev/null & npids+=($!)
wait_mount "$nw" "${npids[-1]}" /dev/null

secs() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
verdicts=()
# target NAME FIGURE OP LIMIT TEXT: MET when FIGURE OP LIMIT (OP is >= or <=)
target() {
	local v
	if [ "$(echo "$2 $3 $4" | bc -l)" = 1 ]; then v=MET; else v="NOT MET"; fi
	printf '    target %s: %s (%s)\n' "$1" "$v" "$5"
	verdicts+=("$(printf '%-8s %s: %s' "$v" "$1" "$5")")
}

echo "flowfs bench ($(nproc) cores); ratios are flowfs / local disk and flowfs / null FUSE, side by side"
echo "null FUSE: every write dropped; 'direct' is direct_io as flowfs streams, 'wb' the kernel writeback cache"
echo
# (a) 10,000 `echo line >> FILE` from one shell loop
echo_loop() { for i in $(seq 10000); do echo "line $i" >> "$1"; done; }
la=$(secs echo_loop "$local/a.log")
fa=$(secs echo_loop "$mnt/bench/a.log")
na=$(secs echo_loop "$nd/a.log")
printf '(a) 10,000 echo >> FILE:   local %6.2fs  flowfs %6.2fs  null direct %6.2fs\n' "$la" "$fa" "$na"
printf '    flowfs time / local %sx, / null %sx\n' "$(ratio "$fa" "$la")" "$(ratio "$fa" "$na")"
target "(a) echo loop <= 10x local" "$fa" "<=" "10 * $la" "$(ratio "$fa" "$la")x local"

# (b) one process, LINES lines of 100 bytes, one write() per line
read -r lb lbr < <("$tmp/lines" "$local/b.log" "$LINES" 100)
read -r fb fbr < <("$tmp/lines" "$mnt/bench/b.log" "$LINES" 100)
read -r nb nbr < <("$tmp/lines" "$nd/b.log" "$LINES" 100)
read -r wb wbr < <("$tmp/lines" "$nw/b.log" "$LINES" 100)
printf '(b) %d lines x 100 B, one write() each (lines/s):\n' "$LINES"
printf '    local %9.0f  flowfs %9.0f  null direct %9.0f  null wb %9.0f\n' "$lbr" "$fbr" "$nbr" "$wbr"
printf '    flowfs / local %s, / null direct %s, / null wb %s\n' \
	"$(ratio "$fbr" "$lbr")" "$(ratio "$fbr" "$nbr")" "$(ratio "$fbr" "$wbr")"
target "(b) >= 250,000 lines/s" "$fbr" ">=" 250000 "$(printf '%.0f' "$fbr") lines/s; null direct $(printf '%.0f' "$nbr")"

# (e) the same through a durability = close flow (the writeback cache),
# beside null FUSE with the writeback cache
read -r fe fer < <("$tmp/lines" "$mnt/fast/e.log" "$LINES" 100)
printf '(e) %d lines x 100 B, durability = close (lines/s):\n' "$LINES"
printf '    local %9.0f  flowfs %9.0f  null wb %9.0f  (durability = write: %.0f)\n' \
	"$lbr" "$fer" "$wbr" "$fbr"
printf '    flowfs / local %s, / null wb %s; close / write %s\n' \
	"$(ratio "$fer" "$lbr")" "$(ratio "$fer" "$wbr")" "$(ratio "$fer" "$fbr")"
target "(e) durability = close >= 70% of local" "$fer" ">=" "0.7 * $lbr" \
	"$(echo "scale=0; 100 * $fer / $lbr" | bc -l)% of local; null wb $(echo "scale=0; 100 * $wbr / $lbr" | bc -l)%"

# (c) cat of a GIB GiB log file >> a stream, compress = none.  The file is
# access-log lines (tests/bench/loggen.c), read once so it is in the page
# cache; (d) compresses the same file.
"$tmp/loggen" $((GIB << 30)) > "$tmp/big.log"
cat "$tmp/big.log" > /dev/null
mb() { echo "$GIB * 1024 / $1" | bc -l; }
lc=$(secs sh -c "cat '$tmp/big.log' >> '$local/c.log'")
rm -f "$local/c.log"
fc=$(secs sh -c "cat '$tmp/big.log' >> '$mnt/bench/c.log'")
nc=$(secs sh -c "cat '$tmp/big.log' >> '$nd/c.log'")
wc_=$(secs sh -c "cat '$tmp/big.log' >> '$nw/c.log'")
lmb=$(mb "$lc") fmb=$(mb "$fc") nmb=$(mb "$nc") wmb=$(mb "$wc_")
printf '(c) cat %d GiB >> stream (MiB/s): local %6.0f  flowfs %6.0f  null direct %6.0f  null wb %6.0f\n' \
	"$GIB" "$lmb" "$fmb" "$nmb" "$wmb"
printf '    flowfs / local %s, / null direct %s, / null wb %s\n' \
	"$(ratio "$fmb" "$lmb")" "$(ratio "$fmb" "$nmb")" "$(ratio "$fmb" "$wmb")"
target "(c) cat >> stream, compress=none >= 80% of local" "$fmb" ">=" "0.8 * $lmb" \
	"$(echo "scale=0; 100 * $fmb / $lmb" | bc -l)% of local"
t0=$(date +%s.%N)
"$FLOWCTL" sync "$mnt" --timeout 600 >/dev/null
printf '    flowctl sync after (a)-(c):  %.2fs\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)"

# (d) the same file through a flow with compress = gz and one with zst,
# maxsize 256M so that the GiB is several chunks and sealing overlaps the
# writing: from the start of cat until flowctl sync returns (sealed,
# compressed, delivered to the dir sink), beside gzip and zstd on the file
# and compress_fd() (cache/compress.c) alone, on one core and on all.
echo
flow_secs() {	# FLOW: cat >> a stream of it, then sync
	local t0=$(date +%s.%N)
	cat "$tmp/big.log" >> "$mnt/$1/x.log"
	"$FLOWCTL" sync "$mnt" --timeout 1200 >/dev/null
	echo "$(date +%s.%N) - $t0" | bc -l
}
cfd() { "$@" "$tmp/big.log" "$kind" "$LEVEL" | cut -d' ' -f1; }	# compress_fd seconds
printf '(d) %d GiB of log lines, level %d (MiB/s; ratio: x the reference tool)\n' "$GIB" "$LEVEL"
gz_s=$(secs sh -c "gzip -$LEVEL < '$tmp/big.log' > /dev/null")
kind=gz; gz1=$(cfd taskset -c 0 "$tmp/compress"); gzn=$(cfd "$tmp/compress")
fgz=$(flow_secs gz)
printf '    gzip -%d          %6.1f   1.00x\n' "$LEVEL" "$(mb "$gz_s")"
printf '    compress_fd gz   1 core %6.1f  %sx   all cores %6.1f  %sx\n' "$(mb "$gz1")" "$(ratio "$gz_s" "$gz1")" \
	"$(mb "$gzn")" "$(ratio "$gz_s" "$gzn")"
printf '    flowfs gz        %6.1f   %sx   (cat until flowctl sync returns: %.2fs)\n' "$(mb "$fgz")" \
	"$(ratio "$gz_s" "$fgz")" "$fgz"
target "(d) gz stream >= 1.7x gzip -$LEVEL" "$gz_s" ">=" "1.7 * $fgz" "$(ratio "$gz_s" "$fgz")x gzip"
zst_s=$(secs sh -c "zstd -q -T0 -$LEVEL < '$tmp/big.log' > /dev/null")
kind=zst; zst1=$(cfd taskset -c 0 "$tmp/compress"); zstn=$(cfd "$tmp/compress")
fzst=$(flow_secs zst)
printf '    zstd -T0 -%d      %6.1f   1.00x\n' "$LEVEL" "$(mb "$zst_s")"
printf '    compress_fd zst  1 core %6.1f  %sx   all cores %6.1f  %sx\n' "$(mb "$zst1")" \
	"$(ratio "$zst_s" "$zst1")" "$(mb "$zstn")" "$(ratio "$zst_s" "$zstn")"
printf '    flowfs zst       %6.1f   %sx   (cat until flowctl sync returns: %.2fs)\n' "$(mb "$fzst")" \
	"$(ratio "$zst_s" "$fzst")" "$fzst"
target "(d) zst stream within 1.3x of zstd -T0" "$fzst" "<=" "1.3 * $zst_s" \
	"$(ratio "$fzst" "$zst_s")x the time of zstd -T0"
rm -f "$tmp/big.log"
echo
rss=$(( $(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024 ))
printf 'daemon peak RSS: %d MiB\n' "$rss"
target "RSS <= 64 MiB" "$rss" "<=" 64 "$rss MiB"
echo
echo "targets (issue 15):"
printf '  %s\n' "${verdicts[@]}"
