# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.incident import new_record
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError
from ansible_collections.oncall.runbooks.plugins.modules.incident import apply_options, check_resolvable, validated

NOW = '2026-11-23T03:00:00Z'
OPTIONS = ('state', 'id', 'dedup_key', 'title', 'severity', 'status', 'impact', 'customer_impacting', 'lead', 'services', 'started_at',
           'acknowledged', 'root_cause', 'resolution', 'note', 'evidence', 'policy')


def params(**given):
    values = dict((name, None) for name in OPTIONS)
    values.update(state='present', priority=None)
    values.update(given)
    return validated(values)


def record():
    return new_record({'id': 'INC-1', 'title': 'API down', 'severity': 'SEV2', 'started_at': '2026-11-23T02:00:00Z'})


def test_update_applies_only_what_is_new():
    current = record()
    changes = apply_options(current, params(severity='p1', status='mitigating', note='rolled back', evidence={'probe': {'ok': False}}), NOW)
    assert changes == ['severity', 'priority', 'status', 'evidence', 'timeline']
    assert current['severity'] == 'SEV1' and current['priority'] == 'P1' and current['status'] == 'mitigating'
    summaries = [entry['summary'] for entry in current['timeline']]
    assert summaries == ['severity SEV2 -> SEV1', 'status investigating -> mitigating', 'rolled back', 'evidence saved: probe']
    # The same options again change nothing.
    assert apply_options(current, params(severity='SEV1', status='mitigating', note='rolled back', evidence={'probe': {'ok': False}}), NOW) == []
    # New data under the same evidence name is saved next to the old.
    assert apply_options(current, params(evidence={'probe': {'ok': True}}), NOW) == ['evidence', 'timeline']
    assert [item['data'] for item in current['evidence']] == [{'ok': False}, {'ok': True}]


def test_joining_keeps_fields_and_adds_only_notes_evidence_and_acknowledgement():
    current = record()
    changes = apply_options(current, params(state='declared', title='other', severity='SEV1', acknowledged=True), NOW, join_only=True)
    assert changes == ['acknowledged_at', 'timeline'] and current['title'] == 'API down' and current['severity'] == 'SEV2'
    assert apply_options(current, params(state='declared', title='other', severity='SEV1', acknowledged=True), NOW, join_only=True) == []


def test_resolving_needs_a_resolution():
    current = record()
    resolve = params(state='resolved', id='INC-1')
    apply_options(current, resolve, NOW)
    assert current['status'] == 'resolved' and current['resolved_at'] == NOW
    with pytest.raises(RunbookError, match='^resolution: required to resolve INC-1'):
        check_resolvable(current, resolve)
    check_resolvable(current, params(state='resolved', id='INC-1', resolution='restarted'))


@pytest.mark.parametrize('given, message', [
    (dict(severity='SEV0'), "^severity: 'SEV0' is not a severity"),
    (dict(status='done'), "^status: 'done' is not a status"),
    (dict(state='resolved', status='monitoring', id='INC-1'), '^status: monitoring contradicts state=resolved'),
    (dict(state='updated', note='x'), '^state=updated needs id or dedup_key'),
    (dict(state='declared', title='x'), '^state=declared needs title and severity'),
    (dict(id='bad id!'), "^id: 'bad id!' is not an incident id"),
    (dict(started_at='soon'), "^started_at: 'soon' is not an ISO 8601 time"),
])
def test_bad_input_is_refused_in_one_line(given, message):
    with pytest.raises(RunbookError, match=message):
        params(**given)
