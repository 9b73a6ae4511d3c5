# The s3 sink against a real S3 server on 127.0.0.1 (s3rver from npm,
# pinned in tests/package.json): objects are read back with curl --aws-sigv4.
. tests/e2e/lib.sh
need_fuse t_s3
need_s3rver t_s3
PORT=$(free_ports 3)
trap 'fs_cleanup; s3_stop' EXIT
s3_start || { fail s3_server "s3rver did not start: $(tail -3 "$TESTS_TMP/s3rver.log")"; exit 0; }

s3_case() {	# NAME: a case with an s3 sink "s3" (prefix NAME/) for flow web
	new_case "$1"
	s3_cred
	sed -i 's/^part_size = 64K$/part_size = 5M/; s/^sinks = out$/sinks = s3/' "$D/flowfs.ini"
	s3_sink s3 "http://127.0.0.1:$PORT" "$1/"
}

# --- sizes, byte-identical; metadata
s3_case sizes
fs_mount "$D/flowfs.ini" "$D/mnt"
: > "$D/f0"; head -c 1 /dev/urandom > "$D/f1"
head -c $((5 * 1024 * 1024 + 1)) /dev/urandom > "$D/f5m1"
head -c $((200 * 1024 * 1024)) /dev/urandom > "$D/f200m"
cp "$D/f0" "$D/f1" "$D/f5m1" "$D/f200m" "$D/mnt/web/"
exec 3>"$D/mnt/web/meta.txt"; echo m >&3
setfattr -n user.meta.owner -v alice "$D/mnt/web/meta.txt"
exec 3>&-
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
bad=
for f in f0 f1 f5m1 f200m; do s3get "sizes/web/$f" | cmp -s - "$D/$f" || bad="$bad $f"; done
[ -z "$bad" ] && ok s3_sizes_identical || fail s3_sizes_identical "differ:$bad"
meta=$(curl -sI "http://127.0.0.1:$PORT/bkt/sizes/web/meta.txt" | tr -d '\r' | grep -i '^x-amz-meta-owner:' | cut -d' ' -f2)
[ "$meta" = alice ] && ok s3_metadata || fail s3_metadata "x-amz-meta-owner '$meta'"
fs_umount "$D/mnt"

# --- cp -r of 1,000 small files; streams gz and xz
s3_case many
sed -i 's/^sinks = s3$/sinks = s3\ncompress = xz/' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
mkdir -p "$D/src"; for i in $(seq 1000); do echo "file $i" > "$D/src/f$i"; done
cp -r "$D/src" "$D/mnt/web/"
for i in $(seq 300); do echo "line $i" >> "$D/mnt/web/app.log"; done
"$FLOWCTL" sync "$D/mnt" --timeout 120 >/dev/null
n=$(s3keys many/web/src/ | wc -l)
[ "$n" = 1000 ] && ok s3_cp_r_1000 || fail s3_cp_r_1000 "$n of 1000 in the bucket"
k=$(s3keys many/web/ | grep 'app.log.*\.xz$' | head -1)
if [ -n "$k" ] && [ "$(s3get "$k" | xzcat | wc -l)" = 300 ]; then ok s3_stream_xz; else fail s3_stream_xz "key '$k'"; fi
fs_umount "$D/mnt"

# --- kill -9 in the middle of a multipart upload, then remount
FLOW_EXTRA="upload_early = no" s3_case resume	# the upload after the close
kill9_mid_upload 60
saved=$SAVED
sent1=$(grep -c 'resume/web/big: part 1 of 12 sent' "$D/log")
total=$(grep -c 'resume/web/big: part [0-9]* of 12 sent' "$D/log")
if s3get resume/web/big | cmp -s - "$D/big" && [ "${saved:-0}" -ge 2 ] && [ "$sent1" = 1 ] && [ "$total" -lt 14 ]; then
	ok s3_kill9_mid_multipart_resumes
else
	fail s3_kill9_mid_multipart_resumes "identical=$(s3get resume/web/big | cmp -s - "$D/big" && echo yes || echo no), $saved parts saved before the kill, part 1 sent $sent1 times, $total part sends in all"
fi
fs_umount "$D/mnt"

# --- the server down for 20 s: nothing lost, nothing twice
s3_case outage
fs_mount "$D/flowfs.ini" "$D/mnt"
s3_stop
for i in $(seq 20); do echo "o$i" > "$D/mnt/web/o$i"; done
echo "during" >> "$D/mnt/web/o.log"
wait_for 10 grep -q 'retrying in' "$D/log"
jq -e '.sinks.s3.last_error != null and .sinks.s3.next_retry != null' "$D/mnt/web/.status" >/dev/null && st=ok || st=no
sleep 20
s3_start
"$FLOWCTL" sync "$D/mnt" --timeout 90 >/dev/null
n=$(s3keys outage/web/o | grep -c '^outage/web/o[0-9]*$')
if [ "$n" = 20 ] && [ "$st" = ok ] && [ "$(s3get outage/web/o7)" = o7 ]; then ok s3_outage_20s; else fail s3_outage_20s "$n of 20 delivered, status during outage: $st"; fi
fs_umount "$D/mnt"

