#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: queue_backlog_info
short_description: How deep and how old work queues are, in Laravel's Redis queues and in a jobs table
version_added: 0.1.0
description:
  - What the runbooks' C(php artisan queue:monitor redis --max=1000) should have told you during a "Laravel queue
    backlog" or "Workflow execution stalled" incident, measured where the queues live, without the application.
  - For each of O(redis_queues), reads Laravel's Redis queue keys (under O(redis_prefix)) and reports the jobs
    waiting (the list C(queues:NAME)), delayed (the sorted set C(queues:NAME:delayed)) and reserved by a worker
    (C(queues:NAME:reserved)) separately. The depth is their sum, as Laravel's C(Queue::size) and
    C(queue:monitor) count it.
  - Delayed jobs whose time has come are counted as C(due) (workers move them to the list when they poll, so due
    jobs that stay are a sign that no worker polls); reservations whose time ran out are counted as
    C(reserved_expired) (the worker that took them probably died).
  - The age of the oldest waiting job is read, best effort, from the C(pushedAt) or C(createdAt) field of the
    payload at the head of the list (Horizon and Laravel 11 and later write them); a due delayed job counts as
    waiting since it became due. Without either, the age is unknown and only the depth is graded.
  - With O(postgres), counts the rows of O(table) whose O(status_column) is one of O(pending_statuses), and the
    age of the oldest by O(created_column), per value of O(queue_column) when given. The table and columns are
    checked to exist before anything is read, and are only ever used quoted as identifiers.
  - Grades each queue against O(max_depth) and O(max_age) (warn) and O(critical_factor) times them (critical).
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.queues
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  redis_queues:
    description:
      - Names of the Laravel queues to read from O(redis), as the application names them (C(default), C(emails));
        the keys read are C(<redis_prefix>queues:NAME), C(...:delayed) and C(...:reserved).
      - Defaults to C([default]) when O(redis) is given. Giving it without O(redis) is an error.
    type: list
    elements: str
  redis_prefix:
    description:
      - Prefix of the queue keys. Laravel's Redis connection prefix (C(database.redis.options.prefix), for
        example C(laravel_database_)) is put in front of the queue keys in some setups; set it to the same value.
    type: str
    default: ''
  table:
    description:
      - The jobs table in O(postgres), C(name) (found through the search path) or C(schema.name).
      - Defaults to C(jobs) when O(postgres) is given. Giving it without O(postgres) is an error.
    type: str
  status_column:
    description:
      - Column of O(table) holding the job's status.
    type: str
    default: status
  pending_statuses:
    description:
      - Statuses that mean "waiting to be worked on".
    type: list
    elements: str
    default: [ pending, queued ]
  created_column:
    description:
      - Column of O(table) holding when the job was queued; a timestamp, a date, or a number of seconds since
        the epoch (what Laravel's own C(jobs) table holds).
    type: str
    default: created_at
  queue_column:
    description:
      - Column of O(table) naming the queue of each job. When set, each queue in the table is reported and graded
        on its own; otherwise the table is one queue.
    type: str
  query_timeout:
    description:
      - How long the count may run in PostgreSQL (C(statement_timeout)) before it is given up.
      - A duration such as C(30s) or C(1m), or a number of seconds.
    type: raw
    default: 30s
  max_depth:
    description:
      - The C(depth) finding of a queue with this many jobs or more is C(warn) (the seed's C(queue:monitor --max=1000)
        alerts at the same point). Must be at least 1.
    type: int
    default: 1000
  max_age:
    description:
      - The C(age) finding of a queue whose oldest waiting job has waited this long or longer is C(warn).
      - A duration such as C(10m) or C(1h), or a number of seconds; more than 0.
    type: raw
    default: 10m
  critical_factor:
    description:
      - A C(depth) or C(age) finding is C(critical) from this many times O(max_depth) or O(max_age) on
        (with the default, from 2000 jobs or 20 minutes). At least 1; 1 makes every finding over the limit critical.
    type: float
    default: 2.0
seealso:
  - module: oncall.runbooks.redis_info
    description: Redis memory and clients; a backlog that grows eats C(maxmemory).
  - module: oncall.runbooks.pg_stuck_jobs
    description: Jobs that started and never finished, rather than jobs that never started.
'''

EXAMPLES = r'''
- name: Laravel queue backlog - the seed's "php artisan queue:monitor redis --max=1000", without the app
  oncall.runbooks.queue_backlog_info:
    redis:
      login_host: "{{ redis_login_host }}"
      login_port: "{{ redis_login_port }}"
      login_password: "{{ redis_login_password }}"
      db: "{{ redis_db }}"
    redis_queues: [default, emails]
  register: backlog

- name: Both the Redis queues and the jobs table in PostgreSQL, with the lab's inventory variables
  oncall.runbooks.queue_backlog_info:
    redis:
      login_host: "{{ redis_login_host }}"
      login_port: "{{ redis_login_port }}"
      login_password: "{{ redis_login_password }}"
    postgres:
      login_host: "{{ postgres_login_host }}"
      port: "{{ postgres_port }}"
      login_user: "{{ postgres_login_user }}"
      login_password: "{{ postgres_login_password }}"
      db: "{{ postgres_db }}"
    table: jobs
    queue_column: queue
    max_depth: 500
    max_age: 5m

- name: Laravel's own database queue driver - every job of the default queue, reserved or not; created_at is epoch seconds
  oncall.runbooks.queue_backlog_info:
    postgres:
      login_host: db.internal
      login_user: app
      login_password: "{{ vault_app_db_password }}"
      db: app
    table: jobs
    status_column: queue
    pending_statuses: [default]
    created_column: created_at

- name: Through a URL, for a Redis connection prefix
  oncall.runbooks.queue_backlog_info:
    redis:
      url: "rediss://default:{{ vault_redis_password }}@redis.internal:6380/0"
    redis_prefix: laravel_database_
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: critical
findings:
  description:
    - What a human should read first, worst first. A C(depth) finding for each queue, and an C(age) finding for
      each queue whose oldest job's age is known.
    - Each names its queue in C(queue) (C(redis default), C(public.jobs), C(public.jobs emails)).
  returned: success
  type: list
  elements: dict
  sample:
    - check: depth
      queue: redis default
      status: warn
      message: "redis default - 1255 jobs (1205 waiting, 30 delayed of which 10 due, 20 reserved); max_depth 1000"
      value: 1255
      threshold: 1000
    - check: age
      queue: redis default
      status: critical
      message: "redis default - the oldest waiting job has waited 20m (pushedAt); max_age 10m"
      value: 1201.5
      threshold: 1200.0
queues:
  description: Each queue read, in the order of O(redis_queues), then the table's.
  returned: success
  type: list
  elements: dict
  contains:
    source:
      description: C(redis) or C(postgres).
      type: str
      sample: redis
    name:
      description: The queue's name as findings show it.
      type: str
      sample: redis default
    queue:
      description: The Laravel queue name, or the value of O(queue_column) (null without it).
      type: str
      sample: default
    key:
      description: The Redis list read (Redis only).
      type: str
      sample: queues:default
    table:
      description: The table read, schema-qualified (PostgreSQL only).
      type: str
      sample: public.jobs
    depth:
      description: Jobs in the queue; for Redis, RV(queues[].waiting) + RV(queues[].delayed) + RV(queues[].reserved).
      type: int
      sample: 1255
    waiting:
      description: Jobs in the list, ready for a worker (Redis); pending rows (PostgreSQL).
      type: int
      sample: 1205
    delayed:
      description: Jobs in the C(:delayed) sorted set (Redis only).
      type: int
      sample: 30
    due:
      description: Delayed jobs whose time has come (Redis only).
      type: int
      sample: 10
    reserved:
      description: Jobs a worker has taken and not finished (Redis only).
      type: int
      sample: 20
    reserved_expired:
      description: Reserved jobs whose reservation has run out (Redis only).
      type: int
      sample: 0
    oldest_age_seconds:
      description: How long the oldest waiting job has waited, in seconds; null when unknown or when nothing waits.
      type: float
      sample: 1201.5
    oldest_age:
      description: The same, for humans (C(20m)); null when unknown.
      type: str
      sample: 20m
    age_source:
      description:
        - Where the age comes from - C(pushedAt) or C(createdAt) (the payload at the head of the list), C(delayed)
          (a due delayed job waited longer), or the O(created_column) name; null when unknown.
      type: str
      sample: pushedAt
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils import postgres as pg
from ansible_collections.oncall.runbooks.plugins.module_utils import redis as rd
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError,
    check_cap,
    diagnostic_result,
    failing_on_error,
    finding,
    format_duration,
    parse_duration,
)

