# Security: flow permissions enforced by the kernel for other users, secrets
# that never leak (a canary secret looked for everywhere a user can look),
# TLS always verified (a private CA is trusted only through ca_file) and
# credentials files that others may read refused at mount.
. tests/e2e/lib.sh
need_fuse t_security
chmod 755 "$TESTS_TMP"	# mktemp -d gives 0700: other users must reach the mounts

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
HAVE_NOBODY=yes
if ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null ||
   [ "$(id -u)" != 0 ]; then
	HAVE_NOBODY=
fi
perm_of() { stat -c '%a %U %G' "$1"; }

# ---------------------------------------------------------------- flow permissions
if [ -z "$HAVE_NOBODY" ]; then
	skip perm "needs root, setpriv and the user nobody / group nogroup"
else
	FLOW_EXTRA="mode = 0750" new_case perm
	cat >> "$D/flowfs.ini" <<INI
[flow.open]
sinks = out
mode = 0777
[flow.mine]
sinks = out
mode = 0700
owner = nobody
group = nogroup
INI
	echo "from nobody" > "$D/src.txt"
	chmod 644 "$D/src.txt"
	if fs_mount "$D/flowfs.ini" "$D/mnt" -o allow_other,default_permissions; then
		M=$D/mnt
		mkdir "$M/web/sub" "$M/open/sub"
		got="$(perm_of "$M") / $(perm_of "$M/web") / $(perm_of "$M/web/sub") / $(perm_of "$M/open") / $(perm_of "$M/mine")"
		want="755 root root / 750 root root / 750 root root / 777 root root / 700 nobody nogroup"
		[ "$got" = "$want" ] && ok perm_getattr_reports_flow_keys || fail perm_getattr_reports_flow_keys "got '$got', want '$want'"

		ls_root=$(as_nobody ls "$M" 2>&1) && ls_web=$(as_nobody ls "$M/web" 2>&1)
		rc_ls=$?
		cp_web=$(as_nobody cp "$D/src.txt" "$M/web/denied.txt" 2>&1)
		rc_cp=$?
		cp_sub=$(as_nobody cp "$D/src.txt" "$M/web/sub/denied.txt" 2>&1)
		rc_sub=$?
		if grep -qx web <<<"$ls_root" && [ $rc_ls != 0 ] && grep -q 'Permission denied' <<<"$ls_web" &&
		   [ $rc_cp != 0 ] && grep -q 'Permission denied' <<<"$cp_web" &&
		   [ $rc_sub != 0 ] && grep -q 'Permission denied' <<<"$cp_sub" && [ ! -e "$M/web/denied.txt" ]; then
			ok perm_0750_denies_others
		else
			fail perm_0750_denies_others "ls / '$ls_root'; ls web ($rc_ls) '$ls_web'; cp ($rc_cp) '$cp_web'; cp sub ($rc_sub) '$cp_sub'"
		fi

		as_nobody cp "$D/src.txt" "$M/open/n.txt" && as_nobody mkdir "$M/open/sub/deep" &&
			as_nobody cp "$D/src.txt" "$M/open/sub/deep/d.txt" && as_nobody cp "$D/src.txt" "$M/mine/m.txt"
		rc=$?
		"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
		if [ $rc = 0 ] && same "$D/out/open/n.txt" "$D/src.txt" && same "$D/out/open/sub/deep/d.txt" "$D/src.txt" &&
		   same "$D/out/mine/m.txt" "$D/src.txt" && [ "$(stat -c %U "$M/open/n.txt")" = nobody ] &&
		   [ "$(perm_of "$M/open/sub/deep")" = "777 root root" ]; then
			ok perm_0777_and_owner_let_others_deliver
		else
			fail perm_0777_and_owner_let_others_deliver "rc $rc; out: $(cd "$D/out" && find . -type f | tr '\n' ' ')"
		fi

		mk=$(as_nobody mkdir "$M/newflow" 2>&1)
		rc=$?
		chm=$(as_nobody chmod 777 "$M/web" 2>&1)
		rc2=$?
		if [ $rc != 0 ] && grep -q 'Permission denied' <<<"$mk" && [ ! -e "$M/newflow" ] &&
		   [ $rc2 != 0 ] && [ "$(perm_of "$M/web")" = "750 root root" ]; then
			ok perm_root_stays_0755
		else
			fail perm_root_stays_0755 "mkdir ($rc) '$mk'; chmod ($rc2) '$chm'; web now $(perm_of "$M/web")"
		fi
		fs_umount "$D/mnt" || fail perm_umount "daemon exit status $?"
	else
		fail perm_mount "did not mount"
	fi

	# without allow_other FUSE keeps every other user out, whatever the modes
	FLOW_EXTRA="mode = 0777" new_case noallow
	if fs_mount "$D/flowfs.ini" "$D/mnt"; then
		out=$(as_nobody ls "$D/mnt" 2>&1)
		rc=$?
		out2=$(as_nobody ls "$D/mnt/web" 2>&1)
		rc2=$?
		if [ $rc != 0 ] && grep -q 'Permission denied' <<<"$out" && [ $rc2 != 0 ] && ls "$D/mnt/web" >/dev/null; then
			ok perm_without_allow_other_others_denied
		else
			fail perm_without_allow_other_others_denied "ls MNT ($rc) '$out'; ls MNT/web ($rc2) '$out2'"
		fi
		fs_umount "$D/mnt"
	else
		fail perm_without_allow_other_others_denied "did not mount"
	fi
