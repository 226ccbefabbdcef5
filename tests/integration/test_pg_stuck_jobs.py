# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_stuck_jobs against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import pytest


def add_jobs(lab, database, rows):
    """rows: (status, started N minutes ago)"""
    ids = []
    for status, minutes in rows:
        ids.append(lab.postgres.execute(
            "INSERT INTO workflow_executions (workflow_id, status, started_at) VALUES (7, %s, now() - make_interval(mins => %s)) RETURNING id",
            database, (status, minutes))[0][0])
    return ids


def statuses(lab, database, ids):
    rows = lab.postgres.execute('SELECT id, status, completed_at IS NOT NULL FROM workflow_executions WHERE id = ANY(%s) ORDER BY id',
                                database, (ids,))
    return [(row[1], row[2]) for row in rows]


def test_report_lists_only_stuck_jobs_oldest_first(lab, run_module, pg_database):
    stuck = add_jobs(lab, pg_database, [('running', 90), ('running', 240), ('queued', 300)])
    fine = add_jobs(lab, pg_database, [('running', 10), ('completed', 500)])
    result = run_module('pg_stuck_jobs', {'db': pg_database, 'table': 'workflow_executions'})[0]
    assert result['changed'] is False and result['actions'] == []
    assert [job['id'] for job in result['jobs']] == [stuck[1], stuck[0]]
    assert result['stuck'] == 2 and result['status'] == 'warn'
    assert result['table'] == 'public.workflow_executions'
    assert result['summary'] == '2 jobs of public.workflow_executions running for more than 1h'
    assert statuses(lab, pg_database, stuck + fine) == [('running', False), ('running', False), ('queued', False),
                                                        ('running', False), ('completed', False)]
    queued = run_module('pg_stuck_jobs', {'db': pg_database, 'table': 'public.workflow_executions', 'stuck_statuses': ['running', 'queued']})[0]
    assert queued['stuck'] == 3


def test_check_mode_then_cancel_then_nothing_left(lab, run_module, pg_database):
    stuck = add_jobs(lab, pg_database, [('running', 120), ('running', 180), ('running', 240)])
    fine = add_jobs(lab, pg_database, [('running', 5)])
    args = {'db': pg_database, 'table': 'workflow_executions', 'action': 'cancel', 'finished_column': 'completed_at'}
    planned = run_module('pg_stuck_jobs', args, check=True)[0]
    assert planned['changed'] is True
    assert [action['id'] for action in planned['actions']] == list(reversed(stuck))
    assert not any(action['done'] for action in planned['actions'])
    assert statuses(lab, pg_database, stuck) == [('running', False)] * 3

    done = run_module('pg_stuck_jobs', args)[0]
    assert [action['id'] for action in done['actions']] == [action['id'] for action in planned['actions']]
    assert all(action['done'] for action in done['actions'])
    assert done['summary'] == 'cancelled 3 of 3 stuck jobs in public.workflow_executions'
    assert statuses(lab, pg_database, stuck) == [('cancelled', True)] * 3
    assert statuses(lab, pg_database, fine) == [('running', False)]

    again = run_module('pg_stuck_jobs', args)[0]
    assert again['changed'] is False and again['stuck'] == 0


def test_cap_cancels_the_oldest_and_says_so(lab, run_module, pg_database):
    stuck = add_jobs(lab, pg_database, [('running', 100 + n * 10) for n in range(5)])
    result = run_module('pg_stuck_jobs', {'db': pg_database, 'table': 'workflow_executions', 'action': 'cancel', 'max_rows': 2})[0]
    assert [action['id'] for action in result['actions']] == [stuck[4], stuck[3]]
    assert result['summary'] == 'cancelled 2 of 5 stuck jobs in public.workflow_executions (max_rows 2 left 3 out)'
    assert statuses(lab, pg_database, stuck) == [('running', False)] * 3 + [('cancelled', False)] * 2


def test_cloudflow_schema_works_too(lab, run_module, scenario):
    scenario('pg-stuck-executions')
    args = {'db': 'cloudflow', 'table': 'executions', 'finished_column': 'finished_at', 'action': 'cancel'}
    result = run_module('pg_stuck_jobs', args)[0]
    assert len(result['actions']) == 3 and all(action['done'] for action in result['actions'])
    linkflow = run_module('pg_stuck_jobs', {'db': 'linkflow', 'table': 'workflow_executions', 'action': 'cancel',
                                            'finished_column': 'completed_at'})[0]
    assert len(linkflow['actions']) == 5
    from lab import scenarios
    assert scenarios.get(lab.lab, 'pg-stuck-executions').present() is False


@pytest.mark.parametrize('args, message', [
    ({'table': 'no_such_table'}, "table: no table 'no_such_table' in database "),
    ({'table': 'workflow_executions"; DROP TABLE workflow_executions; --'}, "table: no table 'workflow_executions\"; DROP TABLE"),
    ({'table': 'workflow_executions', 'status_column': 'state'}, "status_column: no column 'state' in the table (it has: "),
    ({'table': 'workflow_executions', 'started_column': 'status'}, 'started_column: the column is of type text, not a timestamp or date'),
    ({'table': 'workflow_executions', 'finished_column': 'finished_at'}, "finished_column: no column 'finished_at'"),
    ({'table': 'workflow_executions', 'older_than': '1 hour'}, "older_than: '1 hour' is not a duration"),
    ({'table': 'workflow_executions', 'max_rows': 0}, 'max_rows must be a whole number of at least 1, got 0'),
    ({'table': 'workflow_executions', 'stuck_statuses': []}, 'stuck_statuses must name at least one status'),
])
def test_bad_input_fails_before_touching_anything(lab, run_module, pg_database, args, message):
    stuck = add_jobs(lab, pg_database, [('running', 120)])
    result = run_module('pg_stuck_jobs', dict(args, db=pg_database, action='cancel'))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message), result['msg']
    assert '\n' not in result['msg']
    assert statuses(lab, pg_database, stuck) == [('running', False)]
    assert lab.postgres.execute("SELECT to_regclass('workflow_executions') IS NOT NULL", pg_database) == [(True,)]
