# tests/e2e/lib.sh - helpers for the end-to-end tests (source it).
#
# Each case gets a fresh directory with a spool, a sink directory and a
# mountpoint; daemons run in the foreground (-f) with their log in
# $D/log, and every mount is undone and every daemon reaped on any exit.
# Results are printed as "ok - NAME", "FAIL - NAME: why" or "SKIP - ...".

set -u
: "${FLOWFS:?FLOWFS must name the flowfs binary}"
: "${FLOWCTL:=$(dirname "$FLOWFS")/flowctl}"
: "${TESTS_TMP:=$(mktemp -d /tmp/flowfs-test.XXXXXX)}"
declare -A FS_PID=()	# mountpoint -> daemon pid

ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1: $2"; [ -n "${D:-}" ] && [ -f "$D/log" ] && sed 's/^/    | /' "$D/log" | tail -n 15; return 0; }
skip() { echo "SKIP - $1: $2"; }

need_fuse() {	# SCRIPT
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		skip "$1" "no /dev/fuse or fusermount3 here"
		exit 0
	fi
}

# wait_for SECONDS CMD... : polls CMD every 0.1 s; false on timeout.
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@" >/dev/null 2>&1
}

# wait_eq SECONDS WANT SHELL-COMMAND: polls until the command prints WANT.
wait_eq() {
	wait_for "$1" sh -c "[ \"\$($3)\" = '$2' ]"
}

# free_ports N: prints a base port such that base .. base+N-1 are unused,
# below the kernel's ephemeral range (where client connections could take
# them between this check and a server's listen()).
free_ports() {
	local lo hi base used i clash
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
	for _ in $(seq 50); do
		base=$((20000 + RANDOM % (lo - 20000 - $1)))
		clash=
		for ((i = 0; i < $1; i++)); do
			grep -qx "$((base + i))" <<<"$used" && clash=yes && break
		done
		[ -z "$clash" ] && { echo "$base"; return 0; }
	done
	echo "$base"
}

# new_case NAME: a fresh $D with spool/, out/, mnt/ and a default $D/flowfs.ini.
new_case() {
	D=$TESTS_TMP/$1
	rm -rf "$D"
	mkdir -p "$D/out" "$D/mnt"
	fs_config "$D/flowfs.ini" <<INI
[flowfs]
spool = $D/spool
log = stderr
log_level = debug
part_size = 64K
retry_max = 2s
drain_timeout = 3s
sinks = out
${GLOBAL_EXTRA:-}
[sink.out]
type = dir
path = $D/out
[flow.web]
sinks = out
${FLOW_EXTRA:-}
INI
}

fs_config() { cat > "$1"; }

# fs_mount CONFIG MNT [ARGS...]: starts the daemon and waits for the mount.
fs_mount() {
	local cfg=$1 mnt=$2 pid
	shift 2
	"$FLOWFS" "$cfg" "$mnt" -f "$@" 2>>"$D/log" &
	pid=$!
	FS_PID[$mnt]=$pid
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$pid" 2>/dev/null || { echo "    daemon exited early" >&2; return 1; }
		sleep 0.1
	done
	echo "    mount did not appear in 10 s" >&2
	return 1
}

# fs_umount MNT: unmounts and returns the daemon's exit status.
fs_umount() {
	local mnt=$1 pid=${FS_PID[$1]:-} rc=0
	fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
	if [ -n "$pid" ]; then
		wait "$pid" 2>/dev/null
		rc=$?
		unset "FS_PID[$mnt]"
	fi
	return $rc
}

fs_kill9() {
	local mnt=$1 pid=${FS_PID[$1]:-}
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "$pid" ] && wait "$pid" 2>/dev/null
	unset "FS_PID[$mnt]"
	fusermount3 -uz "$mnt" 2>/dev/null || true
}

fs_cleanup() {
	local m
	for m in "${!FS_PID[@]}"; do
		fusermount3 -uz "$m" 2>/dev/null
		kill "${FS_PID[$m]}" 2>/dev/null
		wait "${FS_PID[$m]}" 2>/dev/null
	done
	return 0
}
trap fs_cleanup EXIT

