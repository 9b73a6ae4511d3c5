/*
 * fs/flowctl_read.h - flowctl health / latest / deliveries (flowctl_read.c).
 */
#ifndef FLOWFS_FLOWCTL_READ_H
#define FLOWFS_FLOWCTL_READ_H

#include <stdbool.h>

bool flowctl_read_verb(const char *verb);	/* one of the commands here */
int flowctl_read_main(int argc, char **argv);	/* argv[1] the verb; the exit status */

#endif
