# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident_timeline callback, through real ansible-playbook runs (normal and --check).

Each test has a store of its own (a directory under tmp_path, or a fresh database of the
lab's PostgreSQL) and enables the callback next to the tests' capture_results callback.
"""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import run_playbook

SECRET = 's3cr3t-%s' % uuid.uuid4().hex[:8]
ENABLED = 'capture_results,oncall.runbooks.incident_timeline'


def store_from(path=None, dsn=None):
    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    return open_store_from(store_path=str(path) if path else None, store_dsn=dsn)


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / 'incidents'


def declare(store, **fields):
    fields.setdefault('title', 'Connection pool exhausted')
    fields.setdefault('severity', 'SEV2')
    record, created = store.declare(fields)
    assert created
    return record


def run(lab, tmp_path, tasks, store_path=None, dsn='', incident_id='', check=False, verbosity=0, report_id=None):
    play = {'name': 'runbook', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}
    playbook = tmp_path / ('play-%s.yml' % uuid.uuid4().hex[:8])
    playbook.write_text(json.dumps([play], indent=1))
    env = {
        'ANSIBLE_CALLBACKS_ENABLED': ENABLED,
        'ONCALL_INCIDENT_STORE': str(store_path or ''),
        'ONCALL_INCIDENT_DSN': dsn,
        'ONCALL_INCIDENT_ID': incident_id,
    }
    # incident_report (one of the tasks) needs the id as a variable.
    return run_playbook(lab, playbook, tmp_path, check=check, verbosity=verbosity, env=env,
                        extra_vars={'incident_id': report_id or incident_id or 'INC-none'})


RUNBOOK = [
    {'name': 'Look around', 'ansible.builtin.debug': {'msg': 'looking'}},
    {'name': 'Change something', 'ansible.builtin.command': 'true', 'changed_when': True},
    {'name': 'Render a report', 'oncall.runbooks.incident_report': {'id': '{{ incident_id }}'}},
    {'name': 'Handle a secret', 'ansible.builtin.command': 'echo %s' % SECRET, 'no_log': True, 'changed_when': False},
    {'name': 'Fail on purpose', 'ansible.builtin.fail': {'msg': 'the database is\nstill full'}, 'ignore_errors': True},
    {'name': 'Never needed', 'ansible.builtin.debug': {'msg': 'skipped'}, 'when': False},
    {'name': 'Always runs for real', 'ansible.builtin.command': 'true', 'check_mode': False, 'changed_when': False},
]


def tasks_of(record):
    return dict((entry['task'], entry) for entry in record['timeline'] if entry.get('kind') == 'task')


def test_every_task_is_recorded_with_its_outcome(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    incident = declare(store)
    outcome = run(lab, tmp_path, RUNBOOK, store_dir, incident_id=incident['id'])
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    record = store.get(incident['id'])
    entries = tasks_of(record)
    assert set(entries) == set(task['name'] for task in RUNBOOK)
    assert len([entry for entry in record['timeline'] if entry.get('kind') == 'task']) == len(RUNBOOK)

    look = entries['Look around']
    assert look['host'] == 'localhost' and look['module'] == 'ansible.builtin.debug'
    assert (look['status'], look['changed'], look['failed'], look['skipped'], look['check_mode']) == ('ok', False, False, False, False)
    assert look['time'].endswith('Z') and look['duration'] >= 0
    assert entries['Change something']['status'] == 'changed' and entries['Change something']['changed'] is True
    assert entries['Render a report']['module'] == 'oncall.runbooks.incident_report'
    assert entries['Render a report']['summary'].startswith('%s report rendered: ' % incident['id'])
    assert entries['Handle a secret']['summary'] == 'censored'
    assert entries['Fail on purpose']['failed'] is True and entries['Fail on purpose']['summary'] == 'the database is still full'
    assert entries['Never needed']['skipped'] is True and entries['Never needed']['status'] == 'skipped'
    assert SECRET not in json.dumps(record)
    # The record's other fields are untouched.
    assert record['title'] == incident['title'] and record['status'] == 'investigating'


def test_check_mode_is_marked(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    incident = declare(store)
    outcome = run(lab, tmp_path, RUNBOOK, store_dir, incident_id=incident['id'], check=True)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    entries = tasks_of(store.get(incident['id']))
    assert entries['Look around']['check_mode'] is True
    assert entries['Change something']['check_mode'] is True
    assert entries['Always runs for real']['check_mode'] is False
    assert entries['Handle a secret']['summary'] == 'censored'


def test_without_an_id_the_newest_open_incident_is_used(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    older = declare(store, id='INC-20261122-0001', started_at='2026-11-22T01:00:00Z')
    newer = declare(store, id='INC-20261122-0002', started_at='2026-11-22T02:00:00Z')
    declare(store, id='INC-20261122-0003', started_at='2026-11-22T03:00:00Z', status='resolved')
    outcome = run(lab, tmp_path, RUNBOOK[:2], store_dir, verbosity=1)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert 'incident_timeline: recording this run in INC-20261122-0002' in outcome.stdout
    assert len(store.get(newer['id'])['timeline']) == 2
    assert store.get(older['id'])['timeline'] == []
    assert store.get('INC-20261122-0003')['timeline'] == []


def test_a_run_that_declares_the_incident_is_recorded_from_that_task_on(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    store_dir.mkdir()
    record = dict(id='INC-20261122-0042', status='investigating', severity='SEV2', started_at='2026-11-22T03:00:00Z', timeline=[])
    tasks = [
        # Stands in for the incident module: the record appears in the store during the run.
        {'name': 'Declare', 'ansible.builtin.copy': {'content': json.dumps(record), 'dest': str(store_dir / 'INC-20261122-0042.json')}},
        {'name': 'Mitigate', 'ansible.builtin.debug': {'msg': 'mitigating'}},
    ]
    outcome = run(lab, tmp_path, tasks, store_dir)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert [entry['task'] for entry in store.get('INC-20261122-0042')['timeline']] == ['Declare', 'Mitigate']


def test_no_open_incident_does_nothing(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    declare(store, id='INC-20261122-0001', status='resolved')
    outcome = run(lab, tmp_path, RUNBOOK[:2], store_dir, verbosity=1)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert 'incident_timeline: no open incident and ONCALL_INCIDENT_ID not set; nothing recorded' in outcome.stdout
    assert 'is not recorded' not in outcome.stdout + outcome.stderr
    assert store.get('INC-20261122-0001')['timeline'] == []
    assert len(outcome.results) == 2


def test_an_unknown_incident_is_one_warning(lab, tmp_path, store_dir):
    declare(store_from(store_dir))
    outcome = run(lab, tmp_path, RUNBOOK[:2], store_dir, incident_id='INC-19990101-0001')
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    text = outcome.stdout + outcome.stderr
    assert text.count('incident INC-19990101-0001 is not in the store') == 1
    assert len(outcome.results) == 2


def test_a_dead_store_does_not_break_the_run(lab, tmp_path, closed_port):
    dsn = 'host=127.0.0.1 port=%d dbname=incidents user=oncall password=%s connect_timeout=2' % (closed_port, SECRET)
    tasks = RUNBOOK[:2] + RUNBOOK[3:]
    outcome = run(lab, tmp_path, tasks, dsn=dsn, incident_id='INC-20261122-0001')
    text = outcome.stdout + outcome.stderr
    assert outcome.rc == 0, text
    assert [entry['task'] for entry in outcome.results] == [task['name'] for task in tasks]
    assert text.count('incident_timeline: the incident store failed') == 1, text
    assert 'this run is not recorded in the incident timeline' in text
    assert 'Traceback' not in text and SECRET not in text


def test_a_store_that_breaks_mid_run_is_one_warning(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    incident = declare(store)
    path = store_dir / ('%s.json' % incident['id'])
    tasks = [
        {'name': 'First', 'ansible.builtin.debug': {'msg': 'one'}},
        {'name': 'Corrupt the record', 'ansible.builtin.copy': {'content': 'not json', 'dest': str(path)}},
        {'name': 'Third', 'ansible.builtin.debug': {'msg': 'three'}},
        {'name': 'Fourth', 'ansible.builtin.debug': {'msg': 'four'}},
    ]
    outcome = run(lab, tmp_path, tasks, store_dir, incident_id=incident['id'])
    text = outcome.stdout + outcome.stderr
    assert outcome.rc == 0, text
    assert [entry['task'] for entry in outcome.results] == ['First', 'Corrupt the record', 'Third', 'Fourth']
    assert text.count('incident_timeline: writing') == 1, text
    assert 'is not valid JSON' in text and 'Traceback' not in text


def test_the_postgresql_store(lab, tmp_path, pg_database):
    password = lab.vars['postgres_login_password']
    dsn = 'host=%s port=%s dbname=%s user=%s password=%s' % (lab.vars['postgres_login_host'], lab.vars['postgres_port'], pg_database,
                                                             lab.vars['postgres_login_user'], password)
    store = store_from(dsn=dsn)
    try:
        incident = declare(store)
        # No ONCALL_INCIDENT_ID: the newest open incident of the database.
        outcome = run(lab, tmp_path, RUNBOOK, dsn=dsn, verbosity=3, report_id=incident['id'])
        text = outcome.stdout + outcome.stderr
        assert outcome.rc == 0, text
        assert password not in text and SECRET not in text
        record = store.get(incident['id'])
        assert set(tasks_of(record)) == set(task['name'] for task in RUNBOOK)
        assert tasks_of(record)['Handle a secret']['summary'] == 'censored'
        assert SECRET not in json.dumps(record)
    finally:
        store.close()


def test_a_play_can_opt_out(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    incident = declare(store)
    plays = [{'name': 'quiet', 'hosts': 'localhost', 'gather_facts': False, 'vars': {'incident_timeline_record': False},
              'tasks': [{'name': 'Not recorded', 'ansible.builtin.debug': {'msg': 'quiet'}}]},
             {'name': 'loud', 'hosts': 'localhost', 'gather_facts': False,
              'tasks': [{'name': 'Recorded', 'ansible.builtin.debug': {'msg': 'loud'}}]}]
    playbook = tmp_path / 'two-plays.yml'
    playbook.write_text(json.dumps(plays))
    env = {'ANSIBLE_CALLBACKS_ENABLED': ENABLED, 'ONCALL_INCIDENT_STORE': str(store_dir), 'ONCALL_INCIDENT_DSN': '', 'ONCALL_INCIDENT_ID': ''}
    outcome = run_playbook(lab, playbook, tmp_path, env=env)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert [entry['task'] for entry in store.get(incident['id'])['timeline']] == ['Recorded']


def test_the_diagnosis_before_a_declaration_is_held_and_written_to_the_declared_incident(lab, tmp_path, store_dir):
    # No open incident when the run starts, and the callback is told no store: it learns both from the incident task.
    store = store_from(store_dir)
    tasks = [
        {'name': 'Diagnose', 'ansible.builtin.debug': {'msg': 'looking'}},
        {'name': 'Declare', 'oncall.runbooks.incident': {'state': 'declared', 'title': 'Pool exhausted', 'severity': 'SEV1',
                                                         'dedup_key': 'held-test', 'store_path': str(store_dir)}},
        {'name': 'Mitigate', 'ansible.builtin.debug': {'msg': 'mitigating'}},
    ]
    outcome = run(lab, tmp_path, tasks, tmp_path / 'another-store', verbosity=1)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    incident = store.open_incidents()[0]
    recorded = [entry['task'] for entry in incident['timeline'] if entry.get('kind') == 'task']
    assert recorded == ['Diagnose', 'Declare', 'Mitigate']


def test_a_declaration_in_check_mode_names_no_incident(lab, tmp_path, store_dir):
    store = store_from(store_dir)
    tasks = [{'name': 'Declare', 'oncall.runbooks.incident': {'state': 'declared', 'title': 'Pool exhausted', 'severity': 'SEV1',
                                                              'dedup_key': 'held-check', 'store_path': str(store_dir)}}]
    outcome = run(lab, tmp_path, tasks, tmp_path / 'another-store', check=True)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert store.open_incidents() == []
