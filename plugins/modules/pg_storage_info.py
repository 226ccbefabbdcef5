#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_storage_info
short_description: Where PostgreSQL's disk space went, and which tables are bloated
version_added: 0.1.0
description:
  - What the runbooks' C(df -h /var/lib/postgresql/data) should have told you during a
    "database disk full" incident, and what to vacuum or purge next.
  - Reports the size of every database (or of O(databases)), the O(max_tables) largest tables
    of the connected database with their total, table and index sizes, live and dead tuples,
    dead ratio and last (auto)vacuum and (auto)analyze times, and the size of the WAL.
  - When the module runs on the database server itself (the server's C(data_directory) exists on
    the host running the module), also the size, used and free space of the filesystem that holds it,
    the way C(df) computes them.
  - Grades what it sees into RV(findings) with a status of C(ok), C(warn) or C(critical). The disk
    usage is compared with O(disk_warn) and O(disk_critical); tables whose dead ratio is over
    O(dead_ratio_warn) with at least O(min_dead_tuples) dead tuples are bloat.
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.postgres
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  databases:
    description:
      - Report the sizes of these databases only. When not set or empty, every database except the templates.
      - A name that is not a database fails the task.
      - Tables are always those of the connected database (O(db)).
    type: list
    elements: str
  max_tables:
    description:
      - List at most this many tables in RV(tables) (the largest first) and in RV(bloated_tables)
        (the most dead tuples first). The bloat finding always counts every table.
    type: int
    default: 20
  disk_warn:
    description:
      - Percentage of the data directory's filesystem in use at which the C(disk) finding warns.
    type: int
    default: 80
  disk_critical:
    description:
      - Percentage at which the C(disk) finding is critical.
    type: int
    default: 90
  dead_ratio_warn:
    description:
      - A table whose dead tuples are more than this percentage of its tuples (live and dead) is
        bloated, if it also has at least O(min_dead_tuples) dead tuples. Bloated tables raise a
        C(warn) finding.
    type: float
    default: 20
  min_dead_tuples:
    description:
      - Tables with fewer dead tuples than this are never reported as bloated, whatever their ratio;
        a small table with a high ratio costs nothing.
    type: int
    default: 1000
notes:
  - Tuple counts come from the statistics views (C(pg_stat_user_tables)); no table is scanned.
    Sessions report their changes when they go idle or end, so the counts may trail the very
    last writes by a second or so.
  - The WAL size needs the function C(pg_ls_waldir), which only superusers and members of C(pg_monitor) may call;
    for other roles RV(wal) says so instead of failing. Likewise C(data_directory) is shown only to
    superusers and members of C(pg_read_all_settings).
  - The filesystem is measured only when the data directory exists on the host running the module
    and, where C(postmaster.pid) is readable, belongs to the server on the connected port. Run the
    module on the database host (or delegate it there) to see the disk.
  - Databases that the role may not connect to are listed with a size of null.
seealso:
  - module: oncall.runbooks.pg_vacuum
    description: Vacuum the bloated tables that this module lists.
  - module: oncall.runbooks.pg_activity_info
    description: Who is using the connections.
'''

EXAMPLES = r'''
- name: How full is the database disk, and what takes the space?
  oncall.runbooks.pg_storage_info:
    login_host: db.internal
    login_user: postgres
    login_password: "{{ vault_postgres_password }}"
    db: linkflow
  register: storage

- name: Show the largest tables
  ansible.builtin.debug:
    msg: "{{ storage.tables | map(attribute='table') | zip(storage.tables | map(attribute='size')) | list }}"

- name: Vacuum only if something is bloated
  oncall.runbooks.pg_vacuum:
    db: linkflow
    min_dead_ratio: 20
  when: storage.bloated_tables | length > 0

- name: Only the application's databases, with a stricter bloat threshold
  oncall.runbooks.pg_storage_info:
    databases: [linkflow, cloudflow]
    dead_ratio_warn: 10
    min_dead_tuples: 10000
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: warn
findings:
  description: What a human should read first, worst first.
  returned: success
  type: list
  elements: dict
  contains:
    check:
      description: What was checked (C(disk), C(bloat), C(wal)).
      type: str
    status:
      description: C(ok), C(warn) or C(critical).
      type: str
    message:
      description: One line for humans.
      type: str
    value:
      description: The measured value (percent used for C(disk), number of bloated tables for C(bloat)).
      type: raw
    threshold:
      description: The threshold it was compared with.
      type: raw
  sample:
    - check: bloat
      status: warn
      message: "1 table with more than 20% dead tuples and at least 1000 of them: public.workflow_executions dead 39.6% (82000 dead tuples)"
      value: 1
      threshold: 20
