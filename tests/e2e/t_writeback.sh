# durability = close: streams through the kernel's writeback cache.
# Concurrent writers stay line-atomic across page-sized write-backs and
# rotations; a close or fsync acknowledges (kill -9 after it loses
# nothing), a writer's last piece without a newline is kept, a truncate
# starts the kernel's offsets over; on the same mount a durability = write
# flow still acknowledges each write, and uploads read back and arrive
# whole.  Checked in the dir sink's files with Python and cmp.
. tests/e2e/lib.sh
need_fuse t_writeback

new_case wb
cat >> "$D/flowfs.ini" <<INI
compress = none
durability = close
maxsize = 256K
[flow.safe]
sinks = out
compress = none
INI
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M" || { fail writeback_mount "no mount"; exit 0; }
dur=$(jq -r '.transforms[] | select(.type == "file") | .durability' "$M/web/.flow" 2>&1)
grep -q "the kernel's writeback cache is on" "$D/log" && [ "$dur" = close ] && ok writeback_cache_on ||
	fail writeback_cache_on "the writeback cache on: $(grep -c "writeback cache is on" "$D/log"); .flow says durability '$dur'"

chunks() {	# STREAM FLOW: the delivered chunks of a stream, oldest first
	find "$D/out/$2" -name "$1-*" -type f | sort -t. -k3
}

# --- six writers at once, lines of 1 B to 9 KB (they cross pages), O_APPEND
python3 - "$M/web/many.log" <<'PY' &
import os, random, sys
def writer(k):
    rnd = random.Random(k)
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for n in range(1500):
        size = rnd.choice([1, 10, 100, 4000, 4096, 9000])
        line = b"w%d %d %d %s\n" % (k, n, size, b"x" * size)
        assert os.write(fd, line) == len(line)
    os.close(fd)
pids = []
for k in range(6):
    pid = os.fork()
    if pid == 0:
        writer(k)
        os._exit(0)
    pids.append(pid)
sys.exit(max(os.waitpid(p, 0)[1] for p in pids))
PY
wpid=$!
for i in $(seq 300); do echo "echo $i" >> "$M/web/many.log"; done
wait $wpid && wrote=yes || wrote=no
"$FLOWCTL" sync "$M" --timeout 60 >/dev/null 2>&1
cat > "$D/check.py" <<'PY'
import re, sys
seen, bad, n = set(), [], 0
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    if not data.endswith(b"\n"):
        bad.append("%s does not end a line" % path.rsplit("/", 1)[1])
    for line in data.split(b"\n")[:-1]:
        m = re.fullmatch(rb"w(\d) (\d+) (\d+) (x*)", line) or re.fullmatch(rb"echo (\d+)", line)
        if not m or (m.lastindex == 4 and int(m.group(3)) != len(m.group(4))):
            bad.append("cut or mixed: %r" % line[:50])
            continue
        key = m.groups()[:2] if m.lastindex == 4 else (b"echo", m.group(1))
        if key in seen:
            bad.append("twice: %r" % (key,))
        seen.add(key)
        n += 1
want = 6 * 1500 + 300
print("%d chunks, %d of %d lines; %s" % (len(sys.argv) - 1, n, want, "; ".join(bad[:3]) or "ok"))
sys.exit(0 if n == want and not bad and len(sys.argv) > 3 else 1)
PY
res=$(python3 "$D/check.py" $(chunks many.log web)) && [ "$wrote" = yes ] && ok writeback_lines_whole_concurrent_writers ||
	fail writeback_lines_whole_concurrent_writers "writers ok: $wrote; $res"
echo "    $res"

# --- a writer's last piece without a newline is kept, whole, at its close
printf 'first line\nno newline at the end' >> "$M/web/tail.log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
got=$(cat $(chunks tail.log web) 2>/dev/null)
[ "$got" = "$(printf 'first line\nno newline at the end')" ] && ok writeback_last_piece_kept ||
	fail writeback_last_piece_kept "delivered: $(printf %q "$got")"

# --- a truncate (> on a stream) starts the kernel's offsets over: what
# follows still comes (a stream is only appended to: nothing is cut)
echo zero >> "$M/web/trunc.log"
echo one > "$M/web/trunc.log"
echo two >> "$M/web/trunc.log"
echo three >> "$M/web/trunc.log" && e3=ok || e3=failed
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
got=$(cat $(chunks trunc.log web) 2>/dev/null | tr '\n' ' ')
[ "$got" = "zero one two three " ] && [ "$e3" = ok ] && ok writeback_truncate_then_append ||
	fail writeback_truncate_then_append "delivered: '$got', last append: $e3"

