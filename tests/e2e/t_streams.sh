# Streams: >> appends feed chunks rotated by size, lines and time,
# compressed and delivered; line atomicity; crash safety; back-pressure;
# flowctl.
. tests/e2e/lib.sh
need_fuse t_streams
cc -O2 -o "$TESTS_TMP/appender" tests/e2e/appender.c || { fail streams_build_appender "cc failed"; exit 0; }

unpack() {	# DIR [PREFIX]: every chunk (whose name starts with PREFIX) under DIR, in name order, decompressed
	find "$1" -type f -name "${2:-*.log}*" | sort | while read -r f; do
		case $f in *.gz) zcat "$f" ;; *.xz) xzcat "$f" ;; *.zst) zstd -dcq "$f" ;; *.bz2) bzip2 -dc "$f" ;; *) cat "$f" ;; esac
	done
}

# --- the writers users have; cat and ls -l of the open chunk
FLOW_EXTRA="compress = gz" new_case writers
fs_mount "$D/flowfs.ini" "$D/mnt"
M=$D/mnt
for i in $(seq 100); do echo "echo $i" >> "$M/web/app.log"; done
seq 1 50 | sed 's/^/tee /' | tee -a "$M/web/app.log" >/dev/null
( exec 5>>"$M/web/app.log"; for i in $(seq 50); do echo "held $i" >&5; done; sleep 0.3; echo "held end" >&5 )
size=$(stat -c %s "$M/web/app.log")
catted=$(cat "$M/web/app.log" | wc -l)
if [ "$catted" = 201 ] && [ "$size" -gt 0 ] && [ "$size" = "$(cat "$M/web/app.log" | wc -c)" ]; then ok streams_cat_and_size; else fail streams_cat_and_size "cat gave $catted lines, size $size"; fi
"$FLOWCTL" sync "$M" --timeout 30
src=$(unpack "$D/out/web")
if [ "$(grep -c '^echo ' <<<"$src")" = 100 ] && [ "$(grep -c '^tee ' <<<"$src")" = 50 ] &&
   [ "$(grep -c '^held ' <<<"$src")" = 51 ] && ls "$D"/out/web/*/app.log-*.log.gz >/dev/null 2>&1; then
	ok streams_echo_tee_longlived_gz
else
	fail streams_echo_tee_longlived_gz "$(find "$D/out" -type f | head -3)"
fi
# stream exists in every flow
echo one >> "$M/web/stream"
if ls "$M/web" | grep -qx stream && [ "$(cat "$M/web/stream")" = one ]; then ok streams_stream_in_every_flow; else fail streams_stream_in_every_flow "no stream file"; fi
jq -e '.streams["app.log"] | has("open_bytes") and has("open_lines") and has("open_age") and has("sealed") and has("queued") and has("delivered")' "$M/web/.status" >/dev/null &&
	ok streams_status_json || fail streams_status_json "$(jq -c .streams "$M/web/.status")"
st=$("$FLOWCTL" status "$M")
if grep -q 'web/app.log' <<<"$st" && grep -q '^out ' <<<"$st"; then ok flowctl_status_table; else fail flowctl_status_table "$st"; fi
fs_umount "$M"

# --- rotation: maxsize, maxlines, time; xz; names sort in write order
FLOW_EXTRA=$'maxsize = 1K\ncompress = xz' new_case rot_size
fs_mount "$D/flowfs.ini" "$D/mnt"
for i in $(seq 200); do printf 'line %05d %s\n' "$i" "$(head -c 40 /dev/zero | tr '\0' x)" >> "$D/mnt/web/s.log"; done
"$FLOWCTL" sync "$D/mnt" --timeout 30
n=$(find "$D/out" -name '*.xz' | wc -l)
max=$(for f in $(find "$D/out" -name '*.xz'); do xzcat "$f" | wc -c; done | sort -n | tail -1)
if [ "$n" -ge 10 ] && [ "$max" -le 1024 ] && unpack "$D/out/web" | awk '{print $2}' | sort -c 2>/dev/null &&
   [ "$(unpack "$D/out/web" | wc -l)" = 200 ]; then
	ok streams_rotate_maxsize_xz_ordered
else
	fail streams_rotate_maxsize_xz_ordered "$n chunks, largest $max bytes"
fi
fs_umount "$D/mnt"

# --- zst chunks (libzstd, its worker threads) and bz2 uploads, checked
# by the zstd and bzip2 programs; the listed upload reads back as written
FLOW_EXTRA=$'maxsize = 64K\ncompress = zst\nupload_compress = bz2' new_case zst_bz2
fs_mount "$D/flowfs.ini" "$D/mnt"
seq 1 20000 | sed 's/^/zst line /' > "$D/lines"
cat "$D/lines" >> "$D/mnt/web/z.log"
head -c 300000 /dev/urandom > "$D/up.bin"
cp "$D/up.bin" "$D/mnt/web/up.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
nz=$(find "$D/out" -name 'z.log*.zst' | wc -l)
tested=yes
for f in $(find "$D/out" -name '*.zst'); do zstd -tq "$f" || tested="no ($f)"; done
bzip2 -t "$D/out/web/up.bin.bz2" 2>/dev/null || tested="no (up.bin.bz2)"
if [ "$nz" -ge 2 ] && [ "$tested" = yes ] && unpack "$D/out/web" z.log | cmp -s - "$D/lines" &&
   bzip2 -dc "$D/out/web/up.bin.bz2" | cmp -s - "$D/up.bin" && cmp -s "$D/mnt/web/up.bin" "$D/up.bin"; then
	ok streams_zst_chunks_bz2_uploads
else
	fail streams_zst_chunks_bz2_uploads "$nz zst chunks; zstd -t / bzip2 -t: $tested"
fi
fs_umount "$D/mnt"

FLOW_EXTRA=$'maxlines = 10\ncompress = none\nrotate = 2s' new_case rot_lines_time
fs_mount "$D/flowfs.ini" "$D/mnt"
seq 1 25 | sed 's/^/n /' >> "$D/mnt/web/l.log"	# one write of 25 lines
wait_eq 15 3 "find '$D/out' -type f | wc -l"	# 10 + 10, then the timer seals the last 5
counts=$(for f in $(find "$D/out" -type f | sort); do wc -l < "$f"; done | tr '\n' ' ')
if [ "$counts" = "10 10 5 " ]; then ok streams_rotate_maxlines_and_time; else fail streams_rotate_maxlines_and_time "chunk line counts: $counts"; fi
fs_umount "$D/mnt"

# --- line atomicity: concurrent writers, one write() per line
FLOW_EXTRA=$'maxsize = 4K' new_case concurrent
fs_mount "$D/flowfs.ini" "$D/mnt"
pids=
for w in 1 2 3 4; do "$TESTS_TMP/appender" "$D/mnt/web/c.log" "w$w" 3000 "$D/ack$w" & pids="$pids $!"; done
wait $pids
"$FLOWCTL" sync "$D/mnt" --timeout 60
unpack "$D/out/web" > "$D/all"
bad=0
for w in 1 2 3 4; do
	grep "^w$w " "$D/all" | awk '{print $2}' > "$D/got$w"
	[ "$(wc -l < "$D/got$w")" = 3000 ] && sort -nc "$D/got$w" 2>/dev/null || bad=1
done
if [ $bad = 0 ] && [ "$(wc -l < "$D/all")" = 12000 ] && ! grep -vqE '^w[1-4] [0-9]+$' "$D/all"; then ok streams_concurrent_line_atomic; else fail streams_concurrent_line_atomic "lines mixed, lost or out of order"; fi
fs_umount "$D/mnt"

# --- crash safety: kill -9 several times under writers
FLOW_EXTRA=$'maxsize = 16K' new_case crash
fs_mount "$D/flowfs.ini" "$D/mnt"
pids=
for w in 1 2 3; do "$TESTS_TMP/appender" "$D/mnt/web/app.log" "w$w" 15000 "$D/ack$w" & pids="$pids $!"; done
# and one that writes each line in two halves, "s N" then " ok\n"
APPENDER_SPLIT=1 APPENDER_DELAY_US=300 "$TESTS_TMP/appender" "$D/mnt/web/split.log" s 4000 "$D/acks.s" &
pids="$pids $!"
for k in 1 2 3 4; do
	sleep "0.$((RANDOM % 7 + 2))"
	fs_kill9 "$D/mnt"
	fs_mount "$D/flowfs.ini" "$D/mnt"
done
wait $pids
"$FLOWCTL" sync "$D/mnt" --timeout 60
bad=
for f in $(find "$D/out" -name '*.gz'); do gzip -t "$f" 2>/dev/null || bad="$bad corrupt:$f"; done
for f in $(find "$D/out" -name '.*.flowfs-*'); do bad="$bad temp-left:${f##*/}"; done
unpack "$D/out/web" app.log- > "$D/all"
grep -vqE '^w[1-3] [0-9]+$' "$D/all" && bad="$bad partial-lines"
for w in 1 2 3; do
	grep "^w$w " "$D/all" | awk '{print $2}' > "$D/got$w"
	[ -n "$(sort -n "$D/got$w" | uniq -d)" ] && bad="$bad dup:w$w"
	[ -n "$(comm -23 <(sort "$D/ack$w") <(sort "$D/got$w"))" ] && bad="$bad lost:w$w"
	sort -nc "$D/got$w" 2>/dev/null || bad="$bad order:w$w"
