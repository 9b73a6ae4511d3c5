# Big uploads go to S3 while they are written (s3rver): parts leave as they
# become whole, the object appears only after the last close, whole; a part
# rewritten after it was sent is sent again; a rename starts over under the
# new name; new metadata starts over; kill -9 mid-write delivers nothing.
. tests/e2e/lib.sh
need_fuse t_early
need_s3rver t_early
PORT=$(free_ports 3)
trap 'fs_cleanup; s3_stop' EXIT
s3_start || { fail early_s3_server "s3rver did not start: $(tail -3 "$TESTS_TMP/s3rver.log")"; exit 0; }

early_case() {
	new_case "$1"
	s3_cred
	sed -i 's/^part_size = 64K$/part_size = 5M/; s/^sinks = out$/sinks = s3/' "$D/flowfs.ini"
	s3_sink s3 "http://127.0.0.1:$PORT" "$1/"
}
# writer FILE: a python writer driven by commands on fd 7 (a fifo):
# "w N" appends N MiB of the pattern, "r OFF" rewrites 1 MiB at OFF MiB,
# "t N" truncates to N MiB, "c" closes; it answers each on fd 8.
writer_start() {
	rm -f "$D/cmd" "$D/ack"; mkfifo "$D/cmd" "$D/ack"
	python3 - "$1" "$D/cmd" "$D/ack" "$D/want" <<'PY' &
import os, sys
path, cmd, ack, want = sys.argv[1:5]
f = open(path, "wb", buffering=0)
w = open(want, "wb")
cin, cout = open(cmd), open(ack, "w")
n = 0
for line in cin:
    op = line.split()
    if op[0] == "w":
        for _ in range(int(op[1])):
            block = os.urandom(1 << 20)
            f.write(block); w.write(block); n += 1
    elif op[0] == "r":
        off = int(op[1]) << 20
        block = os.urandom(1 << 20)
        f.seek(off); f.write(block); f.seek(0, 2)
        w.seek(off); w.write(block); w.seek(0, 2)
    elif op[0] == "t":
        f.truncate(int(op[1]) << 20); f.seek(0, 2)
        w.truncate(int(op[1]) << 20); w.seek(0, 2)
    elif op[0] == "c":
        f.close(); w.close()
    cout.write("done\n"); cout.flush()
    if op[0] == "c":
        break
PY
	WPID=$!
	exec 7>"$D/cmd" 8<"$D/ack"
}
wcmd() { echo "$*" >&7; read -r _ <&8; }
writer_end() { exec 7>&- 8<&-; wait "$WPID" 2>/dev/null; }
early_sent() { grep -c "$1: [0-9]* parts sent while it is written" "$D/log"; }
# same_sha FILE WANT: the hash flowfs recorded for FILE (its parts hashed
# while written, the rest at the close) is WANT's
same_sha() { [ "$(getfattr --only-values -n user.flowfs.sha256 "$1" 2>/dev/null)" = "$(sha256sum < "$2" | cut -c1-64)" ]; }

# --- parts go while the file is written; the object only after the close
early_case written
fs_mount "$D/flowfs.ini" "$D/mnt"
writer_start "$D/mnt/web/big.bin"
wcmd w 23
wait_for 20 sh -c "grep -q 'written/web/big.bin: 4 parts sent while it is written' '$D/log'"
sent_before_close=$(grep -c 'written/web/big.bin: 4 parts sent while it is written' "$D/log")
visible_early=$(s3get written/web/big.bin >/dev/null && echo yes || echo no)
wcmd w 9
wcmd c
writer_end
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
final_parts=$(grep -c 'written/web/big.bin: part [0-9]* of 7 sent' "$D/log")
if s3get written/web/big.bin | cmp -s - "$D/want" && [ "$sent_before_close" -ge 1 ] && [ "$visible_early" = no ] &&
   [ "$final_parts" -le 3 ] && same_sha "$D/mnt/web/big.bin" "$D/want"; then
	ok early_parts_sent_while_written
else fail early_parts_sent_while_written "identical=$(s3get written/web/big.bin | cmp -s - "$D/want" && echo yes || echo no), 4 parts before close: $sent_before_close, visible before close: $visible_early, parts sent after close: $final_parts of 7, sha256 right: $(same_sha "$D/mnt/web/big.bin" "$D/want" && echo yes || echo no)"; fi
# cp of a big file: identical, most parts on their way before cp returns
head -c $((64 << 20)) /dev/urandom > "$D/cp.bin"
cp "$D/cp.bin" "$D/mnt/web/cp.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
# each of its 13 parts is sent once, early or after the close, never twice
sends=$(grep -c 'written/web/cp.bin: part [0-9]* of [0-9]* sent' "$D/log")
s3get written/web/cp.bin | cmp -s - "$D/cp.bin" && [ "$(early_sent written/web/cp.bin)" -ge 1 ] && [ "$sends" = 13 ] &&
	same_sha "$D/mnt/web/cp.bin" "$D/cp.bin" && ok early_cp_identical_each_part_once ||
	fail early_cp_identical_each_part_once "identical=$(s3get written/web/cp.bin | cmp -s - "$D/cp.bin" && echo yes || echo no), early batches $(early_sent written/web/cp.bin), $sends part sends for 13 parts, sha256 right: $(same_sha "$D/mnt/web/cp.bin" "$D/cp.bin" && echo yes || echo no)"
