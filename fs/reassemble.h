/*
 * fs/reassemble.h - `flowctl reassemble`: files back from captured file events.
 */
#ifndef FLOWFS_REASSEMBLE_H
#define FLOWFS_REASSEMBLE_H

/* ARGV: [-o DIR] DIR|FILE... (without "reassemble").  Returns the exit
 * status: 0, 1 (a file could not be rebuilt; named on stderr) or 64. */
int reassemble_main(int argc, char **argv);

#endif
