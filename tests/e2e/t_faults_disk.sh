# Fault suite, disk full and I/O errors in the daemon:
# - the spool on a small tmpfs (the file system fills long before
#   spool_max) while the sink is unreachable: writers get ENOSPC, nothing
#   acknowledged is lost, and writing resumes without a restart once
#   delivery frees space;
# - errors injected into the daemon's own system calls with strace
#   (fdatasync, pwrite64, rename -> EIO): the writer gets the error, the
#   daemon acknowledges nothing it did not store, and it recovers once the
#   errors stop.
. tests/e2e/lib.sh
. tests/e2e/faultlib.sh
need_fuse t_faults_disk
need_s3rver t_faults_disk
s3_start || { fail faults_s3_server "s3rver did not start"; exit 0; }
proxy_start || { fail faults_proxy "faultproxy did not start"; exit 0; }

# --- a full spool file system
GLOBAL_EXTRA="spool_max = 10G" fault_case diskfull
mkdir -p "$D/spool"
if ! mount -t tmpfs -o size=24m tmpfs "$D/spool" 2>/dev/null; then
	skip faults_disk_full "cannot mount a tmpfs here"
else
	trap 'touch "$D/stop"; fs_cleanup; umount -l "$D/spool" 2>/dev/null; proxy_stop; s3_stop' EXIT
	M=$D/mnt
	fs_mount "$D/flowfs.ini" "$M" || { fail faults_disk_mount "no mount"; exit 0; }
	fault refuse
	writers_start
	wait_for 60 sh -c "[ \$(grep -c 'No space left' '$D/cp.err' 2>/dev/null || echo 0) -ge 3 ]"
	full_errs=$(grep -c . "$D/cp.err" 2>/dev/null || echo 0)
	other=$(grep -v 'No space left' "$D/cp.err" 2>/dev/null | head -n 2)
	alive=yes
	kill -0 "${FS_PID[$M]}" 2>/dev/null && ls "$M/web" >/dev/null || alive=no
	n_before=$(wc -l < "$D/acked")
	# Not a byte left, not even in the database's WAL: a reader holds a
	# snapshot (so the WAL cannot start over), a file takes the free space
	# and another connection commits padding until nothing more fits.  Both
	# stop as soon as the daemon gives up its reserve, which is for it
	# alone.  The outcomes of the deliveries below must still be recorded:
	# only that frees their data.
	python3 - "$D/spool" "$D/unpin" "$D/pinned" <<'PY' &
import os, sqlite3, sys, time
spool, unpin, pinned = sys.argv[1:4]
def reserve_kept():
    try:
        return os.stat(spool + "/flowfs.reserve").st_blocks > 0
    except FileNotFoundError:	# a daemon without one
        return True
pin = sqlite3.connect(spool + "/flowfs.db", isolation_level=None, timeout=30)
pin.execute("BEGIN")
pin.execute("SELECT count(*) FROM deliveries").fetchone()
why = "the reserve was given up"
try:
    with open(spool + "/filler", "wb") as f:
        while reserve_kept():
            f.write(b"\0" * 16384)
            f.flush()
except OSError as e:
    why = str(e)
pad = sqlite3.connect(spool + "/flowfs.db", isolation_level=None, timeout=30)
try:
    pad.execute("CREATE TABLE IF NOT EXISTS test_pad(x BLOB)")
    while reserve_kept():
        pad.execute("INSERT INTO test_pad VALUES (zeroblob(4096))")
except sqlite3.OperationalError as e:
    why += "; " + str(e)
open(pinned, "w").write(why)
while not os.path.exists(unpin):
    time.sleep(0.1)
