#!/bin/bash
# abi-compare.sh - compares, mechanically, what a program compiled against
# another <sys/event.h> (libkqueue 2.x's) puts into its binary with what
# this project's header means by the same names: every integer macro's
# value and type, the size, alignment and member layout of each struct,
# and each function's prototype.  tools/test-abi.sh (make abi-check) runs
# it; README, "Binary compatibility with libkqueue 2.x", has the result.
#
#   abi-compare.sh dump INCDIR
#       The facts of INCDIR/sys/event.h, one per line (tab-separated):
#         macro NAME VALUE TYPE    an object-like macro that is an integer
#                                  constant (VALUE decimal, TYPE from _Generic)
#         macro NAME - nonint      an object-like macro that is not
#         fmacro NAME              a function-like macro (EV_SET)
#         struct TAG size N align N
#         member TAG FIELD offset N size N type T
#         func NAME PROTOTYPE      as gcc -aux-info prints it
#       The names are those #defined / declared in the files under INCDIR
#       (gcc -E -dD tells which file each definition comes from; a name
#       #undef'd again is left out), not those of the system headers.
#
#   abi-compare.sh probe FACTS INCDIR
#       The same facts for the names FACTS lists, as INCDIR's header has
#       them ("macro NAME - undefined", "struct TAG missing", ... where it
#       lacks one).
#
#   abi-compare.sh compare FACTS INCDIR
#       FACTS (theirs: a dump, or a recorded file tools/abi/*.facts) against
#       INCDIR's header (ours: include/): one line per name, "same",
#       "DIFFERS" or "ONLY-THEIRS", then a summary.  Exit 0 if nothing
#       differs (a program built against theirs means the same here), 1 if
#       something differs, 2 on an error.
#
# Lines of FACTS starting with '#' are comments.  CC (default cc) compiles
# the probes: C11, -Wall -Wextra -Werror.
set -eu

CC=${CC:-cc}
CFLAGS_PROBE=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/abi-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

die() {
	echo "abi-compare: $*" >&2
	exit 2
}

# header_of INCDIR: the header's path, checked.
header_of() {
	[ -r "$1/sys/event.h" ] || die "no $1/sys/event.h"
	(cd "$1" && pwd)
}

# --- discovery (dump) -------------------------------------------------------

