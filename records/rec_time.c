/*
 * records/rec_time.c - RFC 3339 and epoch parsing (see rec_time.h).
 *
 * Civil dates go to days with Howard Hinnant's days_from_civil algorithm,
 * so no timegm(), no TZ and no locale is involved.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec_time.h"

#define US_PER_S INT64_C(1000000)

static int64_t rec_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void rec_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int rec_month_days(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* N decimal digits at S into *V; false if any is not a digit. */
static bool rec_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* "YYYY-MM-DD?HH:MM:SS" (19 bytes) into seconds since the epoch. */
static int rec_rfc3339_base(const char *s, int64_t *sec)
{
	int y, mo, d, h, mi, se;

	if (!rec_digits(s, 4, &y) || s[4] != '-' || !rec_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !rec_digits(s + 8, 2, &d) || !strchr("Tt ", s[10]) || !rec_digits(s + 11, 2, &h) ||
	    s[13] != ':' || !rec_digits(s + 14, 2, &mi) || s[16] != ':' || !rec_digits(s + 17, 2, &se))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > rec_month_days(y, mo) || h > 23 || mi > 59 || se > 60)
		return -EINVAL;
	if (se == 60)	/* a leap second reads as the second before it */
		se = 59;
	*sec = rec_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

/* The fraction ".ddd" at S[0..N): its length in *used, µs in *frac. */
static int rec_rfc3339_frac(const char *s, size_t n, size_t *used, int64_t *frac)
{
	size_t i = 1;
	int64_t scale = 100000;

	*used = 0;
	*frac = 0;
	if (n == 0 || s[0] != '.')
		return 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		*frac += (s[i] - '0') * scale;
		scale /= 10;
	}
	if (i == 1 || i > 10)
		return -EINVAL;
	*used = i;
	return 0;
}

/* "Z" or "+hh:mm" / "-hh:mm" at S[0..N) into seconds east of UTC. */
static int rec_rfc3339_offset(const char *s, size_t n, int64_t *off)
{
	int h, m;

	if (n == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		*off = 0;
		return 0;
	}
	if (n != 6 || (s[0] != '+' && s[0] != '-') || !rec_digits(s + 1, 2, &h) || s[3] != ':' ||
	    !rec_digits(s + 4, 2, &m) || h > 23 || m > 59)
		return -EINVAL;
	*off = (h * 3600 + m * 60) * (s[0] == '-' ? -1 : 1);
	return 0;
}

static int rec_rfc3339(const char *s, size_t n, int64_t *us)
{
	int64_t sec, frac, off;
	size_t used;

	if (n < 20 || rec_rfc3339_base(s, &sec) ||
	    rec_rfc3339_frac(s + 19, n - 19, &used, &frac) ||
	    rec_rfc3339_offset(s + 19 + used, n - 19 - used, &off))
		return -EINVAL;
	*us = (sec - off) * US_PER_S + frac;
	return 0;
}

int rec_time_from_int(int64_t v, int64_t *us)
{
	int64_t a = v < 0 ? -(v + 1) : v;	/* no overflow at INT64_MIN */

	if (a < INT64_C(100000000000)) {
		*us = v * US_PER_S;
	} else if (a < INT64_C(100000000000000)) {
		*us = v * 1000;
	} else {
		*us = v;
	}
	return 0;
}

int rec_time_from_double(double v, int64_t *us)
{
	double a = fabs(v), r;

	if (!isfinite(v))
		return -EINVAL;
	r = a < 1e11 ? v * 1e6 : a < 1e14 ? v * 1e3 : v;
	if (r >= 9.2e18 || r <= -9.2e18)
		return -EINVAL;
	*us = (int64_t)(r + (r >= 0 ? 0.5 : -0.5));
	return 0;
}

/* An epoch number as text: an integer exactly, a decimal through double. */
static int rec_time_number(const char *s, size_t n, int64_t *us)
{
	char tmp[64], *end;
	long long i;
	double d;

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	i = strtoll(tmp, &end, 10);
	if (end == tmp + n && errno == 0 && (tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return rec_time_from_int(i, us);
	d = strtod(tmp, &end);
	if (end != tmp + n || !(tmp[0] == '-' || tmp[0] == '.' || (tmp[0] >= '0' && tmp[0] <= '9')))
		return -EINVAL;
	return rec_time_from_double(d, us);
}

int rec_time_parse(const char *s, size_t n, int64_t *us)
{
	if (n >= 20 && s[4] == '-')
		return rec_rfc3339(s, n, us);
	return rec_time_number(s, n, us);
}

size_t rec_time_format(int64_t us, char *buf)
{
	int64_t sec = us >= 0 ? us / US_PER_S : -((-us + US_PER_S - 1) / US_PER_S);
	int64_t frac = us - sec * US_PER_S, days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
	int64_t rem = sec - days * 86400, y;
	int m, d, n;

	rec_civil_from_days(days, &y, &m, &d);
	n = snprintf(buf, 32, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(rem / 3600),
		     (int)(rem / 60 % 60), (int)(rem % 60));
	if (frac)
		n += snprintf(buf + n, 32 - (size_t)n, ".%06" PRId64, frac);
	n += snprintf(buf + n, 32 - (size_t)n, "Z");
	return (size_t)n;
}
