# records/ against independent readers: tests/e2e/recconv converts with the
# records module, tests/e2e/pqcheck.mjs reads the result with DuckDB (and
# hyparquet for Parquet), and reccheck.py compares what they saw with its
# own reading of the input (Python's json and csv modules).  No mount.
set -u
: "${TESTS_TMP:=$(mktemp -d /tmp/flowfs-test.XXXXXX)}"
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1: $2"; }
skip() { echo "SKIP - $1: $2"; }

T=$TESTS_TMP/records
mkdir -p "$T"
if ! make -s tests/e2e/recconv >"$T/build.log" 2>&1; then
	fail records_build "$(tail -n 5 "$T/build.log")"
	exit 0
fi
CONV=tests/e2e/recconv
if ! command -v node >/dev/null || [ ! -d tests/node_modules/@duckdb/node-api ] ||
	[ ! -d tests/node_modules/hyparquet ]; then
	skip records "node, DuckDB or hyparquet is not installed (make test-deps)"
	exit 0
fi
seen() {	# FORMAT FILE [QUERY] > JSON: what the independent readers saw
	(cd tests && node e2e/pqcheck.mjs "$@")
}
check() {	# NAME FORMAT IN OUT [reccheck options]: compares, prints ok/FAIL
	local name=$1 fmt=$2 in=$3 out=$4 why
	shift 4
	if ! seen "$fmt" "$out" >"$out.seen" 2>"$out.err"; then
		fail "$name" "the readers failed: $(tail -n 3 "$out.err")"
		return 1
	fi
	if why=$(python3 tests/e2e/reccheck.py check "$fmt" "$in" "$out.seen" "$@"); then
		ok "$name"
	else
		fail "$name" "$why"
		return 1
	fi
}
meta() {	# FILE.seen EXPR: a Python expression over the seen document s
	python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1"
}

python3 tests/e2e/reccheck.py gen 3000 >"$T/in.jsonl"
printf '{"bad":"\xff\xfe"}\n' >>"$T/in.jsonl"

# Parquet, each codec, several row groups: every value of every type as
# DuckDB and hyparquet read it; the codec, the row groups and the
# dictionary on the low-cardinality column as DuckDB's metadata says.
for codec in none gzip zstd; do
	out=$T/rg-$codec.parquet
	if ! $CONV jsonl parquet --codec "$codec" --time-field ts --row-group-bytes 100000 --page-bytes 20000 \
		--errors "$T/err-$codec.jsonl" <"$T/in.jsonl" >"$out"; then
		fail "records_parquet_$codec" "recconv failed"
		continue
	fi
	check "records_parquet_${codec}_values" parquet "$T/in.jsonl" "$out" --time-field ts || continue
	want=$(case $codec in none) echo UNCOMPRESSED ;; gzip) echo GZIP ;; zstd) echo ZSTD ;; esac)
	got=$(meta "$out.seen" "s['meta']['codecs'], s['meta']['row_groups'] > 1, s['hyparquet']['row_groups'] == s['meta']['row_groups'], s['meta']['dict_columns']")
	[ "$got" = "['$want'] True True ['level']" ] && ok "records_parquet_${codec}_layout" ||
		fail "records_parquet_${codec}_layout" "codecs, several row groups, dictionary columns: $got"
done

# Statistics: min/max of int64, double and timestamp columns per row group
# are right, so DuckDB's filters that skip row groups by them still find
# every row.
sql="SELECT count(*), min(id), max(price), count(ts) FROM t WHERE id BETWEEN 700 AND 1900 AND price > 300
	AND ts >= TIMESTAMPTZ '2023-11-14 22:13:20+00'"
got=$(seen sql "$T/rg-zstd.parquet" "$sql" 2>&1 | python3 -c "import json,sys; print(json.load(sys.stdin)['rows'])")
want=$(python3 - "$T/in.jsonl" <<'PY'
import json, sys
sys.path.insert(0, "tests/e2e")
from reccheck import read_input, time_us
rs = [r for r in read_input(sys.argv[1], "jsonl") if 700 <= r["id"] <= 1900 and r["price"] is not None
      and r["price"] > 300 and time_us(r["ts"]) >= 1700000000 * 10**6]
print([[str(len(rs)), str(min(r["id"] for r in rs)), str(max(r["price"] for r in rs)), str(len(rs))]])
PY
)
stats=$(meta "$T/rg-zstd.parquet.seen" "s['meta']['stats']")
if [ "$got" = "$want" ] && [ "$stats" = True ]; then
	ok records_parquet_statistics
else
	fail records_parquet_statistics "filtered rows $got, want $want; min/max present: $stats"
fi

# The comparison sees one changed value (one µs of one timestamp).
sed '1s/"ts": "2026-12-01T21:00:00Z"/"ts": "2026-12-01T21:00:00.000001Z"/' "$T/in.jsonl" >"$T/in-changed.jsonl"
if ! cmp -s "$T/in.jsonl" "$T/in-changed.jsonl" &&
	! python3 tests/e2e/reccheck.py check parquet "$T/in-changed.jsonl" "$T/rg-zstd.parquet.seen" --time-field ts >/dev/null; then
	ok records_checker_sees_a_difference
else
	fail records_checker_sees_a_difference "a changed input still compares equal"
fi

