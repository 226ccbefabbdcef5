# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""queue_backlog_info against the lab's Redis and PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import json
import time

import pytest
from psycopg2 import sql

from lab import scenarios
from lab.core import Lab
from lab.scenarios_queues import JOBS_TABLE, MARK, QUEUE

MODULE = 'queue_backlog_info'


def redis_args(**overrides):
    """The lab's Redis, from the inventory variables, as the nested ``redis`` option."""
    args = {'login_host': '{{ redis_login_host }}', 'login_port': '{{ redis_login_port }}',
            'login_password': '{{ redis_login_password }}'}
    args.update(overrides)
    return args


def postgres_args(db='{{ postgres_db }}', **overrides):
    args = {'login_host': '{{ postgres_login_host }}', 'port': '{{ postgres_port }}', 'login_user': '{{ postgres_login_user }}',
            'login_password': '{{ postgres_login_password }}', 'db': db}
    args.update(overrides)
    return args


def check(result, name, queue):
    return next(item for item in result['findings'] if item['check'] == name and item['queue'] == queue)


def checks(result, name):
    return [item for item in result['findings'] if item['check'] == name]


def queue(result, name):
    return next(item for item in result['queues'] if item['name'] == name)


def one_line_failure(result, run):
    assert result['failed'] is True
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr
    return result['msg']


def jobs_table(lab, database, rows=()):
    """The jobs table of the lab scenario in ``database``, with ``rows`` of (queue, status, seconds ago)."""
    connection = lab.postgres.connect(database, 'linkflow')
    try:
        with connection.cursor() as cursor:
            cursor.execute(JOBS_TABLE)
            for name, status, seconds in rows:
                cursor.execute("INSERT INTO jobs (queue, status, created_at) VALUES (%s, %s, now() - make_interval(secs => %s))",
                               (name, status, seconds))
    finally:
        connection.close()


def laravel_job(pushed_at=None, created_at=None):
    payload = {'uuid': 'test', 'displayName': 'App\\Jobs\\SendMail', 'job': 'Illuminate\\Queue\\CallQueuedHandler@call', 'attempts': 0}
    if pushed_at is not None:
        payload['pushedAt'] = '%.4f' % pushed_at
    if created_at is not None:
        payload['createdAt'] = int(created_at)
    return json.dumps(payload)


# --- healthy ---------------------------------------------------------------------------

def test_healthy_lab_has_no_backlog(lab, run_module, pg_database):
    jobs_table(lab, pg_database)
    app = lab.redis.client()
    expected = app.llen(QUEUE) + app.zcard(QUEUE + ':delayed') + app.zcard(QUEUE + ':reserved')
    assert expected < 1000  # the 5 jobs the lab seeds
    result, run = run_module(MODULE, {'redis': redis_args(), 'postgres': postgres_args(pg_database)})
    assert run.rc == 0, run.stdout
    assert result['changed'] is False and result['status'] == 'ok'
    assert [item['name'] for item in result['queues']] == ['redis default', 'public.jobs']
    assert queue(result, 'redis default')['depth'] == expected and queue(result, 'redis default')['key'] == QUEUE
    assert queue(result, 'public.jobs')['depth'] == 0
    assert [item['status'] for item in checks(result, 'depth')] == ['ok', 'ok']
    assert check(result, 'depth', 'redis default')['message'].endswith('; max_depth 1000')
    # The seeded jobs carry no pushedAt/createdAt: their age is unknown, not zero, and not graded.
    assert queue(result, 'redis default')['oldest_age_seconds'] is None and checks(result, 'age') == []


# --- the queue-backlog scenario -----------------------------------------------------------

