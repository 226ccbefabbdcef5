# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_service_restart against the lab's Docker engine, through ansible-playbook, in a project of each test's own."""

from __future__ import annotations

from docker_fixtures import healthcheck

# Healthy unless /run/state/broken exists; /run/state is a tmpfs, emptied by a restart: a restart heals it.
HEALABLE = dict(healthcheck=healthcheck('test ! -e /run/state/broken', interval=0.5, retries=1), tmpfs={'/run/state': ''})
# Never healthy: a restart does not help.
HOPELESS = dict(healthcheck=healthcheck('echo database unreachable; exit 1', interval=0.5, retries=1))
# Exits 1 the first time it runs, then idles: a crash that a restart fixes.
CRASH_ONCE = ['sh', '-c', 'if [ -e /tmp/ran ]; then while :; do sleep 1; done; fi; touch /tmp/ran; exit 1']


def started_at(project):
    return dict((name, value[2]) for name, value in project.snapshot().items())


def test_only_unhealthy_restarts_only_the_failing_ones_check_mode_first(compose_project, run_module):
    name = compose_project.name
    compose_project.add('api', **HEALABLE)
    sick = compose_project.add('api', **HEALABLE)
    crashed = compose_project.add('worker', command=CRASH_ONCE)
    compose_project.add('worker')
    compose_project.wait_for_health('api', 'healthy')
    sick.exec_run(['touch', '/run/state/broken'])
    compose_project.wait_for_state(lambda attrs: attrs['State']['Health']['Status'] == 'unhealthy' or attrs['Id'] != sick.id,
                                   service='api', what='api-2 unhealthy', timeout=30)
    compose_project.wait_for_state(lambda attrs: attrs['State']['Status'] == 'exited' or attrs['Id'] != crashed.id,
                                   service='worker', what='worker-1 exited', timeout=30)
    args = dict(project=name, only_unhealthy=True, wait_timeout='60s')

    before = compose_project.snapshot()
    dry = run_module('docker_service_restart', args, check=True)[0]
    assert dry.get('failed') is False, dry
    assert compose_project.snapshot() == before
    assert dry['changed'] is True
    assert [(entry['target'], entry['done']) for entry in dry['actions']] == [('%s-api-2' % name, False), ('%s-worker-1' % name, False)]
    assert dry['actions'][0]['reason'].startswith('unhealthy: health check exited 1')
    assert dry['actions'][1]['reason'] == 'exited (code 1)' and dry['actions'][1]['state_before'] == 'exited (code 1)'
    assert dry['summary'] == 'would restart 2 of 2 failing containers'
    assert sorted(item['container'] for item in dry['left_alone']) == ['%s-api-1' % name, '%s-worker-2' % name]

    result = run_module('docker_service_restart', args)[0]
    assert result.get('failed') is False, result
    assert result['changed'] is True and result['summary'] == 'restarted 2 of 2 failing containers'
    assert [(entry['target'], entry['done']) for entry in result['actions']] == [('%s-api-2' % name, True), ('%s-worker-1' % name, True)]
    assert result['actions'][0]['state_after'] == 'running (healthy)' and result['actions'][1]['state_after'] == 'running'
    after = compose_project.snapshot()
    for container, (cid, status, started, image) in before.items():
        restarted = container in ('%s-api-2' % name, '%s-worker-1' % name)
        assert after[container][0] == cid and after[container][1] == 'running'
        assert (after[container][2] != started) is restarted, container

    again = run_module('docker_service_restart', args)[0]
    assert again.get('failed') is False, again
    assert again['changed'] is False and again['actions'] == []
    assert again['summary'] == 'no failing containers among 4 selected: nothing to restart'
    assert compose_project.snapshot() == after


