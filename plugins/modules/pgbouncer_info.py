#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pgbouncer_info
short_description: PgBouncer's pools, clients waiting, paused databases and traffic
version_added: 0.1.0
description:
  - What the runbooks' C(psql -p 6432 pgbouncer -c "SHOW POOLS") should have told you during a
    "connection pool exhausted" incident on the PgBouncer platform.
  - Reads PgBouncer's admin console (C(SHOW POOLS), C(SHOW STATS), C(SHOW DATABASES),
    C(SHOW LISTS), C(SHOW VERSION)) and reports, per pool, the clients active and waiting for a
    server connection, the server connections active, idle and used, and how long the oldest
    waiting client has waited; per database, whether it is paused or disabled.
  - Grades what it sees into RV(findings) with a status of C(ok), C(warn) or C(critical).
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.pgbouncer
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
      - Only report and grade the pools, statistics and databases of these PgBouncer databases
        (the names in PgBouncer's C([databases]) section). Empty means all.
      - A name that PgBouncer does not serve fails the task, listing those it does.
    type: list
    elements: str
    default: []
  waiting_clients_warn:
    description:
      - Clients waiting for a server connection in one pool (C(cl_waiting)) at which that pool's
        C(waiting_clients) finding warns. Must be at least 1.
    type: int
    default: 1
  waiting_clients_critical:
    description:
      - Clients waiting in one pool at which its C(waiting_clients) finding is critical.
    type: int
    default: 10
  maxwait_warn:
    description:
      - How long the oldest client of a pool may have waited for a server connection
        (C(maxwait)) before that pool's C(maxwait) finding warns.
      - A duration such as C(500ms), C(5s) or C(1m), or a number of seconds.
    type: raw
    default: 5s
  maxwait_critical:
    description:
      - How long the oldest waiting client may have waited before the C(maxwait) finding is critical.
    type: raw
    default: 30s
notes:
  - C(maxwait) grows only while a client waits; PgBouncer resets it when the queue empties.
  - A database paused with a bare C(PAUSE) on the console (all databases at once) is not shown
    as paused by C(SHOW DATABASES) in PgBouncer 1.18; M(oncall.runbooks.pgbouncer_command)
    pauses database by database, which is.
seealso:
  - module: oncall.runbooks.pgbouncer_command
    description: Pause, resume, reconnect or kill PgBouncer's databases, or reload its configuration.
  - module: oncall.runbooks.pg_activity_info
    description: The same question asked of PostgreSQL behind PgBouncer.
'''

EXAMPLES = r'''
- name: Are clients queueing in PgBouncer?
  oncall.runbooks.pgbouncer_info:
    login_host: pgbouncer.internal
    login_user: pgbouncer_admin
    login_password: "{{ vault_pgbouncer_password }}"
  register: pgbouncer

- name: Show the pools where clients wait
  ansible.builtin.debug:
    msg: "{{ pgbouncer.pools | selectattr('cl_waiting', 'gt', 0) | list }}"

- name: Connection options set once for every PgBouncer module
  module_defaults:
    group/oncall.runbooks.pgbouncer:
      login_host: pgbouncer.internal
      login_user: pgbouncer_admin
      login_password: "{{ vault_pgbouncer_password }}"
  block:
    - name: Only the application's database, stricter on waiting time
      oncall.runbooks.pgbouncer_info:
        databases: [linkflow]
        maxwait_warn: 1s
        maxwait_critical: 10s
      register: pgbouncer
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: warn
findings:
  description:
    - What a human should read first, worst first. One finding per pool with waiting clients
      (C(waiting_clients)) or a long wait (C(maxwait)), per paused database (C(paused)) and per
      disabled database (C(disabled)); one C(ok) finding per check when nothing is wrong.
  returned: success
  type: list
  elements: dict
  contains:
    check:
      description: What was checked (C(waiting_clients), C(maxwait), C(paused), C(disabled)).
      type: str
    status:
      description: C(ok), C(warn) or C(critical).
      type: str
    message:
      description: One line for humans.
      type: str
    value:
      description: The measured value (clients, or seconds for C(maxwait)).
      type: raw
    threshold:
      description: The threshold it was compared with.
      type: raw
    database:
      description: The PgBouncer database the finding is about, when it is about one.
      type: str
    user:
      description: The user of the pool the finding is about, for pool findings.
      type: str
  sample:
    - check: waiting_clients
      status: warn
      message: "7 clients waiting for a server connection in pool linkflow/linkflow (5 active, 5 servers active; threshold 1)"
      value: 7
      threshold: 1
      database: linkflow
      user: linkflow
version:
  description: PgBouncer's version (C(SHOW VERSION)).
  returned: success
  type: str
  sample: PgBouncer 1.18.0
pools:
  description:
    - C(SHOW POOLS), one entry per database and user, with PgBouncer's own column names (those of
      the running version; the main ones are below).
  returned: success
  type: list
  elements: dict
  contains:
    database:
      description: PgBouncer database.
      type: str
    user:
      description: User of the pool.
      type: str
    cl_active:
      description: Clients linked to a server connection or idle with nothing to do.
      type: int
    cl_waiting:
      description: Clients that sent a query and wait for a server connection.
      type: int
    sv_active:
      description: Server connections linked to a client.
      type: int
    sv_idle:
      description: Server connections unused and ready.
      type: int
    sv_used:
      description: Server connections idle for longer than C(server_check_delay), to be checked before reuse.
      type: int
    maxwait:
      description: Seconds the oldest waiting client has waited, fractions included (PgBouncer's C(maxwait) plus C(maxwait_us)).
      type: float
    maxwait_us:
      description: The microsecond part of the wait, as PgBouncer reports it.
      type: int
    maxwait_for:
      description: RV(pools[].maxwait) for humans (C(37s)).
      type: str
    pool_mode:
      description: C(session), C(transaction) or C(statement).
      type: str
  sample:
    - {database: linkflow, user: linkflow, cl_active: 5, cl_waiting: 7, sv_active: 5, sv_idle: 0, sv_used: 0,
       maxwait: 12.5, maxwait_us: 500000, maxwait_for: 12s, pool_mode: transaction}
waiting_clients:
  description: Clients waiting for a server connection, all reported pools together.
  returned: success
  type: int
  sample: 7
stats:
  description:
    - C(SHOW STATS), one entry per database, with PgBouncer's column names (C(total_xact_count),
      C(total_query_count), C(total_wait_time) in microseconds, C(avg_query_time), ...).
  returned: success
  type: list
  elements: dict
  sample: [{database: linkflow, total_xact_count: 1520, total_query_count: 1530, total_wait_time: 9120000, avg_wait_time: 0}]
