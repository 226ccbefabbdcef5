# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What incident_report renders from a record, and which checklist items the record proves."""

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError
from ansible_collections.oncall.runbooks.plugins.modules.incident_report import cell, chart_label, checklist, post_mortem_window, render


def task(time, name, module, **fields):
    entry = dict(time=time, kind='task', host='db1', task=name, module=module, changed=False, failed=False, skipped=False,
                 check_mode=False, duration=2.0, summary='')
    entry.update(fields)
    return entry


def record(**fields):
    base = dict(
        id='INC-20261122-0001', title='Connection pool exhausted', severity='SEV1', priority='P1', status='resolved',
        impact='API errors for all users', customer_impacting=True, lead='alice', services=['api', 'postgres'],
        started_at='2026-11-22T03:00:00Z', acknowledged_at='2026-11-22T03:02:00Z', resolved_at='2026-11-22T03:40:00Z',
        root_cause='idle sessions held every connection', resolution='terminated idle sessions',
        timeline=[
            dict(time='2026-11-22T03:00:00Z', kind='status', summary='declared SEV1'),
            task('2026-11-22T03:05:00Z', 'Inspect sessions', 'oncall.runbooks.pg_activity_info', summary='97 of 100 connections in use'),
            task('2026-11-22T03:10:00Z', 'Kill idle sessions', 'oncall.runbooks.pg_idle_kill', changed=True,
                 summary='terminated 37 of 41 idle sessions'),
            task('2026-11-22T03:12:00Z', 'Check again', 'oncall.runbooks.pg_activity_info', summary='12 of 100 connections in use'),
            task('2026-11-22T03:13:00Z', 'Secret | thing', 'ansible.builtin.uri', summary='censored', failed=True, status='failed'),
        ],
        evidence=[
            dict(time='2026-11-22T03:04:00Z', name='pg_activity before', data={'status': 'critical', 'findings': [
                {'check': 'connections', 'status': 'critical', 'message': '97 of 100 connections in use'}]}),
            dict(time='2026-11-22T03:12:00Z', name='pg_activity after', path='/srv/evidence/after.json', data={'status': 'ok'}),
        ],
        notifications=[
            dict(time='2026-11-22T03:01:00Z', template='initial', channel='slack', ok=True),
            dict(time='2026-11-22T03:41:00Z', template='resolution', channel='pagerduty', ok=True),
            dict(time='2026-11-22T03:41:00Z', template='resolution', channel='email', ok=False, error='SMTP timeout'),
        ],
        escalations=[dict(time='2026-11-22T03:05:00Z', step='engineering-lead', contacts=['engineering_lead'])],
        fixes=[dict(time='2026-11-22T03:10:00Z', fix='pg_idle_kill', target='linkflow', allowed=True, reason='attempt 1 of 3')],
    )
    base.update(fields)
    return base


def items_of(record_, policy=None):
    items, due = checklist(record_, policy)
    return dict((item['item'], item) for item in items), due


def test_a_resolved_verified_notified_incident_ticks_what_the_record_proves():
    items, due = items_of(record())
    assert items['Service fully restored and verified']['done']
    assert 'Check again' in items['Service fully restored and verified']['proof']
    assert items['Stakeholders notified of resolution']['done']
    assert items['Stakeholders notified of resolution']['proof'] == 'resolution notice sent to pagerduty'
    assert items['Notify affected users']['done']
    assert items['Incident ticket created with full timeline']['done']
    assert items['Create incident report within 24 hours']['done']
    assert not items['Monitoring/alerts verified working']['done']
    assert not items['Post-mortem scheduled (SEV1/SEV2)']['done']
    assert due == '2026-11-23T03:40:00Z'
    assert 'due by 2026-11-23T03:40:00Z' in items['Schedule post-mortem for P1/P2']['proof']


def test_no_check_after_the_last_fix_means_not_verified():
    changed = record()
    changed['timeline'] = [entry for entry in changed['timeline'] if entry.get('task') != 'Check again']
    changed['evidence'] = changed['evidence'][:1]
    items, due = items_of(changed)
    assert not items['Service fully restored and verified']['done']
    assert 'after the last fix' in items['Service fully restored and verified']['proof']


def test_an_open_incident_proves_neither_restoration_nor_a_due_date():
    items, due = items_of(record(status='mitigating', resolved_at=None, notifications=[]))
    assert not items['Service fully restored and verified']['done']
    assert not items['Stakeholders notified of resolution']['done']
    assert not items['Create incident report within 24 hours']['done']
    assert due is None


