# Pipelines: [transform.NAME] steps on streams and uploads, delivered to a
# real S3 server (s3rver) and checked against the same commands run here;
# failures, retry, timeouts, kill -9 mid-step, the history, flowctl test.
. tests/e2e/lib.sh
need_fuse t_pipeline
need_s3rver t_pipeline
PORT=$(free_ports 3)
# the steps' scripts: where the steps' user (nobody) can read them
BIN=$(mktemp -d /tmp/flowfs-pipe-bin.XXXXXX) && chmod 755 "$BIN"
trap 'fs_cleanup; s3_stop; rm -rf "$BIN"' EXIT
cat > "$BIN/count.py" <<'PY'
import sys
data = sys.stdin.buffer.read()
sys.stdout.buffer.write(data)
sys.stdout.write("lines %d\n" % data.count(b"\n"))
PY
s3_start || { fail pipe_s3_server "s3rver did not start: $(tail -3 "$TESTS_TMP/s3rver.log")"; exit 0; }

# pipe_case NAME WEB-KEYS [SECTIONS]: flow web (sinks s3, prefix NAME/)
# with WEB-KEYS, then SECTIONS ([transform.*], more flows)
pipe_case() {
	FLOW_EXTRA=$2 new_case "$1"
	s3_cred
	sed -i 's/^sinks = out$/sinks = s3/; s/^part_size = 64K$/part_size = 5M/' "$D/flowfs.ini"
	s3_sink s3 "http://127.0.0.1:$PORT" "$1/"
	printf '%s\n' "${3:-}" >> "$D/flowfs.ini"
}
history_has() {	# FLOW-DIR STEP STATUS [TEXT]: a run of STEP with STATUS (stderr or why holding TEXT)
	python3 - "$1/.history" "$2" "$3" "${4:-}" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
ok = any(r["step"] == sys.argv[2] and r["status"] == sys.argv[3] and
         (sys.argv[4] in (r["stderr"] or "") or sys.argv[4] in (r["why"] or "")) for r in runs)
sys.exit(0 if ok else 1)
PY
}

# --- two steps, on a stream (then gz) and on uploads, byte-checked
pipe_case two_steps "transforms = upper, count
compress = gz" "[transform.upper]
command = tr a-z A-Z
[transform.count]
command = python3 $BIN/count.py"
fs_mount "$D/flowfs.ini" "$D/mnt"
for i in $(seq 200); do echo "line $i of the log"; done > "$D/lines"
for i in $(seq 200); do echo "line $i of the log" >> "$D/mnt/web/app.log"; done
head -c 300000 /dev/urandom | base64 > "$D/up.txt"
cp "$D/up.txt" "$D/mnt/web/up.txt"
mkdir -p "$D/mnt/web/sub" && cp "$D/up.txt" "$D/mnt/web/sub/b.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
tr a-z A-Z < "$D/up.txt" | python3 "$BIN/count.py" > "$D/up.want"
tr a-z A-Z < "$D/lines" | python3 "$BIN/count.py" > "$D/lines.want"
k=$(s3keys two_steps/web/ | grep 'app.log.*\.log\.gz$' | head -1)
if [ -n "$k" ] && s3get "$k" | zcat | cmp -s - "$D/lines.want"; then ok pipe_stream_two_steps_gz
else fail pipe_stream_two_steps_gz "key '$k': $(s3get "$k" | zcat 2>&1 | tail -2)"; fi
if s3get two_steps/web/up.txt | cmp -s - "$D/up.want" && s3get two_steps/web/sub/b.txt | cmp -s - "$D/up.want"; then
	ok pipe_upload_two_steps
else fail pipe_upload_two_steps "$(s3get two_steps/web/up.txt | tail -c 100)"; fi
# the listed file is the file as written: it reads back, and its hash is its own
sum=$(sha256sum < "$D/up.txt" | cut -d' ' -f1)
if cmp -s "$D/mnt/web/up.txt" "$D/up.txt" &&
   [ "$(getfattr --only-values -n user.flowfs.sha256 "$D/mnt/web/up.txt")" = "$sum" ]; then
	ok pipe_upload_listed_as_written
else fail pipe_upload_listed_as_written "readback or sha256 differ"; fi
n=$(grep -c '"status":"OK"' "$D/mnt/web/.history")
[ "$n" = 6 ] && ok pipe_history_every_run || fail pipe_history_every_run "$n OK runs, want 6 (2 steps x 3 objects)"
grep -q '"type":"step","name":"count"' "$D/mnt/web/.flow" && ok pipe_flow_json_lists_steps ||
	fail pipe_flow_json_lists_steps "$(cat "$D/mnt/web/.flow")"
