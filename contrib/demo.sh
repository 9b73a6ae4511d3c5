#!/bin/sh
# contrib/demo.sh - run by `make run`: mounts the demo at ./mnt in the foreground.
set -eu
mkdir -p mnt out
if mountpoint -q mnt; then
	fusermount3 -u mnt || fusermount3 -uz mnt
fi
cat <<'TXT'

flowfs demo: flow "demo" at ./mnt/demo delivers to ./out/demo.  In another terminal:

    cp /etc/hosts mnt/demo/                      # an upload
    ls out/demo/                                 # ... delivered
    getfattr -n user.flowfs.state mnt/demo/hosts
    echo "hello $(date)" >> mnt/demo/app.log     # a stream
    ./flowctl sync mnt                           # seal and deliver the chunk now
    ls out/demo/*/ ; zcat out/demo/*/app.log*.gz
    cat mnt/demo/.status ; ./flowctl status mnt
    mkdir mnt/newflow                            # a new flow, kept in ./spool

Ctrl-C here (or fusermount3 -u mnt) unmounts.

TXT
exec ./flowfs contrib/flowfs.example.ini mnt -f
