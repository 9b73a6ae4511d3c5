# Durability: kill -9 loses nothing closed; open files are discarded; a
# second daemon is refused; unmount exits 0 and pending work resumes.
. tests/e2e/lib.sh
need_fuse t_durability

# --- kill -9 while cp runs: every file whose cp finished arrives once, intact
new_case kill_during_cp
fs_mount "$D/flowfs.ini" "$D/mnt"
mkdir -p "$D/src"
for i in $(seq 1000); do head -c $((1000 + i * 101)) /dev/urandom > "$D/src/f$i"; done
( for i in $(seq 1000); do cp "$D/src/f$i" "$D/mnt/web/f$i" 2>/dev/null && echo "f$i" >> "$D/done"; done ) &
cpid=$!
wait_for 30 sh -c "[ \$(cat '$D/done' 2>/dev/null | wc -l) -ge 100 ]"
fs_kill9 "$D/mnt"
wait $cpid	# the copies after the kill fail: the mount is gone
fs_mount "$D/flowfs.ini" "$D/mnt"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null 2>&1
bad=0
n=$(wc -l < "$D/done")
while read -r f; do same "$D/src/$f" "$D/out/web/$f" || { bad=1; echo "    $f missing or different"; }; done < "$D/done"
for f in "$D"/out/web/*; do
	b=$(basename "$f")
	same "$D/src/$b" "$f" || { bad=1; echo "    $b delivered but not identical (half-written?)"; }
done
for f in $(find "$D/out" -name '.*.flowfs-*'); do bad=1; echo "    temp file left in the sink: ${f##*/}"; done
if [ $bad = 0 ] && [ "$n" -gt 0 ] && [ "$n" -lt 1000 ]; then ok durability_kill9_during_cp; else fail durability_kill9_during_cp "bad=$bad, $n of 1000 copied before the kill"; fi
fs_umount "$D/mnt"

# --- a file open at the kill is not delivered and does not block the queue
new_case kill_open_file
fs_mount "$D/flowfs.ini" "$D/mnt"
mkfifo "$D/fifo"
dd if="$D/fifo" of="$D/mnt/web/open.bin" bs=64k status=none &	# holds the file open
ddpid=$!
exec 4>"$D/fifo"
head -c 100000 /dev/urandom >&4
wait_eq 10 100000 "stat -c %s '$D/mnt/web/open.bin'"
fs_kill9 "$D/mnt"
exec 4>&-
wait $ddpid 2>/dev/null
fs_mount "$D/flowfs.ini" "$D/mnt"
echo after > "$D/mnt/web/after"
wait_for 10 is_state "$D/mnt/web/after" delivered
if [ ! -e "$D/out/web/open.bin" ] && [ -e "$D/out/web/after" ] && grep -q 'open.bin.*discarded' "$D/log"; then
	ok durability_open_file_discarded
else
	fail durability_open_file_discarded "open.bin delivered=$([ -e "$D/out/web/open.bin" ] && echo yes || echo no)"
fi
fs_umount "$D/mnt"

# --- a second daemon on the same spool is refused
new_case second_daemon
fs_mount "$D/flowfs.ini" "$D/mnt"
mkdir -p "$D/mnt2"
err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt2" -f 2>&1)
rc=$?
echo still > "$D/mnt/web/still"
if [ $rc != 0 ] && grep -q "is in use by flowfs pid ${FS_PID[$D/mnt]}" <<<"$err" && ! mountpoint -q "$D/mnt2" &&
   wait_for 10 is_state "$D/mnt/web/still" delivered; then
	ok durability_second_daemon_refused
else
	fail durability_second_daemon_refused "rc $rc: $err"
fi
fs_umount "$D/mnt"

# --- unmount is prompt, exits 0; pending deliveries resume at the next mount
new_case unmount_resume
fs_mount "$D/flowfs.ini" "$D/mnt"
mv "$D/out" "$D/out-away"	# the sink directory is gone: deliveries retry
for i in $(seq 10); do echo "p$i" > "$D/mnt/web/p$i"; done
wait_for 10 grep -q 'retrying in' "$D/log"
t0=$(date +%s)
fusermount3 -u "$D/mnt"
wait "${FS_PID[$D/mnt]}"
rc=$?
unset "FS_PID[$D/mnt]"
dt=$(( $(date +%s) - t0 ))
mv "$D/out-away" "$D/out"
fs_mount "$D/flowfs.ini" "$D/mnt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null 2>&1
n=$(ls "$D/out/web" 2>/dev/null | wc -l)
if [ $rc = 0 ] && [ $dt -le 10 ] && [ "$n" = 10 ]; then ok durability_unmount_resume; else fail durability_unmount_resume "exit $rc after ${dt}s, $n of 10 delivered after remount"; fi
umount "$D/mnt"
wait "${FS_PID[$D/mnt]}"
rc=$?
unset "FS_PID[$D/mnt]"
if [ $rc = 0 ]; then ok durability_umount_exit0; else fail durability_umount_exit0 "exit $rc"; fi

# --- an open file that fsync() made durable is delivered up to the fsync
new_case fsync_then_kill
fs_mount "$D/flowfs.ini" "$D/mnt"
perl -e 'use IO::Handle; open(F, ">", $ARGV[0]) or die; syswrite(F, "durable\n");
	F->sync or die "fsync: $!"; print "synced\n"; STDOUT->flush; sleep 60' "$D/mnt/web/synced.log" > "$D/perl.out" &
ppid=$!
wait_for 10 grep -q synced "$D/perl.out"
fs_kill9 "$D/mnt"
kill $ppid 2>/dev/null; wait $ppid 2>/dev/null
fs_mount "$D/flowfs.ini" "$D/mnt"
wait_for 10 test -e "$D/out/web/synced.log"
if [ "$(cat "$D/out/web/synced.log" 2>/dev/null)" = durable ]; then ok durability_fsync_survives_kill; else fail durability_fsync_survives_kill "got '$(cat "$D/out/web/synced.log" 2>/dev/null)'"; fi
fs_umount "$D/mnt"
