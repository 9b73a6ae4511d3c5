# Hostile input through a real mount with a dir sink: names at and past
# NAME_MAX, invalid UTF-8, newlines, '..'-looking values in template tokens,
# NUL and binary bytes in a stream, a 5 GiB sparse file, 10,000 files in one
# directory.  After every case: the daemon is alive, its log has no
# sanitizer report, and no file exists outside the sink, spool and mount.
. tests/e2e/lib.sh
need_fuse t_hostile

unpack() {	# DIR: every chunk under DIR, in name order, decompressed
	find "$1" -type f -name '*.log*' | sort | while read -r f; do
		case $f in *.gz) zcat "$f" ;; *.xz) xzcat "$f" ;; *) cat "$f" ;; esac
	done
}

# outside: files under the test root that are not in a case's out/, spool/
# or mnt/ and are none of its own files (log, flowfs.ini, src/).
outside() {
	find "$TESTS_TMP" -mindepth 1 \
		\( -path "$TESTS_TMP/*/out" -o -path "$TESTS_TMP/*/spool" -o -path "$TESTS_TMP/*/mnt" \
		   -o -path "$TESTS_TMP/*/src" \) -prune -o \
		! -path "$TESTS_TMP/*/log" ! -path "$TESTS_TMP/*/flowfs.ini" ! -path "$TESTS_TMP/*/*.err" \
		\( -path "$TESTS_TMP/*/*" -o ! -type d \) -print
}

# sane NAME: the daemon lives, no sanitizer report, nothing outside the sink.
sane() {
	local pid=${FS_PID[$D/mnt]:-} stray
	stray=$(outside | head -n 3)
	if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
		fail "$1_daemon_alive" "the daemon died"
	elif grep -qE 'Sanitizer|runtime error:|SUMMARY:' "$D/log"; then
		fail "$1_no_sanitizer_report" "$(grep -m1 -E 'Sanitizer|runtime error:' "$D/log")"
	elif [ -n "$stray" ]; then
		fail "$1_nothing_outside" "$stray"
	else
		ok "$1_daemon_alive_nothing_outside"
	fi
}

errno_of() { sed -n 's/.*: \([^:]*\)$/\1/p' "$1" | tail -n 1; }

# --- names: 255 bytes ok, 256 ENAMETOOLONG, invalid UTF-8, newline
new_case names
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail names_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
n255=$(printf 'a%.0s' $(seq 255))
n256=${n255}b
echo 255 > "$M/web/$n255"
rc=$?
wait_for 20 is_state "$M/web/$n255" delivered
if [ $rc = 0 ] && [ "$(cat "$O/web/$n255" 2>/dev/null)" = 255 ]; then ok names_255_bytes_delivered; else fail names_255_bytes_delivered "write rc=$rc, state '$(state "$M/web/$n255")'"; fi
( : > "$M/web/$n256" ) 2>"$D/n256.err"
rc=$?
if [ $rc != 0 ] && grep -q 'File name too long' "$D/n256.err" && [ ! -e "$O/web/$n256" ]; then
	ok names_256_bytes_enametoolong
else
	fail names_256_bytes_enametoolong "rc=$rc, '$(cat "$D/n256.err")'"
fi
mkdir "$M/web/$n256" 2>"$D/n256d.err"
if grep -q 'File name too long' "$D/n256d.err"; then ok names_256_bytes_mkdir_enametoolong; else fail names_256_bytes_mkdir_enametoolong "'$(cat "$D/n256d.err")'"; fi
bad=$'bad\xff\xfe\xc0\xafutf8.txt'
printf 'latin1 \xe9\n' > "$M/web/$bad"
rc=$?
wait_for 20 is_state "$M/web/$bad" delivered
if [ $rc = 0 ] && [ "$(printf 'latin1 \xe9\n')" = "$(cat "$O/web/$bad" 2>/dev/null)" ] && ls "$M/web" | grep -q 'utf8'; then
	ok names_invalid_utf8_kept_byte_for_byte
else
	fail names_invalid_utf8_kept_byte_for_byte "rc=$rc, state '$(state "$M/web/$bad")', out: $(ls "$O/web" | grep utf8 | od -c | head -2)"