done
# split.log: every half line whose write returned is there once
bad="$bad$(python3 tests/e2e/splitcheck.py "$D" $(find "$D/out/web" -type f -name 'split.log-*'))"
echo "    $(grep -c 'are appended' "$D/log") half lines a kill left appended at recovery"
if [ -z "$bad" ]; then ok streams_kill9_nothing_acknowledged_lost; else fail streams_kill9_nothing_acknowledged_lost "$bad"; fi
fs_umount "$D/mnt"

# --- kill -9 keeps a writer's unterminated tail: its write() returned
tails_case() {	# CASE: a mount with one writer's fd 5 open on web/t.log
	FLOW_EXTRA="compress = none" new_case "$1"
	M=$D/mnt
	fs_mount "$D/flowfs.ini" "$M"
	exec 5>>"$M/web/t.log"
}
tails_remount() {	# after the kill: the next mount recovers, sync delivers
	exec 5>&-
	fs_mount "$D/flowfs.ini" "$M"
	"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
}
# a writer's last piece without a newline ends its chunk at close: the next
# writer's line does not join it
FLOW_EXTRA="compress = none" new_case tail_close
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M"
printf 'A-partial' >> "$M/web/t.log"
sleep 0.3	# the release runs after close() returns
echo 'B line' >> "$M/web/t.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
a=$(find "$D/out" -type f -name 't.log-*' -exec grep -lx 'A-partial' {} + | wc -l)
b=$(find "$D/out" -type f -name 't.log-*' -exec grep -lx 'B line' {} + | wc -l)
[ "$a" = 1 ] && [ "$b" = 1 ] && ok streams_close_tail_ends_its_chunk ||
	fail streams_close_tail_ends_its_chunk "chunks: $(unpack "$D/out" t.log- | od -c | head -3)"
