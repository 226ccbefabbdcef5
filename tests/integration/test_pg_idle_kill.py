# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_idle_kill against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import time

import psycopg2
import pytest


def alive(lab, pids):
    rows = lab.postgres.execute('SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)', args=(list(pids),))
    return sorted(row[0] for row in rows)


def idle_sessions(pg_sessions, count, **kwargs):
    sessions = [pg_sessions.open(**kwargs) for number in range(count)]
    for connection in sessions:
        with connection.cursor() as cursor:
            cursor.execute('SELECT 1')
    return sessions


def test_pool_exhausted_is_freed_check_mode_first(lab, run_module, scenario):
    """The seed's story: the app is refused; check mode plans, the real run frees the pool."""
    scenario('pg-pool-exhausted')
    with pytest.raises(psycopg2.OperationalError):
        lab.postgres.connect('linkflow', 'linkflow')
    args = {'users': ['linkflow'], 'older_than': 0, 'db': 'linkflow'}

    planned, run = run_module('pg_idle_kill', args, check=True)
    assert run.rc == 0, run.stdout
    assert planned['changed'] is True
    planned_pids = sorted(action['pid'] for action in planned['actions'])
    assert len(planned_pids) >= 40 and not any(action['done'] for action in planned['actions'])
    assert alive(lab, planned_pids) == planned_pids, 'check mode terminated something'
    with pytest.raises(psycopg2.OperationalError):
        lab.postgres.connect('linkflow', 'linkflow')
    assert planned['summary'].startswith('would terminate %d of %d idle sessions' % (len(planned_pids), len(planned_pids)))

    done = run_module('pg_idle_kill', args)[0]
    assert done['changed'] is True
    assert sorted(action['pid'] for action in done['actions']) == planned_pids
    assert all(action['done'] for action in done['actions'])
    assert done['terminated'] == len(planned_pids)
    assert alive(lab, planned_pids) == []
    lab.postgres.connect('linkflow', 'linkflow').close()

    again = run_module('pg_idle_kill', args)[0]
    assert again['changed'] is False
    assert again['actions'] == [] and again['summary'] == 'terminated 0 of 0 idle sessions'


def test_filters_and_exclusions(lab, run_module, pg_sessions, pg_database):
    api = idle_sessions(pg_sessions, 2, application='linkflow-api')
    worker = idle_sessions(pg_sessions, 1, application='linkflow-worker')
    superuser = idle_sessions(pg_sessions, 1, user='postgres', application='linkflow-api')
    time.sleep(1.1)
    result = run_module('pg_idle_kill', {'databases': [pg_database], 'applications': ['linkflow-api'], 'older_than': '1s'})[0]
    targeted = sorted(action['pid'] for action in result['actions'])
    assert targeted == sorted(pg_sessions.pid(c) for c in api)
    assert alive(lab, [pg_sessions.pid(c) for c in worker + superuser]) == sorted(pg_sessions.pid(c) for c in worker + superuser)
    assert all(action['reason'].startswith('idle for ') for action in result['actions'])

    with_superusers = run_module('pg_idle_kill', {'databases': [pg_database], 'applications': ['linkflow-api'],
                                                  'older_than': 0, 'include_superusers': True})[0]
    assert [action['pid'] for action in with_superusers['actions']] == [pg_sessions.pid(superuser[0])]

    excluded = run_module('pg_idle_kill', {'databases': [pg_database], 'exclude_users': ['linkflow'], 'older_than': 0})[0]
    assert excluded['actions'] == [] and excluded['changed'] is False
    assert alive(lab, [pg_sessions.pid(worker[0])]) == [pg_sessions.pid(worker[0])]


