# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_query_kill against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import time

import pytest


def session_state(lab, pid):
    rows = lab.postgres.execute('SELECT state, query FROM pg_stat_activity WHERE pid = %s', args=(pid,))
    return rows[0] if rows else None


def start_long_query(pg_sessions, application='linkflow-worker'):
    connection = pg_sessions.open(application=application)
    pg_sessions.in_background(connection, 'SELECT pg_sleep(120) /* nightly report */')
    return connection


def lock_chain(pg_sessions):
    """A session idle in a transaction that holds a row lock, and one waiting for it."""
    holder = pg_sessions.open(autocommit=False, application='linkflow-api')
    with holder.cursor() as cursor:
        cursor.execute("INSERT INTO workflow_executions (workflow_id, status) VALUES (1, 'running') RETURNING id")
        row_id = cursor.fetchone()[0]
    holder.commit()
    with holder.cursor() as cursor:
        cursor.execute("UPDATE workflow_executions SET status = 'failed' WHERE id = %s", (row_id,))
    waiter = pg_sessions.open(application='linkflow-worker')
    thread = pg_sessions.in_background(waiter, "UPDATE workflow_executions SET status = 'cancelled' WHERE id = %d" % row_id)
    return holder, waiter, thread


def test_check_mode_then_cancel_keeps_the_session(lab, run_module, pg_sessions, pg_database):
    connection = start_long_query(pg_sessions)
    pid = pg_sessions.pid(connection)
    time.sleep(1.2)
    args = {'databases': [pg_database], 'running_longer_than': '1s', 'mode': 'cancel'}
    planned = run_module('pg_query_kill', args, check=True)[0]
    assert planned['changed'] is True
    assert [(action['pid'], action['done']) for action in planned['actions']] == [(pid, False)]
    assert 'pg_sleep(120)' in planned['actions'][0]['query']
    assert session_state(lab, pid)[0] == 'active', 'check mode cancelled the query'

    done = run_module('pg_query_kill', args)[0]
    assert [(action['pid'], action['done'], action['outcome']) for action in done['actions']] == [(pid, True, 'cancelled')]
    assert done['cancelled'] == 1 and done['terminated'] == 0
    time.sleep(0.5)
    assert session_state(lab, pid)[0] == 'idle'  # the session survives, its query does not

    again = run_module('pg_query_kill', args)[0]
    assert again['changed'] is False and again['actions'] == []


def test_terminate_mode_ends_the_session(lab, run_module, pg_sessions, pg_database):
    pid = pg_sessions.pid(start_long_query(pg_sessions))
    time.sleep(1.2)
    result = run_module('pg_query_kill', {'databases': [pg_database], 'running_longer_than': '1s', 'mode': 'terminate'})[0]
    assert [action['outcome'] for action in result['actions']] == ['terminated']
    assert session_state(lab, pid) is None
    assert result['summary'] == 'terminated 1 of 1 queries running longer than 1s'


def test_blocking_root_is_cancelled_then_terminated_and_the_victim_proceeds(lab, run_module, pg_sessions, pg_database):
    holder, waiter, thread = lock_chain(pg_sessions)
    holder_pid, waiter_pid = pg_sessions.pid(holder), pg_sessions.pid(waiter)
    time.sleep(1.5)
    args = {'databases': [pg_database], 'blocking': True, 'blocked_longer_than': '1s', 'grace': '1s'}
    planned = run_module('pg_query_kill', args, check=True)[0]
    assert [action['pid'] for action in planned['actions']] == [holder_pid]
    assert planned['actions'][0]['blocks'] == [waiter_pid]
    assert session_state(lab, holder_pid)[0] == 'idle in transaction'

    done = run_module('pg_query_kill', args)[0]
    # An idle-in-transaction blocker ignores a cancel: the grace period ends in terminate.
    assert [(action['pid'], action['outcome']) for action in done['actions']] == [(holder_pid, 'terminated')]
    assert done['summary'] == 'cancelled 1 of 1 blocking sessions; 1 still running after 1s and terminated'
    thread.join(timeout=10)
    assert not thread.is_alive(), 'the waiting UPDATE is still blocked'
    assert session_state(lab, holder_pid) is None
    assert session_state(lab, waiter_pid)[0] == 'idle'


def test_waiting_sessions_are_not_long_queries_to_kill_when_blocking(lab, run_module, pg_sessions, pg_database):
    holder, waiter, thread = lock_chain(pg_sessions)
    time.sleep(1.2)
    result = run_module('pg_query_kill', {'databases': [pg_database], 'blocking': True, 'blocked_longer_than': '1m'}, check=True)[0]
    assert result['actions'] == [] and result['changed'] is False
    holder.rollback()
    thread.join(timeout=10)


def test_superusers_are_spared_unless_named(lab, run_module, pg_sessions, pg_database):
    connection = pg_sessions.open(user='postgres', application='psql')
    pg_sessions.in_background(connection, 'SELECT pg_sleep(120)')
    time.sleep(1.2)
    args = {'databases': [pg_database], 'running_longer_than': '1s'}
    assert run_module('pg_query_kill', args, check=True)[0]['actions'] == []
    result = run_module('pg_query_kill', dict(args, include_superusers=True), check=True)[0]
    assert [action['pid'] for action in result['actions']] == [pg_sessions.pid(connection)]


@pytest.mark.parametrize('args, message', [
    ({'mode': 'kill'}, 'value of mode must be one of: cancel, terminate, cancel_then_terminate, got: kill'),
    ({'grace': '10 seconds'}, "grace: '10 seconds' is not a duration"),
    ({'running_longer_than': '-1h'}, "running_longer_than: '-1h' is negative"),
    ({'max_sessions': 0}, 'max_sessions must be a whole number of at least 1, got 0'),
])
def test_bad_input_fails_before_touching_anything(lab, run_module, pg_sessions, pg_database, args, message):
    connection = start_long_query(pg_sessions)
    time.sleep(1.1)
    result = run_module('pg_query_kill', dict(args, databases=[pg_database]))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message), result['msg']
    assert '\n' not in result['msg']
    assert session_state(lab, pg_sessions.pid(connection))[0] == 'active'


def lab_check(lab, name):
    from lab import scenarios
    return scenarios.get(lab.lab, name).present()


def test_pg_long_query_scenario_is_fixed_by_a_cancel(lab, run_module, scenario):
    scenario('pg-long-query')
    time.sleep(1.2)
    seen = run_module('pg_activity_info', {'long_query_threshold': '1s', 'db': 'linkflow'})[0]
    assert any(item['application'] == 'linkflow-reports' for item in seen['long_queries'])
    result = run_module('pg_query_kill', {'applications': ['linkflow-reports'], 'running_longer_than': '1s', 'mode': 'cancel'})[0]
    assert [action['outcome'] for action in result['actions']] == ['cancelled']
    time.sleep(0.5)
    assert lab_check(lab, 'pg-long-query') is False


def test_pg_blocking_lock_scenario_is_fixed_at_its_root(lab, run_module, scenario):
    scenario('pg-blocking-lock')
    time.sleep(1.2)
    seen = run_module('pg_activity_info', {'db': 'linkflow'})[0]
    assert len([item for item in seen['blocking'] if item['database'] == 'linkflow']) >= 2
    result = run_module('pg_query_kill', {'databases': ['linkflow'], 'blocking': True, 'blocked_longer_than': '1s', 'grace': '1s'})[0]
    assert [action['application'] for action in result['actions']] == ['linkflow-migrate']
    assert len(result['actions'][0]['blocks']) == 2
    assert lab_check(lab, 'pg-blocking-lock') is False
