# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.incident import (
    DirectoryStore,
    breaker_decision,
    check_policy,
    escalation_due,
    new_record,
    next_id,
    next_update_at,
    normalize_priority,
    normalize_severity,
    now_iso,
    open_store_from,
    parse_iso,
    response_deadline,
    timeline_entry,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError

POLICY = {
    'severities': {
        'SEV1': {
            'response_time': '15m', 'update_every': '15m',
            'escalation': [
                {'step': 'on-call', 'after': '0s', 'condition': 'unresolved', 'contacts': ['on_call']},
                {'step': 'engineering-lead', 'after': '5m', 'condition': 'no_response', 'contacts': ['engineering_lead']},
                {'step': 'cto', 'after': '15m', 'condition': 'unresolved', 'contacts': ['cto_vp_engineering']},
                {'step': 'executives', 'after': '30m', 'condition': 'customer_impacting', 'contacts': ['executive_team']},
            ],
        },
        'SEV2': {
            'response_time': '30m',
            'escalation': [
                {'step': 'on-call', 'after': '0s', 'condition': 'unresolved', 'contacts': ['on_call']},
                {'step': 'service-owner', 'after': '15m', 'condition': 'no_progress', 'contacts': ['service_owners']},
            ],
        },
    },
}
START = '2026-11-23T02:00:00Z'


def at(minutes):
    return datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes)


@pytest.mark.parametrize('value, expected', [
    ('SEV1', 'SEV1'), ('sev2', 'SEV2'), (' Sev 3 ', 'SEV3'), ('SEV-4', 'SEV4'), (1, 'SEV1'), ('4', 'SEV4'),
    ('P1', 'SEV1'), ('p2', 'SEV2'), ('P3', 'SEV3'),
])
def test_normalize_severity(value, expected):
    assert normalize_severity(value) == expected


@pytest.mark.parametrize('value', ['SEV5', 'P4', 'critical', '', None, 0, True])
def test_normalize_severity_refuses(value):
    with pytest.raises(RunbookError, match='^severity: .* is not a severity'):
        normalize_severity(value)


def test_priority_kept_or_derived():
    assert normalize_priority('p2') == 'P2'
    assert normalize_priority('SEV1') == 'P1'
    assert normalize_priority(None, 'SEV4') == 'P3'


def test_next_id_per_day():
    day = datetime(2026, 11, 23, 3, tzinfo=timezone.utc)
    assert next_id([], day) == 'INC-20261123-0001'
    assert next_id(['INC-20261123-0001', 'INC-20261123-0007', 'INC-20261122-0042', 'custom'], day) == 'INC-20261123-0008'
    assert next_id(['INC-20261122-0042'], day) == 'INC-20261123-0001'


def test_times_are_utc_with_z():
    assert now_iso(parse_iso('2026-11-23T04:00:00+01:00')) == '2026-11-23T03:00:00Z'
    with pytest.raises(RunbookError, match='^started_at: '):
        parse_iso('yesterday', 'started_at')


def test_new_record_defaults():
    record = new_record({'title': 'x', 'severity': 'p1', 'started_at': START})
    assert record['severity'] == 'SEV1' and record['priority'] == 'P1' and record['status'] == 'investigating'
    assert record['timeline'] == [] and record['services'] == [] and record['started_at'] == START


def test_escalation_sev1_timings():
    record = new_record({'title': 'x', 'severity': 'SEV1', 'started_at': START, 'customer_impacting': True})
    assert [step['step'] for step in escalation_due(record, POLICY, at(1))] == ['on-call']
    assert [step['step'] for step in escalation_due(record, POLICY, at(5))] == ['on-call', 'engineering-lead']
    assert [step['step'] for step in escalation_due(record, POLICY, at(31))] == ['on-call', 'engineering-lead', 'cto', 'executives']
    due = escalation_due(record, POLICY, at(31))
    assert due[1]['due_at'] == '2026-11-23T02:05:00Z' and due[1]['contacts'] == ['engineering_lead']


def test_escalation_conditions():
    record = new_record({'title': 'x', 'severity': 'SEV1', 'started_at': START, 'acknowledged_at': '2026-11-23T02:01:00Z'})
    record['escalations'] = [{'time': '2026-11-23T02:00:05Z', 'step': 'on-call', 'contacts': ['on_call']}]
    # Acknowledged, not customer-impacting, on-call already reached: only the 15-minute step.
    assert [step['step'] for step in escalation_due(record, POLICY, at(45))] == ['cto']
    record['status'] = 'resolved'
    assert escalation_due(record, POLICY, at(45)) == []


