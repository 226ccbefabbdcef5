#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: docker_service_restart
short_description: Restart a Compose service's containers, one at a time or all at once, and wait until they are healthy
version_added: 0.1.0
description:
  - The runbooks' C(docker-compose restart SERVICE), through the Docker SDK for Python; the services of a Compose
    project are found by their labels, so no Compose binary is needed.
  - Restarts the selected containers. With O(only_unhealthy=true) only those that are failing are restarted
    (unhealthy by their health check, exited or dead, or in a restart loop); the healthy ones are left alone, and a
    run with nothing failing changes nothing.
  - By default (O(parallel=false)) the containers are restarted one at a time, each waited for before the next, so
    that a service keeps serving; the first container that does not come back stops the roll, and the task fails
    naming it. With O(parallel=true) all are restarted at once and then waited for.
  - Waiting (O(wait=true)) means until the container is running and, when it has a health check, healthy; a
    container that exits, or whose health check reports unhealthy, is not waited for any longer.
  - At most O(max_containers) containers are restarted per run; the result says how many were left out.
  - In check mode nothing is touched; RV(actions) lists exactly the containers that would restart.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.docker
  - oncall.runbooks.docker.selection
attributes:
  check_mode:
    support: full
    description: Lists the containers that would restart, with RV(actions[].done=false), and touches none.
  diff_mode:
    support: none
    description: A restart changes no configuration; RV(actions) says which containers and why.
options:
  only_unhealthy:
    description:
      - Restart only containers that are failing - unhealthy, exited, dead or restarting. Running containers
        without a health check, healthy ones and those whose health check is still starting are left alone.
    type: bool
    default: false
  parallel:
    description:
      - Restart all the containers at once and then wait for them, instead of one after another.
      - One at a time (the default) stops at the first container that does not come back.
    type: bool
    default: false
  wait:
    description:
      - Wait after each restart until the container runs and, with a health check, is healthy.
      - Without waiting, the task succeeds once the engine has restarted the containers.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait for each container (with O(parallel=true), for all of them), as seconds or a duration
        (V(90s), V(5m)).
    type: raw
    default: 2m
  stop_timeout:
    description:
      - Seconds the engine gives a container to stop (after C(SIGTERM)) before it kills it, as C(docker restart -t).
    type: int
    default: 10
  max_containers:
    description:
      - Restart at most this many containers in one run (at least 1). The others are counted in RV(left_out).
    type: int
    default: 10
seealso:
  - module: oncall.runbooks.docker_service_info
    description: See which containers are unhealthy, exited or in a restart loop before restarting.
  - module: oncall.runbooks.docker_rollback
    description: When a restart does not help because the release is bad.
'''

EXAMPLES = r'''
- name: The runbook's docker-compose restart api, one container at a time
  oncall.runbooks.docker_service_restart:
    project: linkflow
    services: [api]

- name: Restart only what is failing, in every service
  oncall.runbooks.docker_service_restart:
    project: linkflow
    only_unhealthy: true
    wait_timeout: 3m
  register: restarted

- name: Restart the workers all at once, without waiting for them
  oncall.runbooks.docker_service_restart:
    project: linkflow
    services: [worker, history, matching]
    parallel: true
    wait: false

- name: Restart two containers by name
  oncall.runbooks.docker_service_restart:
    containers: [linkflow-api, linkflow-frontend]
    max_containers: 2
