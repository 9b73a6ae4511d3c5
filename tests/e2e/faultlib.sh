# tests/e2e/faultlib.sh - what the fault suite's scripts share (source it
# after lib.sh): an s3rver behind faultproxy.js, writers that keep copying
# files and appending lines while faults happen and record what was
# acknowledged, and the final check that every acknowledged file and line
# is in the bucket exactly once and byte-identical.
#
# FAULT_SECONDS sets how long each fault lasts (make check uses a short
# budget; make check-faults a longer one).

: "${FAULT_SECONDS:=6}"
PORT=$(free_ports 6)	# s3rver
PPORT=$((PORT + 1)) CPORT=$((PORT + 2))	# the proxy and its control port
PXPID=
proxy_start() {
	node tests/e2e/faultproxy.js $PPORT $CPORT $PORT >>"$TESTS_TMP/proxy.log" 2>&1 &
	PXPID=$!
	wait_for 10 curl -sf "http://127.0.0.1:$CPORT/mode?m=pass"
}
proxy_stop() { kill "$PXPID" 2>/dev/null; wait "$PXPID" 2>/dev/null; PXPID=; }
fault() {	# MODE [RATE]: on the S3 proxy and, if started, the webhook's
	curl -sf "http://127.0.0.1:$CPORT/mode?m=$1&rate=${2:-1}" >/dev/null
	[ -z "$HPXPID" ] || curl -sf "http://127.0.0.1:$HCPORT/mode?m=$1&rate=${2:-1}" >/dev/null
}

# A webhook receiver (receiver.js, recording into $RX) behind a proxy of its own.
RXPORT=$((PORT + 3)) HPPORT=$((PORT + 4)) HCPORT=$((PORT + 5))
RX=$TESTS_TMP/rx HPXPID=
hook_start() {	# the receiver and its proxy
	rx_start || return 1
	node tests/e2e/faultproxy.js $HPPORT $HCPORT $RXPORT >>"$TESTS_TMP/hproxy.log" 2>&1 &
	HPXPID=$!
	wait_for 10 curl -sf "http://127.0.0.1:$HCPORT/mode?m=pass"
}
hook_stop() { kill "$HPXPID" 2>/dev/null; wait "$HPXPID" 2>/dev/null; HPXPID=; rx_stop; }
trap 'touch "${D:-/nonexistent}/stop" 2>/dev/null; fs_cleanup; proxy_stop; s3_stop; hook_stop' EXIT

# fault_case NAME [EXTRA-INI]: a case whose flow web delivers to sink s3
# through the proxy, with short timeouts so that faults cost seconds.
fault_case() {
	new_case "$1"
	s3_cred
	sed -i 's/^part_size = 64K$/part_size = 5M/; s/^sinks = out$/sinks = s3/; s/^retry_max = 2s$/retry_max = 1s/' "$D/flowfs.ini"
	s3_sink s3 "http://127.0.0.1:$PPORT" "$1/" "connect_timeout = 2s
timeout = 3s
${2:-}"
	mkdir -p "$D/src"
	APPENDER=$TESTS_TMP/appender
	[ -x "$APPENDER" ] || cc -O2 -o "$APPENDER" tests/e2e/appender.c
}

# file_writer: copies new files into the flow until $D/stop exists; each
# file whose cp succeeded is listed in $D/acked, cp's complaints in $D/cp.err.  Every 40th is 6 MiB
# (a multipart upload); the others are 0-128 KiB.
file_writer() {
	local i=0 n size
	while [ ! -e "$D/stop" ]; do
		i=$((i + 1))
		n=r${WROUND}f$i.bin
		size=$(( i % 40 == 0 ? 6 * 1024 * 1024 : RANDOM * 4 ))
		head -c "$size" /dev/urandom > "$D/src/$n"
		if cp "$D/src/$n" "$D/mnt/web/$n" 2>>"$D/cp.err"; then
			echo "$n" >> "$D/acked"
		fi
		sleep 0.05
	done
}

# writers_start / writers_stop: one file writer, two line appenders
# (app.log) and one that writes each line in two halves (split.log); each
# start is a new round R whose names never repeat: files rRfN.bin, lines
# "rRwW N" with the acknowledged N in $D/ack.rRwW, and "rRs N ok" with
# $D/acks.rRs (see splitcheck.py).
writers_start() {
	rm -f "$D/stop"
	WROUND=$((${WROUND:-0} + 1))
	file_writer &
	WPIDS=$!
	for w in 1 2; do
		APPENDER_STOP=$D/stop APPENDER_DELAY_US=2000 "$APPENDER" "$D/mnt/web/app.log" "r${WROUND}w$w" 0 "$D/ack.r${WROUND}w$w" &
		WPIDS="$WPIDS $!"
	done
	APPENDER_SPLIT=1 APPENDER_STOP=$D/stop APPENDER_DELAY_US=2000 "$APPENDER" "$D/mnt/web/split.log" "r${WROUND}s" 0 "$D/acks.r${WROUND}s" &
	WPIDS="$WPIDS $!"
}
writers_stop() {
	touch "$D/stop"
	# shellcheck disable=SC2086
	wait $WPIDS 2>/dev/null
}

