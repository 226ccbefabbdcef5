#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_purge
short_description: Delete old rows in small batches, without locking out the application
version_added: 0.1.0
description:
  - The runbooks' emergency "clear old data" for a full database disk (one C(DELETE) of every
    execution completed more than 90 days ago), done safely.
  - Deletes rows of O(table) whose O(time_column) is older than O(older_than) (and that match every
    O(filters) equality) in batches of O(batch_size), each batch in its own short transaction, with
    O(pause) between batches so that the application's writes get their turn.
  - The table is swept once, block range by block range (a TID range scan, PostgreSQL 14 or later), so
    that no batch reads the dead rows of earlier ones. A batch waits at most O(lock_timeout) for a row the
    application is updating; then its range is left to a last pass that skips locked rows
    (C(FOR UPDATE SKIP LOCKED)). Rows still locked are left for a later run.
  - The cutoff is fixed once, when the run starts; a row newer than it is never deleted.
  - Stops after O(max_rows) rows or O(max_duration), whichever comes first, and says how many rows are
    left. Every finished batch is committed, so a run that is interrupted keeps what it deleted, and running
    it again finishes the job.
  - In check mode nothing is deleted; the result says how many rows would go and their time range.
  - This frees space for PostgreSQL to reuse; the files shrink only with C(VACUUM FULL) (see M(oncall.runbooks.pg_vacuum)).
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.postgres
attributes:
  check_mode:
    support: full
    description: Counts the rows that would be deleted, with their time range, and deletes nothing.
  diff_mode:
    support: none
    description: RV(actions) says how many rows and which time range.
options:
  table:
    description:
      - The table, C(name) (found through the search path) or C(schema.name). A plain (not partitioned) table.
    type: str
    required: true
  time_column:
    description:
      - The timestamp or date column that decides a row's age.
    type: str
    default: completed_at
  older_than:
    description:
      - Delete rows whose O(time_column) is older than this. Required; there is no default age for deleting data.
      - A duration such as C(90d), C(12w), or a number of seconds.
    type: raw
    required: true
  filters:
    description:
      - "Only rows whose columns equal these values, e.g. C({status: completed}). Column names are
        checked to exist and are quoted as identifiers; values are passed as parameters."
    type: dict
    default: {}
  batch_size:
    description:
      - About this many rows are deleted per batch (one short transaction each). A batch covers the
        range of table blocks that holds about this many rows, so it may delete fewer.
    type: int
    default: 20000
  pause:
    description:
      - Pause between batches, a duration such as C(50ms) or C(1s). Each batch already commits and
        releases its locks; raise this when replicas lag behind or the disk is saturated.
    type: raw
    default: 0s
  max_rows:
    description:
      - Stop after deleting this many rows. Must be at least 1.
    type: int
    default: 1000000
  max_duration:
    description:
      - Stop starting new batches after this long.
    type: raw
    default: 15m
  lock_timeout:
    description:
      - How long a batch may wait for a table lock (for example during a migration) before the run stops.
    type: raw
    default: 5s
  statement_timeout:
    description:
      - How long one batch may take before the server cancels it.
    type: raw
    default: 60s
notes:
  - Batches find their rows through O(time_column); an index on it keeps each batch short.
seealso:
  - module: oncall.runbooks.pg_storage_info
    description: Which tables hold the space, and how full the disk is.
'''

EXAMPLES = r'''
- name: How many completed executions older than 90 days would go?
  oncall.runbooks.pg_purge:
    db: linkflow
    table: workflow_executions
    time_column: completed_at
    older_than: 90d
    filters:
      status: completed
  check_mode: true
  register: purge_plan

- name: Delete them, at most a million rows in at most 10 minutes, gently
  oncall.runbooks.pg_purge:
    db: linkflow
    table: workflow_executions
    older_than: 90d
    filters:
      status: completed
    max_rows: 1000000
    max_duration: 10m
    batch_size: 5000
    pause: 50ms
  register: purged
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: deleted 1000000 rows of public.workflow_executions older than 90d in 50 batches (1.9s); 0 left
actions:
  description: One entry for the table, as every fix module returns.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The table.
      type: str
    action:
      description: Always C(delete).
      type: str
    reason:
      description: The condition, with the cutoff.
      type: str
    done:
      description: Whether rows were deleted (always false in check mode).
      type: bool
    rows:
      description: Rows deleted, or in check mode rows that would be deleted (capped at O(max_rows)).
      type: int
deleted:
  description: Rows deleted (0 in check mode).
  returned: always
  type: int
matching:
  description: Rows older than the cutoff (and matching O(filters)) when the run started (rows deleted plus rows left).
  returned: always
  type: int
remaining:
  description: Rows still older than the cutoff when the run ended.
  returned: always
  type: int
