#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_query_kill
short_description: Cancel, then terminate, PostgreSQL queries that run too long or block others
version_added: 0.1.0
description:
  - The runbooks' "check for long-running queries ... kill stuck queries if necessary", done safely.
  - By default the targets are active queries running longer than O(running_longer_than).
  - With O(blocking=true) the targets are instead the sessions at the root of a lock chain (they block
    others and wait for nobody) whose victims have waited longer than O(blocked_longer_than). Such a
    blocker is often C(idle in transaction), which only terminating ends.
  - O(mode=cancel_then_terminate) (the default) cancels each target's query first
    (C(pg_cancel_backend)), waits up to O(grace) and terminates (C(pg_terminate_backend)) only the
    targets that still run the same query or still block.
  - Never touches its own session or any other session of this collection, never touches replication,
    autovacuum or background workers, and spares superusers unless O(include_superusers=true). At most
    O(max_sessions) targets per run, the longest running (or longest blocking) first.
  - A query is signalled only if the session still runs the very query that was planned; a session
    that has moved on to another query is left alone.
  - In check mode nothing is signalled and RV(actions) lists exactly what a real run would act on.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.postgres
  - oncall.runbooks.postgres.sessions
attributes:
  check_mode:
    support: full
    description: Plans and reports the same targets without signalling them.
  diff_mode:
    support: none
    description: Queries have no before and after to show; RV(actions) lists them.
options:
  running_longer_than:
    description:
      - Without O(blocking), target active queries running longer than this.
      - A duration such as C(30s), C(5m), C(1h), or a number of seconds.
    type: raw
    default: 5m
  blocking:
    description:
      - Target the sessions at the root of lock chains instead of long queries.
    type: bool
    default: false
  blocked_longer_than:
    description:
      - With O(blocking=true), only blockers whose victims have waited longer than this (measured
        from the start of the waiting query).
    type: raw
    default: 30s
  mode:
    description:
      - C(cancel) asks the query to stop and keeps the session; C(terminate) ends the session;
        C(cancel_then_terminate) cancels, waits O(grace), then terminates what still runs or blocks.
    type: str
    choices: [ cancel, terminate, cancel_then_terminate ]
    default: cancel_then_terminate
  grace:
    description:
      - With O(mode=cancel_then_terminate), how long cancelled queries get to stop before their sessions are terminated.
    type: raw
    default: 10s
seealso:
  - module: oncall.runbooks.pg_activity_info
    description: Lists long queries and blocking chains first.
  - module: oncall.runbooks.pg_idle_kill
    description: Terminates idle sessions.
'''

EXAMPLES = r'''
- name: Stop the application's queries that have run for more than 5 minutes
  oncall.runbooks.pg_query_kill:
    login_host: db.internal
    login_password: "{{ vault_postgres_password }}"
    users: [linkflow]
    running_longer_than: 5m
  register: stopped

- name: Break lock chains whose victims have waited more than a minute
  oncall.runbooks.pg_query_kill:
    blocking: true
    blocked_longer_than: 1m
    mode: terminate

- name: Audit - which queries would be cancelled now?
  oncall.runbooks.pg_query_kill:
    running_longer_than: 15m
    mode: cancel
  check_mode: true
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: cancelled 2 of 2 queries running longer than 5m; 1 still running after 10s and terminated
actions:
  description: One entry per target, in the order acted on.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The session, for humans.
      type: str
      sample: pid 4242 (linkflow@linkflow, linkflow-worker)
    action:
      description: The O(mode) applied to it.
      type: str
    reason:
      description: Why it qualified.
      type: str
      sample: query running for 12m (> 5m)
    done:
      description: Whether it was signalled (always false in check mode).
      type: bool
    outcome:
      description: C(cancelled), C(terminated), or C(moved on) when the planned query had already ended.
      type: str
      returned: when not in check mode
    note:
      description: Why a planned target was not signalled.
      type: str
      returned: when the target no longer qualified
    error:
      description: The server's error for this target.
      type: str
      returned: when signalling it failed
    pid:
      description: Backend process id.
      type: int
    user:
      description: Role of the session.
      type: str
    database:
      description: Database of the session.
      type: str
    application:
      description: The session's C(application_name).
      type: str
    client:
      description: Client address and port, or C(local).
      type: str
    state:
      description: The session's state when planned.
      type: str
    query:
      description: The planned query's text (cut to 200 characters).
      type: str
    blocks:
      description: With O(blocking=true), the pids waiting for this session's locks, directly or behind another waiting session.
      type: list
      elements: int
cancelled:
  description: How many queries were cancelled (and stopped within the grace period, or with O(mode=cancel)).
  returned: always
  type: int
terminated:
  description: How many sessions were terminated.
  returned: always
  type: int
candidates:
  description: How many targets qualified, including those the cap left out.
  returned: always
  type: int
left_out:
  description: How many qualifying targets the cap left out.
  returned: always
  type: int
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import (
    connect,
    fetch_sessions,
    postgres_argument_spec,
    postgres_target,
    matching_sessions,
    session_details,
    session_excluded,
    session_filter_argument_spec,
    session_label,
    wait_for_exit,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    Plan,
    check_cap,
    failing_on_error,
    format_duration,
    parse_duration,
    plan_summary,
)

# A planned query still qualifies while the same session runs the same statement
# (matched on query_start); a planned blocker while the same session still blocks somebody.
IDENTITY = {
    False: ('query_start', "AND a.state = 'active'"),
    True: (None, 'AND a.pid IN (SELECT unnest(pg_blocking_pids(w.pid)) FROM pg_stat_activity AS w)'),
}


