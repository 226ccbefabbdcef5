#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_scale
short_description: Scale a Deployment or StatefulSet to a number of replicas or by a delta, within bounds, and wait
version_added: 0.1.0
description:
  - The runbooks' "scale up if capacity issue" (C(kubectl scale)), safe to run from an alert.
  - Sets the replicas of a Deployment or StatefulSet through its C(scale) subresource, either to O(replicas)
    or by O(delta) from the current count, kept within O(min_replicas) and O(max_replicas) (the summary says
    when a bound applied).
  - A O(delta) is applied to the count read with its C(resourceVersion); when someone else scaled in between,
    the API server refuses, and the count is read and the delta applied once more.
  - Idempotent; when the workload already has the replicas asked for, nothing changes.
  - With O(wait), waits until the controller has seen the change and the replicas asked for are ready,
    at most O(wait_timeout); otherwise the task fails with the rollout's state.
  - Bad input (a negative O(replicas), O(min_replicas) greater than O(max_replicas), both or neither of
    O(replicas) and O(delta)) fails before anything is read or changed.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.k8s
attributes:
  check_mode:
    support: full
    description: Reads the current count and reports the same change, without scaling.
  diff_mode:
    support: full
    description: Shows the replicas before and after.
options:
  kind:
    description:
      - The kind of workload.
    type: str
    default: Deployment
    choices: [Deployment, StatefulSet]
  name:
    description:
      - The workload's name, in O(namespace).
    type: str
    required: true
  replicas:
    description:
      - The number of replicas wanted (0 or more). Exactly one of O(replicas) and O(delta) is required.
    type: int
  delta:
    description:
      - Replicas to add (positive) or remove (negative) from the current count.
    type: int
  min_replicas:
    description:
      - Never scale below this (a O(replicas) or O(delta) that would is clamped to it). Without it, a O(delta) stops at 0.
    type: int
  max_replicas:
    description:
      - Never scale above this (a O(replicas) or O(delta) that would is clamped to it).
    type: int
  wait:
    description:
      - Wait until the replicas asked for are ready.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, a duration such as C(5m) or a number of seconds.
    type: raw
    default: 5m
seealso:
  - module: oncall.runbooks.k8s_pod_health
    description: Whether the pods are healthy, before and after scaling.
'''

EXAMPLES = r'''
- name: Capacity issue - add two API replicas, never more than 10
  oncall.runbooks.k8s_scale:
    namespace: linkflow
    name: linkflow-api
    delta: 2
    max_replicas: 10

- name: Back to the usual size after the incident
  oncall.runbooks.k8s_scale:
    namespace: linkflow
    name: linkflow-api
    replicas: 3

- name: What would scaling the workflow engine do?
  oncall.runbooks.k8s_scale:
    namespace: production
    name: workflow-engine
    replicas: 6
  check_mode: true
  diff: true
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: scaled Deployment linkflow/linkflow-api from 3 to 5 replicas (delta +4 clamped to max_replicas 5); 5 of 5 ready in 8s
actions:
  description: The scaling (empty when the workload already has the replicas asked for).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The workload, e.g. C(Deployment linkflow/linkflow-api).
      type: str
    action:
      description: C(scale).
      type: str
    reason:
      description: From how many to how many replicas, and why.
      type: str
    done:
      description: Whether it was scaled (always false in check mode).
      type: bool
candidates:
  description: 1 when scaling is needed, else 0.
  returned: always
  type: int
left_out:
  description: Always 0.
  returned: always
  type: int
replicas_before:
  description: The replicas wanted before the run.
  returned: always
  type: int
  sample: 3
replicas_after:
  description: The replicas wanted after the run (in check mode, what they would be).
  returned: always
  type: int
  sample: 5
clamped:
  description: The bound that applied (C(min_replicas), C(max_replicas) or C(zero)), or null.
  returned: always
  type: str
  sample: max_replicas
state:
  description:
    - The rollout's state at the end (see M(oncall.runbooks.k8s_rollout_info) for the keys). With O(wait), also
      C(timed_out) and C(waited) (seconds).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    connect,
    k8s_argument_spec,
    KubeError,
    object_path,
    read_workload,
    rollout_state,
    wait_for_rollout,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    failing_on_error,
    format_duration,
    parse_duration,
    Plan,
    RunbookError,
)


def validate(params):
    """Every check that needs no API server; returns the wait timeout in seconds."""
    if (params['replicas'] is None) == (params['delta'] is None):
        raise RunbookError('replicas and delta: give exactly one of them (replicas: the count wanted, delta: how many to add or remove)')
    for option in ('replicas', 'min_replicas', 'max_replicas'):
        if params[option] is not None and params[option] < 0:
            raise RunbookError('%s: %d is negative; replicas are 0 or more' % (option, params[option]))
    if params['min_replicas'] is not None and params['max_replicas'] is not None and params['min_replicas'] > params['max_replicas']:
        raise RunbookError('min_replicas (%d) must not be greater than max_replicas (%d)' % (params['min_replicas'], params['max_replicas']))
    return parse_duration(params['wait_timeout'], 'wait_timeout')