PURPOSE = 'queue_backlog_info'
# Payload fields that date a Laravel job: Horizon's pushedAt (microtime, as a string), Laravel 11's createdAt.
PAYLOAD_TIMES = ('pushedAt', 'createdAt')
# Columns holding seconds since the epoch (Laravel's jobs table) instead of a timestamp.
EPOCH_TYPES = ('integer', 'bigint', 'smallint', 'numeric', 'double precision', 'real')


# --- input -----------------------------------------------------------------------

def check_input(params):
    """Every option that can be judged without a server; returns (max_age, query_timeout) in seconds."""
    if params['redis_queues'] is not None and not params['redis']:
        raise RunbookError('redis_queues needs redis, the connection to the Redis server that holds them')
    if params['table'] is not None and not params['postgres']:
        raise RunbookError('table needs postgres, the connection to the database that holds it')
    if not params['redis'] and not params['postgres']:
        raise RunbookError('give redis (for redis_queues), postgres (for table), or both: there is no queue to read')
    check_cap(params['max_depth'], 'max_depth')
    max_age = parse_duration(params['max_age'], 'max_age')
    if max_age <= 0:
        raise RunbookError('max_age must be more than 0, got %r' % params['max_age'])
    if params['critical_factor'] < 1:
        raise RunbookError('critical_factor must be 1 or more, got %s' % params['critical_factor'])
    query_timeout = parse_duration(params['query_timeout'], 'query_timeout')
    if query_timeout <= 0:
        raise RunbookError('query_timeout must be more than 0, got %r' % params['query_timeout'])
    if params['redis']:
        if params['redis_queues'] is not None and not params['redis_queues']:
            raise RunbookError('redis_queues must name at least one queue')
        if any(not (name or '').strip() for name in params['redis_queues'] or []):
            raise RunbookError('redis_queues: a queue name must not be empty')
        try:
            rd.check_connection_options(params['redis'])
        except RunbookError as exc:
            raise RunbookError('redis.%s' % exc)
    if params['postgres']:
        if params['table'] is not None and not params['table'].strip():
            raise RunbookError('table must not be empty')
        for option in ('status_column', 'created_column', 'queue_column'):
            if params[option] is not None and not params[option]:
                raise RunbookError('%s must not be empty' % option)
        if not params['pending_statuses']:
            raise RunbookError('pending_statuses must name at least one status')
        if params['postgres']['connect_timeout'] < 1:
            raise RunbookError('postgres.connect_timeout must be at least 1 second, got %s' % params['postgres']['connect_timeout'])
    return max_age, query_timeout