PY
	PIN=$!
	wait_for 30 test -s "$D/pinned"
	# the sink is still away: recording its retries needs the reserve
	wait_for 30 grep -q 'reserve is given to recording' "$D/log" && reserve=yes || reserve=no
	# while it lasts, .status and flowctl status say so
	wait_for 5 sh -c "[ \$(jq -r .spool.disk_full '$M/.status') = true ] &&
		'$FLOWCTL' status '$M' | grep -q 'file system is full; writes get ENOSPC'" && full_shown=true ||
		full_shown="no ($(jq -c .spool "$M/.status"))"
	: > "$TESTS_TMP/proxy.log"
	fault pass
	sleep 2
	touch "$D/unpin"
	wait "$PIN"
	# delivery frees space; the same writers go on without a restart
	wait_for 90 sh -c "[ \$(wc -l < '$D/acked') -ge $((n_before + 20)) ]"
	n_after=$(wc -l < "$D/acked")
	writers_stop
	# a delivery the db could not mark in flight was not sent at all
	most=$(awk '$2 == "PUT" { n[$3]++ } END { m = 0; for (k in n) if (n[k] > m) m = n[k]; print m }' "$TESTS_TMP/proxy.log")
	if [ "$reserve" = yes ] && [ "${most:-0}" -le 3 ] && [ "$full_shown" = true ]; then
		ok faults_disk_full_db_full_reserve
	else
		fail faults_disk_full_db_full_reserve "reserve given up: $reserve; most PUTs of one key: $most; disk_full in .status: $full_shown"
	fi
	if [ "$full_errs" -ge 3 ] && [ -z "$other" ] && [ "$alive" = yes ]; then
		ok faults_disk_full_gives_enospc
	else
		fail faults_disk_full_gives_enospc "$full_errs cp errors (other: $other), daemon alive: $alive"
	fi
	[ "$n_after" -ge $((n_before + 20)) ] && ok faults_disk_full_resumes_without_restart ||
		fail faults_disk_full_resumes_without_restart "$n_before files acknowledged before, $n_after after"
	if "$FLOWCTL" sync "$M" --timeout 120 >/dev/null && check_delivered diskfull &&
	   wait_for 10 sh -c "[ \$(jq -r .spool.disk_full '$M/.status') = false ]"; then
		ok faults_disk_full_nothing_acknowledged_lost
	else
		fail faults_disk_full_nothing_acknowledged_lost "$WHY"
	fi
	echo "    $full_errs ENOSPC; $n_after files, $(cat "$D"/ack.* | wc -l) lines and $(cat "$D"/acks.* | grep -c -- "-$") split lines begun acknowledged"
	# the test's own leftovers: the filler and the padding rows
	rm -f "$D/spool/filler"
	sqlite3 "$D/spool/flowfs.db" "DROP TABLE IF EXISTS test_pad" 2>/dev/null
	fs_umount "$M"
	umount -l "$D/spool"
fi

# --- injected I/O errors
if ! command -v strace >/dev/null || ! strace -o /dev/null -e inject=getpid:error=EIO true 2>/dev/null; then
	skip faults_inject "strace with syscall injection is not available"
	exit 0
fi
fault_case inject
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M" || { fail faults_inject_mount "no mount"; exit 0; }
pid=${FS_PID[$M]}
inject() {	# SYSCALL: EIO from every call of it in the daemon, until inject_stop
	strace_on "$pid" -e trace="$1" -e inject="$1":error=EIO
}
inject_stop() { strace_off; sleep 0.5; }
fsync_write() {	# FILE: write 64 KiB and fsync; prints the errno name or "ok"
	python3 - "$1" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * 65536)
    os.fsync(fd)
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
PY
}

inject fdatasync
r1=$(fsync_write "$M/web/synced1.bin")
inject_stop
r2=$(fsync_write "$M/web/synced2.bin")
[ "$r1" = EIO ] && [ "$r2" = ok ] && ok faults_inject_fsync_error_reaches_writer ||
	fail faults_inject_fsync_error_reaches_writer "fsync under injection: $r1, after: $r2"

head -c 300000 /dev/urandom > "$D/src/ok1.bin"
head -c 300000 /dev/urandom > "$D/src/bad.bin"
head -c 300000 /dev/urandom > "$D/src/ok2.bin"
# ok1's delivery hangs on a stalled sink while the daemon's writes fail, so
# its outcome (a timeout) cannot be recorded at first: it must be kept and
# written once the errors stop
fault stall
cp "$D/src/ok1.bin" "$M/web/ok1.bin"
wait_for 20 grep -q 'PUT /bkt/inject/web/ok1.bin stalled' "$TESTS_TMP/proxy.log"
inject pwrite64
if cp "$D/src/bad.bin" "$M/web/bad.bin" 2>"$D/bad.err"; then
	cp_under=ok
else
	cp_under=$(head -c 200 "$D/bad.err")
fi
wait_for 20 grep -q 'ok1.bin: PUT.*retrying' "$D/log"	# timed out (timeout = 3s)
fault pass
inject_stop
wait_for 10 grep -q 'is recorded now' "$D/log" && kept=yes || kept=no
cp "$D/src/ok2.bin" "$M/web/ok2.bin" && cp_after=ok || cp_after=failed
"$FLOWCTL" sync "$M" --timeout 60 >"$D/sync.out" 2>&1 && synced=yes || synced="no: $(tail -n 2 "$D/sync.out")"
same=yes
for f in ok1 ok2; do s3get "inject/web/$f.bin" | cmp -s - "$D/src/$f.bin" || same="no ($f)"; done
# bad.bin, whose cp failed, is never delivered, not even in part
s3get inject/web/bad.bin >/dev/null && bad_sent=yes || bad_sent=no
if [ "$cp_under" != ok ] && [ "$cp_after" = ok ] && [ "$same" = yes ] && [ "$bad_sent" = no ] &&
   [ "$synced" = yes ] && [ "$kept" = yes ] && kill -0 "$pid" 2>/dev/null; then
	ok faults_inject_write_error_then_recovers
