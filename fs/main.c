/*
 * fs/main.c - flowfs CONFIG MOUNTPOINT [-f] [-d] [-o OPTIONS]
 *
 * Order of start-up, chosen so every error reaches the terminal and nothing
 * is mounted on a bad start: parse the command line, load and validate the
 * config, open the spool (lock, sinks, recovery), create and mount the FUSE
 * session, and only then daemonize (unless -f) and start the threads.  At
 * unmount or SIGINT/SIGTERM/SIGHUP the loop ends, open chunks are sealed,
 * deliveries get drain_timeout, the mount point (made absolute at start)
 * is unmounted, and the process exits 0.
 *
 * mount.fuse3 runs "flowfs SOURCE MOUNTPOINT -o OPTS" for fstab lines; the
 * options meant for mount(8) and systemd are dropped here, the rest go to
 * FUSE.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend/sink.h"
#include "../cache/cache.h"
#include "../util/buf.h"
#include "../util/cfg.h"
#include "../util/log.h"
#include "fs.h"

struct opts {
	const char *config;
	const char *mountpoint;	/* absolute, once parsed */
	char *mountpoint_abs;	/* owns it */
	bool foreground;
	bool debug;
	struct buf fuse_opts;	/* comma-separated options passed to FUSE */
};

static const struct cfg_schema schema = {
	.global = cache_global_keys,
	.flow = cache_flow_keys, .transform = cache_transform_keys,
	.sink_keys = sink_keys,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flowfs CONFIG MOUNTPOINT [-f] [-d] [-o OPTIONS]\n"
		"       flowfs --help | --version | --config-keys\n"
		"\n"
		"Mounts the flows of CONFIG at MOUNTPOINT: files copied into a flow's\n"
		"directory are spooled durably and delivered to the flow's sinks.\n"
		"\n"
		"  -f             stay in the foreground\n"
		"  -d             debug: foreground, FUSE debug output, log_level debug\n"
		"  -o OPTIONS     mount options: allow_other, default_permissions and other\n"
		"                 FUSE options; _netdev, auto, noauto, nofail, user, users,\n"
		"                 nouser, defaults, x-systemd.*, comment=* are ignored\n"
		"  --config-keys  print every config key: SECTION KEY TYPE DEFAULT HELP\n"
		"  --version      print the version\n"
		"\n");
}

static void help(void)
{
	usage(stdout);
	printf("[flowfs] keys:\n");
	cfg_print_keys(stdout, cache_global_keys);
	printf("\n[flow.NAME] keys (also allowed in [flowfs] as defaults):\n");
	cfg_print_keys(stdout, cache_flow_keys);
	printf("\n[transform.NAME] keys (a pipeline step):\n");
	cfg_print_keys(stdout, cache_transform_keys);
	for (int i = 0; sink_types[i]; i++) {
		printf("\n[sink.NAME] keys of type = %s:\n", sink_types[i]->type);
		cfg_print_keys(stdout, sink_types[i]->keys);
	}
	printf("\nSee flowfs(1) and flowfs.ini(5).\n");
}

static const char *type_name(enum cfg_type t)
{
	static const char *const names[] = {
		[CFG_STR] = "string", [CFG_PATH] = "path", [CFG_SIZE] = "size",
		[CFG_DURATION] = "duration", [CFG_INT] = "int", [CFG_BOOL] = "bool",
		[CFG_ENUM] = "enum", [CFG_LIST] = "list",
	};
	return names[t];
}

static void print_keys(const char *section, const struct cfg_key *keys)
{
	for (const struct cfg_key *k = keys; k->name; k++)
		printf("%s\t%s\t%s\t%s\t%s\n", section, k->name,
		       k->type == CFG_ENUM ? k->choices : type_name(k->type),
		       k->def ? (*k->def ? k->def : "\"\"") : "-", k->help);
}

static void config_keys(void)
{
	char section[64];

	print_keys("flowfs", cache_global_keys);
	print_keys("flow", cache_flow_keys);
	print_keys("transform", cache_transform_keys);
	for (int i = 0; sink_types[i]; i++) {
		snprintf(section, sizeof(section), "sink.%s", sink_types[i]->type);
		print_keys(section, sink_types[i]->keys);
	}
}

/* Options for mount(8), fstab and systemd, not for FUSE. */
static bool opt_ignored(const char *o, size_t n)
{
	static const char *const words[] = { "_netdev", "auto", "noauto", "nofail", "user",
					     "users", "nouser", "defaults", "owner", "group" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && strncmp(o, words[i], n) == 0)
			return true;
	return (n >= 2 && strncmp(o, "x-", 2) == 0) || (n >= 8 && strncmp(o, "comment=", 8) == 0);
}

static void add_mount_opts(struct opts *o, const char *list)
{
	while (*list) {
		size_t n = strcspn(list, ",");

		if (n && !opt_ignored(list, n)) {
			if (o->fuse_opts.len)
				buf_puts(&o->fuse_opts, ",");
			buf_add(&o->fuse_opts, list, n);
		}
		list += n + (list[n] == ',');
	}
}

/* The mount point as an absolute path, as libfuse's own parser makes it:
 * the daemon leaves its working directory (fuse_daemonize goes to /), and
 * unmounting a relative path from there fails. */
