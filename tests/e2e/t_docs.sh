# The docs agree with the code: every config key and its default is in
# flowfs.ini(5); the man pages render; README opens with the two commands.
set -u
: "${FLOWFS:?}"
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $1: $2"; }

missing=
while IFS=$'\t' read -r sec key type def help; do
	if ! grep -A1 -x ".B $key" man/flowfs.ini.5 | grep -qF "(default: $([ "$def" = - ] && echo none || echo "$def"))"; then
		missing="$missing $sec/$key"
	fi
done < <("$FLOWFS" --config-keys)
[ -z "$missing" ] && ok docs_every_key_in_man || fail docs_every_key_in_man "not documented with their default:$missing"

n=$("$FLOWFS" --config-keys | wc -l)
[ "$n" -gt 15 ] && ok docs_config_keys_listed || fail docs_config_keys_listed "only $n keys"

out=$("$FLOWFS" --help) && grep -q 'CONFIG MOUNTPOINT' <<<"$out" && grep -q 'part_size' <<<"$out" &&
	ok docs_help || fail docs_help "$out"
"$FLOWFS" --version | grep -qE '^flowfs [0-9]+\.[0-9]+' && ok docs_version || fail docs_version "$("$FLOWFS" --version)"

if command -v man >/dev/null; then
	w=
	for m in man/*.[15]; do
		[ -n "$(MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null)" ] && w="$w $m"
	done
	[ -z "$w" ] && ok docs_man_pages_render || fail docs_man_pages_render "warnings in$w"
else
	echo "SKIP - docs_man_pages_render: man is not installed"
fi

first=$(grep -m2 -oE '^make (run|check)' README.md | tr '\n' ' ')
if [ "$first" = "make run make check " ] && grep -qx 'exec make check' .ci/run; then ok docs_readme_two_commands; else fail docs_readme_two_commands "README starts with '$first'"; fi

# A plain `make` in a fresh checkout compiles every object with the
# project's flags (pkg-config's include paths), not make's built-in rule.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	tree=$(mktemp -d)
	git ls-files -z | xargs -0 cp --parents -t "$tree"
	cc_lines=$(make -C "$tree" -n all 2>&1 | grep -E ' -c -o [^ ]+\.o ')
	bad=$(grep -v -- '-std=gnu11' <<<"$cc_lines" | head -n 2)
	if [ -n "$cc_lines" ] && [ -z "$bad" ]; then
		ok docs_fresh_checkout_make
	else
		fail docs_fresh_checkout_make "objects built without the project's flags: ${bad:-no compile lines}"
	fi
	rm -rf "$tree"
else
	echo "SKIP - docs_fresh_checkout_make: not a git checkout"
fi

# Every program the README's "Try it" block runs comes with `make run`: its
# Debian package is installed by install-deps.sh run, or is essential.
run_pkgs=" $(sh contrib/install-deps.sh list run) "
missing=
for p in $(sed -n '/^## Try it/,/^## /p' README.md | sed -n '/^```sh/,/^```/p' | grep -v '^```' | awk '{print $1}' | sort -u); do
	case $p in ./*) continue ;; esac
	bin=$(command -v "$p") || { missing="$missing $p(not found)"; continue; }
	case $bin in /*) ;; *) continue ;; esac	# a shell builtin
	pkg=
	for f in "$(readlink -f "$bin")" "$bin" "/bin/$p" "/usr/bin/$p"; do	# merged /usr
		pkg=$(dpkg -S "$f" 2>/dev/null | head -n 1 | cut -d: -f1)
		[ -n "$pkg" ] && break
	done
	[ "$(dpkg-query -W -f='${Essential}' "$pkg" 2>/dev/null)" = yes ] && continue
	case $run_pkgs in *" $pkg "*) ;; *) missing="$missing $p($pkg)" ;; esac
done
[ -z "$missing" ] && ok docs_make_run_installs_readme_programs ||
	fail docs_make_run_installs_readme_programs "not installed by make run:$missing"

# each sink type's --help says its own default endpoint
gcs=$("$FLOWFS" --help | sed -n '/type = gcs/,/^$/p' | grep ' endpoint ')
grep -q 'storage.googleapis.com' <<<"$gcs" && ! grep -q amazonaws <<<"$gcs" &&
	ok docs_help_gcs_endpoint || fail docs_help_gcs_endpoint "$gcs"
