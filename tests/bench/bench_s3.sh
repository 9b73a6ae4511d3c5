#!/usr/bin/env bash
# tests/bench/bench_s3.sh - figures, not tests: flowfs with an s3 sink beside
# s3fs, rclone mount, aws s3 cp and one curl -T PUT, against the same s3rver,
# in one run.  BENCH_S3_MIB scales the big file (default 1024).
set -uo pipefail
cd "$(dirname "$0")/../.."
FLOWFS=${FLOWFS:-$PWD/flowfs} FLOWCTL=${FLOWCTL:-$PWD/flowctl}	# FLOWFS=: another build, side by side
MIB=${BENCH_S3_MIB:-1024}
S3RVER=tests/node_modules/s3rver/bin/s3rver.js
[ -f "$S3RVER" ] || { echo "bench_s3: run 'npm ci --prefix tests' first"; exit 1; }
tmp=$(mktemp -d /tmp/flowfs-bench-s3.XXXXXX)
PORT=$((30000 + RANDOM % 20000))
EP=http://127.0.0.1:$PORT
pids=()
cleanup() {
	for m in "$tmp"/m-*; do fusermount3 -uz "$m" 2>/dev/null; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/s3" "$tmp/m-flowfs" "$tmp/m-s3fs" "$tmp/m-rclone" "$tmp/m-null"
# A null FUSE file system (every write dropped, direct_io as flowfs's
# uploads): the fastest any FUSE cp can return here.
cc -O2 -o "$tmp/nullfs" tests/bench/nullfs.c $(pkg-config --cflags --libs fuse3)
"$tmp/nullfs" "$tmp/m-null" direct 2>/dev/null & pids+=($!)
node --openssl-legacy-provider "$S3RVER" -d "$tmp/s3" -a 127.0.0.1 -p $PORT --configure-bucket bkt >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "$EP/" >/dev/null && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
now() { date +%s.%N; }
dt() { echo "$(now) - $1" | bc -l; }
size_of() { curl -sI "$EP/bkt/$1" | tr -d '\r' | awk 'tolower($1) == "content-length:" {print $2}'; }
wait_size() { while [ "$(size_of "$1")" != "$2" ]; do sleep 0.05; done; }
count() { curl -s "$EP/bkt?prefix=$1&max-keys=5000" | grep -o '<Key>' | wc -l; }

cat > "$tmp/flowfs.ini" <<INI
[flowfs]
spool = $tmp/spool
spool_max = $((MIB * 3))M
part_size = 16M
workers = 4
log = $tmp/flowfs.log
log_level = warn
[sink.s3]
type = s3
bucket = bkt
endpoint = $EP
path_style = yes
[flow.b]
sinks = s3
compress = none
INI
"$FLOWFS" "$tmp/flowfs.ini" "$tmp/m-flowfs" -f & pids+=($!); fpid=$!
echo "S3RVER:S3RVER" > "$tmp/passwd"; chmod 600 "$tmp/passwd"
s3fs bkt "$tmp/m-s3fs" -o url=$EP,use_path_request_style,passwd_file=$tmp/passwd,nonempty 2>/dev/null
cat > "$tmp/rclone.conf" <<CONF
[s]
type = s3
provider = Other
access_key_id = S3RVER
secret_access_key = S3RVER
endpoint = $EP
CONF
env -u AWS_CA_BUNDLE rclone mount s:bkt "$tmp/m-rclone" --config "$tmp/rclone.conf" --vfs-cache-mode writes \
	--cache-dir "$tmp/rc-cache" --daemon 2>/dev/null
sleep 2
mkdir -p "$tmp/m-flowfs/b/flowfs" "$tmp/m-s3fs/s3fs" "$tmp/m-rclone/rclone" 2>/dev/null
head -c $((MIB << 20)) /dev/urandom > "$tmp/big"
cat "$tmp/big" > /dev/null
echo "flowfs S3 bench: one s3rver on 127.0.0.1, ${MIB} MiB file, $(nproc) cores"
echo
t=$(now); cp "$tmp/big" "$tmp/local-copy"; local_cp=$(dt "$t"); rm -f "$tmp/local-copy"
t=$(now); curl -s -T "$tmp/big" "$EP/bkt/curl/big" >/dev/null; curl_put=$(dt "$t")
t=$(now); aws --endpoint-url "$EP" s3 cp "$tmp/big" s3://bkt/aws/big >/dev/null 2>&1; aws_cp=$(dt "$t")
# The floor of any multipart client on this server: s3rver concatenates the
# parts on disk in CompleteMultipartUpload, so that request alone is timed.
mp_complete_time() {	# FILE PART_MIB: prints the seconds of Complete
	local id n=0 body e t
	id=$(curl -s -X POST "$EP/bkt/mp/big?uploads" | grep -o '<UploadId>[^<]*' | cut -d'>' -f2)
	split -b "${2}M" -d -a 4 "$1" "$tmp/part."
	ls "$tmp"/part.* | nl | xargs -P4 -L1 sh -c 'curl -s -T "$1" -D "$1.h" "'"$EP"'/bkt/mp/big?partNumber=$(($0))&uploadId='"$id"'" >/dev/null'
	body="<CompleteMultipartUpload>"
	for f in "$tmp"/part.*[0-9]; do
		n=$((n + 1))
		e=$(tr -d '\r' < "$f.h" | awk 'tolower($1) == "etag:" {print $2}')
		body="$body<Part><PartNumber>$n</PartNumber><ETag>$e</ETag></Part>"
	done
	t=$(now); curl -s -X POST --data "$body</CompleteMultipartUpload>" "$EP/bkt/mp/big?uploadId=$id" >/dev/null
	dt "$t"
	rm -f "$tmp"/part.*
}
mp_floor=$(mp_complete_time "$tmp/big" 16)
printf '(a) cp of %d MiB        returns   complete in bucket\n' "$MIB"
printf '    local disk          %6.2fs\n' "$local_cp"
t=$(now); cp "$tmp/big" "$tmp/m-null/big"; null_cp=$(dt "$t")
printf '    null FUSE           %6.2fs   (%.2fx local cp: the fastest a FUSE cp returns here)\n' \
	"$null_cp" "$(echo "$null_cp / $local_cp" | bc -l)"
printf '    curl -T (one PUT)             %6.2fs\n' "$curl_put"
printf '    aws s3 cp                     %6.2fs\n' "$aws_cp"
printf '    s3rver Complete alone         %6.2fs   (%.2fx curl: the floor of any multipart upload here)\n' \
	"$mp_floor" "$(echo "$mp_floor / $curl_put" | bc -l)"
declare -A ret done_ small
floor=$(echo "$curl_put + $mp_floor" | bc -l)
for fs in flowfs s3fs rclone; do
	case $fs in flowfs) dir=$tmp/m-flowfs/b/flowfs key=b/flowfs/big ;; *) dir=$tmp/m-$fs/$fs key=$fs/big ;; esac
	mountpoint -q "$tmp/m-$fs" || { printf '    %-8s (not mounted)\n' "$fs"; continue; }
	t=$(now); cp "$tmp/big" "$dir/big"; ret[$fs]=$(dt "$t")
	wait_size "$key" $((MIB << 20)); done_[$fs]=$(dt "$t")
	printf '    %-8s            %6.2fs   %6.2fs   (%.2fx curl, %.2fx curl + Complete; returns %.2fx local cp)\n' \
		"$fs" "${ret[$fs]}" "${done_[$fs]}" "$(echo "${done_[$fs]} / $curl_put" | bc -l)" \
		"$(echo "${done_[$fs]} / $floor" | bc -l)" "$(echo "${ret[$fs]} / $local_cp" | bc -l)"
