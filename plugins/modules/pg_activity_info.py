#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pg_activity_info
short_description: Who is using PostgreSQL's connections, and what is stuck
version_added: 0.1.0
description:
  - What the runbooks' count of the rows of C(pg_stat_activity) should have told you during
    a "connection pool exhausted" or "too many connections" incident.
  - Reports C(max_connections), the slots reserved for superusers, connections in use and
    free, counts by state, database, user and application, sessions idle for longer than
    O(idle_threshold), sessions idle in a transaction with their age, queries running longer
    than O(long_query_threshold), and which sessions block which (C(pg_blocking_pids)).
  - Grades what it sees into RV(findings) with a status of C(ok), C(warn) or C(critical).
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
  idle_threshold:
    description:
      - Sessions whose state is C(idle) for longer than this are listed in RV(idle_sessions).
      - A duration such as C(30s), C(10m), C(1h) or C(90d), or a number of seconds.
    type: raw
    default: 10m
  idle_in_transaction_threshold:
    description:
      - Sessions idle inside an open transaction for longer than this raise a C(warn) finding;
        they hold locks and snapshots while doing nothing.
    type: raw
    default: 1m
  long_query_threshold:
    description:
      - Queries running longer than this are listed in RV(long_queries) and raise a C(warn) finding.
    type: raw
    default: 5m
  connections_warn:
    description:
      - Percentage of the connections open to non-superusers (C(max_connections) less
        C(superuser_reserved_connections)) in use at which the C(connections) finding warns.
    type: int
    default: 80
  connections_critical:
    description:
      - Percentage at which the C(connections) finding is critical. At 100 the application
        cannot open a connection.
    type: int
    default: 90
  query_max_length:
    description:
      - Query texts are cut to this many characters.
    type: int
    default: 200
  max_listed:
    description:
      - At most this many sessions are listed in each of RV(idle_sessions), RV(idle_in_transaction),
        RV(long_queries) and RV(blocking), the oldest first; the counts are always complete.
    type: int
    default: 50
notes:
  - Without superuser rights or membership in C(pg_read_all_stats), other roles' query texts
    read C(<insufficient privilege>).
  - The module's own session is counted in the connections in use (it occupies a slot) but is
    listed nowhere else.
seealso:
  - module: oncall.runbooks.pg_idle_kill
    description: Terminate the idle sessions that this module lists.
'''

EXAMPLES = r'''
- name: How full is the connection pool, and who holds it?
  oncall.runbooks.pg_activity_info:
    login_host: db.internal
    login_user: postgres
    login_password: "{{ vault_postgres_password }}"
    db: linkflow
  register: activity

- name: Stop here when the pool is exhausted
  ansible.builtin.assert:
    that: activity.status != 'critical'
    fail_msg: "{{ activity.findings | map(attribute='message') | join('; ') }}"

- name: Connection options set once for every PostgreSQL module
  module_defaults:
    group/oncall.runbooks.postgres:
      login_host: db.internal
      login_password: "{{ vault_postgres_password }}"
  block:
    - name: Look for queries running longer than 2 minutes
      oncall.runbooks.pg_activity_info:
        long_query_threshold: 2m
      register: activity
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: critical
findings:
  description: What a human should read first, worst first.
  returned: success
  type: list
  elements: dict
  contains:
    check:
      description: What was checked (C(connections), C(idle_sessions), C(idle_in_transaction), C(long_queries), C(blocking)).
      type: str
    status:
      description: C(ok), C(warn) or C(critical).
      type: str
    message:
      description: One line for humans.
      type: str
    value:
      description: The measured value.
      type: raw
    threshold:
      description: The threshold it was compared with.
      type: raw
  sample:
    - check: connections
      status: critical
      message: "48 connections in use, 0 of 47 left for non-superusers (102.1% used, threshold 90%; 50 max, 3 reserved for superusers)"
      value: 102.1
      threshold: 90
server_version:
  description: The server's version.
  returned: success
  type: str
  sample: "15.18"
max_connections:
  description: The server's C(max_connections).
  returned: success
  type: int
  sample: 50
reserved_connections:
  description: C(superuser_reserved_connections), the slots only superusers may take.
  returned: success
  type: int
  sample: 3
connections:
  description: Client connections in use and free.
  returned: success
  type: dict
  contains:
    in_use:
      description: Client backends connected now, this module's included.
      type: int
    free:
      description: Slots left for anybody, superusers included.
      type: int
    free_for_non_superusers:
      description: Slots left for ordinary roles such as the application's. Zero means the application is refused.
      type: int
    usage_percent:
      description: In-use connections as a percentage of those open to non-superusers.
      type: float
  sample: {in_use: 48, free: 2, free_for_non_superusers: 0, usage_percent: 102.1}
