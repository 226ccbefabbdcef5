# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_storage_info against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import os

import pytest

from storage_helpers import bloat, create_table, stats


def check(result, name):
    return next(item for item in result['findings'] if item['check'] == name)


def test_sizes_are_reported_and_consistent(lab, run_module, pg_database):
    bloat(lab, pg_database)
    result, run = run_module('pg_storage_info', {'db': pg_database})
    assert run.rc == 0, run.stdout
    assert result['changed'] is False
    assert result['database'] == pg_database
    names = [item['name'] for item in result['databases']]
    assert {pg_database, 'linkflow', 'cloudflow', 'postgres'} <= set(names)
    assert 'template0' not in names and 'template1' not in names
    sizes = [item['size_bytes'] for item in result['databases']]
    assert sizes == sorted(sizes, reverse=True)
    ours = next(item for item in result['databases'] if item['name'] == pg_database)
    actual = lab.postgres.execute('SELECT pg_database_size(%s)', args=(pg_database,))[0][0]
    assert ours['size_bytes'] > 0 and abs(ours['size_bytes'] - actual) <= actual * 0.05
    assert ours['size'].endswith('MB')

    assert result['tables_count'] == 1
    table = result['tables'][0]
    assert table['table'] == 'public.workflow_executions'
    assert table['total_bytes'] == table['table_bytes'] + table['index_bytes']
    assert table['table_bytes'] > 0 and table['index_bytes'] > 0
    assert table['total_bytes'] == stats(lab, pg_database, 'workflow_executions')['total_bytes']
    assert sum(item['total_bytes'] for item in result['tables']) < ours['size_bytes']
    assert (table['live_tuples'], table['dead_tuples'], table['dead_ratio']) == (10000, 10000, 50.0)
    assert table['last_vacuum'] is None and table['autovacuum_enabled'] is False


def test_bloated_table_is_listed_with_a_bloat_finding(lab, run_module, pg_database):
    bloat(lab, pg_database)
    create_table(lab, pg_database, 'small_but_dead')
    bloat(lab, pg_database, 'small_but_dead', rows=100, dead=90)
    result = run_module('pg_storage_info', {'db': pg_database})[0]
    assert result['status'] == 'warn'
    # 90% dead but only 90 dead tuples: under min_dead_tuples, not bloat.
    assert [item['table'] for item in result['bloated_tables']] == ['public.workflow_executions']
    assert result['bloated_tables'][0]['dead_ratio'] == 50.0
    assert result['bloated_tables_count'] == 1
    finding = check(result, 'bloat')
    assert finding['status'] == 'warn' and finding['value'] == 1 and finding['threshold'] == 20
    assert 'public.workflow_executions dead 50% (10000 dead tuples)' in finding['message']
    assert result['findings'][0]['status'] == 'warn'

    relaxed = run_module('pg_storage_info', {'db': pg_database, 'dead_ratio_warn': 50})[0]
    assert relaxed['bloated_tables'] == [] and check(relaxed, 'bloat')['status'] == 'ok'
    strict = run_module('pg_storage_info', {'db': pg_database, 'min_dead_tuples': 50})[0]
    assert [item['table'] for item in strict['bloated_tables']] == ['public.workflow_executions', 'public.small_but_dead']


def test_max_tables_lists_the_largest_first(lab, run_module, pg_database):
    for name, rows in (('tiny', 10), ('medium', 3000)):
        create_table(lab, pg_database, name)
        bloat(lab, pg_database, name, rows=rows, dead=0)
    bloat(lab, pg_database, rows=20000, dead=0)
    result = run_module('pg_storage_info', {'db': pg_database, 'max_tables': 2})[0]
    assert [item['table'] for item in result['tables']] == ['public.workflow_executions', 'public.medium']
    assert result['tables_count'] == 3
    assert check(result, 'bloat')['status'] == 'ok'


