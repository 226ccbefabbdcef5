# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgbouncer_command against the lab's PgBouncer, through ansible-playbook.

Every test pauses only what ``keep_pgbouncer_running`` resumes afterwards, and acts on the
spare database (cloudflow) unless it is about all databases. Connection failures are tested
for both PgBouncer modules in test_pgbouncer_info.py.
"""

from __future__ import annotations

import psycopg2
import pytest

# Fixtures are imported by name: conftest.py belongs to everybody.
from pgbouncer_helpers import SPARE_DATABASE, app_clients, keep_pgbouncer_running, paused  # noqa: F401 pylint: disable=unused-import

pytestmark = pytest.mark.usefixtures('keep_pgbouncer_running')


def without_done(actions):
    return [dict((key, value) for key, value in entry.items() if key != 'done') for entry in actions]


def test_pause_then_resume_are_idempotent(lab, run_module):
    result, run = run_module('pgbouncer_command', {'command': 'pause', 'database': SPARE_DATABASE})
    assert run.rc == 0, run.stdout
    assert result['changed'] is True
    assert [(entry['target'], entry['action'], entry['done']) for entry in result['actions']] == [('database cloudflow', 'pause', True)]
    assert result['summary'] == 'paused cloudflow'
    assert paused(lab) == [SPARE_DATABASE]
    assert result['paused_databases'] == [SPARE_DATABASE]

    again = run_module('pgbouncer_command', {'command': 'pause', 'database': SPARE_DATABASE})[0]
    assert again['changed'] is False and again['actions'] == []
    assert again['unchanged'] == [SPARE_DATABASE]
    assert again['summary'] == 'nothing to do; already paused: cloudflow'

    resumed = run_module('pgbouncer_command', {'command': 'resume', 'database': SPARE_DATABASE})[0]
    assert resumed['changed'] is True and resumed['summary'] == 'resumed cloudflow'
    assert paused(lab) == []
    again = run_module('pgbouncer_command', {'command': 'resume', 'database': SPARE_DATABASE})[0]
    assert again['changed'] is False and again['summary'] == 'nothing to do; not paused: cloudflow'


def test_check_mode_pauses_nothing_and_plans_what_the_real_run_does(lab, run_module):
    checked, run = run_module('pgbouncer_command', {'command': 'pause', 'database': SPARE_DATABASE}, check=True)
    assert run.rc == 0, run.stdout
    assert checked['changed'] is True
    assert [entry['done'] for entry in checked['actions']] == [False]
    assert checked['summary'] == 'would pause cloudflow'
    assert paused(lab) == []
    real = run_module('pgbouncer_command', {'command': 'pause', 'database': SPARE_DATABASE})[0]
    assert without_done(checked['actions']) == without_done(real['actions'])
    assert paused(lab) == [SPARE_DATABASE]
    # Nothing left to do: check mode says so as well.
    assert run_module('pgbouncer_command', {'command': 'pause', 'database': SPARE_DATABASE}, check=True)[0]['changed'] is False


def test_without_database_every_database_is_a_target_but_the_console(lab, run_module):
    checked = run_module('pgbouncer_command', {'command': 'pause'}, check=True)[0]
    assert [entry['database'] for entry in checked['actions']] == ['cloudflow', 'linkflow']
    assert paused(lab) == []
    real = run_module('pgbouncer_command', {'command': 'pause'})[0]
    try:
        assert without_done(real['actions']) == without_done(checked['actions'])
        assert paused(lab) == ['cloudflow', 'linkflow']
    finally:
        resumed = run_module('pgbouncer_command', {'command': 'resume'})[0]
    assert [(entry['database'], entry['done']) for entry in resumed['actions']] == [('cloudflow', True), ('linkflow', True)]
    assert paused(lab) == []


def test_pause_that_cannot_complete_fails_in_time_and_resumes(lab, run_module, app_clients):
    # An open transaction holds its server connection: PAUSE waits for it.
    client = app_clients.open(autocommit=False)
    with client.cursor() as cursor:
        cursor.execute('SELECT 1')
    result, run = run_module('pgbouncer_command', {'command': 'pause', 'database': SPARE_DATABASE, 'pause_timeout': '2s'})
    assert result['failed'] is True
    assert result['msg'] == ('PgBouncer at 127.0.0.1:%s: paused nothing; 1 failed: PAUSE cloudflow did not complete within 2s: '
                             'its server connections are still in use (transactions in flight); resumed it so that no client '
                             'is left waiting' % lab.vars['pgbouncer_port'])
    assert run.entry('pgbouncer_command')['duration'] < 2 + 2
    assert result['actions'][0]['done'] is False
    assert paused(lab) == []
    # The transaction in flight was left alone.
    with client.cursor() as cursor:
        cursor.execute('SELECT 2')
        assert cursor.fetchone() == (2,)
    client.commit()


def test_kill_drops_clients_and_resumes_by_default(lab, run_module, app_clients):
    client = app_clients.open()
    with client.cursor() as cursor:
        cursor.execute('SELECT 1')
    result = run_module('pgbouncer_command', {'command': 'kill', 'database': SPARE_DATABASE})[0]
    assert result['changed'] is True
    assert [(entry['action'], entry['resume_after'], entry['done']) for entry in result['actions']] == [('kill', True, True)]
    with pytest.raises(psycopg2.Error):
        with client.cursor() as cursor:
            cursor.execute('SELECT 1')
    assert paused(lab) == []
    # New clients are served at once.
    with app_clients.open().cursor() as cursor:
        cursor.execute('SELECT 3')
        assert cursor.fetchone() == (3,)


def test_kill_without_resume_leaves_the_database_paused(lab, run_module):
    result = run_module('pgbouncer_command', {'command': 'kill', 'database': SPARE_DATABASE, 'resume_after_kill': False})[0]
    assert result['changed'] is True and result['actions'][0]['resume_after'] is False
    assert paused(lab) == [SPARE_DATABASE] and result['paused_databases'] == [SPARE_DATABASE]


@pytest.mark.parametrize('args, targets', [
    ({'command': 'reconnect', 'database': SPARE_DATABASE}, ['database cloudflow']),
    ({'command': 'reconnect'}, ['database cloudflow', 'database linkflow']),
    ({'command': 'reload'}, ['configuration']),
])
def test_reconnect_and_reload_always_change(lab, run_module, args, targets):
    for check in (True, False):
        result, run = run_module('pgbouncer_command', args, check=check)
        assert run.rc == 0, run.stdout
        assert result['changed'] is True
        assert [entry['target'] for entry in result['actions']] == targets
        assert all(entry['done'] is not check for entry in result['actions'])
    assert paused(lab) == []


@pytest.mark.parametrize('args, message', [
    ({'command': 'pause', 'pause_timeout': '30 s'}, "pause_timeout: '30 s' is not a duration"),
    ({'command': 'pause', 'pause_timeout': 0}, 'pause_timeout must be more than zero, got 0'),
    ({'command': 'reload', 'database': 'linkflow'}, 'database: reload re-reads the configuration of the whole of PgBouncer; omit database'),
    ({'command': 'kill', 'database': 'pgbouncer'}, "database: 'pgbouncer' is the admin console itself; PgBouncer cannot kill it"),
    ({'command': 'flush'}, 'value of command must be one of'),
])
def test_bad_input_fails_before_connecting_with_one_line(lab, run_module, args, message, closed_port):
    result = run_module('pgbouncer_command', dict(args, port=closed_port))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message) and '\n' not in result['msg']


@pytest.mark.parametrize('command', ['pause', 'kill', 'resume', 'reconnect'])
def test_unknown_database_fails_before_anything_listing_those_that_exist(lab, run_module, app_clients, command):
    client = app_clients.open()
    result = run_module('pgbouncer_command', {'command': command, 'database': 'linkflw'})[0]
    assert result['failed'] is True
    assert result['msg'] == "database: no database 'linkflw' in PgBouncer at 127.0.0.1:%s; it has: cloudflow, linkflow" % lab.vars['pgbouncer_port']
    assert 'actions' not in result
    assert paused(lab) == []
    with client.cursor() as cursor:  # not killed
        cursor.execute('SELECT 1')