# defined_names INCDIR: "obj NAME" / "fn NAME" for each macro defined in a
# file under INCDIR and still defined at the end of the header.
defined_names() {
	local inc=$1
	printf '#include <sys/event.h>\n' > "$tmp/d.c"
	"$CC" "${CFLAGS_PROBE[@]}" -I "$inc" -E -dD "$tmp/d.c" > "$tmp/dD.txt"
	"$CC" "${CFLAGS_PROBE[@]}" -I "$inc" -E -dM "$tmp/d.c" > "$tmp/dM.txt"
	# Which file each #define came from: the last line marker before it.
	awk -v inc="$inc/" '
		/^# [0-9]+ "/ {
			f = $3; gsub(/"/, "", f)
			mine = (index(f, inc) == 1)
			next
		}
		mine && /^#define / {
			n = $2; fn = (n ~ /\(/); sub(/\(.*/, "", n)
			print (fn ? "fn" : "obj"), n
		}' "$tmp/dD.txt" | sort -u -k2,2 > "$tmp/mine.txt"
	# Still defined at the end (not #undef'd), with a non-empty body
	# (include guards are empty).
	awk 'NR == FNR { kind[$2] = $1; next }
		/^#define / {
			n = $2; sub(/\(.*/, "", n)
			if (!(n in kind)) next
			body = $0; sub(/^#define [^ ]+ ?/, "", body)
			if (kind[n] == "obj" && body == "") next
			print kind[n], n
		}' "$tmp/mine.txt" "$tmp/dM.txt" | sort -k2,2
}

# structs INCDIR: "TAG FIELD..." for each struct defined (with a body) in
# a file under INCDIR.  Members are simple declarations (the last
# identifier of each, array bounds and bit-fields dropped; function
# pointers by their (*name)); nested struct bodies are not supported.
structs() {
	local inc=$1
	awk -v inc="$inc/" '
		/^# [0-9]+ "/ {
			f = $3; gsub(/"/, "", f); mine = (index(f, inc) == 1); next
		}
		mine { printf "%s ", $0 }' "$tmp/E.txt" |
	awk '{
		s = $0
		while (match(s, /struct[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\{[^}]*\}/)) {
			d = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
			tag = d; sub(/^struct[ \t]+/, "", tag); sub(/[ \t]*\{.*/, "", tag)
			body = d; sub(/^[^{]*\{/, "", body); sub(/\}$/, "", body)
			out = tag
			n = split(body, m, ";")
			for (i = 1; i <= n; i++) {
				x = m[i]
				if (x ~ /^[ \t]*$/) continue
				if (match(x, /\(\*[ \t]*[A-Za-z_][A-Za-z0-9_]*/)) {
					f = substr(x, RSTART + 2, RLENGTH - 2); gsub(/[ \t]/, "", f)
				} else {
					sub(/:[^:]*$/, "", x); gsub(/\[[^]]*\]/, "", x)
					sub(/[ \t]+$/, "", x)
					f = x; sub(/.*[^A-Za-z0-9_]/, "", f)
				}
				out = out " " f
			}
			print out
		}
	}'
}

# functions INCDIR: "NAME<TAB>PROTOTYPE" for each function declared in a
# file under INCDIR (gcc -aux-info).
functions() {
	local inc=$1
	"$CC" "${CFLAGS_PROBE[@]}" -I "$inc" -aux-info "$tmp/aux.txt" \
		-c "$tmp/d.c" -o /dev/null
	awk -v inc="$inc/" '
		/^\/\* / {
			f = $2; sub(/:[0-9]+:.*/, "", f)
			if (index(f, inc) != 1) next
			p = $0; sub(/^\/\*[^*]*\*\/ */, "", p); sub(/;$/, "", p)
			n = p; sub(/ *\(.*/, "", n); sub(/.* /, "", n)
			print n "\t" p
		}' "$tmp/aux.txt" | sort -u
}

# --- probes -----------------------------------------------------------------

# The C program: one printf per fact, from $tmp/lines.txt (one statement a
# line), compiled against INCDIR.  A statement that does not compile (a
# macro that is not an integer constant, a missing struct member) is found
# by compiling the statements one by one and is replaced by its fallback
# ($tmp/fallback.txt, same line number).
write_probe() {
	local out=$1 from=$2
	{
		printf '%s\n' '#include <stddef.h>' '#include <stdio.h>' \
			'#include <sys/event.h>' \
			'#define T(x) _Generic((x), char: "char", signed char: "signed char", \' \
			'	unsigned char: "unsigned char", short: "short", \' \
			'	unsigned short: "unsigned short", int: "int", \' \
			'	unsigned int: "unsigned int", long: "long", \' \
			'	unsigned long: "unsigned long", long long: "long long", \' \
			'	unsigned long long: "unsigned long long", void *: "void *", \' \
			'	default: "other")' \
			'int main(void)' '{'
		cat "$from"
		printf '%s\n' '	return 0;' '}'
	} > "$out"
}

run_probe() {
	local inc=$1 n i
	write_probe "$tmp/probe.c" "$tmp/lines.txt"
	if ! "$CC" "${CFLAGS_PROBE[@]}" -I "$inc" "$tmp/probe.c" \
		-o "$tmp/probe" 2> "$tmp/cc.err"; then
		n=$(wc -l < "$tmp/lines.txt")
		: > "$tmp/lines2.txt"
		for ((i = 1; i <= n; i++)); do
			sed -n "${i}p" "$tmp/lines.txt" > "$tmp/one.txt"
			write_probe "$tmp/one.c" "$tmp/one.txt"
			if "$CC" "${CFLAGS_PROBE[@]}" -I "$inc" -fsyntax-only \
				"$tmp/one.c" 2> /dev/null; then
				cat "$tmp/one.txt"
			else
				sed -n "${i}p" "$tmp/fallback.txt"
			fi >> "$tmp/lines2.txt"
		done
		write_probe "$tmp/probe.c" "$tmp/lines2.txt"
		"$CC" "${CFLAGS_PROBE[@]}" -I "$inc" "$tmp/probe.c" \
			-o "$tmp/probe" || die "probe does not compile against $inc"
	fi
	"$tmp/probe"
}

# add_line STATEMENT FALLBACK
add_line() {
	printf '\t%s\n' "$1" >> "$tmp/lines.txt"
	printf '\t%s\n' "$2" >> "$tmp/fallback.txt"
}

# probe_facts NAMESFILE INCDIR: NAMESFILE has "macro NAME", "fmacro NAME",
# "struct TAG FIELD..." and "func NAME" lines.
probe_facts() {
	local names=$1 inc=$2 kind n rest f
	: > "$tmp/lines.txt"
	: > "$tmp/fallback.txt"
	while read -r kind n rest; do
		case $kind in
		macro)
			add_line "#ifdef $n" "#ifdef $n"
			add_line "printf(\"macro\\t%s\\t%lld\\t%s\\n\", \"$n\", (long long)($n), T($n));" \
				"printf(\"macro\\t%s\\t-\\tnonint\\n\", \"$n\");"
			add_line "#else" "#else"
			add_line "printf(\"macro\\t%s\\t-\\tundefined\\n\", \"$n\");" \
				"printf(\"macro\\t%s\\t-\\tundefined\\n\", \"$n\");"
			add_line "#endif" "#endif"
			;;
		fmacro)
			add_line "#ifdef $n" "#ifdef $n"
			add_line "printf(\"fmacro\\t%s\\n\", \"$n\");" "printf(\"fmacro\\t%s\\n\", \"$n\");"
			add_line "#else" "#else"
			add_line "printf(\"fmacro\\t%s\\tundefined\\n\", \"$n\");" \
				"printf(\"fmacro\\t%s\\tundefined\\n\", \"$n\");"
			add_line "#endif" "#endif"
			;;
		struct)
			add_line "printf(\"struct\\t%s\\tsize\\t%zu\\talign\\t%zu\\n\", \"$n\", sizeof(struct $n), _Alignof(struct $n));" \
				"printf(\"struct\\t%s\\tmissing\\n\", \"$n\");"
			for f in $rest; do
				add_line "printf(\"member\\t%s\\t%s\\toffset\\t%zu\\tsize\\t%zu\\ttype\\t%s\\n\", \"$n\", \"$f\", offsetof(struct $n, $f), sizeof(((struct $n *)0)->$f), T(((struct $n *)0)->$f));" \
					"printf(\"member\\t%s\\t%s\\tmissing\\n\", \"$n\", \"$f\");"
			done
			;;
		esac
	done < "$names"
	run_probe "$inc"
	# Functions: the prototypes as the compiler sees them.
	printf '#include <sys/event.h>\n' > "$tmp/d.c"
	functions "$inc" > "$tmp/funcs.txt"
	while read -r kind n rest; do
		[ "$kind" = func ] || continue
		p=$(awk -F '\t' -v n="$n" '$1 == n { print $2 }' "$tmp/funcs.txt")
		printf 'func\t%s\t%s\n' "$n" "${p:-undeclared}"
	done < "$names"
}

# names_of_facts FACTS: the NAMESFILE lines for the names a facts file has.
names_of_facts() {
	awk -F '\t' '
		/^#/ || NF == 0 { next }
		$1 == "macro" { print "macro", $2 }
		$1 == "fmacro" { print "fmacro", $2 }
		$1 == "struct" { order[++ns] = $2; fields[$2] = "" }
		$1 == "member" { fields[$2] = fields[$2] " " $3 }
		$1 == "func" { print "func", $2 }
		END { for (i = 1; i <= ns; i++) print "struct", order[i] fields[order[i]] }'
}

cmd_dump() {
	local inc
	inc=$(header_of "$1")
	printf '#include <sys/event.h>\n' > "$tmp/d.c"
	defined_names "$inc" | awk '{ print ($1 == "fn" ? "fmacro" : "macro"), $2 }' \
		> "$tmp/names.txt"
	"$CC" "${CFLAGS_PROBE[@]}" -I "$inc" -E "$tmp/d.c" > "$tmp/E.txt"
	structs "$inc" | sed 's/^/struct /' >> "$tmp/names.txt"
	functions "$inc" | cut -f1 | sed 's/^/func /' >> "$tmp/names.txt"
	probe_facts "$tmp/names.txt" "$inc"
}

cmd_probe() {
	local facts=$1 inc
	inc=$(header_of "$2")
	names_of_facts < "$facts" > "$tmp/names.txt"
	probe_facts "$tmp/names.txt" "$inc"
}

# hexval V: V in hex if it is a non-negative number, else as it is.
hexval() {
	case $1 in
	-*|*[!0-9]*|'') printf '%s' "$1" ;;
	*) printf '0x%x' "$1" ;;
	esac
}