def test_one_at_a_time_stops_at_the_first_that_does_not_come_back(compose_project, run_module):
    name = compose_project.name
    compose_project.add('api', **HOPELESS)
    compose_project.add('api', **HOPELESS)
    compose_project.wait_for_health('api', 'unhealthy')
    before = started_at(compose_project)
    result, run = run_module('docker_service_restart', dict(project=name, services=['api'], wait_timeout='60s'))
    assert result['failed'] is True
    first, second = result['actions']
    assert first['target'] == '%s-api-1' % name and first['done'] is False
    assert first['error'].startswith('%s-api-1 did not come back: unhealthy: health check exited 1' % name)
    assert 'database unreachable' in first['error']
    assert second['done'] is False and second['note'] == 'not restarted: the roll stopped at %s-api-1' % name
    assert result['msg'] == 'restarted 0 of 2 containers; 1 failed: %s' % first['error']
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr
    after = started_at(compose_project)
    assert after['%s-api-1' % name] != before['%s-api-1' % name]
    assert after['%s-api-2' % name] == before['%s-api-2' % name]


def test_parallel_restarts_all_and_waits(compose_project, run_module):
    for service in ('api', 'worker', 'frontend'):
        compose_project.add(service, **HEALABLE)
    compose_project.wait_for_health(None, 'healthy')
    before = started_at(compose_project)
    result = run_module('docker_service_restart', dict(project=compose_project.name, parallel=True))[0]
    assert result.get('failed') is False, result
    assert len(result['actions']) == 3 and all(entry['done'] for entry in result['actions'])
    assert all(entry['state_after'] == 'running (healthy)' for entry in result['actions'])
    after = started_at(compose_project)
    assert all(after[container] != started for container, started in before.items())


def test_cap_leaves_the_rest_and_zero_is_bad_input(compose_project, run_module):
    for number in range(3):
        compose_project.add('worker')
    before = started_at(compose_project)
    zero, run = run_module('docker_service_restart', dict(project=compose_project.name, max_containers=0))
    assert zero['failed'] is True and zero['msg'] == 'max_containers must be a whole number of at least 1, got 0'
    assert started_at(compose_project) == before

    result = run_module('docker_service_restart', dict(project=compose_project.name, max_containers=2, wait=False))[0]
    assert result.get('failed') is False, result
    assert [entry['target'] for entry in result['actions']] == ['%s-worker-%d' % (compose_project.name, n) for n in (1, 2)]
    assert result['left_out'] == 1 and result['candidates'] == 3
    assert result['summary'] == 'restarted 2 of 3 containers (max_containers 2 left 1 out)'
    after = started_at(compose_project)
    assert after['%s-worker-3' % compose_project.name] == before['%s-worker-3' % compose_project.name]


def test_unknown_service_and_bad_durations_touch_nothing(compose_project, run_module):
    compose_project.add('api')
    before = compose_project.snapshot()
    unknown = run_module('docker_service_restart', dict(project=compose_project.name, services=['api', 'nope']))[0]
    assert unknown['failed'] is True and unknown['msg'] == 'unknown service of project %s nope; the engine has: api' % compose_project.name
    duration = run_module('docker_service_restart', dict(project=compose_project.name, wait_timeout='soon'))[0]
    assert duration['failed'] is True and duration['msg'].startswith("wait_timeout: 'soon' is not a duration")
    assert compose_project.snapshot() == before


def test_restart_loop_counts_as_failing_and_does_not_count_as_back(compose_project, run_module):
    name = compose_project.name
    compose_project.add('worker', command=['sh', '-c', 'sleep 0.3; exit 1'], restart_policy='always')
    compose_project.add('worker')
    compose_project.wait_for_state(lambda attrs: attrs['RestartCount'] >= 3 or attrs['Config']['Cmd'][-1] != 'sleep 0.3; exit 1',
                                   service='worker', what='restart loop', timeout=60)
    result, run = run_module('docker_service_restart', dict(project=name, only_unhealthy=True, wait_timeout='30s'))
    assert result['failed'] is True
    [action] = result['actions']
    assert action['target'] == '%s-worker-1' % name and action['done'] is False
    assert action['reason'].startswith('restarting (restart loop') or action['reason'].startswith('restart loop: restarted ')
    assert action['error'].startswith('%s-worker-1 did not come back: ' % name)
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr
