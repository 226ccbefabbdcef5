# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_rollback against the lab's Docker engine, through ansible-playbook, in a project of each test's own."""

from __future__ import annotations

import pytest

PREVIOUS = 'oncall.runbooks.previous-image'
# Release images of a repository of these tests only (a tag means one content; see release_image).
SERVICE = 'dfx-rollapi'


@pytest.fixture
def releases(release_image):
    """The good release now running, an older good one to go back to, and one whose health check fails."""
    return dict(
        current=release_image(SERVICE, '2.1.0', interval='1s'),
        good=release_image(SERVICE, '2.0.0', interval='1s'),
        broken=release_image(SERVICE, '2.0.1-broken', healthy=False, interval='1s'),
    )


@pytest.fixture
def network(docker_client, compose_project):
    """A user-defined network of this test (removed after the project's containers)."""
    created = docker_client.networks.create('%s-net' % compose_project.name, driver='bridge')
    yield created
    compose_project.remove()
    created.remove()


@pytest.fixture
def volume(docker_client, compose_project):
    """The name of a named volume of this test (removed after the project's containers)."""
    name = '%s-data' % compose_project.name
    yield name
    compose_project.remove()
    for item in docker_client.volumes.list(filters={'name': name}):
        item.remove(force=True)


def image_id(docker_client, ref):
    return docker_client.api.inspect_image(ref)['Id']


def leftovers(docker_client, project):
    """Temporary containers a rollback must never leave behind."""
    return [item.name for item in docker_client.containers.list(all=True, filters={'label': 'com.docker.compose.project=%s' % project})
            if '-rollback-' in item.name]


def test_rollback_to_a_healthy_tag_keeps_the_configuration_then_back_by_label(docker_client, compose_project, releases, volume, run_module):
    old = compose_project.add('api', image=releases['current'], environment={'APP_ENV': 'production', 'QUEUE': 'default'},
                              labels={'team': 'core'}, mem_limit='96m', nano_cpus=500000000, restart_policy='unless-stopped',
                              volumes={volume: {'bind': '/data', 'mode': 'rw'}}, tmpfs={'/run/cache': 'size=1m'})
    old.exec_run(['sh', '-c', 'echo kept > /data/proof'])
    compose_project.wait_for_health('api', 'healthy')
    name = old.name
    args = dict(project=compose_project.name, services=['api'], to_tag='2.0.0', wait_timeout='60s')

    before = compose_project.snapshot()
    dry, run = run_module('docker_rollback', args, check=True, diff=True, verbosity=3)
    assert dry.get('failed') is False, dry
    assert compose_project.snapshot() == before
    [action] = dry['actions']
    assert action['target'] == name and action['done'] is False and action['action'] == 'recreate'
    assert action['from_image'] == releases['current'] and action['to_image'] == releases['good']
    assert dry['changed'] is True and dry['summary'] == 'would recreate 1 of 1 containers'
    assert dry['diff'] == [{'before_header': name, 'after_header': name, 'before': 'image: %s\n' % releases['current'],
                            'after': 'image: %s\n' % releases['good']}]

    result = run_module('docker_rollback', args)[0]
    assert result.get('failed') is False, result
    assert result['changed'] is True and result['summary'] == 'recreated 1 of 1 containers'
    assert result['actions'][0]['done'] is True
    assert not docker_client.containers.list(all=True, filters={'id': old.id})
    assert leftovers(docker_client, compose_project.name) == []
    new = docker_client.api.inspect_container(name)
    assert new['Id'][:12] == result['actions'][0]['new_id']
    assert new['Image'] == image_id(docker_client, releases['good'])
    assert new['State']['Running'] and new['State']['Health']['Status'] == 'healthy'
    labels = new['Config']['Labels']
    assert labels[PREVIOUS] == releases['current']
    # docker_service_info tells a runbook what a rollback would return to, and how recent the deploy is.
    info = run_module('docker_service_info', {'project': compose_project.name})[0]
    rolled = [container for container in info['containers'] if container['name'] == name][0]
    assert rolled['previous_image'] == releases['current']
    assert rolled['created'] == new['Created'] and 0 <= rolled['created_seconds_ago'] < 120
    assert labels['team'] == 'core' and labels['com.docker.compose.service'] == 'api'
    assert labels['org.opencontainers.image.version'] == '2.0.0'  # the image's own label came from the new image
    assert 'APP_ENV=production' in new['Config']['Env'] and 'QUEUE=default' in new['Config']['Env']
    assert new['HostConfig']['Memory'] == 96 * 1024 * 1024 and new['HostConfig']['NanoCpus'] == 500000000
    assert new['HostConfig']['RestartPolicy']['Name'] == 'unless-stopped'
    assert new['HostConfig']['Tmpfs'] == {'/run/cache': 'size=1m'}
    assert [(mount['Name'], mount['Destination']) for mount in new['Mounts'] if mount['Type'] == 'volume'] == [(volume, '/data')]
    assert docker_client.containers.get(name).exec_run(['cat', '/data/proof']).output == b'kept\n'

    again = run_module('docker_rollback', args)[0]
    assert again.get('failed') is False, again
    assert again['changed'] is False and again['actions'] == [] and again['unchanged'] == [name]
    assert again['summary'] == 'all 1 selected containers already run their target image: nothing to roll back'

    # No target: back to the image recorded by the rollback.
    back = run_module('docker_rollback', dict(project=compose_project.name, wait_timeout='60s'))[0]
    assert back.get('failed') is False, back
    assert back['actions'][0]['to_image'] == releases['current'] and back['actions'][0]['done'] is True
    latest = docker_client.api.inspect_container(name)
    assert latest['Image'] == image_id(docker_client, releases['current'])
    assert latest['Config']['Labels'][PREVIOUS] == releases['good']
    assert latest['Config']['Labels']['org.opencontainers.image.version'] == '2.1.0'


