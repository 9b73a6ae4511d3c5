/*
 * tests/unit/test_azure.c - Azure Shared Key signing (backend/azure.h).
 *
 * The expected signatures were computed outside flowfs, with OpenSSL's
 * command line over a string-to-sign written by hand from Microsoft's
 * "Authorize with Shared Key" page, and Azurite's well-known account key:
 *
 *   KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
 *   printf 'PUT\n\n\n5\nXUFAKrxLKna5cZ2REBfFkg==\n\n\n\n\n\n\n\n'\
 *   'x-ms-date:Tue, 24 Nov 2026 12:00:00 GMT\nx-ms-meta-owner:alice\n'\
 *   'x-ms-version:2021-08-06\n/devstoreaccount1/devstoreaccount1/cont/dir/a.txt\n'\
 *   'blockid:YmxvY2s+MDE=\ncomp:block' |
 *   openssl dgst -sha256 -mac HMAC \
 *	-macopt hexkey:$(printf %s "$KEY" | base64 -d | xxd -p -c 256) -binary | base64
 *
 * gives U+fdtJAirlb/sNTWZAXNPLmLA5cYQR9J3J5IDzc1hZw=; the GET below, the
 * same way, WFrcf6JscI96Va3ZJsWYCIiqeBnsEZPAh4GfmQIaGPE=.
 */
#include <errno.h>
#include <string.h>

#include "../../backend/azure.h"
#include "unit.h"

#define AZURITE_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static unsigned char key[128];
static int keylen;

static void key_decodes(void)
{
	unsigned char small[8];

	keylen = azure_b64_decode(" " AZURITE_KEY "\n", key, sizeof(key));
	CHECK(keylen == 64);
	CHECK(key[0] == 0x11 && key[63] == 0x1b);
	CHECK(azure_b64_decode("not base64!", key + 64, sizeof(key) - 64) == -EINVAL);
	CHECK(azure_b64_decode("", small, sizeof(small)) == -EINVAL);
	CHECK(azure_b64_decode(AZURITE_KEY, small, sizeof(small)) == -EINVAL);
	CHECK(azure_b64_decode("YWJj", small, sizeof(small)) == 3);
	CHECK(azure_b64_decode("YWI=", small, sizeof(small)) == 2);
}

/* Put Block: headers in any order and case, a value with spaces around it,
 * parameters unsorted, a decoded value with '+' and '='. */
static void put_block_signature(void)
{
	const struct azure_hdr h[] = {
		{ "x-ms-version", "2021-08-06" },
		{ "Content-MD5", "XUFAKrxLKna5cZ2REBfFkg==" },
		{ "X-Ms-Meta-Owner", "  alice " },
		{ "x-ms-date", "Tue, 24 Nov 2026 12:00:00 GMT" },
		{ "accept", "*/*" },
	};
	const struct azure_param p[] = { { "comp", "block" }, { "blockid", "YmxvY2s+MDE=" } };
	struct azure_sign_req r = {
		.method = "PUT", .account = "devstoreaccount1",
		.path = "/devstoreaccount1/cont/dir/a.txt", .params = p, .nparams = 2,
		.headers = h, .nheaders = 5, .content_length = 5,
	};
	char auth[256];

	CHECK(keylen == 64);
	CHECK(azure_sign(&r, key, (size_t)keylen, auth, sizeof(auth)) == 0);
	CHECK_STR(auth, "SharedKey devstoreaccount1:U+fdtJAirlb/sNTWZAXNPLmLA5cYQR9J3J5IDzc1hZw=");
}

/* Get Block List: no body, so an empty Content-Length line. */
static void get_block_list_signature(void)
{
	const struct azure_hdr h[] = {
		{ "x-ms-date", "Tue, 24 Nov 2026 12:00:00 GMT" },
		{ "x-ms-version", "2021-08-06" },
	};
	const struct azure_param p[] = { { "comp", "blocklist" }, { "blocklisttype", "uncommitted" } };
	struct azure_sign_req r = {
		.method = "GET", .account = "devstoreaccount1", .path = "/devstoreaccount1/cont/big",
		.params = p, .nparams = 2, .headers = h, .nheaders = 2,
	};
	char auth[256];

	CHECK(azure_sign(&r, key, (size_t)keylen, auth, sizeof(auth)) == 0);
	CHECK_STR(auth, "SharedKey devstoreaccount1:WFrcf6JscI96Va3ZJsWYCIiqeBnsEZPAh4GfmQIaGPE=");
	CHECK(azure_sign(&r, key, (size_t)keylen, auth, 20) == -ENAMETOOLONG);
}

static void string_to_sign_layout(void)
{
	const struct azure_hdr h[] = { { "Range", "bytes=0-9" }, { "x-ms-b", "2" }, { "x-ms-a", "1" } };
	struct azure_sign_req r = {
		.method = "GET", .account = "acct", .path = "/c/k", .headers = h, .nheaders = 3,
	};
	struct buf b;

	buf_init(&b);
	CHECK(azure_string_to_sign(&r, &b) == 0);
	buf_add(&b, "", 1);
	CHECK_STR(b.p, "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-9\nx-ms-a:1\nx-ms-b:2\n/acct/c/k");
	buf_free(&b);
}

int main(void)
{
	RUN(key_decodes);
	RUN(put_block_signature);
	RUN(get_block_list_signature);
	RUN(string_to_sign_layout);
	return unit_done();
}
