# Transforms: flows that read records (JSON lines, CSV) and write JSON
# lines, CSV or Parquet, partitioned by <FIELD:...> and the records' own
# times; bad records to the errors key.  What arrives is read by DuckDB
# and hyparquet (tests/e2e/duckq.mjs), zstd and Python, never by flowfs.
. tests/e2e/lib.sh
need_fuse t_transforms
if ! command -v node >/dev/null || [ ! -d tests/node_modules/@duckdb/node-api ] ||
   [ ! -d tests/node_modules/hyparquet ]; then
	skip t_transforms "node, DuckDB or hyparquet is not installed (make test-deps)"
	exit 0
fi
duck() { (cd tests && node e2e/duckq.mjs "$@"); }

# --- a stream of JSON lines to Parquet, partitioned by user and by the
# hour of each record's own time; a bad line goes to the errors key
FLOW_EXTRA='format = jsonl
output = parquet
compress = zst
time_field = ts
filename = <FLOW>/dt=<DATE>/user=<FIELD:user|none>/<STREAM>-%H.<PART>.parquet' new_case parquet
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail transforms_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
cat > "$D/in.jsonl" <<'EOF'
{"ts":"2026-12-01T10:59:58Z","user":"alice","n":1,"big":9007199254740993}
{"ts":"2026-12-01T10:59:59.250+00:00","user":"bob","n":2.5,"ok":true}
not a json object
{"ts":"2026-12-01T11:00:01Z","user":"alice","n":3,"geo":{"city":"Oslo"}}
{"ts":1796122802000,"n":4,"note":"no user: the fallback, never dropped"}
{"ts":"2026-12-01T12:00:00+01:00","user":"alice","n":5,"note":"ünïcödé, \"quoted\""}
EOF
cat "$D/in.jsonl" >> "$M/web/app.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
keys=$(cd "$O" && find web -type f | sort | tr '\n' ' ')
want="web/_errors/ web/dt=2026-12-01/user=alice/app.log-10.000000.parquet web/dt=2026-12-01/user=alice/app.log-11.000000.parquet web/dt=2026-12-01/user=bob/app.log-10.000000.parquet web/dt=2026-12-01/user=none/app.log-11.000000.parquet "
got_keys=$(sed 's|web/_errors/[^ ]*|web/_errors/|' <<<"$keys")
# both readers, every value: DuckDB over all objects, hyparquet on one
rows=$(duck "SELECT n, user, CAST(big AS VARCHAR) AS big, epoch_us(ts) AS us, ok, geo, note FROM read_parquet('$O/web/dt=*/*/*.parquet', hive_partitioning = false) ORDER BY n")
want_rows='[{"n":1,"user":"alice","big":"9007199254740993","us":"1796122798000000","ok":null,"geo":null,"note":null},{"n":2.5,"user":"bob","big":null,"us":"1796122799250000","ok":true,"geo":null,"note":null},{"n":3,"user":"alice","big":null,"us":"1796122801000000","ok":null,"geo":"{\"city\":\"Oslo\"}","note":null},{"n":4,"user":null,"big":null,"us":"1796122802000000","ok":null,"geo":null,"note":"no user: the fallback, never dropped"},{"n":5,"user":"alice","big":null,"us":"1796122800000000","ok":null,"geo":null,"note":"ünïcödé, \"quoted\""}]'
types=$(duck "SELECT string_agg(column_name || ' ' || column_type, ', ') AS t FROM (DESCRIBE SELECT * FROM read_parquet('$O/web/dt=2026-12-01/user=bob/app.log-10.000000.parquet', hive_partitioning = false))")
codec=$(duck "SELECT DISTINCT compression FROM parquet_metadata('$O/web/dt=2026-12-01/user=alice/app.log-11.000000.parquet')")
if [ "$got_keys" = "$want" ] && [ "$rows" = "$want_rows" ] &&
   grep -q 'ts TIMESTAMP WITH TIME ZONE, user VARCHAR, n DOUBLE, big BIGINT' <<<"$types" &&
   grep -q ZSTD <<<"$codec"; then
	ok transforms_jsonl_stream_to_parquet_partitioned
else
	fail transforms_jsonl_stream_to_parquet_partitioned "keys: $keys; rows: $rows; types: $types; codec: $codec"
fi
errf=$(find "$O/web/_errors" -type f)
env=$(python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).read()); print(e["error"], e["flow"], e["source"], e["line"], e["raw"], e["time"].endswith("Z"))' "$errf" 2>&1)
recs=$(jq -c .records "$M/web/.status")
if [ "$(wc -l < "$errf")" = 1 ] && [ "$env" = "line 3: not a JSON object web app.log 3 not a json object True" ] &&
   [ "$recs" = '{"in":6,"out":5,"errors":1,"sources":{"app.log":{"in":6,"out":5,"errors":1}}}' ]; then
	ok transforms_bad_record_to_errors_key
else
	fail transforms_bad_record_to_errors_key "envelope: $env; .status records: $recs"
