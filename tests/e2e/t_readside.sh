# The read side (THE READ SIDE in flowfs(1)): .time, .latest, .events,
# notify callbacks, .health, .tags and the flowctl commands built on them,
# against s3rver, Azurite and the loopback receiver started here.
. tests/e2e/lib.sh
need_fuse t_readside
need_s3rver t_readside
AZURITE=tests/node_modules/azurite/dist/src/blob/main.js
if [ ! -f "$AZURITE" ] || ! command -v python3 >/dev/null || ! command -v jq >/dev/null; then
	skip t_readside "Azurite (npm ci --prefix tests), python3 or jq is missing"
	exit 0
fi
AZKEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
BASE=$(free_ports 4)
PORT=$BASE AZPORT=$((BASE + 1)) RXPORT=$((BASE + 2))
EP=http://127.0.0.1:$AZPORT/devstoreaccount1
RX=$TESTS_TMP/rx
AZPID=
az_stop() { proc_stop "$AZPID"; AZPID=; }
trap 'fs_cleanup; s3_stop; az_stop; rx_stop' EXIT
s3_start || { fail readside_servers "s3rver did not start"; exit 0; }
mkdir -p "$TESTS_TMP/azdata"
node "$AZURITE" --blobHost 127.0.0.1 --blobPort "$AZPORT" --location "$TESTS_TMP/azdata" --silent \
	--disableTelemetry --skipApiVersionCheck --loose >>"$TESTS_TMP/azurite.log" 2>&1 &
AZPID=$!
wait_for 20 grep -q 'successfully listens' "$TESTS_TMP/azurite.log" &&
	python3 tests/e2e/azblob.py "$EP" mkcontainer cont 2>/dev/null ||
	{ fail readside_servers "Azurite did not start: $(tail -3 "$TESTS_TMP/azurite.log")"; exit 0; }

# probe SECONDS CMD...: CMD succeeds within SECONDS (a wall-clock bound)
probe() {
	local t=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1 || return 1
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt $((t * 1000)) ]
}
entries() { find "$1/.time" -type f | sort; }	# FLOWDIR: its .time entries
healthy() { [ "$(jq -r .healthy "$D/mnt/.health" 2>/dev/null)" = "$1" ]; }