def test_only_named_states_and_older_than_are_respected(lab, run_module, pg_sessions, pg_database):
    idle = idle_sessions(pg_sessions, 1)[0]
    in_transaction = pg_sessions.open(autocommit=False)
    with in_transaction.cursor() as cursor:
        cursor.execute('SELECT 1')
    # Ansible takes a second or two to start the module: leave the fresh session a wide margin.
    time.sleep(6)
    fresh = idle_sessions(pg_sessions, 1)[0]
    args = {'databases': [pg_database], 'older_than': '5s'}
    result = run_module('pg_idle_kill', args, check=True)[0]
    assert [action['pid'] for action in result['actions']] == [pg_sessions.pid(idle)]
    result = run_module('pg_idle_kill', dict(args, states=['idle in transaction']))[0]
    assert [action['pid'] for action in result['actions']] == [pg_sessions.pid(in_transaction)]
    assert result['actions'][0]['state'] == 'idle in transaction'
    assert alive(lab, [pg_sessions.pid(idle), pg_sessions.pid(fresh)]) == sorted([pg_sessions.pid(idle), pg_sessions.pid(fresh)])


def test_cap_terminates_the_longest_idle_first_and_says_so(lab, run_module, pg_sessions, pg_database):
    oldest = idle_sessions(pg_sessions, 2)
    time.sleep(1.2)
    newest = idle_sessions(pg_sessions, 3)
    result = run_module('pg_idle_kill', {'databases': [pg_database], 'older_than': 0, 'max_sessions': 2})[0]
    assert sorted(action['pid'] for action in result['actions']) == sorted(pg_sessions.pid(c) for c in oldest)
    assert result['candidates'] == 5 and result['left_out'] == 3
    assert result['summary'] == 'terminated 2 of 5 idle sessions (max_sessions 2 left 3 out)'
    assert len(alive(lab, [pg_sessions.pid(c) for c in newest])) == 3


def test_a_session_that_became_active_is_not_terminated(lab, pg_sessions, pg_database):
    """The plan names one idle spell; if the session moved on, the signal must not reach it."""
    from ansible_collections.oncall.runbooks.plugins.module_utils import postgres
    target, bystander = idle_sessions(pg_sessions, 2)
    admin = lab.postgres.connect(pg_database)
    planned = [row for row in postgres.fetch_sessions(admin) if row['pid'] in (pg_sessions.pid(target), pg_sessions.pid(bystander))]
    with target.cursor() as cursor:
        cursor.execute('SELECT 2')  # a new query: a new state_change
    terminated = postgres.matching_sessions(admin, planned, 'state_change', function='pg_terminate_backend')
    assert terminated == {pg_sessions.pid(bystander)}
    assert postgres.wait_for_exit(admin, [row for row in planned if row['pid'] in terminated], 5) == set()
    assert alive(lab, [row['pid'] for row in planned]) == [pg_sessions.pid(target)]
    admin.close()


@pytest.mark.parametrize('args, message', [
    ({'states': ['busy']}, 'value of states must be one or more of: idle, idle in transaction, idle in transaction (aborted). Got no match for: busy'),
    ({'older_than': '10 minutes'}, "older_than: '10 minutes' is not a duration"),
    ({'older_than': '-5m'}, "older_than: '-5m' is negative"),
    ({'max_sessions': 0}, 'max_sessions must be a whole number of at least 1, got 0'),
    ({'wait_timeout': -1}, 'wait_timeout must be zero or more seconds, got -1'),
])
def test_bad_input_fails_before_touching_anything(lab, run_module, pg_sessions, pg_database, args, message):
    session = idle_sessions(pg_sessions, 1)[0]
    result = run_module('pg_idle_kill', dict(args, databases=[pg_database]))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message), result['msg']
    assert '\n' not in result['msg']
    assert alive(lab, [pg_sessions.pid(session)]) == [pg_sessions.pid(session)]


def test_pg_idle_in_transaction_scenario_is_fixed(lab, run_module, scenario):
    from lab import scenarios
    scenario('pg-idle-in-transaction')
    time.sleep(1.2)
    seen = run_module('pg_activity_info', {'idle_in_transaction_threshold': '1s', 'db': 'linkflow'})[0]
    assert [item['application'] for item in seen['idle_in_transaction']] == ['linkflow-billing']
    result = run_module('pg_idle_kill', {'states': ['idle in transaction'], 'older_than': '1s', 'databases': ['linkflow']})[0]
    assert [action['application'] for action in result['actions']] == ['linkflow-billing']
    assert scenarios.get(lab.lab, 'pg-idle-in-transaction').present() is False
