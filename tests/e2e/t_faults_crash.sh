# Fault suite, crashes: the daemon is killed with SIGKILL CRASH_KILLS times
# (default 20) at random moments while files are copied in and lines
# appended, and mounted again each time.  Each restart must come up on its
# own; at the end every acknowledged file and line is in the bucket exactly
# once and byte-identical, and SQLite's integrity_check of the spool is ok.
# Then the same with durability = close (the writeback cache), CLOSE_KILLS
# times (default 8): there a line is acknowledged by the fsync after it
# (the appenders fsync every 20 lines) or the close, and every such line
# must be there once, none twice, none cut.
. tests/e2e/lib.sh
. tests/e2e/faultlib.sh
need_fuse t_faults_crash
need_s3rver t_faults_crash
: "${CRASH_KILLS:=20}" "${CLOSE_KILLS:=8}"
s3_start || { fail faults_s3_server "s3rver did not start"; exit 0; }
proxy_start || { fail faults_proxy "faultproxy did not start"; exit 0; }

crash_round() {	# CASE KILLS: writers, KILLS kill -9s and mounts, then the checks
	local k
	M=$D/mnt
	fs_mount "$D/flowfs.ini" "$M" || { fail "faults_${1}_mount" "no mount"; return; }
	writers_start
	down=
	for k in $(seq "$2"); do
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
	[ -z "$down" ] && ok "faults_${1}_restarts_on_its_own" ||
		fail "faults_${1}_restarts_on_its_own" "restart failed after kill$down"
	sync_and_check "faults_${1}_sync" "faults_${1}_nothing_lost_nothing_twice" "$1"
	echo "    $2 kills; $(wc -l < "$D/acked") files, $(cat "$D"/ack.* | wc -l) lines and $(cat "$D"/acks.* | grep -c -- "-$") split lines begun acknowledged"
	fs_umount "$M" || fail "faults_${1}_clean_unmount" "exit status $?"
	ic=$(sqlite3 "$D/spool/flowfs.db" 'PRAGMA integrity_check;' 2>&1)
	[ "$ic" = ok ] && ok "faults_${1}_db_integrity" || fail "faults_${1}_db_integrity" "$ic"
}

fault_case crash
crash_round crash "$CRASH_KILLS"

# the same through the writeback cache: fsync and close acknowledge
FLOW_EXTRA="durability = close" fault_case crashwb
export APPENDER_SYNC_EVERY=20
crash_round crashwb "$CLOSE_KILLS"
grep -q "the kernel's writeback cache is on" "$D/log" && ok faults_crashwb_writeback_on ||
	fail faults_crashwb_writeback_on "the mount did not get the writeback cache"
exit 0