# --- a world-readable credentials file is refused at mount
s3_case badcred
chmod 644 "$D/cred"
err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
if [ $? != 0 ] && grep -q "$D/cred has mode 0644" <<<"$err" && ! mountpoint -q "$D/mnt" &&
   ! grep -q S3RVER <<<"$err"; then
	ok s3_credentials_mode_refused
else
	fail s3_credentials_mode_refused "$err"
fi

# --- against the tests' own strict server: signatures, digests, failures
CPORT=$((PORT + 1))
CPID=
check_start() {	# SECRET [FAIL_STATUS FAIL_COUNT]
	node tests/e2e/checkserver.js $CPORT "$@" >>"$TESTS_TMP/check.log" 2>&1 &
	CPID=$!
	wait_for 10 grep -q "listening $CPORT" "$TESTS_TMP/check.log"
}
check_stop() { kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null; : > "$TESTS_TMP/check.log"; }
trap 'fs_cleanup; s3_stop; check_stop' EXIT
check_case() {	# NAME: the upload after the last close (t_early: while written)
	FLOW_EXTRA="upload_early = no" s3_case "$1"
	sed -i "s|^endpoint = .*|endpoint = http://127.0.0.1:$CPORT|" "$D/flowfs.ini"
}

# a wrong secret fails for good, visibly; fixed and retried, it is delivered
check_start S3RVER
check_case wrongsecret
sed -i 's/^aws_secret_access_key = .*/aws_secret_access_key = WRONGSECRET/' "$D/cred"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo payload > "$D/mnt/web/w.txt"
wait_for 15 is_state "$D/mnt/web/w.txt" failed
st=$(cat "$D/mnt/web/.status")
leak=$(cat "$D/mnt/web/.status" "$D/mnt/.status" "$D/mnt/web/.flow" "$D/log"; "$FLOWCTL" status "$D/mnt")
fs_umount "$D/mnt"
sed -i 's/^aws_secret_access_key = .*/aws_secret_access_key = S3RVER/' "$D/cred"
fs_mount "$D/flowfs.ini" "$D/mnt"
still=$(state "$D/mnt/web/w.txt")
"$FLOWCTL" retry "$D/mnt" >/dev/null
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
if jq -e '.sinks.s3.last_error | test("403.*SignatureDoesNotMatch")' <<<"$st" >/dev/null &&
   [ "$still" = failed ] && [ "$(curl -s "http://127.0.0.1:$CPORT/bkt/wrongsecret/web/w.txt")" = payload ] &&
   ! grep -q WRONGSECRET <<<"$leak"; then
	ok s3_wrong_secret_permanent_then_retry
else
	fail s3_wrong_secret_permanent_then_retry "status '$(jq -c .sinks.s3.last_error <<<"$st")', state after remount '$still'"
fi
fs_umount "$D/mnt"
check_stop

# a body corrupted on the way is refused by the server's digest check
# (XAmzContentSHA256Mismatch, BadDigest) and sent again: the object in the bucket is the right one
FLIP_BODY=2 check_start S3RVER
check_case flipped
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c 100000 /dev/urandom > "$D/x.bin"
cp "$D/x.bin" "$D/mnt/web/x.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
if curl -s "http://127.0.0.1:$CPORT/bkt/flipped/web/x.bin" | cmp -s - "$D/x.bin" &&
   [ "$(grep -cE ' 400 (BadDigest|XAmzContentSHA256Mismatch)' "$TESTS_TMP/check.log")" = 2 ] && is_state "$D/mnt/web/x.bin" delivered; then
	ok s3_bad_digest_answer_sent_again
else
	fail s3_bad_digest_answer_sent_again "$(cat "$TESTS_TMP/check.log")"
fi
fs_umount "$D/mnt"
check_stop

# an upload the server will never complete is given up (aborted) and
# started over, rather than asked for forever
POISON_UPLOAD=1 check_start S3RVER
check_case poisoned
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c $((11 * 1024 * 1024)) /dev/urandom > "$D/p.bin"
cp "$D/p.bin" "$D/mnt/web/p.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
creates=$(grep -c '^POST /bkt/poisoned/web/p.bin?uploads' "$TESTS_TMP/check.log")
aborts=$(grep -c '^DELETE /bkt/poisoned/web/p.bin?uploadId=.* 204' "$TESTS_TMP/check.log")
if curl -s "http://127.0.0.1:$CPORT/bkt/poisoned/web/p.bin" | cmp -s - "$D/p.bin" &&
   [ "$creates" = 2 ] && [ "$aborts" = 1 ] && grep -q 'cannot be completed.*starting over' "$D/log"; then
	ok s3_uncompletable_upload_started_over
else
	fail s3_uncompletable_upload_started_over "$creates creates, $aborts aborts: $(grep -v ' 200$' "$TESTS_TMP/check.log" | head -5)"
fi
fs_umount "$D/mnt"
check_stop

# 503 and 429 are retried; the server checked MD5, SHA-256 and signature
for code in 503 429; do
	check_start S3RVER $code 3
	check_case "retry$code"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	head -c 100000 /dev/urandom > "$D/r.bin"
	cp "$D/r.bin" "$D/mnt/web/r.bin"
	"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
	if curl -s "http://127.0.0.1:$CPORT/bkt/retry$code/web/r.bin" | cmp -s - "$D/r.bin" &&
	   [ "$(grep -c " $code " "$TESTS_TMP/check.log")" = 3 ]; then
		ok "s3_retries_$code"
	else
		fail "s3_retries_$code" "$(cat "$TESTS_TMP/check.log")"
	fi
	fs_umount "$D/mnt"
	check_stop
done

# multipart against the strict server: every part's digests checked; a part
# the server lost (missing from ListParts) is sent again before Complete
DROP_PART=2 check_start S3RVER
check_case multipart
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c $((17 * 1024 * 1024)) /dev/urandom > "$D/m.bin"
cp "$D/m.bin" "$D/mnt/web/m.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
if curl -s "http://127.0.0.1:$CPORT/bkt/multipart/web/m.bin" | cmp -s - "$D/m.bin" &&
   [ "$(grep -c 'PUT /bkt/multipart/web/m.bin?partNumber=2&' "$TESTS_TMP/check.log")" = 2 ] &&
   grep -q 'lacks 1 parts' "$D/log"; then
	ok s3_multipart_checked_and_lost_part_resent
else
	fail s3_multipart_checked_and_lost_part_resent "$(grep -v '^listening' "$TESTS_TMP/check.log" | head -12)"
fi
fs_umount "$D/mnt"
check_stop

# a part altered in the spool is caught by its SHA-256 and never sent
check_case corrupt
check_start S3RVER	# nobody listens on port 1 at first: deliveries wait
corrupt_spooled c.bin endpoint "http://127.0.0.1:1" "http://127.0.0.1:$CPORT"
if [ "$(state "$D/mnt/web/c.bin")" = failed ] && ! grep -q 'PUT /bkt/corrupt/web/c.bin' "$TESTS_TMP/check.log" &&
   jq -e '.sinks.s3.last_error | test("SHA-256 mismatch")' "$D/mnt/web/.status" >/dev/null; then
	ok s3_corrupt_part_never_sent
else
	fail s3_corrupt_part_never_sent "state $(state "$D/mnt/web/c.bin"); $(cat "$TESTS_TMP/check.log")"
fi
fs_umount "$D/mnt"
check_stop

# --- type = gcs is the same code with its defaults (here pointed at s3rver)
s3_case gcs
sed -i 's/^type = s3$/type = gcs/' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo g > "$D/mnt/web/g.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
if [ "$(s3get gcs/web/g.txt)" = g ] && jq -e '.sinks[0].type == "gcs" and .sinks[0].region == "auto"' "$D/mnt/web/.flow" >/dev/null; then
	ok gcs_sink
else
	fail gcs_sink "$(jq -c .sinks "$D/mnt/web/.flow")"
fi
fs_umount "$D/mnt"

# --- a server that accepts and never answers does not hold a worker
HPORT=$((PORT + 2))
node -e "require('net').createServer(() => {}).listen($HPORT, '127.0.0.1', () => console.log('hung'))" \
	> "$TESTS_TMP/hung.log" 2>&1 &
HPID=$!
wait_for 10 grep -q hung "$TESTS_TMP/hung.log"
s3_case hung
sed -i "s|^endpoint = .*|endpoint = http://127.0.0.1:$HPORT\ntimeout = 2s|" "$D/flowfs.ini"
sed -i 's/^workers = .*//' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo h > "$D/mnt/web/h.txt"
wait_for 20 grep -q 'timeout\|Timeout' "$D/log"
t0=$(date +%s%N)
ls "$D/mnt/web" >/dev/null && stat "$D/mnt/web/h.txt" >/dev/null && cat "$D/mnt/web/.status" >/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if grep -q 'retrying in' "$D/log" && [ "$(state "$D/mnt/web/h.txt")" = queued ] && [ $ms -lt 5000 ]; then	# a hang detector, not a speed target
	ok s3_hung_server_times_out
else
	fail s3_hung_server_times_out "state $(state "$D/mnt/web/h.txt"), mount answered in ${ms} ms"
fi
fs_umount "$D/mnt"
kill $HPID 2>/dev/null; wait $HPID 2>/dev/null || true
