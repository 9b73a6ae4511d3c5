# Bad configs are refused before mounting: stderr names file, line, section
# and key; the exit status is non-zero; nothing is mounted.
. tests/e2e/lib.sh
need_fuse t_config

bad() {	# NAME EXPECTED-REGEX  (config on stdin)
	local name=$1 want=$2 err rc
	D=$TESTS_TMP/$name
	mkdir -p "$D/mnt"
	cat > "$D/c.ini"
	err=$("$FLOWFS" "$D/c.ini" "$D/mnt" 2>&1)
	rc=$?
	if [ $rc = 0 ]; then
		fusermount3 -uz "$D/mnt" 2>/dev/null
		fail "config_$name" "exit status 0"
	elif mountpoint -q "$D/mnt"; then
		fusermount3 -uz "$D/mnt"
		fail "config_$name" "mounted anyway"
	elif ! grep -qE "^flowfs: $D/c.ini:$want" <<<"$err"; then
		fail "config_$name" "stderr '$err' does not match '$D/c.ini:$want'"
	else
		ok "config_$name"
	fi
}

bad unknown_key '5: \[flow\.w\] colour: unknown key' <<EOF
[sink.a]
type = dir
path = /tmp
[flow.w]
colour = red
sinks = a
EOF
bad unknown_section '1: \[bogus\]: unknown section' <<EOF
[bogus]
x = 1
EOF
bad bad_size '2: \[flowfs\] spool_max: bad size .12Q.' <<EOF
[flowfs]
spool_max = 12Q
EOF
bad bad_duration '2: \[flowfs\] retain: bad duration .5y.' <<EOF
[flowfs]
retain = 5y
EOF
bad missing_sink "5: \[flow\.w\] sinks: no sink named 'nosuch'" <<EOF
[sink.a]
type = dir
path = /tmp
[flow.w]
sinks = a, nosuch
EOF
bad unknown_type "2: \[sink\.a\] type: unknown sink type 'ftp'" <<EOF
[sink.a]
type = ftp
EOF
bad missing_required '1: \[sink\.a\] path: missing required key' <<EOF
[sink.a]
type = dir
EOF
bad bad_flow_name "1: \[flow\.Web!\]: bad name" <<EOF
[flow.Web!]
sinks = a
EOF
bad syntax '2: syntax error' <<EOF
[flowfs]
this is not ini
EOF
bad duplicate_key '3: \[flowfs\] workers: duplicate key' <<EOF
[flowfs]
workers = 2
workers = 3
EOF
bad out_of_range "2: \[flowfs\] workers: '0' is out of range" <<EOF
[flowfs]
workers = 0
EOF
bad bad_template "6: \[flow\.w\] uploads: template gives an invalid key" <<EOF
[sink.a]
type = dir
path = /tmp
[flow.w]
sinks = a
uploads = ../<PATH>
EOF
bad missing_sink_dir '1: \[sink\.a\] path' <<EOF
[sink.a]
type = dir
path = /nonexistent/flowfs/sink
[flow.w]
sinks = a
EOF

D=$TESTS_TMP/missing_file
mkdir -p "$D/mnt"
err=$("$FLOWFS" "$D/nope.ini" "$D/mnt" 2>&1)
if [ $? != 0 ] && grep -q "^flowfs: $D/nope.ini: cannot read: No such file or directory" <<<"$err" &&
   ! mountpoint -q "$D/mnt"; then
	ok config_missing_file
else
	fail config_missing_file "got: $err"
fi