fs_umount "$D/mnt"
# flowctl test gives what the mount delivered, for the same file, with no mount
out=$("$FLOWCTL" test "$D/flowfs.ini" web "$D/up.txt" -o "$D/test.out" 2>&1); rc=$?
if [ $rc = 0 ] && cmp -s "$D/test.out" "$D/up.want" && grep -q '^step upper: OK' <<<"$out" &&
   grep -q '^step count: OK' <<<"$out"; then ok pipe_flowctl_test_matches_mount
else fail pipe_flowctl_test_matches_mount "rc $rc: $out"; fi
out=$("$FLOWCTL" test "$D/flowfs.ini" web "$D/lines" --stream -o "$D/test.gz" 2>&1)
zcat "$D/test.gz" 2>/dev/null | cmp -s - "$D/lines.want" && ok pipe_flowctl_test_stream ||
	fail pipe_flowctl_test_stream "$out"

# --- steps come before records: a step adds a field, records write CSV
pipe_case records "transforms = addf
format = jsonl
output = csv" "[transform.addf]
command = python3 $BIN/addf.py"
cat > "$BIN/addf.py" <<'PY'
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    r["stage"] = "enriched"
    print(json.dumps(r))
PY
for i in $(seq 50); do echo "{\"n\":$i,\"user\":\"u$((i % 3))\"}"; done > "$D/day.jsonl"
fs_mount "$D/flowfs.ini" "$D/mnt"
cp "$D/day.jsonl" "$D/mnt/web/"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
fs_umount "$D/mnt"
"$FLOWCTL" test "$D/flowfs.ini" web "$D/day.jsonl" -o "$D/day.test.csv" >/dev/null 2>&1
s3get records/web/day.csv > "$D/day.got.csv"
got=$(tr -d '\r' < "$D/day.got.csv")
if [ "$(head -1 <<<"$got")" = "n,user,stage" ] && [ "$(grep -c ',enriched$' <<<"$got")" = 50 ] &&
   cmp -s "$D/day.got.csv" "$D/day.test.csv"; then
	ok pipe_steps_before_records_and_test_matches
else fail pipe_steps_before_records_and_test_matches "$(head -3 <<<"$got"), test: $(head -3 "$D/day.test.csv" 2>&1)"; fi

# --- a step that fails for one input; fixed, flowctl retry delivers it once
pipe_case fails "transforms = check" "[transform.check]
command = sh $BIN/check.sh"
cat > "$BIN/check.sh" <<'SH'
data=$(cat)
if printf '%s\n' "$data" | grep -q BAD; then echo "check: a BAD record in $FLOWFS_SOURCE" >&2; exit 3; fi
printf '%s\n' "$data"
SH
fs_mount "$D/flowfs.ini" "$D/mnt"
echo good one > "$D/mnt/web/g1.txt"; echo "this is BAD" > "$D/mnt/web/bad.txt"; echo good two > "$D/mnt/web/g2.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null 2>&1; rc=$?
err=$(getfattr --only-values -n user.flowfs.error "$D/mnt/web/bad.txt" 2>/dev/null)
if [ $rc = 1 ] && [ "$(s3get fails/web/g1.txt)" = "good one" ] && [ "$(s3get fails/web/g2.txt)" = "good two" ] &&
   ! s3get fails/web/bad.txt >/dev/null && is_state "$D/mnt/web/bad.txt" failed &&
   grep -q 'exited with status 3: check: a BAD record in bad.txt' <<<"$err"; then
	ok pipe_failed_step_fails_only_that_object
else fail pipe_failed_step_fails_only_that_object "sync rc $rc, state $(state "$D/mnt/web/bad.txt"), error '$err'"; fi
hist=$("$FLOWCTL" history "$D/mnt" web --status ERROR)
if history_has "$D/mnt/web" check ERROR "a BAD record in bad.txt" && [ "$(tail -n +2 <<<"$hist" | grep -c 'fails/web/bad.txt\|web/bad.txt')" = 1 ] &&
   grep -q 'exited with status 3: check: a BAD record' <<<"$hist" && ! grep -q g1.txt <<<"$hist"; then
	ok pipe_history_status_error
else fail pipe_history_status_error "$hist"; fi
"$FLOWCTL" history "$D/mnt" --json --status ERROR | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; sys.exit(0 if len(r)==1 and r[0]["exit"]==3 else 1)' &&
	ok pipe_history_json || fail pipe_history_json "$("$FLOWCTL" history "$D/mnt" --json)"
