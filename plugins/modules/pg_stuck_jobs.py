#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_stuck_jobs
short_description: Find workflow executions stuck in a running state, and cancel them
version_added: 0.1.0
description:
  - >-
    The runbooks' "Workflow Execution Stuck" check, a query for executions whose C(status) is
    C(running) and whose C(started_at) is more than an hour ago, and their "cancel stuck
    executions if necessary".
  - Finds rows of O(table) whose O(status_column) is one of O(stuck_statuses) and whose
    O(started_column) is older than O(older_than).
  - With O(action=cancel) sets their status to O(cancel_status) (and O(finished_column) to the
    current time when given), at most O(max_rows) rows, the oldest first. A row is updated only if it
    still qualifies at that moment; one that finished meanwhile is left alone.
  - Table and column names are options, so that both runbooks' schemas work (C(workflow_executions)
    with C(completed_at), C(executions) with C(finished_at)). They are checked to exist before anything
    is done and are only ever used quoted as identifiers.
  - With O(action=report), or in check mode, nothing changes.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.postgres
attributes:
  check_mode:
    support: full
    description: Lists the same rows that a real run would cancel, and changes nothing.
  diff_mode:
    support: none
    description: RV(actions) lists each row with its status before; the status after is O(cancel_status).
options:
  table:
    description:
      - The jobs table, C(name) (found through the search path) or C(schema.name).
    type: str
    required: true
  id_column:
    description:
      - Column that identifies a row.
    type: str
    default: id
  status_column:
    description:
      - Column holding the job's status.
    type: str
    default: status
  started_column:
    description:
      - Column holding when the job started; a timestamp or date.
    type: str
    default: started_at
  finished_column:
    description:
      - Column set to the current time when a job is cancelled. Not set when omitted.
    type: str
  stuck_statuses:
    description:
      - Statuses that mean "still running".
    type: list
    elements: str
    default: [ running ]
  older_than:
    description:
      - Only jobs started longer ago than this.
      - A duration such as C(30m), C(1h), C(2d), or a number of seconds.
    type: raw
    default: 1h
  action:
    description:
      - C(report) lists the stuck jobs; C(cancel) also sets their status to O(cancel_status).
    type: str
    choices: [ report, cancel ]
    default: report
  cancel_status:
    description:
      - Status given to cancelled jobs.
    type: str
    default: cancelled
  max_rows:
    description:
      - At most this many jobs are cancelled in one run (and listed), the oldest first. Must be at least 1.
    type: int
    default: 100
  lock_timeout:
    description:
      - How long the update may wait for row locks held by the engine before it gives up.
    type: raw
    default: 5s
seealso:
  - module: oncall.runbooks.pg_activity_info
    description: Sessions and queries, rather than rows, that are stuck.
'''

EXAMPLES = r'''
- name: Linkflow - which workflow executions have been running for more than an hour?
  oncall.runbooks.pg_stuck_jobs:
    db: linkflow
    table: workflow_executions
    finished_column: completed_at
  register: stuck

- name: Cloudflow - cancel executions stuck for more than 2 hours, at most 50
  oncall.runbooks.pg_stuck_jobs:
    db: cloudflow
    table: executions
    finished_column: finished_at
    older_than: 2h
    action: cancel
    max_rows: 50
'''

RETURN = r'''
status:
  description: C(warn) when stuck jobs were found, C(ok) otherwise (as found before any change).
  returned: always
  type: str
findings:
  description: One finding (C(stuck_jobs)) with the count, as diagnostics return it.
  returned: always
  type: list
  elements: dict
stuck:
  description: How many jobs qualified (all of them, not only those listed).
  returned: always
  type: int
  sample: 12
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: cancelled 12 of 12 stuck jobs in public.executions
actions:
  description: One entry per job planned (none with O(action=report)), the oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The job, for humans.
      type: str
      sample: public.executions id 42
    action:
      description: What is done to it.
      type: str
      sample: set status to cancelled
    reason:
      description: Why it qualified.
      type: str
      sample: running for 3h10m (> 1h)
    done:
      description: Whether it was updated (always false in check mode).
      type: bool
    note:
      description: Why a planned job was not updated (it finished or changed meanwhile).
      type: str
      returned: when the job no longer qualified
    id:
      description: The job's O(id_column) value.
      type: raw
    status:
      description: Its status when planned.
      type: str
    started:
      description: When it started (ISO 8601).
      type: str
    age_seconds:
      description: Seconds since it started.
      type: float
jobs:
  description: The stuck jobs found (up to O(max_rows)), oldest first, with C(id), C(status), C(started) and C(age_seconds).
  returned: always
  type: list
  elements: dict