fs_umount "$M"

tails_case tail_kill
printf 'first\npart1-' >&5	# one write: a whole line and the start of the next
printf 'closed-tail' >> "$M/web/c.log"
sleep 0.3	# the release of c.log runs after close() returns
fs_kill9 "$M"
tails_remount
if [ "$(unpack "$D/out" t.log-)" = $'first\npart1-' ] && [ "$(unpack "$D/out" c.log-)" = closed-tail ] &&
   [ -z "$(ls "$D/spool/tails")" ]; then
	ok streams_kill9_keeps_unterminated_tail
else
	fail streams_kill9_keeps_unterminated_tail "t.log: $(unpack "$D/out" t.log- | od -c | head -3); c.log: $(unpack "$D/out" c.log-)"
fi
fs_umount "$M"

# The crash windows of completing a tail, hit with strace: a kill after the
# line went to its chunk but before the tail file was emptied must not send
# the tail twice; one after the tail file said where the line goes but
# before it went must not lose it.
if command -v strace >/dev/null && strace -o /dev/null -e inject=getpid:error=EIO true 2>/dev/null; then
	kill_at() {	# SYSCALL FILE: kill the daemon when it makes SYSCALL on FILE
		strace_on "${FS_PID[$M]}" -P "$2" -e trace="$1" -e inject="$1":error=EIO:signal=KILL
		printf 'part2\n' >&5 2>/dev/null	# completes the tail; the daemon dies in it
		wait_for 10 sh -c "! kill -0 ${FS_PID[$M]} 2>/dev/null"
		fs_kill9 "$M"
	}
	tails_case tail_kill_cleared
	printf 'first\n' >&5
	printf 'part1-' >&5
	kill_at ftruncate "$(ls -d "$D"/spool/tails/*)"
	tails_remount
	got=$(unpack "$D/out" t.log-)
	[ "$got" = $'first\npart1-part2' ] && ! grep -q 'are appended' "$D/log" &&
		ok streams_kill9_tail_appended_not_twice ||
		fail streams_kill9_tail_appended_not_twice "got: $(printf %s "$got" | od -c | head -3)"
	fs_umount "$M"

	tails_case tail_kill_marked
	printf 'first\n' >&5
	printf 'part1-' >&5
	kill_at pwrite64 "$(ls -d "$D"/spool/data/*)"
	tails_remount
	got=$(unpack "$D/out" t.log-)
	[ "$got" = $'first\npart1-' ] && grep -q 'before the crash (no newline yet) are appended' "$D/log" &&
		ok streams_kill9_tail_not_lost_before_append ||
		fail streams_kill9_tail_not_lost_before_append "got: $(printf %s "$got" | od -c | head -3)"
	fs_umount "$M"

	# a write whose first line went in and whose next chunk cannot be
	# created: the stored line is reported (a short write), not an error
	# that would make the writer send it again
	FLOW_EXTRA=$'compress = none\nmaxsize = 1K' new_case short_write
	M=$D/mnt
	fs_mount "$D/flowfs.ini" "$M"
	echo first >> "$M/web/t.log"
	next=$(( $(ls "$D/spool/data") + 1 ))
	strace_on "${FS_PID[$M]}" -P "$D/spool/data/$next" -e trace=openat -e inject=openat:error=ENOSPC
	python3 - "$M/web/t.log" "$D/go" > "$D/got" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