# --- files and stream chunks to s3 + dir + azure: each under its minute,
# every URL fetched by a real client gives the bytes of size and sha256
FLOW_EXTRA=$'compress = gz\ntags = alpha, beta' new_case urls
sed -i 's/^sinks = out$/sinks = s3, out, az/' "$D/flowfs.ini"
s3_cred
s3_sink s3 "http://127.0.0.1:$PORT" "pre/"
printf '%s\n' "$AZKEY" > "$D/azkey"; chmod 600 "$D/azkey"
cat >> "$D/flowfs.ini" <<INI
[sink.az]
type = azure
account = devstoreaccount1
container = cont
endpoint = $EP
key_file = $D/azkey
prefix = az/
[flow.app]
sinks = out
tags = beta
INI
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c 3000 /dev/urandom > "$D/a.bin"
printf 'one\ntwo\n' > "$D/b b.txt"
cp "$D/a.bin" "$D/b b.txt" "$D/mnt/web/"
seq 1 500 >> "$D/mnt/web/app.log"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
SAS=$(python3 tests/e2e/azblob.py "$EP" sas r)
bad= n=0
while IFS= read -r e <&3; do
	n=$((n + 1))
	line=$(cat "$e")
	want=$(jq -r '.delivered[0:16]' <<<"$line" | tr 'T:-' '///')
	got=$(dirname "${e#"$D/mnt/web/.time/"}")
	[ "$want" = "$got" ] || bad="$bad minute($got != $want)"
	size=$(jq -r .size <<<"$line") sha=$(jq -r .sha256 <<<"$line")
	for s in s3 out az; do
		url=$(jq -r ".sinks.$s" <<<"$line")
		case $url in
		s3://bkt/pre/*) s3get "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "${url#s3://bkt/}")" > "$D/got" ;;
		file://"$D"/out/*) python3 -c 'import sys, urllib.parse; sys.stdout.buffer.write(open(urllib.parse.unquote(sys.argv[1][7:]), "rb").read())' "$url" > "$D/got" ;;
		"$EP"/cont/az/*) curl -sf "$url?$SAS" > "$D/got" ;;
		*) bad="$bad url($s: $url)"; continue ;;
		esac
		[ "$(stat -c %s "$D/got")" = "$size" ] && [ "$(sha256sum < "$D/got" | cut -c1-64)" = "$sha" ] ||
			bad="$bad $s:$url"
	done
done 3< <(entries "$D/mnt/web")
s3get "pre/web/a.bin" | cmp -s - "$D/a.bin" || bad="$bad a.bin"
if [ "$n" = 3 ] && [ -z "$bad" ] && log_clean; then
	ok readside_time_urls_fetch_identical
else
	fail readside_time_urls_fetch_identical "$n entries (want 3):$bad"
fi

# .latest (and flowctl latest) follow the last delivery; flowctl deliveries
before=$(jq -r .key "$D/mnt/web/.latest")
echo new > "$D/mnt/web/c.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
after=$(jq -r .key "$D/mnt/web/.latest")
fl=$("$FLOWCTL" latest "$D/mnt" web | jq -r .key)
"$FLOWCTL" latest "$D/mnt" app >/dev/null 2>&1; empty_rc=$?
dl=$("$FLOWCTL" deliveries "$D/mnt" web --since 1h --json | jq -r .key)
human=$("$FLOWCTL" deliveries "$D/mnt" web | tail -n 1)
if [ "$after" = web/c.txt ] && [ "$before" != "$after" ] && [ "$fl" = web/c.txt ] && [ "$empty_rc" = 1 ] &&
   [ ! -s "$D/mnt/app/.latest" ] && [ "$(wc -l <<<"$dl")" = 4 ] && [ "$(tail -n 1 <<<"$dl")" = web/c.txt ] &&
   grep -q "  4  web/c.txt  s3://bkt/pre/web/c.txt  file://" <<<"$human"; then
	ok readside_latest_and_flowctl
else
	fail readside_latest_and_flowctl "latest '$before' -> '$after', flowctl latest '$fl', empty flow rc $empty_rc, deliveries '$(tr '\n' ' ' <<<"$dl")' / '$human'"
fi

# tags: /.tags lists them, a symlink per flow leads to it
tags=$(ls "$D/mnt/.tags" | tr '\n' ' ') beta=$(ls "$D/mnt/.tags/beta" | tr '\n' ' ')
if [ "$tags" = "alpha beta " ] && [ "$beta" = "app web " ] && [ "$(readlink "$D/mnt/.tags/beta/web")" = ../../web ] &&
   [ -f "$D/mnt/.tags/alpha/web/.flow" ] && [ ! -e "$D/mnt/.tags/alpha/app" ]; then
	ok readside_tags
else
	fail readside_tags "tags '$tags', beta '$beta', link '$(readlink "$D/mnt/.tags/beta/web")'"
fi
fs_umount "$D/mnt"

# bad tags and notify keys are refused at mount, with file, line and key
bad=
for kv in "tags = bad-tag" "tags = $(seq -s, -f t%g 21)" "tags = $(printf 'x%.0s' $(seq 49))" "notify = out"; do
	FLOW_EXTRA="$kv" new_case badkey
	"$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f >"$D/err" 2>&1 && { bad="$bad mounted($kv)"; fs_cleanup; fusermount3 -uz "$D/mnt"; }
	grep -qE "flowfs.ini:[0-9]+: \[flow.web\] ${kv%% *}: " "$D/err" || bad="$bad '$kv': $(head -c 200 "$D/err")"
done
[ -z "$bad" ] && ok readside_bad_keys_refused || fail readside_bad_keys_refused "$bad"

# --- .events: tail -n 0 -f started before 100 deliveries prints exactly
# those 100 lines; a Python reader looping on read sees them in /.events
FLOW_EXTRA=$'maxlines = 1\ncompress = none' new_case events
fs_mount "$D/flowfs.ini" "$D/mnt"
echo early > "$D/mnt/web/early.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
sleep 1.2	# the kernel's attribute cache (1 s) holds the size tail starts at
tail -n 0 -f "$D/mnt/web/.events" > "$D/tail.out" 2>"$D/tail.err" &
TAILPID=$!
python3 - "$D/mnt/.events" "$D/py.out" 100 <<'PY' &
import json, os, sys, time
path, out, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
f = open(path, "rb", buffering=0)
f.seek(os.stat(path).st_size)
buf, lines, t0 = b"", [], time.time()
while len(lines) < want and time.time() - t0 < 60:
    b = f.read(65536)
    if not b:
        time.sleep(0.05)
        continue
    buf += b
    *done, buf = buf.split(b"\n")
    lines += [json.loads(l) for l in done]
open(out, "w").write("".join(l["key"] + "\n" for l in lines))
PY
PYPID=$!
sleep 1.5
for i in $(seq 1 100); do echo "line $i"; done >> "$D/mnt/web/app.log"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
wait_for 15 sh -c "[ \$(wc -l < '$D/tail.out') -ge 100 ]"
sleep 1.5	# one more poll: nothing beyond the 100
kill "$TAILPID"; wait "$TAILPID" 2>/dev/null
wait "$PYPID"
keys=$(jq -r .key "$D/tail.out" 2>/dev/null | sort -u | wc -l)
if [ "$(wc -l < "$D/tail.out")" = 100 ] && [ "$keys" = 100 ] && ! grep -q early "$D/tail.out" &&
   [ "$(jq -r .flow "$D/tail.out" | sort -u)" = web ]; then
	ok readside_events_tail_f_exactly_100
else
	fail readside_events_tail_f_exactly_100 "tail printed $(wc -l < "$D/tail.out") lines, $keys keys; $(head -c 300 "$D/tail.err")"
fi
if [ "$(sort -u "$D/py.out" | wc -l)" = 100 ] && [ "$(sort "$D/py.out")" = "$(jq -r .key "$D/tail.out" | sort)" ]; then
	ok readside_events_python_reader
else
	fail readside_events_python_reader "the reader got $(wc -l < "$D/py.out") lines"
fi
fs_umount "$D/mnt"

# a reader that fell behind the bounded log reads one "missed" line, then
# the rest: missed + read = every delivery
GLOBAL_EXTRA="events_size = 4K" FLOW_EXTRA=$'maxlines = 1\ncompress = none' new_case missed
fs_mount "$D/flowfs.ini" "$D/mnt"
exec 4<"$D/mnt/web/.events"
for i in $(seq 1 60); do echo "line $i"; done >> "$D/mnt/web/app.log"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
python3 - <<'PY' > "$D/missed.out" 4<&4
import json, os
f = os.fdopen(4, "rb", buffering=0)
data = b""
while True:
    b = f.read(65536)
    if not b:
        break
    data += b
lines = [json.loads(l) for l in data.split(b"\n") if l]
print(lines[0].get("missed", -1), len(lines) - 1, sum("missed" in l for l in lines))
PY
exec 4<&-
read -r missed rest nmissed < "$D/missed.out"
sleep 1.1	# the kernel's attribute cache
size=$(stat -c %s "$D/mnt/web/.events")
if [ "$nmissed" = 1 ] && [ "$missed" -gt 0 ] && [ $((missed + rest)) = 60 ] && [ "$size" -gt 4096 ]; then
	ok readside_events_bounded_missed_line
else
	fail readside_events_bounded_missed_line "missed $missed + read $rest (want 60 in all, one missed line: $nmissed), size $size"
fi
fs_umount "$D/mnt"

# --- notify: every callback reaches the receiver, once per
# Idempotency-Key, in delivery order, across an outage and a kill -9
FLOW_EXTRA="notify = hook" new_case notify
printf '[sink.hook]\ntype = http\nurl = http://127.0.0.1:%s/cb\n' "$RXPORT" >> "$D/flowfs.ini"
rx_start || { fail readside_notify "receiver did not start"; exit 0; }
fs_mount "$D/flowfs.ini" "$D/mnt"
for i in 1 2 3; do echo "$i" > "$D/mnt/web/f$i"; done
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
wait_eq 10 3 "jq -r 'select(.status == 200) | .headers[\"idempotency-key\"]' '$RX/index.jsonl' | sort -u | wc -l"
rx_stop	# the outage
for i in 4 5 6; do echo "$i" > "$D/mnt/web/f$i"; done
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
wait_for 10 grep -q 'callback .*retrying in' "$D/log"
rx_start 2
wait_eq 20 6 "jq -r 'select(.status == 200) | .headers[\"idempotency-key\"]' '$RX/index.jsonl' | sort -u | wc -l"
rx_stop	# down again, then kill -9 with callbacks pending
for i in 7 8 9; do echo "$i" > "$D/mnt/web/f$i"; done
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
fs_kill9 "$D/mnt"
rx_start 3
fs_mount "$D/flowfs.ini" "$D/mnt"
wait_eq 30 9 "jq -r 'select(.status == 200) | .headers[\"idempotency-key\"]' '$RX/index.jsonl' | sort -u | wc -l"
# the receiver's view, deduplicated by Idempotency-Key: the uris of f1..f9,
# in the order .events has their deliveries (workers may deliver f2 before f1)
want=$(jq -r '.flow + " " + .key' "$D/mnt/web/.events" | sed 's|web/||' | tr '\n' ' ')
got=$(jq -r 'select(.status == 200) | .headers["idempotency-key"] + " " + .body' "$RX/index.jsonl" |
	awk '!seen[$1]++ {print $2}' | while read -r b; do jq -r '.name + " " + (.uris | join(","))' "$RX/$b"; done |
	sed "s|file://$D/out/web/||" | tr '\n' ' ')
posts=$(jq -r 'select(.url == "/cb") | .headers["idempotency-key"]' "$RX/index.jsonl" | wc -l)
if [ "$got" = "$want" ] && [ "$(tr ' ' '\n' <<<"$got" | grep -c '^f[1-9]$')" = 9 ] &&
   [ "$(jq -r 'select(.url == "/cb") | .headers["content-type"]' "$RX/index.jsonl" | sort -u)" = application/json ]; then
	ok readside_notify_once_across_outage_and_kill9
else
	fail readside_notify_once_across_outage_and_kill9 "receiver got (deduplicated): '$got' in $posts POSTs; .events: '$want'"
fi
# a callback answered 202 is not done: only a 200 is (the Hub's rule)
curl -sf "http://127.0.0.1:$RXPORT/_ctl?mode=202&count=2" >/dev/null
echo 10 > "$D/mnt/web/f10"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
wait_eq 20 1 "jq -r 'select(.status == 200 and .url == \"/cb\") | .body' '$RX/index.jsonl' | while read -r b; do jq -r '.uris[0]' \"$RX/\$b\"; done | grep -c '/f10$'"
n202=$(jq -r 'select(.status == 202) | .url' "$RX/index.jsonl" | grep -c '^/cb$')
[ "$n202" = 2 ] && ok readside_notify_only_200_is_success ||
	fail readside_notify_only_200_is_success "$n202 callbacks answered 202 (want 2, then a 200)"
fs_umount "$D/mnt"
rx_stop

# --- .health: false while a sink fails every attempt past unhealthy_after
# (and every read-side file still answers in under 1 s while it hangs);
# false while the spool is full; true again after each
GLOBAL_EXTRA=$'unhealthy_after = 3s\nspool_max = 2M' new_case health
sed -i 's/^retry_max = .*/retry_max = 1s/; s/^sinks = out$/sinks = hook/' "$D/flowfs.ini"
printf '[sink.hook]\ntype = http\nurl = http://127.0.0.1:%s/h\n' "$RXPORT" >> "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo x > "$D/mnt/web/h1"	# the receiver is down: refused, every attempt
sleep 1.5
early=$(jq -r .healthy "$D/mnt/.health")
wait_for 10 healthy false
"$FLOWCTL" health "$D/mnt" > "$D/h.out"; hrc=$?
desc=$(jq -r .description "$D/mnt/.health")
rx_start 4
kill -STOP "$RXPID"	# now it hangs: deliveries block in the sink
sleep 1
slow=
for p in "cat $D/mnt/.health" "cat $D/mnt/web/.latest" "cat $D/mnt/web/.events" "cat $D/mnt/.events" \
	 "ls -R $D/mnt/web/.time" "ls $D/mnt/.tags" "$FLOWCTL deliveries $D/mnt web" "$FLOWCTL health $D/mnt"; do
	probe 1 sh -c "$p >/dev/null; true" || slow="$slow '$p'"