done
mkdir -p "$tmp/small"; for i in $(seq 1000); do head -c 4096 /dev/urandom > "$tmp/small/f$i"; done
echo
echo "(b) cp -r of 1,000 files of 4 KiB, until all are in the bucket"
# The floor here: one curl sending the 1,000 PUTs, 4 at a time (flowfs's
# workers), on kept-alive connections.
for i in $(seq 1000); do printf 'upload-file = "%s"\nurl = "%s"\noutput = /dev/null\n' \
	"$tmp/small/f$i" "$EP/bkt/curl/small/f$i"; done > "$tmp/curl-small.cfg"
t=$(now); curl -s --parallel --parallel-max 4 -K "$tmp/curl-small.cfg" 2>/dev/null; small_curl=$(dt "$t")
[ "$(count curl/small/)" -eq 1000 ] || small_curl=
printf '    curl     %6.2fs   (1,000 PUTs from one process, 4 at a time: the floor here)\n' "${small_curl:-0}"
for fs in flowfs s3fs rclone; do
	case $fs in flowfs) dir=$tmp/m-flowfs/b/flowfs pre=b/flowfs/small/ ;; *) dir=$tmp/m-$fs/$fs pre=$fs/small/ ;; esac
	mountpoint -q "$tmp/m-$fs" || continue
	t=$(now); cp -r "$tmp/small" "$dir/"
	# flowctl sync returns once the sink has acknowledged every file; the
	# others are polled.  A listing of 1,000 keys costs s3rver 0.1-0.3 s of
	# its one core, so polls are 0.5 s apart, not to slow the uploads.
	[ "$fs" = flowfs ] && "$FLOWCTL" sync "$tmp/m-flowfs" --timeout 300 >/dev/null
	while [ "$(count "$pre")" -lt 1000 ]; do sleep 0.5; done
	small[$fs]=$(dt "$t")
	printf '    %-8s %6.2fs' "$fs" "${small[$fs]}"
	if [ "$fs" = flowfs ]; then
		printf '   (%.2fx curl)' "$(echo "${small[$fs]} / ${small_curl:-0}" | bc -l 2>/dev/null)"
	else
		printf '   (%.2fx flowfs)' "$(echo "${small[$fs]} / ${small[flowfs]:-0}" | bc -l 2>/dev/null)"
	fi
	echo