def test_queue_backlog_gives_depth_and_age_findings_for_redis_and_the_table(lab, run_module, scenario):
    before = lab.redis.client().lrange(QUEUE, 0, -1)
    item = scenario('queue-backlog')
    assert item.present()
    app = lab.redis.client()
    waiting = app.llen(QUEUE)
    assert waiting == len(before) + 1200
    result, run = run_module(MODULE, {'redis': redis_args(db=0), 'redis_queues': ['default'],
                                      'postgres': postgres_args(), 'table': 'jobs'})
    assert run.rc == 0, run.stdout
    assert result['changed'] is False and result['status'] == 'critical'
    redis_queue = queue(result, 'redis default')
    assert redis_queue['waiting'] == waiting
    assert (redis_queue['delayed'], redis_queue['due'], redis_queue['reserved'], redis_queue['reserved_expired']) == (30, 10, 20, 5)
    assert redis_queue['depth'] == waiting + 30 + 20
    assert redis_queue['age_source'] == 'pushedAt' and 1200 <= redis_queue['oldest_age_seconds'] < 1200 + 120
    depth = check(result, 'depth', 'redis default')
    assert depth['status'] == 'warn' and depth['value'] == redis_queue['depth'] and depth['threshold'] == 1000
    assert '30 delayed of which 10 due, 20 reserved of which 5 expired' in depth['message']
    age = check(result, 'age', 'redis default')
    assert age['status'] == 'critical' and age['threshold'] == 1200
    assert age['message'].startswith('redis default - the oldest waiting job has waited 20m (pushedAt)')

    table = queue(result, 'public.jobs')
    pending = lab.postgres.execute("SELECT count(*) FROM jobs WHERE status IN ('pending', 'queued')", 'linkflow')[0][0]
    assert table['depth'] == pending == 1200  # the 50 done rows are not counted
    assert table['age_source'] == 'created_at' and table['oldest_age_seconds'] >= 1200
    assert check(result, 'depth', 'public.jobs')['status'] == 'warn'
    assert check(result, 'age', 'public.jobs')['status'] == 'critical'
    assert result['findings'][0]['status'] == 'critical'

    # Thresholds: half the depth limit makes both depths critical; a generous max_age makes the ages ok.
    strict = run_module(MODULE, {'redis': redis_args(), 'postgres': postgres_args(), 'table': 'jobs',
                                 'max_depth': 600, 'max_age': '1h'})[0]
    assert [item['status'] for item in checks(strict, 'depth')] == ['critical', 'critical']
    assert check(strict, 'depth', 'public.jobs')['message'] == 'public.jobs - 1200 jobs pending; critical at 1200'
    assert [item['status'] for item in checks(strict, 'age')] == ['ok', 'ok'] and strict['status'] == 'critical'
    # critical_factor 1: over the limit is critical at once.
    flat = run_module(MODULE, {'redis': redis_args(), 'critical_factor': 1, 'max_age': 1500})[0]
    assert check(flat, 'depth', 'redis default')['status'] == 'critical'
    assert check(flat, 'age', 'redis default')['status'] == 'ok'


def test_queue_backlog_check_mode_is_the_same(lab, run_module, scenario):
    scenario('queue-backlog')
    args = {'redis': redis_args(), 'postgres': postgres_args(), 'table': 'jobs'}
    real = run_module(MODULE, args)[0]
    checked = run_module(MODULE, args, check=True)[0]
    assert checked['changed'] is False
    assert [(item['name'], item['depth']) for item in checked['queues']] == [(item['name'], item['depth']) for item in real['queues']]
    assert [(item['check'], item['queue'], item['status']) for item in checked['findings']] == [
        (item['check'], item['queue'], item['status']) for item in real['findings']]


def test_scenario_clear_removes_exactly_what_it_added(lab):
    app = lab.redis.client()
    before = (app.lrange(QUEUE, 0, -1), app.zrange(QUEUE + ':delayed', 0, -1), app.zrange(QUEUE + ':reserved', 0, -1))
    had_table = lab.postgres.execute("SELECT to_regclass('public.jobs') IS NOT NULL", 'linkflow')[0][0]
    current = Lab()
    item = scenarios.get(current, 'queue-backlog')
    try:
        item.inject()
        current.save()
        assert item.present()
        assert any(MARK.encode() in job for job in app.lrange(QUEUE, 0, 0))
        # A second inject adds nothing: what is there is recognised in the data, not in the state file.
        sizes = (app.llen(QUEUE), lab.postgres.execute('SELECT count(*) FROM jobs', 'linkflow')[0][0])
        item.inject()
        assert (app.llen(QUEUE), lab.postgres.execute('SELECT count(*) FROM jobs', 'linkflow')[0][0]) == sizes
    finally:
        item.clear()
        item.forget()
        current.save()
    assert not item.present()
    assert (app.lrange(QUEUE, 0, -1), app.zrange(QUEUE + ':delayed', 0, -1), app.zrange(QUEUE + ':reserved', 0, -1)) == before
    assert lab.postgres.execute("SELECT to_regclass('public.jobs') IS NOT NULL", 'linkflow')[0][0] == had_table


