#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_vacuum
short_description: Vacuum and analyze PostgreSQL tables, the most bloated first
version_added: 0.1.0
description:
  - The runbooks' C(vacuumdb -U linkflow -d linkflow --analyze) during a "database disk full"
    incident, with a plan you can read first.
  - Runs C(VACUUM ANALYZE) on the tables of the connected database, or on those of O(tables), one
    table at a time, the most dead tuples first. With O(min_dead_ratio) or O(min_dead_tuples) only
    tables over those thresholds are vacuumed, so a second run finds nothing to do.
  - Plain C(VACUUM) makes the space of dead rows reusable; it does not give it back to the
    filesystem (except empty pages at the end of a table) and runs beside reads and writes.
  - O(full=true) runs VACUUM FULL. B(VACUUM FULL takes an ACCESS EXCLUSIVE lock on each table and rewrites it.
    Nobody can read or write that table until it is done, and the rewrite needs free disk space
    as large as the table's live data.) It is never done unless asked for by name.
  - In check mode, lists the tables it would vacuum and why (RV(actions)), and vacuums nothing.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.postgres
attributes:
  check_mode:
    support: full
    description: Returns the tables it would vacuum, with C(done=false), and runs no VACUUM.
  diff_mode:
    support: none
    description: A vacuum has no before and after to show besides RV(actions[].dead_tuples_after).
options:
  tables:
    description:
      - Vacuum these tables only, as C(name) or C(schema.name). Names are matched exactly as stored in the
        catalog (not folded to lower case). A C(name) without schema is looked up in the C(search_path),
        as PostgreSQL does.
      - Every table is checked to exist, and to be one the role may vacuum, before any is vacuumed.
        A name with quotes or other characters than letters, digits, C(_) and C($) fails the task.
      - When not set or empty, every table of the connected database that the role may vacuum (it owns
        the table or the database, or is a superuser).
    type: list
    elements: str
  min_dead_ratio:
    description:
      - Only tables whose dead tuples are more than this percentage of their tuples (live and dead).
      - When not set, the dead ratio does not matter.
    type: float
  min_dead_tuples:
    description:
      - Only tables with at least this many dead tuples. C(0) means any number.
    type: int
    default: 0
  analyze:
    description:
      - Also update the planner's statistics (C(VACUUM ANALYZE)), as C(vacuumdb --analyze) does.
    type: bool
    default: true
  full:
    description:
      - Run C(VACUUM FULL), which gives the space back to the filesystem by rewriting each table under an
        ACCESS EXCLUSIVE lock. The table is unavailable for the whole rewrite, and the rewrite needs free
        space as large as the table's live data. Only when asked for by name.
    type: bool
    default: false
  max_tables:
    description:
      - At most this many tables are vacuumed in one run, the most dead tuples first; the others are counted
        in RV(left_out) and the RV(summary) says so. Must be at least 1.
    type: int
    default: 50
  lock_timeout:
    description:
      - How long each VACUUM may wait for its table's lock (a duration such as C(5s) or C(1m), or a number
        of seconds; more than zero). A table that stays locked longer by another session is not vacuumed;
        its action gets an C(error) and the other tables are still vacuumed.
      - The vacuum itself, once it has its lock, is not limited in time.
    type: raw
    default: 5s
notes:
  - VACUUM cannot run inside a transaction; the module runs each one on its own, with autocommit.
  - Dead-tuple counts come from the statistics views (C(pg_stat_user_tables)); sessions report their
    changes when they go idle or end, so the counts may trail the very last writes by a second or so.
  - Tables that the role may not vacuum are left out when O(tables) is not set (VACUUM would only warn and
    skip them).
  - A VACUUM cannot remove rows that a transaction still open in the same database might see; the
    RV(actions[].dead_tuples_after) of each table shows what was left.
seealso:
  - module: oncall.runbooks.pg_storage_info
    description: Find the bloated tables and how much space they take.
'''

EXAMPLES = r'''
- name: The runbook's vacuumdb --analyze, but only where it matters
  oncall.runbooks.pg_vacuum:
    login_host: db.internal
    login_user: postgres
    login_password: "{{ vault_postgres_password }}"
    db: linkflow
    min_dead_ratio: 20
    min_dead_tuples: 1000
  register: vacuum

