# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_activity_info against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import time

import pytest


def sessions_in(result, key, database):
    return [item for item in result[key] if item['database'] == database]


def test_healthy_server_reports_ok_connections(lab, run_module):
    result, run = run_module('pg_activity_info')
    assert run.rc == 0, run.stdout
    assert result['changed'] is False
    assert result['max_connections'] == 50
    assert result['reserved_connections'] == 3
    connections = result['connections']
    assert connections['in_use'] >= 1
    assert connections['free'] == 50 - connections['in_use']
    assert connections['free_for_non_superusers'] == 47 - connections['in_use']
    finding = next(item for item in result['findings'] if item['check'] == 'connections')
    assert finding['status'] == 'ok'
    assert result['own_pid'] and result['server_version'].startswith('15')
    assert result['by_user'].get('postgres', 0) >= 1


def test_pool_exhaustion_is_critical_and_the_module_still_gets_in(lab, run_module, scenario):
    scenario('pg-pool-exhausted')
    result, run = run_module('pg_activity_info')
    assert run.rc == 0, run.stdout
    assert result['status'] == 'critical'
    assert result['findings'][0]['check'] == 'connections'
    assert result['findings'][0]['status'] == 'critical'
    assert result['connections']['free_for_non_superusers'] == 0
    assert result['by_application']['linkflow-api'] >= 40
    assert result['by_user']['linkflow'] >= 40
    assert result['by_state']['idle'] >= 40


def test_idle_sessions_are_listed_with_their_idle_time(lab, run_module, pg_sessions, pg_database):
    idle = [pg_sessions.open() for number in range(3)]
    for connection in idle:
        with connection.cursor() as cursor:
            cursor.execute('SELECT 1')
    time.sleep(1.2)
    result = run_module('pg_activity_info', {'idle_threshold': '1s'})[0]
    listed = sessions_in(result, 'idle_sessions', pg_database)
    assert sorted(item['pid'] for item in listed) == sorted(pg_sessions.pid(c) for c in idle)
    assert all(item['user'] == 'linkflow' and item['application'] == 'test-client' for item in listed)
    assert all(item['state_seconds'] >= 1 and item['state_for'].endswith('s') for item in listed)
    assert result['idle_sessions_count'] >= 3
    # With the default threshold of 10 minutes, fresh sessions are not listed.
    result = run_module('pg_activity_info')[0]
    assert sessions_in(result, 'idle_sessions', pg_database) == []


def test_idle_in_transaction_warns(lab, run_module, pg_sessions, pg_database):
    connection = pg_sessions.open(autocommit=False)
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM workflow_executions')
    time.sleep(1.2)
    result = run_module('pg_activity_info', {'idle_in_transaction_threshold': '1s'})[0]
    listed = sessions_in(result, 'idle_in_transaction', pg_database)
    assert [item['pid'] for item in listed] == [pg_sessions.pid(connection)]
    assert listed[0]['transaction_seconds'] >= 1
    finding = next(item for item in result['findings'] if item['check'] == 'idle_in_transaction')
    assert finding['status'] == 'warn'
    assert 'pid %d' % pg_sessions.pid(connection) in finding['message'] or finding['value'] > 1


def test_long_queries_show_pid_duration_and_text(lab, run_module, pg_sessions, pg_database):
    connection = pg_sessions.open()
    pg_sessions.in_background(connection, "SELECT pg_sleep(30) /* linkflow report */")
    time.sleep(1.5)
    result = run_module('pg_activity_info', {'long_query_threshold': '1s', 'query_max_length': 20})[0]
    listed = sessions_in(result, 'long_queries', pg_database)
    assert [item['pid'] for item in listed] == [pg_sessions.pid(connection)]
    assert listed[0]['query'] == 'SELECT pg_sleep(30) '
    assert listed[0]['query_seconds'] >= 1
    assert listed[0]['wait_event'] == 'PgSleep'
    assert next(item for item in result['findings'] if item['check'] == 'long_queries')['status'] == 'warn'


def test_blocking_chain_names_the_blocker(lab, run_module, pg_sessions, pg_database):
    holder = pg_sessions.open(autocommit=False)
    with holder.cursor() as cursor:
        cursor.execute("INSERT INTO workflow_executions (workflow_id, status) VALUES (1, 'running') RETURNING id")
        row_id = cursor.fetchone()[0]
    holder.commit()
    with holder.cursor() as cursor:
        cursor.execute('UPDATE workflow_executions SET status = %s WHERE id = %s', ('failed', row_id))
    waiter = pg_sessions.open()
    pg_sessions.in_background(waiter, "UPDATE workflow_executions SET status = 'cancelled' WHERE id = %d" % row_id)
    time.sleep(1)
    result = run_module('pg_activity_info')[0]
    blocked = sessions_in(result, 'blocking', pg_database)
    assert [(item['pid'], item['blocked_by']) for item in blocked] == [(pg_sessions.pid(waiter), [pg_sessions.pid(holder)])]
    finding = next(item for item in result['findings'] if item['check'] == 'blocking')
    assert finding['status'] == 'warn'
    holder.rollback()


def test_check_mode_returns_the_same_and_changes_nothing(lab, run_module, pg_sessions, pg_database):
    pg_sessions.open()
    pg_sessions.open()
    real = run_module('pg_activity_info', {'idle_threshold': 0})[0]
    checked, run = run_module('pg_activity_info', {'idle_threshold': 0}, check=True)
    assert run.rc == 0
    assert checked['changed'] is False
    assert sorted(i['pid'] for i in sessions_in(checked, 'idle_sessions', pg_database)) == \
        sorted(i['pid'] for i in sessions_in(real, 'idle_sessions', pg_database))
    for connection in pg_sessions.connections:
        assert connection.closed == 0


@pytest.mark.parametrize('args, message', [
    ({'idle_threshold': '10 minutes'}, "idle_threshold: '10 minutes' is not a duration"),
    ({'long_query_threshold': '-5m'}, "long_query_threshold: '-5m' is negative"),
    ({'max_listed': 0}, 'max_listed must be a whole number of at least 1, got 0'),
    ({'connections_warn': 95, 'connections_critical': 90}, 'connections_warn (95) must not be greater than connections_critical (90)'),
    ({'connections_critical': 150}, 'connections_critical must be a percentage between 0 and 100, got 150'),
])
def test_bad_input_fails_before_connecting_with_one_line(lab, run_module, args, message, closed_port):
    # Pointed at a closed port: a failure that mentions the input proves nothing was tried first.
    args = dict(args, port=closed_port)
    result = run_module('pg_activity_info', args)[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message)
    assert '\n' not in result['msg']


def test_module_defaults_group_sets_connection_once(lab, ansible):
    run = ansible([{'name': 'grouped', 'oncall.runbooks.pg_activity_info': {}}])
    assert run.rc == 0
    assert run.result('grouped')['max_connections'] == 50
    task = {'name': 'no defaults', 'ignore_errors': True,
            'oncall.runbooks.pg_activity_info': {'port': lab.vars['postgres_port'], 'login_host': '127.0.0.1'}}
    bare = ansible([task], module_defaults={})
    assert 'password' in bare.result('no defaults')['msg']