done
echo
echo "(c) 10,000 echo >> lines, until they are in the bucket"
t=$(now); for i in $(seq 10000); do echo "line $i" >> "$tmp/m-flowfs/b/lines.log"; done
"$FLOWCTL" sync "$tmp/m-flowfs" --timeout 300 >/dev/null
printf '    flowfs   %6.2fs (flowctl sync included)\n' "$(dt "$t")"
echo
rss=$(( $(awk '/VmHWM/ {print $2}' /proc/$fpid/status) / 1024 ))
printf 'flowfs daemon peak RSS: %d MiB\n' "$rss"
echo
# Issue 15's targets, from the figures above: MET, NOT MET, or not
# measured when a figure is missing (a mount that did not happen).
target() {	# NAME FIGURE OP LIMIT TEXT (FIGURE OP LIMIT in bc; OP >= or <=)
	local v
	if [ -z "$2" ] || [ -z "$4" ]; then v="NOT MEASURED"
	elif [ "$(echo "$2 $3 $4" | bc -l 2>/dev/null)" = 1 ]; then v=MET
	else v="NOT MET"; fi
	printf '  %-12s %s: %s\n' "$v" "$1" "$5"
}
x() { [ -n "$1" ] && [ -n "$2" ] && printf '%.2fx' "$(echo "$1 / $2" | bc -l)"; }
fd=${done_[flowfs]:-} fr=${ret[flowfs]:-} fs_=${small[flowfs]:-}
s3d=${done_[s3fs]:-} s3s=${small[s3fs]:-} rcs=${small[rclone]:-}
echo "targets (issue 15):"
target "(a) cp complete in bucket <= 1.15x (curl PUT + Complete alone)" "$fd" "<=" "1.15 * $floor" \
	"$(x "$fd" "$floor") of $(printf '%.2f' "$floor")s"
target "(a) complete in bucket >= 1.5x faster than s3fs" "$s3d" ">=" "${fd:+1.5 * $fd}" \
	"s3fs takes $(x "$s3d" "$fd") flowfs's time"
target "(a) cp returns <= 2x local cp" "$fr" "<=" "2 * $local_cp" \
	"$(x "$fr" "$local_cp") local cp; null FUSE $(x "$null_cp" "$local_cp")"
target "RSS <= 64 MiB" "$rss" "<=" 64 "$rss MiB"
target "(b) cp -r 1,000 x 4 KiB >= 5x faster than rclone" "$rcs" ">=" "${fs_:+5 * $fs_}" \
	"rclone takes $(x "$rcs" "$fs_") flowfs's time"
target "(b) cp -r 1,000 x 4 KiB >= 20x faster than s3fs" "$s3s" ">=" "${fs_:+20 * $fs_}" \
	"s3fs takes $(x "$s3s" "$fs_") flowfs's time"
