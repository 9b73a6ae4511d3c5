#!/usr/bin/env python3
"""tests/e2e/reccheck.py - inputs and expectations for t_records.sh.

  reccheck.py gen N                     N jsonl records of every kind
  reccheck.py gencsv N                  N csv rows (quotes, commas, newlines)
  reccheck.py check FORMAT IN SEEN [--time-field F] [--in-format csv]
        compares what pqcheck.mjs SEEN says the readers saw in the output
        of FORMAT with what the input IN says, by this file's own reading
        of it (json and csv modules, its own type inference and RFC 3339
        parsing): prints "ok" or the first differences, exits 0 or 1.
"""
import csv
import io
import json
import re
import sys

I64_MAX, I64_MIN = 2**63 - 1, -2**63


def gen(n):
    levels = ["info", "warn", "error"]
    for i in range(n):
        r = {}
        k = i % 5
        r["ts"] = [f"2026-12-01T21:{i % 60:02d}:{(i * 7) % 60:02d}Z",
                   f"2026-06-30T23:59:59.{i % 1000000:06d}+02:00",
                   1700000000 + i, 1700000000000 + i, 1700000000000000 + i][k]
        r["id"] = i
        r["big"] = [I64_MAX, I64_MIN, 9007199254740993, -i, i * 1000003][i % 5]
        r["price"] = None if i % 7 == 0 else i * 0.25 + 0.1
        r["ok"] = i % 3 == 0
        r["level"] = levels[i % 3]
        r["msg"] = f"msg {i} \u00e9\u4e2d\U0001F600" + (', "quoted"\nsecond line' if i % 11 == 0 else "")
        r["nested"] = {"k": i, "arr": [1, "x", None], "o": {"deep": True}} if i % 2 else [i, i + 1]
        if i % 4 == 0:
            r["sparse"] = f"s{i}"
        r["mixed"] = i if i % 2 else f"m{i}"
        r["num"] = i if i % 3 else i + 0.5
        r["allnull"] = None
        print(json.dumps(r, ensure_ascii=i % 2 == 0))
        if i % 500 == 250:
            print("this line is not json")


def gencsv(n):
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["id", "name", "score", "flag", "note"])
    for i in range(n):
        name = f'name {i}, "the {i}th"\nline two' if i % 3 == 0 else f"n{i}"
        w.writerow([i, name, f"{i / 4}" if i % 5 else "", "true" if i % 2 else "false",
                    "" if i % 4 else f"note {i}"])


RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


