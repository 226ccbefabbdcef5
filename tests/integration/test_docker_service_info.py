# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_service_info against the lab's engine, through ansible-playbook, on test projects of its own."""

from __future__ import annotations

import json

import pytest

from docker_fixtures import healthcheck
from lab.services import oom_killed

OOM_COMMAND = ['sh', '-c', 'echo "worker: loading batch"; x=a; while :; do x=$x$x; done']
# Exits 3 half a second after each start; the restart policy keeps bringing it back.
CRASH_COMMAND = ['sh', '-c', 'echo "frontend: bad config" >&2; sleep 0.5; exit 3']


def findings_of(result, check, container=None):
    return [item for item in result['findings'] if item['check'] == check and (container is None or item.get('container') == container)]


def by_name(result):
    return dict((item['name'], item) for item in result['containers'])


def test_healthy_project_is_reported_in_full_with_stats(lab, run_module, compose_project, release_image):
    image = release_image('api', '1.0.0-test', healthy=True, interval='1s')
    compose_project.add('api', image=image, mem_limit='64m', restart_policy='unless-stopped')
    compose_project.add('worker', mem_limit='32m')
    compose_project.wait_for_health('api', 'healthy')

    result, run = run_module('docker_service_info', {'project': compose_project.name, 'include_stats': True})
    assert run.rc == 0, run.stdout
    assert result['changed'] is False and result['status'] == 'ok', result['findings']
    containers = by_name(result)
    api = containers['%s-api-1' % compose_project.name]
    assert api['service'] == 'api' and api['project'] == compose_project.name and api['image'] == image
    assert api['state'] == 'running' and api['health'] == 'healthy' and api['status'].startswith('Up ') and api['status'].endswith('(healthy)')
    assert api['health_check']['exit_code'] == 0 and 'selftest ok' in api['health_check']['output']
    assert api['restart_policy'] == 'unless-stopped' and api['restart_count'] == 0 and api['oom_killed'] is False
    assert api['restart_loop'] is False and api['deaths_in_window'] == 0 and api['started_at'] and api['finished_at'] is None
    assert api['created'] and 0 <= api['created_seconds_ago'] < 300 and api['previous_image'] is None
    worker = containers['%s-worker-1' % compose_project.name]
    assert worker['health'] is None and worker['health_check'] is None and worker['restart_policy'] == 'no'
    for container, limit in ((api, 64), (worker, 32)):
        stats = container['stats']
        assert stats['source'] == 'cgroup'
        assert stats['memory_limit'] == limit * 1024 * 1024
        assert 0 < stats['memory'] < 16 * 1024 * 1024 and 0 < stats['memory_percent'] < 25
        assert stats['pids'] >= 1 and 0 <= stats['cpu_percent'] <= 100 * 64
    assert findings_of(result, 'containers')[0]['message'] == '2 of 2 containers running'
    assert result['engine']['host'] == lab.vars['docker_host']


def test_engine_stats_agree_with_cgroup_stats(lab, run_module, compose_project):
    compose_project.add('api', mem_limit='48m')
    args = {'project': compose_project.name, 'include_stats': True}
    cgroup = run_module('docker_service_info', args)[0]['containers'][0]['stats']
    engine = run_module('docker_service_info', dict(args, stats_source='engine'))[0]['containers'][0]['stats']
    assert engine['source'] == 'engine' and cgroup['source'] == 'cgroup'
    assert engine['memory_limit'] == cgroup['memory_limit'] == 48 * 1024 * 1024
    # An idle busybox shell: the same few hundred kB either way.
    assert abs(engine['memory'] - cgroup['memory']) < 4 * 1024 * 1024
    assert engine['pids'] == cgroup['pids']


def test_each_failure_is_reported_as_such_and_check_mode_is_the_same(lab, run_module, compose_project):
    project = compose_project
    project.add('worker', command=OOM_COMMAND, mem_limit='16m', restart_policy='no')
    project.add('frontend', command=CRASH_COMMAND, restart_policy='always')
    project.add('history', healthcheck=healthcheck('echo "history: database connection refused"; exit 1'))
    project.add('matching', command=['sh', '-c', 'exit 2'], restart_policy='no')
    project.add('api')
    # Wait for each failure to have happened, as the engine reports it, before asking the module.
    project.wait_for_state(lambda attrs: oom_killed(project.client, attrs, wait=0), 'worker', what='OOM-killed')
    project.wait_for_state(lambda attrs: attrs['RestartCount'] >= 3, 'frontend', what='restarted 3 times')
    project.wait_for_health('history', 'unhealthy')
    project.wait_for_state(lambda attrs: attrs['State']['Status'] == 'exited', 'matching', what='exited')

    before = project.snapshot()
    result, run = run_module('docker_service_info', {'project': project.name})
    assert run.rc == 0, run.stdout
    assert result['status'] == 'critical' and result['changed'] is False
    name = '%s-%%s-1' % project.name
    oom = findings_of(result, 'oom_killed')
    assert [item['container'] for item in oom] == [name % 'worker'] and oom[0]['status'] == 'critical'
    assert 'OOM-killed by its memory limit 16.0 MB' in oom[0]['message']
    loop = findings_of(result, 'restart_loop')
    assert [item['container'] for item in loop] == [name % 'frontend']
    unhealthy = findings_of(result, 'unhealthy')
    assert [item['container'] for item in unhealthy] == [name % 'history']
    assert 'database connection refused' in unhealthy[0]['message']
    exited = findings_of(result, 'exited')
    assert [item['container'] for item in exited] == [name % 'matching'] and exited[0]['value'] == 2
    containers = by_name(result)
    assert containers[name % 'worker']['oom_killed'] is True and containers[name % 'worker']['exit_code'] == 137
    assert containers[name % 'worker']['status'].startswith('Exited (137)')
    assert containers[name % 'frontend']['restart_loop'] is True and containers[name % 'frontend']['restart_count'] >= 3
    assert containers[name % 'frontend']['deaths_in_window'] >= 3
    assert containers[name % 'matching']['exit_code'] == 2 and containers[name % 'api']['state'] == 'running'
    assert findings_of(result, 'containers')[0]['message'].endswith('of 5 containers running')

    checked, run = run_module('docker_service_info', {'project': project.name}, check=True)
    assert run.rc == 0 and checked['changed'] is False
    assert sorted((item['check'], item.get('container')) for item in checked['findings']) == \
        sorted((item['check'], item.get('container')) for item in result['findings'])
    # Nothing was touched: same containers, same starts (the looping one restarts by itself).
    after = project.snapshot()
    assert set(after) == set(before)
    for key in before:
        if 'frontend' not in key:
            assert after[key] == before[key]


