#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_idle_kill
short_description: Terminate PostgreSQL sessions that sit idle, safely and with a cap
version_added: 0.1.0
description:
  - The runbooks' "kill idle connections" during a "connection pool exhausted" incident, done safely.
  - Terminates client sessions whose state is one of O(states) and whose last state change is older
    than O(older_than), narrowed by O(databases), O(users), O(applications) and O(exclude_users).
  - Never touches its own session or any other session of this collection, never touches replication,
    autovacuum or background workers (only client backends are considered), and spares superusers
    unless O(include_superusers=true).
  - At most O(max_sessions) sessions are terminated in one run, the longest idle first; the summary
    says how many the cap left out.
  - A session is terminated only if it is still the same session in the same idle spell as when the
    plan was made; one that became active meanwhile is left alone. All targets are signalled in one
    statement, then the module waits (up to O(wait_timeout)) until their slots are free.
  - In check mode nothing is terminated and RV(actions) lists exactly the sessions a real run would terminate.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.postgres
  - oncall.runbooks.postgres.sessions
attributes:
  check_mode:
    support: full
    description: Plans and reports the same sessions without terminating them.
  diff_mode:
    support: none
    description: Sessions have no before and after to show; RV(actions) lists them.
options:
  states:
    description:
      - Session states to terminate.
      - C(idle in transaction) sessions hold locks and snapshots; name them explicitly to terminate them.
    type: list
    elements: str
    choices: [ idle, idle in transaction, idle in transaction (aborted) ]
    default: [ idle ]
  older_than:
    description:
      - Only sessions whose state has not changed for longer than this.
      - A duration such as C(30s), C(10m), C(1h), or a number of seconds.
    type: raw
    default: 10m
  wait_timeout:
    description:
      - Seconds to wait for the terminated backends to exit, so that their connection slots are
        free when the task ends. Backends still there after it are reported as terminated all the same.
    type: int
    default: 5
seealso:
  - module: oncall.runbooks.pg_activity_info
    description: See who holds the connections first.
  - module: oncall.runbooks.pg_query_kill
    description: Cancel or terminate long-running or blocking queries.
'''

EXAMPLES = r'''
- name: Free the pool - terminate the application's sessions idle for more than 10 minutes
  oncall.runbooks.pg_idle_kill:
    login_host: db.internal
    login_user: postgres
    login_password: "{{ vault_postgres_password }}"
    db: linkflow
    users: [linkflow]
    older_than: 10m
    max_sessions: 50
  register: freed

- name: Also end sessions stuck idle inside a transaction, but never the reporting role's
  oncall.runbooks.pg_idle_kill:
    states: [idle in transaction, idle in transaction (aborted)]
    older_than: 2m
    exclude_users: [reporting]

- name: Audit - what would be terminated right now?
  oncall.runbooks.pg_idle_kill:
    older_than: 10m
  check_mode: true
  register: plan
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: terminated 37 of 41 idle sessions (max_sessions 37 left 4 out)
actions:
  description: One entry per session planned, in the order acted on (the longest idle first).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The session, for humans.
      type: str
      sample: pid 4242 (linkflow@linkflow, linkflow-api)
    action:
      description: Always C(terminate).
      type: str
    reason:
      description: Why it qualified.
      type: str
      sample: idle for 37m (> 10m)
    done:
      description: Whether it was terminated (always false in check mode).
      type: bool
    note:
      description: Why a planned session was not terminated (it became active or had ended).
      type: str
      returned: when the session no longer qualified
    error:
      description: The server's error for this session.
      type: str
      returned: when terminating it failed
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
      description: The session's state.
      type: str
    idle_seconds:
      description: Seconds the session had been in its state when planned.
      type: float
terminated:
  description: How many sessions were terminated (0 in check mode).
  returned: always
  type: int
  sample: 37
candidates:
  description: How many sessions qualified, including those the cap left out.
  returned: always
  type: int
  sample: 41
left_out:
  description: How many qualifying sessions the cap left out.
  returned: always
  type: int
  sample: 4
'''

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
    RunbookError,
    check_cap,
    failing_on_error,
    format_duration,
    parse_duration,
    plan_summary,
)

IDLE_STATES = ['idle', 'idle in transaction', 'idle in transaction (aborted)']


def plan_terminations(rows, params, older_than):
    idle = [row for row in rows
            if row['state'] in params['states'] and row['state_seconds'] > older_than and not session_excluded(row, params)]
    plan = Plan(limit=params['max_sessions'])
    for row in sorted(idle, key=lambda item: -item['state_seconds']):
        plan.add(
            session_label(row), 'terminate',
            '%s for %s (> %s)' % (row['state'], format_duration(row['state_seconds']), format_duration(older_than)),
            idle_seconds=round(row['state_seconds'], 1), **session_details(row))
    plan.cap()
    planned_pids = set(entry['pid'] for entry in plan.actions)
    return plan, [row for row in idle if row['pid'] in planned_pids]


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(session_filter_argument_spec())
    argument_spec.update(
        states=dict(type='list', elements='str', default=['idle'], choices=IDLE_STATES),
        older_than=dict(type='raw', default='10m'),
        wait_timeout=dict(type='int', default=5),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, postgres_target(params)):
        older_than = parse_duration(params['older_than'], 'older_than')
        check_cap(params['max_sessions'], 'max_sessions')
        if params['wait_timeout'] < 0:
            raise RunbookError('wait_timeout must be zero or more seconds, got %d' % params['wait_timeout'])

        connection = connect(module, 'pg_idle_kill')
        try:
            plan, planned = plan_terminations(fetch_sessions(connection, with_blocking=False), params, older_than)
            terminated = set()
            if plan and not module.check_mode:
                terminated = matching_sessions(connection, planned, 'state_change', function='pg_terminate_backend')
                # Report only once the slots are really free: that is what the application needs.
                wait_for_exit(connection, [row for row in planned if row['pid'] in terminated], params['wait_timeout'])
            plan.settle(terminated, 'pid', 'no longer idle since the plan was made (became active or ended)', module.check_mode)
        finally:
            connection.close()

    summary = plan_summary(plan, ('terminate', 'terminated'), 'idle sessions', module.check_mode, 'max_sessions')
    module.exit_json(**plan.result(summary, module.check_mode, terminated=len(plan.done)))


if __name__ == '__main__':
    main()
