#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_rollout_info
short_description: Rollout history and rollout status of a Deployment, StatefulSet or DaemonSet, graded
version_added: 0.1.0
description:
  - The runbooks' C(kubectl rollout history deployment/linkflow-api) and C(kubectl rollout status) in one task.
  - Lists each revision of the workload with its images, change-cause (annotation C(kubernetes.io/change-cause))
    and creation time, and says which revision is current.
  - Deployments keep their revisions as ReplicaSets, StatefulSets and DaemonSets as ControllerRevisions;
    only those whose controller is this workload are listed.
  - Reports the rollout's state (desired, updated, ready and available replicas, whether it is progressing,
    whether the controller has seen the latest generation) and grades it. A Deployment whose progress deadline
    was exceeded is stalled, which is critical.
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.k8s
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
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
seealso:
  - module: oncall.runbooks.k8s_rollback
    description: Roll back to the previous or to a given revision, and wait.
  - module: oncall.runbooks.k8s_pod_health
    description: Why the pods of a stalled rollout do not become ready.
'''

EXAMPLES = r'''
- name: What was deployed recently, and is the rollout done?
  oncall.runbooks.k8s_rollout_info:
    namespace: linkflow
    name: linkflow-api
  register: rollout

- name: Roll back when the latest rollout is stalled
  oncall.runbooks.k8s_rollback:
    namespace: linkflow
    name: linkflow-api
  when: rollout.state.stalled

- name: History of a StatefulSet
  oncall.runbooks.k8s_rollout_info:
    namespace: production
    kind: StatefulSet
    name: postgres
'''

RETURN = r'''
status:
  description: The worst finding.
  returned: always
  type: str
  sample: critical
findings:
  description:
    - Findings, worst first. C(rollout) is critical when stalled, warns while the rollout is in progress,
      while the controller has not seen the latest generation, or while paused. C(availability) warns when
      fewer replicas are available than desired and is critical when none is.
  returned: always
  type: list
  elements: dict
  sample: [{check: rollout, status: critical, message: "Deployment linkflow/linkflow-api stalled: ReplicaSet has timed out progressing"}]
kind:
  description: The workload's kind.
  returned: always
  type: str
name:
  description: The workload's name.
  returned: always
  type: str
namespace:
  description: The workload's namespace.
  returned: always
  type: str
current_revision:
  description: The revision whose pod template the workload has now; null while no revision holds it yet.
  returned: always
  type: int
  sample: 5
images:
  description: The images of the workload's pod template now.
  returned: always
  type: list
  elements: dict
  sample: [{container: api, image: "registry.example.com/linkflow-api:2.4.1"}]
revisions:
  description: Each revision, lowest first.
  returned: always
  type: list
  elements: dict
  contains:
    revision:
      description: The revision number (revisions rolled back to are renumbered, so there may be gaps).
      type: int
    name:
      description: The ReplicaSet or ControllerRevision that holds it.
      type: str
    images:
      description: The images of its pod template, one per container.
      type: list
      elements: dict
    change_cause:
      description: Its C(kubernetes.io/change-cause) annotation, or null.
      type: str
    created:
      description: When it was created (RFC 3339).
      type: str
    current:
      description: Whether it is the current revision.
      type: bool
state:
  description: The rollout's state.
  returned: always
  type: dict
  contains:
    kind:
      description: The workload's kind.
      type: str
    generation:
      description: The workload's C(metadata.generation), which each change of its spec increases.
      type: int
    observed_generation:
      description: The generation the controller has seen (C(status.observedGeneration)).
      type: int
    desired:
      description: Replicas (or, for a DaemonSet, nodes) wanted.
      type: int
    current:
      description: Replicas (or scheduled pods) that exist, old and new.
      type: int
    updated:
      description: Replicas running the latest template.
      type: int
    ready:
      description: Ready replicas.
      type: int
    available:
      description: Available replicas.
      type: int
    observed:
      description: Whether the controller has seen the latest generation (the counts are about it).
      type: bool
    progressing:
      description: Whether the rollout is under way (seen, not done, not stalled).
      type: bool
    stalled:
      description: Whether the progress deadline was exceeded (Deployments).
      type: bool
    paused:
      description: Whether the Deployment is paused.
      type: bool
    done:
      description: Whether the rollout is complete.
      type: bool
    message:
      description: Where the rollout stands, in words.
      type: str
      sample: 2 of 4 updated
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    connect,
    current_revision,
    images_of,
    k8s_argument_spec,
    owned_revisions,
    read_workload,
    rollout_state,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    diagnostic_result,
    failing_on_error,
    finding,
)


def grade(what, state):
    """The findings of a rollout's state."""
    findings = []
    if state['stalled']:
        findings.append(finding('rollout', 'critical', '%s %s' % (what, state['message'])))
    elif state['paused']:
        findings.append(finding('rollout', 'warn', '%s is paused: %s' % (what, state['message'])))
    elif not state['done']:
        findings.append(finding('rollout', 'warn', '%s rollout in progress: %s' % (what, state['message'])))
    else:
        findings.append(finding('rollout', 'ok', '%s rollout %s' % (what, state['message'])))
    desired, available = state['desired'], state['available']
    if state['observed'] and desired and available < desired:
        findings.append(finding('availability', 'critical' if not available else 'warn',
                                '%s has %d of %d replicas available' % (what, available, desired), available, desired))
    else:
        findings.append(finding('availability', 'ok', '%s has %d of %d replicas available' % (what, available, desired), available, desired))
    return findings


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(
        kind=dict(type='str', default='Deployment', choices=['Deployment', 'StatefulSet', 'DaemonSet']),
        name=dict(type='str', required=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    kind, namespace, name = params['kind'], params['namespace'], params['name']
    what = '%s %s/%s' % (kind, namespace, name)

    with failing_on_error(module, what):
        kube = connect(module)
        workload = read_workload(kube, kind, namespace, name)
        revisions = owned_revisions(kube, kind, namespace, workload)
    current = current_revision(workload, revisions)
    state = rollout_state(workload)
    listed = [dict(revision=entry['revision'], name=entry['name'], images=entry['images'], change_cause=entry['change_cause'],
                   created=entry['created'], current=entry['revision'] == current) for entry in revisions]
    module.exit_json(**diagnostic_result(grade(what, state), kind=kind, name=name, namespace=namespace, current_revision=current,
                                         images=images_of((workload.get('spec') or {}).get('template')), revisions=listed, state=state))


if __name__ == '__main__':
    main()