grep -q '"failed_files"' "$D/mnt/web/.status" && grep -q 'a BAD record' "$D/mnt/web/.status" &&
	ok pipe_status_names_step_error || fail pipe_status_names_step_error "$(cat "$D/mnt/web/.status")"
sed -i 's/exit 3/true/' "$BIN/check.sh"	# the script is fixed
"$FLOWCTL" retry "$D/mnt" >/dev/null
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null; rc=$?
puts=$(grep -c 'delivered fails/web/bad.txt ' "$D/log")
if [ $rc = 0 ] && [ "$(s3get fails/web/bad.txt)" = "this is BAD" ] && [ "$puts" = 1 ] && is_state "$D/mnt/web/bad.txt" delivered &&
   [ "$(grep -c 'delivered fails/web/g1.txt ' "$D/log")" = 1 ]; then
	ok pipe_retry_after_fix_delivers_once
else fail pipe_retry_after_fix_delivers_once "sync rc $rc, bad.txt delivered $puts times"; fi
fs_umount "$D/mnt"

# --- timeout: the step's whole group is killed; EMPTY; a missing command; binary output
pipe_case timeout "transforms = slow" "[transform.slow]
command = \"sh -c 'sleep 100.25 & sleep 100.5'\"
timeout = 2s
[transform.drop]
command = sed /DROP/d
[transform.missing]
command = /nonexistent/bin/scrub --strict
[transform.gz]
command = gzip -c
[flow.empty]
sinks = s3
transforms = drop
[flow.miss]
sinks = s3
transforms = missing
[flow.bin]
sinks = s3
transforms = gz"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo x > "$D/mnt/web/slow.txt"
printf 'DROP me\nDROP me too\n' > "$D/mnt/empty/all-dropped.txt"
echo keep > "$D/mnt/empty/kept.txt"
echo y > "$D/mnt/miss/m.txt"
head -c 100000 /dev/urandom > "$D/bin.dat"; cp "$D/bin.dat" "$D/mnt/bin/"
wait_for 20 sh -c "grep -q TIMEOUT '$D/mnt/web/.history'"
sleep 0.5
left=$(pgrep -f 'sleep 100.(25|5)' || true)
if history_has "$D/mnt/web" slow TIMEOUT "timeout of 2s" && is_state "$D/mnt/web/slow.txt" failed && [ -z "$left" ]; then
	ok pipe_timeout_kills_group
else fail pipe_timeout_kills_group "state $(state "$D/mnt/web/slow.txt"), left: $left"; fi
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null 2>&1
if history_has "$D/mnt/empty" drop EMPTY && ! s3get timeout/empty/all-dropped.txt >/dev/null &&
   [ "$(s3get timeout/empty/kept.txt)" = keep ] && cmp -s "$D/mnt/empty/all-dropped.txt" <(printf 'DROP me\nDROP me too\n'); then
	ok pipe_empty_output_drops
else fail pipe_empty_output_drops "$(cat "$D/mnt/empty/.history")"; fi
err=$(getfattr --only-values -n user.flowfs.error "$D/mnt/miss/m.txt" 2>/dev/null)
grep -q 'command not found: /nonexistent/bin/scrub' <<<"$err" && is_state "$D/mnt/miss/m.txt" failed &&
	ok pipe_missing_command_named || fail pipe_missing_command_named "error '$err'"
s3get timeout/bin/bin.dat | gunzip | cmp -s - "$D/bin.dat" && ok pipe_binary_output ||
	fail pipe_binary_output "bin.dat not gzip of the file"
fs_umount "$D/mnt"

# --- runs as nobody, with nothing of flowfs's environment
pipe_case nobody "transforms = who" "[transform.who]
command = \"sh -c 'id -u >&2; env >&2; cat'\""
FLOWFS_TEST_SECRET=s3cr3t fs_mount "$D/flowfs.ini" "$D/mnt"
echo hi > "$D/mnt/web/a.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
h=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["stderr"])' "$D/mnt/web/.history")
if [ "$(head -1 <<<"$h")" = 65534 ] && grep -qx 'FLOWFS_FLOW=web' <<<"$h" && grep -qx 'FLOWFS_KEY=web/a.txt' <<<"$h" &&
   grep -qx 'FLOWFS_SOURCE=a.txt' <<<"$h" && grep -qx 'FLOWFS_STEP=who' <<<"$h" && grep -qx 'HOME=/' <<<"$h" &&
   ! grep -q 's3cr3t' <<<"$h" && [ "$(grep -vc '^PWD=' <<<"$h")" = 8 ] && [ "$(s3get nobody/web/a.txt)" = hi ]; then
	ok pipe_runs_as_nobody_clean_env