fi
# the flow's schema is kept: a later object with its fields in another
# order has the same columns in the same order
echo '{"note":"later","n":6,"user":"bob","ts":"2026-12-01T13:00:00Z"}' >> "$M/web/app.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
later=$(duck "SELECT string_agg(column_name, ',') AS c FROM (DESCRIBE SELECT * FROM read_parquet('$O/web/dt=2026-12-01/user=bob/app.log-13.000001.parquet', hive_partitioning = false))")
[ "$later" = '[{"c":"ts,user,n,big,ok,geo,note"}]' ] && ok transforms_schema_stable_across_objects ||
	fail transforms_schema_stable_across_objects "columns of the later object: $later ($(ls -R "$O/web" | tr '\n' ' '))"
fs_umount "$M"

# --- cp day.csv into a flow that writes Parquet delivers day.parquet
FLOW_EXTRA='format = auto
output = parquet
[flow.lines]
sinks = out
format = jsonl
output = csv
compress = zst
filename = <FLOW>/<FIELD:kind>/<STREAM>.<PART>.csv
[flow.up]
sinks = out
format = jsonl
compress = none
uploads = <FLOW>/k=<FIELD:kind|none>/<PATH>' new_case csv
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail transforms_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
printf 'id,name,score,when\n1,"Smith, Jane",9.5,2026-12-01\n2,"multi\nline ""quoted""",7,\n3,plain,10,2026-12-02\n' > "$D/day.csv"
cp "$D/day.csv" "$M/web/day.csv"
cp "$D/day.csv" "$M/web/raw.bin"	# not records by its name: delivered as it is
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
sel='SELECT id, name, score, CAST("when" AS VARCHAR) AS w FROM'
a=$(duck "$sel read_parquet('$O/web/day.parquet') ORDER BY id")
b=$(duck "$sel read_csv('$D/day.csv', header = true) ORDER BY id")
# hyparquet too (uncompressed pages: it decodes only snappy itself)
hyp=$(duck --hyparquet "$O/web/day.parquet")
if [ -f "$O/web/day.parquet" ] && [ ! -e "$O/web/day.csv" ] && [ "$a" = "$b" ] && cmp -s "$D/day.csv" "$O/web/raw.bin" &&
   cmp -s "$D/day.csv" "$M/web/day.csv" &&
   [ "$hyp" = '[{"id":"1","name":"Smith, Jane","score":9.5,"when":"2026-12-01"},{"id":"2","name":"multi\nline \"quoted\"","score":7,"when":null},{"id":"3","name":"plain","score":10,"when":"2026-12-02"}]' ]; then
	ok transforms_cp_csv_delivers_parquet
else
	fail transforms_cp_csv_delivers_parquet "parquet: $a; csv: $b; hyparquet: $hyp; delivered: $(ls "$O/web" | tr '\n' ' ')"
fi
# rsync's hidden temporary name is converted only once renamed into place
cp "$D/day.csv" "$D/synced.csv"
rsync "$D/synced.csv" "$M/web/" && "$FLOWCTL" sync "$M" --timeout 30 >/dev/null
hidden=$(find "$O/web" -name '.*' | head -n 3)
s2=$(duck "$sel read_parquet('$O/web/synced.parquet') ORDER BY id" 2>&1)
[ -z "$hidden" ] && [ "$s2" = "$b" ] && ok transforms_rsync_hidden_name_converted_once ||
	fail transforms_rsync_hidden_name_converted_once "hidden keys: $hidden; synced.parquet: $s2; delivered: $(ls -a "$O/web" | tr '\n' ' ')"
# ... also when the rename comes at any moment of the sealing (20 times)
python3 - "$M/web" "$D/day.csv" <<'PY'
import os, sys
d, src = sys.argv[1:3]
data = open(src, "rb").read()
for i in range(20):
    tmp = os.path.join(d, ".f%d.csv.XyZ12" % i)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(d, "f%d.csv" % i))
PY
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
np=$(ls "$O/web" | grep -c '^f[0-9]*\.parquet$')
nc=$(ls -a "$O/web" | grep -c '^\.\?f[0-9]*\.csv')
[ "$np" = 20 ] && [ "$nc" = 0 ] && ok transforms_rename_race_converted ||
	fail transforms_rename_race_converted "$np of 20 converted, $nc delivered as csv: $(ls -a "$O/web" | tr '\n' ' ')"
