#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_rollback
short_description: Roll a Deployment, StatefulSet or DaemonSet back to an earlier revision, and wait
version_added: 0.1.0
description:
  - The runbooks' C(kubectl rollout undo deployment/linkflow-api [--to-revision=N]), for the "rollback if recent
    deployment" mitigation, with a dry run, a diff and a wait.
  - Deployments are rolled back through their ReplicaSets, StatefulSets and DaemonSets through their
    ControllerRevisions; only revisions whose controller is this workload count.
  - Without O(to_revision) (or with 0), goes back to the previous revision, the highest revision lower than
    the current one. After earlier rollbacks the revision numbers have gaps (the revision rolled back to
    becomes the newest), so the current number minus one is not it.
  - A O(to_revision) that does not exist fails before anything changes, listing the revisions that do.
  - When the workload's pod template already equals the target revision's, nothing changes (C(changed) is false).
  - The pod template is replaced with a JSON patch that first tests the workload's C(resourceVersion), so a
    workload changed by someone else since it was read is not overwritten (the task fails, saying so).
    The C(pod-template-hash) label of ReplicaSet templates is removed first, as C(kubectl) does, and the
    revision's change-cause is copied to the workload.
  - With O(wait), waits until the controller has seen the change and the rollout is complete, at most
    O(wait_timeout); a rollout that stalls, or does not complete in time, fails the task with its state.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.k8s
attributes:
  check_mode:
    support: full
    description: Patches nothing (the resourceVersion stays the same) and reports the same from- and to-revision and images.
  diff_mode:
    support: full
    description: Shows the pod template before and after, and the images before and after.
options:
  kind:
    description:
      - The kind of workload.
    type: str
    default: Deployment
    choices: [Deployment, StatefulSet, DaemonSet]
  name:
    description:
      - The workload's name, in O(namespace).
    type: str
    required: true
  to_revision:
    description:
      - The revision to roll back to. V(0), or omitted, means the previous revision (the highest one lower than the current one).
    type: int
    default: 0
  wait:
    description:
      - Wait until the rollout to the target revision is complete.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, a duration such as C(5m) or a number of seconds.
    type: raw
    default: 5m
notes:
  - A paused Deployment is not rolled back (as with C(kubectl)); resume it first.
seealso:
  - module: oncall.runbooks.k8s_rollout_info
    description: The revisions, their images and the rollout's state.
'''

EXAMPLES = r'''
- name: Roll linkflow-api back to the previous revision and wait for it
  oncall.runbooks.k8s_rollback:
    namespace: linkflow
    name: linkflow-api

- name: What would a rollback to revision 3 change?
  oncall.runbooks.k8s_rollback:
    namespace: linkflow
    name: linkflow-api
    to_revision: 3
  check_mode: true
  diff: true
  register: plan

- name: Roll back a StatefulSet, waiting at most 10 minutes
  oncall.runbooks.k8s_rollback:
    namespace: production
    kind: StatefulSet
    name: postgres
    wait_timeout: 10m
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: rolled back Deployment linkflow/linkflow-api from revision 5 to 3 (api linkflow-api:2.4.0); rollout complete in 12.0s
actions:
  description: The rollback (empty when the workload is already on the target revision).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The workload, e.g. C(Deployment linkflow/linkflow-api).
      type: str
    action:
      description: C(rollback).
      type: str
    reason:
      description: From which revision to which.
      type: str
    done:
      description: Whether the template was patched (always false in check mode).
      type: bool
candidates:
  description: 1 when a rollback is needed, else 0.
  returned: always
  type: int
left_out:
  description: Always 0.
  returned: always
  type: int
from_revision:
  description: The current revision before the rollback (null when no revision held the template).
  returned: always
  type: int
  sample: 5
to_revision:
  description: The revision rolled back to.
  returned: always
  type: int
  sample: 3
revisions:
  description: The revision numbers that existed before the rollback.
  returned: always
  type: list
  elements: int
  sample: [1, 3, 4, 5]
images_before:
  description: The images before, one per container.
  returned: always
  type: list
  elements: dict
  sample: [{container: api, image: "linkflow-api:2.4.1"}]
images_after:
  description: The images of the target revision.
  returned: always
  type: list
  elements: dict
  sample: [{container: api, image: "linkflow-api:2.4.0"}]
change_cause:
  description: The target revision's change-cause, or null.
  returned: always
  type: str
resource_version:
  description: The workload's resourceVersion after the run (unchanged in check mode).
  returned: always
  type: str
state:
  description:
    - The rollout's state at the end (see M(oncall.runbooks.k8s_rollout_info) for the keys). With O(wait), also
      C(timed_out) and C(waited) (seconds).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    CHANGE_CAUSE_ANNOTATION,
    choose_revision,
    connect,
    current_revision,
    images_of,
    k8s_argument_spec,
    KubeError,
    object_path,
    owned_revisions,
    read_workload,
    revision_template,
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


def image_text(images):
    return ', '.join('%s %s' % (item['container'], item['image']) for item in images) or 'no containers'


