# Fuzzers: builds tests/fuzz/fuzz_* with clang (libFuzzer, ASan, UBSan) and
# runs each for FUZZ_SECONDS (default 20) from its seed corpus.  Any crash,
# leak, sanitizer report or hang (over 10 s for one input) is a FAIL, with the
# input saved under $TESTS_TMP.  Without clang or libFuzzer: SKIP, loudly.
set -u
cd "$(dirname "$0")/../.."
: "${TESTS_TMP:=$(mktemp -d /tmp/flowfs-test.XXXXXX)}"
secs=${FUZZ_SECONDS:-20}
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1: $2"; }
skip() { echo "SKIP - $1: $2"; }

if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
	skip fuzz "no clang here (apt-get install clang libclang-rt-14-dev): fuzzers not run"
	exit 0
fi
probe=$TESTS_TMP/probe
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' > "$probe.c"
if ! "${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined -o "$probe" "$probe.c" 2>/dev/null; then
	skip fuzz "clang cannot link libFuzzer with ASan/UBSan (install libclang-rt-14-dev): fuzzers not run"
	exit 0
fi
if ! out=$(make --no-print-directory fuzz-build 2>&1); then
	fail fuzz_build "$(tail -n 5 <<<"$out")"
	exit 0
fi
for f in tests/fuzz/fuzz_*; do
	case $f in *.c) continue ;; esac
	n=$(basename "$f")
	work=$TESTS_TMP/$n
	mkdir -p "$work/corpus"
	"$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/" "$work/corpus" "tests/fuzz/corpus/$n" > "$work/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	if [ $rc = 0 ] && ! grep -qE 'Sanitizer|runtime error|ERROR: libFuzzer' "$work/log"; then
		ok "$n (${runs:-?} inputs in ${secs} s)"
	else
		fail "$n" "exit $rc; input kept in $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null | head -1)"
		grep -E 'ERROR|SUMMARY|runtime error|fuzz_' "$work/log" | head -n 8 | sed 's/^/    | /'
	fi
done