fi
# A control character or a backslash in a new name: EINVAL (the key could not
# carry it, and "new\nline" would share a key with "new_line"); nothing is
# created or delivered, and the look-alike name works.
bad_names=($'new\nline.txt' $'tab\tname' $'esc\x1b' $'del\x7f' 'back\slash' $'\x01')
refused=0
for n in "${bad_names[@]}"; do
	{ echo x > "$M/web/$n"; } 2>>"$D/nl.err" || refused=$((refused + 1))
	{ echo x >> "$M/web/$n"; } 2>>"$D/nl.err" || refused=$((refused + 1))
	mkdir "$M/web/$n" 2>>"$D/nl.err" || refused=$((refused + 1))
done
echo moved > "$M/web/.tmp-move"
# (python, not mv: mv words EINVAL from rename(2) as "a subdirectory of itself")
python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$M/web/.tmp-move" "$M/web/"$'mv\nto' \
	2>&1 | grep -q 'Errno 22' && { echo "rename: Invalid argument" >> "$D/nl.err"; refused=$((refused + 1)); }
echo newline > "$M/web/new_line.txt"
wait_for 20 is_state "$M/web/new_line.txt" delivered
einval=$(grep -c 'Invalid argument' "$D/nl.err")
want=$((${#bad_names[@]} * 3 + 1))
if [ $refused = $want ] && [ "$einval" = $want ] && [ "$(ls "$M/web" | grep -c -e line -e name -e esc -e del -e slash -e mv)" = 1 ] &&
   [ "$(cat "$O/web/new_line.txt" 2>/dev/null)" = newline ] && [ -z "$(find "$O" -name "*[[:cntrl:]]*" -o -name '*\\*')" ]; then
	ok names_control_chars_and_backslash_einval
else
	fail names_control_chars_and_backslash_einval "$refused of $want refused, $einval EINVAL: $(sort -u "$D/nl.err" | head -3); listed: $(ls "$M/web" | tr '\n' ' ')"
fi
sane names
fs_umount "$M"

# --- '..'-looking and '/'-carrying values in template tokens: <PATH> at the
# top of the key, odd directory names, a prefix without '/', odd flow names.
FLOW_EXTRA="uploads = <PATH>
filename = <STREAM>/<FLOW>.<PART>.log" new_case tokens
sed -i 's|^path = .*/out$|&\nprefix = p|' "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail tokens_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
# Visible names whose segments look like '..' once made "safe" (or are the
# overlong UTF-8 of '..'); and hidden ones (a segment starting with '.'),
# which flowfs holds (rsync's temporary files; shown as "staging") and must
# never deliver.
shown=(' ..' 'a..b..' ' ../ ../ ..' 'x..' '%2e%2e/%2f' 'x ..' $'\xc0\xae\xc0\xae')
hidden=('...' '.../....' '..%2f..%2fx' 'ok/.. /x')
i=0
for n in "${shown[@]}" "${hidden[@]}"; do
	i=$((i + 1))
	mkdir -p "$M/web/$n" && echo "token $i" > "$M/web/$n/f$i" || echo "could not write $n" >&2
done
echo "stream1" >> "$M/web/ ..log"
echo "stream2" >> "$M/web/x..log"
echo "held" >> "$M/web/...log"
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
wait_for 10 is_state "$M/web/x../f4" delivered
got=$(grep -rh '^token ' "$O" 2>/dev/null | sort -u | tr '\n' ,)
want=$(for i in $(seq ${#shown[@]}); do echo "token $i"; done | sort | tr '\n' ,)
if [ "$got" = "$want" ] && [ -z "$(find "$O" -mindepth 1 -maxdepth 1 ! -name 'p*')" ]; then
	ok tokens_dotdot_like_values_stay_under_prefix
else
	fail tokens_dotdot_like_values_stay_under_prefix "delivered '$got', want '$want'; out has: $(find "$O" -mindepth 1 -maxdepth 2 | head -5)"
fi
h1="$M/web/.../f$((${#shown[@]} + 1))" h2="$M/web/ok/.. /x/f$i"
sleep 1
if is_state "$h1" staging && is_state "$h2" staging; then
	ok tokens_hidden_segments_held
else
	fail tokens_hidden_segments_held "states '$(state "$h1")' '$(state "$h2")'"
fi
if [ "$(unpack "$O" | sort | tr '\n' ' ')" = "stream1 stream2 " ]; then ok tokens_odd_stream_names_delivered; else fail tokens_odd_stream_names_delivered "$(find "$O" -name '*.log*')"; fi
bad=0
for f in '..x' 'Web' 'a\b' $'a\nb' "$(printf 'x%.0s' $(seq 49))"; do
	mkdir "$M/$f" 2>/dev/null && bad=$((bad + 1))
done
if [ $bad = 0 ]; then ok tokens_bad_flow_names_refused_by_mkdir; else fail tokens_bad_flow_names_refused_by_mkdir "$bad odd flow names accepted"; fi
sane tokens
fs_umount "$M"

# --- NUL and binary bytes appended to a stream: delivered byte-identical,
# every chunk ends at a line's end.
FLOW_EXTRA="maxlines = 50
compress = gz" new_case binary
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail binary_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
mkdir -p "$D/src"
for i in $(seq 300); do
	if ((i % 3)); then
		printf 'line %d \0 nul \x01\x02\xff\xfe\x7f\r\t\x1b[0m end\n' "$i"
	else
		{ head -c $((i % 97 + 1)) /dev/urandom | tr -d '\n'; echo; }
	fi > "$D/src/line"
	cat "$D/src/line" >> "$D/src/all"
	cat "$D/src/line" >> "$M/web/bin.log" || break
done
"$FLOWCTL" sync "$M" --timeout 30 >/dev/null 2>&1
if unpack "$O/web" | cmp -s - "$D/src/all"; then ok binary_nul_bytes_stream_identical; else fail binary_nul_bytes_stream_identical "delivered $(unpack "$O/web" | wc -c) bytes, sent $(wc -c < "$D/src/all")"; fi
torn=0 chunks=0
while read -r f; do
	chunks=$((chunks + 1))
	[ "$(zcat "$f" | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ] || torn=$((torn + 1))
done < <(find "$O/web" -type f -name '*.log.gz')
if [ $chunks -ge 6 ] && [ $torn = 0 ]; then ok binary_chunks_end_at_line_ends; else fail binary_chunks_end_at_line_ends "$chunks chunks, $torn torn"; fi
sane binary
fs_umount "$M"

# --- a 5 GiB sparse file.  The spool charges a file's size, not its disk
# blocks, against spool_max: below 5 GiB, truncate and dd seek= get a clean
# ENOSPC; above it, the file is spooled sparse (ftruncate) and delivered
# whole (the dir sink writes every byte: 5 GiB of real disk in out/).
sparse_config() {	# SPOOL_MAX
	fs_config "$D/flowfs.ini" <<INI
[flowfs]
spool = $D/spool
spool_max = $1
part_size = 1G
log = stderr
log_level = info
retry_max = 2s
drain_timeout = 3s
[sink.out]
type = dir
path = $D/out
[flow.web]
sinks = out
INI
}
G5=$((5 << 30))
new_case sparse
sparse_config 4G
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail sparse_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
truncate -s 5G "$M/web/sparse" 2>"$D/trunc.err"
rc1=$?
dd if=/dev/zero of="$M/web/sparse2" bs=1 count=1 seek=$G5 status=none 2>"$D/dd.err"
rc2=$?
if [ $rc1 != 0 ] && grep -q 'No space left on device' "$D/trunc.err" &&
   [ $rc2 != 0 ] && grep -q 'No space left on device' "$D/dd.err"; then
	ok sparse_5g_over_spool_max_enospc
else
	fail sparse_5g_over_spool_max_enospc "truncate rc=$rc1 '$(cat "$D/trunc.err")', dd rc=$rc2 '$(cat "$D/dd.err")'"
fi
echo still > "$M/web/after" && wait_for 10 is_state "$M/web/after" delivered &&
	ok sparse_enospc_leaves_mount_usable || fail sparse_enospc_leaves_mount_usable "state '$(state "$M/web/after")'"
sane sparse_enospc
fs_umount "$M"

avail=$(df -Pk "$TESTS_TMP" | awk 'NR == 2 { print $4 }')
if [ "${avail:-0}" -lt $((12 << 20)) ]; then
	skip sparse_5g_delivered "less than 12 GiB free under $TESTS_TMP"
else
	sparse_config 6G
	rm -rf "$D/spool" "$D/out" && mkdir -p "$D/out"
	fs_mount "$D/flowfs.ini" "$D/mnt" || { fail sparse_mount_6g "no mount"; exit 0; }
	start=$SECONDS
	truncate -s 5G "$M/web/sparse"
	rc=$?
	spool_kb=$(du -sk "$D/spool" | cut -f1)
	wait_for 240 is_state "$M/web/sparse" delivered
	sum=$(getfattr --only-values -n user.flowfs.sha256 "$M/web/sparse" 2>/dev/null)
	zero5g=7f06c62352aebd8125b2a1841e2b9e1ffcbed602f381c3dcb3200200e383d1d5
	spool_kb2=$(du -sk "$D/spool" | cut -f1)
	size=$(stat -c %s "$O/web/sparse" 2>/dev/null)
	out_kb=$(du -sk "$O" | cut -f1)
	# a delivered file whose bytes are not zeros would differ in its first
	# or last GiB (cmp of all 5 GiB would add half a minute)
	if [ $rc = 0 ] && [ "$size" = $G5 ] && [ "$sum" = $zero5g ] &&
	   cmp -s -n $((1 << 30)) "$O/web/sparse" /dev/zero &&
	   [ "$(tail -c $((1 << 30)) "$O/web/sparse" | cmp -s - <(head -c $((1 << 30)) /dev/zero); echo $?)" = 0 ]; then
		ok "sparse_5g_delivered_identical (spool on disk: ${spool_kb} KiB spooled, ${spool_kb2} KiB delivered; sink ${out_kb} KiB, $((SECONDS - start)) s)"
	else
		fail sparse_5g_delivered_identical "rc=$rc size '$size' sha '$sum' state '$(state "$M/web/sparse")'"
	fi
	sane sparse_5g
	fs_umount "$M"
	rm -rf "$D/out" "$D/spool"
fi

# --- 10,000 files in one directory
new_case many
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail many_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
mkdir "$M/web/many"
werr=0
for i in $(seq 10000); do echo "file $i" > "$M/web/many/f$i" || werr=$((werr + 1)); done
listed=$(ls "$M/web/many" | wc -l)
if [ $werr = 0 ] && [ "$listed" = 10000 ]; then ok many_10000_files_listed; else fail many_10000_files_listed "$werr writes failed, ls lists $listed"; fi
"$FLOWCTL" sync "$M" --timeout 180 >/dev/null 2>&1
wait_eq 60 10000 "find '$O/web/many' -type f | wc -l"
got=$(find "$O/web/many" -type f | wc -l)
if [ "$got" = 10000 ] && [ "$(cat "$O/web/many/f1" "$O/web/many/f5000" "$O/web/many/f10000" 2>/dev/null | tr '\n' ,)" = "file 1,file 5000,file 10000," ]; then
	ok many_10000_files_delivered
else
	fail many_10000_files_delivered "$got delivered"
fi
sane many
fs_umount "$M"

# --- a key longer than 4 KiB: a long sink prefix (iniparser reads lines of
# at most 1 KiB) plus a deep path.  The delivery fails for good, saying
# "File name too long" (it used to say only "gives no valid key").
new_case longkey
seg=$(printf 'p%.0s' $(seq 240))
sed -i "s|^path = .*/out\$|&\nprefix = $seg/$seg/$seg/$seg/|" "$D/flowfs.ini"
fs_mount "$D/flowfs.ini" "$D/mnt" || { fail longkey_mount "no mount"; exit 0; }
M=$D/mnt O=$D/out
deep=$M/web
for i in $(seq 17); do deep=$deep/$(printf "d$i%.0s" $(seq 80)); done
mkdir -p "$deep" && echo x > "$deep/f"
rc=$?
wait_for 10 is_state "$deep/f" failed
if [ $rc = 0 ] && is_state "$deep/f" failed && grep -q 'File name too long' "$D/log" &&
   [ -z "$(find "$O" -type f)" ]; then
	ok longkey_delivery_fails_enametoolong
else
	fail longkey_delivery_fails_enametoolong "rc=$rc, state '$(state "$deep/f")'"
fi
sane longkey
fs_umount "$M"