server_version:
  description: The server's version.
  returned: success
  type: str
  sample: "15.18"
database:
  description: The connected database, whose tables are listed.
  returned: success
  type: str
  sample: linkflow
databases:
  description: Databases and their sizes, the largest first.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The database.
      type: str
    size_bytes:
      description: Its size on disk in bytes; null when the role may not connect to it.
      type: int
    size:
      description: The same, for humans.
      type: str
  sample: [{name: linkflow, size_bytes: 48824111, size: "46.6 MB"}]
tables:
  description: The O(max_tables) largest tables of the connected database, the largest first.
  returned: success
  type: list
  elements: dict
  contains:
    table:
      description: Schema-qualified name.
      type: str
    schema:
      description: Schema of the table.
      type: str
    name:
      description: Name of the table.
      type: str
    total_bytes:
      description: Table, TOAST and indexes (C(pg_total_relation_size)); equals RV(tables[].table_bytes) plus RV(tables[].index_bytes).
      type: int
    table_bytes:
      description: The table with its TOAST, free space and visibility maps (C(pg_table_size)).
      type: int
    index_bytes:
      description: All indexes of the table (C(pg_indexes_size)).
      type: int
    size:
      description: RV(tables[].total_bytes) for humans.
      type: str
    live_tuples:
      description: Estimated live rows.
      type: int
    dead_tuples:
      description: Estimated dead rows, waiting for a vacuum.
      type: int
    dead_ratio:
      description: Dead tuples as a percentage of live and dead ones.
      type: float
    last_vacuum:
      description: When the table was last vacuumed by hand (ISO 8601), or null.
      type: str
    last_autovacuum:
      description: When autovacuum last vacuumed it, or null.
      type: str
    last_analyze:
      description: When it was last analyzed by hand, or null.
      type: str
    last_autoanalyze:
      description: When autovacuum last analyzed it, or null.
      type: str
    autovacuum_enabled:
      description: False when autovacuum is switched off for this table (C(autovacuum_enabled = false)).
      type: bool
  sample:
    - table: public.workflow_executions
      schema: public
      name: workflow_executions
      total_bytes: 47865856
      table_bytes: 35045376
      index_bytes: 12820480
      size: "45.6 MB"
      live_tuples: 125000
      dead_tuples: 82000
      dead_ratio: 39.6
      last_vacuum: null
      last_autovacuum: "2026-01-10T03:12:44.120Z"
      last_analyze: null
      last_autoanalyze: "2026-01-10T03:12:45.301Z"
      autovacuum_enabled: true
tables_count:
  description: How many user tables the connected database has (all of them, not only those listed).
  returned: success
  type: int
  sample: 12
bloated_tables:
  description:
    - Tables over O(dead_ratio_warn) with at least O(min_dead_tuples) dead tuples, the most dead tuples
      first, at most O(max_tables), with the keys of RV(tables).
  returned: success
  type: list
  elements: dict
bloated_tables_count:
  description: How many tables are bloated (all of them, not only those listed).
  returned: success
  type: int
  sample: 1
wal:
  description: The size of the write-ahead log (C(pg_wal)).
  returned: success
  type: dict
  contains:
    permitted:
      description: Whether the role may list the WAL directory; the other keys but RV(wal.reason) are present only when it may.
      type: bool
    files:
      description: Number of WAL segment files.
      type: int
    size_bytes:
      description: Their total size in bytes.
      type: int
    size:
      description: The same, for humans.
      type: str
    reason:
      description: Why the WAL was not measured.
      type: str
  sample: {permitted: true, files: 4, size_bytes: 67108864, size: "64.0 MB"}