def image_map(images):
    return dict((item['container'], item['image']) for item in images)


def rollback_patch(workload, target):
    """A JSON patch that replaces the pod template only if nobody changed the workload since it was read."""
    meta = workload['metadata']
    operations = [
        {'op': 'test', 'path': '/metadata/resourceVersion', 'value': meta['resourceVersion']},
        {'op': 'replace', 'path': '/spec/template', 'value': target['template']},
    ]
    if target['change_cause']:
        if meta.get('annotations'):
            operations.append({'op': 'add', 'path': '/metadata/annotations/' + CHANGE_CAUSE_ANNOTATION.replace('~', '~0').replace('/', '~1'),
                               'value': target['change_cause']})
        else:
            operations.append({'op': 'add', 'path': '/metadata/annotations', 'value': {CHANGE_CAUSE_ANNOTATION: target['change_cause']}})
    return operations


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(
        kind=dict(type='str', default='Deployment', choices=['Deployment', 'StatefulSet', 'DaemonSet']),
        name=dict(type='str', required=True),
        to_revision=dict(type='int', default=0),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='raw', default='5m'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    kind, namespace, name = params['kind'], params['namespace'], params['name']
    what = '%s %s/%s' % (kind, namespace, name)
    check_mode = module.check_mode
    plan = Plan()
    diff = None

    with failing_on_error(module, what):
        if params['to_revision'] < 0:
            raise RunbookError('to_revision: %d is negative; give a revision number, or 0 for the previous revision' % params['to_revision'])
        wait_timeout = parse_duration(params['wait_timeout'], 'wait_timeout')
        kube = connect(module)
        workload = read_workload(kube, kind, namespace, name)
        revisions = owned_revisions(kube, kind, namespace, workload)
        numbers = [entry['revision'] for entry in revisions]
        if not revisions:
            raise RunbookError('%s has no revisions to roll back to' % what)
        current = current_revision(workload, revisions)
        # While the controller has not yet recorded the template as a revision (it has not seen it), there is no number.
        current_text = '%d' % current if current is not None else '(not yet recorded)'
        chosen = choose_revision(numbers, current, params['to_revision'], what)
        target = [entry for entry in revisions if entry['revision'] == chosen][0]
        template_before = revision_template((workload.get('spec') or {}).get('template'))
        images_before = images_of(template_before)
        data = dict(from_revision=current, to_revision=chosen, revisions=numbers, images_before=images_before,
                    images_after=target['images'], change_cause=target['change_cause'])
        if template_before != target['template']:
            if (workload.get('spec') or {}).get('paused'):
                raise RunbookError('%s is paused; resume it before rolling back (kubectl rollout resume)' % what)
            plan.add(what, 'rollback', 'revision %s -> %d' % (current_text, chosen),
                     from_revision=current, to_revision=chosen)
            diff = dict(before=dict(images=image_map(images_before), template=template_before),
                        after=dict(images=image_map(target['images']), template=target['template']),
                        before_header='%s revision %s' % (what, current_text), after_header='%s revision %d' % (what, chosen))

        def execute(entry):
            try:
                kube.patch(object_path(kind, namespace, name), rollback_patch(workload, target), patch_type='json')
            except KubeError as exc:
                if exc.status == 409 or (exc.status == 422 and 'resourceVersion' in str(exc)):
                    # The test operation failed: someone changed the workload since we read it.
                    raise RunbookError('%s changed while rolling back (resourceVersion %s is stale); nothing was patched, run again' % (
                        what, workload['metadata']['resourceVersion']))
                raise
            return True

        plan.carry_out(execute, check_mode)
        if plan.failed:
            error = plan.failed[0]['error']
            raise RunbookError(error if error.startswith(what) else '%s: rollback failed: %s' % (what, error))
        if plan.done and params['wait']:
            state = wait_for_rollout(kube, kind, namespace, name, wait_timeout)
        else:
            state = rollout_state(read_workload(kube, kind, namespace, name))
        resource_version = read_workload(kube, kind, namespace, name)['metadata']['resourceVersion'] if plan.done else workload['metadata']['resourceVersion']

    data.update(state=state, resource_version=resource_version)
    images = image_text(target['images'])
    if not plan:
        summary = '%s is already on revision %d (%s): nothing to roll back' % (what, chosen, images)
    elif check_mode:
        summary = 'would roll back %s from revision %s to %d (%s -> %s)' % (what, current_text, chosen, image_text(images_before), images)
    else:
        summary = 'rolled back %s from revision %s to %d (%s)' % (what, current_text, chosen, images)
        if params['wait']:
            summary += '; rollout %s' % ('complete in %s' % format_duration(state['waited']) if state['done'] else state['message'])
    result = plan.result(summary, check_mode, **data)
    if diff is not None:
        result['diff'] = diff
    if plan.done and params['wait'] and not state['done']:
        why = 'stalled' if state['stalled'] else 'not complete after %s' % format_duration(wait_timeout)
        result['msg'] = 'rolled back %s to revision %d, but the rollout is %s: %s' % (what, chosen, why, state['message'])
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
