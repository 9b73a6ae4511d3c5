# Trust: every listed file reads back, whatever its state; a file any of
# whose writes failed is never delivered, not even in part; the daemon
# unmounts on SIGINT, SIGTERM and SIGHUP, also from a relative mount point.
# Driven with programs nobody here wrote: cp, cmp, cat, fio, rsync,
# sha256sum, python's open().
. tests/e2e/lib.sh
need_fuse t_trust

# --- listed means readable, before and after delivery
FLOW_EXTRA="upload_compress = gz
[flow.files]
sinks = out" new_case readable
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail trust_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
head -c 300000 /dev/urandom > "$D/x"
cp "$D/x" "$M/web/" && cmp -s "$D/x" "$M/web/x" && now=yes || now=no
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
st=$(state "$M/web/x")
cmp -s "$D/x" "$M/web/x" && later=yes || later="no ($(cat "$M/web/x" 2>&1 >/dev/null | head -c 100))"
sum=$(sha256sum < "$M/web/x" | cut -d' ' -f1)
xsum=$(getfattr --only-values -n user.flowfs.sha256 "$M/web/x" 2>/dev/null)
zcat "$O/web/x.gz" 2>/dev/null | cmp -s - "$D/x" && sent=yes || sent=no
if [ "$now" = yes ] && [ "$st" = delivered ] && [ "$later" = yes ] && [ "$sum" = "$xsum" ] &&
   [ "$sum" = "$(sha256sum < "$D/x" | cut -d' ' -f1)" ] && [ "$sent" = yes ]; then
	ok trust_read_back_after_delivery
else
	fail trust_read_back_after_delivery "cmp after cp: $now; state $st; cmp after delivery: $later; sha256sum $sum, xattr $xsum; delivered gz identical: $sent"
fi

# a file still being written reads back what it holds so far
exec 3>"$M/web/open.txt"
printf 'first part\n' >&3
got=$(cat "$M/web/open.txt" 2>&1)
exec 3>&-
[ "$got" = "first part" ] && ok trust_read_while_staging || fail trust_read_while_staging "cat gave '$got'"

# fio writes, closes, re-opens and verifies every block (it re-opens
# read-write: a new version of each file, the same bytes)
if command -v fio >/dev/null; then
	mkdir -p "$D/fio"
	if fio --name=v --directory="$M/files" --rw=write --bs=64k --size=64M --verify=crc32c \
	       --numjobs=2 --verify_state_save=0 --output="$D/fio.out" >/dev/null 2>"$D/fio.err"; then
		"$FLOWCTL" sync "$M" --timeout 60 >/dev/null
		bad=
		for f in v.0.0 v.1.0; do
			cmp -s "$M/files/$f" "$O/files/$f" || bad="$bad $f"
			[ "$(stat -c %s "$O/files/$f" 2>/dev/null)" = 67108864 ] || bad="$bad $f(size)"
		done
		[ -z "$bad" ] && ok trust_fio_verify || fail trust_fio_verify "delivered files differ:$bad"
	else
		fail trust_fio_verify "fio: $(grep -v '^$' "$D/fio.err" | head -n 3 | tr '\n' ' ')"
	fi
else
	skip trust_fio_verify "fio is not installed"
fi

# rsync --inplace rewrites the changed blocks of a delivered file: a new
# version, delivered again with the new bytes
head -c 1000000 /dev/urandom > "$D/r.bin"
cp "$D/r.bin" "$M/web/r.bin"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
printf 'CHANGED' | dd of="$D/r.bin" bs=1 seek=500000 conv=notrunc status=none
touch -d '+1 hour' "$D/r.bin"
rsync --inplace --no-whole-file "$D/r.bin" "$M/web/r.bin" 2>"$D/rsync.err" && rs=ok || rs="failed: $(head -c 200 "$D/rsync.err")"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
if [ "$rs" = ok ] && cmp -s "$D/r.bin" "$M/web/r.bin" && zcat "$O/web/r.bin.gz" | cmp -s - "$D/r.bin"; then
	ok trust_rsync_inplace_delivers_new_bytes
else
	fail trust_rsync_inplace_delivers_new_bytes "rsync $rs; listed same: $(cmp -s "$D/r.bin" "$M/web/r.bin" && echo yes || echo no)"
fi

# opening a sealed file for writing without O_TRUNC: its bytes, then the
# change; >> on an upload appends to a new version of it
python3 - "$M/web/x" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.write(b"HEAD")
PY
printf 'HEAD' | dd of="$D/x" bs=1 conv=notrunc status=none
echo "one more line" >> "$M/web/x"
echo "one more line" >> "$D/x"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
if cmp -s "$D/x" "$M/web/x" && zcat "$O/web/x.gz" | cmp -s - "$D/x" && is_state "$M/web/x" delivered; then
	ok trust_reopen_and_append_make_new_versions