databases:
  description:
    - C(SHOW DATABASES), one entry per database, with PgBouncer's column names (C(name), C(host),
      C(port), C(database), C(pool_size), C(current_connections), ...); C(paused) and C(disabled)
      are booleans.
  returned: success
  type: list
  elements: dict
  sample: [{name: linkflow, host: 10.0.0.5, port: 5432, database: linkflow, pool_size: 5, current_connections: 5, paused: false, disabled: false}]
paused_databases:
  description: Names of the reported databases that are paused.
  returned: success
  type: list
  elements: str
  sample: []
lists:
  description: C(SHOW LISTS) as a dictionary of counts (C(used_clients), C(free_servers), C(pools), ...), for all of PgBouncer.
  returned: success
  type: dict
  sample: {databases: 3, pools: 2, used_clients: 12, free_clients: 38, used_servers: 5, free_servers: 45}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.pgbouncer import (
    ADMIN_DATABASE,
    check_known,
    Console,
    pgbouncer_argument_spec,
    pgbouncer_target,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_cap,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    finding,
    format_duration,
    graded_finding,
    parse_duration,
)


def gather(console, wanted):
    """Everything the console tells about the ``wanted`` databases (all when empty)."""
    databases = console.databases()
    check_known(wanted, [row['name'] for row in databases], 'databases', console.target)

    def reported(name):
        return name != ADMIN_DATABASE and (not wanted or name in wanted)

    pools = [row for row in console.show('POOLS') if reported(row['database'])]
    for pool in pools:
        # maxwait is whole seconds; maxwait_us (PgBouncer 1.8+) the microseconds beyond.
        pool['maxwait'] = round(pool.get('maxwait', 0) + pool.get('maxwait_us', 0) / 1e6, 3)
        pool['maxwait_for'] = format_duration(pool['maxwait'])
    databases = [row for row in databases if reported(row['name'])]
    return dict(
        version=console.show('VERSION')[0]['version'],
        pools=pools,
        waiting_clients=sum(pool['cl_waiting'] for pool in pools),
        stats=[row for row in console.show('STATS') if reported(row['database'])],
        databases=databases,
        paused_databases=[row['name'] for row in databases if row.get('paused')],
        lists=dict((row['list'], row['items']) for row in console.show('LISTS')),
    )