else
	fail faults_inject_write_error_then_recovers "cp under injection: $cp_under; after: $cp_after; identical: $same; bad.bin in the bucket: $bad_sent; synced: $synced; outcome kept and recorded: $kept"
fi

# a file created and half written, whose next write fails (EIO): failed
# with the reason, never delivered, and it reads back what was stored
python3 - "$M/web/half.bin" "$D/half.ready" "$D/half.go" > "$D/half.out" <<'PY' &
import os, sys, time
path, ready, go = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"a" * 65536)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
try:
    os.write(fd, b"b" * 65536)
    print("written")
except OSError as e:
    print(e.strerror)
os.close(fd)
PY
HALF=$!
wait_for 10 test -e "$D/half.ready"
inject pwrite64
touch "$D/half.go"
wait "$HALF"
inject_stop
wait_for 10 is_state "$M/web/half.bin" failed
half_state=$(state "$M/web/half.bin")
half_err=$(getfattr --only-values -n user.flowfs.error "$M/web/half.bin" 2>/dev/null)
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
s3get inject/web/half.bin >/dev/null && half_sent=yes || half_sent=no
half_read=$(cmp "$M/web/half.bin" <(head -c 65536 /dev/zero | tr '\0' a) 2>&1) && half_read=yes ||
	half_read="no ($half_read; size $(stat -c %s "$M/web/half.bin" 2>&1))"
if [ "$(cat "$D/half.out")" = "Input/output error" ] && [ "$half_state" = failed ] &&
   grep -q 'a write failed: Input/output error' <<<"$half_err" && [ "$half_sent" = no ] && [ "$half_read" = yes ]; then
	ok faults_inject_write_eio_fails_file
else
	fail faults_inject_write_eio_fails_file "second write: $(cat "$D/half.out"); state $half_state; error '$half_err'; in the bucket: $half_sent; reads back its first 64 KiB: $half_read"
fi
echo "    cp under pwrite64 EIO: $cp_under"

# an rm the database cannot record fails and removes nothing: the file stays
# listed with its data and is delivered once the sink is back
head -c 100000 /dev/urandom > "$D/src/kept.bin"
fault refuse
cp "$D/src/kept.bin" "$M/web/kept.bin"
inject pwrite64
rm "$M/web/kept.bin" 2>/dev/null && rm_under=removed || rm_under=refused
inject_stop
[ -e "$M/web/kept.bin" ] && listed=yes || listed=no
fault pass
"$FLOWCTL" sync "$M" --timeout 60 >/dev/null 2>&1 && s3get inject/web/kept.bin | cmp -s - "$D/src/kept.bin" &&
	kept=yes || kept=no
[ "$rm_under" = refused ] && [ "$listed" = yes ] && [ "$kept" = yes ] && ok faults_inject_rm_refused_keeps_file ||
	fail faults_inject_rm_refused_keeps_file "rm under injection: $rm_under; still listed: $listed; delivered identical: $kept"
fs_umount "$M" && ok faults_inject_clean_unmount || fail faults_inject_clean_unmount "exit status $?"

# --- rename fails: the packer's compressed chunk and the dir sink's temp
# file cannot be put in place; both are tried again, nothing is failed
FLOW_EXTRA="compress = gz" new_case renames
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M" || { fail faults_inject_mount "no mount"; exit 0; }
pid=${FS_PID[$M]}
head -c 200000 /dev/urandom > "$D/f.bin"
inject rename,renameat,renameat2
seq 1 500 | sed 's/^/line /' >> "$M/web/r.log"
cp "$D/f.bin" "$M/web/f.bin"
"$FLOWCTL" rotate "$M" >/dev/null
wait_for 20 grep -q 'cannot seal.*trying again' "$D/log" && packer_hit=yes || packer_hit=no
wait_for 20 grep -q 'f.bin: rename temp file' "$D/log" && sink_hit=yes || sink_hit=no
inject_stop
"$FLOWCTL" sync "$M" --timeout 60 >"$D/sync.out" 2>&1 && synced=yes || synced="no: $(tail -n 2 "$D/sync.out")"
chunk=$(find "$D/out" -name 'r.log-*.gz' | head -n 1)
lines=$( [ -n "$chunk" ] && zcat "$chunk" | grep -c '^line ' )
leftover=$(find "$D/out" "$D/spool" -name '*.tmp*' | head -n 3)
if [ "$packer_hit" = yes ] && [ "$sink_hit" = yes ] && [ "$synced" = yes ] &&
   same "$D/out/web/f.bin" "$D/f.bin" && [ "${lines:-0}" = 500 ] && [ -z "$leftover" ]; then
	ok faults_inject_rename_error_retried
else
	fail faults_inject_rename_error_retried "packer hit: $packer_hit, sink hit: $sink_hit, synced: $synced, lines: ${lines:-none}, leftovers: $leftover"
fi
fs_umount "$M"
exit 0