# strace_on PID ARGS...: strace -f -p PID ARGS (an inject) in the background,
# its pid in SPID; returns once every thread of PID is traced.  strace_off
# ends it.  (fd 5 is not passed on: a held stream fd would outlive its close.)
strace_on() {
	local pid=$1
	shift
	strace -f -qq -o /dev/null -p "$pid" "$@" 5>&- &
	SPID=$!
	wait_for 10 traced "$pid"
	sleep 0.2
}
traced() { ! grep -q '^TracerPid:[[:space:]]*0$' /proc/"$1"/task/*/status; }
strace_off() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }

state() { getfattr --only-values -n user.flowfs.state "$1" 2>/dev/null; }
is_state() { [ "$(state "$1")" = "$2" ]; }
same() { cmp -s "$1" "$2"; }

# log_clean: the daemon logged no error lines (except ones matching $1).
log_clean() {
	! grep ' error \[' "$D/log" | grep -v -E "${1:-^$}" | grep -q .
}

# corrupt_spooled NAME ENDPOINT-KEY DOWN UP: with the sink unreachable (the
# line "ENDPOINT-KEY = DOWN" in the config), copies 200 KB of random bytes
# ($D/c.bin) into the flow as NAME, waits for the first failed attempt,
# flips one byte of the spool's data file, then mounts again with
# "ENDPOINT-KEY = UP" and `flowctl retry`; returns once NAME is failed (its
# part no longer matches its SHA-256) or after 15 s.
corrupt_spooled() {
	local name=$1 key=$2 down=$3 up=$4 f
	sed -i "s|^$key = .*|$key = $down|" "$D/flowfs.ini"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	head -c 200000 /dev/urandom > "$D/c.bin"
	cp "$D/c.bin" "$D/mnt/web/$name"
	wait_for 15 grep -q 'retrying in' "$D/log"
	fs_umount "$D/mnt"
	f=$(ls "$D/spool/data/" | head -1)
	printf 'X' | dd of="$D/spool/data/$f" bs=1 seek=1000 conv=notrunc status=none
	sed -i "s|^$key = .*|$key = $up|" "$D/flowfs.ini"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	"$FLOWCTL" retry "$D/mnt" >/dev/null
	wait_for 15 is_state "$D/mnt/web/$name" failed
}

# kill9_mid_upload MIB: mounts $D/flowfs.ini, copies MIB MiB of random bytes
# (kept in $D/big) into web/big, kills the daemon once the sink has
# confirmed two parts, remounts and syncs.  Sets SAVED to the number of
# parts the spool had recorded at the kill.
kill9_mid_upload() {
	local parts="sqlite3 '$D/spool/flowfs.db' 'SELECT count(*) FROM part_ids' 2>/dev/null"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	head -c $(($1 * 1024 * 1024)) /dev/urandom > "$D/big"
	cp "$D/big" "$D/mnt/web/big"
	wait_for 60 sh -c "[ \$($parts || echo 0) -ge 2 ]"
	SAVED=$(sh -c "$parts")
	fs_kill9 "$D/mnt"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	"$FLOWCTL" sync "$D/mnt" --timeout 120 >/dev/null
}

proc_stop() {	# PID: stops a server of the tests, also one stopped with SIGSTOP
	[ -n "$1" ] || return 0
	kill -CONT "$1" 2>/dev/null
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# --- s3rver (npm, pinned in tests/package.json) on 127.0.0.1:$PORT, bucket
# bkt, data in $TESTS_TMP/s3data; a script sets PORT (free_ports) first.
S3RVER=tests/node_modules/s3rver/bin/s3rver.js
S3PID=
need_s3rver() {	# SCRIPT: skips the script when s3rver or node is missing
	if [ ! -f "$S3RVER" ] || ! command -v node >/dev/null; then
		skip "$1" "s3rver is not installed (npm ci --prefix tests)"
		exit 0
	fi
}
s3_start() {
	mkdir -p "$TESTS_TMP/s3data"
	node --openssl-legacy-provider "$S3RVER" -d "$TESTS_TMP/s3data" -a 127.0.0.1 -p "$PORT" \
		--configure-bucket bkt >>"$TESTS_TMP/s3rver.log" 2>&1 &
	S3PID=$!
	wait_for 15 curl -sf "http://127.0.0.1:$PORT/"
}
s3_stop() { proc_stop "$S3PID"; S3PID=; }
s3get() {	# KEY: the object, fetched with a SigV4-signed GET
	curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$PORT/bkt/$1"
}
s3keys() {	# PREFIX: every key under it (s3rver lists 1,000 at a time)
	local marker= page
	while :; do
		page=$(curl -sf "http://127.0.0.1:$PORT/bkt?prefix=$1&max-keys=1000&marker=$marker") || return 1
		grep -o '<Key>[^<]*</Key>' <<<"$page" | sed 's/<[^>]*>//g'
		grep -q '<IsTruncated>true</IsTruncated>' <<<"$page" || break
		marker=$(grep -o '<Key>[^<]*</Key>' <<<"$page" | tail -n 1 | sed 's/<[^>]*>//g')
	done
}
s3_cred() {	# [SECRET]: $D/cred, a 0600 credentials file for s3rver's key
	printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = %s\n' "${1:-S3RVER}" > "$D/cred"
	chmod 600 "$D/cred"
}
s3_sink() {	# NAME ENDPOINT PREFIX [EXTRA-LINES]: appends [sink.NAME] to $D/flowfs.ini
	cat >> "$D/flowfs.ini" <<INI
[sink.$1]
type = s3
bucket = bkt
endpoint = $2
path_style = yes
credentials = $D/cred
prefix = $3
${4:-}
INI
}

# --- the tests' webhook receiver (receiver.js) on 127.0.0.1:$RXPORT,
# recording every request into $RX; a script sets RXPORT and RX first.
RXPID=
rx_start() {	# [N]: waits for its N-th "listening" line (N > 1 after restarts)
	node tests/e2e/receiver.js "$RXPORT" "$RX" >>"$TESTS_TMP/rx.log" 2>&1 &
	RXPID=$!
	wait_for 10 sh -c "grep -c 'listening $RXPORT' '$TESTS_TMP/rx.log' | grep -qx '${1:-1}'"
}
rx_stop() { proc_stop "$RXPID"; RXPID=; }