def test_post_mortem_windows_follow_the_policy_and_both_scales():
    assert post_mortem_window(record(severity='SEV3', priority='P3'), None) is None
    assert post_mortem_window(record(severity='SEV3', priority='P2'), None) == 86400
    policy = {'severities': {'SEV1': {'post_mortem_within': '2d'}}, 'priorities': {'P1': {'severity': 'SEV1'}}}
    assert post_mortem_window(record(), policy) == 86400  # P1 keeps the seed's 24 h: the shorter window wins
    policy = {'severities': {'SEV3': {'post_mortem_within': None}}}
    assert post_mortem_window(record(severity='SEV3', priority='P3'), policy) is None
    items, due = items_of(record(severity='SEV4', priority='P3'))
    assert items['Post-mortem scheduled (SEV1/SEV2)']['done']
    assert 'not required for SEV4/P3' in items['Post-mortem scheduled (SEV1/SEV2)']['proof']
    with pytest.raises(RunbookError, match='policy.severities.SEV1.post_mortem_within'):
        post_mortem_window(record(), {'severities': {'SEV1': {'post_mortem_within': 'soon'}}})


def test_the_report_has_every_section_and_a_mermaid_gantt():
    report, items, due = render(record(), base='/srv/reports')
    assert report.startswith('# INC-20261122-0001: Connection pool exhausted\n')
    assert '| Severity | SEV1 (Critical), P1 |' in report
    assert '| Duration | 40m (2026-11-22T03:00:00Z to 2026-11-22T03:40:00Z) |' in report
    assert '| Acknowledged | 2026-11-22T03:02:00Z (after 2m) |' in report
    assert '```mermaid\ngantt\n' in report
    assert '    dateFormat YYYY-MM-DD HH:mm:ss' in report
    assert '    Kill idle sessions : active, 2026-11-22 03:09:58, 2026-11-22 03:10:00' in report
    assert '    section db1' in report
    assert '| 2026-11-22T03:10:00Z | task | db1 | Kill idle sessions (oncall.runbooks.pg_idle_kill) | changed | 2.0s |' in report
    assert 'Secret \\| thing' in report
    assert '| 2026-11-22T03:10:00Z | pg_idle_kill | linkflow | yes | attempt 1 of 3 |' in report
    assert '[after.json](../evidence/after.json)' in report
    assert 'critical: 97 of 100 connections in use' in report
    assert '| 2026-11-22T03:41:00Z | resolution | email | no: SMTP timeout |' in report
    assert '- [x] Service fully restored and verified: ' in report
    assert '- [ ] Update status page: to be confirmed by the incident lead' in report
    assert '| 2026-11-22T03:00:00Z | status |  |  |  |  | declared SEV1 |' in report
    assert report == render(record(), base='/srv/reports')[0]


def test_the_policy_names_the_target_and_a_status_page_notice_is_proof():
    policy = {'severities': {'SEV1': {'name': 'Critical', 'resolution_target': '30m'}}, 'priorities': {'P1': {'resolution_target': '1h'}}}
    changed = record()
    changed['notifications'].append(dict(time='2026-11-22T03:42:00Z', template='resolution', channel='status_page', ok=True))
    report, items, due = render(changed, policy)
    assert '| Duration | 40m (2026-11-22T03:00:00Z to 2026-11-22T03:40:00Z), over the 30m resolution target |' in report
    assert '- [x] Update status page: resolution posted to status_page' in report
    assert 'within the 1h resolution target' in render(changed, {'priorities': {'P1': {'resolution_target': '1h'}}})[0]


def test_the_chart_is_capped_and_says_so():
    many = record(timeline=[task('2026-11-22T03:%02d:00Z' % minute, 'step %d' % minute, 'ansible.builtin.command') for minute in range(30)])
    report = render(many, limit=5)[0]
    assert report.count(' : done, ') == 5
    assert 'The chart shows the first 5 of 30 tasks' in report
    assert report.count('| task | db1 |') == 30


def test_an_empty_record_renders():
    report = render(dict(id='INC-1', severity='SEV3', status='investigating'))[0]
    assert 'No timeline entries were recorded.' in report
    assert 'No fix was recorded.' in report
    assert '| Duration | not resolved yet |' in report


@pytest.mark.parametrize('text, label', [
    ('Restart: api; now #2', 'Restart api, now no. 2'),
    ('section x', '- section x'),
    ('', 'entry'),
])
def test_chart_labels_cannot_break_the_chart(text, label):
    assert chart_label(text) == label


def test_cells_stay_in_their_column():
    assert cell('a|b\nc <script>') == 'a\\|b c &lt;script&gt;'
    assert cell(None) == ''
