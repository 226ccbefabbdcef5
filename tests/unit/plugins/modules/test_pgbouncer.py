# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of pgbouncer_info and pgbouncer_command: grading, planning, summaries."""

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.pgbouncer import check_known
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError
from ansible_collections.oncall.runbooks.plugins.modules.pgbouncer_command import build_plan, check_input, summarize
from ansible_collections.oncall.runbooks.plugins.modules.pgbouncer_info import grade

TARGET = 'PgBouncer at 10.0.0.5:6432'
OPTIONS = dict(waiting_clients_warn=1, waiting_clients_critical=10, maxwait_warn=5.0, maxwait_critical=30.0)


def pool(database, cl_waiting=0, maxwait=0.0):
    return dict(database=database, user=database, cl_active=5, cl_waiting=cl_waiting, sv_active=5, maxwait=maxwait)


def database(name, paused=False, disabled=False, servers=2):
    return dict(name=name, paused=paused, disabled=disabled, current_connections=servers)


def test_grade_healthy_is_one_ok_finding_per_check():
    findings = grade(dict(pools=[pool('a'), pool('b')], databases=[database('a'), database('b')]), OPTIONS)
    assert [(item['check'], item['status']) for item in findings] == [
        ('waiting_clients', 'ok'), ('maxwait', 'ok'), ('paused', 'ok'), ('disabled', 'ok')]


def test_grade_one_finding_per_troubled_pool_and_database():
    data = dict(pools=[pool('a', cl_waiting=12, maxwait=7.5), pool('b', cl_waiting=3)],
                databases=[database('a', paused=True), database('b', disabled=True)])
    findings = grade(data, OPTIONS)
    summary = [(item['check'], item['status'], item.get('database'), item.get('value')) for item in findings]
    assert summary == [
        ('waiting_clients', 'critical', 'a', 12), ('maxwait', 'warn', 'a', 7.5), ('waiting_clients', 'warn', 'b', 3),
        ('paused', 'warn', 'a', None), ('disabled', 'warn', 'b', None)]
    assert findings[1]['message'] == 'the oldest waiting client of pool a/a has waited 7.5s (threshold 5s)'


def test_waiting_below_a_raised_warn_threshold_is_ok():
    findings = grade(dict(pools=[pool('a', cl_waiting=2)], databases=[]), dict(OPTIONS, waiting_clients_warn=3))
    assert [item['status'] for item in findings if item['check'] == 'waiting_clients'] == ['ok']


DATABASES = [database('linkflow', paused=True), database('cloudflow')]


@pytest.mark.parametrize('command, wanted, actions, unchanged', [
    ('pause', None, ['cloudflow'], ['linkflow']),
    ('resume', None, ['linkflow'], ['cloudflow']),
    ('resume', 'cloudflow', [], ['cloudflow']),
    ('reconnect', None, ['cloudflow', 'linkflow'], []),
    ('kill', 'cloudflow', ['cloudflow'], []),
])
def test_plan_acts_only_where_the_state_asks_for_it(command, wanted, actions, unchanged):
    plan, skipped = build_plan(command, DATABASES, wanted, True, TARGET)
    assert [entry['database'] for entry in plan.actions] == actions
    assert all(entry['action'] == command and entry['done'] is False for entry in plan.actions)
    assert skipped == unchanged


def test_kill_keeps_a_paused_database_paused():
    plan = build_plan('kill', DATABASES, None, True, TARGET)[0]
    assert [(entry['database'], entry['resume_after']) for entry in plan.actions] == [('cloudflow', True), ('linkflow', False)]


def test_reload_is_one_action_on_the_configuration():
    plan = build_plan('reload', DATABASES, None, True, TARGET)[0]
    assert [(entry['target'], entry['database']) for entry in plan.actions] == [('configuration', None)]


def test_unknown_database_lists_those_that_exist():
    with pytest.raises(RunbookError, match=r"^database: no database 'nope' in PgBouncer at 10.0.0.5:6432; it has: cloudflow, linkflow$"):
        build_plan('pause', DATABASES, 'nope', True, TARGET)
    with pytest.raises(RunbookError, match=r"it has: none$"):
        check_known(['a'], [], 'databases', TARGET)


def test_summaries():
    plan, unchanged = build_plan('pause', DATABASES, None, True, TARGET)
    assert summarize(plan, 'pause', unchanged, True) == 'would pause cloudflow; already paused: linkflow'
    plan.actions[0]['done'] = True
    assert summarize(plan, 'pause', unchanged, False) == 'paused cloudflow; already paused: linkflow'
    plan, unchanged = build_plan('resume', DATABASES, 'cloudflow', True, TARGET)
    assert summarize(plan, 'resume', unchanged, False) == 'nothing to do; not paused: cloudflow'
    plan = build_plan('reload', DATABASES, None, True, TARGET)[0]
    plan.actions[0]['error'] = 'boom'
    assert summarize(plan, 'reload', [], False) == 'reloaded nothing; 1 failed: boom'


@pytest.mark.parametrize('params, message', [
    (dict(command='pause', database=None, pause_timeout='soon'), "pause_timeout: 'soon' is not a duration"),
    (dict(command='pause', database=None, pause_timeout='0s'), "pause_timeout must be more than zero, got '0s'"),
    (dict(command='reload', database='linkflow', pause_timeout='30s'), 'database: reload re-reads'),
    (dict(command='pause', database='pgbouncer', pause_timeout='30s'), "database: 'pgbouncer' is the admin console itself"),
])
def test_bad_input_is_refused_before_connecting(params, message):
    with pytest.raises(RunbookError) as caught:
        check_input(params)
    assert str(caught.value).startswith(message)


def test_check_input_returns_seconds():
    assert check_input(dict(command='pause', database='linkflow', pause_timeout='1m')) == 60
