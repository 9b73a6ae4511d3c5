/*
 * tests/unit/test_sigv4.c - SigV4 against AWS's published S3 example
 * ("GET Object" in "Authenticating Requests: Using the Authorization
 * Header", signature f0e8bdb8...).
 */
#include <string.h>

#include "../../backend/sigv4.h"
#include "unit.h"

static void aws_s3_get_object_example(void)
{
	const struct sigv4_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "x-amz-date", "20130524T000000Z" },
	};
	struct sigv4_request r = {
		.method = "GET", .path = "/test.txt", .query = "", .headers = h, .nheaders = 4,
		.payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		.amz_date = "20130524T000000Z", .region = "us-east-1", .service = "s3",
		.access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	};
	char auth[512];

	CHECK(sigv4_sign(&r, auth, sizeof(auth)) == 0);
	CHECK_STR(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
		  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void header_order_does_not_matter(void)
{
	const struct sigv4_header a[] = { { "x-amz-date", "20130524T000000Z" }, { "host", "h" } };
	const struct sigv4_header b[] = { { "Host", "h" }, { "X-Amz-Date", "20130524T000000Z" } };
	struct sigv4_request r = {
		.method = "PUT", .path = "/b/k", .query = "", .nheaders = 2, .payload_sha256 = "00",
		.amz_date = "20130524T000000Z", .region = "r", .service = "s3",
		.access_key = "A", .secret_key = "S",
	};
	char x[512], y[512];

	r.headers = a;
	CHECK(sigv4_sign(&r, x, sizeof(x)) == 0);
	r.headers = b;
	CHECK(sigv4_sign(&r, y, sizeof(y)) == 0);
	CHECK_STR(x, y);
	r.secret_key = "T";
	CHECK(sigv4_sign(&r, y, sizeof(y)) == 0);
	CHECK(strcmp(x, y) != 0);
}

static void uri_encoding(void)
{
	char out[128];

	CHECK_STR(sigv4_uri_encode("a b/c~d_e.f-g", 1, out, sizeof(out)), "a%20b/c~d_e.f-g");
	CHECK_STR(sigv4_uri_encode("a/b=c&d", 0, out, sizeof(out)), "a%2Fb%3Dc%26d");
	CHECK_STR(sigv4_uri_encode("\xc3\xa9", 1, out, sizeof(out)), "%C3%A9");
}

int main(void)
{
	RUN(aws_s3_get_object_example);
	RUN(header_order_does_not_matter);
	RUN(uri_encoding);
	return unit_done();
}
