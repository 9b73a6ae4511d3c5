/*
 * tests/unit/test_json.c - util/json.c (validation, flat lookup, unescaping)
 * and util/base64.c (round trips, RFC 4648 vectors, bad input).
 */
#include <errno.h>

#include "../../util/base64.h"
#include "../../util/json.h"
#include "unit.h"

#define VALID(s) json_valid(s, strlen(s))

static void json_validates(void)
{
	CHECK(VALID("{\"a\":1}"));
	CHECK(VALID(" [1, -2.5e+3, true, false, null, \"x\\u00e9\\n\", {}, []] "));
	CHECK(VALID("{\"a\":{\"b\":[{\"c\":\"d\"}]}}"));
	CHECK(!VALID(""));
	CHECK(!VALID("{\"a\":1,}"));
	CHECK(!VALID("{\"a\" 1}"));
	CHECK(!VALID("{a:1}"));
	CHECK(!VALID("[01]"));
	CHECK(!VALID("\"\\x\""));
	CHECK(!VALID("\"tab\there\""));
	CHECK(!VALID("{} {}"));
	CHECK(!VALID("tru"));
	CHECK(json_is_object("{\"a\":1}", 7));
	CHECK(!json_is_object("[1]", 3));
	CHECK(!json_is_object("plain text", 10));
}

static void json_deep_nesting_refused(void)
{
	char deep[400];

	memset(deep, '[', 200);
	memset(deep + 200, ']', 200);
	CHECK(!json_valid(deep, sizeof(deep)));
}

static void json_get_members(void)
{
	const char *j = "{ \"part\" : 3, \"name\":\"a\\\"b\", \"x\":{\"part\":9}, \"d\":\"\\u00e9\\ud83d\\ude00\" }";
	const char *v;
	size_t vlen, n;
	char out[64];

	CHECK(json_get(j, strlen(j), "part", &v, &vlen) == 0);
	CHECK(vlen == 1 && v[0] == '3');
	CHECK(json_get(j, strlen(j), "name", &v, &vlen) == 0);
	CHECK(json_string(v, vlen, out, &n) == 0);
	CHECK_STR(out, "a\"b");
	CHECK(json_get(j, strlen(j), "d", &v, &vlen) == 0);
	CHECK(json_string(v, vlen, out, &n) == 0);
	CHECK_STR(out, "\xc3\xa9\xf0\x9f\x98\x80");
	CHECK(json_get(j, strlen(j), "missing", &v, &vlen) == -ENOENT);
	CHECK(json_get(j, strlen(j), "par", &v, &vlen) == -ENOENT);
	CHECK(json_get("[1]", 3, "a", &v, &vlen) == -EINVAL);
	CHECK(json_string("3", 1, out, &n) == -EINVAL);
}

static void base64_vectors(void)
{
	static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char enc[16];
	unsigned char dec[16];
	size_t n;

	for (size_t i = 0; i < 7; i++) {
		CHECK(base64_encode(in[i], strlen(in[i]), enc) == strlen(want[i]));
		CHECK_STR(enc, want[i]);
		CHECK(base64_decode(enc, strlen(enc), dec, &n) == 0);
		CHECK(n == strlen(in[i]) && memcmp(dec, in[i], n) == 0);
	}
}

static void base64_round_trip_binary(void)
{
	unsigned char raw[1000], back[1000];
	char enc[BASE64_ENC_SIZE(1000)];
	size_t n;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 131 + 7);
	for (size_t len = 0; len < 40; len++) {
		size_t e = base64_encode(raw, len, enc);
		CHECK(base64_decode(enc, e, back, &n) == 0);
		CHECK(n == len && memcmp(raw, back, len) == 0);
	}
}

static void base64_bad_input(void)
{
	unsigned char out[16];
	size_t n;

	CHECK(base64_decode("Zm9", 3, out, &n) == -EINVAL);
	CHECK(base64_decode("Zm9v!", 5, out, &n) == -EINVAL);
	CHECK(base64_decode("Zg==Zg==", 8, out, &n) == -EINVAL);
	CHECK(base64_decode("Z===", 4, out, &n) == -EINVAL);
	CHECK(base64_decode("Zm9v\nYmFy", 9, out, &n) == 0 && n == 6);
}

int main(void)
{
	RUN(json_validates);
	RUN(json_deep_nesting_refused);
	RUN(json_get_members);
	RUN(base64_vectors);
	RUN(base64_round_trip_binary);
	RUN(base64_bad_input);
	return unit_done();
}