else
	fail trust_reopen_and_append_make_new_versions "listed same: $(cmp -s "$D/x" "$M/web/x" && echo yes || echo no), state $(state "$M/web/x")"
fi

# nothing listed answers ENODATA (or any error) when read
errs=$(find "$M" -type f ! -name '.flowctl' -exec cat {} + 2>&1 >/dev/null | head -n 3)
[ -z "$errs" ] && ok trust_every_listed_file_reads || fail trust_every_listed_file_reads "$errs"
fs_umount "$M"

# --- under spool pressure the oldest delivered files leave the listing
# before any writer gets ENOSPC; df and .status count them as free
GLOBAL_EXTRA="spool_max = 3M" new_case pressure
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail trust_pressure_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
errs=0
for i in 1 2 3 4 5 6; do
	head -c 1000000 /dev/urandom > "$D/p$i"
	cp "$D/p$i" "$M/web/p$i" 2>>"$D/cp.err" || errs=$((errs + 1))
	"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
done
reclaim=$(jq -r .spool.reclaimable "$M/.status")
avail=$(df -B1 --output=avail "$M" | tail -n 1 | tr -d ' ')
same=yes
for i in 1 2 3 4 5 6; do cmp -s "$D/p$i" "$O/web/p$i" || same="no (p$i)"; done
listed=$(ls "$M/web" | tr '\n' ' ')
if [ "$errs" = 0 ] && [ "$same" = yes ] && [ ! -e "$M/web/p1" ] && [ -e "$M/web/p6" ] &&
   cmp -s "$D/p6" "$M/web/p6" && [ "$reclaim" -ge 1000000 ] && [ "$avail" -ge 1000000 ] &&
   grep -q 'leaves the listing early' "$D/log"; then
	ok trust_pressure_unlists_oldest_delivered
else
	fail trust_pressure_unlists_oldest_delivered "cp errors $errs; delivered identical: $same; listed: $listed; reclaimable $reclaim; df avail $avail"
fi
fs_umount "$M"

