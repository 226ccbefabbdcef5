#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: docker_service_info
short_description: State, health, restarts and resource use of a Compose project's containers, graded
version_added: 0.1.0
description:
  - What the runbooks' C(docker-compose ps), C(docker inspect) (C(OOMKilled), exit code, health) and C(docker stats)
    should have told you during a "Container Issues" incident, for every container of a Compose O(project)
    (or some of its O(services)), or of listed O(containers).
  - For each container, its name, service, image, state, a status line like C(docker ps) writes it, health and the
    output of the latest health check, exit code, whether it was OOM-killed, restart count and policy, start and
    finish times, and whether it is in a restart loop.
  - A restart loop is a container that the engine is restarting now, or that died O(restart_threshold) times or
    more within O(restart_window), counted from the engine's C(die) events.
  - With O(include_stats=true), memory in use against the limit (counted as C(docker stats) counts it, without the
    inactive page cache), CPU and the number of processes, for all running containers at once. When the engine runs
    on this host, these are read from each container's cgroup files, which takes milliseconds instead of the second
    or more the engine needs for each container; otherwise the engine's one-shot stats are used.
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.docker
  - oncall.runbooks.docker.selection
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  include_stats:
    description:
      - Also report memory, CPU and processes of the running containers.
    type: bool
    default: false
  stats_source:
    description:
      - Where O(include_stats) reads from. C(auto) reads the cgroup files of the containers of an engine on this
        host (a C(unix://) O(docker_host)), and asks the engine for the others. C(engine) always asks the engine.
    type: str
    choices: [auto, engine]
    default: auto
  cpu_interval:
    description:
      - Seconds between the two samples that CPU use is measured over. C(0) reports no CPU figure.
    type: float
    default: 0.5
  restart_window:
    description:
      - How far back to count a container's deaths for the restart-loop check, a duration such as C(10m) or C(90s).
    type: str
    default: 10m
  restart_threshold:
    description:
      - Deaths within O(restart_window) from which a container is in a restart loop.
    type: int
    default: 3
  memory_warn:
    description:
      - Percentage of its memory limit in use at which a container's C(memory) finding warns.
    type: int
    default: 80
  memory_critical:
    description:
      - Percentage of its memory limit in use at which a container's C(memory) finding is critical.
    type: int
    default: 95
seealso:
  - module: oncall.runbooks.docker_logs
    description: What the containers wrote before they failed.
  - module: oncall.runbooks.docker_service_restart
    description: Restart the containers that this module finds unhealthy.
'''

EXAMPLES = r'''
- name: Why is the site down? State of every container of the linkflow project
  oncall.runbooks.docker_service_info:
    project: linkflow
    include_stats: true
  register: containers

- name: Only the api and worker services, on a remote engine over TLS
  oncall.runbooks.docker_service_info:
    docker_host: tcp://docker.internal:2376
    validate_certs: true
    ca_path: /etc/docker/certs/ca.pem
    project: linkflow
    services: [api, worker]

- name: Containers by name, a stricter restart-loop check
  oncall.runbooks.docker_service_info:
    containers: [linkflow-api, linkflow-worker]
    restart_window: 5m
    restart_threshold: 2
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: critical
findings:
  description:
    - What a human should read first, worst first. Checks are C(oom_killed), C(restart_loop), C(unhealthy), C(exited)
      and C(memory), each naming its container (key C(container)), and C(containers), how many are running.
  returned: success
  type: list
  elements: dict
  sample:
    - check: oom_killed
      status: critical
      container: linkflow-worker
      message: "linkflow-worker (worker) was OOM-killed by its memory limit 64.0 MB, exit code 137"
containers:
  description: One entry per container, by service then name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
      sample: linkflow-api
    id:
      description: Short container ID.
      type: str
    service:
      description: Compose service, or null.
      type: str
      sample: api
    project:
      description: Compose project, or null.
      type: str
    image:
      description: The image the container was created from, as given.
      type: str
      sample: linkflow/api:1.0.0
    image_id:
      description: ID of that image.
      type: str
    state:
      description: C(running), C(restarting), C(exited), C(created), C(paused) or C(dead).
      type: str
    status:
      description: A status line like C(docker ps) writes it.
      type: str
      sample: Up 37m (healthy)
    health:
      description: C(healthy), C(unhealthy) or C(starting) while running; null without a health check or when not running.
      type: str
    health_check:
      description: The latest health check, C(exit_code), C(output) (the last 1000 characters) and C(end); null without one.
      type: dict
    exit_code:
      description: Exit code of the last run.
      type: int
    oom_killed:
      description:
        - Whether the kernel killed the container for exceeding its memory limit. True when the engine's
          C(OOMKilled) flag is set, or when the container exited with code 137 and the engine recorded an
          C(oom) event since it started. On a busy host the exit can reach the engine before the OOM notice,
          and the flag then stays false.
      type: bool
    restart_count:
      description: Restarts done by the restart policy.
      type: int
    restart_policy:
      description: The restart policy, e.g. C(unless-stopped) or C(on-failure:5).
      type: str
    created:
      description: When the container was created (deployed), RFC 3339.
      type: str
    created_seconds_ago:
      description: How long ago the container was created, in seconds.
      type: int
    previous_image:
      description:
        - The image recorded in the label C(oncall.runbooks.previous-image) by M(oncall.runbooks.docker_rollback) (or by a
          deploy that sets it), the image a rollback without a target returns to; null when none is recorded.
      type: str
    started_at:
      description: When it last started, RFC 3339; null if never.
      type: str
    finished_at:
      description: When it last stopped, RFC 3339; null if never.
      type: str
    deaths_in_window:
      description: Deaths counted within O(restart_window); null when the events could not be read.
      type: int
    restart_loop:
      description: Whether it is in a restart loop.
      type: bool
    restart_loop_reason:
      description: Why it counts as a restart loop, or null.
      type: str
    memory_limit:
      description: Memory limit in bytes, null without one.
      type: int
    stats:
      description:
        - With O(include_stats) and while running, C(memory) (bytes in use), C(memory_limit) (bytes; the host's memory
          without a limit), C(memory_percent), C(memory_human), C(cpu_percent) (100 per busy CPU; null with
          O(cpu_interval=0)), C(pids) and C(source) (C(cgroup) or C(engine)).
      type: dict
engine:
  description: The engine's C(host) and negotiated C(api_version).
  returned: success
  type: dict
'''

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.docker import (
    PREVIOUS_IMAGE_LABEL, SELECTION_RULES, api_version, collect_stats, connect, container_name, container_events, docker_argument_spec,
    engine_is_local, engine_name, has_healthcheck, health_of, last_health_output, project_of, oom_killed, restart_loop,
    select_containers, selection_argument_spec, service_of)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError, check_ratio, check_thresholds, diagnostic_result, failing_on_error, finding, format_bytes,
    format_duration, graded_finding, parse_duration, parse_timestamp)


def ps_status(state, health, now):
    """The status column of ``docker ps``: "Up 37m (healthy)", "Exited (137) 2m ago", "Restarting (1) 3s ago"."""
    status = state.get('Status')
    started = parse_timestamp(state.get('StartedAt'))
    finished = parse_timestamp(state.get('FinishedAt'))
    if status == 'running':
        text = 'Up %s' % format_duration(now - started) if started else 'Up'
        if state.get('Paused'):
            text += ' (Paused)'
        return text + (' (%s)' % ('health: starting' if health == 'starting' else health) if health else '')
    if status in ('restarting', 'exited'):
        text = '%s (%s)' % (status.capitalize(), state.get('ExitCode'))
        return text + (' %s ago' % format_duration(now - finished) if finished else '')
    return (status or 'unknown').capitalize()


def describe(attrs, events, params, window, now):
    state = attrs.get('State') or {}
    host_config = attrs.get('HostConfig') or {}
    policy = host_config.get('RestartPolicy') or {}
    policy_text = policy.get('Name') or 'no'
    if policy_text == 'on-failure' and policy.get('MaximumRetryCount'):
        policy_text += ':%d' % policy['MaximumRetryCount']
    started = parse_timestamp(state.get('StartedAt'))
    created = parse_timestamp(attrs.get('Created'))
    seen = (events or {}).get(attrs['Id'], {})
    deaths_in_window = None if events is None else len([when for when in seen.get('die', ()) if when >= now - window])
    restart_count = attrs.get('RestartCount') or 0
    looping, reason = restart_loop(state, restart_count, deaths_in_window, now - started if started else None,
                                   window, params['restart_threshold'])
    # As docker ps: the health of a container that is not running is a stale leftover.
    health = health_of(attrs) if state.get('Status') == 'running' else None
    return {
        'name': container_name(attrs),
        'id': attrs['Id'][:12],
        'service': service_of(attrs),
        'project': project_of(attrs),
        'image': (attrs.get('Config') or {}).get('Image'),
        'image_id': attrs.get('Image'),
        # When this container was deployed, and the image a rollback would return to: a runbook
        # rolls back a failing service deployed within its window instead of restarting it.
        'created': attrs.get('Created') if created else None,
        'created_seconds_ago': int(now - created) if created else None,
        'previous_image': ((attrs.get('Config') or {}).get('Labels') or {}).get(PREVIOUS_IMAGE_LABEL),
        'state': state.get('Status'),
        'status': ps_status(state, health, now),
        'health': health,
        'health_check': last_health_output(attrs) if has_healthcheck(attrs) else None,
        'exit_code': state.get('ExitCode'),
        'oom_killed': oom_killed(state, seen.get('oom')),
        'restart_count': restart_count,
        'restart_policy': policy_text,
        'started_at': state.get('StartedAt') if started else None,
        'finished_at': state.get('FinishedAt') if parse_timestamp(state.get('FinishedAt')) else None,
        'deaths_in_window': deaths_in_window,
        'restart_loop': looping,
        'restart_loop_reason': reason,
        'memory_limit': host_config.get('Memory') or None,
    }


def grade(containers, params):
    """Findings per container, worst kinds first, and one line on how many run."""
    findings = []

    def add(item, container):
        item['container'] = container['name']
        findings.append(item)

    for container in containers:
        label = '%s (%s)' % (container['name'], container['service']) if container['service'] else container['name']
        if container['oom_killed']:
            limit = ' by its memory limit %s' % format_bytes(container['memory_limit']) if container['memory_limit'] else ''
            add(finding('oom_killed', 'critical', '%s was OOM-killed%s, exit code %s' % (label, limit, container['exit_code'])), container)
        if container['restart_loop']:
            add(finding('restart_loop', 'critical', '%s is in a restart loop: %s (policy %s)'
                        % (label, container['restart_loop_reason'], container['restart_policy']), container['restart_count']), container)
        if container['health'] == 'unhealthy':
            output = ((container['health_check'] or {}).get('output') or '').strip().splitlines()
            add(finding('unhealthy', 'critical', '%s is unhealthy: %s' % (label, output[-1] if output else 'health check failing')), container)
        if container['state'] == 'exited' and container['exit_code'] and not container['oom_killed']:
            add(finding('exited', 'critical', '%s exited with code %s' % (label, container['exit_code']), container['exit_code']), container)
        elif container['state'] in ('exited', 'created', 'dead') and not container['oom_killed'] and not container['exit_code']:
            add(finding('exited', 'warn', '%s is not running (%s)' % (label, container['status'])), container)
        stats = container.get('stats')
        if stats and stats.get('memory_percent') is not None:
            item = graded_finding('memory', stats['memory_percent'], params['memory_warn'], params['memory_critical'],
                                  '%s uses %s of %s memory ({value}%%)' % (label, stats['memory_human'], format_bytes(stats['memory_limit'])))
            if item['status'] != 'ok':
                add(item, container)
    running = len([item for item in containers if item['state'] == 'running'])
    findings.append(finding('containers', 'ok', '%d of %d containers running' % (running, len(containers)), running))
    return findings


def main():
    argument_spec = docker_argument_spec()
    argument_spec.update(selection_argument_spec())
    argument_spec.update(
        include_stats=dict(type='bool', default=False),
        stats_source=dict(type='str', default='auto', choices=['auto', 'engine']),
        cpu_interval=dict(type='float', default=0.5),
        restart_window=dict(type='str', default='10m'),
        restart_threshold=dict(type='int', default=3),
        memory_warn=dict(type='int', default=80),
        memory_critical=dict(type='int', default=95),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **SELECTION_RULES)
    params = module.params

    with failing_on_error(module, 'Docker engine at %s' % engine_name(params)):
        window = parse_duration(params['restart_window'], 'restart_window')
        if params['restart_threshold'] < 1:
            raise RunbookError('restart_threshold must be 1 or more, got %d' % params['restart_threshold'])
        if params['cpu_interval'] < 0:
            raise RunbookError('cpu_interval must be 0 or more seconds, got %s' % params['cpu_interval'])
        for option in ('memory_warn', 'memory_critical'):
            check_ratio(params[option], option)
        check_thresholds(params['memory_warn'], params['memory_critical'], 'memory_warn', 'memory_critical')

        client = connect(module)
        selected = select_containers(module, client)
        now = time.time()
        # The events query runs while the stats are sampled: the CPU interval is spent waiting anyway.
        with ThreadPoolExecutor(max_workers=1) as background:
            events = background.submit(container_events, client, now - window, now) if selected else None
            if params['include_stats']:
                samples = collect_stats(client, selected, params['stats_source'], params['cpu_interval'], engine_is_local(params))
            try:
                seen = events.result() if events else {}
            except Exception:  # pylint: disable=broad-except
                # Events are a refinement; the restart count still tells a loop apart.
                seen = None
        containers = [describe(attrs, seen, params, window, now) for attrs in selected]
        if params['include_stats']:
            for attrs, container in zip(selected, containers):
                sample = samples.get(attrs['Id'])
                if sample is None:
                    container['stats'] = None
                    continue
                limit = sample['limit']
                container['stats'] = {
                    'memory': sample['memory'],
                    'memory_limit': limit,
                    'memory_percent': round(100.0 * sample['memory'] / limit, 1) if limit and sample['memory'] is not None else None,
                    'memory_human': format_bytes(sample['memory']),
                    'cpu_percent': sample['cpu_percent'],
                    'pids': sample['pids'],
                    'source': sample['source'],
                }
        engine = {'host': engine_name(params), 'api_version': '.'.join(str(part) for part in api_version(client))}
        client.close()

    module.exit_json(**diagnostic_result(grade(containers, params), containers=containers, engine=engine))


if __name__ == '__main__':
    main()