by_state:
  description: Number of client connections per state (C(active), C(idle), C(idle in transaction), ...).
  returned: success
  type: dict
  sample: {idle: 45, active: 2}
by_database:
  description: Number of client connections per database.
  returned: success
  type: dict
  sample: {linkflow: 46}
by_user:
  description: Number of client connections per role.
  returned: success
  type: dict
  sample: {linkflow: 46, postgres: 1}
by_application:
  description: Number of client connections per C(application_name) (empty names as C("")).
  returned: success
  type: dict
  sample: {linkflow-api: 46}
idle_sessions:
  description: Sessions idle for longer than O(idle_threshold), the longest idle first.
  returned: success
  type: list
  elements: dict
  contains:
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
      description: Client address and port, or C(local) for a Unix socket.
      type: str
    state:
      description: The session's state.
      type: str
    state_seconds:
      description: Seconds since the state last changed.
      type: float
    state_for:
      description: The same, for humans (C(37m)).
      type: str
    superuser:
      description: Whether the role is a superuser.
      type: bool
idle_sessions_count:
  description: How many sessions are idle longer than O(idle_threshold) (all of them, not only those listed).
  returned: success
  type: int
  sample: 37
idle_in_transaction:
  description:
    - Sessions idle inside a transaction (also aborted ones) for longer than O(idle_in_transaction_threshold),
      the oldest first, with the same keys as RV(idle_sessions) and C(transaction_seconds).
  returned: success
  type: list
  elements: dict
long_queries:
  description:
    - Active queries running longer than O(long_query_threshold), the longest first, with the keys of
      RV(idle_sessions) and C(query_seconds), C(duration), C(wait_event_type), C(wait_event) and C(query)
      (cut to O(query_max_length) characters).
  returned: success
  type: list
  elements: dict
blocking:
  description:
    - Sessions waiting for a lock held by others, with C(pid), C(user), C(database), C(blocked_by)
      (the pids holding the lock), C(waiting_seconds) and C(query).
  returned: success
  type: list
  elements: dict
  sample: [{pid: 4242, blocked_by: [4100], waiting_seconds: 12.5, query: "UPDATE executions SET ..."}]
own_pid:
  description: Process id of this module's own session.
  returned: success
  type: int
