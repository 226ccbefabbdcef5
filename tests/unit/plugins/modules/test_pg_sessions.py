# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How pg_idle_kill and pg_query_kill choose their targets, on sessions as pg_stat_activity lists them."""

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import session_excluded
from ansible_collections.oncall.runbooks.plugins.modules.pg_idle_kill import plan_terminations
from ansible_collections.oncall.runbooks.plugins.modules.pg_query_kill import long_queries, root_blockers

FILTERS = dict(databases=[], users=[], applications=[], exclude_users=[], include_superusers=False,
               max_sessions=100, states=['idle'])


def session(pid, state='idle', seconds=0.0, query_seconds=None, blocked_by=(), user='app', application='api',
            database='linkflow', superuser=False, own=False):
    return dict(pid=pid, state=state, state_seconds=seconds, query_seconds=query_seconds if query_seconds is not None else seconds,
                blocked_by=list(blocked_by), user=user, application=application, database=database, client='127.0.0.1:5000',
                superuser=superuser, own=own, query='SELECT 1', backend_start=None, state_change=None, query_start=None)


@pytest.mark.parametrize('row, reason', [
    (session(1, own=True), 'a session of oncall.runbooks'),
    (session(1, application='oncall.runbooks/pg_vacuum'), 'a session of oncall.runbooks'),
    (session(1, superuser=True), 'a superuser session (include_superusers is false)'),
    (session(1, database='other'), None),
])
def test_session_exclusions_without_filters(row, reason):
    assert session_excluded(row, FILTERS) == reason


def test_filters_narrow_and_exclude_users_wins():
    params = dict(FILTERS, databases=['linkflow'], users=['app', 'ops'], exclude_users=['ops'])
    assert session_excluded(session(1, database='cloudflow'), params) == 'database not in databases'
    assert session_excluded(session(1, user='batch'), params) == 'user not in users'
    assert session_excluded(session(1, user='ops'), params) == 'user in exclude_users'
    assert session_excluded(session(1), params) is None
    assert session_excluded(session(1, superuser=True), dict(params, include_superusers=True)) is None


def test_idle_plan_takes_the_longest_idle_first_within_the_cap():
    rows = [session(1, seconds=700), session(2, seconds=3000), session(3, seconds=601), session(4, seconds=30),
            session(5, state='active', seconds=5000), session(6, state='idle in transaction', seconds=5000)]
    plan, planned = plan_terminations(rows, dict(FILTERS, max_sessions=2), 600)
    assert [entry['pid'] for entry in plan.actions] == [2, 1]
    assert plan.left_out == 1 and plan.candidates == 3
    assert sorted(row['pid'] for row in planned) == [1, 2]
    assert plan.actions[0]['reason'] == 'idle for 50m (> 10m)'


def test_long_queries_are_active_and_longest_first():
    rows = [session(1, state='active', query_seconds=400), session(2, state='active', query_seconds=900),
            session(3, state='idle', query_seconds=9000), session(4, state='active', query_seconds=10)]
    assert [row['pid'] for row, reason, extra in long_queries(rows, FILTERS, 300)] == [2, 1]


def test_root_blockers_count_everyone_queued_behind_them():
    # 10 holds the lock; 11 waits for 10; 12 waits for 11 (a tuple lock queue); 20 blocks 21 briefly.
    rows = [session(10, state='idle in transaction'),
            session(11, state='active', query_seconds=120, blocked_by=[10]),
            session(12, state='active', query_seconds=90, blocked_by=[11]),
            session(20, state='active', query_seconds=1),
            session(21, state='active', query_seconds=5, blocked_by=[20])]
    targets = root_blockers(rows, FILTERS, 30)
    assert [(row['pid'], extra['blocks']) for row, reason, extra in targets] == [(10, [11, 12])]
    assert targets[0][1] == 'blocks 2 sessions, one waiting for 2m (> 30s)'


def test_a_blocker_that_waits_itself_is_not_a_root_and_excluded_roots_are_spared():
    rows = [session(10, state='idle in transaction', superuser=True),
            session(11, state='active', query_seconds=120, blocked_by=[10]),
            session(12, state='active', query_seconds=90, blocked_by=[11])]
    assert root_blockers(rows, FILTERS, 30) == []
    assert [row['pid'] for row, reason, extra in root_blockers(rows, dict(FILTERS, include_superusers=True), 30)] == [10]
