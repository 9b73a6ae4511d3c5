# The http sink against tests/e2e/receiver.js, a loopback receiver that saves
# every request (headers, body, time) and can be told to fail: raw bodies and
# headers, basic auth, gzip, retries (500, 429 + Retry-After), permanent 400,
# redirects not followed, events mode (JSON-lines arrays, 512 KiB file
# events rebuilt by `flowctl reassemble`), bad URLs refused at mount.
. tests/e2e/lib.sh
need_fuse t_http
if ! command -v node >/dev/null || ! command -v jq >/dev/null; then
	skip t_http "node or jq is not installed"
	exit 0
fi
PORT=$(free_ports 2)
RXPORT=$PORT RX=$TESTS_TMP/rx
trap 'fs_cleanup; rx_stop' EXIT
rx_start || { fail http_receiver "receiver did not start: $(tail -3 "$TESTS_TMP/rx.log")"; exit 0; }

rx_ctl() { curl -sf -X POST "http://127.0.0.1:$PORT/_ctl?$1" >/dev/null; }	# "mode=500&count=2"
rx_reqs() { jq -c "select(.url == \"$1\")" "$RX/index.jsonl" 2>/dev/null; }	# URL: its requests
rx_body() { cat "$RX/$(rx_reqs "$1" | jq -r "select(.status == 200) | .body" | sed -n "${2:-1}p")"; }
rx_hdr() { rx_reqs "$1" | jq -r "select(.status == 200) | .headers[\"$2\"]" | head -1; }

http_case() {	# NAME [KEY = VALUE lines on stdin]: sink "web" posting to /NAME
	new_case "$1"
	sed -i 's/^sinks = out$/sinks = web/' "$D/flowfs.ini"
	{ printf '[sink.web]\ntype = http\nurl = http://127.0.0.1:%s/%s\n' $PORT "$1"; cat; } >> "$D/flowfs.ini"
}

# --- raw: the bytes, the X-Flowfs headers, metadata
http_case raw </dev/null
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c 300000 /dev/urandom > "$D/r.bin"
cp "$D/r.bin" "$D/mnt/web/r.bin"
exec 3>"$D/mnt/web/m.txt"; echo meta >&3
setfattr -n user.meta.owner -v alice "$D/mnt/web/m.txt"
exec 3>&-
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
sha=$(sha256sum "$D/r.bin" | cut -d' ' -f1)
r=$(rx_reqs /raw | jq -s -c 'map(select(.headers["x-flowfs-key"] == "web/r.bin"))')
b=$(jq -r '.[0].body' <<<"$r")
if cmp -s "$RX/$b" "$D/r.bin" &&
   jq -e --arg s "$sha" 'length == 1 and .[0].method == "POST" and .[0].headers["x-flowfs-sha256"] == $s and
	.[0].headers["x-flowfs-flow"] == "web" and (.[0].headers["idempotency-key"] | length > 10)' <<<"$r" >/dev/null &&
   [ "$(rx_reqs /raw | jq -r 'select(.headers["x-flowfs-key"] == "web/m.txt") | .headers["x-flowfs-meta-owner"]')" = alice ]; then
	ok http_raw_identical_with_headers
else
	fail http_raw_identical_with_headers "$r"
fi
log_clean && ok http_raw_log_clean || fail http_raw_log_clean "errors in the log"
fs_umount "$D/mnt"

# --- api_key: basic auth "KEY:", never in the log or .status
http_case apikey <<<"api_key = SeKr3tKeyXYZ"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo a > "$D/mnt/web/a.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
want="Basic $(printf 'SeKr3tKeyXYZ:' | base64)"
leak=$(cat "$D/mnt/web/.status" "$D/mnt/.status" "$D/mnt/web/.flow" "$D/log"; "$FLOWCTL" status "$D/mnt")
got=$(rx_hdr /apikey authorization)
if [ "$got" = "$want" ] && ! grep -q SeKr3tKeyXYZ <<<"$leak"; then
	ok http_api_key_basic_auth_not_leaked
else
	fail http_api_key_basic_auth_not_leaked "authorization '$got', want '$want'; leaked: $(grep -c SeKr3tKeyXYZ <<<"$leak")"
fi
fs_umount "$D/mnt"
http_case apikeyfile <<<"api_key_file = $TESTS_TMP/apikeyfile/key"
echo FileKey99 > "$D/key"; chmod 644 "$D/key"
err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
if [ $? != 0 ] && grep -q 'api_key_file: .*has mode 0644' <<<"$err" && ! grep -q FileKey99 <<<"$err"; then
	chmod 600 "$D/key"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	echo k > "$D/mnt/web/k.txt"
	"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
	[ "$(rx_hdr /apikeyfile authorization)" = "Basic $(printf 'FileKey99:' | base64)" ] &&
		ok http_api_key_file_0600 || fail http_api_key_file_0600 "authorization '$(rx_hdr /apikeyfile authorization)'"
	fs_umount "$D/mnt"
