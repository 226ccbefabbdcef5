#!/usr/bin/env bash
# `make demo`: the SEV1 database story on the local lab: pool exhausted, the runbook in check
# mode (nothing changes), then for real (the application connects again).
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

# The leaked sessions are seconds old; the runbook's default waits for 10 minutes of idleness.
OLDER_THAN=(-e sev1_db_idle_older_than=3s)
sleep 4

say "3. The audit's view: ansible-playbook playbooks/sev1-db.yml --check --diff (changes nothing)"
"$BIN/ansible-playbook" -i "$INVENTORY" playbooks/sev1-db.yml --check --diff "${OLDER_THAN[@]}"
if ! "$BIN/python" -m lab check pg-pool-exhausted >/dev/null; then
  echo "demo: check mode changed something: the incident is gone" >&2; exit 1
fi

say "4. The runbook for real: ansible-playbook playbooks/sev1-db.yml"
"$BIN/ansible-playbook" -i "$INVENTORY" playbooks/sev1-db.yml "${OLDER_THAN[@]}"

say "5. The lab's own verdict"
if "$BIN/python" -m lab check pg-pool-exhausted; then
  echo "demo: the pool is still exhausted" >&2; exit 1
fi

say "6. Tidy up the leaking client (the lab's stand-in for the application)"
"$BIN/python" -m lab clear pg-pool-exhausted
"$BIN/python" -m lab status
echo
echo "Try it yourself:  .venv/bin/python -m lab inject pg-pool-exhausted"
echo "                  .venv/bin/ansible-playbook -i $INVENTORY playbooks/triage.yml"
echo "                  .venv/bin/ansible-playbook -i $INVENTORY playbooks/sev1-db.yml --check --diff -e sev1_db_idle_older_than=5s"
echo "Stop the lab:     make lab-down"