'''

RETURN = r'''
actions:
  description: One entry per container restarted (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The container's name.
      type: str
      sample: linkflow-api
    action:
      description: Always C(restart).
      type: str
    reason:
      description: Why it is restarted (its failing state, or C(requested)).
      type: str
      sample: "unhealthy: health check exited 1: connection refused"
    done:
      description: Whether it was restarted (and, with O(wait), came back). Always false in check mode.
      type: bool
    id:
      description: Short id of the container.
      type: str
    service:
      description: Compose service of the container, if any.
      type: str
    state_before:
      description: State, and health in brackets, before the restart.
      type: str
      sample: running (unhealthy)
    state_after:
      description: State, and health in brackets, after the restart and the wait.
      type: str
      sample: running (healthy)
      returned: when restarted
    waited_seconds:
      description: How long the container took to be ready after its restart.
      type: float
      returned: when waited for
    error:
      description: Why the restart failed, or why the container did not come back.
      type: str
      returned: on failure
    note:
      description: Why a planned container was not restarted (the roll stopped earlier).
      type: str
      returned: when skipped
summary:
  description: One line for humans and the timeline.
  returned: always
  type: str
  sample: "restarted 1 of 1 failing containers"
candidates:
  description: Containers that qualified, before O(max_containers).
  returned: always
  type: int
left_out:
  description: Containers that qualified but were left out by O(max_containers).
  returned: always
  type: int
left_alone:
  description: With O(only_unhealthy), the selected containers that were left alone, with their state.
  returned: always
  type: list
  elements: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.docker import (
    concurrently,
    connect,
    container_name,
    docker_argument_spec,
    engine_name,
    failing_reason,
    select_containers,
    SELECTION_RULES,
    selection_argument_spec,
    service_of,
    state_text,
    wait_until_settled,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_cap,
    failing_on_error,
    one_line,
    parse_duration,
    Plan,
    plan_summary,
    RunbookError,
)


def validate(params):
    """Every check that needs no engine: fail before anything is touched."""
    check_cap(params['max_containers'], 'max_containers')
    wait_timeout = parse_duration(params['wait_timeout'], 'wait_timeout')
    if params['wait'] and wait_timeout <= 0:
        raise RunbookError('wait_timeout must be more than 0 when wait is true, got %r' % params['wait_timeout'])
    if isinstance(params['stop_timeout'], bool) or params['stop_timeout'] < 0:
        raise RunbookError('stop_timeout must be 0 or more seconds, got %r' % params['stop_timeout'])
    return wait_timeout


def plan_restarts(selected, params):
    plan = Plan(limit=params['max_containers'])
    left_alone = []
    for attrs in selected:
        reason = failing_reason(attrs)
        if params['only_unhealthy'] and reason is None:
            left_alone.append({'container': container_name(attrs), 'state': state_text(attrs)})
            continue
        plan.add(container_name(attrs), 'restart', reason or 'requested', id=attrs['Id'][:12], service=service_of(attrs),
                 state_before=state_text(attrs))
    return plan.cap(), left_alone


def restart(client, entry, stop_timeout):
    """Restart one container; the error, if any, is recorded on its action."""
    try:
        client.api.restart(entry['id'], timeout=stop_timeout)
        return True
    except Exception as exc:  # pylint: disable=broad-except
        entry['error'] = '%s: restart failed: %s' % (entry['target'], one_line(exc))
        return False


def settle(client, entry, params, wait_timeout):
    """Wait for one restarted container and record how it came back."""
    started = time.monotonic()
    if params['wait']:
        ready, reason = wait_until_settled(client, entry['id'], wait_timeout)
        entry['waited_seconds'] = round(time.monotonic() - started, 1)
    else:
        ready, reason = True, None
    try:
        entry['state_after'] = state_text(client.api.inspect_container(entry['id']))
    except Exception as exc:  # pylint: disable=broad-except
        entry['state_after'] = 'unknown (%s)' % one_line(exc)
    if ready:
        entry['done'] = True
    else:
        entry['error'] = '%s did not come back: %s' % (entry['target'], reason)
    return ready


def carry_out(client, plan, params, wait_timeout):
    """Restart the planned containers; one at a time stops at the first that does not come back."""
    if params['parallel']:
        restarted = [entry for entry, ok in zip(plan.actions, concurrently(
            lambda entry: restart(client, entry, params['stop_timeout']), plan.actions)) if ok]
        concurrently(lambda entry: settle(client, entry, params, wait_timeout), restarted)
        return
    for position, entry in enumerate(plan.actions):
        if not (restart(client, entry, params['stop_timeout']) and settle(client, entry, params, wait_timeout)):
            for rest in plan.actions[position + 1:]:
                rest['note'] = 'not restarted: the roll stopped at %s' % entry['target']
            return


def main():
    argument_spec = docker_argument_spec()
    argument_spec.update(selection_argument_spec())
    argument_spec.update(
        only_unhealthy=dict(type='bool', default=False),
        parallel=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='raw', default='2m'),
        stop_timeout=dict(type='int', default=10),
        max_containers=dict(type='int', default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **SELECTION_RULES)
    params = module.params
    check_mode = module.check_mode
    with failing_on_error(module, 'docker_service_restart'):
        wait_timeout = validate(params)
    client = connect(module)
    with failing_on_error(module, 'Docker engine at %s' % engine_name(params)):
        selected = select_containers(module, client, include_stopped=True)
        plan, left_alone = plan_restarts(selected, params)
        if plan and not check_mode:
            carry_out(client, plan, params, wait_timeout)
    noun = 'failing containers' if params['only_unhealthy'] else 'containers'
    summary = plan_summary(plan, ('restart', 'restarted'), noun, check_mode, 'max_containers')
    if not plan.candidates:
        summary = 'no %s among %d selected: nothing to restart' % (noun, len(selected))
    result = plan.result(summary, check_mode, left_alone=left_alone)
    if plan.failed:
        module.fail_json(msg=summary, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
