# Uploads: cp into a flow delivers byte-identical files through the spool
# to the dir sink; the writers users have; visible state; virtual files.
. tests/e2e/lib.sh
need_fuse t_upload

new_case upload
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail upload_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out

# --- cp of several sizes, nested dirs, cp -r
head -c 0 /dev/zero > "$D/empty"
head -c 1 /dev/urandom > "$D/one"
head -c $((64 * 1024 + 1)) /dev/urandom > "$D/partplus1"
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom > "$D/big"
mkdir -p "$D/tree/a/b/c"
for i in $(seq 200); do head -c $((i * 37)) /dev/urandom > "$D/tree/a/$((i % 3 == 0 ? 0 : 1))f$i"; done
for i in $(seq 20); do echo "deep $i" > "$D/tree/a/b/c/d$i.txt"; done
cp "$D/empty" "$D/one" "$D/partplus1" "$D/big" "$M/web/" &&
	mkdir -p "$M/web/x/y" && cp "$D/one" "$M/web/x/y/" && cp -r "$D/tree" "$M/web/"
rc=$?
wait_for 30 is_state "$M/web/big" delivered
if [ $rc = 0 ] && same "$D/empty" "$O/web/empty" && same "$D/one" "$O/web/one" &&
   same "$D/partplus1" "$O/web/partplus1" && same "$D/big" "$O/web/big" &&
   same "$D/one" "$O/web/x/y/one"; then
	ok upload_sizes_identical
else
	fail upload_sizes_identical "cp rc=$rc or delivered bytes differ"
fi
wait_eq 30 220 "find '$O/web/tree' -type f | wc -l"
if diff -r "$D/tree" "$O/web/tree" >/dev/null; then ok upload_cp_r_tree; else fail upload_cp_r_tree "trees differ: $(diff -rq "$D/tree" "$O/web/tree" | head -3)"; fi

# --- xattrs: state and sha256
sum=$(sha256sum < "$D/big" | cut -d' ' -f1)
got=$(getfattr --only-values -n user.flowfs.sha256 "$M/web/big" 2>/dev/null)
if [ "$got" = "$sum" ] && is_state "$M/web/big" delivered; then ok upload_xattr_sha256_state; else fail upload_xattr_sha256_state "sha '$got' want '$sum', state '$(state "$M/web/big")'"; fi

# --- staging while open, metadata set before close travels
exec 3>"$M/web/meta.txt"
echo "with metadata" >&3
s1=$(state "$M/web/meta.txt")
setfattr -n user.meta.owner -v alice "$M/web/meta.txt"
exec 3>&-
wait_for 10 is_state "$M/web/meta.txt" delivered
mv_meta=$(getfattr --only-values -n user.meta.owner "$O/web/meta.txt" 2>/dev/null)
if [ "$s1" = staging ] && [ "$mv_meta" = alice ]; then ok upload_staging_and_meta; else fail upload_staging_and_meta "state while open '$s1', meta on delivered file '$mv_meta'"; fi

# --- random writes before close
python3 - "$M/web/rnd" <<'PY' 2>/dev/null || perl -e 'open(F,"+>",$ARGV[0]); seek(F,5,0); print F "world"; seek(F,0,0); print F "hello"; close F' "$M/web/rnd"
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"world", 5); os.pwrite(fd, b"hello", 0); os.close(fd)
PY
wait_for 10 is_state "$M/web/rnd" delivered
if [ "$(cat "$O/web/rnd" 2>/dev/null)" = helloworld ]; then ok upload_random_writes; else fail upload_random_writes "got '$(cat "$O/web/rnd" 2>/dev/null)'"; fi

# --- hidden names wait for a rename; rsync delivers final names only
echo secret > "$M/web/.hidden"
echo marker > "$M/web/marker1"
wait_for 10 is_state "$M/web/marker1" delivered
[ -e "$O/web/.hidden" ] && h1=delivered || h1=held
mv "$M/web/.hidden" "$M/web/visible"
wait_for 10 is_state "$M/web/visible" delivered
if [ $h1 = held ] && [ "$(cat "$O/web/visible" 2>/dev/null)" = secret ] && [ ! -e "$O/web/.hidden" ]; then ok upload_hidden_until_rename; else fail upload_hidden_until_rename "hidden was $h1; visible='$(cat "$O/web/visible" 2>/dev/null)'"; fi

