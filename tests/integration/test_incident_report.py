# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident_report through ansible-playbook: a record with timeline, fixes and evidence, rendered.

The record is built with the store's own API (the directory store under tmp_path, or a
fresh database of the lab's PostgreSQL), as the incident modules and the callback leave it.
"""

from __future__ import annotations

import json

import pytest

POLICY = {'severities': {'SEV1': {'name': 'Critical', 'resolution_target': '1h', 'post_mortem_within': '24h'},
                         'SEV3': {'name': 'Minor', 'post_mortem_within': None}}}


def store_from(path=None, dsn=None):
    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    return open_store_from(store_path=str(path) if path else None, store_dsn=dsn)


def seed(store, evidence_file, **fields):
    """A SEV1 incident that was mitigated, verified, announced and resolved."""
    record = dict(id='INC-20261122-0007', title='Connection pool exhausted', severity='P1', status='investigating',
                  impact='API errors for all users', customer_impacting=True, lead='alice', services=['api', 'postgres'],
                  started_at='2026-11-22T03:00:00Z')
    record.update(fields)
    record, created = store.declare(record)
    assert created

    def resolve(current):
        current.update(
            status='resolved', acknowledged_at='2026-11-22T03:02:00Z', resolved_at='2026-11-22T03:40:00Z',
            root_cause='idle sessions held every connection', resolution='terminated the idle sessions',
            evidence=[
                dict(time='2026-11-22T03:04:00Z', name='pg_activity before', data={
                    'status': 'critical', 'findings': [{'check': 'connections', 'status': 'critical', 'message': '97 of 100 connections in use'}]}),
                dict(time='2026-11-22T03:12:00Z', name='pg_activity after', path=str(evidence_file), data={'status': 'ok', 'findings': []}),
            ],
            fixes=[dict(time='2026-11-22T03:10:00Z', fix='pg_idle_kill', target='linkflow', allowed=True, reason='attempt 1 of 3 in 1h'),
                   dict(time='2026-11-22T03:11:00Z', fix='docker_service_restart', target='api', allowed=False,
                        reason='circuit breaker open')],
            notifications=[dict(time='2026-11-22T03:01:00Z', template='initial', channel='slack', ok=True),
                           dict(time='2026-11-22T03:41:00Z', template='resolution', channel='slack', ok=True)],
            escalations=[dict(time='2026-11-22T03:05:00Z', step='engineering-lead', contacts=['engineering_lead'])],
        )
    store.update(record['id'], resolve)
    store.append_timeline(record['id'], [
        dict(time='2026-11-22T03:00:00Z', kind='status', summary='declared SEV1'),
        dict(time='2026-11-22T03:05:00Z', kind='task', host='db1', task='Inspect sessions', module='oncall.runbooks.pg_activity_info',
             status='ok', changed=False, failed=False, skipped=False, check_mode=False, duration=1.2, summary='97 of 100 connections in use'),
        dict(time='2026-11-22T03:10:00Z', kind='task', host='db1', task='Kill idle sessions', module='oncall.runbooks.pg_idle_kill',
             status='changed', changed=True, failed=False, skipped=False, check_mode=False, duration=0.8,
             summary='terminated 37 of 41 idle sessions'),
        dict(time='2026-11-22T03:12:00Z', kind='task', host='db1', task='Check again', module='oncall.runbooks.pg_activity_info',
             status='ok', changed=False, failed=False, skipped=False, check_mode=False, duration=1.1, summary='12 of 100 connections in use'),
    ])
    return record['id']


@pytest.fixture
def incident(tmp_path):
    store_path = tmp_path / 'incidents'
    evidence = tmp_path / 'evidence' / 'pg_activity-after.json'
    evidence.parent.mkdir()
    evidence.write_text('{"status": "ok"}')
    return seed(store_from(store_path), evidence), store_path


def report(run_module, incident_id, store_path, dest=None, check=False, **args):
    args.update(id=incident_id, store_path=str(store_path))
    if dest is not None:
        args['dest'] = str(dest)
    return run_module('incident_report', args, check=check)


def test_the_report_renders_the_record(run_module, incident, tmp_path):
    incident_id, store_path = incident
    (tmp_path / 'reports').mkdir()
    dest = tmp_path / 'reports' / 'report.md'
    result, outcome = report(run_module, incident_id, store_path, dest, policy=POLICY)
    assert not result['failed'], outcome.stdout
    assert result['changed'] is True
    text = dest.read_text()
    assert text == result['report']
    assert text.startswith('# INC-20261122-0007: Connection pool exhausted\n')
    assert '| Severity | SEV1 (Critical), P1 |' in text
    assert '| Duration | 40m (2026-11-22T03:00:00Z to 2026-11-22T03:40:00Z), within the 1h resolution target |' in text
    assert '| Lead | alice |' in text and '| Root cause | idle sessions held every connection |' in text
    # The chart: a fenced Mermaid gantt with the incident bar, a milestone and one bar per task.
    chart = text.split('```mermaid\n', 1)[1].split('```', 1)[0]
    assert chart.startswith('gantt\n')
    assert '    SEV1 : crit, 2026-11-22 03:00:00, 2026-11-22 03:40:00' in chart
    assert '    Kill idle sessions : active, 2026-11-22 03:09:59, 2026-11-22 03:10:00' in chart
    assert ': milestone, 2026-11-22 03:00:00, 0d' in chart
    assert ('| 2026-11-22T03:10:00Z | task | db1 | Kill idle sessions (oncall.runbooks.pg_idle_kill) | changed | 0.8s | '
            'terminated 37 of 41 idle sessions |') in text
    assert '| 2026-11-22T03:10:00Z | pg_idle_kill | linkflow | yes | attempt 1 of 3 in 1h |' in text
    assert '| 2026-11-22T03:11:00Z | docker_service_restart | api | no, refused | circuit breaker open |' in text
    assert '| 2026-11-22T03:12:00Z | pg_activity after | ok | [pg_activity-after.json](../evidence/pg_activity-after.json) |' in text
    assert '| 2026-11-22T03:04:00Z | pg_activity before | critical: 97 of 100 connections in use | in the incident record |' in text
    # The checklists: what the record proves is ticked, with the proof.
    assert '- [x] Service fully restored and verified: resolved at 2026-11-22T03:40:00Z; verified by Check again at 2026-11-22T03:12:00Z' in text
    assert '- [x] Stakeholders notified of resolution: resolution notice sent to slack' in text
    assert '- [x] Incident ticket created with full timeline: 4 timeline entries, 3 of them tasks' in text
    assert '- [ ] Post-mortem scheduled (SEV1/SEV2): required for SEV1/P1: schedule it, due by 2026-11-23T03:40:00Z' in text
    assert '- [ ] Monitoring/alerts verified working' in text
    assert '- [x] Create incident report within 24 hours: this report; due by 2026-11-23T03:40:00Z' in text
    assert result['post_mortem_due'] == '2026-11-23T03:40:00Z'
    done = dict((item['item'], item['done']) for item in result['checklist'])
    assert done['Service fully restored and verified'] and not done['Schedule post-mortem for P1/P2']
    assert result['summary'] == ('INC-20261122-0007 report written to %s: 4 timeline entries, 2 fixes, 2 evidence, '
                                 '5 of 11 checklist items proven' % dest)


def test_idempotent_and_exact_in_check_mode(run_module, incident, tmp_path):
    incident_id, store_path = incident
    dest = tmp_path / 'report.md'
    result, outcome = report(run_module, incident_id, store_path, dest, check=True)
    assert result['changed'] is True and not dest.exists()
    assert 'would be written to' in result['summary']
    rendered = result['report']

    result, outcome = report(run_module, incident_id, store_path, dest)
    assert result['changed'] is True and dest.read_text() == rendered
    result, outcome = report(run_module, incident_id, store_path, dest)
    assert result['changed'] is False and 'unchanged in' in result['summary']
    result, outcome = report(run_module, incident_id, store_path, dest, check=True)
    assert result['changed'] is False

    # A new timeline entry changes the report; check mode says so and leaves the file alone.
    store_from(store_path).append_timeline(incident_id, [dict(time='2026-11-22T03:45:00Z', kind='note', summary='post-mortem booked')])
    result, outcome = report(run_module, incident_id, store_path, dest, check=True)
    assert result['changed'] is True and dest.read_text() == rendered
    assert 'post-mortem booked' in result['report']
    result, outcome = report(run_module, incident_id, store_path, dest)
    assert result['changed'] is True and 'post-mortem booked' in dest.read_text()


def test_diff_shows_the_report(ansible, incident, tmp_path):
    incident_id, store_path = incident
    dest = tmp_path / 'report.md'
    dest.write_text('old report\n')
    task = {'name': 'report', 'oncall.runbooks.incident_report': {'id': incident_id, 'store_path': str(store_path), 'dest': str(dest)}}
    outcome = ansible([task], check=True, diff=True)
    assert '-old report' in outcome.stdout and '+# INC-20261122-0007: Connection pool exhausted' in outcome.stdout
    assert dest.read_text() == 'old report\n'


def test_without_dest_the_report_is_returned(run_module, incident):
    incident_id, store_path = incident
    result, outcome = report(run_module, incident_id, store_path)
    assert result['changed'] is False and 'dest' not in result
    assert result['report'].startswith('# INC-20261122-0007')
    assert result['summary'].startswith('INC-20261122-0007 report rendered: ')


@pytest.mark.parametrize('args, message', [
    ({'id': 'INC-19990101-0001'}, 'id: incident INC-19990101-0001 is not in incident store '),
    ({'id': 'no spaces allowed'}, "id: 'no spaces allowed' is not an incident id"),
    ({'max_chart_entries': 0}, 'max_chart_entries must be a whole number of at least 1, got 0'),
    ({'dest': '/nonexistent-dir/report.md'}, 'dest: the directory /nonexistent-dir does not exist'),
    ({'policy': {'severities': {'SEV1': {'post_mortem_within': 'soon'}}}}, 'policy.severities.SEV1.post_mortem_within'),
])
def test_bad_input_fails_with_one_line(run_module, incident, args, message):
    incident_id, store_path = incident
    params = dict(id=incident_id, store_path=str(store_path))
    params.update(args)
    result, outcome = run_module('incident_report', params)
    assert result['failed'] is True
    assert message in result['msg'] and '\n' not in result['msg']
    assert 'Traceback' not in outcome.stdout + outcome.stderr


def test_dest_that_is_a_directory_is_refused(run_module, incident, tmp_path):
    incident_id, store_path = incident
    result, outcome = report(run_module, incident_id, store_path, tmp_path)
    assert result['failed'] is True and result['msg'].startswith('dest: %s is a directory' % tmp_path)


def test_an_sev3_needs_no_post_mortem(run_module, tmp_path):
    store_path = tmp_path / 'incidents'
    evidence = tmp_path / 'after.json'
    evidence.write_text('{}')
    incident_id = seed(store_from(store_path), evidence, id='INC-20261122-0008', severity='SEV3')
    result, outcome = report(run_module, incident_id, store_path, policy=POLICY)
    assert '- [x] Post-mortem scheduled (SEV1/SEV2): not required for SEV3/P3' in result['report']
    assert result['post_mortem_due'] is None


def test_the_postgresql_store_and_a_dead_one(run_module, lab, tmp_path, pg_database, closed_port):
    password = lab.vars['postgres_login_password']
    dsn = 'host=%s port=%s dbname=%s user=%s password=%s' % (lab.vars['postgres_login_host'], lab.vars['postgres_port'], pg_database,
                                                             lab.vars['postgres_login_user'], password)
    store = store_from(dsn=dsn)
    evidence = tmp_path / 'after.json'
    evidence.write_text('{}')
    try:
        incident_id = seed(store, evidence)
    finally:
        store.close()
    result, outcome = run_module('incident_report', {'id': incident_id, 'store_dsn': dsn}, verbosity=3)
    assert not result['failed'], outcome.stdout
    assert '- [x] Service fully restored and verified' in result['report']
    assert password not in outcome.stdout + outcome.stderr

    dead = 'host=127.0.0.1 port=%d dbname=x user=x password=%s connect_timeout=2' % (closed_port, password)
    result, outcome = run_module('incident_report', {'id': incident_id, 'store_dsn': dead})
    assert result['failed'] is True
    assert result['msg'].startswith('incident store PostgreSQL at 127.0.0.1:%d/x: ' % closed_port), result['msg']
    assert password not in json.dumps(result) and password not in outcome.stdout + outcome.stderr
