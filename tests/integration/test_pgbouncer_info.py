# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgbouncer_info against the lab's PgBouncer, through ansible-playbook."""

from __future__ import annotations

import time

import pytest

# Fixtures are imported by name: conftest.py belongs to everybody.
from pgbouncer_helpers import SPARE_DATABASE, console, keep_pgbouncer_running, paused, resume  # noqa: F401 pylint: disable=unused-import


def findings(result, check):
    return [item for item in result['findings'] if item['check'] == check]


def test_healthy_pgbouncer_reports_pools_and_ok(lab, run_module):
    result, run = run_module('pgbouncer_info')
    assert run.rc == 0, run.stdout
    assert result['changed'] is False
    assert result['status'] == 'ok', result['findings']
    assert result['version'].startswith('PgBouncer 1.')
    # The admin console's own pseudo database is never reported.
    assert sorted(row['name'] for row in result['databases']) == ['cloudflow', 'linkflow']
    assert sorted(row['name'] for row in console(lab, 'DATABASES')) == ['cloudflow', 'linkflow', 'pgbouncer']
    assert all(pool['database'] != 'pgbouncer' for pool in result['pools'])
    assert all(row['pool_size'] == 5 and row['paused'] is False and row['disabled'] is False for row in result['databases'])
    assert result['waiting_clients'] == 0 and result['paused_databases'] == []
    assert result['lists']['used_clients'] >= 1
    assert all(isinstance(row['total_query_count'], int) for row in result['stats'])
    assert [item['status'] for item in findings(result, 'waiting_clients')] == ['ok']
    assert [item['status'] for item in findings(result, 'paused')] == ['ok']


def test_saturated_pool_warns_and_names_the_pool(lab, run_module, scenario):
    scenario('pgbouncer-saturated')
    time.sleep(1.2)
    result, run = run_module('pgbouncer_info', {'maxwait_warn': '1s', 'maxwait_critical': '10m'})
    assert run.rc == 0, run.stdout
    pool = next(pool for pool in result['pools'] if pool['database'] == 'linkflow')
    assert pool['user'] == 'linkflow' and pool['pool_mode'] == 'transaction'
    assert pool['cl_waiting'] >= 5 and pool['sv_active'] == 5
    assert pool['maxwait'] >= 1 and pool['maxwait'] == pytest.approx(int(pool['maxwait']) + pool['maxwait_us'] / 1e6, abs=0.001)
    assert result['waiting_clients'] >= 5
    waiting = findings(result, 'waiting_clients')
    assert [(item['status'], item['database'], item['user']) for item in waiting] == [('warn', 'linkflow', 'linkflow')]
    assert waiting[0]['value'] == pool['cl_waiting'] and waiting[0]['threshold'] == 1
    assert 'in pool linkflow/linkflow' in waiting[0]['message']
    assert [item['status'] for item in findings(result, 'maxwait')] == ['warn']
    assert result['status'] == 'warn'

    result = run_module('pgbouncer_info', {'waiting_clients_critical': 5})[0]
    assert result['status'] == 'critical'
    assert result['findings'][0]['check'] == 'waiting_clients' and result['findings'][0]['threshold'] == 5


def test_databases_filter_reports_only_those(lab, run_module):
    result = run_module('pgbouncer_info', {'databases': [SPARE_DATABASE]})[0]
    assert [row['name'] for row in result['databases']] == [SPARE_DATABASE]
    assert {pool['database'] for pool in result['pools']} <= {SPARE_DATABASE}
    assert [row['database'] for row in result['stats']] == [SPARE_DATABASE]


def test_unknown_database_in_filter_fails_listing_those_that_exist(lab, run_module):
    result = run_module('pgbouncer_info', {'databases': ['linkflow', 'nosuch']})[0]
    assert result['failed'] is True
    assert result['msg'] == "databases: no database 'nosuch' in PgBouncer at 127.0.0.1:%s; it has: cloudflow, linkflow" % lab.vars['pgbouncer_port']


def test_paused_database_is_a_finding(lab, run_module, keep_pgbouncer_running):
    connection = lab.pgbouncer.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute('PAUSE %s' % SPARE_DATABASE)
        result = run_module('pgbouncer_info')[0]
    finally:
        connection.close()
        resume(lab, [SPARE_DATABASE])
    assert result['paused_databases'] == [SPARE_DATABASE]
    found = findings(result, 'paused')
    assert [(item['status'], item['database']) for item in found] == [('warn', SPARE_DATABASE)]
    assert result['status'] == 'warn'


def test_check_mode_returns_the_same_and_changes_nothing(lab, run_module):
    real = run_module('pgbouncer_info')[0]
    checked, run = run_module('pgbouncer_info', check=True)
    assert run.rc == 0 and checked['changed'] is False
    assert checked['databases'] == real['databases']
    assert [item['check'] for item in checked['findings']] == [item['check'] for item in real['findings']]


@pytest.mark.parametrize('args, message', [
    ({'maxwait_warn': '5 seconds'}, "maxwait_warn: '5 seconds' is not a duration"),
    ({'maxwait_warn': '1m', 'maxwait_critical': '30s'}, 'maxwait_warn (60.0) must not be greater than maxwait_critical (30.0)'),
    ({'waiting_clients_warn': 0}, 'waiting_clients_warn must be a whole number of at least 1, got 0'),
    ({'waiting_clients_warn': 20, 'waiting_clients_critical': 10}, 'waiting_clients_warn (20) must not be greater than waiting_clients_critical (10)'),
])
def test_bad_input_fails_before_connecting_with_one_line(lab, run_module, args, message, closed_port):
    # Pointed at a closed port: a failure that names the option proves nothing was tried first.
    result = run_module('pgbouncer_info', dict(args, port=closed_port))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message) and '\n' not in result['msg']