filesystem:
  description: The filesystem that holds the data directory, as C(df) shows it.
  returned: success
  type: dict
  contains:
    measured:
      description:
        - Whether it could be measured from where the module runs.
        - The other keys but RV(filesystem.path) and RV(filesystem.reason) are present only then.
      type: bool
    path:
      description: The server's C(data_directory), or null when the role may not see it.
      type: str
    size_bytes:
      description: Size of the filesystem in bytes.
      type: int
    used_bytes:
      description: Bytes in use.
      type: int
    free_bytes:
      description: Bytes available to unprivileged users (what C(df) shows as C(Avail)).
      type: int
    used_percent:
      description: Used as a percentage of used and available, rounded up to a tenth (the C(Use%) of C(df)).
      type: float
    size:
      description: RV(filesystem.size_bytes) for humans.
      type: str
    used:
      description: RV(filesystem.used_bytes) for humans.
      type: str
    free:
      description: RV(filesystem.free_bytes) for humans.
      type: str
    reason:
      description: Why the filesystem was not measured.
      type: str
  sample: {measured: true, path: /var/lib/postgresql/data, size_bytes: 105089261568, used_bytes: 98784247808,
           free_bytes: 949010432, used_percent: 99.1, size: "97.9 GB", used: "92.0 GB", free: "905.0 MB"}