done
kill -CONT "$RXPID"
wait_for 15 healthy true
"$FLOWCTL" health "$D/mnt" >/dev/null; hrc2=$?
if [ "$early" = true ] && [ "$hrc" = 1 ] && grep -q '"healthy":false' "$D/h.out" &&
   grep -q 'sink hook has failed every attempt' <<<"$desc" && [ -z "$slow" ] && [ "$hrc2" = 0 ] &&
   [ "$(jq -r .version "$D/mnt/.health")" != null ]; then
	ok readside_health_sink_down_and_back
else
	fail readside_health_sink_down_and_back "healthy at 1.5s: $early, flowctl rc $hrc then $hrc2, '$desc', slow:$slow"
fi
head -c 3000000 /dev/urandom > "$D/mnt/web/big" 2>/dev/null; wrc=$?
full=$(jq -r .healthy "$D/mnt/.health") fdesc=$(jq -r .description "$D/mnt/.health")
"$FLOWCTL" health "$D/mnt" >/dev/null; frc=$?
rm -f "$D/mnt/web/big"
wait_for 5 healthy true
if [ "$wrc" != 0 ] && [ "$full" = false ] && grep -q 'spool is full' <<<"$fdesc" && [ "$frc" = 1 ] && healthy true; then
	ok readside_health_spool_full_and_back
