#!/usr/bin/env python3
# tests/e2e/azblob.py - a tiny Azure Blob client for the e2e tests, signing
# with Shared Key (independently of flowfs's C signer) for Azurite's
# devstoreaccount1.
#
#   azblob.py ENDPOINT mkcontainer CONTAINER
#   azblob.py ENDPOINT get CONTAINER/BLOB        body to stdout
#   azblob.py ENDPOINT head CONTAINER/BLOB       "name: value" lines
#   azblob.py ENDPOINT blocks CONTAINER/BLOB     committed block names
#   azblob.py ENDPOINT sas PERMISSIONS           an account SAS token (blob service)
#
# ENDPOINT is http://127.0.0.1:PORT/devstoreaccount1.  Exit 1 on an HTTP error.
import base64
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request
from email.utils import formatdate

ACCOUNT = "devstoreaccount1"
KEY = base64.b64decode("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
                       "K1SZFPTOtr/KBHBeksoGMGw==")
STD = ["content-encoding", "content-language", "content-length", "content-md5",
       "content-type", "date", "if-modified-since", "if-match", "if-none-match",
       "if-unmodified-since", "range"]


def request(method, url, params):
    hdr = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
    if method == "PUT":	# urllib would add a form Content-Type of its own
        hdr["content-type"] = "application/octet-stream"
    path = urllib.parse.urlsplit(url).path
    sts = method + "\n" + "".join(hdr.get(h, "") + "\n" for h in STD)
    sts += "".join("%s:%s\n" % (k, hdr[k]) for k in sorted(hdr) if k.startswith("x-ms-"))
    sts += "/" + ACCOUNT + path
    sts += "".join("\n%s:%s" % (k.lower(), params[k]) for k in sorted(params))
    sig = base64.b64encode(hmac.new(KEY, sts.encode(), hashlib.sha256).digest()).decode()
    hdr["Authorization"] = "SharedKey %s:%s" % (ACCOUNT, sig)
    q = urllib.parse.urlencode(params)
    req = urllib.request.Request(url + ("?" + q if q else ""), method=method, headers=hdr,
                                 data=b"" if method == "PUT" else None)
    return urllib.request.urlopen(req, timeout=30)


def account_sas(perms):
    q = {"sv": "2020-08-04", "ss": "b", "srt": "sco", "sp": perms, "se": "2099-01-01T00:00:00Z",
         "spr": "https,http"}
    sts = "\n".join([ACCOUNT, q["sp"], q["ss"], q["srt"], "", q["se"], "", q["spr"], q["sv"], ""])
    q["sig"] = base64.b64encode(hmac.new(KEY, sts.encode(), hashlib.sha256).digest()).decode()
    return urllib.parse.urlencode(q)


def main():
    ep, cmd, what = sys.argv[1], sys.argv[2], sys.argv[3]
    url = ep.rstrip("/") + "/" + urllib.parse.quote(what)
    try:
        if cmd == "sas":
            print(account_sas(what))
        elif cmd == "mkcontainer":
            request("PUT", url, {"restype": "container"})
        elif cmd == "get":
            sys.stdout.buffer.write(request("GET", url, {}).read())
        elif cmd == "head":
            for k, v in request("HEAD", url, {}).getheaders():
                print("%s: %s" % (k.lower(), v))
        elif cmd == "blocks":
            body = request("GET", url, {"comp": "blocklist", "blocklisttype": "committed"}).read()
            for name in body.decode().split("<Name>")[1:]:
                print(name.split("</Name>")[0])
    except urllib.error.HTTPError as e:
        sys.stderr.write("%s %s: HTTP %d %s\n" % (cmd, what, e.code, e.read()[:300]))
        sys.exit(1)


main()