# --- SIGINT, SIGTERM and SIGHUP drain and unmount, also when the mount
# point was given relative to another directory (as `make run` does)
new_case signals
sed -i "s|^log = stderr|log = $D/log|" "$D/flowfs.ini"
mkdir -p "$D/elsewhere"
bad=
for sig in INT TERM HUP; do
	(cd "$D/elsewhere" && exec "$FLOWFS" ../flowfs.ini ../mnt) || { bad="$bad $sig(mount)"; continue; }
	wait_for 10 mountpoint -q "$D/mnt"
	echo "line before $sig" >> "$D/mnt/web/app.log"
	pid=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$D/log" | tail -n 1)
	kill -"$sig" "$pid"
	wait_for 20 sh -c "! kill -0 $pid 2>/dev/null" || bad="$bad $sig(still running)"
	mountpoint -q "$D/mnt" && { bad="$bad $sig(still mounted)"; fusermount3 -uz "$D/mnt"; }
	ls "$D/mnt" >/dev/null 2>&1 || bad="$bad $sig(dead mount)"
	zcat "$D"/out/web/*/app.log-* 2>/dev/null | grep -qx "line before $sig" || bad="$bad $sig(line not delivered)"
done
# in the foreground, started from a script (a background job: SIGINT ignored)
(cd "$D/elsewhere" && exec "$FLOWFS" ../flowfs.ini ../mnt -f) &
fpid=$!
wait_for 10 mountpoint -q "$D/mnt"
kill -INT "$fpid"
wait_for 20 sh -c "! kill -0 $fpid 2>/dev/null" || { bad="$bad foreground-INT(still running)"; kill "$fpid"; }
wait "$fpid" 2>/dev/null
mountpoint -q "$D/mnt" && { bad="$bad foreground-INT(still mounted)"; fusermount3 -uz "$D/mnt"; }
grep -q 'failed to unmount' "$D/log" && bad="$bad ($(grep -m1 'failed to unmount' "$D/log"))"
[ -z "$bad" ] && ok trust_signals_unmount_relative_mountpoint || fail trust_signals_unmount_relative_mountpoint "$bad"

# --- a copy that fails (ENOSPC) is never delivered: the bucket keeps the
# good object under that key; failed copies never reach it, not even empty
need_s3rver t_trust
PORT=$(free_ports 1)
s3_start || { fail trust_s3_server "s3rver did not start"; exit 0; }
trap 'fs_cleanup; umount -l "$D/spool" 2>/dev/null; s3_stop' EXIT
GLOBAL_EXTRA="spool_max = 10G" new_case enospc
s3_cred
sed -i 's/^sinks = out$/sinks = s3/; s/^part_size = 64K$/part_size = 5M/' "$D/flowfs.ini"
s3_sink s3 "http://127.0.0.1:$PORT" "enospc/" "connect_timeout = 2s
timeout = 3s"
mkdir -p "$D/spool"
if ! mount -t tmpfs -o size=16m tmpfs "$D/spool" 2>/dev/null; then
	skip trust_failed_copy_not_delivered "cannot mount a tmpfs here"
	exit 0
fi
M=$D/mnt
fs_mount "$D/flowfs.ini" "$M" || { fail trust_enospc_mount "no mount"; exit 0; }
head -c 200000 /dev/urandom > "$D/good.csv"
cp "$D/good.csv" "$M/web/report.csv"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
s3get enospc/web/report.csv | cmp -s - "$D/good.csv" && first=yes || first=no
kill -STOP "$S3PID"
: > "$D/acked"
for i in $(seq 40); do
	head -c 1000000 /dev/urandom > "$D/f$i.bin"
	cp "$D/f$i.bin" "$M/web/f$i.bin" 2>>"$D/cp.err" && echo "f$i.bin" >> "$D/acked"
done
nfail=$((40 - $(wc -l < "$D/acked")))
head -c 30000000 /dev/urandom > "$D/big.csv"
cp "$D/big.csv" "$M/web/report.csv" 2>"$D/cp.err" && recopy=ok || recopy=$(head -c 200 "$D/cp.err")
rst=$(state "$M/web/report.csv")
rerr=$(getfattr --only-values -n user.flowfs.error "$M/web/report.csv" 2>/dev/null)
rjson=$(jq -c '.failed_files[] | select(.path == "report.csv")' "$M/web/.status")
kill -CONT "$S3PID"
"$FLOWCTL" sync "$M" --timeout 90 >"$D/sync.out" 2>&1 && synced=yes || synced="no: $(tail -n 3 "$D/sync.out")"
keys=$(s3keys enospc/web/)
partial=
for i in $(seq 40); do
	if grep -qx "f$i.bin" "$D/acked"; then
		s3get "enospc/web/f$i.bin" | cmp -s - "$D/f$i.bin" || partial="$partial f$i(acked, not identical)"
	elif grep -qx "enospc/web/f$i.bin" <<<"$keys"; then
		partial="$partial f$i(failed, in the bucket)"
	fi
done
s3get enospc/web/report.csv | cmp -s - "$D/good.csv" && kept=yes || kept=no
if [ "$first" = yes ] && [ "$recopy" != ok ] && grep -q 'No space left' <<<"$recopy" &&
   [ "$rst" = failed ] && grep -q 'No space left on device' <<<"$rerr" && [ -n "$rjson" ] &&
   grep -q 'report.csv: a write failed: No space left on device; not delivered' "$D/log" &&
   [ "$kept" = yes ]; then
	ok trust_failed_recopy_keeps_good_object
else
	fail trust_failed_recopy_keeps_good_object "first delivered: $first; re-copy: $recopy; state $rst; error '$rerr'; .status '$rjson'; bucket keeps the good bytes: $kept"
fi
if [ "$nfail" -ge 1 ] && [ "$nfail" -lt 40 ] && [ -z "$partial" ] && [ "$synced" = yes ]; then
	ok trust_failed_copies_never_reach_bucket
else
	fail trust_failed_copies_never_reach_bucket "$nfail of 40 cp failed; $partial; sync: $synced"
fi
echo "    $nfail of 40 cp failed with ENOSPC while the sink was stopped"
# rm clears the failure; a copy that fits (O_TRUNC) replaces it
rm "$M/web/f$(seq 40 | while read -r i; do grep -qx "f$i.bin" "$D/acked" || { echo "$i"; break; }; done).bin" 2>/dev/null && rmok=yes || rmok=no
head -c 100000 /dev/urandom > "$D/new.csv"
cp "$D/new.csv" "$M/web/report.csv"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
if [ "$rmok" = yes ] && is_state "$M/web/report.csv" delivered &&
   ! getfattr -n user.flowfs.error "$M/web/report.csv" >/dev/null 2>&1 &&
   s3get enospc/web/report.csv | cmp -s - "$D/new.csv"; then
	ok trust_rewrite_or_rm_clears_failure
else
	fail trust_rewrite_or_rm_clears_failure "rm: $rmok; state $(state "$M/web/report.csv")"
fi
fs_umount "$M"
umount -l "$D/spool"