fs_umount "$D/mnt"

# changed_after_sent CASE FILE CHANGE MIB PART NAME: 16 MiB written and 3
# parts sent, then CHANGE (a command to the writer) inside part 1, MIB more
# and the close: the object is the file, part PART of 4 is sent again, and
# the sha256 is the file's
changed_after_sent() {
	local k=$1/web/$2.bin
	early_case "$1"
	fs_mount "$D/flowfs.ini" "$D/mnt"
	writer_start "$D/mnt/web/$2.bin"
	wcmd w 16
	wait_for 20 sh -c "grep -q '$k: 3 parts sent while it is written' '$D/log'"
	wcmd "$3"
	wcmd w "$4"
	wcmd c
	writer_end
	"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
	if s3get "$k" | cmp -s - "$D/want" && grep -q "$k: part $5 of 4 sent" "$D/log" &&
	   same_sha "$D/mnt/web/$2.bin" "$D/want"; then
		ok "$6"
	else
		fail "$6" "$(s3get "$k" | cmp - "$D/want" 2>&1), sha256 right: $(same_sha "$D/mnt/web/$2.bin" "$D/want" && echo yes || echo no)"
	fi
	fs_umount "$D/mnt"
}

# --- a part rewritten after it was sent is sent again under its number
changed_after_sent rewrite r "r 1" 4 1 early_rewritten_part_sent_again
# --- truncated below what was sent, then written on: the parts cut off
# and written again are sent again, the hash is the file's
changed_after_sent truncate t "t 7" 10 2 early_truncated_below_sent

# --- a rename during the upload: delivered under the new name only
early_case rename
fs_mount "$D/flowfs.ini" "$D/mnt"
writer_start "$D/mnt/web/a.bin"
wcmd w 12
wait_for 20 sh -c "grep -q 'rename/web/a.bin: 2 parts sent while it is written' '$D/log'"
mv "$D/mnt/web/a.bin" "$D/mnt/web/b.bin"
wcmd w 6
wcmd c
writer_end
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
if s3get rename/web/b.bin | cmp -s - "$D/want" && ! s3get rename/web/a.bin >/dev/null &&
   [ -z "$(s3keys rename/web/ | grep -v '^rename/web/b.bin$')" ]; then
	ok early_rename_during_upload
else fail early_rename_during_upload "keys: $(s3keys rename/web/ | tr '\n' ' ')"; fi
fs_umount "$D/mnt"

# --- metadata set after the upload started still travels
early_case meta
fs_mount "$D/flowfs.ini" "$D/mnt"
writer_start "$D/mnt/web/m.bin"
wcmd w 11
wait_for 20 sh -c "grep -q 'meta/web/m.bin: 2 parts sent while it is written' '$D/log'"
setfattr -n user.meta.owner -v alice "$D/mnt/web/m.bin"
wcmd w 1
wcmd c
writer_end
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
meta=$(curl -sI "http://127.0.0.1:$PORT/bkt/meta/web/m.bin" | tr -d '\r' | grep -i '^x-amz-meta-owner:' | cut -d' ' -f2)
s3get meta/web/m.bin | cmp -s - "$D/want" && [ "$meta" = alice ] && ok early_metadata_after_start ||
	fail early_metadata_after_start "x-amz-meta-owner '$meta'"
fs_umount "$D/mnt"

# --- kill -9 mid-write: never closed, never delivered; written again, whole
early_case kill9
fs_mount "$D/flowfs.ini" "$D/mnt"
writer_start "$D/mnt/web/k.bin"
wcmd w 16
wait_for 20 sh -c "grep -q 'kill9/web/k.bin: 3 parts sent while it is written' '$D/log'"
fs_kill9 "$D/mnt"
kill "$WPID" 2>/dev/null; exec 7>&- 8<&-; wait "$WPID" 2>/dev/null
fs_mount "$D/flowfs.ini" "$D/mnt"
absent=$(s3get kill9/web/k.bin >/dev/null && echo no || echo yes)
head -c $((12 << 20)) /dev/urandom > "$D/k2"
cp "$D/k2" "$D/mnt/web/k.bin"
"$FLOWCTL" sync "$D/mnt" --timeout 60 >/dev/null
[ "$absent" = yes ] && s3get kill9/web/k.bin | cmp -s - "$D/k2" && ok early_kill9_mid_write ||
	fail early_kill9_mid_write "absent after the kill: $absent, then identical: $(s3get kill9/web/k.bin | cmp -s - "$D/k2" && echo yes || echo no)"
fs_umount "$D/mnt"
