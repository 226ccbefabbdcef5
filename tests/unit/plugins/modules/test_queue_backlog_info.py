# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How queue_backlog_info dates Laravel payloads, judges its input and grades queues."""

from __future__ import annotations

import json

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError
from ansible_collections.oncall.runbooks.plugins.modules.queue_backlog_info import check_input, grade, level, payload_time

REDIS = dict(login_host='localhost', login_port=6379, login_user=None, login_password=None, tls=False, validate_certs=True,
             ca_certs=None, url=None, db=None, socket_timeout=5.0)
POSTGRES = dict(login_host='', port=5432, login_user='postgres', login_password='', login_unix_socket='', db='',
                ssl_mode='prefer', ca_cert=None, connect_timeout=5)
PARAMS = dict(redis=None, postgres=None, redis_queues=None, redis_prefix='', table=None, status_column='status',
              pending_statuses=['pending', 'queued'], created_column='created_at', queue_column=None, query_timeout='30s',
              max_depth=1000, max_age='10m', critical_factor=2.0)


@pytest.mark.parametrize('payload, expected', [
    ({'job': 'x', 'pushedAt': '1700000000.1234'}, (1700000000.1234, 'pushedAt')),
    ({'job': 'x', 'createdAt': 1700000000}, (1700000000.0, 'createdAt')),
    ({'pushedAt': '1700000100.5', 'createdAt': 1700000000}, (1700000100.5, 'pushedAt')),
    ({'createdAt': 1700000000123}, (1700000000.123, 'createdAt')),
    ({'pushedAt': 'yesterday', 'createdAt': 1700000000}, (1700000000.0, 'createdAt')),
    ({'job': 'SendWebhook', 'id': 3}, (None, None)),
    ({'pushedAt': None}, (None, None)),
])
def test_payload_time(payload, expected):
    stamp, field = payload_time(json.dumps(payload).encode())
    assert field == expected[1]
    assert stamp == pytest.approx(expected[0]) if expected[0] else stamp is None


@pytest.mark.parametrize('raw', [b'not json', b'[1, 2]', b'"a string"', None])
def test_payload_time_of_what_is_not_a_laravel_payload(raw):
    assert payload_time(raw) == (None, None)


@pytest.mark.parametrize('value, expected', [
    (999, ('ok', 1000)), (1000, ('warn', 1000)), (1999, ('warn', 1000)), (2000, ('critical', 2000)),
])
def test_depth_levels(value, expected):
    assert level(value, 1000, 2.0) == expected


def test_age_levels_keep_seconds():
    assert level(1199.0, 600.0, 2.0) == ('warn', 600.0)
    assert level(1200.0, 600.0, 2.0) == ('critical', 1200.0)
    assert level(10, 1000, 1.5) == ('ok', 1000)
    assert level(1500, 1000, 1.5) == ('critical', 1500)


def redis_entry(**counts):
    entry = dict(source='redis', name='redis default', queue='default', key='queues:default', waiting=0, delayed=0, due=0,
                 reserved=0, reserved_expired=0, oldest_age_seconds=None, oldest_age=None, age_source=None)
    entry.update(counts)
    entry['depth'] = entry['waiting'] + entry['delayed'] + entry['reserved']
    return entry


def test_grade_names_each_queue_and_counts_apart():
    entries = [redis_entry(waiting=1205, delayed=30, due=10, reserved=20, reserved_expired=5,
                           oldest_age_seconds=1250.0, oldest_age='20m', age_source='pushedAt'),
               dict(source='postgres', name='public.jobs', queue=None, table='public.jobs', depth=12, waiting=12,
                    oldest_age_seconds=None, oldest_age=None, age_source=None)]
    findings = grade(entries, PARAMS, 600.0)
    assert [(item['check'], item['queue'], item['status']) for item in findings] == [
        ('depth', 'redis default', 'warn'), ('age', 'redis default', 'critical'), ('depth', 'public.jobs', 'ok')]
    assert findings[0]['message'] == ('redis default - 1255 jobs (1205 waiting, 30 delayed of which 10 due, 20 reserved of which 5 expired); '
                                      'max_depth 1000')
    assert findings[1]['message'] == 'redis default - the oldest waiting job has waited 20m (pushedAt); critical at 20m'
    assert findings[2]['message'] == 'public.jobs - 12 jobs pending; max_depth 1000'


@pytest.mark.parametrize('changes, message', [
    ({}, 'give redis (for redis_queues), postgres (for table), or both: there is no queue to read'),
    ({'redis_queues': ['default']}, 'redis_queues needs redis, the connection to the Redis server that holds them'),
    ({'table': 'jobs'}, 'table needs postgres, the connection to the database that holds it'),
    ({'redis': REDIS, 'max_depth': 0}, 'max_depth must be a whole number of at least 1, got 0'),
    ({'redis': REDIS, 'max_age': 0}, 'max_age must be more than 0, got 0'),
    ({'redis': REDIS, 'max_age': 'ten minutes'},
     "max_age: 'ten minutes' is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m, 90d"),
    ({'redis': REDIS, 'critical_factor': 0.5}, 'critical_factor must be 1 or more, got 0.5'),
    ({'redis': REDIS, 'redis_queues': []}, 'redis_queues must name at least one queue'),
    ({'redis': REDIS, 'redis_queues': ['default', ' ']}, 'redis_queues: a queue name must not be empty'),
    ({'redis': dict(REDIS, url='http://redis')}, 'redis.url must start with redis://, rediss:// or unix://'),
    ({'postgres': POSTGRES, 'pending_statuses': []}, 'pending_statuses must name at least one status'),
    ({'postgres': POSTGRES, 'table': ''}, 'table must not be empty'),
    ({'postgres': POSTGRES, 'status_column': ''}, 'status_column must not be empty'),
    ({'postgres': dict(POSTGRES, connect_timeout=0)}, 'postgres.connect_timeout must be at least 1 second, got 0'),
])
def test_bad_input_is_one_line_naming_the_option(changes, message):
    with pytest.raises(RunbookError) as caught:
        check_input(dict(PARAMS, **changes))
    assert str(caught.value) == message


def test_good_input_gives_seconds():
    assert check_input(dict(PARAMS, redis=REDIS, postgres=POSTGRES, max_age='1h', query_timeout=5)) == (3600.0, 5.0)