# --- Redis: what is counted --------------------------------------------------------------

def test_delayed_reserved_and_due_jobs_are_counted_apart(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    now = time.time()
    key = 'laravel_database_queues:mail'
    client.rpush(key, *[laravel_job(created_at=now - 300 + number) for number in range(4)])
    client.zadd(key + ':delayed', dict([(laravel_job(pushed_at=now - 1000 + number), now - 60) for number in range(3)]
                                       + [(laravel_job(pushed_at=now + number), now + 3600) for number in range(2)]))
    client.zadd(key + ':reserved', {laravel_job(pushed_at=now - 1): now + 90, laravel_job(pushed_at=now - 2): now - 5})
    args = {'redis': redis_args(db=redis_db), 'redis_queues': ['mail', 'empty'], 'redis_prefix': 'laravel_database_'}
    result, run = run_module(MODULE, args)
    assert run.rc == 0, run.stdout
    mail = queue(result, 'redis mail')
    assert mail['key'] == key
    assert (mail['waiting'], mail['delayed'], mail['due'], mail['reserved'], mail['reserved_expired'], mail['depth']) == (4, 5, 3, 2, 1, 11)
    assert mail['age_source'] == 'createdAt' and 290 <= mail['oldest_age_seconds'] < 300 + 60
    assert result['status'] == 'ok'
    empty = queue(result, 'redis empty')
    assert (empty['depth'], empty['oldest_age_seconds']) == (0, None)
    assert check(result, 'depth', 'redis empty')['status'] == 'ok'

    # The same queue against lower thresholds: depth 11 >= 2 x 5 is critical, age 5m >= 4m warns.
    graded = run_module(MODULE, dict(args, max_depth=5, max_age='4m'))[0]
    assert check(graded, 'depth', 'redis mail')['status'] == 'critical' and check(graded, 'depth', 'redis mail')['threshold'] == 10
    assert check(graded, 'age', 'redis mail')['status'] == 'warn' and check(graded, 'age', 'redis mail')['threshold'] == 240
    assert run_module(MODULE, dict(args, max_depth=11))[0]['status'] == 'warn'
    assert run_module(MODULE, dict(args, max_depth=12))[0]['status'] == 'ok'


def test_due_delayed_jobs_date_a_queue_that_no_worker_polls(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    now = time.time()
    # Nothing in the list; a delayed job due 15 minutes ago that no worker moved.
    client.zadd('queues:reports:delayed', {laravel_job(): now - 900, laravel_job(created_at=now): now + 600})
    result = run_module(MODULE, {'redis': redis_args(db=redis_db), 'redis_queues': ['reports']})[0]
    reports = queue(result, 'redis reports')
    assert (reports['waiting'], reports['delayed'], reports['due']) == (0, 2, 1)
    assert reports['age_source'] == 'delayed' and 900 <= reports['oldest_age_seconds'] < 900 + 60
    assert check(result, 'age', 'redis reports')['status'] == 'warn' and result['status'] == 'warn'


def test_a_key_that_is_not_a_queue_fails_in_one_line(lab, run_module, redis_db):
    lab.redis.client(redis_db).set('queues:odd', 'a string')
    result, run = run_module(MODULE, {'redis': redis_args(db=redis_db), 'redis_queues': ['odd']})
    assert one_line_failure(result, run) == 'redis_queues: queues:odd is a string, not the list of a Laravel queue'


# --- PostgreSQL: what is counted ---------------------------------------------------------------

def test_table_per_queue_and_statuses(lab, run_module, pg_database):
    jobs_table(lab, pg_database, [('default', 'pending', 60)] * 3 + [('default', 'queued', 700)] + [('mail', 'pending', 30)] * 2
               + [('default', 'done', 9000), ('mail', 'failed', 9000)])
    args = {'postgres': postgres_args(pg_database), 'table': 'public.jobs', 'queue_column': 'queue'}
    result, run = run_module(MODULE, args)
    assert run.rc == 0, run.stdout
    assert [(item['name'], item['queue'], item['depth']) for item in result['queues']] == [
        ('public.jobs default', 'default', 4), ('public.jobs mail', 'mail', 2)]
    assert 700 <= queue(result, 'public.jobs default')['oldest_age_seconds'] < 700 + 60
    assert check(result, 'age', 'public.jobs default')['status'] == 'warn'
    assert check(result, 'age', 'public.jobs mail')['status'] == 'ok'
    only_pending = run_module(MODULE, dict(args, pending_statuses=['pending'], max_depth=3))[0]
    assert [item['depth'] for item in only_pending['queues']] == [3, 2]
    assert check(only_pending, 'depth', 'public.jobs default')['status'] == 'warn'
    assert check(only_pending, 'age', 'public.jobs default')['status'] == 'ok'


def test_laravel_database_driver_table_with_epoch_seconds(lab, run_module, pg_database):
    lab.postgres.execute("""CREATE TABLE laravel_jobs (id bigserial PRIMARY KEY, queue varchar(255) NOT NULL, payload text NOT NULL,
                            attempts smallint NOT NULL DEFAULT 0, reserved_at integer, available_at integer NOT NULL,
                            created_at integer NOT NULL)""", pg_database)
    lab.postgres.execute("""INSERT INTO laravel_jobs (queue, payload, available_at, created_at)
                            SELECT 'default', '{}', extract(epoch FROM now())::int, extract(epoch FROM now())::int - 1500
                            FROM generate_series(1, 3)""", pg_database)
    result, run = run_module(MODULE, {'postgres': postgres_args(pg_database), 'table': 'laravel_jobs', 'status_column': 'queue',
                                      'pending_statuses': ['default']})
    assert run.rc == 0, run.stdout
    jobs = queue(result, 'public.laravel_jobs')
    assert jobs['depth'] == 3 and 1500 <= jobs['oldest_age_seconds'] < 1500 + 60
    assert check(result, 'age', 'public.laravel_jobs')['status'] == 'critical'


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    ({}, 'give redis (for redis_queues), postgres (for table), or both: there is no queue to read'),
    ({'redis_queues': ['default']}, 'redis_queues needs redis, the connection to the Redis server that holds them'),
    ({'redis': {}, 'max_depth': 0}, 'max_depth must be a whole number of at least 1, got 0'),
    ({'redis': {}, 'max_age': 'soon'}, "max_age: 'soon' is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m, 90d"),
    ({'redis': {}, 'critical_factor': 0.5}, 'critical_factor must be 1 or more, got 0.5'),
    ({'redis': {'url': 'http://127.0.0.1'}}, 'redis.url must start with redis://, rediss:// or unix://'),
])
def test_bad_input_fails_in_one_line_before_connecting(lab, run_module, args, message):
    result, run = run_module(MODULE, args)
    assert one_line_failure(result, run) == message


