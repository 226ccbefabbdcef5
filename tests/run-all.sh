#!/usr/bin/env bash
# Runs the suites of `make test` (all, or those named), each with its own summary line,
# then one table and a total. Exits non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=$REPO/.venv/bin
# molecule and the tests call ansible-playbook and friends by name.
export PATH="$BIN:$PATH"
LOGS=$REPO/.build/logs
STAGE=$REPO/.build/ansible-test/ansible_collections/oncall/runbooks
mkdir -p "$LOGS"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(sanity units integration molecule lint)

declare -A PASSED FAILED STATUS

# ansible-test wants the collection at ansible_collections/NAMESPACE/NAME: stage a copy
# of exactly what git would ship (tracked files and new files not ignored).
stage_collection() {
  rm -rf "$STAGE" && mkdir -p "$STAGE"
  if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z --cached --others --exclude-standard \
      | (cd "$REPO" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) \
      | tar -C "$REPO" --null -T - -cf - | tar -C "$STAGE" -xf -
  else
    tar -C "$REPO" --exclude=./.venv --exclude=./.lab --exclude=./.build --exclude=./.git -cf - . | tar -C "$STAGE" -xf -
  fi
  # A repository of its own: otherwise ansible-test asks the enclosing checkout, which ignores .build/.
  git -C "$STAGE" init -q && git -C "$STAGE" add -A
}

run_sanity() {
  stage_collection
  (cd "$STAGE" && "$BIN/ansible-test" sanity --python 3.11 --color no) 2>&1 | tee "$LOGS/sanity.log"
  local rc=${PIPESTATUS[0]}
  local total failed
  total=$(grep -c '^Running sanity test "' "$LOGS/sanity.log")
  failed=$(sed -n 's/^[A-Z]*: The \([0-9]*\) sanity test(s) listed below.*/\1/p' "$LOGS/sanity.log" | tail -1)
  failed=${failed:-0}
  [ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
  [ "$total" -gt 0 ] || failed=1
  echo "sanity: $((total - failed)) passed, $failed failed"
  record sanity $((total - failed)) "$failed" "$rc"
}

run_units() {
  stage_collection
  (cd "$STAGE" && "$BIN/ansible-test" units --python 3.11 --color no) 2>&1 | tee "$LOGS/units.log"
  record_pytest units "${PIPESTATUS[0]}" "$LOGS/units.log"
}

run_integration() {
  "$BIN/python" -m lab up || { record integration 0 1 1; return; }
  "$BIN/python" -m pytest tests/integration -p no:cacheprovider \
    -c tests/integration/pytest.ini --rootdir tests/integration 2>&1 | tee "$LOGS/integration.log"
  record_pytest integration "${PIPESTATUS[0]}" "$LOGS/integration.log"
}

# Every playbook's molecule scenario against the lab, one at a time (they share it): inject, --check,
# real run, idempotence, the lab's own verdict. A scenario's log: .build/logs/molecule-<name>.log.
run_molecule() {
  "$BIN/python" -m lab up || { record molecule 0 1 1; return; }
  local passed=0 failed=0 dir name
  for dir in "$REPO"/extensions/molecule/*/; do
    name=$(basename "$dir")
    [ -f "$dir/molecule.yml" ] || continue
    if (cd "$REPO" && "$BIN/molecule" test -s "$name") > "$LOGS/molecule-$name.log" 2>&1; then
      passed=$((passed + 1)); echo "molecule $name: passed"
    else
      failed=$((failed + 1)); echo "molecule $name: FAILED (log: .build/logs/molecule-$name.log)"
      tail -40 "$LOGS/molecule-$name.log"
    fi
  done 2>&1 | tee "$LOGS/molecule.log"
  passed=$(grep -c '^molecule .*: passed$' "$LOGS/molecule.log"); failed=$(grep -c '^molecule .*: FAILED (log' "$LOGS/molecule.log")
  [ "$passed" -gt 0 ] || failed=$((failed + 1))
  record molecule "$passed" "$failed" "$failed"
}

run_lint() {
  {
    "$BIN/ansible-lint" --profile production --offline --nocolor
    local lint_rc=$?
    echo "antsibull-changelog lint:"
    "$BIN/antsibull-changelog" lint && echo "changelog fragments ok"
    local changelog_rc=$?
    return $((lint_rc | changelog_rc))
  } 2>&1 | tee "$LOGS/lint.log"
  local rc=${PIPESTATUS[0]}
  local files
  files=$(sed -n 's/.* in \([0-9]*\) files processed.*/\1/p' "$LOGS/lint.log" | tail -1)
  if [ "$rc" -eq 0 ]; then record lint "${files:-0}" 0 0; else record lint 0 1 "$rc"; fi
}

# pytest's closing lines ("N passed[, N failed][, N error] in Xs"), summed: ansible-test units
# runs pytest once per kind of plugin.
record_pytest() {
  local name=$1 rc=$2 log=$3 lines passed failed errors
  lines=$(grep -E '^=*\s*[0-9]+ (passed|failed|error)' "$log")
  passed=$(grep -oE '[0-9]+ passed' <<<"$lines" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}'); passed=${passed:-0}
  failed=$(grep -oE '[0-9]+ failed' <<<"$lines" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}'); failed=${failed:-0}
  errors=$(grep -oE '[0-9]+ errors?' <<<"$lines" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}'); errors=${errors:-0}
  failed=$((failed + errors))
  # No tests collected, or a crash before the summary, is a failure too.
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  record "$name" "$passed" "$failed" "$rc"
}

record() {
  PASSED[$1]=$2; FAILED[$1]=$3
  if [ "$4" -eq 0 ] && [ "$3" -eq 0 ]; then STATUS[$1]=ok; else STATUS[$1]=FAILED; fi
}

for suite in "${suites[@]}"; do
  echo "===================================================== $suite"
  "run_$suite"
done

echo "===================================================== summary"
total_passed=0; total_failed=0; overall=0
for suite in "${suites[@]}"; do
  printf '%-12s %-7s %5s passed %5s failed   (log: .build/logs/%s.log)\n' \
    "$suite" "${STATUS[$suite]}" "${PASSED[$suite]}" "${FAILED[$suite]}" "$suite"
  total_passed=$((total_passed + PASSED[$suite])); total_failed=$((total_failed + FAILED[$suite]))
  [ "${STATUS[$suite]}" = ok ] || overall=1
done
echo "total: $total_passed passed, $total_failed failed"
exit $overall