def test_escalation_no_progress():
    record = new_record({'title': 'x', 'severity': 'SEV2', 'started_at': START})
    assert [step['step'] for step in escalation_due(record, POLICY, at(20))] == ['on-call', 'service-owner']
    record['status'] = 'mitigating'
    assert [step['step'] for step in escalation_due(record, POLICY, at(20))] == ['on-call']
    assert escalation_due(record, {}, at(20)) == []


def test_deadlines():
    record = new_record({'title': 'x', 'severity': 'SEV1', 'started_at': START})
    assert response_deadline(record, POLICY) == '2026-11-23T02:15:00Z'
    assert next_update_at(record, POLICY) == '2026-11-23T02:15:00Z'
    record['notifications'] = [{'time': '2026-11-23T02:20:00Z', 'ok': True}, {'time': '2026-11-23T02:40:00Z', 'ok': False}]
    assert next_update_at(record, POLICY) == '2026-11-23T02:35:00Z'
    assert response_deadline(record, {}) is None


def test_check_policy_refuses_bad_durations_and_conditions():
    with pytest.raises(RunbookError, match=r'^policy.severities.SEV1.response_time: '):
        check_policy({'severities': {'SEV1': {'response_time': 'soon'}}})
    with pytest.raises(RunbookError, match=r'^policy.severities.SEV2.escalation\[0\].condition: '):
        check_policy({'severities': {'SEV2': {'escalation': [{'after': '1m', 'condition': 'whenever'}]}}})


def test_breaker_counts_allowed_attempts_in_window():
    now = '2026-11-23T03:00:00Z'
    attempts = [
        {'fix': 'restart', 'target': 'api', 'allowed': True, 'time': '2026-11-23T02:10:00Z'},
        {'fix': 'restart', 'target': 'api', 'allowed': True, 'time': '2026-11-23T01:50:00Z'},  # outside 1h
        {'fix': 'restart', 'target': 'api', 'allowed': False, 'time': '2026-11-23T02:20:00Z'},  # refused: not counted
        {'fix': 'restart', 'target': 'worker', 'allowed': True, 'time': '2026-11-23T02:30:00Z'},
    ]
    allowed, reason, count = breaker_decision(attempts, 2, 3600, 'restart', 'api', now)
    assert allowed and count == 1 and 'attempt 2 of 2' in reason
    attempts.append({'fix': 'restart', 'target': 'api', 'allowed': True, 'time': '2026-11-23T02:50:00Z'})
    allowed, reason, count = breaker_decision(attempts, 2, 3600, 'restart', 'api', now)
    assert not allowed and count == 2 and reason.startswith('circuit breaker open: restart of api already ran 2 times in the last 1h')


def test_directory_store_declares_once_under_concurrency(tmp_path):
    results = []

    def declare():
        results.append(open_store_from(store_path=str(tmp_path)).declare({'title': 't', 'severity': 'SEV2', 'dedup_key': 'k'}))

    threads = [threading.Thread(target=declare) for attempt in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created for record, created in results) == [False] * 7 + [True]
    assert len(set(record['id'] for record, created in results)) == 1
    store = DirectoryStore(str(tmp_path))
    assert len(store.open_incidents()) == 1


def test_directory_store_update_and_timeline(tmp_path):
    store = DirectoryStore(str(tmp_path / 'incidents'))
    assert store.get('INC-1') is None and store.open_incidents() == []
    record, created = store.declare({'id': 'INC-1', 'title': 't', 'severity': 'SEV3'})
    assert created and record['id'] == 'INC-1'
    store.append_timeline('INC-1', [timeline_entry('task', 'ok: check', host='localhost')])

    def resolve(current):
        current['status'] = 'resolved'
    store.update('INC-1', resolve)
    assert store.get('INC-1')['timeline'][0]['summary'] == 'ok: check'
    assert store.open_incidents() == []
    # A resolved incident frees its dedup key; the id stays taken.
    assert store.declare({'id': 'INC-1', 'title': 'other', 'severity': 'SEV1'})[1] is False
    with pytest.raises(RunbookError, match='no incident INC-2'):
        store.update('INC-2', resolve)
