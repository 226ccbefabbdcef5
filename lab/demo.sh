#!/usr/bin/env bash
# `make demo`: the SEV1 database story on the local lab, as far as the collection goes today.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
INVENTORY=.lab/inventory.yml
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Start the lab (PostgreSQL, PgBouncer, Redis, Docker on loopback)"
"$BIN/python" -m lab up

say "2. Inject the incident: a leaking API holds every connection the app role may use"
"$BIN/python" -m lab inject pg-pool-exhausted
if ! "$BIN/python" -m lab check pg-pool-exhausted >/dev/null; then
  echo "demo: the incident did not take hold" >&2; exit 1
fi
"$BIN/python" - <<'PY'
import psycopg2, json
state = json.load(open('.lab/state.json'))['postgres']
try:
    psycopg2.connect(host='127.0.0.1', port=state['port'], user='linkflow', dbname='linkflow',
                     password=state['apps']['linkflow'], connect_timeout=5)
except psycopg2.OperationalError as exc:
    print('   the application now sees: %s' % str(exc).strip().splitlines()[-1])
PY

say "3. Triage in check mode, as an audit would (ansible-playbook playbooks/triage.yml --check --diff)"
"$BIN/ansible-playbook" -i "$INVENTORY" playbooks/triage.yml --check --diff

say "4. Triage for real (diagnostics change nothing, so the result is the same)"
"$BIN/ansible-playbook" -i "$INVENTORY" playbooks/triage.yml

say "5. Clear the incident (the runbook's own fix, pg_idle_kill, is the next step of the roadmap)"
"$BIN/python" -m lab clear pg-pool-exhausted
"$BIN/python" -m lab status
echo
echo "Try it yourself:  .venv/bin/python -m lab inject pg-pool-exhausted"
echo "                  .venv/bin/ansible-playbook -i $INVENTORY playbooks/triage.yml"
echo "Stop the lab:     make lab-down"
