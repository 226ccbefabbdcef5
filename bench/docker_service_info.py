"""docker_service_info include_stats over 50 running containers, side by side with the seed's commands.

The seed: ``docker stats --no-stream`` for memory and CPU, ``docker inspect`` of each container for
OOMKilled, exit codes and health. All three run in the same rounds against the lab's engine
(DOCKER_HOST set to it), on the same 50 containers of a Compose-labelled project of their own.
The module runs as one Python process reading its arguments from a file, the way Ansible's local
connection runs it, without the controller's own start-up. Target: the module at most 0.5x
``docker stats --no-stream``.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from common import lab_up, median, run_module, write_results
from lab.services import BASE_IMAGE, IDLE_COMMAND, Docker

CONTAINERS = 50
ROUNDS = 5
LABEL = 'oncall.bench'


def start_containers(client, project):
    ids = []
    for number in range(1, CONTAINERS + 1):
        service = 'svc%02d' % ((number - 1) % 10)
        container = client.containers.run(
            BASE_IMAGE, IDLE_COMMAND, detach=True, name='%s-%s-%d' % (project, service, number), network_mode='none',
            mem_limit='32m', labels={'com.docker.compose.project': project, 'com.docker.compose.service': service,
                                     'com.docker.compose.container-number': str(number), 'com.docker.compose.oneoff': 'False',
                                     LABEL: project})
        ids.append(container.id)
    return ids


def timed_command(command, env):
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError('%s failed: %s' % (' '.join(command[:3]), process.stderr.strip()))
    return seconds, process.stdout


def main():
    lab = lab_up()
    docker = Docker(lab)
    client = docker.client()
    project = 'bench-%s' % uuid.uuid4().hex[:6]
    env = dict(os.environ, DOCKER_HOST=docker.host)
    ids = start_containers(client, project)
    names = ['%s-svc%02d-%d' % (project, (number - 1) % 10, number) for number in range(1, CONTAINERS + 1)]
    timings = {'module_cgroup': [], 'module_engine': [], 'docker_stats': [], 'docker_inspect_each': [], 'docker_inspect_once': []}
    args = dict(docker_host=docker.host, project=project, include_stats=True)
    try:
        time.sleep(2)
        for round_number in range(ROUNDS):
            seconds, result = run_module('docker_service_info', args)
            assert len(result['containers']) == CONTAINERS and all(item['stats']['source'] == 'cgroup' for item in result['containers'])
            timings['module_cgroup'].append(seconds)
            seconds, result = run_module('docker_service_info', dict(args, stats_source='engine'))
            assert all(item['stats']['source'] == 'engine' for item in result['containers'])
            timings['module_engine'].append(seconds)
            seconds, output = timed_command(['docker', 'stats', '--no-stream'] + names, env)
            assert len(output.strip().splitlines()) == CONTAINERS + 1, output
            timings['docker_stats'].append(seconds)
            started = time.perf_counter()
            for ident in ids:
                timed_command(['docker', 'inspect', ident], env)
            timings['docker_inspect_each'].append(time.perf_counter() - started)
            timings['docker_inspect_once'].append(timed_command(['docker', 'inspect'] + ids, env)[0])
    finally:
        for container in client.containers.list(all=True, filters={'label': '%s=%s' % (LABEL, project)}):
            container.remove(force=True)

    summary = dict((name, median(values)) for name, values in timings.items())
    ratio = summary['module_cgroup'] / summary['docker_stats']
    ratio_engine = summary['module_engine'] / summary['docker_stats']
    markdown = '\n'.join([
        '### docker_service_info include_stats: %d running containers, median of %d rounds' % (CONTAINERS, ROUNDS),
        '',
        '| command | time | vs `docker stats --no-stream` |',
        '|---|---|---|',
        '| seed: `docker stats --no-stream` (the %d containers) | %.2f s | 1.00x |' % (CONTAINERS, summary['docker_stats']),
        '| seed: `docker inspect` of each, one after another | %.2f s | %.2fx |' % (
            summary['docker_inspect_each'], summary['docker_inspect_each'] / summary['docker_stats']),
        '| `docker inspect` of all %d in one call (state only, no stats) | %.2f s | %.2fx |' % (
            CONTAINERS, summary['docker_inspect_once'], summary['docker_inspect_once'] / summary['docker_stats']),
        '| `docker_service_info` stats_source=auto (cgroup files; one module process, no Ansible controller) | %.2f s | %.2fx |' % (
            summary['module_cgroup'], ratio),
        '| `docker_service_info` stats_source=engine (one-shot stats, all at once; same) | %.2f s | %.2fx |' % (
            summary['module_engine'], ratio_engine),
        '',
        'Target: the module at most 0.5x `docker stats --no-stream`: %.2fx (%s). Both module runs include a 0.5 s CPU sample '
        'interval (`cpu_interval`), and report state, health, restarts and memory of every container as well.' % (
            ratio, 'met' if ratio <= 0.5 else 'NOT met'),
    ])
    data = {'containers': CONTAINERS, 'rounds': timings, 'summary_median_s': summary, 'ratio_module_to_docker_stats': ratio,
            'ratio_engine_module_to_docker_stats': ratio_engine,
            'module_run': 'one module process reading its arguments from a file (bench/common.run_module)'}
    write_results('docker_service_info', data, markdown)


if __name__ == '__main__':
    main()