else
	fail readside_health_spool_full_and_back "write rc $wrc, healthy $full '$fdesc', flowctl rc $frc, after rm: $(cat "$D/mnt/.health")"
fi
fs_umount "$D/mnt"
rx_stop

# --- 20,000 deliveries in one minute list in under 1 s, from the spool
# database (rows added there, as delivery writes them); rows older than
# history_keep leave at the first tick
FLOW_EXTRA="history_keep = 7d" new_case big
fs_mount "$D/flowfs.ini" "$D/mnt"
echo one > "$D/mnt/web/one"
"$FLOWCTL" sync "$D/mnt" --timeout 30 >/dev/null
fs_umount "$D/mnt"
python3 - "$D/spool/flowfs.db" <<'PY'
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
flow, line, obj = db.execute("SELECT flow, line, object FROM delivery_log").fetchone()
def rows(minute, n, tag):
    for i in range(n):
        d = json.loads(line)
        d["key"] = "web/%s-%05d" % (tag, i)
        d["delivered"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(minute * 60 + 1))
        yield (flow, minute, "web_%s-%05d" % (tag, i), minute * 60 + 1, obj, json.dumps(d))
now = int(time.time() // 60)
sql = "INSERT INTO delivery_log(flow, minute, name, done, object, line) VALUES (?,?,?,?,?,?)"
db.executemany(sql, rows(now - 90, 20000, "big"))
db.executemany(sql, rows(now - 6 * 1440, 3, "kept"))
db.executemany(sql, rows(now - 8 * 1440, 3, "old"))
db.commit()
PY
fs_mount "$D/flowfs.ini" "$D/mnt"
sleep 1.5	# the first tick prunes
m=$(date -u -d "@$(( ($(date +%s) / 60 - 90) * 60 ))" +%Y/%m/%d/%H/%M)
old=$(date -u -d "@$(( ($(date +%s) / 60 - 8 * 1440) * 60 ))" +%Y/%m/%d)
kept=$(date -u -d "@$(( ($(date +%s) / 60 - 6 * 1440) * 60 ))" +%Y/%m/%d)
t0=$(date +%s%N)
n=$(ls "$D/mnt/web/.time/$m" | wc -l)
t1=$(date +%s%N)
all=$(find "$D/mnt/web/.time" -type f | wc -l)
t2=$(date +%s%N)
one=$(jq -r .key "$D/mnt/web/.time/$m/web_big-12345")
ms=$(((t1 - t0) / 1000000)) fms=$(((t2 - t1) / 1000000))
if [ "$n" = 20000 ] && [ "$ms" -lt 1000 ] && [ "$all" = 20004 ] && [ "$one" = web/big-12345 ] &&
   [ ! -e "$D/mnt/web/.time/$old" ] && [ "$(ls -R "$D/mnt/web/.time/$kept" | grep -c kept)" = 3 ]; then
	ok readside_time_20000_in_a_minute_under_1s
else
	fail readside_time_20000_in_a_minute_under_1s "$n entries in ${ms} ms; find: $all in ${fms} ms; '$one'; old day there: $([ -e "$D/mnt/web/.time/$old" ] && echo yes || echo no)"
fi
echo "    ls of 20,000: ${ms} ms, find of all: ${fms} ms"
fs_umount "$D/mnt"