# The default row group bound keeps 3000 small rows in one group; the
# output does not depend on how the input was cut into feeds.
$CONV jsonl parquet --time-field ts <"$T/in.jsonl" >"$T/one.parquet" 2>/dev/null
$CONV jsonl parquet --time-field ts --chunk 7 <"$T/in.jsonl" >"$T/one-7.parquet" 2>/dev/null
if check records_parquet_one_group parquet "$T/in.jsonl" "$T/one.parquet" --time-field ts; then
	n=$(meta "$T/one.parquet.seen" "s['meta']['row_groups'], s['hyparquet']['created_by']")
	[ "$n" = "1 flowfs 0.1.0" ] && ok records_parquet_default_row_group || fail records_parquet_default_row_group "$n"
fi
cmp -s "$T/one.parquet" "$T/one-7.parquet" && ok records_feed_size_irrelevant ||
	fail records_feed_size_irrelevant "7-byte feeds give another file"

# Bad lines become error envelopes with their line numbers and raw bytes
# (base64 when they are not UTF-8), and the good ones are all delivered.
want_lines=$(grep -vn '^{' "$T/in.jsonl" | cut -d: -f1 | tr '\n' ' ')
want_lines="$want_lines$(wc -l <"$T/in.jsonl") "
got=$(python3 - "$T/err-zstd.jsonl" <<'PY'
import base64, json, sys
out = []
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    raw = e["raw"].encode() if "raw" in e else base64.b64decode(e["raw_b64"])
    out.append(f'{e["line"]}:{e["error"].split(": ", 1)[1]}:{raw!r}')
print("\n".join(out))
PY
)
lines=$(cut -d: -f1 <<<"$got" | tr '\n' ' ')
if [ "$lines" = "$want_lines" ] && [ "$(grep -c "not a JSON object:b'this line is not json'" <<<"$got")" = 6 ] &&
	grep -qF "invalid UTF-8 at byte 9:b'{\"bad\":\"\\xff\\xfe\"}'" <<<"$got"; then
	ok records_error_envelopes
else
	fail records_error_envelopes "lines $lines (want $want_lines): $(tail -n 2 <<<"$got")"
fi

# JSONL out: DuckDB parses every line, each object equals the input's
# (int64 exact, unicode, nested), and reads "big" as an integer, exactly
# (DuckDB's read_json picks HUGEINT or BIGINT).
$CONV jsonl jsonl <"$T/in.jsonl" >"$T/out.jsonl" 2>/dev/null
if check records_jsonl_round_trip jsonl "$T/in.jsonl" "$T/out.jsonl"; then
	t=$(meta "$T/out.jsonl.seen" "dict(s['duckdb']['columns'])['big'], [r[2] for r in s['duckdb']['rows'][:2]]")
	t=${t//\?HUGEINT/I}
	[ "$t" = "BIGINT [['I', '9223372036854775807'], ['I', '-9223372036854775808']]" ] ||
		[ "$t" = "HUGEINT [['I', '9223372036854775807'], ['I', '-9223372036854775808']]" ] &&
		ok records_jsonl_int64_duckdb || fail records_jsonl_int64_duckdb "$t"
fi

# CSV out: the header, then every value as text (quotes, commas and
# newlines inside fields) as DuckDB's read_csv sees it.
$CONV jsonl csv --time-field ts <"$T/in.jsonl" >"$T/out.csv" 2>/dev/null
check records_csv_from_jsonl csv "$T/in.jsonl" "$T/out.csv"

# CSV in (Python's csv module wrote it): to Parquet with type inference,
# and back to CSV.
python3 tests/e2e/reccheck.py gencsv 2000 >"$T/in.csv"
$CONV csv parquet --codec gzip <"$T/in.csv" >"$T/csv.parquet" 2>"$T/csv.err"
if check records_csv_to_parquet parquet "$T/in.csv" "$T/csv.parquet" --in-format csv; then
	t=$(meta "$T/csv.parquet.seen" "[c[1] for c in s['duckdb']['columns']]")
	[ "$t" = "['BIGINT', 'VARCHAR', 'DOUBLE', 'BOOLEAN', 'VARCHAR']" ] && ok records_csv_inferred_types ||
		fail records_csv_inferred_types "$t"
fi
$CONV csv csv --chunk 5 <"$T/in.csv" >"$T/csv.csv" 2>/dev/null
check records_csv_round_trip csv "$T/in.csv" "$T/csv.csv" --in-format csv

# No records: with a known schema, a Parquet file of 0 rows that both
# readers open with the right types, and a CSV of the header alone;
# without one, nothing.
S='{"ts":"timestamp","n":"int64","s":"string"}'
$CONV jsonl parquet --time-field ts --schema "$S" </dev/null >"$T/empty.parquet" 2>/dev/null
if seen parquet "$T/empty.parquet" >"$T/empty.seen" 2>"$T/empty.err"; then
	t=$(meta "$T/empty.seen" "s['duckdb']['columns'], len(s['duckdb']['rows']), s['hyparquet']['num_rows']")
	[ "$t" = "[['ts', 'TIMESTAMP WITH TIME ZONE'], ['n', 'BIGINT'], ['s', 'VARCHAR']] 0 0" ] &&
		ok records_parquet_empty || fail records_parquet_empty "$t"
else
	fail records_parquet_empty "$(tail -n 2 "$T/empty.err")"
fi
got=$($CONV jsonl csv --schema "$S" </dev/null | od -An -c | tr -s ' ')
[ "$got" = " t s , n , s \r \n" ] && ok records_csv_empty_header || fail records_csv_empty_header "$got"
n=$($CONV jsonl parquet </dev/null 2>/dev/null | wc -c)
[ "$n" = 0 ] && ok records_parquet_no_schema_nothing || fail records_parquet_no_schema_nothing "$n bytes"