fi

# A bad owner, group or mode refuses the mount with file, line, section, key.
bad_perm() {	# NAME SECTION-LINE WANT-TEXT
	local name=$1 line=$2 want=$3 err n
	if [ "${4:-}" = global ]; then GLOBAL_EXTRA=$line FLOW_EXTRA= new_case "$name"
	else FLOW_EXTRA=$line GLOBAL_EXTRA= new_case "$name"; fi
	n=$(grep -nxF "$line" "$D/flowfs.ini" | cut -d: -f1)
	err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
	if [ $? != 0 ] && grep -qF "$D/flowfs.ini:$n: $want" <<<"$err" && ! mountpoint -q "$D/mnt"; then
		ok "$name"
	else
		fail "$name" "want '$D/flowfs.ini:$n: $want', got '$err'"
	fi
}
bad_perm perm_unknown_owner_refused "owner = no-such-user-x1" "[flow.web] owner: unknown user 'no-such-user-x1'"
bad_perm perm_unknown_group_refused "group = no-such-group-x1" "[flow.web] group: unknown group 'no-such-group-x1'"
bad_perm perm_bad_mode_refused "mode = 0789" "[flow.web] mode: bad mode '0789'"
bad_perm perm_unknown_owner_in_flowfs_refused "owner = no-such-user-x2" "[flowfs] owner: unknown user 'no-such-user-x2'" global
FLOW_EXTRA=$'owner = 65534\ngroup = 65534\nmode = 711' GLOBAL_EXTRA= new_case perm_numeric
if fs_mount "$D/flowfs.ini" "$D/mnt"; then
	[ "$(stat -c '%a %u %g' "$D/mnt/web")" = "711 65534 65534" ] && ok perm_numeric_ids ||
		fail perm_numeric_ids "$(stat -c '%a %u %g' "$D/mnt/web")"
	fs_umount "$D/mnt"
else
	fail perm_numeric_ids "did not mount"
fi
FLOW_EXTRA=
GLOBAL_EXTRA=

# ---------------------------------------------------------------- servers
if ! command -v node >/dev/null || ! command -v openssl >/dev/null; then
	skip t_security_servers "node or openssl is missing"
	exit 0
fi
PORT=$(free_ports 4)
GPORT=$((PORT + 1))	# checkserver that knows the canary: deliveries succeed
BPORT=$((PORT + 2))	# checkserver that expects another secret: 403s
TPORT=$((PORT + 3))	# tlsproxy in front of s3rver
PIDS=()
stop_servers() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=()
	return 0
}
trap 'fs_cleanup; stop_servers; s3_stop' EXIT
start_server() {	# LOG WORD CMD...: starts CMD, waits for WORD in LOG
	local log=$1 word=$2
	shift 2
	"$@" >>"$log" 2>&1 &
	PIDS+=($!)
	[ "$word" = - ] || wait_for 15 grep -q "$word" "$log"
}

sec_case() {	# NAME SECRET: a case whose sinks sign with SECRET from a 0600 file
	new_case "$1"
	s3_cred "$2"
	sed -i 's/^part_size = 64K$/part_size = 5M/' "$D/flowfs.ini"
}

