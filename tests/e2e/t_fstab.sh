# Mounting from /etc/fstab: mount.fuse3 runs "flowfs SOURCE MNT -o OPTS";
# both fstab forms, options meant for mount(8)/systemd ignored.
. tests/e2e/lib.sh
need_fuse t_fstab
command -v mount.fuse3 >/dev/null || { skip t_fstab "no mount.fuse3"; exit 0; }

# mount(8) runs helpers with no PATH of ours: /bin/sh's default applies, so
# "flowfs in PATH" means installed.  Link it into /usr/local/sbin for the test.
link=
if ! PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v flowfs >/dev/null; then
	ln -s "$FLOWFS" /usr/local/sbin/flowfs && link=/usr/local/sbin/flowfs
fi
trap 'fs_cleanup; [ -n "$link" ] && rm -f "$link"' EXIT

daemon_of() { pgrep -f "flowfs $1 " | head -1; }

fstab_case() {	# NAME LINE-TEMPLATE  (@CFG@ and @MNT@ replaced)
	local name=$1 line=$2 pid t0
	GLOBAL_EXTRA="log = $TESTS_TMP/$name/daemon.log" new_case "$name"
	sed -i '/^log = stderr$/d' "$D/flowfs.ini"
	line=${line//@CFG@/$D/flowfs.ini}
	line=${line//@MNT@/$D/mnt}
	echo "$line" > "$D/fstab"
	if ! mount -T "$D/fstab" "$D/mnt" 2>"$D/err"; then
		fail "fstab_$name" "mount -T failed: $(cat "$D/err")"
		return
	fi
	pid=$(daemon_of "$D/flowfs.ini")
	echo via-fstab > "$D/mnt/web/f"
	wait_for 10 is_state "$D/mnt/web/f" delivered
	t0=$(date +%s)
	umount "$D/mnt"
	wait_for 15 sh -c "! kill -0 $pid 2>/dev/null"
	if [ "$(cat "$D/out/web/f" 2>/dev/null)" = via-fstab ] && ! kill -0 "$pid" 2>/dev/null &&
	   ! mountpoint -q "$D/mnt"; then
		ok "fstab_$name"
	else
		fail "fstab_$name" "delivered '$(cat "$D/out/web/f" 2>/dev/null)', daemon $pid alive=$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)"
		kill "$pid" 2>/dev/null
		fusermount3 -uz "$D/mnt" 2>/dev/null
	fi
}

fstab_case type_form '@CFG@ @MNT@ fuse.flowfs defaults,_netdev,nofail,noauto,users,x-systemd.requires=network-online.target,x-systemd.automount 0 0'
fstab_case hash_form "$FLOWFS#@CFG@ @MNT@ fuse defaults,_netdev,noauto,allow_other,default_permissions 0 0"

# mount -a with an auto line
GLOBAL_EXTRA="log = $TESTS_TMP/auto/daemon.log" new_case auto
sed -i '/^log = stderr$/d' "$D/flowfs.ini"
echo "$D/flowfs.ini $D/mnt fuse.flowfs _netdev,auto 0 0" > "$D/fstab"
if mount -a -T "$D/fstab" 2>"$D/err" && mountpoint -q "$D/mnt"; then
	pid=$(daemon_of "$D/flowfs.ini")
	umount "$D/mnt"
	wait_for 15 sh -c "! kill -0 $pid 2>/dev/null"
	ok fstab_mount_a
else
	fail fstab_mount_a "$(cat "$D/err")"
fi
