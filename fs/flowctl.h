/*
 * fs/flowctl.h - what flowctl's files share.
 */
#ifndef FLOWFS_FLOWCTL_H
#define FLOWFS_FLOWCTL_H

#include <stddef.h>
#include <sys/types.h>

/* MNT/.flowctl open for a command, or -1 (said on stderr). */
int flowctl_open(const char *mnt);
/* Sends CMD through FD (MNT/.flowctl) and reads the answer into BUF; its
 * length, or -1 (said on stderr) when it is not "ok ...". */
ssize_t flowctl_ask(int fd, const char *cmd, char *buf, size_t size);

/* pipectl.c: ARGV after the command's name; each returns the exit status
 * (64: usage). */
int history_main(int argc, char **argv);
int clean_history_main(int argc, char **argv);
int test_main(int argc, char **argv);

#endif
