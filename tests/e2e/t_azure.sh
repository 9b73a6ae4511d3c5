# The azure sink against Azurite on 127.0.0.1 (pinned in tests/package.json):
# blobs are read back with Shared Key by tests/e2e/azblob.py, whose signer
# is independent of flowfs's.
. tests/e2e/lib.sh
need_fuse t_azure
AZURITE=tests/node_modules/azurite/dist/src/blob/main.js
if [ ! -f "$AZURITE" ] || ! command -v node >/dev/null || ! command -v python3 >/dev/null; then
	skip t_azure "Azurite is not installed (npm ci --prefix tests) or python3 is missing"
	exit 0
fi
AZKEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
WRONGKEY='V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5'
PORT=$(free_ports 4)
EP=http://127.0.0.1:$PORT/devstoreaccount1
AZDIR=$TESTS_TMP/azdata
AZPID=
az_start() {
	node "$AZURITE" --blobHost 127.0.0.1 --blobPort $PORT --location "$AZDIR" --silent \
		--disableTelemetry --skipApiVersionCheck --loose >>"$TESTS_TMP/azurite.log" 2>&1 &
	AZPID=$!
	wait_for 20 grep -q 'successfully listens' "$TESTS_TMP/azurite.log"
}
az_stop() { [ -n "$AZPID" ] && kill "$AZPID" 2>/dev/null; wait "$AZPID" 2>/dev/null || true; }
trap 'fs_cleanup; az_stop' EXIT
mkdir -p "$AZDIR"
az_start || { fail azure_server "Azurite did not start: $(tail -3 "$TESTS_TMP/azurite.log")"; exit 0; }
python3 tests/e2e/azblob.py "$EP" mkcontainer cont 2>"$TESTS_TMP/mk.err" ||
	{ fail azure_container "$(cat "$TESTS_TMP/mk.err")"; exit 0; }

azget() { python3 tests/e2e/azblob.py "$EP" get "cont/$1"; }
azhead() { python3 tests/e2e/azblob.py "$EP" head "cont/$1"; }

az_case() {	# NAME: a case with an azure sink "az" (prefix NAME/) for flow web
	new_case "$1"
	printf '%s\n' "$AZKEY" > "$D/key"
	chmod 600 "$D/key"
	sed -i 's/^part_size = 64K$/part_size = 5M/; s/^sinks = out$/sinks = az/' "$D/flowfs.ini"
	cat >> "$D/flowfs.ini" <<INI
[sink.az]
type = azure
account = devstoreaccount1
container = cont
endpoint = $EP
key_file = $D/key
prefix = $1/
INI
}

# --- a small blob, an empty one and a multi-block one, byte-identical; metadata
az_case sizes
fs_mount "$D/flowfs.ini" "$D/mnt"
: > "$D/f0"; head -c 1000 /dev/urandom > "$D/f1k"
head -c $((17 * 1024 * 1024)) /dev/urandom > "$D/f17m"
cp "$D/f0" "$D/f1k" "$D/f17m" "$D/mnt/web/"
cp "$D/f1k" "$D/mnt/web/a b+c.txt"
exec 3>"$D/mnt/web/meta.txt"; echo m >&3
setfattr -n user.meta.owner -v alice "$D/mnt/web/meta.txt"
exec 3>&-
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
bad=
for f in f0 f1k f17m; do azget "sizes/web/$f" | cmp -s - "$D/$f" || bad="$bad $f"; done
azget "sizes/web/a b+c.txt" | cmp -s - "$D/f1k" || bad="$bad 'a b+c.txt'"
nblocks=$(python3 tests/e2e/azblob.py "$EP" blocks cont/sizes/web/f17m | wc -l)
if [ -z "$bad" ] && [ "$nblocks" = 4 ] && log_clean; then
	ok azure_sizes_identical
else
	fail azure_sizes_identical "differ:$bad; f17m has $nblocks committed blocks (want 4)"
fi
hdrs=$(azhead sizes/web/meta.txt)
meta=$(grep '^x-ms-meta-owner:' <<<"$hdrs" | cut -d' ' -f2)
ctype=$(grep '^content-type:' <<<"$hdrs" | cut -d' ' -f2)
if [ "$meta" = alice ] && [ "$ctype" = text/plain ] && [ "$(azget sizes/web/meta.txt)" = m ]; then
	ok azure_metadata
else
	fail azure_metadata "x-ms-meta-owner '$meta', content-type '$ctype'"
fi
fs_umount "$D/mnt"

# --- a big blob goes block by block while it is written, committed after
# the close: the blob appears only then, whole
az_case early
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c $((23 * 1024 * 1024)) /dev/urandom > "$D/e.bin"
python3 - "$D/e.bin" "$D/mnt/web/e.bin" "$D/log" <<'PY' &
import sys, time
src, dst, log = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "wb", buffering=0) as f:
    f.write(data[:16 << 20])
    for _ in range(200):	# until the first blocks are on their way
        if "early/web/e.bin: 3 parts sent while it is written" in open(log).read():
            break
        time.sleep(0.1)
    open(dst + ".seen", "w").close()
    time.sleep(0.5)
    f.write(data[16 << 20:])
