# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_flush against the lab's Redis, through ansible-playbook."""

from __future__ import annotations

import pytest


def fill(client, cache=300, other=40):
    """Cache keys (some with a TTL, some of other types), and keys that must survive."""
    pipe = client.pipeline(transaction=False)
    for n in range(cache):
        pipe.set('app_cache:%04d' % n, 'x' * 100)
    for n in range(0, cache, 3):
        pipe.expire('app_cache:%04d' % n, 3600)           # 100 keys with a TTL
    for n in range(20):
        pipe.rpush('app_cache:list:%02d' % n, 'a', 'b')   # 20 lists, no TTL
        pipe.hset('app_cache:hash:%02d' % n, 'f', 'v')    # 20 hashes, no TTL
    for n in range(other):
        pipe.set('app_session:%04d' % n, 'user')
    pipe.rpush('queues:default', 'job')
    pipe.execute()


def keys(client, pattern='*'):
    return sorted(key.decode() for key in client.scan_iter(match=pattern, count=1000))


def app_sessions(lab):
    """db 0 belongs to the application: its seeded sessions and queue must always survive."""
    app = lab.redis.client(0)
    return app.mget(['linkflow_session:%04d' % n for n in range(20)]), app.lrange('queues:default', 0, -1)


def test_pattern_flush_removes_only_matching_keys_then_nothing_to_do(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    fill(client)
    result = run_module('redis_flush', dict(scope='pattern', db=redis_db, pattern='app_cache:*', batch_size=50))[0]
    assert result.get('failed') is not True, result
    assert result['changed'] is True
    assert result['keys_removed'] == result['keys_matched'] == 340
    assert result['batches'] >= 340 // 50 and result['complete'] is True
    assert keys(client) == sorted(['app_session:%04d' % n for n in range(40)] + ['queues:default'])
    [action] = result['actions']
    assert action['target'] == 'db %d app_cache:*' % redis_db and action['action'] == 'unlink'
    assert action['done'] is True and action['keys'] == 340 and action['examples']
    assert result['summary'].startswith("removed 340 keys matching 'app_cache:*' in db %d in " % redis_db)
    assert result['memory_estimate'] > 340 * 100
    assert result['used_memory_before'] > 0 and result['used_memory_after'] > 0

    again = run_module('redis_flush', dict(scope='pattern', db=redis_db, pattern='app_cache:*'))[0]
    assert again['changed'] is False and again['actions'] == [] and again['keys_removed'] == 0
    assert again['summary'] == "no keys matching 'app_cache:*' in db %d: nothing to remove" % redis_db


def test_pattern_flush_touches_no_other_database(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    client.mset(dict(('linkflow_session:test:%d' % n, 'x') for n in range(5)))
    before = app_sessions(lab)
    assert all(before[0]) and before[1]
    result = run_module('redis_flush', dict(scope='pattern', db=redis_db, pattern='linkflow_session:*'))[0]
    assert result['keys_removed'] == 5 and client.dbsize() == 0
    assert app_sessions(lab) == before


def test_only_persistent_and_type_filters(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    fill(client)
    persistent = run_module('redis_flush', dict(scope='pattern', db=redis_db, pattern='app_cache:*', only_persistent=True))[0]
    assert persistent['keys_removed'] == 240  # 200 strings and 40 lists/hashes without TTL
    assert len(keys(client, 'app_cache:*')) == 100
    assert all(client.ttl(key) > 0 for key in keys(client, 'app_cache:*'))

    fill(client)
    lists = run_module('redis_flush', dict(scope='pattern', db=redis_db, pattern='app_cache:*', type='list'))[0]
    assert lists['keys_removed'] == 20 and 'of type list' in lists['summary']
    assert keys(client, 'app_cache:list:*') == [] and len(keys(client, 'app_cache:hash:*')) == 20
    assert len(keys(client, 'app_cache:0*')) == 300


def test_check_mode_removes_nothing_and_counts_exactly(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    fill(client)
    before = (client.dbsize(), keys(client))
    args = dict(scope='pattern', db=redis_db, pattern='app_cache:0*', only_persistent=True, sample=10)
    plan = run_module('redis_flush', args, check=True)[0]
    assert plan['changed'] is True and plan['keys_removed'] == 0
    assert plan['keys_matched'] == plan['keys_total'] == 200
    assert plan['actions'][0]['done'] is False and plan['actions'][0]['keys'] == 200
    assert plan['memory_estimate'] > 200 * 100
    assert plan['summary'].startswith("would remove 200 keys matching 'app_cache:0*' without a TTL in db %d (about " % redis_db)
    assert (client.dbsize(), keys(client)) == before

    done = run_module('redis_flush', args)[0]
    assert done['keys_removed'] == plan['keys_matched']
    assert client.dbsize() == before[0] - plan['keys_matched']


def test_max_keys_caps_the_run_and_a_rerun_finishes(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    fill(client)
    args = dict(scope='pattern', db=redis_db, pattern='app_cache:0*', batch_size=30)
    plan = run_module('redis_flush', dict(args, max_keys=120), check=True)[0]
    assert plan['keys_matched'] == 120 and plan['keys_total'] == 300 and plan['complete'] is False
    assert plan['summary'].endswith('(max_keys 120 of 300 matching)')
    capped = run_module('redis_flush', dict(args, max_keys=120))[0]
    assert capped['keys_removed'] == 120 and capped['complete'] is False
    assert capped['summary'].endswith('stopped by max_keys 120: run again to continue')
    assert len(keys(client, 'app_cache:0*')) == 180
    rest = run_module('redis_flush', args)[0]
    assert rest['keys_removed'] == 180 and rest['complete'] is True


def test_pattern_star_says_it_is_everything(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    fill(client, cache=10, other=5)
    plan = run_module('redis_flush', dict(scope='pattern', db=redis_db, pattern='*'), check=True)[0]
    assert '(every key in db %d)' % redis_db in plan['summary']
    assert '(every key in db %d)' % redis_db in plan['actions'][0]['reason']
    assert plan['keys_matched'] == client.dbsize() == 56


def test_scope_db_flushes_only_that_db(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    fill(client)
    count = client.dbsize()
    sessions = app_sessions(lab)
    plan = run_module('redis_flush', dict(scope='db', db=redis_db), check=True)[0]
    assert plan['changed'] is True and plan['keys_matched'] == count and client.dbsize() == count
    assert plan['summary'].startswith('would flush db %d: %d keys' % (redis_db, count))
    result = run_module('redis_flush', dict(scope='db', db=redis_db))[0]
    assert result['changed'] is True and result['keys_removed'] == count
    assert result['actions'][0]['action'] == 'flushdb' and result['actions'][0]['target'] == 'db %d' % redis_db
    assert result['summary'].startswith('flushed db %d asynchronously: %d keys' % (redis_db, count))
    assert client.dbsize() == 0
    assert app_sessions(lab) == sessions
    again = run_module('redis_flush', dict(scope='db', db=redis_db, asynchronous=False))[0]
    assert again['changed'] is False and again['summary'] == 'db %d is empty: nothing to flush' % redis_db


def test_scope_all_in_check_mode_reports_and_changes_nothing(lab, run_module, redis_db):
    # FLUSHALL is never run against the shared lab: only its plan.
    client = lab.redis.client(redis_db)
    fill(client, cache=10, other=5)
    zero = lab.redis.client(0).dbsize()
    plan = run_module('redis_flush', dict(scope='all'), check=True)[0]
    assert plan.get('failed') is not True, plan
    assert plan['changed'] is True and plan['keys_removed'] == 0
    targets = dict((entry['target'], entry) for entry in plan['actions'])
    assert targets['db %d' % redis_db]['keys'] == 56 and targets['db %d' % redis_db]['action'] == 'flushall'
    assert 'db 0' in targets and all(entry['done'] is False for entry in plan['actions'])
    assert plan['summary'].startswith('would flush all databases (FLUSHALL): ')
    assert client.dbsize() == 56 and lab.redis.client(0).dbsize() == zero


@pytest.mark.parametrize('args, message', [
    (dict(scope='pattern', pattern=''), 'pattern: required and not empty with scope=pattern'),
    (dict(scope='pattern'), 'pattern: required and not empty with scope=pattern'),
    (dict(scope='db'), 'db: required with scope=db'),
    (dict(scope='db', db=16), 'db: 16 is out of range; this server has databases 0 to 15'),
    (dict(scope='pattern', pattern='app_cache:*', db=99), 'db: 99 is out of range'),
    (dict(scope='pattern', pattern='app_cache:*', pause='5 minutes'), "pause: '5 minutes' is not a duration"),
    (dict(scope='pattern', pattern='app_cache:*', max_keys=0), 'max_keys must be a whole number of at least 1, got 0'),
    (dict(scope='pattern', pattern='app_cache:*', batch_size=0), 'batch_size must be a whole number of at least 1'),
    (dict(scope='db', pattern='app_cache:*'), 'pattern: only used with scope=pattern'),
    (dict(scope='db', only_persistent=True), 'only_persistent: only used with scope=pattern'),
    (dict(scope='all', db=3), 'db: not used with scope=all'),
    (dict(scope='pattern', pattern='x', sample=-1), 'sample must be a whole number of at least 0'),
])
def test_bad_input_fails_in_one_line_before_touching_anything(lab, run_module, redis_db, args, message):
    client = lab.redis.client(redis_db)
    fill(client, cache=10, other=5)
    args = dict(args)
    if args.get('db') is None and args['scope'] == 'pattern':
        args['db'] = redis_db
    result = run_module('redis_flush', args)[0]
    assert result.get('failed') is True and result['changed'] is False
    assert message in result['msg'] and '\n' not in result['msg']
    assert client.dbsize() == 56


def test_redis_oom_runbook_frees_the_cache_and_spares_sessions_and_queue(lab, run_module, scenario):
    import redis
    scenario('redis-oom')
    app = lab.redis.client(0)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        app.set('redis_flush_test:probe', 'x' * 1024)
    sessions = app.mget(['linkflow_session:%04d' % n for n in range(20)])
    queue = app.lrange('queues:default', 0, -1)
    assert all(sessions) and queue

    result = run_module('redis_flush', dict(scope='pattern', pattern='linkflow_cache:*', db=0))[0]
    assert result.get('failed') is not True, result
    assert result['changed'] is True and result['keys_removed'] > 100 and result['complete'] is True
    assert result['used_memory_after'] < result['used_memory_before']
    try:
        assert app.set('redis_flush_test:probe', 'x' * 1024)  # writes succeed again
    finally:
        app.delete('redis_flush_test:probe')
    assert keys(app, 'linkflow_cache:*') == []
    assert app.mget(['linkflow_session:%04d' % n for n in range(20)]) == sessions
    assert app.lrange('queues:default', 0, -1) == queue