def wanted(params, current):
    """(replicas, bound that applied or None) for the current count."""
    count = params['replicas'] if params['replicas'] is not None else current + params['delta']
    if params['max_replicas'] is not None and count > params['max_replicas']:
        return params['max_replicas'], 'max_replicas'
    if params['min_replicas'] is not None and count < params['min_replicas']:
        return params['min_replicas'], 'min_replicas'
    if count < 0:
        return 0, 'zero'
    return count, None


def asked(params):
    if params['replicas'] is not None:
        return 'replicas %d' % params['replicas']
    return 'delta %+d' % params['delta']


def clamp_text(params, clamped):
    if clamped is None:
        return ''
    bound = 'zero' if clamped == 'zero' else '%s %d' % (clamped, params[clamped])
    return ' (%s clamped to %s)' % (asked(params), bound)


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(
        kind=dict(type='str', default='Deployment', choices=['Deployment', 'StatefulSet']),
        name=dict(type='str', required=True),
        replicas=dict(type='int'),
        delta=dict(type='int'),
        min_replicas=dict(type='int'),
        max_replicas=dict(type='int'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='raw', default='5m'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    kind, namespace, name = params['kind'], params['namespace'], params['name']
    what = '%s %s/%s' % (kind, namespace, name)
    check_mode = module.check_mode
    plan = Plan()

    with failing_on_error(module, what):
        wait_timeout = validate(params)
        kube = connect(module)
        read_workload(kube, kind, namespace, name)  # a missing workload is one clear line, not a 404 on /scale
        path = object_path(kind, namespace, name, 'scale')
        scale = kube.get(path)
        before = (scale.get('spec') or {}).get('replicas') or 0
        after, clamped = wanted(params, before)
        if after != before:
            plan.add(what, 'scale', '%d -> %d replicas%s' % (before, after, clamp_text(params, clamped)), replicas_before=before, replicas_after=after)

        def execute(entry):
            current, target = before, after
            for attempt in (1, 2):
                body = {'spec': {'replicas': target}}
                if params['delta'] is not None:
                    # A delta is relative to what was read: refuse to apply it to a count someone else changed.
                    body['metadata'] = {'resourceVersion': scale['metadata']['resourceVersion']}
                try:
                    kube.patch(path, body, patch_type='merge')
                    entry.update(replicas_before=current, replicas_after=target)
                    return True
                except KubeError as exc:
                    if exc.status != 409 or attempt == 2:
                        raise
                scale.clear()
                scale.update(kube.get(path))
                current = (scale.get('spec') or {}).get('replicas') or 0
                target = wanted(params, current)[0]
                if target == current:
                    entry.update(replicas_before=current, replicas_after=target, note='already scaled by someone else')
                    return False
            return False

        plan.carry_out(execute, check_mode)
        if plan.failed:
            error = plan.failed[0]['error']
            raise RunbookError(error if error.startswith(what) else '%s: scaling failed: %s' % (what, error))
        if plan.actions:
            before, after = plan.actions[0]['replicas_before'], plan.actions[0]['replicas_after']
        if params['wait'] and plan.done:
            state = wait_for_rollout(kube, kind, namespace, name, wait_timeout)
        else:
            state = rollout_state(read_workload(kube, kind, namespace, name))

    data = dict(replicas_before=before, replicas_after=after, clamped=clamped, state=state)
    bounds = clamp_text(params, clamped)
    if not plan:
        summary = '%s already has %d replicas%s: nothing to scale' % (what, after, bounds)
    elif check_mode:
        summary = 'would scale %s from %d to %d replicas%s' % (what, before, after, bounds)
    else:
        summary = 'scaled %s from %d to %d replicas%s' % (what, before, after, bounds)
        if params['wait'] and plan.done:
            summary += '; %s' % ('%d of %d ready in %s' % (state['ready'], state['desired'], format_duration(state['waited']))
                                 if state['done'] else state['message'])
    result = plan.result(summary, check_mode, **data)
    if plan:
        result['diff'] = dict(before=dict(replicas=before), after=dict(replicas=after),
                              before_header='%s replicas' % what, after_header='%s replicas' % what)
    if params['wait'] and plan.done and not state['done']:
        result['msg'] = '%s: %d replicas wanted, but the rollout is %s: %s' % (
            what, after, 'stalled' if state['stalled'] else 'not complete after %s' % format_duration(wait_timeout), state['message'])
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