PY
wpid=$!
wait_for 30 test -e "$D/mnt/web/e.bin.seen"
early_absent=$(azhead early/web/e.bin >/dev/null 2>&1 && echo no || echo yes)
wait "$wpid"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
if azget early/web/e.bin | cmp -s - "$D/e.bin" && [ "$early_absent" = yes ] &&
   grep -q 'early/web/e.bin: 3 parts sent while it is written' "$D/log"; then
	ok azure_blocks_sent_while_written
else fail azure_blocks_sent_while_written "identical=$(azget early/web/e.bin | cmp -s - "$D/e.bin" && echo yes || echo no), absent before the close: $early_absent"; fi
fs_umount "$D/mnt"

# --- kill -9 in the middle of a block upload, then remount: it resumes
FLOW_EXTRA="upload_early = no" az_case resume	# the upload after the close
kill9_mid_upload 60
saved=$SAVED
sent1=$(grep -c 'resume/web/big: block 1 of 12 sent' "$D/log")
total=$(grep -c 'resume/web/big: block [0-9]* of 12 sent' "$D/log")
resumed=$(grep -c 'resume/web/big: resuming a block upload' "$D/log")
same=no; azget resume/web/big | cmp -s - "$D/big" && same=yes
if [ "$same" = yes ] && [ "${saved:-0}" -ge 2 ] && [ "${saved:-0}" -lt 12 ] && [ "$sent1" = 1 ] &&
   [ "$resumed" -ge 1 ] && [ "$total" -le $((12 + 4)) ]; then
	ok azure_kill9_mid_upload_resumes
else
	fail azure_kill9_mid_upload_resumes "identical=$same, $saved blocks saved before the kill, block 1 sent $sent1 times, $total block sends in all, resumed $resumed times"
fi
fs_umount "$D/mnt"

# --- blocks the spool believes sent but the server lacks (Get Block List)
# are sent again before Put Block List
FLOW_EXTRA="upload_early = no" az_case lostblocks
sed -i "s|^endpoint = .*|endpoint = http://127.0.0.1:$((PORT + 1))/devstoreaccount1|" "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"	# nobody listens there: the upload starts, no block gets through
head -c $((17 * 1024 * 1024)) /dev/urandom > "$D/l.bin"
cp "$D/l.bin" "$D/mnt/web/l.bin"
wait_for 15 grep -q 'retrying in' "$D/log"
fs_umount "$D/mnt"
obj=$(sqlite3 "$D/spool/flowfs.db" "SELECT object FROM deliveries WHERE sink = 'az' AND upload_id = 'blocks'")
for i in 0 1 2 3; do
	sqlite3 "$D/spool/flowfs.db" "INSERT INTO part_ids(object, sink, idx, part_id) VALUES(${obj:-0}, 'az', $i, 'never-sent')"
done
sed -i "s|^endpoint = .*|endpoint = $EP|" "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
"$FLOWCTL" retry "$D/mnt" >/dev/null
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
if [ -n "$obj" ] && azget lostblocks/web/l.bin | cmp -s - "$D/l.bin" &&
   grep -q 'lostblocks/web/l.bin: the server lacks 4 blocks' "$D/log" &&
   [ "$(grep -c 'lostblocks/web/l.bin: block [0-9] of 4 sent' "$D/log")" = 4 ]; then
	ok azure_lost_blocks_resent
else
	fail azure_lost_blocks_resent "object '$obj'; $(grep -c 'block [0-9] of 4 sent' "$D/log") block sends"
fi
fs_umount "$D/mnt"

# --- a part altered in the spool is caught by its SHA-256 and never sent
az_case corrupt	# nobody listens on PORT+1: deliveries wait
corrupt_spooled c.bin endpoint "http://127.0.0.1:$((PORT + 1))/devstoreaccount1" "$EP"
if [ "$(state "$D/mnt/web/c.bin")" = failed ] && ! azget corrupt/web/c.bin >/dev/null 2>&1 &&
   jq -e '.sinks.az.last_error | test("SHA-256 mismatch")' "$D/mnt/web/.status" >/dev/null; then
	ok azure_corrupt_part_never_sent
else
	fail azure_corrupt_part_never_sent "state $(state "$D/mnt/web/c.bin"), status '$(jq -c .sinks.az.last_error "$D/mnt/web/.status")'"
fi
fs_umount "$D/mnt"

