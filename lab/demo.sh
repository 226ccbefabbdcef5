#!/usr/bin/env bash
# `make demo`: the SEV1 database story on the local lab. The pool is exhausted by a leaking client;
# the runbook runs in check mode (the exact plan, nothing changes), then for real (the incident is
# declared, the leaked sessions are terminated, the application connects again, the incident is
# resolved and reported). Each step's full output goes to .lab/demo-logs/<step>.log; this prints a
# short account and the runs' summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
INVENTORY=.lab/inventory.yml
LOGS=$PWD/.lab/demo-logs
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# Run a step with its whole output in $LOGS/<step>.log; on failure show the end of it.
step() {
  local name=$1; shift
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    tail -n 40 "$LOGS/$name.log" >&2
    die "step $name failed; full output in $LOGS/$name.log"
  fi
  echo "   (full output: .lab/demo-logs/$name.log)"
}

# The run summary of a run record (JSON): what was found, what was (or would be) done, the verdict.
summary() {
  "$BIN/python" - "$1" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
problems = [f for f in run['findings'] if f['status'] != 'ok']
print('   %s on %s, %s' % (run['runbook'], run['host'], 'check mode: nothing was changed' if run['mode'] == 'check' else 'for real'))
for finding in problems:
    print('     found  %-8s %s: %s' % (finding['status'].upper(), finding['component'], finding['message']))
for fix in run['fixes']:
    print('     fix    %s/%s on %s: %s; %s' % (fix['component'], fix['fix'], fix['target'], fix['decision'], fix['summary']))
if run['incident']:
    print('     incident %s (%s): %s' % (run['incident'], run['severity'], 'resolved, verified' if run['verified'] else 'still open'))
elif run['mode'] == 'check' and problems:
    print('     incident: would be declared (%s)' % run['severity'])
PY
}

rm -rf "$LOGS" && mkdir -p "$LOGS"
# Whatever happens, the leaking client does not outlive the demo.
INJECTED=
cleanup() { if [ -n "$INJECTED" ]; then "$BIN/python" -m lab clear pg-pool-exhausted >>"$LOGS/8-clear.log" 2>&1 || true; fi; }
trap cleanup EXIT
# The demo keeps its incidents and reports apart from the lab's, so that it can run again and
# again (the fix circuit breaker allows 3 runs of a fix on a target per hour and store).
REPORTS=$LOGS/reports
DEMO_VARS=(-e "incident_store_path=$LOGS/incidents" -e "incident_report_dir=$REPORTS")
# The leaked sessions are seconds old; the seed's 10 minutes of idleness would never qualify them.
DEMO_VARS+=(-e postgres_idle_older_than=3s)

say "1. Start the lab (PostgreSQL, PgBouncer, Redis, Docker on loopback)"
step 1-lab-up "$BIN/python" -m lab up

say "2. The incident: a leaking API holds every connection the application role may use"
INJECTED=1
step 2-inject "$BIN/python" -m lab inject pg-pool-exhausted
"$BIN/python" -m lab check pg-pool-exhausted >/dev/null || die "the incident did not take hold"
"$BIN/python" - <<'PY'
import json
import psycopg2
state = json.load(open('.lab/state.json'))['postgres']
try:
    psycopg2.connect(host='127.0.0.1', port=state['port'], user='linkflow', dbname='linkflow',
                     password=state['apps']['linkflow'], connect_timeout=5).close()
    print('   the application still connects (unexpected)')
except psycopg2.OperationalError as exc:
    print('   the application now sees: %s' % str(exc).strip().splitlines()[-1])
PY
sleep 4

say "3. The audit's view: ansible-playbook playbooks/sev1-db.yml --check --diff"
step 3-check "$BIN/ansible-playbook" -i "$INVENTORY" playbooks/sev1-db.yml --check --diff "${DEMO_VARS[@]}"
summary "$REPORTS/sev1-db-localhost-check.json"
"$BIN/python" -m lab check pg-pool-exhausted >/dev/null || die "check mode changed something: the incident is gone"
echo "   the lab still sees the incident: check mode changed nothing"

say "4. The runbook for real: ansible-playbook playbooks/sev1-db.yml"
step 4-run "$BIN/ansible-playbook" -i "$INVENTORY" playbooks/sev1-db.yml "${DEMO_VARS[@]}"
summary "$REPORTS/sev1-db-localhost-run.json"

say "5. The lab's own verdict"
if "$BIN/python" -m lab check pg-pool-exhausted >/dev/null; then
  die "the pool is still exhausted"
fi
echo "   pg-pool-exhausted: gone, the application connects again"

say "6. What the runbook left behind"
INCIDENT=$("$BIN/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["incident"])' "$REPORTS/sev1-db-localhost-run.json")
echo "   run records:      .lab/demo-logs/reports/sev1-db-localhost-check.md and sev1-db-localhost-run.md (and .json)"
if [ -n "$INCIDENT" ] && [ -f "$REPORTS/$INCIDENT.md" ]; then
  echo "   incident report:  .lab/demo-logs/reports/$INCIDENT.md"
fi
echo "   incident record:  .lab/demo-logs/incidents/"

say "7. The audit of every runbook, now that the platform is healthy: playbooks/audit.yml --check"
step 7-audit "$BIN/ansible-playbook" -i "$INVENTORY" playbooks/audit.yml --check "${DEMO_VARS[@]}"
"$BIN/python" - "$REPORTS/audit-localhost.json" <<'PY'
import json, sys
audit = json.load(open(sys.argv[1]))
for record in audit['runbooks']:
    print('   %-17s %-8s %d fix(es) it would run' % (record['runbook'], record['status'].upper(), len(record['fixes'])))
PY
echo "   audit report:     .lab/demo-logs/reports/audit-localhost.md"

say "8. Tidy up the leaking client (the lab's stand-in for the application)"
step 8-clear "$BIN/python" -m lab clear pg-pool-exhausted
INJECTED=
echo
echo "Try it yourself:  .venv/bin/python -m lab inject pg-pool-exhausted"
echo "                  .venv/bin/ansible-playbook -i $INVENTORY playbooks/sev1-db.yml --check --diff -e postgres_idle_older_than=5s"
echo "                  .venv/bin/ansible-playbook -i $INVENTORY playbooks/sev1-db.yml -e postgres_idle_older_than=5s"
echo "Stop the lab:     make lab-down"