static int mountpoint_resolve(struct opts *o)
{
	o->mountpoint_abs = realpath(o->mountpoint, NULL);
	if (!o->mountpoint_abs) {
		fprintf(stderr, "flowfs: mount point %s: %m\n", o->mountpoint);
		return -1;
	}
	o->mountpoint = o->mountpoint_abs;
	return 0;
}

/* Returns -1 to exit 1, 1 to exit 0 (--help), 0 to mount. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help();
			return 1;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("flowfs %s (FUSE %d)\n", FLOWFS_VERSION, fuse_version());
			return 1;
		} else if (strcmp(a, "--config-keys") == 0) {
			config_keys();
			return 1;
		} else if (strcmp(a, "-f") == 0) {
			o->foreground = true;
		} else if (strcmp(a, "-d") == 0) {
			o->foreground = o->debug = true;
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			add_mount_opts(o, argv[++i]);
		} else if (strncmp(a, "-o", 2) == 0 && a[2]) {
			add_mount_opts(o, a + 2);
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "flowfs: unknown option '%s'\n", a);
			return -1;
		} else if (!o->config) {
			o->config = a;
		} else if (!o->mountpoint) {
			o->mountpoint = a;
		} else {
			fprintf(stderr, "flowfs: unexpected argument '%s'\n", a);
			return -1;
		}
	}
	if (!o->config || !o->mountpoint) {
		usage(stderr);
		return -1;
	}
	return mountpoint_resolve(o);
}

static struct fuse *fs_new(struct opts *o, struct cache *c)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct buf b;
	struct fuse *fuse = NULL;

	buf_init(&b);
	buf_puts(&b, "fsname=flowfs,subtype=flowfs");
	if (o->fuse_opts.len) {
		buf_puts(&b, ",");
		buf_puts(&b, o->fuse_opts.p);
	}
	if (fuse_opt_add_arg(&args, "flowfs") == 0 && fuse_opt_add_arg(&args, "-o") == 0 &&
	    fuse_opt_add_arg(&args, b.p) == 0 && (!o->debug || fuse_opt_add_arg(&args, "-d") == 0))
		fuse = fuse_new(&args, &fs_ops, sizeof(fs_ops), c);
	fuse_opt_free_args(&args);
	buf_free(&b);
	return fuse;
}

static int serve(struct opts *o, struct cache *c)
{
	struct fuse_loop_config loop = { .clone_fd = 0, .max_idle_threads = 10 };
	struct fuse *fuse = fs_new(o, c);
	int rc = 1;

	if (!fuse) {
		fprintf(stderr, "flowfs: bad mount options '%s'\n", o->fuse_opts.p ? o->fuse_opts.p : "");
		return 1;
	}
	if (fuse_mount(fuse, o->mountpoint) != 0)
		goto out_destroy;
	if (initflags_install(fuse_get_session(fuse)) != 0)
		goto out_unmount;
	/* libfuse only handles signals left at their default: a shell starts
	 * background jobs with SIGINT ignored, and Ctrl-C or kill -INT must
	 * still unmount.  (SIGHUP ignored by nohup stays ignored.) */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out_unmount;
	if (fuse_daemonize(o->foreground) != 0)
		goto out_signals;
	if (cache_start(c) != 0) {
		log_err("flowfs", "cannot start the spool threads");
		goto out_signals;
	}
	log_info("flowfs", "mounted %s at %s (pid %ld)", o->config, o->mountpoint, (long)getpid());
	rc = fuse_loop_mt(fuse, &loop) == 0 ? 0 : 1;
	log_info("flowfs", "unmounting %s", o->mountpoint);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct cfg *cfg = NULL;
	struct cache *c = NULL;
	char err[1024];
	int rc;

	/* A fixed threshold: blocks of 128 KiB and more (compression and
	 * copy buffers, libzstd's jobs) are mapped and go back to the system
	 * when freed.  glibc's sliding one moves them into the heaps after the
	 * first free, where they stay: the daemon's peak RSS in make bench was
	 * 82 MiB with it, 60 without. */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	buf_init(&o.fuse_opts);
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 1;
	if (cfg_load(&cfg, o.config, &schema, err, sizeof(err)) != 0) {
		fprintf(stderr, "flowfs: %s\n", err);
		return 1;
	}
	if (log_open(o.foreground && strcmp(cfg_str(cfg->global, "log"), "syslog") == 0 ?
		     "stderr" : cfg_str(cfg->global, "log"),
		     o.debug ? "debug" : cfg_str(cfg->global, "log_level")) != 0) {
		fprintf(stderr, "flowfs: %s: [flowfs] log: cannot open %s: %m\n", o.config,
			cfg_str(cfg->global, "log"));
		goto out_cfg;
	}
	signal(SIGPIPE, SIG_IGN);
	if (sink_global_init() != 0) {	/* before any thread */
		fprintf(stderr, "flowfs: cannot initialize libcurl\n");
		goto out_cfg;
	}
	if (cache_new(&c, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "flowfs: %s\n", err);
		goto out_cfg;
	}
	rc = serve(&o, c);
	cache_free(c);
	log_close();
	cfg_free(cfg);
	buf_free(&o.fuse_opts);
	free(o.mountpoint_abs);
	return rc;
out_cfg:
	cfg_free(cfg);
	buf_free(&o.fuse_opts);
	free(o.mountpoint_abs);
	return 1;
}