- name: Say what was done
  ansible.builtin.debug:
    msg: "{{ vacuum.summary }}"

- name: One table, without waiting more than 2 seconds for its lock
  oncall.runbooks.pg_vacuum:
    db: linkflow
    tables: [public.workflow_executions]
    lock_timeout: 2s

- name: Give the space back to the filesystem (locks each table while it is rewritten)
  oncall.runbooks.pg_vacuum:
    db: linkflow
    tables: [workflow_executions]
    full: true
'''

RETURN = r'''
changed:
  description: Whether a table was vacuumed; in check mode, whether one would be.
  returned: always
  type: bool
  sample: true
summary:
  description: One line for humans and the incident timeline, naming the cap when it left tables out.
  returned: success
  type: str
  sample: "vacuumed and analyzed 2 of 3 tables in linkflow with more than 20% dead tuples (max_tables 2 left 1 out)"
actions:
  description: One entry per table to vacuum, the most dead tuples first; the same in check mode, with C(done=false).
  returned: success
  type: list
  elements: dict
  contains:
    target:
      description: The table, schema-qualified.
      type: str
    action:
      description: C(vacuum), C(vacuum analyze), C(vacuum full) or C(vacuum full analyze).
      type: str
    reason:
      description: Its dead tuples before the vacuum.
      type: str
    done:
      description: Whether it was vacuumed.
      type: bool
    dead_tuples:
      description: Dead tuples before.
      type: int
    dead_ratio:
      description: Dead ratio (percent) before.
      type: float
    size_bytes:
      description: Total size (table, TOAST and indexes) before.
      type: int
    dead_tuples_after:
      description: Dead tuples left after the vacuum (not in check mode).
      type: int
    size_bytes_after:
      description: Total size after the vacuum (not in check mode); smaller mostly after a VACUUM FULL.
      type: int
    error:
      description: Why it was not vacuumed, for example C(canceling statement due to lock timeout).
      type: str
  sample:
    - target: public.workflow_executions
      action: vacuum analyze
      reason: "dead 39.6% (82000 dead tuples)"
      done: true
      dead_tuples: 82000
      dead_ratio: 39.6
      size_bytes: 47865856
      dead_tuples_after: 0
      size_bytes_after: 47865856
candidates:
  description: How many tables matched, before the cap.
  returned: success
  type: int
  sample: 3
left_out:
  description: How many matching tables the cap O(max_tables) left out.
  returned: success
  type: int
  sample: 1
database:
  description: The connected database.
  returned: success
  type: str
  sample: linkflow