# --- Redis: Laravel's queue keys --------------------------------------------------

def text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else value


def payload_time(raw):
    """(seconds since the epoch, field) of a Laravel payload's push time, or (None, None)."""
    try:
        payload = json.loads(text(raw))
    except (TypeError, ValueError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    for field in PAYLOAD_TIMES:
        try:
            stamp = float(payload.get(field))
        except (TypeError, ValueError):
            continue
        if stamp > 1e12:  # milliseconds, as a JavaScript producer writes them
            stamp /= 1000.0
        if stamp > 0:
            return stamp, field
    return None, None


def read_redis_queue(client, prefix, name, now):
    """Counts of one Laravel queue, and the age of its oldest waiting job: two round trips, the key types first."""
    key = '%squeues:%s' % (prefix, name)
    delayed, reserved = key + ':delayed', key + ':reserved'
    pipe = client.pipeline(transaction=False)
    pipe.type(key)
    pipe.type(delayed)
    pipe.type(reserved)
    answers = [text(kind) for kind in pipe.execute()]
    for found, wanted, which in zip(answers, ('list', 'zset', 'zset'), (key, delayed, reserved)):
        if found not in ('none', wanted):
            raise RunbookError('redis_queues: %s is a %s, not the %s of a Laravel queue' % (which, found, 'list' if wanted == 'list' else 'sorted set'))
    pipe.llen(key)
    pipe.zcard(delayed)
    pipe.zcount(delayed, '-inf', now)
    pipe.zcard(reserved)
    pipe.zcount(reserved, '-inf', now)
    # Laravel pushes with RPUSH and workers pop from the left: the head is the oldest.
    pipe.lindex(key, 0)
    pipe.zrange(delayed, 0, 0, withscores=True)
    waiting, delayed_count, due, reserved_count, expired, head, first_delayed = pipe.execute()
    entry = dict(source='redis', name='redis %s' % name, queue=name, key=key, waiting=waiting, delayed=delayed_count, due=due,
                 reserved=reserved_count, reserved_expired=expired, depth=waiting + delayed_count + reserved_count)
    ages = []
    if head is not None:
        stamp, field = payload_time(head)
        if stamp is not None:
            ages.append((max(now - stamp, 0.0), field))
    if first_delayed and first_delayed[0][1] <= now:
        ages.append((now - first_delayed[0][1], 'delayed'))
    set_age(entry, max(ages) if ages else (None, None))
    return entry


def read_redis(module, params):
    options = params['redis']
    client = rd.connect(module, PURPOSE, params=options)
    try:
        seconds, microseconds = client.time()
        # The server's clock, not ours: Laravel scores delayed jobs by the clock of the app, which is
        # closer to Redis's than to that of wherever this module runs.
        now = seconds + microseconds / 1e6
        return [read_redis_queue(client, params['redis_prefix'], name, now) for name in params['redis_queues'] or ['default']]
    finally:
        client.close()


def set_age(entry, age):
    seconds, source = age
    entry.update(oldest_age_seconds=None if seconds is None else round(seconds, 3),
                 oldest_age=None if seconds is None else format_duration(seconds), age_source=source)


# --- PostgreSQL: a jobs table -----------------------------------------------------

def resolve(connection, params):
    """The table and columns, known to exist; returns (schema, table, created column holds epoch seconds)."""
    schema, table, oid = pg.resolve_table(connection, params['table'] or 'jobs')
    columns = dict((option, params[option]) for option in ('status_column', 'created_column', 'queue_column') if params[option])
    types = pg.resolve_columns(connection, oid, columns)
    created = types['created_column']
    if created not in pg.TIME_TYPES and created not in EPOCH_TYPES:
        raise RunbookError('created_column: the column is of type %s, not a timestamp, a date or seconds since the epoch' % created)
    return schema, table, created in EPOCH_TYPES


def backlog_query(schema, table, params, epoch):
    """Pending rows and the age of the oldest, per queue when ``queue_column`` is set."""
    names = dict(table=pg.sql.Identifier(schema, table), status=pg.sql.Identifier(params['status_column']),
                 created=pg.sql.Identifier(params['created_column']),
                 queue=pg.sql.Identifier(params['queue_column']) if params['queue_column'] else pg.sql.SQL('NULL'))
    age = 'EXTRACT(EPOCH FROM now())::float - min({created})::float' if epoch else 'EXTRACT(EPOCH FROM now() - min({created}))::float'
    # ::text lets an enum status column be compared with the statuses given as text.
    query = 'SELECT {queue}::text AS queue, count(*) AS depth, ' + age + ' AS age FROM {table} WHERE {status}::text = ANY(%(statuses)s)'
    if params['queue_column']:
        query += ' GROUP BY 1 ORDER BY 1'
    return pg.sql.SQL(query).format(**names)


def read_table(connection, params, resolved, query_timeout):
    schema, table, epoch = resolved
    pg.set_timeouts(connection, statement_timeout=query_timeout)
    rows = pg.fetch_all(connection, backlog_query(schema, table, params, epoch), dict(statuses=params['pending_statuses']))
    qualified = '%s.%s' % (schema, table)
    # No pending row in any queue: the table is still reported, empty.
    rows = rows or [dict(queue=None, depth=0, age=None)]
    entries = []
    for row in rows:
        entry = dict(source='postgres', name=qualified if row['queue'] is None else '%s %s' % (qualified, row['queue']),
                     queue=row['queue'], table=qualified, depth=row['depth'], waiting=row['depth'])
        set_age(entry, (None, None) if row['age'] is None else (max(row['age'], 0.0), params['created_column']))
        entries.append(entry)
    return entries


# --- grading ----------------------------------------------------------------------

def level(value, limit, factor):
    """(status, threshold crossed) of a value against a warn limit and factor times it."""
    critical = limit * factor
    if value >= critical:
        # A whole number of jobs stays one: 2000, not 2000.0.
        return 'critical', int(critical) if isinstance(limit, int) and float(critical).is_integer() else critical
    if value >= limit:
        return 'warn', limit
    return 'ok', limit


def depth_detail(entry):
    if entry['source'] != 'redis':
        return '%d jobs pending' % entry['depth']
    delayed = '%d delayed' % entry['delayed'] + (' of which %d due' % entry['due'] if entry['due'] else '')
    reserved = '%d reserved' % entry['reserved'] + (' of which %d expired' % entry['reserved_expired'] if entry['reserved_expired'] else '')
    return '%d jobs (%d waiting, %s, %s)' % (entry['depth'], entry['waiting'], delayed, reserved)


def grade(entries, params, max_age):
    factor = params['critical_factor']
    findings = []
    for entry in entries:
        status, threshold = level(entry['depth'], params['max_depth'], factor)
        item = finding('depth', status, '%s - %s; %s %d' % (
            entry['name'], depth_detail(entry), 'max_depth' if status != 'critical' else 'critical at', threshold), entry['depth'], threshold)
        findings.append(dict(item, queue=entry['name']))
        if entry['oldest_age_seconds'] is not None:
            status, threshold = level(entry['oldest_age_seconds'], max_age, factor)
            item = finding('age', status, '%s - the oldest waiting job has waited %s (%s); %s %s' % (
                entry['name'], entry['oldest_age'], entry['age_source'], 'max_age' if status != 'critical' else 'critical at',
                format_duration(threshold)), entry['oldest_age_seconds'], threshold)
            findings.append(dict(item, queue=entry['name']))
    return findings


def main():
    argument_spec = dict(
        redis=dict(type='dict', options=rd.redis_argument_spec()),
        postgres=dict(type='dict', options=pg.postgres_argument_spec()),
        redis_queues=dict(type='list', elements='str'),
        redis_prefix=dict(type='str', default=''),
        table=dict(type='str'),
        status_column=dict(type='str', default='status'),
        pending_statuses=dict(type='list', elements='str', default=['pending', 'queued']),
        created_column=dict(type='str', default='created_at'),
        queue_column=dict(type='str'),
        query_timeout=dict(type='raw', default='30s'),
        max_depth=dict(type='int', default=1000),
        max_age=dict(type='raw', default='10m'),
        critical_factor=dict(type='float', default=2.0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, 'queue_backlog_info'):
        max_age, query_timeout = check_input(params)

    entries = []
    connection = None
    try:
        if params['postgres']:
            # The table and its columns are checked before any queue is read.
            with failing_on_error(module, pg.postgres_target(params['postgres'])):
                connection = pg.connect(module, PURPOSE, params=params['postgres'])
                resolved = resolve(connection, params)
        if params['redis']:
            with failing_on_error(module, rd.redis_target(params['redis'])):
                entries += read_redis(module, params)
        if connection is not None:
            with failing_on_error(module, pg.postgres_target(params['postgres'])):
                entries += read_table(connection, params, resolved, query_timeout)
    finally:
        if connection is not None:
            connection.close()

    module.exit_json(**diagnostic_result(grade(entries, params, max_age), queues=entries))


if __name__ == '__main__':
    main()
