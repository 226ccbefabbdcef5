# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident and incident_fix_guard through ansible-playbook: the directory store in tmp_path, the
PostgreSQL store in a fresh database of the lab's PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg2
import yaml
from lab.core import REPO

POLICY = yaml.safe_load((REPO / 'roles' / 'incident' / 'defaults' / 'main.yml').read_text())['incident_policy']


def task(name, module, args, **extra):
    entry = {'name': name, 'oncall.runbooks.' + module: args, 'register': name, 'ignore_errors': True}
    entry.update(extra)
    return entry


def dsn(lab, database, port=None, host=None):
    parts = (lab.vars['postgres_app_password'], host or lab.vars['postgres_login_host'], port or lab.vars['postgres_port'], database)
    return 'postgresql://linkflow:%s@%s:%s/%s' % parts


def ago(minutes):
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime('%Y-%m-%dT%H:%M:%SZ')


def test_declare_join_update_resolve_with_check_mode_and_idempotence(ansible, tmp_path):
    store = str(tmp_path / 'incidents')
    dry_store = str(tmp_path / 'dry-run')
    declare = dict(state='declared', dedup_key='linkflow/db', title='Connections exhausted', severity='p1', services=['linkflow/db'],
                   store_path=store)
    update = dict(state='updated', dedup_key='linkflow/db', status='identified', note='idle sessions hold the slots',
                  evidence={'activity': {'total': 97, 'idle': 60}}, store_path=store)
    outcome = ansible([
        task('dry_declare', 'incident', dict(declare, store_path=dry_store), check_mode=True),
        task('declare', 'incident', declare),
        task('declare_again', 'incident', dict(declare, title='another title', note='joined by a second runbook')),
        task('dry_update', 'incident', update, check_mode=True, diff=True),
        task('update', 'incident', update),
        task('update_again', 'incident', update),
        task('resolve_without_resolution', 'incident', dict(state='resolved', dedup_key='linkflow/db', store_path=store)),
        task('resolve', 'incident', dict(state='resolved', dedup_key='linkflow/db', resolution='terminated idle sessions', store_path=store)),
        task('resolve_again', 'incident', dict(state='resolved', id='{{ declare.incident.id }}', resolution='terminated idle sessions',
                                               store_path=store)),
    ])
    dry, first, second = outcome.result('dry_declare'), outcome.result('declare'), outcome.result('declare_again')
    assert dry['changed'] and dry['created'] and dry['incident']['id'] is None and dry['summary'].startswith('would declare')
    assert not (tmp_path / 'dry-run').exists()

    assert first['changed'] and first['created'] and not first.get('failed'), first
    incident_id = first['incident']['id']
    assert incident_id.startswith('INC-%s-' % datetime.now(timezone.utc).strftime('%Y%m%d'))
    assert first['incident']['severity'] == 'SEV1' and first['incident']['priority'] == 'P1'
    assert first['incident']['status'] == 'investigating' and first['incident']['started_at'].endswith('Z')

    # Joining keeps the fields; only the note is added.
    assert second['created'] is False and second['incident']['id'] == incident_id
    assert second['incident']['title'] == 'Connections exhausted' and second['changes'] == ['timeline']

    dry_update = outcome.result('dry_update')
    assert dry_update['changed'] and set(dry_update['changes']) >= {'status', 'evidence', 'timeline'}
    # --diff shows the status before and after (the diff is printed, not kept in the result).
    shown = outcome.stdout.split('TASK [dry_update]')[1].split('TASK [update]')[0]
    assert '-    status: investigating' in shown and '+    status: identified' in shown, shown
    updated = outcome.result('update')
    assert updated['changed'] and updated['incident']['status'] == 'identified'
    assert updated['incident']['evidence'][0]['name'] == 'activity' and updated['incident']['evidence'][0]['data'] == {'total': 97, 'idle': 60}
    assert outcome.result('update_again')['changed'] is False

    refused = outcome.result('resolve_without_resolution')
    assert refused['failed'] and refused['msg'].startswith('resolution: required to resolve %s' % incident_id) and '\n' not in refused['msg']
    resolved = outcome.result('resolve')
    assert resolved['changed'] and resolved['incident']['status'] == 'resolved' and resolved['incident']['resolved_at']
    assert resolved['next_update_at'] is None and resolved['escalations_due'] == []
    assert outcome.result('resolve_again')['changed'] is False

    files = sorted(path.name for path in (tmp_path / 'incidents').glob('*.json'))
    assert files == ['%s.json' % incident_id]
    record = json.loads((tmp_path / 'incidents' / files[0]).read_text())
    kinds = [(entry['kind'], entry['summary']) for entry in record['timeline']]
    assert kinds[0] == ('status', 'declared SEV1 Connections exhausted')
    assert ('note', 'joined by a second runbook') in kinds and ('evidence', 'evidence saved: activity') in kinds
    assert ('status', 'status identified -> resolved') in kinds
    assert len([kind for kind in kinds if kind == ('note', 'idle sessions hold the slots')]) == 1