def long_queries(rows, params, threshold):
    found = [row for row in rows if row['state'] == 'active' and (row['query_seconds'] or 0) > threshold
             and not session_excluded(row, params)]
    return [(row, 'query running for %s (> %s)' % (format_duration(row['query_seconds']), format_duration(threshold)), {})
            for row in sorted(found, key=lambda item: -item['query_seconds'])]


def root_blockers(rows, params, threshold):
    """Sessions that wait for nobody and that others have waited on, directly or down a chain,
    for longer than ``threshold``; each with every session queued behind it."""
    by_pid = dict((row['pid'], row) for row in rows)
    victims = {}
    for row in rows:
        for pid in row['blocked_by'] or []:
            victims.setdefault(pid, []).append(row)
    found = []
    for pid, direct in victims.items():
        row = by_pid.get(pid)
        if row is None or row['blocked_by'] or session_excluded(row, params):
            continue
        queued, seen = [], set()
        pending = list(direct)
        while pending:
            victim = pending.pop()
            if victim['pid'] not in seen:
                seen.add(victim['pid'])
                queued.append(victim)
                pending.extend(victims.get(victim['pid'], []))
        longest = max(victim['query_seconds'] or 0 for victim in queued)
        if longest <= threshold:
            continue
        reason = 'blocks %d sessions, one waiting for %s (> %s)' % (len(queued), format_duration(longest), format_duration(threshold))
        found.append((longest, row, reason, {'blocks': sorted(victim['pid'] for victim in queued)}))
    return [(row, reason, extra) for longest, row, reason, extra in sorted(found, key=lambda item: -item[0])]


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(session_filter_argument_spec())
    argument_spec.update(
        running_longer_than=dict(type='raw', default='5m'),
        blocking=dict(type='bool', default=False),
        blocked_longer_than=dict(type='raw', default='30s'),
        mode=dict(type='str', default='cancel_then_terminate', choices=['cancel', 'terminate', 'cancel_then_terminate']),
        grace=dict(type='raw', default='10s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    mode = params['mode']

    with failing_on_error(module, postgres_target(params)):
        running_longer_than = parse_duration(params['running_longer_than'], 'running_longer_than')
        blocked_longer_than = parse_duration(params['blocked_longer_than'], 'blocked_longer_than')
        grace = parse_duration(params['grace'], 'grace')
        check_cap(params['max_sessions'], 'max_sessions')

        connection = connect(module, 'pg_query_kill')
        try:
            rows = fetch_sessions(connection, with_blocking=params['blocking'])
            if params['blocking']:
                targets, noun = root_blockers(rows, params, blocked_longer_than), 'blocking sessions'
            else:
                targets = long_queries(rows, params, running_longer_than)
                noun = 'queries running longer than %s' % format_duration(running_longer_than)
            plan = Plan(limit=params['max_sessions'])
            for row, reason, extra in targets:
                plan.add(session_label(row), mode, reason, query=row['query'], **dict(session_details(row), **extra))
            plan.cap()
            planned_pids = set(entry['pid'] for entry in plan.actions)
            planned = [row for row, reason, extra in targets if row['pid'] in planned_pids]
            mark, condition = IDENTITY[params['blocking']]
            signalled, outcomes = set(), {}
            if plan and not module.check_mode:
                first = 'pg_terminate_backend' if mode == 'terminate' else 'pg_cancel_backend'
                signalled = matching_sessions(connection, planned, mark, condition, first)
                outcomes = dict((pid, 'terminated' if mode == 'terminate' else 'cancelled') for pid in signalled)
                if mode == 'terminate':
                    wait_for_exit(connection, [row for row in planned if row['pid'] in signalled], 5)
                elif mode == 'cancel_then_terminate':
                    outcomes.update(escalate(connection, [row for row in planned if row['pid'] in signalled], mark, condition, grace))
            plan.settle(signalled, 'pid', 'no longer running the planned query or blocking (it ended meanwhile)', module.check_mode)
            if not module.check_mode:
                for entry in plan.actions:
                    entry['outcome'] = outcomes.get(entry['pid'], 'moved on')
        finally:
            connection.close()

    verbs = ('terminate', 'terminated') if mode == 'terminate' else ('cancel', 'cancelled')
    summary = plan_summary(plan, verbs, noun, module.check_mode, 'max_sessions')
    terminated = [entry for entry in plan.done if entry.get('outcome') == 'terminated']
    if mode == 'cancel_then_terminate' and terminated:
        summary += '; %d still running after %s and terminated' % (len(terminated), format_duration(grace))
    module.exit_json(**plan.result(summary, module.check_mode, terminated=len(terminated),
                                   cancelled=len([entry for entry in plan.done if entry.get('outcome') == 'cancelled'])))


def escalate(connection, cancelled, mark, condition, grace):
    """After at most ``grace``, terminate the cancelled targets that still run the same query or still block."""
    deadline = time.monotonic() + grace
    pending = matching_sessions(connection, cancelled, mark, condition)
    while pending and time.monotonic() < deadline:
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
        pending = matching_sessions(connection, [row for row in cancelled if row['pid'] in pending], mark, condition)
    terminated = matching_sessions(connection, [row for row in cancelled if row['pid'] in pending], mark, condition, 'pg_terminate_backend')
    wait_for_exit(connection, [row for row in cancelled if row['pid'] in terminated], 5)
    return dict((pid, 'terminated') for pid in terminated)


if __name__ == '__main__':
    main()