'''

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import (
    bloat_label,
    connect,
    fetch_table_stats,
    is_bloated,
    most_bloated_first,
    postgres_argument_spec,
    postgres_target,
    resolve_table,
    set_timeouts,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    Plan,
    RunbookError,
    check_cap,
    check_ratio,
    failing_on_error,
    parse_duration,
    plan_summary,
)

# Plain identifiers only: anything that would need quoting in SQL is far more likely a typo
# or an injection than a real table name.
IDENTIFIER = re.compile(r'[^\W\d][\w$]*', re.UNICODE)


def check_table_name(text):
    """Refuse before connecting what cannot be a plain name or schema.name."""
    parts = str(text).split('.')
    if len(parts) > 2 or not all(IDENTIFIER.fullmatch(part) for part in parts):
        raise RunbookError('tables: %r is not a table name; use name or schema.name (letters, digits, _ and $)' % str(text))
    return str(text)


def resolve_tables(connection, names, stats):
    """The rows of ``stats`` that ``names`` designate, each checked before anything runs."""
    by_relid = dict((row['relid'], row) for row in stats)
    chosen = {}
    for text in names:
        relid = resolve_table(connection, text, 'tables')[2]
        row = by_relid.get(relid)
        if row is None:
            raise RunbookError('tables: %r is not a table with statistics in database %s' % (text, connection.info.dbname))
        if not row['can_vacuum']:
            raise RunbookError('tables: not allowed to vacuum %s (only its owner, the database owner or a superuser may)' % row['table'])
        chosen[row['relid']] = row
    return list(chosen.values())


def action_name(options):
    return 'vacuum' + (' full' if options['full'] else '') + (' analyze' if options['analyze'] else '')


def build_plan(connection, options):
    stats = fetch_table_stats(connection)
    if options['tables']:
        rows = resolve_tables(connection, options['tables'], stats)
    else:
        rows = [row for row in stats if row['can_vacuum']]
    rows = [row for row in rows if is_bloated(row, options['min_dead_ratio'], options['min_dead_tuples'])]
    plan = Plan(options['max_tables'])
    for row in most_bloated_first(rows):
        plan.add(row['table'], action_name(options), bloat_label(row), relid=row['relid'], schema=row['schema'], name=row['name'],
                 dead_tuples=row['dead_tuples'], dead_ratio=row['dead_ratio'], size_bytes=row['total_bytes'])
    return plan.cap()


def vacuumer(connection, options):
    from psycopg2 import errors, sql
    flags = [sql.SQL('FULL')] if options['full'] else []
    flags += [sql.SQL('ANALYZE')] if options['analyze'] else []
    # VACUUM with an empty option list is a syntax error; VERBOSE false is the neutral option.
    flags = flags or [sql.SQL('VERBOSE false')]

    def execute(action):
        statement = sql.SQL('VACUUM ({}) {}').format(sql.SQL(', ').join(flags), sql.Identifier(action['schema'], action['name']))
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        except errors.UndefinedTable:
            return False  # dropped since the plan was made: nothing left to vacuum
        return True

    return execute


def describe_scope(options, database):
    noun = '%s in %s' % ('listed tables' if options['tables'] else 'tables', database)
    conditions = []
    if options['min_dead_ratio'] is not None:
        conditions.append('more than %g%% dead tuples' % options['min_dead_ratio'])
    if options['min_dead_tuples']:
        conditions.append('at least %d dead tuples' % options['min_dead_tuples'])
    return noun + (' with ' + ' and '.join(conditions) if conditions else '')


def verbs(options):
    verb = 'vacuum (full)' if options['full'] else 'vacuum'
    past = 'vacuumed (full)' if options['full'] else 'vacuumed'
    return (verb + ' and analyze', past + ' and analyzed') if options['analyze'] else (verb, past)


def validate(params):
    options = dict(
        tables=[check_table_name(text) for text in params['tables'] or []],
        min_dead_ratio=None if params['min_dead_ratio'] is None else check_ratio(params['min_dead_ratio'], 'min_dead_ratio'),
        min_dead_tuples=params['min_dead_tuples'],
        analyze=params['analyze'],
        full=params['full'],
        max_tables=check_cap(params['max_tables'], 'max_tables'),
        lock_timeout=parse_duration(params['lock_timeout'], 'lock_timeout'),
    )
    if options['min_dead_tuples'] < 0:
        raise RunbookError('min_dead_tuples must be zero or more, got %d' % options['min_dead_tuples'])
    if options['lock_timeout'] < 0.001:
        raise RunbookError('lock_timeout must be more than zero (without it a locked table would make the task hang), got %r'
                           % params['lock_timeout'])
    return options


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        tables=dict(type='list', elements='str'),
        min_dead_ratio=dict(type='float'),
        min_dead_tuples=dict(type='int', default=0),
        analyze=dict(type='bool', default=True),
        full=dict(type='bool', default=False),
        max_tables=dict(type='int', default=50),
        lock_timeout=dict(type='raw', default='5s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, postgres_target(params)):
        options = validate(params)
        connection = connect(module, 'pg_vacuum')
        try:
            set_timeouts(connection, lock_timeout=options['lock_timeout'])
            database = connection.info.dbname
            plan = build_plan(connection, options)
            plan.carry_out(vacuumer(connection, options), module.check_mode)
            after = dict((row['relid'], row) for row in fetch_table_stats(connection, [entry['relid'] for entry in plan.done]))
        finally:
            connection.close()

    for entry in plan.actions:
        row = after.get(entry.pop('relid'))
        del entry['schema'], entry['name']
        if row:
            entry.update(dead_tuples_after=row['dead_tuples'], size_bytes_after=row['total_bytes'])
    summary = plan_summary(plan, verbs(options), describe_scope(options, database), module.check_mode, 'max_tables')
    module.exit_json(**plan.result(summary, module.check_mode, database=database))


if __name__ == '__main__':
    main()
