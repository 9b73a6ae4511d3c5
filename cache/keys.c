/*
 * cache/keys.c - the [flowfs] and [flow.NAME] key tables.
 *
 * These tables are the single declaration of every global and flow key:
 * cfg_load() validates against them, `flowfs --help` prints them and
 * tests/check-man.sh checks man/flowfs.ini.5 against `flowfs --config-keys`.
 * Every flow key may also appear in [flowfs] as the default for all flows,
 * including flows made with mkdir.
 */
#include "cache.h"

const struct cfg_key cache_global_keys[] = {
	{ "spool", CFG_PATH, "/var/spool/flowfs", 0, NULL, 0, 0,
	  "spool directory: SQLite db, staging and part files; must be a local filesystem" },
	{ "spool_max", CFG_SIZE, "10G", 0, NULL, 1, 0,
	  "bytes the spool may hold; beyond this, writes get ENOSPC" },
	{ "part_size", CFG_SIZE, "8M", 0, NULL, 4096, 5LL << 30,
	  "objects are split into parts of this size, each with its SHA-256" },
	{ "workers", CFG_INT, "4", 0, NULL, 1, 64,
	  "delivery threads" },
	{ "log", CFG_STR, "syslog", 0, NULL, 0, 0,
	  "where the daemon logs: syslog, stderr or a file path" },
	{ "log_level", CFG_ENUM, "info", 0, "error|warn|info|debug", 0, 0,
	  "least severe level logged" },
	{ "retry_max", CFG_DURATION, "1m", 0, NULL, 1, 86400,
	  "cap of the exponential backoff between delivery attempts" },
	{ "drain_timeout", CFG_DURATION, "10s", 0, NULL, 0, 3600,
	  "at unmount, how long to wait for deliveries in flight" },
	{ "unhealthy_after", CFG_DURATION, "10m", 0, NULL, 1, 0,
	  "/.health is false once a sink has failed every attempt for this long" },
	{ "events_size", CFG_SIZE, "1M", 0, NULL, 4096, 1LL << 30,
	  "bytes each .events log keeps in memory; older lines leave" },
	{ NULL }
};

const struct cfg_key cache_flow_keys[] = {
	{ "sinks", CFG_LIST, NULL, CFG_REQUIRED, NULL, 0, 0,
	  "sinks every object of the flow is delivered to" },
	{ "uploads", CFG_STR, "<FLOW>/<PATH>", 0, NULL, 0, 0,
	  "key template of uploaded files; <PATH> is the path inside the flow" },
	{ "filename", CFG_STR, "<FLOW>/<DATE>/<STREAM>-<DATETIME>.<FLOWID>.<PART>.log", 0, NULL, 0, 0,
	  "key template of stream chunks" },
	{ "rotate", CFG_DURATION, "60m", 0, NULL, 1, 0,
	  "seal a stream chunk at least this often" },
	{ "maxsize", CFG_SIZE, "64M", 0, NULL, 1, 0,
	  "seal a stream chunk when it reaches this many bytes (uncompressed)" },
	{ "maxlines", CFG_INT, "0", 0, NULL, 0, 0,
	  "seal a stream chunk after this many lines (0: no limit)" },
	{ "compress", CFG_ENUM, "gz", 0, "none|gz|xz|bz2|zst", 0, 0,
	  "compression of stream chunks" },
	{ "compress_level", CFG_INT, "6", 0, NULL, 1, 9,
	  "compression level, 1 (fast) to 9 (small)" },
	{ "durability", CFG_ENUM, "write", 0, "write|close", 0, 0,
	  "streams: write (each acknowledged write survives kill -9) or close (the kernel's "
	  "writeback cache: acknowledged at close or fsync, as on a local disk; much faster "
	  "for many small writes)" },
	{ "upload_early", CFG_BOOL, "yes", 0, NULL, 0, 0,
	  "send a big upload's parts while it is written (s3, gcs, azure): it lands as the last close "
	  "returns; no: only after the last close" },
	{ "upload_compress", CFG_ENUM, "none", 0, "none|gz|xz|bz2|zst", 0, 0,
	  "compression of uploaded files" },
	{ "format", CFG_ENUM, "bytes", 0, "bytes|jsonl|csv|auto", 0, 0,
	  "read the data as records: bytes (no records), jsonl, csv, or auto (uploads by "
	  "extension: .jsonl .ndjson .json jsonl, .csv csv, else bytes; streams jsonl)" },
	{ "output", CFG_ENUM, "", 0, "|jsonl|csv|parquet", 0, 0,
	  "write records as jsonl, csv or parquet (empty: as read)" },
	{ "time_field", CFG_STR, "", 0, NULL, 0, 0,
	  "record field whose time (RFC 3339 or epoch s/ms/us) renders the key's time tokens" },
	{ "columns", CFG_LIST, NULL, 0, NULL, 0, 0,
	  "csv input: the column names (then every row is data); output: the columns, in order" },
	{ "schema", CFG_ENUM, "relaxed", 0, "relaxed|strict", 0, 0,
	  "relaxed: new fields become new columns; strict: records that do not fit go to errors" },
	{ "errors", CFG_STR, "<FLOW>/_errors/<DATE>/<STREAM>-<DATETIME>.<PART>.jsonl", 0, NULL, 0, 0,
	  "key template of the records that cannot be read, as JSON lines" },
	{ "transforms", CFG_LIST, NULL, 0, NULL, 0, 0,
	  "pipeline steps ([transform.NAME]) every sealed object runs through, in order, "
	  "before records and compression" },
	{ "retain", CFG_DURATION, "1h", 0, NULL, 0, 0,
	  "delivered files stay listed (and readable) this long, unless the spool needs the room" },
	{ "mode", CFG_STR, "0755", 0, NULL, 0, 0,
	  "permission bits (octal) of the flow's directory and its sub-directories" },
	{ "owner", CFG_STR, "root", 0, NULL, 0, 0,
	  "owner of the flow's directories: a user name or a numeric uid" },
	{ "group", CFG_STR, "root", 0, NULL, 0, 0,
	  "group of the flow's directories: a group name or a numeric gid" },
	{ "history_keep", CFG_DURATION, "7d", 0, NULL, 60, 0,
	  "deliveries stay in .time, .latest and .events, and pipeline step runs in .history, "
	  "for this long" },
	{ "notify", CFG_STR, "", 0, NULL, 0, 0,
	  "http sink that gets {\"name\": FLOW, \"uris\": [...]} after each delivery" },
	{ "tags", CFG_LIST, NULL, 0, NULL, 0, 0,
	  "tags of the flow (letters, digits, '_'; at most 20), listed in /.tags" },
	{ NULL }
};

const struct cfg_key cache_transform_keys[] = {
	{ "command", CFG_STR, NULL, CFG_REQUIRED, NULL, 0, 0,
	  "the step's program and arguments, split like a shell would, run with no shell: "
	  "the object on stdin, the new object on stdout" },
	{ "timeout", CFG_DURATION, "5m", CFG_BARE_SECONDS, NULL, 1, 0,
	  "then the step's whole process group is killed: TIMEOUT" },
	{ "user", CFG_STR, "", 0, NULL, 0, 0,
	  "user the step runs as (empty: nobody when flowfs runs as root, else flowfs's own)" },
	{ NULL }
};