def test_unknown_table_and_column_fail_before_any_queue_is_read(lab, run_module, pg_database, redis_db):
    jobs_table(lab, pg_database, [('default', 'pending', 10)])
    # Redis is pointed at a closed door: reaching it would fail differently.
    base = {'redis': redis_args(login_port=1), 'postgres': postgres_args(pg_database)}
    result, run = run_module(MODULE, dict(base, table='nope'))
    assert one_line_failure(result, run) == "table: no table 'nope' in database %s" % pg_database
    result, run = run_module(MODULE, dict(base, status_column='state'))
    assert one_line_failure(result, run) == ("status_column: no column 'state' in the table "
                                             "(it has: created_at, id, payload, queue, status)")
    result, run = run_module(MODULE, dict(base, created_column='payload'))
    assert one_line_failure(result, run) == 'created_column: the column is of type jsonb, not a timestamp, a date or seconds since the epoch'
    sneaky = 'jobs"; DROP TABLE jobs; --'
    result, run = run_module(MODULE, dict(base, table=sneaky))
    assert one_line_failure(result, run) == 'table: no table %r in database %s' % (sneaky, pg_database)
    assert lab.postgres.execute('SELECT count(*) FROM jobs', pg_database)[0][0] == 1


# --- dead and hung services ------------------------------------------------------------------