def test_escalations_due_for_a_backfilled_incident(ansible, tmp_path):
    store = str(tmp_path / 'incidents')
    started = ago(20)
    outcome = ansible([
        # The role checks its defaults (the policy above) and publishes them as incident_policy_checked.
        {'name': 'policy', 'ansible.builtin.include_role': {'name': 'oncall.runbooks.incident'}},
        task('sev1', 'incident', dict(state='declared', title='All services down', severity='SEV1', started_at=started,
                                      customer_impacting=False, store_path=store, policy='{{ incident_policy_checked }}')),
        task('sev1_acknowledged', 'incident', dict(id='{{ sev1.incident.id }}', acknowledged=True, store_path=store, policy=POLICY)),
        task('sev2', 'incident', dict(state='declared', title='Payments failing', severity='SEV2', started_at=ago(70),
                                      store_path=store, policy=POLICY)),
    ])
    sev1 = outcome.result('sev1')
    assert sev1['incident']['started_at'] == started
    assert sev1['response_deadline'] == (datetime.strptime(started, '%Y-%m-%dT%H:%M:%SZ') + timedelta(minutes=15)).strftime('%Y-%m-%dT%H:%M:%SZ')
    # 20 minutes in: on-call now, the lead after 5 min without response, CTO/VP after 15 min; executives only if customer-impacting.
    assert [step['step'] for step in sev1['escalations_due']] == ['on-call', 'engineering-lead', 'cto-vp-engineering']
    assert sev1['escalations_due'][1]['contacts'] == ['engineering_lead'] and sev1['next_update_at']
    acknowledged = outcome.result('sev1_acknowledged')
    assert acknowledged['changed'] and acknowledged['incident']['acknowledged_at']
    assert [step['step'] for step in acknowledged['escalations_due']] == ['on-call', 'cto-vp-engineering']
    sev2 = outcome.result('sev2')
    assert [step['step'] for step in sev2['escalations_due']] == ['on-call', 'service-owner', 'engineering-lead']
    assert sev2['incident']['id'] != sev1['incident']['id']