'''

from collections import Counter

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import (
    connect,
    fetch_sessions,
    fetch_settings,
    postgres_argument_spec,
    postgres_target,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_cap,
    check_ratio,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    finding,
    format_duration,
    graded_finding,
    parse_duration,
)


SESSION_KEYS = ('pid', 'user', 'database', 'application', 'client', 'state', 'state_seconds', 'superuser')


def describe(row, *extra):
    """The part of a session that a human reads, with its idle time spelled out."""
    item = dict((key, row[key]) for key in SESSION_KEYS + extra)
    item['state_for'] = format_duration(row['state_seconds'])
    return item


def oldest_first(rows, key, limit):
    return sorted(rows, key=lambda row: -(row[key] or 0))[:limit]


def gather(connection, options):
    settings = fetch_settings(connection, ['max_connections', 'superuser_reserved_connections', 'server_version'])
    rows = fetch_sessions(connection, options['query_max_length'])
    max_connections = int(settings['max_connections'])
    reserved = int(settings['superuser_reserved_connections'])
    in_use = len(rows)
    open_to_others = max(max_connections - reserved, 1)
    others = [row for row in rows if not row['own']]
    limit = options['max_listed']

    idle = [row for row in others if row['state'] == 'idle' and row['state_seconds'] > options['idle_threshold']]
    idle_in_transaction = [row for row in others if (row['state'] or '').startswith('idle in transaction')
                           and row['state_seconds'] > options['idle_in_transaction_threshold']]
    long_queries = [row for row in others if row['state'] == 'active' and (row['query_seconds'] or 0) > options['long_query_threshold']]
    blocked = [row for row in others if row['blocked_by']]

    data = dict(
        server_version=settings['server_version'],
        max_connections=max_connections,
        reserved_connections=reserved,
        own_pid=next((row['pid'] for row in rows if row['own']), None),
        connections=dict(
            in_use=in_use,
            free=max(max_connections - in_use, 0),
            free_for_non_superusers=max(open_to_others - in_use, 0),
            usage_percent=round(100.0 * in_use / open_to_others, 1),
        ),
        by_state=dict(Counter(row['state'] or 'unknown' for row in rows)),
        by_database=dict(Counter(row['database'] or '' for row in rows)),
        by_user=dict(Counter(row['user'] or '' for row in rows)),
        by_application=dict(Counter(row['application'] or '' for row in rows)),
        idle_sessions=[describe(row) for row in oldest_first(idle, 'state_seconds', limit)],
        idle_sessions_count=len(idle),
        idle_in_transaction=[describe(row, 'transaction_seconds') for row in oldest_first(idle_in_transaction, 'state_seconds', limit)],
        long_queries=[
            dict(describe(row, 'query_seconds', 'wait_event_type', 'wait_event', 'query'), duration=format_duration(row['query_seconds']))
            for row in oldest_first(long_queries, 'query_seconds', limit)
        ],
        blocking=[
            dict(pid=row['pid'], user=row['user'], database=row['database'], blocked_by=row['blocked_by'],
                 waiting_seconds=row['query_seconds'], query=row['query'])
            for row in oldest_first(blocked, 'query_seconds', limit)
        ],
    )
    return data, open_to_others


def grade(data, open_to_others, options):
    usage = data['connections']['usage_percent']
    connections = graded_finding(
        'connections', usage, options['connections_warn'], options['connections_critical'],
        '%d connections in use, %d of %d left for non-superusers ({value}%% used, threshold {threshold}%%; '
        '%d max, %d reserved for superusers)'
        % (data['connections']['in_use'], data['connections']['free_for_non_superusers'], open_to_others,
           data['max_connections'], data['reserved_connections']))
    findings = [connections]

    idle_count = data['idle_sessions_count']
    # Idle sessions are normal for pooled clients; they matter when the pool is tight.
    idle_status = 'warn' if idle_count and connections['status'] != 'ok' else 'ok'
    findings.append(finding(
        'idle_sessions', idle_status,
        '%d sessions idle for more than %s' % (idle_count, format_duration(options['idle_threshold'])),
        idle_count))

    for check, what, threshold_option, age_key in (
            ('idle_in_transaction', 'sessions idle in a transaction for more than', 'idle_in_transaction_threshold', 'state_seconds'),
            ('long_queries', 'queries running for more than', 'long_query_threshold', 'query_seconds')):
        rows = data[check]
        message = '%d %s %s' % (len(rows), what, format_duration(options[threshold_option]))
        if rows:
            message += ' (longest: pid %s, %s)' % (rows[0]['pid'], format_duration(rows[0][age_key]))
        findings.append(finding(check, 'warn' if rows else 'ok', message, len(rows)))

    blocking = data['blocking']
    message = '%d sessions waiting for locks held by other sessions' % len(blocking)
    if blocking:
        message += ' (pid %s waits for %s)' % (blocking[0]['pid'], ', '.join(str(pid) for pid in blocking[0]['blocked_by']))
    findings.append(finding('blocking', 'warn' if blocking else 'ok', message, len(blocking)))
    return findings


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        idle_threshold=dict(type='raw', default='10m'),
        idle_in_transaction_threshold=dict(type='raw', default='1m'),
        long_query_threshold=dict(type='raw', default='5m'),
        connections_warn=dict(type='int', default=80),
        connections_critical=dict(type='int', default=90),
        query_max_length=dict(type='int', default=200),
        max_listed=dict(type='int', default=50),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, postgres_target(params)):
        options = dict(
            idle_threshold=parse_duration(params['idle_threshold'], 'idle_threshold'),
            idle_in_transaction_threshold=parse_duration(params['idle_in_transaction_threshold'], 'idle_in_transaction_threshold'),
            long_query_threshold=parse_duration(params['long_query_threshold'], 'long_query_threshold'),
            connections_warn=check_ratio(params['connections_warn'], 'connections_warn'),
            connections_critical=check_ratio(params['connections_critical'], 'connections_critical'),
            query_max_length=check_cap(params['query_max_length'], 'query_max_length'),
            max_listed=check_cap(params['max_listed'], 'max_listed'),
        )
        check_thresholds(options['connections_warn'], options['connections_critical'], 'connections_warn', 'connections_critical')

        connection = connect(module, 'pg_activity_info')
        try:
            data, open_to_others = gather(connection, options)
        finally:
            connection.close()

    module.exit_json(**diagnostic_result(grade(data, open_to_others, options), **data))


if __name__ == '__main__':
    main()