else
	fail http_api_key_file_0600 "mode 0644 not refused: $err"
fi

# --- body_encoding = gzip
http_case gzip <<<"body_encoding = gzip"
fs_mount "$D/flowfs.ini" "$D/mnt"
seq 100000 > "$D/g.txt"
cp "$D/g.txt" "$D/mnt/web/g.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
if [ "$(rx_hdr /gzip content-encoding)" = gzip ] && rx_body /gzip | gunzip | cmp -s - "$D/g.txt" &&
   [ "$(rx_reqs /gzip | jq -r .len)" -lt "$(stat -c %s "$D/g.txt")" ]; then
	ok http_gzip_body
else
	fail http_gzip_body "content-encoding '$(rx_hdr /gzip content-encoding)'"
fi
fs_umount "$D/mnt"

# --- 500 twice, then delivered once with the same Idempotency-Key
http_case retry500 </dev/null
rx_ctl "mode=500&count=2"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo five > "$D/mnt/web/f.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
st=$(rx_reqs /retry500 | jq -r .status | tr '\n' ' ')
keys=$(rx_reqs /retry500 | jq -r '.headers["idempotency-key"]' | sort -u | wc -l)
if [ "$st" = "500 500 200 " ] && [ "$keys" = 1 ] && [ "$(rx_body /retry500)" = five ]; then
	ok http_500_twice_then_once_same_idempotency_key
else
	fail http_500_twice_then_once_same_idempotency_key "statuses '$st', $keys distinct keys"
fi
fs_umount "$D/mnt"
rx_ctl "mode=ok"

# --- 429 with Retry-After: 2: the next attempt waits for it
http_case retry429 </dev/null
rx_ctl "mode=429&count=1"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo slow > "$D/mnt/web/s.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
st=$(rx_reqs /retry429 | jq -r .status | tr '\n' ' ')
gap=$(rx_reqs /retry429 | jq -s '.[1].t - .[0].t')
if [ "$st" = "429 200 " ] && [ "$gap" -ge 1800 ]; then
	ok http_429_retry_after_honoured
else
	fail http_429_retry_after_honoured "statuses '$st', ${gap} ms between the attempts"
fi
fs_umount "$D/mnt"
rx_ctl "mode=ok"

# --- 400 is permanent, with the answer's first bytes in .status
http_case perm400 </dev/null
rx_ctl "mode=400&count=1"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo bad > "$D/mnt/web/b.txt"
wait_for 15 is_state "$D/mnt/web/b.txt" failed
if is_state "$D/mnt/web/b.txt" failed && [ "$(rx_reqs /perm400 | wc -l)" = 1 ] &&
   jq -e '.sinks.web.last_error | test("HTTP 400: bad request: field .x. is invalid")' "$D/mnt/web/.status" >/dev/null; then
	ok http_400_permanent_visible
else
	fail http_400_permanent_visible "state $(state "$D/mnt/web/b.txt"), $(jq -c .sinks.web "$D/mnt/web/.status")"
fi
fs_umount "$D/mnt"
rx_ctl "mode=ok"

# --- events: JSON lines of a stream arrive as arrays, every line once
http_case evlines <<<"mode = events
batch_bytes = 1K"
fs_mount "$D/flowfs.ini" "$D/mnt"
for i in $(seq 300); do echo "{\"a\":$i}" >> "$D/mnt/web/ev.log"; done
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
all=$(for b in $(rx_reqs /evlines | jq -r 'select(.status == 200) | .body'); do cat "$RX/$b"; echo; done | jq -s -c 'add | map(.a) | sort')
n=$(rx_reqs /evlines | wc -l)
big=$(rx_reqs /evlines | jq -s 'map(select(.len > 1024)) | length')
ctype=$(rx_hdr /evlines content-type)
if [ "$all" = "$(seq 300 | jq -s -c .)" ] && [ "$n" -ge 3 ] && [ "$big" = 0 ] && [ "$ctype" = application/json ]; then
	ok http_events_json_lines_arrays
else
	fail http_events_json_lines_arrays "$n requests, $big over 1K, content-type '$ctype', lines $(cut -c1-200 <<<"$all")"
fi
fs_umount "$D/mnt"

