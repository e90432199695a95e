#!/usr/bin/env bash
# testreport.sh: the table `make test` ends with: what ran where, with pass
# and fail counts and times, and one closing "N passed, N failed" line.
#
#   testreport.sh reset                 forget the rows of an earlier run
#   testreport.sh add WHERE WHAT PASSED FAILED SECONDS
#                                       one row (the VM and cross scripts add
#                                       their own)
#   testreport.sh gotest WHERE WHAT -- GO-TEST-ARGS...
#                                       run go test -v with the arguments, keep
#                                       its output in build/test-report/, show
#                                       the package lines and any failure, and
#                                       add a row counting tests and subtests
#   testreport.sh print                 the table; exits 1 when a row failed
#                                       or none was added
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/test-report
rows=$dir/rows.tsv

add() {
	mkdir -p "$dir"
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$rows"
}

case ${1:-} in
reset)
	rm -rf "$dir"
	mkdir -p "$dir"
	;;
add)
	[[ $# -eq 6 ]] || { echo "usage: testreport.sh add WHERE WHAT PASSED FAILED SECONDS" >&2; exit 2; }
	add "$2" "$3" "$4" "$5" "$6"
	;;
gotest)
	[[ $# -ge 4 && $4 == -- ]] || { echo "usage: testreport.sh gotest WHERE WHAT -- GO-TEST-ARGS..." >&2; exit 2; }
	where=$2 what=$3
	shift 4
	mkdir -p "$dir"
	log=$dir/$(printf '%s-%s' "$where" "$what" | tr -c 'A-Za-z0-9._-' '_').log
	start=$SECONDS
	rc=0
	go test -v "$@" >"$log" 2>&1 || rc=$?
	passed=$(grep -cE '^[[:space:]]*--- PASS: ' "$log" || true)
	failed=$(grep -cE '^[[:space:]]*--- FAIL: ' "$log" || true)
	grep -E '^(ok|FAIL|---|panic:|# )|^[[:space:]]+--- FAIL: ' "$log" || true
	if [[ $rc -ne 0 ]]; then
		echo "== go test $* failed (exit $rc); its whole output, $log:"
		cat "$log"
		[[ $failed -eq 0 ]] && failed=1
	fi
	add "$where" "$what" "$passed" "$failed" $((SECONDS - start))
	exit "$rc"
	;;
print)
	[[ -s $rows ]] || { echo "testreport: no results in $rows" >&2; exit 1; }
	echo
	echo "| where | what | passed | failed | time |"
	echo "|---|---|---|---|---|"
	awk -F'\t' '{ printf "| %s | %s | %d | %d | %d s |\n", $1, $2, $3, $4, $5; p += $3; f += $4; s += $5 }
		END { printf "| all | | %d | %d | %d s |\n\n%d passed, %d failed\n", p, f, s, p, f; exit (f > 0) }' "$rows"
	;;
*)
	echo "usage: testreport.sh reset|add|gotest|print ..." >&2
	exit 2
	;;
esac