@pytest.mark.parametrize('service', ['redis', 'postgres'])
def test_closed_port_fails_within_the_timeout_naming_the_server(lab, run_module, pg_database, service, closed_port):
    if service == 'redis':
        args, target = {'redis': redis_args(login_port=closed_port, socket_timeout=2)}, 'Redis at 127.0.0.1:%d' % closed_port
    else:
        args = {'postgres': postgres_args(pg_database, port=closed_port, connect_timeout=2)}
        target = 'PostgreSQL at 127.0.0.1:%d/%s' % (closed_port, pg_database)
    result, run = run_module(MODULE, args)
    msg = one_line_failure(result, run)
    assert msg.startswith(target + ': ') and 'Connection refused' in msg
    assert run.entry(MODULE)['duration'] < 2 + 1


@pytest.mark.parametrize('service', ['redis', 'postgres'])
def test_hung_server_fails_within_the_timeout_naming_the_server(lab, run_module, pg_database, service, silent_server):
    if service == 'redis':
        args, target = {'redis': redis_args(login_port=silent_server, socket_timeout=2)}, 'Redis at 127.0.0.1:%d' % silent_server
    else:
        args = {'postgres': postgres_args(pg_database, port=silent_server, connect_timeout=2)}
        target = 'PostgreSQL at 127.0.0.1:%d/%s' % (silent_server, pg_database)
    result, run = run_module(MODULE, args)
    msg = one_line_failure(result, run)
    assert msg.startswith(target + ': ') and 'timeout' in msg.lower()
    # The task's duration includes Ansible starting the module (under a second here).
    assert run.entry(MODULE)['duration'] < 2 + 1 + 1


def test_no_password_in_output_even_at_vvv(lab, ansible, pg_database, redis_db):
    jobs_table(lab, pg_database)
    url = 'redis://:%s@127.0.0.1:%s/%d' % (lab.vars['redis_login_password'], lab.vars['redis_login_port'], redis_db)
    tasks = [
        {'name': 'working', 'oncall.runbooks.' + MODULE: {'redis': redis_args(), 'postgres': postgres_args(pg_database)}},
        {'name': 'by url', 'oncall.runbooks.' + MODULE: {'redis': {'url': url}}},
        {'name': 'redis refused', 'ignore_errors': True,
         'oncall.runbooks.' + MODULE: {'redis': redis_args(login_password='hunter2-wrong-secret')}},
        {'name': 'postgres refused', 'ignore_errors': True,
         'oncall.runbooks.' + MODULE: {'postgres': postgres_args(pg_database, login_password='hunter2-wrong-secret')}},
    ]
    run = ansible(tasks, verbosity=3)
    assert run.rc == 0, run.stdout
    assert run.entry('working')['status'] == 'ok' and run.entry('by url')['status'] == 'ok'
    assert run.result('redis refused')['msg'].startswith('Redis at 127.0.0.1:%s: ' % lab.vars['redis_login_port'])
    assert run.result('postgres refused')['msg'].startswith('PostgreSQL at 127.0.0.1:%s/%s: ' % (lab.vars['postgres_port'], pg_database))
    output = run.stdout + run.stderr
    for secret in lab.secrets() + ['hunter2-wrong-secret']:
        assert secret not in output
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output


def test_jobs_table_identifiers_are_quoted(lab, run_module, pg_database):
    """A schema-qualified table and a column whose name needs quoting."""
    schema, table = 'Work Queue', 'Jobs'
    lab.postgres.execute(sql.SQL('CREATE SCHEMA {} AUTHORIZATION linkflow').format(sql.Identifier(schema)), pg_database)
    lab.postgres.execute(sql.SQL('CREATE TABLE {} ("State" text, "Queued At" timestamptz)').format(sql.Identifier(schema, table)),
                         pg_database)
    lab.postgres.execute(sql.SQL("INSERT INTO {} VALUES ('pending', now() - interval '1 minute')").format(sql.Identifier(schema, table)),
                         pg_database)
    result, run = run_module(MODULE, {'postgres': postgres_args(pg_database), 'table': '%s.%s' % (schema, table),
                                      'status_column': 'State', 'created_column': 'Queued At'})
    assert run.rc == 0, run.stdout
    assert result['queues'][0]['table'] == 'Work Queue.Jobs' and result['queues'][0]['depth'] == 1