'''

import math
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import (
    bloat_label,
    connect,
    fetch_all,
    fetch_settings,
    fetch_table_stats,
    is_bloated,
    most_bloated_first,
    postgres_argument_spec,
    postgres_target,
    psycopg2,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_cap,
    check_ratio,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    finding,
    format_bytes,
    graded_finding,
    RunbookError,
)

DATABASES_QUERY = """
SELECT d.oid, d.datname AS name, has_database_privilege(d.oid, 'CONNECT') AS can_connect
FROM pg_database AS d
WHERE (%(names)s::text[] IS NULL AND NOT d.datistemplate) OR d.datname = ANY(%(names)s::text[])
"""

# pg_ls_waldir() is revoked from PUBLIC; asking first avoids an error in the middle of the run.
WAL_QUERY = """
SELECT has_function_privilege('pg_ls_waldir()', 'EXECUTE') AS permitted
"""
WAL_SIZE_QUERY = 'SELECT count(*) AS files, coalesce(sum(size), 0)::bigint AS size_bytes FROM pg_ls_waldir()'

UNDEFINED_DATABASE = '3D000'


def database_sizes(connection, names):
    rows = fetch_all(connection, DATABASES_QUERY, {'names': names})
    if names:
        missing = sorted(set(names) - set(row['name'] for row in rows))
        if missing:
            raise RunbookError('databases: no database named %s on this server' % ', '.join(repr(name) for name in missing))
    sizes = []
    for row in rows:
        size = None
        if row['can_connect']:
            try:
                size = fetch_all(connection, 'SELECT pg_database_size(%s::oid) AS size', (row['oid'],))[0]['size']
            except psycopg2.Error as exc:
                # Dropped between the listing and the measure: it takes no space any more.
                if exc.pgcode == UNDEFINED_DATABASE:
                    continue
                raise
        sizes.append(dict(name=row['name'], size_bytes=size, size=format_bytes(size) if size is not None else None))
    return sorted(sizes, key=lambda item: (-(item['size_bytes'] or 0), item['name']))


def wal_size(connection):
    if not fetch_all(connection, WAL_QUERY)[0]['permitted']:
        return dict(permitted=False, reason='pg_ls_waldir() needs a superuser or a member of pg_monitor; '
                                            'the WAL size was not measured')
    row = fetch_all(connection, WAL_SIZE_QUERY)[0]
    return dict(permitted=True, files=row['files'], size_bytes=row['size_bytes'], size=format_bytes(row['size_bytes']))


def same_server(path, port):
    """Whether the postmaster.pid in ``path`` is that of the server on ``port``; None when unreadable."""
    try:
        with open(os.path.join(path, 'postmaster.pid')) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return None
    return len(lines) > 3 and lines[3].strip() == str(port)


def filesystem(settings):
    path = settings.get('data_directory')
    if not path:
        return dict(measured=False, path=None,
                    reason='data_directory is shown only to superusers and members of pg_read_all_settings')
    if not os.path.isdir(path):
        return dict(measured=False, path=path,
                    reason='%s does not exist on the host running the module; run it on the database host' % path)
    if same_server(path, settings['port']) is False:
        return dict(measured=False, path=path,
                    reason='%s on the host running the module belongs to another server than the one on port %s' % (path, settings['port']))
    stat = os.statvfs(path)
    size = stat.f_blocks * stat.f_frsize
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    # df's Use%: used over what unprivileged users could have, rounded up.
    used_percent = math.ceil(1000.0 * used / (used + free)) / 10.0 if used + free else 0.0
    return dict(measured=True, path=path, size_bytes=size, used_bytes=used, free_bytes=free, used_percent=used_percent,
                size=format_bytes(size), used=format_bytes(used), free=format_bytes(free))


def listed(row):
    return dict((key, value) for key, value in row.items() if key not in ('relid', 'can_vacuum'))


def gather(connection, options):
    settings = fetch_settings(connection, ['server_version', 'data_directory', 'port'])
    stats = fetch_table_stats(connection)
    bloated = most_bloated_first([row for row in stats if is_bloated(row, options['dead_ratio_warn'], options['min_dead_tuples'])])
    limit = options['max_tables']
    largest = sorted(stats, key=lambda row: (-row['total_bytes'], row['table']))[:limit]
    return dict(
        server_version=settings['server_version'],
        database=fetch_all(connection, 'SELECT current_database() AS name')[0]['name'],
        databases=database_sizes(connection, options['databases']),
        tables=[listed(row) for row in largest],
        tables_count=len(stats),
        bloated_tables=[listed(row) for row in bloated[:limit]],
        bloated_tables_count=len(bloated),
        wal=wal_size(connection),
        filesystem=filesystem(settings),
    )


def grade(data, options):
    disk = data['filesystem']
    if disk['measured']:
        findings = [graded_finding(
            'disk', disk['used_percent'], options['disk_warn'], options['disk_critical'],
            'filesystem of %s: {value}%% used (threshold {threshold}%%), %s free of %s' % (disk['path'], disk['free'], disk['size']))]
    else:
        findings = [finding('disk', 'ok', 'disk usage not measured: %s' % disk['reason'])]

    bloated = data['bloated_tables']
    count = data['bloated_tables_count']
    message = '%d %s with more than %s%% dead tuples and at least %d of them' % (
        count, 'table' if count == 1 else 'tables', ('%g' % options['dead_ratio_warn']), options['min_dead_tuples'])
    if bloated:
        message += ': ' + ', '.join('%s %s' % (row['table'], bloat_label(row)) for row in bloated[:3])
        if count > 3:
            message += ', ...'
    findings.append(finding('bloat', 'warn' if count else 'ok', message, count, options['dead_ratio_warn']))

    wal = data['wal']
    if wal['permitted']:
        findings.append(finding('wal', 'ok', 'WAL: %d files, %s' % (wal['files'], wal['size']), wal['size_bytes']))
    else:
        findings.append(finding('wal', 'ok', 'WAL size not measured: %s' % wal['reason']))
    return findings


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        databases=dict(type='list', elements='str'),
        max_tables=dict(type='int', default=20),
        disk_warn=dict(type='int', default=80),
        disk_critical=dict(type='int', default=90),
        dead_ratio_warn=dict(type='float', default=20),
        min_dead_tuples=dict(type='int', default=1000),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, postgres_target(params)):
        options = dict(
            databases=params['databases'] or None,
            max_tables=check_cap(params['max_tables'], 'max_tables'),
            disk_warn=check_ratio(params['disk_warn'], 'disk_warn'),
            disk_critical=check_ratio(params['disk_critical'], 'disk_critical'),
            dead_ratio_warn=check_ratio(params['dead_ratio_warn'], 'dead_ratio_warn'),
            min_dead_tuples=params['min_dead_tuples'],
        )
        if options['min_dead_tuples'] < 0:
            raise RunbookError('min_dead_tuples must be zero or more, got %d' % options['min_dead_tuples'])
        check_thresholds(options['disk_warn'], options['disk_critical'], 'disk_warn', 'disk_critical')

        connection = connect(module, 'pg_storage_info')
        try:
            data = gather(connection, options)
        finally:
            connection.close()

    module.exit_json(**diagnostic_result(grade(data, options), **data))


if __name__ == '__main__':
    main()
