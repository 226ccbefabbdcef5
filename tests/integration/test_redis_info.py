# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_info against the lab's Redis, through ansible-playbook."""

from __future__ import annotations

import pytest
import redis


def check(result, name):
    return next(item for item in result['findings'] if item['check'] == name)


def test_healthy_redis_is_reported_in_full(lab, run_module):
    lab.redis.client().config_resetstat()  # OOM refusals of earlier tests count until reset
    result, run = run_module('redis_info')
    assert run.rc == 0, run.stdout
    assert result['changed'] is False and result['status'] == 'ok'
    assert result['server']['version'].startswith('7.') and result['server']['role'] == 'master'
    assert result['memory']['maxmemory'] == 32 * 1024 * 1024 and result['memory']['policy'] == 'noeviction'
    assert 0 < result['memory']['usage_percent'] < 80
    assert result['clients']['connected'] >= 1 and result['clients']['maxclients'] > 0
    assert result['keyspace']['db0']['keys'] >= 20
    assert result['persistence']['failing'] is False
    assert result['ping_ms'] > 0 and result['ping_reply'] == 'PONG'
    assert check(result, 'memory')['status'] == 'ok'


def test_oom_is_critical_and_refusals_are_counted(lab, run_module, scenario):
    scenario('redis-oom')
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        lab.redis.client().set('a-write-the-app-tries', 'x')
    result = run_module('redis_info')[0]
    assert result['status'] == 'critical'
    memory = check(result, 'memory')
    assert memory['status'] == 'critical' and memory['value'] >= 100
    assert memory['message'].endswith('under noeviction: writes are refused')
    assert check(result, 'oom_rejections')['status'] == 'critical'
    assert result['stats']['oom_rejections'] >= 1


def test_failing_persistence_is_critical(lab, run_module, scenario):
    scenario('redis-misconf')
    with pytest.raises(redis.exceptions.ResponseError, match='MISCONF'):
        lab.redis.client().set('a-write-the-app-tries', 'x')
    result = run_module('redis_info')[0]
    assert result['persistence']['rdb_last_bgsave_status'] == 'err' and result['persistence']['failing'] is True
    assert check(result, 'persistence')['status'] == 'critical'
    assert 'MISCONF' in check(result, 'persistence')['message']
    assert result['ping_reply'].startswith('MISCONF')


def test_sampling_finds_the_biggest_keys_and_prefixes(lab, run_module, scenario):
    scenario('redis-bigkeys')
    result = run_module('redis_info', {'db': 0, 'sample_keys': 5000})[0]
    sample = result['sample']
    assert sample['keys_sampled'] == sample['dbsize'] <= 5000
    assert sample['biggest_keys'][0]['key'].startswith('linkflow_cache:report:')
    assert sample['biggest_keys'][0]['bytes'] >= 2 * 1024 * 1024
    assert sample['prefixes'][0]['prefix'] == 'linkflow_cache:report' and sample['prefixes'][0]['keys'] == 3
    sessions = next(item for item in sample['prefixes'] if item['prefix'] == 'linkflow_session:bk')
    assert sessions['keys'] == 2000
    assert next(item for item in sample['biggest_keys'] if item['key'] == 'queues:exports')['type'] == 'list'


def test_check_mode_returns_the_same_and_changes_nothing(lab, run_module, redis_db):
    client = lab.redis.client(redis_db)
    client.mset({'a:1': 'x', 'a:2': 'y', 'b:1': 'z'})
    checked = run_module('redis_info', {'db': redis_db, 'sample_keys': 10}, check=True)[0]
    assert checked['changed'] is False
    assert checked['sample']['keys_sampled'] == 3
    assert sorted(item['prefix'] for item in checked['sample']['prefixes']) == ['a', 'b']
    assert client.dbsize() == 3


def test_a_url_works_and_its_password_is_never_shown(lab, run_module, redis_db):
    lab.redis.client(redis_db).set('via-url', '1')
    url = 'redis://:%s@127.0.0.1:%s/%d' % (lab.vars['redis_login_password'], lab.vars['redis_login_port'], redis_db)
    result, run = run_module('redis_info', {'url': url, 'sample_keys': 5}, verbosity=3)
    assert run.rc == 0, run.stdout
    assert result['sample']['dbsize'] == 1
    assert lab.vars['redis_login_password'] not in run.stdout + run.stderr


@pytest.mark.parametrize('args, message', [
    ({'memory_warn': 99, 'memory_critical': 90}, 'memory_warn (99) must not be greater than memory_critical (90)'),
    ({'clients_critical': 101}, 'clients_critical must be a percentage between 0 and 100, got 101'),
    ({'sample_keys': -1}, 'sample_keys must be 0 or more, got -1'),
    ({'url': 'http://127.0.0.1:6379'}, 'url must start with redis://, rediss:// or unix://'),
    ({'socket_timeout': 0}, 'socket_timeout must be more than 0 seconds, got 0.0'),
])
def test_bad_input_fails_before_connecting_with_one_line(lab, run_module, args, message, closed_port):
    result = run_module('redis_info', dict(args, login_port=closed_port))[0]
    assert result['failed'] is True
    assert result['msg'] == message