def test_memory_near_the_limit_is_graded(lab, run_module, compose_project):
    compose_project.add('api', mem_limit='64m')
    result = run_module('docker_service_info', {'project': compose_project.name, 'include_stats': True,
                                                'memory_warn': 0, 'memory_critical': 100})[0]
    memory = findings_of(result, 'memory')
    assert len(memory) == 1 and memory[0]['status'] == 'warn' and 'of 64.0 MB memory' in memory[0]['message']


def test_services_and_containers_select(lab, run_module, compose_project):
    compose_project.add('api')
    compose_project.add('api')
    compose_project.add('worker')
    only_api = run_module('docker_service_info', {'project': compose_project.name, 'services': ['api']})[0]
    assert sorted(item['name'] for item in only_api['containers']) == ['%s-api-1' % compose_project.name, '%s-api-2' % compose_project.name]
    named = run_module('docker_service_info', {'containers': ['%s-worker-1' % compose_project.name]})[0]
    assert [item['service'] for item in named['containers']] == ['worker']
    assert run_module('docker_service_info', {'containers': ['linkflow-api']})[0]['containers'][0]['project'] == 'linkflow'


@pytest.mark.parametrize('args, message', [
    ({'project': 'no-such-project'}, 'unknown project no-such-project; the engine has: '),
    ({'project': 'linkflow', 'services': ['api', 'nope']}, 'unknown service of project linkflow nope; the engine has: api, frontend'),
    ({'containers': ['no-such-container']}, 'unknown container no-such-container; the engine has: '),
    ({'project': 'linkflow', 'timeout': 0}, 'timeout must be greater than 0'),
    ({'project': 'linkflow', 'restart_window': 'soon'}, "restart_window: 'soon' is not a duration"),
    ({'project': 'linkflow', 'memory_warn': 90, 'memory_critical': 80}, 'memory_warn (90) must not be greater than memory_critical (80)'),
    ({'project': 'linkflow', 'docker_host': 'localhost:2375'}, 'docker_host must look like'),
    ({'services': ['api']}, 'one of the following is required: project, containers'),
], ids=['project', 'service', 'container', 'timeout', 'window', 'thresholds', 'host', 'selection'])
def test_bad_input_fails_with_one_line(lab, run_module, args, message):
    result, run = run_module('docker_service_info', args)
    assert result['failed'] is True
    assert message in result['msg'] and '\n' not in result['msg'], result['msg']


def test_engine_down_or_hung_fails_within_timeout_naming_it(lab, run_module, closed_port, silent_server, tmp_path):
    cases = [
        ('unix://%s' % (tmp_path / 'missing.sock'), 'no such socket'),
        ('tcp://127.0.0.1:%d' % closed_port, 'connection refused'),
        ('tcp://127.0.0.1:%d' % silent_server, 'no answer within 2s'),
    ]
    for host, cause in cases:
        result, run = run_module('docker_service_info', {'project': 'linkflow', 'docker_host': host, 'timeout': 2})
        assert result['failed'] is True
        assert result['msg'] == 'cannot reach the Docker engine at %s: %s' % (host, cause)
        # The task's duration includes Ansible starting the module.
        assert run.entry('docker_service_info')['duration'] < 2 + 3


def test_docker_host_comes_from_the_environment_when_not_given(lab, tmp_path):
    from conftest import run_playbook
    play = {'name': 'env', 'hosts': 'localhost', 'gather_facts': False,
            'tasks': [{'name': 'info', 'oncall.runbooks.docker_service_info': {'project': 'linkflow', 'services': ['api']}}]}
    playbook = tmp_path / 'env.yml'
    playbook.write_text(json.dumps([play]))
    run = run_playbook(lab, playbook, tmp_path, env={'DOCKER_HOST': lab.vars['docker_host']})
    assert run.rc == 0, run.stdout
    assert run.result('info')['engine']['host'] == lab.vars['docker_host']