else fail pipe_runs_as_nobody_clean_env "$h"; fi
fs_umount "$D/mnt"

# --- kill -9 while a step runs: after the remount it runs again, delivered once
pipe_case kill9 "transforms = slow" "[transform.slow]
command = \"sh -c 'sleep 2; tr a-z A-Z'\""
fs_mount "$D/flowfs.ini" "$D/mnt"
echo abc > "$D/mnt/web/k.txt"
wait_for 10 pgrep -f 'sleep 2; tr a-z A-Z' >/dev/null
fs_kill9 "$D/mnt"
sleep 0.3
left=$(pgrep -f 'sleep 2; tr a-z A-Z' || true)
fs_mount "$D/flowfs.ini" "$D/mnt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
if [ "$(s3get kill9/web/k.txt)" = ABC ] && [ "$(grep -c 'delivered kill9/web/k.txt ' "$D/log")" = 1 ] &&
   [ "$(grep -c '"status":"OK"' "$D/mnt/web/.history")" = 1 ] && [ -z "$left" ]; then
	ok pipe_kill9_mid_step_delivered_once
else fail pipe_kill9_mid_step_delivered_once "got '$(s3get kill9/web/k.txt)', leftover '$left', $(cat "$D/mnt/web/.history")"; fi
fs_umount "$D/mnt"

# --- clean-history of one flow; a step's output bounded by spool_max
pipe_case clean "transforms = cat" "[transform.cat]
command = cat
[transform.flood]
command = yes
[flow.app]
sinks = s3
transforms = cat
[flow.flood]
sinks = s3
transforms = flood"
sed -i 's/^\[flowfs\]$/[flowfs]\nspool_max = 8M/' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo a > "$D/mnt/web/a"; echo b > "$D/mnt/app/b"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
"$FLOWCTL" clean-history "$D/mnt" --flow web --days 0 >/dev/null
[ -z "$(cat "$D/mnt/web/.history")" ] && [ -n "$(cat "$D/mnt/app/.history")" ] && ok pipe_clean_history_one_flow ||
	fail pipe_clean_history_one_flow "web $(wc -c < "$D/mnt/web/.history") bytes, app $(wc -c < "$D/mnt/app/.history")"
"$FLOWCTL" clean-history "$D/mnt" --days 1 >/dev/null
[ -n "$(cat "$D/mnt/app/.history")" ] && ok pipe_clean_history_days_keeps_newer || fail pipe_clean_history_days_keeps_newer "app emptied"
echo z > "$D/mnt/flood/z"
wait_for 20 sh -c "grep -q spool_max '$D/mnt/flood/.history'"
echo c > "$D/mnt/app/c"
"$FLOWCTL" sync "$D/mnt" --timeout 10 >/dev/null 2>&1
if history_has "$D/mnt/flood" flood ERROR "spool_max" && is_state "$D/mnt/flood/z" queued &&
   [ "$(s3get clean/app/c)" = c ] && [ "$(du -sm "$D/spool/data" | cut -f1)" -le 9 ]; then
	ok pipe_output_bounded_by_spool_max
else fail pipe_output_bounded_by_spool_max "state $(state "$D/mnt/flood/z"), spool $(du -sm "$D/spool/data")"; fi
rm -f "$D/mnt/flood/z"
fs_umount "$D/mnt"

# --- bad config: refused at mount, with file, line and key
new_case badcfg
printf '[transform.x]\ncommand = cat\nuser = no_such_user_here\n[flow.app]\nsinks = out\ntransforms = x\n' >> "$D/flowfs.ini"
out=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1); rc=$?
grep -q "flowfs.ini:[0-9]*: \[transform.x\] user: unknown user 'no_such_user_here'" <<<"$out" && [ $rc != 0 ] && ! mountpoint -q "$D/mnt" &&
	ok pipe_config_unknown_user_refused || fail pipe_config_unknown_user_refused "rc $rc: $out"
new_case badcmd
printf "[transform.x]\ncommand = \"sh -c 'unclosed\"\n[flow.app]\nsinks = out\ntransforms = x\n" >> "$D/flowfs.ini"
out=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1); rc=$?
grep -q 'flowfs.ini:[0-9]*: \[transform.x\] command: a quote that is not closed' <<<"$out" && [ $rc != 0 ] &&
	ok pipe_config_bad_command_refused || fail pipe_config_bad_command_refused "rc $rc: $out"
