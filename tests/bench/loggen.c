/*
 * tests/bench/loggen.c - writes BYTES of access-log-like lines to stdout:
 * what a stream of a web server carries, so that compressors have the work
 * they would have in production (a file of one repeated line has none).
 * The same seed gives the same bytes.
 *
 *   loggen BYTES
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t x = 88172645463325252ull;	/* xorshift64 */

static uint64_t rnd(void)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

int main(int argc, char **argv)
{
	static const char *const paths[] = { "/", "/index.html", "/api/v1/items", "/api/v1/users",
					     "/static/app.js", "/static/style.css", "/login", "/search" };
	static const char *const agents[] = { "curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64)",
					      "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "python-requests/2.31" };
	static const int codes[] = { 200, 200, 200, 200, 304, 404, 500, 301 };
	long long left = argc == 2 ? strtoll(argv[1], NULL, 10) : -1;
	uint64_t t = 1767225600;	/* 2026-01-01 */
	char line[512];

	if (left < 0)
		return 64;
	while (left > 0) {
		uint64_t r = rnd(), s = rnd();
		int n;

		t += r % 3 == 0;
		n = snprintf(line, sizeof(line),
			     "10.%u.%u.%u - - [%" PRIu64 "] \"GET %s?id=%" PRIu64 " HTTP/1.1\" %d %" PRIu64
			     " \"%s\" rt=%u.%03u req=%016" PRIx64 "\n",
			     (unsigned)(r & 15), (unsigned)(r >> 8 & 255), (unsigned)(r >> 16 & 255), t,
			     paths[r >> 24 & 7], s % 100000, codes[r >> 27 & 7], s >> 40 & 65535,
			     agents[r >> 30 & 3], (unsigned)(s >> 20 & 3), (unsigned)(s >> 8 & 1023) % 1000,
			     rnd());
		if (n > left)
			n = (int)left;
		if (fwrite(line, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
		left -= n;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