# --- 500 and 503 (InternalError, ServerBusy) are retried, for a blob and
# for blocks, until the server is well again
PPORT=$((PORT + 2)) CPORT=$((PORT + 3))
node tests/e2e/faultproxy.js $PPORT $CPORT $PORT >>"$TESTS_TMP/proxy.log" 2>&1 &
PXPID=$!
trap 'fs_cleanup; az_stop; kill $PXPID 2>/dev/null' EXIT
if wait_for 10 curl -sf "http://127.0.0.1:$CPORT/mode?m=error&rate=1"; then
	az_case busy
	sed -i "s|^endpoint = .*|endpoint = http://127.0.0.1:$PPORT/devstoreaccount1|" "$D/flowfs.ini"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	head -c 1000 /dev/urandom > "$D/s.bin"
	head -c $((11 * 1024 * 1024)) /dev/urandom > "$D/b.bin"
	cp "$D/s.bin" "$D/b.bin" "$D/mnt/web/"
	wait_for 20 sh -c "[ \$(grep -c injected '$TESTS_TMP/proxy.log') -ge 6 ]"
	st_during="$(state "$D/mnt/web/s.bin") $(state "$D/mnt/web/b.bin")"
	curl -sf "http://127.0.0.1:$CPORT/mode?m=pass" >/dev/null
	"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
	if azget busy/web/s.bin | cmp -s - "$D/s.bin" && azget busy/web/b.bin | cmp -s - "$D/b.bin" &&
	   [ "$st_during" = "queued queued" ] && grep -q 'HTTP 50[03].*retrying in' "$D/log"; then
		ok azure_5xx_retried
	else
		fail azure_5xx_retried "states during the errors: $st_during"
	fi
	fs_umount "$D/mnt"
else
	fail azure_5xx_retried "faultproxy did not start"
fi

# --- a wrong key fails for good, visibly, and the key never shows
az_case wrongkey
printf '%s\n' "$WRONGKEY" > "$D/key"
fs_mount "$D/flowfs.ini" "$D/mnt"
echo payload > "$D/mnt/web/w.txt"
wait_for 20 is_state "$D/mnt/web/w.txt" failed
st=$(cat "$D/mnt/web/.status")
leak=$(cat "$D/mnt/web/.status" "$D/mnt/.status" "$D/mnt/web/.flow" "$D/log"; "$FLOWCTL" status "$D/mnt")
if [ "$(state "$D/mnt/web/w.txt")" = failed ] &&
   jq -e '.sinks.az.last_error | test("403.*AuthorizationFailure")' <<<"$st" >/dev/null &&
   ! grep -qF -e "$WRONGKEY" -e "$AZKEY" <<<"$leak" && ! azget wrongkey/web/w.txt >/dev/null 2>&1; then
	ok azure_wrong_key_permanent_403
else
	fail azure_wrong_key_permanent_403 "state $(state "$D/mnt/web/w.txt"), status '$(jq -c .sinks.az.last_error <<<"$st")'"
fi
fs_umount "$D/mnt"

# --- a SAS token instead of the key: blobs and blocks arrive; a read-only
# token is a visible 403 and the token never shows
az_sas_case() {	# NAME PERMISSIONS
	az_case "$1"
	python3 tests/e2e/azblob.py "$EP" sas "$2" > "$D/sas"
	chmod 600 "$D/sas"
	sed -i "s|^key_file = .*|sas_file = $D/sas|" "$D/flowfs.ini"
}
az_sas_case sas rwc
fs_mount "$D/flowfs.ini" "$D/mnt"
head -c $((11 * 1024 * 1024)) /dev/urandom > "$D/s.bin"
cp "$D/s.bin" "$D/mnt/web/s.bin"
echo small > "$D/mnt/web/small.txt"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
if azget sas/web/s.bin | cmp -s - "$D/s.bin" && [ "$(azget sas/web/small.txt)" = small ] && log_clean; then
	ok azure_sas_token
else
	fail azure_sas_token "blobs not delivered through the SAS"
fi
fs_umount "$D/mnt"
az_sas_case sasro r
sig=$(sed 's/.*sig=//' "$D/sas")
fs_mount "$D/flowfs.ini" "$D/mnt"
echo payload > "$D/mnt/web/r.txt"
wait_for 20 is_state "$D/mnt/web/r.txt" failed
st=$(cat "$D/mnt/web/.status")
leak=$(cat "$D/mnt/web/.status" "$D/mnt/.status" "$D/mnt/web/.flow" "$D/log"; "$FLOWCTL" status "$D/mnt")
if [ "$(state "$D/mnt/web/r.txt")" = failed ] && [ -n "$sig" ] &&
   jq -e '.sinks.az.last_error | test("403.*AuthorizationPermissionMismatch")' <<<"$st" >/dev/null &&
   ! grep -qF -e "$sig" -e "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$sig")" <<<"$leak"; then
	ok azure_sas_read_only_403_token_hidden
else
	fail azure_sas_read_only_403_token_hidden "state $(state "$D/mnt/web/r.txt"), status '$(jq -c .sinks.az.last_error <<<"$st")'"
fi
fs_umount "$D/mnt"

# --- a key_file others may read is refused at mount
az_case badmode
chmod 644 "$D/key"
err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
if [ $? != 0 ] && grep -q "key_file: $D/key has mode 0644" <<<"$err" && ! mountpoint -q "$D/mnt" &&
   ! grep -qF "$AZKEY" <<<"$err"; then
	ok azure_key_file_mode_refused
else
	fail azure_key_file_mode_refused "$err"
fi
exit 0