def test_bad_input_and_dead_store_fail_in_one_line_before_touching_anything(ansible, tmp_path, closed_port, silent_server, lab):
    store = str(tmp_path / 'never-created')
    base = dict(state='declared', title='t', severity='SEV1', store_path=store)
    started = time.monotonic()
    outcome = ansible([
        task('bad_severity', 'incident', dict(base, severity='SEV5')),
        task('bad_status', 'incident', dict(base, status='fixed')),
        task('bad_started_at', 'incident', dict(base, started_at='yesterday')),
        task('bad_policy', 'incident', dict(base, policy={'severities': {'SEV1': {'response_time': 'soon'}}})),
        task('missing', 'incident', dict(state='updated', id='INC-20000101-0001', note='x', store_path=store)),
        task('bad_window', 'incident_fix_guard', dict(fix='restart', target='api', window='an hour', store_path=store)),
        task('bad_cap', 'incident_fix_guard', dict(fix='restart', target='api', max_fixes=0, store_path=store)),
        task('dead_store', 'incident', dict(base, store_dsn=dsn(lab, 'postgres', port=closed_port))),
        task('hung_store', 'incident', dict(base, store_dsn=dsn(lab, 'postgres', port=silent_server))),
    ])
    assert time.monotonic() - started < 120
    expected = {
        'bad_severity': "severity: 'SEV5' is not a severity",
        'bad_status': "status: 'fixed' is not a status",
        'bad_started_at': "started_at: 'yesterday' is not an ISO 8601 time",
        'bad_policy': 'policy.severities.SEV1.response_time: ',
        'missing': 'incident store %s: no incident INC-20000101-0001' % store,
        'bad_window': "window: 'an hour' is not a duration",
        'bad_cap': 'max_fixes must be a whole number of at least 1',
        'dead_store': 'incident store PostgreSQL at 127.0.0.1:%d/postgres: ' % closed_port,
        'hung_store': 'incident store PostgreSQL at 127.0.0.1:%d/postgres: ' % silent_server,
    }
    for name, start in expected.items():
        result = outcome.result(name)
        assert result['failed'] and result['msg'].startswith(start) and '\n' not in result['msg'], (name, result)
        assert 'Traceback' not in result['msg']
    assert outcome.entry('hung_store')['duration'] < 30
    assert not (tmp_path / 'never-created').exists()
    for secret in lab.secrets():
        assert secret not in outcome.stdout + outcome.stderr


def test_fix_guard_circuit_breaker_and_remediation_policy(ansible, tmp_path):
    store = str(tmp_path / 'incidents')
    guard = dict(fix='docker_service_restart', target='linkflow/api', max_fixes=2, window='1h', store_path=store)
    outcome = ansible([
        task('sev1', 'incident', dict(state='declared', title='API down', severity='SEV1', store_path=store)),
        task('dry_guard', 'incident_fix_guard', dict(guard, incident='{{ sev1.incident.id }}', policy=POLICY), check_mode=True),
        task('first', 'incident_fix_guard', dict(guard, incident='{{ sev1.incident.id }}', policy=POLICY)),
        task('second', 'incident_fix_guard', guard),
        task('third', 'incident_fix_guard', dict(guard, incident='{{ sev1.incident.id }}', policy=POLICY)),
        task('other_target', 'incident_fix_guard', dict(guard, target='linkflow/worker')),
        task('sev3', 'incident', dict(state='declared', title='Slow queries', severity='SEV3', store_path=store)),
        task('sev3_unapproved', 'incident_fix_guard', dict(guard, fix='pg_query_kill', incident='{{ sev3.incident.id }}', policy=POLICY)),
        task('sev3_approved', 'incident_fix_guard', dict(guard, fix='pg_query_kill', incident='{{ sev3.incident.id }}', policy=POLICY,
                                                         approved=True)),
        task('sev4', 'incident', dict(state='declared', title='Logs missing', severity='SEV4', store_path=store)),
        task('sev4_guard', 'incident_fix_guard', dict(guard, fix='container_exec', incident='{{ sev4.incident.id }}', policy=POLICY)),
        task('sev1_final', 'incident', dict(state='updated', id='{{ sev1.incident.id }}', store_path=store)),
    ])
    dry = outcome.result('dry_guard')
    assert dry['allowed'] and dry['changed'] and dry['attempts'] == 1 and dry['remediation'] == 'auto'
    first, second, third = outcome.result('first'), outcome.result('second'), outcome.result('third')
    assert first['allowed'] and first['attempts'] == 1 and first['reason'].endswith('attempt 1 of 2 in 1h')
    assert second['allowed'] and second['attempts'] == 2
    assert third['allowed'] is False and third['changed'] is False and not third['failed'] and third['status'] == 'critical'
    assert third['reason'] == ('circuit breaker open: docker_service_restart of linkflow/api already ran 2 times in the last 1h'
                               ' (max_fixes 2); a human must decide')
    assert third['findings'] == [{'check': 'circuit_breaker', 'status': 'critical', 'message': third['reason'], 'value': 2, 'threshold': 2}]
    assert outcome.result('other_target')['allowed']

    unapproved, approved = outcome.result('sev3_unapproved'), outcome.result('sev3_approved')
    assert not unapproved['allowed'] and unapproved['reason'].startswith('SEV3 remediation is approve: ')
    assert unapproved['findings'][0]['check'] == 'remediation_policy'
    assert approved['allowed'] and approved['attempts'] == 1
    sev4 = outcome.result('sev4_guard')
    assert not sev4['allowed'] and sev4['reason'] == 'SEV4 remediation is advise: container_exec of linkflow/api is proposed, not run'

    record = outcome.result('sev1_final')['incident']
    assert [(fix['allowed'], fix['target']) for fix in record['fixes']] == [(True, 'linkflow/api'), (False, 'linkflow/api')]
    assert [entry['kind'] for entry in record['timeline']].count('fix') == 2
    attempts = json.loads((tmp_path / 'incidents' / 'fixes.json').read_text())
    assert [(item['target'], item['allowed']) for item in attempts if item['fix'] == 'docker_service_restart'] == [
        ('linkflow/api', True), ('linkflow/api', True), ('linkflow/api', False), ('linkflow/worker', True)]


