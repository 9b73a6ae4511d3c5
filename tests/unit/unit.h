/*
 * tests/unit/unit.h - a minimal harness for the C unit tests.
 *
 * Each test program runs its cases with RUN(fn); a case fails on the first
 * CHECK that does not hold.  Every case prints "ok - name" or
 * "FAIL - name: file:line: expr"; main ends with unit_done(), which prints
 * "N passed, N failed" and returns the exit status (tests/run adds these up).
 */
#ifndef FLOWFS_UNIT_H
#define FLOWFS_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_passed, unit_failed, unit_case_failed;

#define CHECK(expr) do { \
	if (!(expr)) { \
		printf("FAIL - %s: %s:%d: %s\n", unit_case, __FILE__, __LINE__, #expr); \
		unit_case_failed = 1; \
		return; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
		printf("FAIL - %s: %s:%d: %s == \"%s\", expected \"%s\"\n", unit_case, \
		       __FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
		unit_case_failed = 1; \
		return; \
	} \
} while (0)

static const char *unit_case = "";

#define RUN(fn) do { \
	unit_case = #fn; \
	unit_case_failed = 0; \
	fn(); \
	if (unit_case_failed) \
		unit_failed++; \
	else { \
		unit_passed++; \
		printf("ok - %s\n", #fn); \
	} \
	fflush(stdout); \
} while (0)

static inline int unit_done(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