# check_delivered PREFIX: every acknowledged file is in the bucket under
# PREFIX/web/ byte-identical, and every acknowledged line of app.log is in
# its chunks exactly once (no line at all twice).  Sets WHY on failure.
check_delivered() {
	local p=$1 n bad=0 missing=0 keys
	WHY=
	keys=$(s3keys "$p/web/") || { WHY="cannot list the bucket"; return 1; }
	while IFS= read -r n; do
		[ -n "$n" ] || continue
		if ! grep -qx "$p/web/$n" <<<"$keys"; then
			missing=$((missing + 1))
		elif ! s3get "$p/web/$n" | cmp -s - "$D/src/$n"; then
			bad=$((bad + 1))
		fi
	done < "$D/acked"
	[ "$missing" = 0 ] && [ "$bad" = 0 ] || WHY="files: $missing missing, $bad different of $(wc -l < "$D/acked")"
	# a file whose cp failed never reaches the bucket, not even in part
	local partial
	partial=$(grep -E "^$p/web/r[0-9]+f[0-9]+\.bin\$" <<<"$keys" | sed "s|^$p/web/||" | grep -vxF -f "$D/acked" | head -n 3 | tr '\n' ' ')
	[ -z "$partial" ] || WHY="$WHY; files whose cp failed are in the bucket: $partial"
	: > "$D/lines"
	while IFS= read -r k; do
		s3get "$k" | gzip -dc >> "$D/lines" || WHY="$WHY; chunk $k is not valid gzip"
	done < <(grep '/app\.log-' <<<"$keys")
	local dup
	dup=$(sort "$D/lines" | uniq -d | head -n 3 | tr '\n' ' ')
	[ -z "$dup" ] || WHY="$WHY; lines twice: $dup"
	local a w lost
	for a in "$D"/ack.*; do
		w=${a##*/ack.}
		lost=$(comm -23 <(sed "s/^/$w /" "$a" | sort) <(grep "^$w " "$D/lines" | sort) | wc -l)
		[ "$lost" = 0 ] || WHY="$WHY; $w: $lost of $(wc -l < "$a") acknowledged lines missing"
	done
	rm -rf "$D/split" && mkdir "$D/split"
	while IFS= read -r k; do
		s3get "$k" > "$D/split/${k##*/}"
	done < <(grep '/split\.log-' <<<"$keys")
	a=$(python3 tests/e2e/splitcheck.py "$D" "$D"/split/*)
	[ -z "$a" ] || WHY="$WHY; split.log: $a"
	[ -z "$WHY" ]
}

# check_hook PREFIX: what the webhook received (answered 200), as a
# receiver that drops repeats by Idempotency-Key keeps it: every
# acknowledged file once and byte-identical, every acknowledged line once,
# and the repeats of a key all with one Idempotency-Key and the same bytes.
check_hook() {
	WHY=$(python3 - "$1" "$RX" "$D" <<'PY'
import glob, gzip, hashlib, json, os, sys
prefix, rx, d = sys.argv[1:4]
bykey = {}
for line in open(os.path.join(rx, "index.jsonl")):
    r = json.loads(line)
    if r["status"] != 200:
        continue
    h = r["headers"]
    body = open(os.path.join(rx, r["body"]), "rb").read()
    bykey.setdefault(h.get("x-flowfs-key"), []).append((h.get("idempotency-key"), body))
why = []
split = [k for k, v in bykey.items() if len({i for i, _ in v}) > 1 or len({b for _, b in v}) > 1]
if split:
    why.append("keys received under two idempotency keys or with other bytes: %s" % split[:3])
missing = bad = 0
acked = [l.strip() for l in open(os.path.join(d, "acked")) if l.strip()]
for n in acked:
    got = bykey.get("%s/web/%s" % (prefix, n))
    if not got:
        missing += 1
    elif got[0][1] != open(os.path.join(d, "src", n), "rb").read():
        bad += 1
if missing or bad:
    why.append("files: %d missing, %d different of %d" % (missing, bad, len(acked)))
lines = []
for k, v in bykey.items():
    if k and "/app.log-" in k:
        lines += gzip.decompress(v[0][1]).decode().splitlines()
seen = {}
for l in lines:
    seen[l] = seen.get(l, 0) + 1
twice = [l for l, c in seen.items() if c > 1]
if twice:
    why.append("lines twice: %s" % twice[:3])
for a in glob.glob(os.path.join(d, "ack.*")):
    w = a.rsplit("ack.", 1)[1]
    lost = sum(1 for n in open(a) if "%s %s" % (w, n.strip()) not in seen)
    if lost:
        why.append("%s: %d acknowledged lines missing" % (w, lost))
sys.path.insert(0, "tests/e2e")
from splitcheck import check
why += ["split.log: " + w for w in check([v[0][1] for k, v in bykey.items() if k and "/split.log-" in k], d)]
print("; ".join(why))
PY
)
	[ -z "$WHY" ]
}

# Threads and open fds of the daemon serving MNT.
daemon_threads() { ls "/proc/${FS_PID[$1]}/task" | wc -l; }
daemon_fds() { ls "/proc/${FS_PID[$1]}/fd" | wc -l; }

# probe_ms MNT: the slowest of ls, stat and cat .status on the mount, and
# of the read side's files (.health, .latest, .events, ls -R .time), in ms.
probe_ms() {
	local t0 t1 worst=0 ms
	for cmd in "ls $1/web" "stat $1/web" "cat $1/web/.status" "cat $1/.status" "cat $1/.health" \
		   "cat $1/web/.latest" "cat $1/web/.events" "ls -R $1/web/.time"; do
		t0=$(date +%s%N)
		$cmd >/dev/null 2>&1
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000000 ))
		[ "$ms" -gt "$worst" ] && worst=$ms
	done
	echo "$worst"
}

# sync_and_check SYNC-TEST CHECK-TEST PREFIX: flowctl sync, then every
# acknowledged file and line under PREFIX in the bucket exactly once.
sync_and_check() {
	if "$FLOWCTL" sync "$M" --timeout 180 >"$D/sync.out" 2>&1; then
		ok "$1"
	else
		fail "$1" "$(tail -5 "$D/sync.out")"
	fi
	if check_delivered "$3"; then
		ok "$2"
	else
		fail "$2" "$WHY"
	fi
}