cmd_compare() {
	local facts=$1 inc
	inc=$(header_of "$2")
	grep -v '^#' "$facts" | grep -v '^$' > "$tmp/theirs.txt" || true
	[ -s "$tmp/theirs.txt" ] || die "$facts has no facts"
	names_of_facts < "$tmp/theirs.txt" > "$tmp/names.txt"
	probe_facts "$tmp/names.txt" "$inc" > "$tmp/ours.txt"
	# Key each fact by its kind and name(s); compare the rest.
	awk -F '\t' -v OFS='\t' '
		function key() {
			if ($1 == "member") return $1 " " $2 "." $3
			return $1 " " $2
		}
		function rest(   r, i, s) {
			s = ($1 == "member") ? 4 : 3
			r = ""
			for (i = s; i <= NF; i++) r = r (r == "" ? "" : " ") $i
			return r
		}
		NR == FNR { ours[key()] = rest(); next }
		{ print key(), rest(), ours[key()] }' \
		"$tmp/ours.txt" "$tmp/theirs.txt" > "$tmp/pairs.txt"
	local same=0 differ=0 only=0 k t o kind name tv ov
	while IFS=$'\t' read -r k t o; do
		kind=${k%% *}
		name=${k#* }
		case $kind in
		macro)
			tv=${t%% *}; ov=${o%% *}
			if [ "${o#* }" = undefined ]; then
				echo "ONLY-THEIRS  $name = $(hexval "$tv") (${t#* })"
				only=$((only + 1))
			elif [ "$t" = "$o" ]; then
				echo "same         $name = $(hexval "$tv") (${t#* })"
				same=$((same + 1))
			else
				echo "DIFFERS      $name: theirs $(hexval "$tv") (${t#* }), ours $(hexval "$ov") (${o#* })"
				differ=$((differ + 1))
			fi
			;;
		fmacro)
			if [ "$o" = undefined ]; then
				echo "ONLY-THEIRS  $name(...) (function-like macro)"
				only=$((only + 1))
			else
				echo "same         $name(...) (function-like macro, both define it)"
				same=$((same + 1))
			fi
			;;
		*)
			if [ "$o" = missing ] || [ "$o" = undeclared ]; then
				echo "ONLY-THEIRS  $kind $name: $t"
				only=$((only + 1))
			elif [ "$t" = "$o" ]; then
				echo "same         $kind $name: $t"
				same=$((same + 1))
			else
				echo "DIFFERS      $kind $name: theirs $t; ours $o"
				differ=$((differ + 1))
			fi
			;;
		esac
	done < "$tmp/pairs.txt"
	echo "abi-compare: $same same, $differ differ, $only only in theirs"
	if [ "$differ" = 0 ]; then
		echo "abi-compare: verdict: every shared name means the same (binary drop-in, as far as the header goes)"
		return 0
	fi
	echo "abi-compare: verdict: NOT a binary drop-in ($differ names differ)"
	return 1
}

case ${1:-} in
dump)
	[ $# = 2 ] || die "usage: $0 dump INCDIR"
	cmd_dump "$2" ;;
probe)
	[ $# = 3 ] || die "usage: $0 probe FACTS INCDIR"
	cmd_probe "$2" "$3" ;;
compare)
	[ $# = 3 ] || die "usage: $0 compare FACTS INCDIR"
	cmd_compare "$2" "$3" ;;
*)
	die "usage: $0 dump INCDIR | probe FACTS INCDIR | compare FACTS INCDIR" ;;
esac