# ---------------------------------------------------------------- canary
CANARY=CANARY-$(openssl rand -hex 12)
: > "$TESTS_TMP/good.log"; : > "$TESTS_TMP/bad.log"
if start_server "$TESTS_TMP/good.log" "listening $GPORT" env CHECK_SECRET="$CANARY" node tests/e2e/checkserver.js $GPORT env &&
   start_server "$TESTS_TMP/bad.log" "listening $BPORT" node tests/e2e/checkserver.js $BPORT S3RVER; then
	sec_case canary "$CANARY"
	sed -i 's/^sinks = out$/sinks = good, bad/' "$D/flowfs.ini"
	s3_sink good "http://127.0.0.1:$GPORT" good/
	s3_sink bad "http://127.0.0.1:$BPORT" bad/
	if fs_mount "$D/flowfs.ini" "$D/mnt"; then
		M=$D/mnt
		pid=${FS_PID[$M]}
		echo small > "$M/web/a.txt"
		head -c 100000 /dev/urandom > "$D/b.bin"; cp "$D/b.bin" "$M/web/b.bin"
		head -c $((6 * 1024 * 1024)) /dev/urandom > "$D/big"; cp "$D/big" "$M/web/big"	# multipart
		for i in $(seq 20); do echo "line $i" >> "$M/web/app.log"; done
		exec 3>"$M/web/meta.txt"; echo m >&3; setfattr -n user.meta.k -v v "$M/web/meta.txt"; exec 3>&-
		wait_for 30 is_state "$M/web/big" failed
		A=$D/seen
		{
			cat "$D/log"
			cat "$M/.status" "$M/web/.status" "$M/web/.flow"
			getfattr -d -m - "$M/web/a.txt" "$M/web/big"
			for args in "sync $M --timeout 5" "status $M" "rotate $M" "rotate $M web" "retry $M" \
				    "retry $M web" "--help" "--version" "bogus $M" "status"; do
				# shellcheck disable=SC2086
				"$FLOWCTL" $args 2>&1
			done
			"$FLOWFS" --help 2>&1; "$FLOWFS" --config-keys 2>&1
			ps -eo args
			tr '\0' '\n' < "/proc/$pid/cmdline"
			tr '\0' '\n' < "/proc/$pid/environ"
			for t in /proc/"$pid"/task/*; do cat "$t/comm"; done
		} > "$A" 2>&1
		sleep 3	# let the retries from flowctl retry fail again, then look at the log once more
		cat "$D/log" "$M/web/.status" >> "$A"
		delivered=$(curl -s "http://127.0.0.1:$GPORT/bkt/good/web/b.bin" | cmp -s - "$D/b.bin" &&
			    curl -s "http://127.0.0.1:$GPORT/bkt/good/web/big" | cmp -s - "$D/big" && echo yes)
		failed=$(jq -r '.sinks.bad.last_error' "$M/web/.status")
		if grep -q "$CANARY" "$A"; then
			fail canary_never_leaks "found in: $(grep -n "$CANARY" "$A" | cut -c1-200 | head -3)"
		elif [ "$delivered" != yes ] || ! grep -q 403 <<<"$failed"; then
			fail canary_never_leaks "delivered to good: '$delivered'; bad's last error '$failed'"
		elif ! grep -q 'debug \[' "$A" || ! grep -q '"last_success"' "$A" || ! grep -q '^usage: flowctl' "$A" ||
		     ! grep -q "flowfs $D/flowfs.ini $M" "$A" || ! grep -q '^PATH=' "$A"; then
			fail canary_never_leaks "the places searched were not all collected (debug log, .status, flowctl, ps, environ)"
		else
			ok canary_never_leaks
		fi
		fs_umount "$M"
		# the log after unmount, and the spool database, hold no secret either
		if grep -q "$CANARY" "$D/log" || sqlite3 "$D/spool/flowfs.db" .dump 2>/dev/null | grep -q "$CANARY"; then
			fail canary_not_in_spool_or_final_log "found"
		else
			ok canary_not_in_spool_or_final_log
		fi
	else
		fail canary_never_leaks "did not mount"
	fi
	[ "$(grep -c ' 403' "$TESTS_TMP/bad.log")" -ge 1 ] && ok canary_failure_was_exercised ||
		fail canary_failure_was_exercised "the bad server saw no failing request"
else
	fail canary_servers "checkserver did not start: $(cat "$TESTS_TMP/good.log" "$TESTS_TMP/bad.log")"
fi
stop_servers

# ---------------------------------------------------------------- TLS
if [ ! -f "$S3RVER" ]; then
	skip tls "s3rver is not installed (npm ci --prefix tests)"
	exit 0
fi
P=$TESTS_TMP/pki
mkdir -p "$P"
if ! {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" -days 2 \
		-subj /CN=flowfs-test-ca -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign &&
	openssl req -newkey rsa:2048 -nodes -keyout "$P/srv.key" -out "$P/srv.csr" -subj /CN=127.0.0.1 &&
	printf 'subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n' > "$P/ext" &&
	openssl x509 -req -in "$P/srv.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial \
		-out "$P/srv.pem" -days 2 -extfile "$P/ext"
} >"$P/openssl.log" 2>&1; then
	fail tls_certificates "$(tail -3 "$P/openssl.log")"
	exit 0
fi
: > "$TESTS_TMP/s3rver.log"; : > "$TESTS_TMP/tls.log"
if s3_start &&
   start_server "$TESTS_TMP/tls.log" "listening $TPORT" node tests/e2e/tlsproxy.js $TPORT $PORT "$P/srv.pem" "$P/srv.key"; then
	# the proxy itself works for a client that trusts the CA
	if curl -sf --cacert "$P/ca.pem" "https://127.0.0.1:$TPORT/" >/dev/null; then ok tls_proxy_serves; else fail tls_proxy_serves "$(cat "$TESTS_TMP/tls.log")"; fi

	sec_case tls S3RVER
	sed -i 's/^sinks = out$/sinks = s3/' "$D/flowfs.ini"
	s3_sink s3 "https://127.0.0.1:$TPORT" s3/
	if fs_mount "$D/flowfs.ini" "$D/mnt"; then
		M=$D/mnt
		echo secret-data > "$M/web/t.txt"
		wait_for 20 grep -q 'retrying in' "$D/log"
		err=$(jq -r '.sinks.s3.last_error' "$M/web/.status")
		st=$(state "$M/web/t.txt")
		keys=$(s3keys s3/)
		fwd=$(grep -c '^PUT' "$TESTS_TMP/tls.log")
		if grep -qiE 'certificate|SSL|TLS' <<<"$err" && [ "$st" = queued ] && [ -z "$keys" ] && [ "$fwd" = 0 ] &&
		   grep -q 'tls-error.*UNKNOWN_CA' "$TESTS_TMP/tls.log"; then
			ok tls_unknown_ca_refused_and_retried
		else
			fail tls_unknown_ca_refused_and_retried "last_error '$err', state '$st', bucket '$keys', $fwd PUTs passed the proxy"
		fi
		fs_umount "$M"
		echo "ca_file = $P/ca.pem" >> "$D/flowfs.ini"
		if fs_mount "$D/flowfs.ini" "$M"; then
			"$FLOWCTL" sync "$M" --timeout 30 >/dev/null
			if [ "$(s3get s3/web/t.txt)" = secret-data ] && [ "$(state "$M/web/t.txt")" = delivered ]; then
				ok tls_ca_file_trusted_delivers
			else
				fail tls_ca_file_trusted_delivers "state $(state "$M/web/t.txt"); $(jq -c .sinks.s3 "$M/web/.status")"
			fi
			fs_umount "$M"
		else
			fail tls_ca_file_trusted_delivers "did not mount"
		fi
	else
		fail tls_unknown_ca_refused_and_retried "did not mount"
	fi
else
	fail tls_servers "s3rver or tlsproxy did not start: $(tail -3 "$TESTS_TMP/s3rver.log" "$TESTS_TMP/tls.log")"
fi

# ---------------------------------------------------------------- credentials modes
for m in 0640 0604 0620 0602; do
	sec_case "credmode$m" SEKRIT-CRED
	sed -i 's/^sinks = out$/sinks = s3/' "$D/flowfs.ini"
	s3_sink s3 "http://127.0.0.1:$PORT" s3/
	chmod "$m" "$D/cred"
	err=$("$FLOWFS" "$D/flowfs.ini" "$D/mnt" -f 2>&1)
	if [ $? != 0 ] && grep -q "$D/cred has mode $m" <<<"$err" && ! mountpoint -q "$D/mnt" &&
	   ! grep -q SEKRIT <<<"$err"; then
		ok "credentials_mode_${m}_refused"
	else
		fail "credentials_mode_${m}_refused" "$err"
	fi
done
stop_servers
exit 0