def test_postgres_store_two_concurrent_declarations_make_one_record(ansible, lab, pg_database):
    store_dsn = dsn(lab, pg_database)
    declare = task('declare', 'incident', dict(state='declared', dedup_key='alert:HighErrorRate', title='API errors > 10%', severity='SEV2',
                                               store_dsn=store_dsn))
    outcomes = []
    threads = [threading.Thread(target=lambda: outcomes.append(ansible([declare]))) for attempt in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [outcome.result('declare') for outcome in outcomes]
    assert all(not result['failed'] for result in results), results
    assert sorted(result['created'] for result in results) == [False, True]
    assert len(set(result['incident']['id'] for result in results)) == 1
    for outcome in outcomes:
        assert lab.vars['postgres_app_password'] not in outcome.stdout + outcome.stderr

    guard = dict(fix='k8s_rollback', target='deployment/api', max_fixes=1, store_dsn=store_dsn, incident=results[0]['incident']['id'])
    outcome = ansible([
        task('first', 'incident_fix_guard', guard),
        task('second', 'incident_fix_guard', guard),
        task('resolve', 'incident', dict(state='resolved', id=results[0]['incident']['id'], resolution='rolled back', store_dsn=store_dsn)),
        task('redeclare', 'incident', dict(state='declared', dedup_key='alert:HighErrorRate', title='API errors again', severity='SEV2',
                                           store_dsn=store_dsn)),
    ])
    assert outcome.result('first')['allowed'] and not outcome.result('second')['allowed']
    assert outcome.result('resolve')['incident']['status'] == 'resolved'
    # Resolved incidents free their dedup key: the same alert later is a new incident.
    assert outcome.result('redeclare')['created'] and outcome.result('redeclare')['incident']['id'] != results[0]['incident']['id']

    connection = psycopg2.connect(dsn(lab, pg_database))
    try:
        with connection.cursor() as cursor:
            cursor.execute('SELECT id, resolved, record FROM oncall_incidents ORDER BY id')
            rows = cursor.fetchall()
            cursor.execute('SELECT count(*) FROM oncall_incident_fixes WHERE allowed')
            allowed = cursor.fetchone()[0]
    finally:
        connection.close()
    assert [(row[0], row[1]) for row in rows] == [(results[0]['incident']['id'], True), (outcome.result('redeclare')['incident']['id'], False)]
    assert [fix['allowed'] for fix in rows[0][2]['fixes']] == [True, False]
    assert allowed == 1
