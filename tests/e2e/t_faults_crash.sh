# Fault suite, crashes: the daemon is killed with SIGKILL CRASH_KILLS times
# (default 20) at random moments while files are copied in and lines
# appended, and mounted again each time.  Each restart must come up on its
# own; at the end every acknowledged file and line is in the bucket exactly
# once and byte-identical, and SQLite's integrity_check of the spool is ok.
. tests/e2e/lib.sh
. tests/e2e/faultlib.sh
need_fuse t_faults_crash
need_s3rver t_faults_crash
: "${CRASH_KILLS:=20}"
s3_start || { fail faults_s3_server "s3rver did not start"; exit 0; }
proxy_start || { fail faults_proxy "faultproxy did not start"; exit 0; }

fault_case crash
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M" || { fail faults_crash_mount "no mount"; exit 0; }
writers_start
down=
for k in $(seq "$CRASH_KILLS"); do
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	sleep $((RANDOM % 2))
	fs_kill9 "$M"
	if ! fs_mount "$D/flowfs.ini" "$M" 2>"$D/mount.err"; then
		down="$down $k ($(cat "$D/mount.err"); $(grep -E ' (error|warn) ' "$D/log" | tail -n 2))"
		sleep 1
		fs_mount "$D/flowfs.ini" "$M" || break
	fi
done
writers_stop
[ -z "$down" ] && ok faults_crash_restarts_on_its_own || fail faults_crash_restarts_on_its_own "restart failed after kill$down"

sync_and_check faults_crash_sync faults_crash_nothing_lost_nothing_twice crash
echo "    $CRASH_KILLS kills; $(wc -l < "$D/acked") files, $(cat "$D"/ack.* | wc -l) lines and $(cat "$D"/acks.* | grep -c -- "-$") split lines begun acknowledged"
fs_umount "$M" || fail faults_crash_clean_unmount "exit status $?"
ic=$(sqlite3 "$D/spool/flowfs.db" 'PRAGMA integrity_check;' 2>&1)
[ "$ic" = ok ] && ok faults_crash_db_integrity || fail faults_crash_db_integrity "$ic"
exit 0