# --- events: a 3 MiB file as 6 parts of 512 KiB (one part failing once is
# resent alone), event time and metadata headers, rebuilt by reassemble
http_case evfile <<<"mode = events"
rx_ctl "mode=500&count=1&after=2"
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c $((3 * 1024 * 1024)) /dev/urandom > "$D/big.bin"
exec 3>"$D/mnt/web/big.bin"
setfattr -n user.meta.owner -v bob "$D/mnt/web/big.bin"
setfattr -n user.flowfs.event_time -v 2026-11-24T10:00:00Z "$D/mnt/web/big.bin"
cat "$D/big.bin" >&3
exec 3>&-
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
mkdir -p "$D/ev" "$D/re" "$D/bad" "$D/ev2"
for b in $(rx_reqs /evfile | jq -r 'select(.status == 200) | .body'); do cp "$RX/$b" "$D/ev/"; done
st=$(rx_reqs /evfile | jq -r .status | tr '\n' ' ')
meta=$(rx_hdr /evfile x-flowcore-metadata-json | base64 -d 2>/dev/null)
etime=$(rx_hdr /evfile x-flowcore-event-time)
# another file of the same name, in a sub-directory: events carry no directory
mkdir "$D/mnt/web/sub"
echo "not the big one" > "$D/mnt/web/sub/big.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
for b in $(rx_reqs /evfile | jq -r 'select(.status == 200) | .body'); do
	[ -e "$D/ev/$b" ] || cp "$RX/$b" "$D/ev2/"
done
parts=$(for f in "$D"/ev/*; do jq -j '"[\(.part),\(.totalParts),\(.fileName | tojson),"' "$f"; jq -r .data "$f" | base64 -d | wc -c | tr -d '\n'; echo ']'; done | sort | tr -d '\n')
want='[1,6,"big.bin",524288][2,6,"big.bin",524288][3,6,"big.bin",524288][4,6,"big.bin",524288][5,6,"big.bin",524288][6,6,"big.bin",524288]'
if [ "$parts" = "$want" ] && [ "$st" = "200 200 500 200 200 200 200 " ]; then
	ok http_events_file_6_parts_resent_part_alone
else
	fail http_events_file_6_parts_resent_part_alone "statuses '$st', parts $parts"
fi
[ "$meta" = '{"owner":"bob"}' ] && [ "$etime" = 2026-11-24T10:00:00Z ] && ok http_events_flowcore_headers ||
	fail http_events_flowcore_headers "metadata '$meta', event time '$etime'"
if (cd "$D/re" && "$FLOWCTL" reassemble "$D/ev" >/dev/null) && cmp -s "$D/re/big.bin" "$D/big.bin"; then
	ok http_reassemble_identical
else
	fail http_reassemble_identical "$(cd "$D/re" && "$FLOWCTL" reassemble "$D/ev" 2>&1)"
fi
# a capture numbered from 0 (as flowfs sent events before) is read too
mkdir -p "$D/ev0" "$D/re0"
for f in "$D"/ev/*; do jq -c '.part -= 1' "$f" > "$D/ev0/${f##*/}"; done
if "$FLOWCTL" reassemble -o "$D/re0" "$D/ev0" >/dev/null && cmp -s "$D/re0/big.bin" "$D/big.bin"; then
	ok http_reassemble_zero_based_capture
else
	fail http_reassemble_zero_based_capture "$("$FLOWCTL" reassemble -o "$D/re0" "$D/ev0" 2>&1)"
fi
mkdir -p "$D/re3"; err=$("$FLOWCTL" reassemble -o "$D/re3" "$D/ev" "$D/ev2" 2>&1 >/dev/null; echo "rc=$?")
got=$(for f in "$D"/re3/big.bin*; do
	cmp -s "$f" "$D/big.bin" && echo big || { [ "$(cat "$f")" = "not the big one" ] && echo small; }
done | sort | tr '\n' ' ')
if [ "$got" = "big small " ] && grep -q 'rc=0' <<<"$err" && grep -q 'is written as big.bin.2' <<<"$err"; then
	ok http_reassemble_same_name_both_kept
else
	fail http_reassemble_same_name_both_kept "rebuilt: $got; $err"