complete:
  description: Whether no row older than the cutoff is left.
  returned: always
  type: bool
batches:
  description: Batches run.
  returned: always
  type: int
stopped_by:
  description: Why the run ended (C(done), C(max_rows), C(max_duration), C(locked rows)), or C(check mode).
  returned: always
  type: str
cutoff:
  description: The cutoff (ISO 8601); rows at or after it are never deleted.
  returned: always
  type: str
oldest:
  description: The oldest O(time_column) deleted (in check mode, of the rows that would go).
  returned: when rows were (or would be) deleted
  type: str
newest:
  description: The newest O(time_column) deleted (in check mode, of the rows that would go).
  returned: when rows were (or would be) deleted
  type: str
duration_seconds:
  description: How long the deleting took.
  returned: always
  type: float
table:
  description: The table, schema-qualified.
  returned: always
  type: str
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import (
    connect,
    equality_filters,
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
    check_cap,
    failing_on_error,
    format_duration,
    parse_duration,
)

try:
    import psycopg2
    import psycopg2.errors
except ImportError:
    psycopg2 = None  # reported by connect() before any query is built


def statements(schema, table, time_column, filters):
    names = dict(table=sql.Identifier(schema, table), time=sql.Identifier(time_column))
    terms, args = equality_filters(filters)
    condition = sql.SQL('{time} < %(cutoff)s').format(**names) + terms
    count = (sql.SQL('SELECT count(*) AS rows, min({time}) AS oldest, max({time}) AS newest FROM {table} WHERE ').format(**names)
             + condition)
    returning = sql.SQL(' RETURNING {time}) SELECT count(*) AS rows, min({time}) AS oldest, max({time}) AS newest FROM batch').format(**names)
    blocks = sql.SQL("ctid >= format('(%%s,0)', %(first)s::bigint)::tid AND ctid < format('(%%s,0)', %(last)s::bigint)::tid AND ")

    # The sweep: one block range per batch (a TID range scan), so that each batch reads only its
    # own blocks and never the dead rows of earlier batches again. It may wait up to lock_timeout
    # for a row the application is updating.
    in_blocks = sql.SQL('WITH batch AS (DELETE FROM {table} WHERE ').format(**names) + blocks + condition + returning

    # Capped batches and stragglers: ctid picks at most %(limit)s rows; SKIP LOCKED never waits
    # for the application; the condition is checked again on the rows actually deleted.
    def limited(where):
        return (sql.SQL('WITH batch AS (DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE ').format(**names)
                + where + condition + sql.SQL(' LIMIT %(limit)s FOR UPDATE SKIP LOCKED)) AND ') + condition + returning)
    return count, (in_blocks, limited(blocks), limited(sql.SQL(''))), args


