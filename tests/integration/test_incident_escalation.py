# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident_escalation and playbooks/escalate.yml: each due step is recorded and notified once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import yaml

from conftest import REPO, run_playbook

# The receivers' fixtures (http_receiver).
pytest_plugins = ('notify_receivers',)

POLICY = yaml.safe_load((REPO / 'roles' / 'incident' / 'defaults' / 'main.yml').read_text())['incident_policy']
HOOK_TOKEN = 'Bearer escalation-hook-secret-0004'


def ago(minutes):
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime('%Y-%m-%dT%H:%M:%SZ')


def store_from(path):
    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    return open_store_from(store_path=str(path))


def declare(store, **fields):
    fields.setdefault('title', 'PostgreSQL connections exhausted')
    record, created = store.declare(fields)
    assert created
    return record['id']


def escalate(run_module, store_path, check=False, **args):
    args.update(policy=POLICY, store_path=str(store_path))
    return run_module('incident_escalation', args, check=check)


def test_due_steps_are_claimed_once(run_module, tmp_path):
    store_path = tmp_path / 'incidents'
    store = store_from(store_path)
    # SEV1, 7 minutes old, never acknowledged: on-call (0s) and engineering lead (5m, no response) are due;
    # CTO/VP (15m) and executives (30m) are not yet.
    sev1 = declare(store, id='INC-20261122-0001', severity='SEV1', started_at=ago(7), customer_impacting=True)
    # SEV2, 20 minutes old but acknowledged and mitigating: on-call is due; the service owner step (no progress) is not.
    sev2 = declare(store, id='INC-20261122-0002', severity='SEV2', started_at=ago(20), status='mitigating')
    declare(store, id='INC-20261122-0003', severity='SEV1', started_at=ago(60), status='resolved', resolution='done')

    result, outcome = escalate(run_module, store_path, check=True)
    assert result['changed'] is True and result['incidents_checked'] == 2
    assert [(item['id'], item['step'], item['recorded']) for item in result['escalations']] == [
        (sev1, 'on-call', False), (sev1, 'engineering-lead', False), (sev2, 'on-call', False)]
    assert store.get(sev1)['escalations'] == []

    result, outcome = escalate(run_module, store_path)
    assert result['changed'] is True
    lead = [item for item in result['escalations'] if item['step'] == 'engineering-lead'][0]
    assert lead['contacts'] == ['engineering_lead'] and lead['methods'] == ['slack_dm', 'phone'] and lead['recorded'] is True
    assert lead['condition'] == 'no_response' and lead['after'] == '5m'
    assert result['summary'] == 'escalated 3 steps of 2 of 2 open incidents: %s on-call, engineering-lead; %s on-call' % (sev1, sev2)
    record = store.get(sev1)
    assert [item['step'] for item in record['escalations']] == ['on-call', 'engineering-lead']
    notes = [entry['summary'] for entry in record['timeline'] if entry['kind'] == 'escalation']
    assert notes == ['escalated to on-call (on_call): unresolved after 0s', 'escalated to engineering-lead (engineering_lead): no_response after 5m']

    result, outcome = escalate(run_module, store_path)
    assert result['changed'] is False and result['escalations'] == []
    assert result['summary'] == 'escalated 0 steps of 0 of 2 open incidents'


def test_one_incident_and_bad_input(run_module, tmp_path):
    store_path = tmp_path / 'incidents'
    store = store_from(store_path)
    first = declare(store, id='INC-20261122-0001', severity='SEV3', started_at=ago(1))
    declare(store, id='INC-20261122-0002', severity='SEV3', started_at=ago(1))
    result, outcome = escalate(run_module, store_path, id=first)
    assert [(item['id'], item['step']) for item in result['escalations']] == [(first, 'on-call')]

    result, outcome = escalate(run_module, store_path, id='INC-19990101-0001')
    assert result['failed'] and result['msg'].startswith('id: incident INC-19990101-0001 is not in incident store ')
    result, outcome = run_module('incident_escalation', dict(policy={'severities': {'SEV1': {'escalation': [{'after': 'later'}]}}},
                                                             store_path=str(store_path)))
    assert result['failed'] and 'policy.severities.SEV1.escalation[0].after' in result['msg']
    result, outcome = run_module('incident_escalation', dict(policy={}, store_path=str(store_path)))
    assert result['failed'] and result['msg'].startswith('policy: has no severities')


def test_the_escalate_playbook_notifies_each_step_once(lab, tmp_path, http_receiver):
    store_path = tmp_path / 'incidents'
    store = store_from(store_path)
    sev1 = declare(store, id='INC-20261122-0009', severity='SEV1', started_at=ago(7), impact='checkout down')
    receiver = http_receiver()
    channels = {'slack_dm': {'type': 'webhook', 'url': receiver.url + '/lead', 'headers': {'Authorization': HOOK_TOKEN}, 'timeout': 5}}
    # The timeline callback is on, as in production: the escalation play opts out of it.
    env = {'ONCALL_INCIDENT_STORE': str(store_path), 'ONCALL_INCIDENT_DSN': '', 'ONCALL_INCIDENT_ID': '',
           'ANSIBLE_CALLBACKS_ENABLED': 'capture_results,oncall.runbooks.incident_timeline'}
    playbook = REPO / 'playbooks' / 'escalate.yml'
    # The lab's inventory names a store of its own: the test's store wins as an extra variable.
    extra = {'incident_escalation_channels': channels, 'incident_store_path': str(store_path)}

    outcome = run_playbook(lab, playbook, tmp_path, check=True, env=env, extra_vars=extra)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert receiver.requests == [] and store.get(sev1)['escalations'] == []

    outcome = run_playbook(lab, playbook, tmp_path, env=env, extra_vars=extra)
    text = outcome.stdout + outcome.stderr
    assert outcome.rc == 0, text
    # The engineering lead is reached by Slack DM (configured); on-call's pagerduty and slack_incidents are not configured.
    assert [request['path'] for request in receiver.requests] == ['/lead']
    body = receiver.requests[0]['body']
    assert 'ESCALATION %s' % sev1 in str(body) and 'engineering-lead (engineering_lead), no response after 5m' in str(body)
    unreached = [item['msg'] for item in outcome.result('Report the steps that no configured channel reaches')['results'] if 'msg' in item]
    assert len(unreached) == 1
    assert unreached[0].startswith('%s on-call: none of the contact methods pagerduty, slack_incidents has a channel' % sev1)
    assert HOOK_TOKEN not in text and 'escalation-hook-secret' not in text
    record = store.get(sev1)
    assert [item['step'] for item in record['escalations']] == ['on-call', 'engineering-lead']
    assert [(item['channel'], item['ok']) for item in record['notifications']] == [('webhook', True)]
    assert [entry for entry in record['timeline'] if entry['kind'] == 'task'] == []

    outcome = run_playbook(lab, playbook, tmp_path, env=env, extra_vars=extra)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    assert len(receiver.requests) == 1
    assert outcome.result('Summarise the escalation run')['msg'] == 'escalated 0 steps of 0 of 1 open incidents'