data = b"a" * 599 + b"\n" + b"b" * 599 + b"\n"
n = os.write(fd, data)	# "a..." fits the open chunk, "b..." needs a new one
print(n, flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
os.write(fd, data[n:])	# a writer sends what was not taken
PY
	wpid=$!
	wait_for 10 test -s "$D/got"
	got=$(cat "$D/got")
	strace_off
	touch "$D/go"
	wait "$wpid"
	"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
	a=$(unpack "$D/out" t.log- | grep -c '^a')
	b=$(unpack "$D/out" t.log- | grep -c '^b')
	[ "$got" = 600 ] && [ "$a" = 1 ] && [ "$b" = 1 ] && ok streams_partial_store_is_short_write ||
		fail streams_partial_store_is_short_write "write returned $got; a lines $a, b lines $b"
	fs_umount "$M"

	# a writer closes with a tail when no chunk can be created: the tail is
	# kept, flowctl sync waits for it, and it goes in once chunks can be made
	tails_case tail_kept
	printf 'first\npart1-' >&5
	n=$(ls "$D/spool/data")
	"$FLOWCTL" rotate "$M" >/dev/null
	paths=()
	for i in $(seq $((n + 1)) $((n + 60))); do paths+=(-P "$D/spool/data/$i"); done
	strace_on "${FS_PID[$M]}" "${paths[@]}" -e trace=openat -e inject=openat:error=ENOSPC
	exec 5>&-
	wait_for 10 grep -q 'cannot be appended now' "$D/log"
	"$FLOWCTL" sync "$M" --timeout 2 >/dev/null 2>&1
	during=$?
	kept=$(ls "$D/spool/tails" | grep -c '^k\.')
	strace_off
	"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
	after=$?
	got=$(unpack "$D/out" t.log-)
	if [ "$during" != 0 ] && [ "$kept" = 1 ] && [ "$after" = 0 ] && [ "$got" = $'first\npart1-' ] &&
	   [ -z "$(ls "$D/spool/tails")" ] && grep -q "a closed writer's last 6 bytes are appended now" "$D/log"; then
		ok streams_tail_kept_at_close_then_appended
	else
		fail streams_tail_kept_at_close_then_appended "sync during: $during, kept: $kept, sync after: $after, got: $(printf %s "$got" | od -c | head -2)"
	fi
	fs_umount "$M"
else
	skip streams_kill9_tail_windows "strace with syscall injection is not available"
fi

# --- back-pressure: a full spool gives ENOSPC, then recovers without restart
GLOBAL_EXTRA="spool_max = 64K" FLOW_EXTRA=$'maxsize = 8K\ncompress = none' new_case enospc
fs_mount "$D/flowfs.ini" "$D/mnt"
mv "$D/out" "$D/out-away"	# the sink is down: nothing leaves the spool
line=$(head -c 99 /dev/zero | tr '\0' y)
errs=0
for i in $(seq 1000); do echo "$line" >> "$D/mnt/web/bp.log" 2>>"$D/errs" || errs=$((errs + 1)); done
enospc=$(grep -c 'No space left on device' "$D/errs")
mv "$D/out-away" "$D/out"
"$FLOWCTL" retry "$D/mnt" >/dev/null
wait_for 30 sh -c "echo again >> '$D/mnt/web/bp.log'"
rc=$?
if [ "$errs" -gt 0 ] && [ "$enospc" = "$errs" ] && [ $rc = 0 ]; then ok streams_enospc_then_recovers; else fail streams_enospc_then_recovers "$errs failed writes, $enospc ENOSPC, write after recovery rc $rc"; fi
"$FLOWCTL" sync "$D/mnt" --timeout 30
got=$(unpack "$D/out/web" | grep -c "^$line\$")
if [ "$got" = $((1000 - errs)) ]; then ok streams_enospc_nothing_dropped; else fail streams_enospc_nothing_dropped "$got delivered, $((1000 - errs)) acknowledged"; fi
fs_umount "$D/mnt"

# --- unmount seals open chunks; flowctl sync reports failures
FLOW_EXTRA="compress = none" new_case umount_seals
fs_mount "$D/flowfs.ini" "$D/mnt"
echo "sealed at unmount" >> "$D/mnt/web/u.log"
fs_umount "$D/mnt"
if [ "$(unpack "$D/out/web")" = "sealed at unmount" ]; then ok streams_unmount_seals; else fail streams_unmount_seals "$(find "$D/out" -type f)"; fi

# --- flowctl sync names what is left and exits non-zero on timeout
FLOW_EXTRA="compress = none" new_case sync_timeout
fs_mount "$D/flowfs.ini" "$D/mnt"
mv "$D/out" "$D/out-away"
echo stuck >> "$D/mnt/web/stuck.log"
err=$("$FLOWCTL" sync "$D/mnt" --timeout 2 2>&1)
rc=$?
mv "$D/out-away" "$D/out"
"$FLOWCTL" retry "$D/mnt" >/dev/null
"$FLOWCTL" sync "$D/mnt" --timeout 30
rc2=$?
if [ $rc = 2 ] && grep -q 'web/stuck.log' <<<"$err" && grep -q 'sink out' <<<"$err" && [ $rc2 = 0 ]; then
	ok flowctl_sync_timeout_names_what_is_left
else
	fail flowctl_sync_timeout_names_what_is_left "rc $rc then $rc2: $err"
fi
fs_umount "$D/mnt"

# --- streams of the same name in two directories never share a key
FLOW_EXTRA="compress = none" new_case same_name
fs_mount "$D/flowfs.ini" "$D/mnt"
mkdir "$D/mnt/web/a" "$D/mnt/web/b"
echo from-a >> "$D/mnt/web/a/app.log"
echo from-b >> "$D/mnt/web/b/app.log"
"$FLOWCTL" sync "$D/mnt" --timeout 30
got=$(unpack "$D/out/web" | sort | tr '\n' ' ')
if [ "$got" = "from-a from-b " ]; then ok streams_same_name_two_dirs; else fail streams_same_name_two_dirs "delivered: $got"; fi
fs_umount "$D/mnt"