def test_rollback_to_a_failing_tag_leaves_the_old_one_running(docker_client, compose_project, releases, run_module):
    old = compose_project.add('api', image=releases['current'])
    compose_project.wait_for_health('api', 'healthy')
    before = compose_project.snapshot()
    result, run = run_module('docker_rollback', dict(project=compose_project.name, to_tag='2.0.1-broken', wait_timeout='60s'))
    assert result['failed'] is True
    [action] = result['actions']
    assert action['done'] is False
    assert result['msg'].startswith('recreated 0 of 1 containers; 1 failed: rollback of %s to %s failed: ' % (old.name, releases['broken']))
    assert 'unhealthy: health check exited 1' in result['msg'] and 'selftest FAILED' in result['msg']
    assert result['msg'].endswith('; %s left running on %s' % (old.name, releases['current']))
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr
    assert compose_project.snapshot() == before
    assert leftovers(docker_client, compose_project.name) == []


def test_fixed_port_and_network_alias_stop_the_old_one_first_and_restore_it(docker_client, compose_project, releases, network,
                                                                            run_module, closed_port):
    old = compose_project.add('web', image=releases['current'], network_mode=None, network=network.name,
                              ports={'8080/tcp': ('127.0.0.1', closed_port)})
    docker_client.api.disconnect_container_from_network(old.id, network.id)
    docker_client.api.connect_container_to_network(old.id, network.id, aliases=['web-alias'])
    old.restart()
    compose_project.wait_for_health('web', 'healthy')
    name = old.name

    failed = run_module('docker_rollback', dict(containers=[name], to_tag='2.0.1-broken', wait_timeout='60s'))[0]
    assert failed['failed'] is True and failed['actions'][0]['stopped_first'] is True
    assert failed['msg'].endswith('; %s left running on %s' % (name, releases['current']))
    restored = docker_client.api.inspect_container(name)
    assert restored['Id'] == old.id and restored['State']['Running']
    assert leftovers(docker_client, compose_project.name) == []

    result = run_module('docker_rollback', dict(containers=[name], to_tag='2.0.0', wait_timeout='60s'))[0]
    assert result.get('failed') is False, result
    assert result['actions'][0]['stopped_first'] is True and result['actions'][0]['done'] is True
    new = docker_client.api.inspect_container(name)
    assert new['Id'] != old.id and new['Image'] == image_id(docker_client, releases['good'])
    assert new['HostConfig']['PortBindings'] == {'8080/tcp': [{'HostIp': '127.0.0.1', 'HostPort': str(closed_port)}]}
    assert 'web-alias' in new['NetworkSettings']['Networks'][network.name]['Aliases']


@pytest.mark.parametrize('args, message', [
    ({'to_image': 'linkflow-test/dfx-rollapi:9.9.9-missing'},
     'to_image: image linkflow-test/dfx-rollapi:9.9.9-missing is not on the engine at DOCKER_HOST (nothing is pulled; docker pull it first)'),
    ({'to_tag': '9.9.9-missing'},
     'to_tag: image linkflow-test/dfx-rollapi:9.9.9-missing is not on the engine at DOCKER_HOST (nothing is pulled; docker pull it first)'),
    ({}, 'to_image: required for container CONTAINER, which has no oncall.runbooks.previous-image label'),
    ({'to_tag': 'a/b:c'}, "to_tag: 'a/b:c' is not a tag (use to_image for a full image reference)"),
    ({'to_tag': '2.0.0', 'max_containers': 0}, 'max_containers must be a whole number of at least 1, got 0'),
    ({'to_tag': '2.0.0', 'to_image': 'x'}, 'parameters are mutually exclusive: to_image|to_tag'),
], ids=['missing-image', 'missing-tag', 'no-label', 'not-a-tag', 'zero-cap', 'both-targets'])
def test_bad_input_fails_before_touching_anything(lab, compose_project, releases, run_module, args, message):
    old = compose_project.add('api', image=releases['current'])
    before = compose_project.snapshot()
    result, run = run_module('docker_rollback', dict(args, project=compose_project.name))
    message = message.replace('DOCKER_HOST', lab.vars['docker_host']).replace('CONTAINER', old.name)
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr
    assert compose_project.snapshot() == before