def days_from_civil(y, m, d):
    import datetime
    return (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days


def time_us(v):
    """µs since the epoch of a time value, or None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        m = RFC3339.match(v)
        if not m:
            try:
                v = float(v) if "." in v else int(v)
            except ValueError:
                return None
        else:
            y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
            frac = int((m.group(7) or ".0")[1:7].ljust(6, "0"))
            z = m.group(8)
            off = 0 if z in "Zz" else (int(z[1:3]) * 3600 + int(z[4:6]) * 60) * (-1 if z[0] == "-" else 1)
            return ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) - off) * 10**6 + frac
    a = abs(v)
    if isinstance(v, int):
        return v * 10**6 if a < 10**11 else v * 1000 if a < 10**14 else v
    return round(v * 1e6 if a < 1e11 else v * 1e3 if a < 1e14 else v)


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "double"
    return "string"


def widen(a, b):
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if {a, b} == {"int64", "double"}:
        return "double"
    return "string"


def schema_of(records, time_field):
    cols = {}
    for r in records:
        for k, v in r.items():
            t = "timestamp" if k == time_field else kind(v)
            cols[k] = widen(cols[k], t) if k in cols else t
    return cols


def dtext(d):
    s = repr(float(d))
    return s


def cell(t, v, fmt):
    """What a reader should see of value V in a column of type T."""
    if v is None:
        return None
    if fmt == "csv":
        if isinstance(v, bool):
            return ["S", "true" if v else "false"]
        if isinstance(v, (dict, list)):
            return ["J", v]
        if isinstance(v, float):
            return ["F", v]
        return ["S", str(v)]
    if t == "timestamp":
        us = time_us(v)
        return None if us is None else ["T", str(us)]
    if t == "int64":
        return ["I", str(v)]
    if t == "double":
        return ["D", float(v)]
    if t == "bool":
        return ["B", v]
    if isinstance(v, (dict, list)):
        return ["J", v]
    if isinstance(v, bool):
        return ["S", "true" if v else "false"]
    if isinstance(v, float):
        return ["F", v]
    return ["S", str(v)]


def same(want, got):
    if want is None:
        return got is None or got == ["S", ""]
    if got is None:
        return False
    if want[0] == "J":
        return got[0] == "S" and json.loads(got[1]) == want[1]
    if want[0] in "FD":
        return got[0] in "DS" and float(got[1]) == want[1]
    return want == got


def read_input(path, in_format):
    if in_format == "csv":
        text = open(path, encoding="utf-8").read()
        rows = list(csv.reader(io.StringIO(text, newline="")))
        out = []
        for row in rows[1:]:
            r = {}
            for k, v in zip(rows[0], row):
                r[k] = infer_csv(v)
            out.append(r)
        return out
    out = []
    for line in open(path, "rb").read().split(b"\n"):
        try:
            r = json.loads(line.decode("utf-8"))
        except ValueError:	# UnicodeDecodeError too
            continue
        if isinstance(r, dict):
            out.append(r)
    return out


def infer_csv(v):
    if v == "":
        return None
    if v in ("true", "false"):
        return v == "true"
    if re.fullmatch(r"-?(0|[1-9]\d*)", v) and I64_MIN <= int(v) <= I64_MAX:
        return int(v)
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", v):
        return float(v)
    return v


TYPES = {"int64": ("BIGINT", "INT64"), "double": ("DOUBLE", "DOUBLE"), "bool": ("BOOLEAN", "BOOLEAN"),
         "string": ("VARCHAR", "BYTE_ARRAY"), "null": ("VARCHAR", "BYTE_ARRAY"),
         "timestamp": ("TIMESTAMP WITH TIME ZONE", "INT64")}


def compare_rows(what, names, schema, records, rows, fmt, errs):
    if len(rows) != len(records):
        errs.append(f"{what}: {len(rows)} rows, the input has {len(records)}")
        return
    for i, (r, row) in enumerate(zip(records, rows)):
        for j, n in enumerate(names):
            want = cell(schema[n], r.get(n), fmt)
            if not same(want, row[j]):
                errs.append(f"{what}: row {i} column {n}: saw {row[j]!r}, want {want!r}")
                if len(errs) > 5:
                    return


def check(fmt, inp, seen, time_field, in_format):
    records = read_input(inp, in_format)
    schema = schema_of(records, time_field)
    names = list(schema)
    s = json.load(open(seen))
    errs = []
    if fmt == "jsonl":
        objs = [json.loads(o) for o in s["objects"]]
        if objs != records:
            errs.append(f"jsonl: {len(objs)} objects differ from the {len(records)} input records")
        return errs
    cols = s["duckdb"]["columns"]
    if [c[0] for c in cols] != names:
        errs.append(f"duckdb columns {[c[0] for c in cols]}, want {names}")
        return errs
    if fmt == "parquet":
        want_types = [TYPES[schema[n]][0] for n in names]
        if [c[1] for c in cols] != want_types:
            errs.append(f"duckdb types {[c[1] for c in cols]}, want {want_types}")
        h = s["hyparquet"]
        if [c[1] for c in h["columns"]] != [TYPES[schema[n]][1] for n in names]:
            errs.append(f"hyparquet types {h['columns']}")
        if any(c[4] != "OPTIONAL" for c in h["columns"]):
            errs.append("hyparquet: a column is not OPTIONAL")
        if not h["date_ok"]:
            errs.append("hyparquet: a timestamp read as a Date is not the same instant")
        compare_rows("hyparquet", names, schema, records, h["rows"], fmt, errs)
    compare_rows("duckdb", names, schema, records, s["duckdb"]["rows"], fmt, errs)
    return errs


def main():
    a = sys.argv[1:]
    if a[0] == "gen":
        gen(int(a[1]))
        return 0
    if a[0] == "gencsv":
        gencsv(int(a[1]))
        return 0
    opts = dict(zip(a[4::2], a[5::2]))
    errs = check(a[1], a[2], a[3], opts.get("--time-field"), opts.get("--in-format", "jsonl"))
    print("ok" if not errs else "\n".join(errs[:6]))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