# --- an upload on this mount reads back and arrives whole
mkdir -p "$D/src"
head -c 3000000 /dev/urandom > "$D/src/up.bin"
cp "$D/src/up.bin" "$M/web/up.bin" && cmp -s "$D/src/up.bin" "$M/web/up.bin" && rb=yes || rb=no
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
sum=$(getfattr --only-values -n user.flowfs.sha256 "$M/web/up.bin" 2>/dev/null)
[ "$rb" = yes ] && cmp -s "$D/src/up.bin" "$D/out/web/up.bin" &&
	[ "$sum" = "$(sha256sum < "$D/src/up.bin" | cut -d' ' -f1)" ] && ok writeback_upload_whole ||
	fail writeback_upload_whole "reads back: $rb; sha256 xattr: $sum"

# --- kill -9: what a close or fsync acknowledged is there; on a
# durability = write flow of the same mount every write is acknowledged
for i in $(seq 200); do echo "closed $i" >> "$M/web/kill.log"; done
python3 - "$M/web/kill.log" "$M/safe/kill.log" "$D/synced" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"synced 1\nsynced 2\nsynced half")
os.fsync(fd)
sfd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for n in range(100):
    os.write(sfd, b"write %d\n" % n)
open(sys.argv[3], "w").write("ok")
time.sleep(60)	# both still open at the kill
PY
ppid=$!
wait_for 20 test -s "$D/synced"
fs_kill9 "$M"
kill $ppid 2>/dev/null; wait $ppid 2>/dev/null
fs_mount "$D/flowfs.ini" "$M" || { fail writeback_kill9_mount "no mount"; exit 0; }
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
res=$(python3 - "$D/out" <<'PY'
import glob, sys
d = sys.argv[1]
def lines(flow):
    out = []
    for p in sorted(glob.glob("%s/%s/**/kill.log-*" % (d, flow), recursive=True)):
        out += open(p, "rb").read().split(b"\n")
    return [l for l in out if l]
web, safe = lines("web"), lines("safe")
closed = [l for l in web if l.startswith(b"closed ")]
bad = []
if closed != [b"closed %d" % i for i in range(1, 201)]:
    bad.append("closed lines: %d of 200" % len(closed))
for l in (b"synced 1", b"synced 2", b"synced half"):
    if web.count(l) != 1:
        bad.append("%r %d times" % (l, web.count(l)))
if safe != [b"write %d" % n for n in range(100)]:
    bad.append("durability = write lines: %d of 100" % len(safe))
print("; ".join(bad) or "ok")
PY
)
[ "$res" = ok ] && ok writeback_kill9_keeps_acknowledged || fail writeback_kill9_keeps_acknowledged "$res"
fs_umount "$M"

# --- the kernel leaves set-id bits to flowfs (FUSE_HANDLE_KILLPRIV_V2, which
# libfuse 3.14 cannot name): else it asks for security.capability before
# every cached write(2), a round trip per write after all.  Counted in
# libfuse's own debug trace (-d); flowfs keeps no set-id bits to drop.
new_case nosec
cat >> "$D/flowfs.ini" <<INI
compress = none
durability = close
INI
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M" -d || { fail writeback_nosec_mount "no mount"; exit 0; }
python3 - "$M/web/many.log" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for n in range(2000):
    os.write(fd, b"line %d\n" % n)
os.close(fd)
PY
asks=$(grep -c 'opcode: GETXATTR' "$D/log")
writes=$(grep -c 'opcode: WRITE ' "$D/log")
lines=$(wc -l < "$M/web/many.log")
[ "$asks" -le 4 ] && [ "$lines" -eq 2000 ] && ok writeback_no_xattr_round_trip_per_write ||
	fail writeback_no_xattr_round_trip_per_write "$asks GETXATTR and $writes WRITE requests for 2000 write(2)s; $lines lines read back"
echo "    2000 write(2)s: $asks GETXATTR, $writes WRITE requests"
touch "$M/web/tool.sh"
chmod 6755 "$M/web/tool.sh" "$M/web/many.log"
modes=$(stat -c %a "$M/web/tool.sh" "$M/web/many.log" | tr '\n' ' ')
[ "$modes" = "755 755 " ] && ok writeback_keeps_no_setid_bits ||
	fail writeback_keeps_no_setid_bits "after chmod 6755: modes $modes"
fs_umount "$M"
exit 0