def test_filesystem_of_the_data_directory_is_measured(lab, run_module, pg_database):
    result = run_module('pg_storage_info', {'db': pg_database})[0]
    disk = result['filesystem']
    assert disk['measured'] is True
    assert disk['path'] == lab.postgres.state['data']
    local = os.statvfs(lab.postgres.state['data'])
    assert disk['size_bytes'] == local.f_blocks * local.f_frsize
    assert abs(disk['free_bytes'] - local.f_bavail * local.f_frsize) < 512 * 1024 * 1024
    assert 0 < disk['used_bytes'] < disk['size_bytes']
    expected = 100.0 * disk['used_bytes'] / (disk['used_bytes'] + disk['free_bytes'])
    assert expected <= disk['used_percent'] <= expected + 0.1
    finding = check(result, 'disk')
    assert finding['value'] == disk['used_percent'] and disk['path'] in finding['message']
    # Thresholds under the real usage make the same disk warn, then critical.
    warned = run_module('pg_storage_info', {'db': pg_database, 'disk_warn': 0, 'disk_critical': 100})[0]
    assert check(warned, 'disk')['status'] == 'warn' and warned['status'] == 'warn'
    critical = run_module('pg_storage_info', {'db': pg_database, 'disk_warn': 0, 'disk_critical': 0})[0]
    assert check(critical, 'disk')['status'] == 'critical' and critical['status'] == 'critical'
    assert critical['findings'][0]['check'] == 'disk'


def test_wal_size_for_a_superuser(lab, run_module, pg_database):
    result = run_module('pg_storage_info', {'db': pg_database})[0]
    wal = result['wal']
    files, size = lab.postgres.execute('SELECT count(*), sum(size) FROM pg_ls_waldir()')[0]
    assert wal['permitted'] is True
    assert wal['files'] == files and wal['size_bytes'] == size and size > 0
    assert check(result, 'wal')['value'] == size


def test_an_unprivileged_role_is_told_what_it_cannot_see(lab, run_module, pg_database):
    bloat(lab, pg_database)
    app = lab.vars['postgres_apps']['linkflow']
    result, run = run_module('pg_storage_info', {'db': pg_database, 'login_user': app['user'], 'login_password': app['password']})
    assert run.rc == 0, run.stdout
    assert result['wal']['permitted'] is False and 'pg_monitor' in result['wal']['reason']
    assert 'size_bytes' not in result['wal']
    assert result['filesystem']['measured'] is False and 'pg_read_all_settings' in result['filesystem']['reason']
    assert [item['table'] for item in result['bloated_tables']] == ['public.workflow_executions']
    assert 'not measured' in check(result, 'wal')['message'] and 'not measured' in check(result, 'disk')['message']


def test_only_the_databases_asked_for(lab, run_module, pg_database):
    result = run_module('pg_storage_info', {'db': pg_database, 'databases': [pg_database, 'cloudflow']})[0]
    assert sorted(item['name'] for item in result['databases']) == sorted([pg_database, 'cloudflow'])
    missing, run = run_module('pg_storage_info', {'db': pg_database, 'databases': ['cloudflow', 'no_such_db']})
    assert missing['failed'] is True
    assert missing['msg'] == "databases: no database named 'no_such_db' on this server"


def test_check_mode_returns_the_same_and_changes_nothing(lab, run_module, pg_database):
    bloat(lab, pg_database)
    before = stats(lab, pg_database, 'workflow_executions')
    checked, run = run_module('pg_storage_info', {'db': pg_database}, check=True)
    assert run.rc == 0 and checked['changed'] is False
    assert checked['bloated_tables'][0]['dead_tuples'] == 10000
    assert stats(lab, pg_database, 'workflow_executions') == before


@pytest.mark.parametrize('args, message', [
    ({'max_tables': 0}, 'max_tables must be a whole number of at least 1, got 0'),
    ({'disk_warn': 95, 'disk_critical': 90}, 'disk_warn (95) must not be greater than disk_critical (90)'),
    ({'dead_ratio_warn': 150}, 'dead_ratio_warn must be a percentage between 0 and 100, got 150.0'),
    ({'min_dead_tuples': -1}, 'min_dead_tuples must be zero or more, got -1'),
])
def test_bad_input_fails_before_connecting_with_one_line(lab, run_module, args, message, closed_port):
    # Pointed at a closed port: a failure that names the option proves nothing was tried first.
    result = run_module('pg_storage_info', dict(args, port=closed_port))[0]
    assert result['failed'] is True
    assert result['msg'] == message