fi
cp "$D"/ev/* "$D/bad/"
f=$(grep -l '"part":3,' "$D"/bad/*)
jq -c '.data |= ("AAAA" + .[4:])' "$f" > "$f.new" && mv "$f.new" "$f"
mkdir -p "$D/re2"; err=$("$FLOWCTL" reassemble -o "$D/re2" "$D/bad" 2>&1; echo "rc=$?")
if grep -q 'big.bin: checksum mismatch' <<<"$err" && grep -q 'rc=1' <<<"$err" && [ ! -e "$D/re2/big.bin" ]; then
	ok http_reassemble_corrupt_part_fails
else
	fail http_reassemble_corrupt_part_fails "$err"
fi
rm "$f"
err=$("$FLOWCTL" reassemble -o "$D/re2" "$D/bad" 2>&1; echo "rc=$?")
grep -q 'big.bin: part 3 of 6 is missing' <<<"$err" && grep -q 'rc=1' <<<"$err" &&
	ok http_reassemble_missing_part_fails || fail http_reassemble_missing_part_fails "$err"
fs_umount "$D/mnt"
rx_ctl "mode=ok"

# --- a url that is not http(s) is refused at mount, naming the key
http_case ftp </dev/null
sed -i "s|^url = .*|url = ftp://127.0.0.1:$PORT/x|" "$D/flowfs.ini"
err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
if [ $? != 0 ] && grep -q '\[sink.web\] url: .ftp://.* is not an http:// or https:// URL' <<<"$err" && ! mountpoint -q "$D/mnt"; then
	ok http_ftp_url_refused
else
	fail http_ftp_url_refused "$err"
fi

# --- a 302 is not followed: retried (kept in the spool, visible in .status),
# nothing goes to the redirect's target; delivered once the server is fixed
http_case redirect </dev/null
rx_ctl "mode=redirect&count=1000"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo moved > "$D/mnt/web/m.txt"
wait_for 15 sh -c "[ \$(grep -c '\"url\":\"/redirect\"' '$RX/index.jsonl') -ge 2 ]"
st=$(jq -c .sinks.web.last_error "$D/mnt/web/.status")
s1=$(state "$D/mnt/web/m.txt")
rx_ctl "mode=ok"
"$FLOWCTL" retry "$D/mnt" >/dev/null
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
if [ "$s1" = queued ] && grep -q 'HTTP 302' <<<"$st" && [ -z "$(rx_reqs /elsewhere)" ] &&
   [ "$(rx_reqs /redirect | jq -r 'select(.status == 200) | .status' | wc -l)" = 1 ] && [ "$(rx_body /redirect)" = moved ]; then
	ok http_redirect_not_followed_retried
else
	fail http_redirect_not_followed_retried "state while redirected '$s1', last_error $st, to /elsewhere: $(rx_reqs /elsewhere | wc -l)"
fi
fs_umount "$D/mnt"
# --- follow_redirects = yes: the body (from the spool file) follows a 302
http_case follow <<<"follow_redirects = yes"
rx_ctl "mode=redirect&count=1"
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c 200000 /dev/urandom > "$D/f.bin"
cp "$D/f.bin" "$D/mnt/web/f.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
b=$(rx_reqs /elsewhere | jq -r 'select(.status == 200 and .headers["x-flowfs-key"] == "web/f.bin") | .body')
if [ -n "$b" ] && cmp -s "$RX/$b" "$D/f.bin" && [ "$(rx_reqs /follow | jq -r .status)" = 302 ]; then
	ok http_follow_redirects_yes
else
	fail http_follow_redirects_yes "to /follow: $(rx_reqs /follow | jq -r .status | tr '\n' ' '), to /elsewhere: $(rx_reqs /elsewhere | jq -c '[.status, .len]' | tr '\n' ' ')"
fi
fs_umount "$D/mnt"
rx_ctl "mode=ok"

# --- a spool part altered after sealing is caught and nothing is sent
http_case corrupt </dev/null	# nobody listens on port 1: deliveries wait
corrupt_spooled c.bin url "http://127.0.0.1:1/nobody" "http://127.0.0.1:$PORT/corrupt"
if is_state "$D/mnt/web/c.bin" failed && [ -z "$(rx_reqs /corrupt)" ] &&
   jq -e '.sinks.web.last_error | test("SHA-256 mismatch")' "$D/mnt/web/.status" >/dev/null; then
	ok http_corrupt_part_never_sent
else
	fail http_corrupt_part_never_sent "state $(state "$D/mnt/web/c.bin"), $(rx_reqs /corrupt | wc -l) requests, $(jq -c .sinks.web.last_error "$D/mnt/web/.status")"
fi
fs_umount "$D/mnt"

# --- events: an xz stream is unpacked; user.meta.flowfs.* is refused
http_case evxz <<<"mode = events"
sed -i 's/^\[flow.web\]$/[flow.web]\ncompress = xz/' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
for i in $(seq 20); do echo "{\"x\":$i,\"s\":\"l\\u00e9\"}" >> "$D/mnt/web/x.log"; done
exec 3>"$D/mnt/web/n.txt"
setfattr -n user.meta.flowfs.event_time -v 1 "$D/mnt/web/n.txt" 2>/dev/null && refused=no || refused=yes
exec 3>&-
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
all=$(for b in $(rx_reqs /evxz | jq -r 'select(.status == 200 and (.headers["x-flowfs-key"] | endswith(".xz"))) | .body'); do cat "$RX/$b"; echo; done | jq -s -c 'add | map(.x) | sort')
if [ "$all" = "$(seq 20 | jq -s -c .)" ] && [ "$refused" = yes ]; then
	ok http_events_xz_stream_unpacked
else
	fail http_events_xz_stream_unpacked "lines $all, user.meta.flowfs.* refused: $refused"
fi
fs_umount "$D/mnt"
rx_stop
exit 0