table:
  description: The table, schema-qualified.
  returned: always
  type: str
  sample: public.executions
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import (
    connect,
    fetch_all,
    fetch_cutoff,
    postgres_argument_spec,
    postgres_target,
    resolve_columns,
    resolve_table,
    set_timeouts,
    sql,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    Plan,
    RunbookError,
    check_cap,
    failing_on_error,
    finding,
    format_duration,
    parse_duration,
    plan_summary,
    worst_status,
)


def statements(schema, table, params):
    """The count, the listing and the update, over the validated identifiers."""
    names = dict(
        table=sql.Identifier(schema, table),
        id=sql.Identifier(params['id_column']),
        status=sql.Identifier(params['status_column']),
        started=sql.Identifier(params['started_column']),
    )
    stuck = sql.SQL('{status} = ANY(%(stuck)s) AND {started} < %(cutoff)s').format(**names)
    count = sql.SQL('SELECT count(*) AS stuck FROM {table} WHERE ').format(**names) + stuck
    listing = sql.SQL("""SELECT {id} AS id, {status} AS status, {started} AS started,
                                EXTRACT(EPOCH FROM now() - {started})::float AS age_seconds
                         FROM {table} WHERE """).format(**names) + stuck + sql.SQL(' ORDER BY {started}, {id} LIMIT %(limit)s').format(**names)
    assignments = sql.SQL('{status} = %(cancel_status)s').format(**names)
    if params['finished_column']:
        assignments += sql.SQL(', {} = now()').format(sql.Identifier(params['finished_column']))
    update = (sql.SQL('UPDATE {table} SET ').format(**names) + assignments
              + sql.SQL(' WHERE {id} = ANY(%(ids)s) AND ').format(**names) + stuck + sql.SQL(' RETURNING {id}').format(**names))
    return count, listing, update


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        table=dict(type='str', required=True),
        id_column=dict(type='str', default='id'),
        status_column=dict(type='str', default='status'),
        started_column=dict(type='str', default='started_at'),
        finished_column=dict(type='str'),
        stuck_statuses=dict(type='list', elements='str', default=['running']),
        older_than=dict(type='raw', default='1h'),
        action=dict(type='str', default='report', choices=['report', 'cancel']),
        cancel_status=dict(type='str', default='cancelled'),
        max_rows=dict(type='int', default=100),
        lock_timeout=dict(type='raw', default='5s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    cancel = params['action'] == 'cancel'

    with failing_on_error(module, postgres_target(params)):
        older_than = parse_duration(params['older_than'], 'older_than')
        lock_timeout = parse_duration(params['lock_timeout'], 'lock_timeout')
        check_cap(params['max_rows'], 'max_rows')
        if not params['stuck_statuses']:
            raise RunbookError('stuck_statuses must name at least one status')

        connection = connect(module, 'pg_stuck_jobs')
        try:
            schema, table, oid = resolve_table(connection, params['table'])
            columns = dict((option, params[option]) for option in ('id_column', 'status_column', 'started_column', 'finished_column')
                           if params[option])
            resolve_columns(connection, oid, columns, time_columns=['started_column'])
            set_timeouts(connection, lock_timeout=lock_timeout, statement_timeout=max(lock_timeout * 4, 30))

            count, listing, update = statements(schema, table, params)
            args = dict(stuck=params['stuck_statuses'], limit=params['max_rows'], cancel_status=params['cancel_status'])
            args['cutoff'] = fetch_cutoff(connection, older_than)
            total = fetch_all(connection, count, args)[0]['stuck']
            jobs = fetch_all(connection, listing, args)
            for job in jobs:
                job['started'] = job['started'].isoformat()

            qualified = '%s.%s' % (schema, table)
            plan = Plan(limit=params['max_rows'])
            if cancel:
                for job in jobs:
                    plan.add('%s %s %s' % (qualified, params['id_column'], job['id']), 'set status to %s' % params['cancel_status'],
                             '%s for %s (> %s)' % (job['status'], format_duration(job['age_seconds']), format_duration(older_than)), **job)
                plan.left_out = total - len(jobs)
                updated = set()
                if plan and not module.check_mode:
                    updated = set(row['id'] for row in fetch_all(connection, update, dict(args, ids=[job['id'] for job in jobs])))
                plan.settle(updated, 'id', 'no longer in a stuck status since the plan was made', module.check_mode)
        finally:
            connection.close()

    findings = [finding('stuck_jobs', 'warn' if total else 'ok',
                        '%d jobs of %s %s for more than %s' % (total, qualified, '/'.join(params['stuck_statuses']), format_duration(older_than)),
                        total)]
    if cancel:
        summary = plan_summary(plan, ('cancel', 'cancelled'), 'stuck jobs in %s' % qualified, module.check_mode, 'max_rows')
    else:
        summary = findings[0]['message']
    result = plan.result(summary, module.check_mode, jobs=jobs, stuck=total, table=qualified,
                         findings=findings, status=worst_status(findings))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
