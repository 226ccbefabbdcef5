# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_vacuum against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import pytest

from storage_helpers import bloat, create_table, stats


def targets(result):
    return [item['target'] for item in result['actions']]


def three_bloated_tables(lab, database):
    """workflow_executions (10000 dead), audit (6000 dead) and scratch (3000 dead), all 50% dead or more."""
    bloat(lab, database)
    for name, rows, dead in (('audit', 12000, 6000), ('scratch', 4000, 3000)):
        create_table(lab, database, name)
        bloat(lab, database, name, rows=rows, dead=dead)


def test_vacuum_removes_dead_tuples(lab, run_module, pg_database):
    bloat(lab, pg_database)
    before = stats(lab, pg_database, 'workflow_executions')
    assert before['dead'] == 10000 and before['last_vacuum'] is None
    result, run = run_module('pg_vacuum', {'db': pg_database})
    assert run.rc == 0, run.stdout
    assert result['changed'] is True
    assert result['actions'] == [{
        'target': 'public.workflow_executions', 'action': 'vacuum analyze', 'reason': 'dead 50% (10000 dead tuples)',
        'done': True, 'dead_tuples': 10000, 'dead_ratio': 50.0, 'size_bytes': before['total_bytes'],
        'dead_tuples_after': 0, 'size_bytes_after': result['actions'][0]['size_bytes_after'],
    }]
    assert result['summary'] == 'vacuumed and analyzed 1 of 1 tables in %s' % pg_database
    after = stats(lab, pg_database, 'workflow_executions')
    assert after['dead'] == 0 and after['last_vacuum'] is not None and after['last_analyze'] is not None
    # A plain VACUUM keeps the table's file: no rewrite, no ACCESS EXCLUSIVE lock.
    assert after['filenode'] == before['filenode']


def test_check_mode_vacuums_nothing_and_lists_what_the_real_run_does(lab, run_module, pg_database):
    three_bloated_tables(lab, pg_database)
    create_table(lab, pg_database, 'clean')
    bloat(lab, pg_database, 'clean', rows=1000, dead=0)
    names = ('workflow_executions', 'audit', 'scratch', 'clean')
    before = dict((name, stats(lab, pg_database, name)) for name in names)
    args = {'db': pg_database, 'min_dead_ratio': 20}

    checked, run = run_module('pg_vacuum', args, check=True)
    assert run.rc == 0, run.stdout
    assert checked['changed'] is True
    assert targets(checked) == ['public.workflow_executions', 'public.audit', 'public.scratch']
    assert [item['reason'] for item in checked['actions']] == [
        'dead 50% (10000 dead tuples)', 'dead 50% (6000 dead tuples)', 'dead 75% (3000 dead tuples)']
    assert not any(item['done'] for item in checked['actions'])
    assert not any('dead_tuples_after' in item for item in checked['actions'])
    assert checked['summary'] == 'would vacuum and analyze 3 of 3 tables in %s with more than 20%% dead tuples' % pg_database
    for name in names:
        assert stats(lab, pg_database, name) == before[name], name

    real = run_module('pg_vacuum', args)[0]
    assert targets(real) == targets(checked)
    assert all(item['done'] and item['dead_tuples_after'] == 0 for item in real['actions'])
    for name in names[:3]:
        assert stats(lab, pg_database, name)['dead'] == 0
    assert stats(lab, pg_database, 'clean')['last_vacuum'] is None


def test_second_run_with_a_threshold_changes_nothing(lab, run_module, pg_database):
    bloat(lab, pg_database)
    args = {'db': pg_database, 'min_dead_ratio': 10, 'min_dead_tuples': 100}
    first = run_module('pg_vacuum', args)[0]
    assert first['changed'] is True and targets(first) == ['public.workflow_executions']
    vacuumed_at = stats(lab, pg_database, 'workflow_executions')['last_vacuum']
    second, run = run_module('pg_vacuum', args)
    assert run.rc == 0
    assert second['changed'] is False and second['actions'] == [] and second['candidates'] == 0
    assert second['summary'].startswith('vacuumed and analyzed 0 of 0 tables in %s with more than 10%%' % pg_database)
    assert stats(lab, pg_database, 'workflow_executions')['last_vacuum'] == vacuumed_at
    checked = run_module('pg_vacuum', args, check=True)[0]
    assert checked['changed'] is False


def test_min_dead_tuples_alone_is_a_threshold(lab, run_module, pg_database):
    three_bloated_tables(lab, pg_database)
    result = run_module('pg_vacuum', {'db': pg_database, 'min_dead_tuples': 5000}, check=True)[0]
    assert targets(result) == ['public.workflow_executions', 'public.audit']


def test_full_is_done_only_when_asked(lab, run_module, pg_database):
    bloat(lab, pg_database)
    before = stats(lab, pg_database, 'workflow_executions')
    plain = run_module('pg_vacuum', {'db': pg_database, 'analyze': False})[0]
    assert plain['actions'][0]['action'] == 'vacuum'
    assert plain['summary'] == 'vacuumed 1 of 1 tables in %s' % pg_database
    after_plain = stats(lab, pg_database, 'workflow_executions')
    assert after_plain['filenode'] == before['filenode'] and after_plain['last_analyze'] is None

    bloat(lab, pg_database, rows=20000, dead=15000)
    before_full = stats(lab, pg_database, 'workflow_executions')
    full = run_module('pg_vacuum', {'db': pg_database, 'full': True})[0]
    action = full['actions'][0]
    assert action['action'] == 'vacuum full analyze' and action['done'] is True
    assert full['summary'] == 'vacuumed (full) and analyzed 1 of 1 tables in %s' % pg_database
    after_full = stats(lab, pg_database, 'workflow_executions')
    # VACUUM FULL rewrote the table into a new, smaller file.
    assert after_full['filenode'] != before_full['filenode']
    assert after_full['total_bytes'] < before_full['total_bytes']
    assert action['size_bytes_after'] == after_full['total_bytes'] < action['size_bytes']