# a hidden directory built up and then renamed into place (a staging dir)
mkdir -p "$M/web/.stage/deep"
echo one > "$M/web/.stage/a"
echo two > "$M/web/.stage/deep/b"
echo marker > "$M/web/marker2"
wait_for 10 is_state "$M/web/marker2" delivered
[ -e "$O/web/.stage/a" ] && h2=delivered || h2=held
mv "$M/web/.stage" "$M/web/stage"
wait_for 10 is_state "$M/web/stage/deep/b" delivered
if [ $h2 = held ] && [ "$(cat "$O/web/stage/a" "$O/web/stage/deep/b" 2>/dev/null)" = "one
two" ]; then ok upload_hidden_dir_until_rename; else fail upload_hidden_dir_until_rename "before: $h2; after: $(ls -R "$O/web/stage" 2>&1 | tr '\n' ' ')"; fi

mkdir -p "$D/rs/sub" && for i in $(seq 30); do echo "r$i" > "$D/rs/sub/r$i"; done
rsync -a "$D/rs/" "$M/web/rs/"
wait_eq 20 30 "find '$O/web/rs' -type f | wc -l"
if diff -r "$D/rs" "$O/web/rs" >/dev/null && ! find "$O/web" -name '.*' | grep -q .; then ok upload_rsync; else fail upload_rsync "$(diff -rq "$D/rs" "$O/web/rs" 2>&1 | head -3; find "$O/web" -name '.*' | head -3)"; fi

# --- mv before delivery changes the key (the file is open while renamed)
exec 3>"$M/web/before.txt"
echo moved >&3
mv "$M/web/before.txt" "$M/web/after.txt"
exec 3>&-
wait_for 10 is_state "$M/web/after.txt" delivered
if [ "$(cat "$O/web/after.txt" 2>/dev/null)" = moved ] && [ ! -e "$O/web/before.txt" ]; then ok upload_mv_changes_key; else fail upload_mv_changes_key "after.txt missing or before.txt delivered"; fi

# --- unlink before delivery cancels
exec 3>"$M/web/gone.txt"
echo never >&3
rm "$M/web/gone.txt"
exec 3>&-
echo marker > "$M/web/marker2"
wait_for 10 is_state "$M/web/marker2" delivered
if [ ! -e "$O/web/gone.txt" ] && [ ! -e "$M/web/gone.txt" ]; then ok upload_unlink_cancels; else fail upload_unlink_cancels "gone.txt was delivered or still listed"; fi

# --- cp -p, chmod, chown, touch, truncate, fsync, df
touch -d '2020-01-02 03:04:05' "$D/old" && chmod 640 "$D/old"
cp -p "$D/old" "$M/web/old"
m=$(stat -c '%a %Y' "$M/web/old")
want=$(stat -c '%a %Y' "$D/old")
exec 3>"$M/web/attrs"
echo data >&3
chmod 600 "$M/web/attrs" && chown 1:1 "$M/web/attrs" && touch -d '2021-05-06' "$M/web/attrs" &&
	truncate -s 2 "$M/web/attrs"
arc=$?
exec 3>&-
dd if=/dev/urandom of="$M/web/synced" bs=4k count=4 conv=fsync status=none
frc=$?
dfo=$(df -k "$M" | tail -1)
# st_blksize: cp and cat size their buffers by it (1 MiB writes, 8x fewer
# round trips than their default 128 KiB)
blk=$(stat -c %o "$M/web/old")
if [ "$m" = "$want" ] && [ $arc = 0 ] && [ $frc = 0 ] && [ "$(stat -c '%a %u %s' "$M/web/attrs")" = "600 1 2" ] && [ -n "$dfo" ] &&
	[ "$blk" -ge 1048576 ]; then
	ok upload_attrs_fsync_df
else
	fail upload_attrs_fsync_df "cp -p '$m' vs '$want', attr rc $arc, fsync rc $frc, attrs '$(stat -c '%a %u %s' "$M/web/attrs")', st_blksize $blk"
fi

# --- virtual files
if jq -e '.objects.delivered.count > 0 and .sinks.out.delivered.count > 0 and (.sinks.out | has("last_error") and has("next_retry") and has("last_success"))' "$M/web/.status" >/dev/null &&
   jq -e '.id and .name == "web" and .deleted == null and (.sinks[0].name == "out") and (.transforms | type == "array")' "$M/web/.flow" >/dev/null &&
   jq -e '.flows.web and .spool.max > 0 and .objects.queued' "$M/.status" >/dev/null; then
	ok upload_virtual_files_json
else
	fail upload_virtual_files_json "$(head -c 300 "$M/web/.status")"
fi
if ! (echo x > "$M/web/.status") 2>/dev/null && ! (echo x > "$M/.status") 2>/dev/null; then ok upload_virtual_files_readonly; else fail upload_virtual_files_readonly "write succeeded"; fi

# --- flows: mkdir persists, rmdir, bad names
id1=
mkdir "$M/newflow" && id1=$(jq -r .id "$M/newflow/.flow")
bad=0
for n in Upper a.b "sp ace" $(printf 'x%.0s' $(seq 49)); do
	mkdir "$M/$n" 2>"$D/err" && bad=1
	grep -q "Invalid argument" "$D/err" || bad=1
done
if [ -n "${id1:-}" ] && [ $bad = 0 ] && ! rmdir "$M/web" 2>/dev/null; then ok flow_mkdir_names; else fail flow_mkdir_names "id '$id1' bad=$bad"; fi

# --- bad names, files at the root: errors, never a crash
long=$(printf 'n%.0s' $(seq 256))
{ : > "$M/web/$long"; } 2>/dev/null && r1=created || r1=refused
{ : > "$M/web/.flow"; } 2>/dev/null && r2=created || r2=refused
{ : > "$M/rootfile"; } 2>/dev/null && r3=created || r3=refused
if [ $r1$r2$r3 = refusedrefusedrefused ] && kill -0 "${FS_PID[$M]}"; then ok upload_bad_names_refused; else fail upload_bad_names_refused "$r1 $r2 $r3"; fi

fs_umount "$M"
rc=$?
fs_mount "$D/flowfs.ini" "$M"
id2=$(jq -r .id "$M/newflow/.flow" 2>/dev/null)
rmdir "$M/newflow" && [ ! -e "$M/newflow" ] && rrc=0 || rrc=1
if [ $rc = 0 ] && [ "$id1" = "$id2" ] && [ $rrc = 0 ]; then ok flow_persists_and_rmdir; else fail flow_persists_and_rmdir "umount rc $rc, id '$id1' vs '$id2', rmdir $rrc"; fi
if log_clean; then ok upload_log_clean; else fail upload_log_clean "errors in the daemon log"; fi
fs_umount "$M"

# --- retain: delivered files leave the listing
FLOW_EXTRA="retain = 2s" new_case retain
fs_mount "$D/flowfs.ini" "$D/mnt"
echo r > "$D/mnt/web/short"
wait_for 10 is_state "$D/mnt/web/short" delivered
seen=$(ls "$D/mnt/web")
if wait_for 10 sh -c "! ls '$D/mnt/web' | grep -q short" && [ -e "$D/out/web/short" ] && grep -q short <<<"$seen"; then ok upload_retain; else fail upload_retain "still listed after retain"; fi
fs_umount "$D/mnt"

# --- templates and prefixes
FLOW_EXTRA="uploads = custom/<FLOW>/%Y/<PATH>" new_case template
sed -i 's|^path = \(.*\)/out$|path = \1/out\nprefix = pre/|' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt"
mkdir "$D/mnt/web/d" && echo t > "$D/mnt/web/d/t.txt"
wait_for 10 is_state "$D/mnt/web/d/t.txt" delivered
if [ -f "$D/out/pre/custom/web/$(date -u +%Y)/d/t.txt" ]; then ok upload_template_prefix; else fail upload_template_prefix "$(find "$D/out" -type f)"; fi
fs_umount "$D/mnt"

# --- upload_compress: uploads delivered gzipped under KEY.gz
FLOW_EXTRA="upload_compress = gz" new_case upload_gz
fs_mount "$D/flowfs.ini" "$D/mnt"
seq 1 5000 > "$D/nums"
cp "$D/nums" "$D/mnt/web/nums.txt"
wait_for 10 is_state "$D/mnt/web/nums.txt" delivered
if zcat "$D/out/web/nums.txt.gz" 2>/dev/null | cmp -s - "$D/nums"; then ok upload_compress_gz; else fail upload_compress_gz "$(find "$D/out" -type f)"; fi
fs_umount "$D/mnt"
