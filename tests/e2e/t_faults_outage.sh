# Fault suite, sink outages: while writers keep copying files and appending
# lines to a flow with two sinks, S3 and a webhook, the S3 server and the
# webhook receiver are stopped (SIGSTOP), killed, refuse connections,
# answers 500/503 to 30% of requests, resets connections mid-body, stalls
# after the headers and trickles 1 byte/s.  During each outage ls, stat and
# cat .status answer within 1 s; afterwards every acknowledged file and line
# is in the bucket exactly once and byte-identical, and at the receiver
# once per Idempotency-Key (what a receiver that drops repeats keeps), and
# the daemon's thread
# and fd counts are where they started.  FAULT_SECONDS: length of each fault.
. tests/e2e/lib.sh
. tests/e2e/faultlib.sh
need_fuse t_faults_outage
need_s3rver t_faults_outage
s3_start || { fail faults_s3_server "s3rver did not start"; exit 0; }
proxy_start || { fail faults_proxy "faultproxy did not start: $(tail -3 "$TESTS_TMP/proxy.log")"; exit 0; }
hook_start || { fail faults_hook "the receiver or its proxy did not start"; exit 0; }

GLOBAL_EXTRA="workers = 4" fault_case outage
sed -i 's/^sinks = s3$/sinks = s3, hook/' "$D/flowfs.ini"
cat >> "$D/flowfs.ini" <<INI
[sink.hook]
type = http
url = http://127.0.0.1:$HPPORT/ingest
prefix = outage/
connect_timeout = 2s
timeout = 3s
INI
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail faults_mount "no mount"; exit 0; }
M=$D/mnt
# the baseline: at rest after the same traffic without faults (FUSE's
# thread pool and every worker's kept-alive connections are then made)
writers_start
sleep 3
writers_stop
"$FLOWCTL" sync "$M" --timeout 60 >/dev/null
sleep 1
threads0=$(daemon_threads "$M") fds0=$(daemon_fds "$M")

writers_start
slow=
outage() {	# NAME START-CMD STOP-CMD
	local name=$1 worst=0 ms end
	eval "$2"
	end=$(( $(date +%s) + FAULT_SECONDS ))
	while [ "$(date +%s)" -lt "$end" ]; do
		ms=$(probe_ms "$M")
		[ "$ms" -gt "$worst" ] && worst=$ms
		sleep 0.3
	done
	eval "$3"
	[ "$worst" -lt 1000 ] || slow="$slow $name:${worst}ms"
	echo "    $name: slowest ls/stat/.status ${worst} ms"
	sleep 1		# let some traffic through between faults
}
outage sigstop 'kill -STOP $S3PID $RXPID' 'kill -CONT $S3PID $RXPID'
outage killed 's3_stop; rx_stop' 's3_start; rx_start 2'
outage refused 'fault refuse' 'fault pass'
outage errors30 'fault error 0.3' 'fault pass'
outage reset 'fault reset 0.5' 'fault pass'
outage stall 'fault stall 1' 'fault pass'
outage trickle 'fault trickle 1' 'fault pass'
writers_stop
fault pass
grep -q 'last_error' "$M/web/.status" && had_err=yes || had_err=no

sync_and_check faults_outage_sync_after_recovery faults_outage_nothing_lost_nothing_twice outage
if check_hook outage; then
	ok faults_outage_webhook_nothing_lost_once_per_key
else
	fail faults_outage_webhook_nothing_lost_once_per_key "$WHY"
fi
echo "    $(wc -l < "$D/acked") files, $(cat "$D"/ack.* | wc -l) lines and $(cat "$D"/acks.* | grep -c -- "-$") split lines begun acknowledged"
[ -z "$slow" ] && ok faults_outage_mount_answers_within_1s || fail faults_outage_mount_answers_within_1s "$slow"

sleep 1
threads1=$(daemon_threads "$M") fds1=$(daemon_fds "$M")
echo "    threads $threads0 -> $threads1, fds $fds0 -> $fds1"
# at rest: main, packer, timer, the notifier, 4 workers (no stepper: no
# [transform.*]) and at most max_idle_threads (10) idle FUSE threads; the
# multipart threads are gone.  fds: the same set.
if [ "$threads1" -le 18 ] && [ "$fds1" -le "$fds0" ]; then
	ok faults_outage_threads_fds_flat
else
	fail faults_outage_threads_fds_flat "threads $threads0 -> $threads1, fds $fds0 -> $fds1"
fi
n_inj=$(cat "$TESTS_TMP/proxy.log" "$TESTS_TMP/hproxy.log" | grep -c 'injected\|reset after\|stalled\|trickled\|upstream')
[ "$n_inj" -gt 0 ] && ok faults_outage_faults_happened || fail faults_outage_faults_happened "the proxy injected nothing"
fs_umount "$M" && ok faults_outage_clean_unmount || fail faults_outage_clean_unmount "exit status $?"
exit 0