def test_cap_takes_the_most_bloated_first_and_says_so(lab, run_module, pg_database):
    three_bloated_tables(lab, pg_database)
    result = run_module('pg_vacuum', {'db': pg_database, 'max_tables': 2})[0]
    assert targets(result) == ['public.workflow_executions', 'public.audit']
    assert result['candidates'] == 3 and result['left_out'] == 1
    assert result['summary'] == 'vacuumed and analyzed 2 of 3 tables in %s (max_tables 2 left 1 out)' % pg_database
    assert stats(lab, pg_database, 'audit')['dead'] == 0
    assert stats(lab, pg_database, 'scratch')['dead'] == 3000


def test_listed_tables_only(lab, run_module, pg_database):
    three_bloated_tables(lab, pg_database)
    result = run_module('pg_vacuum', {'db': pg_database, 'tables': ['scratch', 'public.audit']})[0]
    assert targets(result) == ['public.audit', 'public.scratch']
    assert result['summary'] == 'vacuumed and analyzed 2 of 2 listed tables in %s' % pg_database
    assert stats(lab, pg_database, 'workflow_executions')['dead'] == 10000


def test_a_locked_table_fails_its_action_within_lock_timeout(lab, run_module, pg_database, pg_sessions):
    three_bloated_tables(lab, pg_database)
    holder = pg_sessions.open(autocommit=False)
    with holder.cursor() as cursor:
        cursor.execute('LOCK TABLE audit IN SHARE UPDATE EXCLUSIVE MODE')
    result, run = run_module('pg_vacuum', {'db': pg_database, 'lock_timeout': '1s'})
    holder.rollback()
    assert run.rc == 0, run.stdout
    locked = next(item for item in result['actions'] if item['target'] == 'public.audit')
    assert locked['done'] is False and 'lock timeout' in locked['error']
    assert [item['done'] for item in result['actions']] == [True, False, True]
    assert result['changed'] is True
    assert result['summary'].startswith('vacuumed and analyzed 2 of 3 tables in %s; 1 failed: ' % pg_database)
    assert stats(lab, pg_database, 'audit')['dead'] == 6000
    assert run.entry('pg_vacuum')['duration'] < 1 + 5


def test_unknown_table_fails_before_anything_is_vacuumed(lab, run_module, pg_database):
    bloat(lab, pg_database)
    result = run_module('pg_vacuum', {'db': pg_database, 'tables': ['public.workflow_executions', 'public.nope']})[0]
    assert result['failed'] is True
    assert result['msg'] == "tables: no table 'public.nope' in database %s" % pg_database
    after = stats(lab, pg_database, 'workflow_executions')
    assert after['dead'] == 10000 and after['last_vacuum'] is None


@pytest.mark.parametrize('args, message', [
    ({'tables': ['x"; DROP TABLE y; --']}, 'tables: \'x"; DROP TABLE y; --\' is not a table name'),
    ({'tables': ['a.b.c']}, "tables: 'a.b.c' is not a table name"),
    ({'lock_timeout': '5 seconds'}, "lock_timeout: '5 seconds' is not a duration"),
    ({'lock_timeout': 0}, 'lock_timeout must be more than zero'),
    ({'max_tables': 0}, 'max_tables must be a whole number of at least 1, got 0'),
    ({'min_dead_ratio': 150}, 'min_dead_ratio must be a percentage between 0 and 100'),
    ({'min_dead_tuples': -5}, 'min_dead_tuples must be zero or more, got -5'),
])
def test_bad_input_fails_before_connecting_with_one_line(lab, run_module, args, message, closed_port):
    # Pointed at a closed port: a failure that names the option proves nothing was tried first.
    result = run_module('pg_vacuum', dict(args, port=closed_port))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message)
    assert '\n' not in result['msg']


def test_pg_bloat_scenario_is_reported_and_cleared(lab, run_module, scenario):
    incident = scenario('pg-bloat')
    assert incident.present()
    report = run_module('pg_storage_info', {'db': 'linkflow'})[0]
    bloated = next(item for item in report['bloated_tables'] if item['table'] == 'public.workflow_executions')
    assert bloated['dead_tuples'] >= 20000 and bloated['dead_ratio'] > 20 and bloated['autovacuum_enabled'] is False
    assert report['status'] == 'warn' and 'public.workflow_executions' in next(
        item['message'] for item in report['findings'] if item['check'] == 'bloat')

    args = {'db': 'linkflow', 'tables': ['public.workflow_executions'], 'min_dead_ratio': 20}
    fixed = run_module('pg_vacuum', args)[0]
    assert fixed['changed'] is True and fixed['actions'][0]['done'] is True
    assert fixed['actions'][0]['dead_tuples_after'] < 20000
    assert not incident.present()
    again = run_module('pg_vacuum', args)[0]
    assert again['changed'] is False
    after = run_module('pg_storage_info', {'db': 'linkflow'})[0]
    assert 'public.workflow_executions' not in [item['table'] for item in after['bloated_tables']]