def iso(value):
    return value.isoformat() if value is not None else None


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        table=dict(type='str', required=True),
        time_column=dict(type='str', default='completed_at'),
        older_than=dict(type='raw', required=True),
        filters=dict(type='dict', default={}),
        batch_size=dict(type='int', default=20000),
        pause=dict(type='raw', default='0s'),
        max_rows=dict(type='int', default=1000000),
        max_duration=dict(type='raw', default='15m'),
        lock_timeout=dict(type='raw', default='5s'),
        statement_timeout=dict(type='raw', default='60s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, postgres_target(params)):
        older_than = parse_duration(params['older_than'], 'older_than')
        pause = parse_duration(params['pause'], 'pause')
        max_duration = parse_duration(params['max_duration'], 'max_duration')
        timeouts = dict(lock_timeout=parse_duration(params['lock_timeout'], 'lock_timeout'),
                        statement_timeout=parse_duration(params['statement_timeout'], 'statement_timeout'))
        check_cap(params['batch_size'], 'batch_size')
        check_cap(params['max_rows'], 'max_rows')

        connection = connect(module, 'pg_purge')
        try:
            schema, table, oid = resolve_table(connection, params['table'])
            columns = dict(time_column=params['time_column'])
            columns.update(('filters.%s' % column, column) for column in params['filters'])
            resolve_columns(connection, oid, columns, time_columns=['time_column'])
            set_timeouts(connection, **timeouts)

            count, deletes, args = statements(schema, table, params['time_column'], params['filters'])
            args['cutoff'] = fetch_cutoff(connection, older_than)
            qualified = '%s.%s' % (schema, table)
            started = time.monotonic()
            if module.check_mode:
                before = fetch_all(connection, count, args)[0]
                outcome = dict(deleted=0, batches=0, oldest=before['oldest'], newest=before['newest'], stopped_by='check mode')
                matching = remaining = before['rows']
            else:
                # No count first: with the cutoff fixed, what matched is what went plus what is left.
                outcome = dict(deleted=0, batches=0, oldest=None, newest=None, stopped_by='done')
                in_blocks, capped_in_blocks, anywhere = deletes
                run_batches(connection, (in_blocks, capped_in_blocks), args, oid, params, pause, max_duration, outcome, started)
                remaining = fetch_all(connection, count, args)[0]['rows']
                if remaining and outcome['stopped_by'] == 'done':
                    # Rows the sweep could not take: locked at the time, or moved by an update
                    # into blocks already swept. Usually there are none, and this pass is skipped.
                    run_batches(connection, (anywhere, anywhere), args, None, params, pause, max_duration, outcome, started)
                    remaining = fetch_all(connection, count, args)[0]['rows']
                matching = outcome['deleted'] + remaining
                if remaining and outcome['stopped_by'] == 'done':
                    outcome['stopped_by'] = 'locked rows'
            plan = Plan()
            if matching:
                plan.add(qualified, 'delete', '%s older than %s (before %s)%s' % (
                    params['time_column'], format_duration(older_than), iso(args['cutoff']),
                    ''.join(' and %s = %r' % item for item in sorted(params['filters'].items()))),
                    rows=min(matching, params['max_rows']) if module.check_mode else outcome['deleted'])
            plan.carry_out(lambda item: outcome['deleted'] > 0, module.check_mode)
        finally:
            connection.close()

    duration = time.monotonic() - started
    if module.check_mode:
        summary = 'would delete %d rows of %s older than %s' % (min(matching, params['max_rows']), qualified, format_duration(older_than))
        if matching > params['max_rows']:
            summary += ' (max_rows %d of %d matching)' % (params['max_rows'], matching)
    else:
        summary = 'deleted %d rows of %s older than %s in %d batches (%.1fs); %d left' % (
            outcome['deleted'], qualified, format_duration(older_than), outcome['batches'], duration, remaining)
        if remaining and outcome['stopped_by'] != 'done':
            summary += ', stopped by %s: run again to continue' % outcome['stopped_by']
    result = plan.result(summary, module.check_mode, deleted=outcome['deleted'], matching=matching, remaining=remaining,
                         complete=remaining == 0, batches=outcome['batches'], stopped_by=outcome['stopped_by'],
                         cutoff=iso(args['cutoff']), duration_seconds=round(duration, 3), table=qualified)
    if outcome['oldest']:
        result.update(oldest=iso(outcome['oldest']), newest=iso(outcome['newest']))
    module.exit_json(**result)


def run_batches(connection, deletes, args, oid, params, pause, max_duration, outcome, started):
    """Delete batch after batch until a cap or the time limit is reached.

    With the table's ``oid``: sweep its blocks once, in ranges that hold about ``batch_size``
    rows. Without: take whatever rows still match (skipping locked ones) until none is left.
    ``deletes`` is the pair (statement for a full batch, statement capped at ``limit`` rows).
    """
    full, capped = deletes
    blocks, span, first = None, None, 0
    if oid is not None:
        size = fetch_all(connection, """SELECT pg_relation_size(c.oid) / current_setting('block_size')::int AS blocks, c.reltuples
                                        FROM pg_class AS c WHERE c.oid = %s""", (oid,))[0]
        blocks = size['blocks']
        rows_per_block = max(size['reltuples'] / blocks, 1.0) if blocks and size['reltuples'] > 0 else 100.0
        span = max(int(params['batch_size'] / rows_per_block), 1)
    while blocks is None or first < blocks:
        if outcome['deleted'] >= params['max_rows']:
            outcome['stopped_by'] = 'max_rows'
            return
        if time.monotonic() - started >= max_duration:
            outcome['stopped_by'] = 'max_duration'
            return
        limit = min(params['batch_size'], params['max_rows'] - outcome['deleted'])
        # Near max_rows, never more than the cap.
        query = full if limit == params['batch_size'] else capped
        try:
            batch = fetch_all(connection, query, dict(args, limit=limit, first=first, last=first + (span or 0)))[0]
        except psycopg2.errors.LockNotAvailable:
            # The application holds a row of this range longer than lock_timeout: leave the
            # range to the straggler pass, which skips locked rows instead of waiting.
            batch = dict(rows=0, oldest=None, newest=None)
        if blocks is not None:
            # A capped batch may have left rows in this range: stay on it until it yields less.
            if query is full or batch['rows'] < limit:
                first += span
        elif not batch['rows']:
            return
        if batch['rows']:
            outcome['batches'] += 1
            outcome['deleted'] += batch['rows']
            outcome['oldest'] = min(filter(None, [outcome['oldest'], batch['oldest']]))
            outcome['newest'] = max(filter(None, [outcome['newest'], batch['newest']]))
            if pause:
                time.sleep(pause)


if __name__ == '__main__':
    main()
