/*
 * records/rec_time.h - record times: RFC 3339 and epoch numbers to
 * microseconds since 1970-01-01T00:00:00Z, and back to RFC 3339.
 *
 * No state; thread-safe.
 */
#ifndef FLOWFS_REC_TIME_H
#define FLOWFS_REC_TIME_H

#include <stddef.h>
#include <stdint.h>

/* S[0..N) is an RFC 3339 date-time ("2026-12-01T21:03:00.5+01:00", 'T',
 * 't' or ' ' between date and time, 'Z' or an offset required, a fraction of
 * up to 9 digits, truncated to microseconds) or an epoch number, integer or
 * decimal, whose unit comes from its magnitude (see rec_time_from_double()).
 * Sets *US; 0 or -EINVAL. */
int rec_time_parse(const char *s, size_t n, int64_t *us);

/* An epoch number to microseconds: seconds when |v| < 1e11, milliseconds
 * when < 1e14, else microseconds.  0, or -EINVAL (NaN, out of range). */
int rec_time_from_int(int64_t v, int64_t *us);
int rec_time_from_double(double v, int64_t *us);

/* US as "YYYY-MM-DDTHH:MM:SSZ" (with ".ffffff" when it has a fraction) in
 * BUF (at least 32 bytes); returns the length. */
size_t rec_time_format(int64_t us, char *buf);

#endif