# CSV output: a header row in every object, RFC 4180 quoting
printf '%s\n' '{"kind":"a","v":1,"s":"x,y"}' '{"kind":"b","v":2,"s":"say \"hi\""}' '{"kind":"a","v":3,"s":"two\nlines"}' >> "$M/lines/ev.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
ha=$(zstd -dcq "$O"/lines/a/ev.log.*.csv.zst | head -n 1 | tr -d '\r')	# RFC 4180: CRLF
hb=$(zstd -dcq "$O"/lines/b/ev.log.*.csv.zst | head -n 1 | tr -d '\r')
zstd -tq "$O"/lines/*/*.zst 2>/dev/null && zt=ok || zt=bad
ca=$(zstd -dcq "$O"/lines/a/ev.log.*.csv.zst > "$D/a.csv" && duck "SELECT v, s FROM read_csv('$D/a.csv', header = true) ORDER BY v")
if [ "$ha" = "kind,v,s" ] && [ "$hb" = "kind,v,s" ] && [ "$zt" = ok ] &&
   [ "$ca" = '[{"v":"1","s":"x,y"},{"v":"3","s":"two\nlines"}]' ]; then
	ok transforms_csv_header_in_every_object
else
	fail transforms_csv_header_in_every_object "headers '$ha' '$hb'; zstd -t $zt; a.csv: $ca"
fi
# an uploaded file is split by a field too, records in their order
printf '%s\n' '{"kind":"a","i":1}' '{"i":2}' '{"kind":"b","i":3}' '{"kind":"a","i":4}' > "$D/ev.jsonl"
cp "$D/ev.jsonl" "$M/up/ev.jsonl"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
parts=$(for k in a b none; do printf '%s:' "$k"; jq -c .i "$O/up/k=$k/ev.jsonl" 2>/dev/null | tr '\n' ' '; done)
[ "$parts" = "a:1 4 b:3 none:2 " ] && is_state "$M/up/ev.jsonl" delivered && ok transforms_upload_partitioned_by_field ||
	fail transforms_upload_partitioned_by_field "$parts; state $(state "$M/up/ev.jsonl")"
fs_umount "$M"

# --- schema = strict: a record that does not fit goes to errors
FLOW_EXTRA='format = jsonl
output = jsonl
schema = strict
columns = a, b
compress = none
filename = <FLOW>/<STREAM>.<PART>.jsonl' new_case strict
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail transforms_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
printf '%s\n' '{"a":1,"b":"x"}' >> "$M/web/s.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
printf '%s\n' '{"a":2,"b":"y"}' '{"a":3,"b":"z","c":true}' '{"a":"four","b":"w"}' >> "$M/web/s.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
good=$(cat "$O"/web/s.log.*.jsonl | tr '\n' ' ')
errs=$(cat "$O"/web/_errors/*/* 2>/dev/null | jq -r .error | tr '\n' ';')
if [ "$good" = '{"a":1,"b":"x"} {"a":2,"b":"y"} ' ] && [ "$(grep -o ';' <<<"$errs" | wc -l)" = 2 ] && grep -q '"c"\|c' <<<"$errs"; then
	ok transforms_strict_schema_to_errors
else
	fail transforms_strict_schema_to_errors "delivered: $good; errors: $errs"
fi
fs_umount "$M"

# --- kill -9 while a chunk is being converted: after the remount every
# record is delivered exactly once (the outputs begun are discarded, the
# chunk converted again)
FLOW_EXTRA='format = jsonl
output = parquet
maxsize = 1G
filename = <FLOW>/<FIELD:k>/<STREAM>.<PART>.parquet' new_case kill9
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail transforms_mount "no mount"; exit 0; }
python3 -c 'import sys
for i in range(400000): sys.stdout.write("{\"k\":\"k%d\",\"i\":%d,\"pad\":\"%s\"}\n" % (i % 7, i, "x" * 40))' > "$D/big.jsonl"
cat "$D/big.jsonl" >> "$D/mnt/web/big.log"
"$FLOWCTL" rotate "$D/mnt" >/dev/null
q="SELECT count(*) FROM objects WHERE kind = 'derived' AND state = 'staging'"
wait_for 20 sh -c "[ \$(sqlite3 '$D/spool/flowfs.db' \"$q\" 2>/dev/null || echo 0) -gt 0 ]" && caught=yes || caught=no
fs_kill9 "$D/mnt"
fs_mount "$D/flowfs.ini" "$D/mnt"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
n=$(duck "SELECT count(*) AS n, count(DISTINCT i) AS d FROM read_parquet('$D/out/web/*/*.parquet')")
if [ "$n" = '[{"n":"400000","d":"400000"}]' ]; then
	ok transforms_kill9_mid_conversion_once
else
	fail transforms_kill9_mid_conversion_once "delivered: $n (killed mid-conversion: $caught)"
fi
echo "    killed while outputs were being written: $caught"
fs_umount "$D/mnt"

# --- bad record config is refused at mount, naming file, line and key
new_case badcfg
bad=
for extra in 'format = xml' 'format = jsonl
filename = <FLOW>/<FIELD:>/x.log' 'columns = a, b' 'time_field = ts' 'format = jsonl
output = parquet
compress = xz' 'filename = <FLOW>/<FIELD:user>/x.log'; do
	new_case badcfg
	printf '%s\n' "$extra" >> "$D/flowfs.ini"
	key=$(tail -n 1 "$D/flowfs.ini" | cut -d' ' -f1)
	line=$(wc -l < "$D/flowfs.ini")
	out=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
	if [ $? = 0 ] || mountpoint -q "$D/mnt" || ! grep -q "flowfs.ini:$line: \[flow.web\] $key: " <<<"$out"; then
		bad="$bad [$extra: $out]"
		fusermount3 -uz "$D/mnt" 2>/dev/null
	fi
done
[ -z "$bad" ] && ok transforms_bad_config_refused || fail transforms_bad_config_refused "$bad"
