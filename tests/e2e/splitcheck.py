"""tests/e2e/splitcheck.py - checks what split appenders wrote to a stream.

    python3 tests/e2e/splitcheck.py DIR CHUNK...

An appender run with APPENDER_SPLIT writes each line "NAME N" and " ok\\n"
in two writes and records "N-" then "N" in DIR/acks.NAME as each returns.
Every chunk (gzip or plain) is read on its own: all its lines are whole,
and only its end may be a half line "NAME N" (a writer's last piece ends its
chunk).  A line both of whose writes returned is there once, whole; one
whose first write returned is there once, whole or half; no number is there
twice.  Prints the problems found, nothing if there are none.
"""
import glob
import gzip
import os
import re
import sys


def check(chunks, d):
    """CHUNKS: the bytes of each chunk; D: the directory of acks.*."""
    seen, bad = {}, []
    for data in chunks:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        pieces = data.split(b"\n")
        for i, p in enumerate(pieces):
            last = i == len(pieces) - 1
            if last and not p:
                continue
            m = re.fullmatch(rb"(\S+) (\d+)( ok)?", p)
            if not m or last == bool(m.group(3)):
                bad.append("garbage %r" % p[:40])
                continue
            key = (m.group(1).decode(), int(m.group(2)))
            seen.setdefault(key, []).append(bool(m.group(3)))
    bad += ["%s %d twice" % k for k, v in seen.items() if len(v) > 1]
    for path in glob.glob(os.path.join(d, "acks.*")):
        name = path.rsplit("acks.", 1)[1]
        acks = open(path).read().split()
        whole = {int(a) for a in acks if not a.endswith("-")}
        half = {int(a[:-1]) for a in acks if a.endswith("-")}
        lost = [n for n in sorted(half | whole) if (name, n) not in seen]
        cut = [n for n in sorted(whole) if (name, n) in seen and not seen[(name, n)][0]]
        if lost:
            bad.append("%s: %d of %d acknowledged lines missing (%s...)" %
                       (name, len(lost), len(half | whole), lost[:3]))
        if cut:
            bad.append("%s: %d whole lines there as halves (%s...)" % (name, len(cut), cut[:3]))
    return bad[:6]


if __name__ == "__main__":
    print("; ".join(check([open(f, "rb").read() for f in sys.argv[2:]], sys.argv[1])), end="")