def grade(data, options):
    pools = data['pools']
    findings = []
    for pool in pools:
        where = dict(database=pool['database'], user=pool['user'])
        name = '%(database)s/%(user)s' % pool
        if pool['cl_waiting']:
            item = graded_finding(
                'waiting_clients', pool['cl_waiting'], options['waiting_clients_warn'], options['waiting_clients_critical'],
                '{value} clients waiting for a server connection in pool %s (%d active, %d servers active; threshold {threshold})'
                % (name, pool['cl_active'], pool['sv_active']))
            findings.append(dict(item, **where))
        if pool['maxwait'] >= options['maxwait_warn']:
            item = graded_finding(
                'maxwait', pool['maxwait'], options['maxwait_warn'], options['maxwait_critical'],
                'the oldest waiting client of pool %s has waited {value:g}s (threshold {threshold:g}s)' % name)
            findings.append(dict(item, **where))
    if not any(item['check'] == 'waiting_clients' for item in findings):
        findings.append(finding('waiting_clients', 'ok', 'no client waiting for a server connection in %d pools' % len(pools), 0))
    if not any(item['check'] == 'maxwait' for item in findings):
        longest = max([pool['maxwait'] for pool in pools] or [0])
        findings.append(finding('maxwait', 'ok', 'no client has waited %s or more (longest wait %s)' % (
            format_duration(options['maxwait_warn']), format_duration(longest)), longest, options['maxwait_warn']))

    for check, what in (('paused', 'paused: its clients wait until RESUME'), ('disabled', 'disabled: new clients are refused until ENABLE')):
        affected = [row['name'] for row in data['databases'] if row.get(check)]
        for name in affected:
            findings.append(dict(finding(check, 'warn', 'database %s is %s' % (name, what)), database=name))
        if not affected:
            findings.append(finding(check, 'ok', 'no database %s' % check, 0))
    return findings


def main():
    argument_spec = pgbouncer_argument_spec()
    argument_spec.update(
        databases=dict(type='list', elements='str', default=[]),
        waiting_clients_warn=dict(type='int', default=1),
        waiting_clients_critical=dict(type='int', default=10),
        maxwait_warn=dict(type='raw', default='5s'),
        maxwait_critical=dict(type='raw', default='30s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, pgbouncer_target(params)):
        options = dict(
            waiting_clients_warn=check_cap(params['waiting_clients_warn'], 'waiting_clients_warn'),
            waiting_clients_critical=check_cap(params['waiting_clients_critical'], 'waiting_clients_critical'),
            maxwait_warn=parse_duration(params['maxwait_warn'], 'maxwait_warn'),
            maxwait_critical=parse_duration(params['maxwait_critical'], 'maxwait_critical'),
        )
        check_thresholds(options['waiting_clients_warn'], options['waiting_clients_critical'], 'waiting_clients_warn', 'waiting_clients_critical')
        check_thresholds(options['maxwait_warn'], options['maxwait_critical'], 'maxwait_warn', 'maxwait_critical')

        console = Console(module, 'pgbouncer_info')
        try:
            data = gather(console, params['databases'])
        finally:
            console.close()

    module.exit_json(**diagnostic_result(grade(data, options), **data))


if __name__ == '__main__':
    main()
