#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_pod_restart
short_description: Delete broken pods so their controller replaces them, or restart a workload like kubectl rollout restart
version_added: 0.1.0
description:
  - With O(mode=delete_unhealthy), the runbooks' C(kubectl delete pod) for the pods that are broken in one of
    the O(reasons) (crash-looping, OOM-killed, not ready for longer than O(not_ready_after), unable to pull
    their image...), so that their Deployment, StatefulSet or DaemonSet creates fresh ones.
  - Only pods that a controller owns are deleted, because a bare pod would not come back, unless
    O(include_unowned=true). At most O(max_pods) pods are deleted in one run. Each pod is read again just
    before it is deleted and spared if it is healthy by then; the delete carries the pod's UID as a
    precondition, so a replacement with the same name (a StatefulSet's) is never deleted by mistake.
  - With O(wait=true), waits until every owner has a ready replacement for each deleted pod.
  - When none of the planned pods could be deleted (the API refused, for example for lack of RBAC), the task fails
    with the actions and their errors; pods that were healthy again or gone are not errors.
  - With O(mode=rollout_restart), restarts the Deployment, StatefulSet or DaemonSet O(kind) O(name) exactly like
    C(kubectl rollout restart) (it sets the pod template annotation C(kubectl.kubernetes.io/restartedAt)), and with
    O(wait=true) waits for the rollout to finish.
  - Check mode returns the same RV(actions) as the real run, with C(done=false), and changes nothing.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.k8s
attributes:
  check_mode:
    support: full
    description: Plans exactly what the real run would do, and changes nothing.
  diff_mode:
    support: full
    description: Shows the deleted pods, or the restart annotation of the pod template before and after.
options:
  mode:
    description:
      - V(delete_unhealthy) deletes the broken pods that O(label_selectors) and O(field_selectors) select.
      - V(rollout_restart) restarts the workload O(kind) O(name).
    type: str
    required: true
    choices: [delete_unhealthy, rollout_restart]
  label_selectors:
    description:
      - With O(mode=delete_unhealthy), label selectors the pods must match, all of them (for example C(app=linkflow-api)).
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - With O(mode=delete_unhealthy), field selectors the pods must match, all of them.
    type: list
    elements: str
    default: []
  reasons:
    description:
      - With O(mode=delete_unhealthy), what makes a pod worth deleting. V(crash_loop) a container in
        C(CrashLoopBackOff); V(oom_killed) a container whose last run ended with C(OOMKilled); V(not_ready) running but
        not ready for O(not_ready_after); V(image_pull) C(ErrImagePull), C(ImagePullBackOff) and the like (a new pod
        only helps when the registry or the pull secret was fixed); V(config_error) C(CreateContainerConfigError) and
        the like; V(failed) phase C(Failed), for example evicted; V(pending) not scheduled or started.
    type: list
    elements: str
    choices: [crash_loop, oom_killed, not_ready, image_pull, config_error, failed, pending]
    default: [crash_loop, oom_killed, not_ready]
  not_ready_after:
    description:
      - How long a running pod must have been unready to count as V(not_ready), as a duration (C(5m)).
    type: str
    default: 5m
  include_unowned:
    description:
      - Delete pods that no controller owns too. Such a pod is gone for good once deleted.
    type: bool
    default: false
  max_pods:
    description:
      - Delete at most this many pods in one run (the first by the order of O(reasons), then by name); the others are
        counted in RV(left_out) and named in RV(summary).
    type: int
    default: 5
  kind:
    description:
      - With O(mode=rollout_restart), the kind of the workload.
    type: str
    choices: [Deployment, StatefulSet, DaemonSet]
  name:
    description:
      - With O(mode=rollout_restart), the name of the workload.
    type: str
  skip_if_restarted_within:
    description:
      - With O(mode=rollout_restart), do nothing (C(changed=false)) when the workload was restarted this way less than
        this duration ago (C(10m)), so that rerunning a runbook does not restart it again.
    type: str
  wait:
    description:
      - Wait until the deleted pods have ready replacements, or until the restarted rollout is complete.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, as a duration (C(5m)) or seconds. When it runs out the task fails, with the actions and the state reached.
    type: raw
    default: 5m
seealso:
  - module: oncall.runbooks.k8s_pod_health
    description: See which pods are broken, and why, before deleting them.
'''

EXAMPLES = r'''
- name: Replace the crash-looping and OOM-killed API pods, at most 3
  oncall.runbooks.k8s_pod_restart:
    namespace: linkflow
    mode: delete_unhealthy
    label_selectors:
      - app=linkflow-api
    reasons: [crash_loop, oom_killed]
    max_pods: 3
    wait_timeout: 5m

- name: Restart Kong like kubectl rollout restart, unless this runbook did it in the last 10 minutes
  oncall.runbooks.k8s_pod_restart:
    namespace: production
    mode: rollout_restart
    kind: Deployment
    name: kong
    skip_if_restarted_within: 10m
'''

RETURN = r'''
actions:
  description:
    - One entry per pod to delete (or the workload to restart), in check mode too, with C(target), C(action)
      (C(delete) or C(rollout_restart)), C(reason), C(done), and C(pod), C(uid), C(owner), C(problems) for pods;
      C(note) when a pod was spared (healthy again, or gone), C(error) when the request failed.
  returned: always
  type: list
  elements: dict
  sample:
    - target: "pod linkflow/linkflow-api-7d9-x2x (ReplicaSet linkflow-api-7d9)"
      action: delete
      reason: "crash_loop: api is in CrashLoopBackOff (12 restarts)"
      done: true
summary:
  description: One line for humans and the timeline.
  returned: always
  type: str
  sample: "deleted 2 of 2 unhealthy pods; 2 ready replacements within 14s"
candidates:
  description: Number of targets before the O(max_pods) cap.
  returned: always
  type: int
left_out:
  description: Number of targets the O(max_pods) cap left out.
  returned: always
  type: int
unowned:
  description:
    - With O(mode=delete_unhealthy), unhealthy pods left alone because no controller owns them and O(include_unowned=false)
      (C(pod), C(reason)).
  returned: when O(mode=delete_unhealthy)
  type: list
  elements: dict
wait:
  description:
    - With O(wait=true) and something done, C(done), C(seconds), and C(replacements) (per owner, ready replacements
      over those needed) or C(rollout) (the final rollout state).
  returned: when something was waited for
  type: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    KubeError,
    connect,
    controller_ref,
    join_selectors,
    k8s_argument_spec,
    object_path,
    pod_problems,
    pod_view,
    wait_for_rollout,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    Plan,
    RunbookError,
    check_cap,
    failing_on_error,
    format_duration,
    parse_duration,
    plan_summary,
    seconds_since,
)

RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
POLL_SECONDS = 1.0


def broken(pod, reasons, not_ready_after):
    """{problem: reason} of a raw pod, limited to the reasons asked for."""
    problems = pod_problems(pod_view(pod), restarts_threshold=0, not_ready_after=not_ready_after)
    return dict((problem, problems[problem]) for problem in reasons if problem in problems)


def plan_deletes(kube, params, not_ready_after):
    namespace = params['namespace']
    label_selector = join_selectors(params['label_selectors'], 'label_selectors')
    field_selector = join_selectors(params['field_selectors'], 'field_selectors', field=True)
    pods = kube.items(object_path('Pod', namespace), label_selector=label_selector, field_selector=field_selector)
    order = dict((reason, index) for index, reason in enumerate(params['reasons']))
    candidates, skipped = [], []
    for pod in pods:
        metadata = pod['metadata']
        if metadata.get('deletionTimestamp'):
            continue
        problems = broken(pod, params['reasons'], not_ready_after)
        if not problems:
            continue
        owner = controller_ref(pod)
        first = min(problems, key=lambda problem: order[problem])
        reason = '%s: %s' % (first, problems[first])
        if owner is None and not params['include_unowned']:
            skipped.append(dict(pod=metadata['name'], reason=reason + '; no controller owns it, so it would not come back'))
            continue
        candidates.append((order[first], metadata['name'], pod, owner, reason, problems))
    plan = Plan(params['max_pods'])
    for rank, name, pod, owner, reason, problems in sorted(candidates, key=lambda item: item[:2]):
        plan.add('pod %s/%s (%s)' % (namespace, name, '%s %s' % (owner['kind'], owner['name']) if owner else 'no controller'),
                 'delete', reason, pod=name, uid=pod['metadata']['uid'],
                 owner=dict(kind=owner['kind'], name=owner['name'], uid=owner.get('uid')) if owner else None,
                 problems=sorted(problems))
    return plan.cap(), skipped, pods


def delete_pod(kube, params, not_ready_after, entry):
    """Re-read the pod, spare it if it is healthy (or replaced) by now, else delete it with its UID as precondition."""
    path = object_path('Pod', params['namespace'], entry['pod'])
    try:
        pod = kube.get(path)
    except KubeError as exc:
        if exc.status == 404:
            entry['note'] = 'gone before it was deleted'
            return False
        raise
    if pod['metadata'].get('uid') != entry['uid']:
        entry['note'] = 'already replaced by a new pod of the same name'
        return False
    if pod['metadata'].get('deletionTimestamp'):
        entry['note'] = 'already being deleted'
        return False
    if not broken(pod, params['reasons'], not_ready_after):
        entry['note'] = 'healthy again when re-read; spared'
        return False
    try:
        kube.delete(path, body=dict(kind='DeleteOptions', apiVersion='v1', preconditions=dict(uid=entry['uid'])))
    except KubeError as exc:
        if exc.status in (404, 409):
            entry['note'] = 'gone or replaced before it was deleted'
            return False
        raise
    return True


def wait_for_replacements(kube, params, plan, original_uids, timeout, label_selector):
    """Poll until each owner has as many new ready pods as were deleted from it."""
    needed = {}
    for entry in plan.done:
        if entry['owner']:
            key = entry['owner']['uid'] or (entry['owner']['kind'], entry['owner']['name'])
            needed.setdefault(key, dict(owner='%s %s' % (entry['owner']['kind'], entry['owner']['name']), needed=0, ready=0))
            needed[key]['needed'] += 1
    deleted = set(entry['uid'] for entry in plan.done)
    started = time.time()
    while True:
        pods = kube.items(object_path('Pod', params['namespace']), label_selector=label_selector)
        for state in needed.values():
            state['ready'] = 0
        still_there = 0
        for pod in pods:
            uid = pod['metadata'].get('uid')
            if uid in deleted:
                still_there += 1
                continue
            owner = controller_ref(pod)
            if owner is None or uid in original_uids or pod['metadata'].get('deletionTimestamp'):
                continue
            key = owner.get('uid') or (owner['kind'], owner['name'])
            # A Deployment's replacement may come from the same ReplicaSet; match by owner name as well.
            state = needed.get(key) or needed.get((owner['kind'], owner['name']))
            if state is not None and pod_view(pod)['is_ready']:
                state['ready'] += 1
        elapsed = time.time() - started
        done = not still_there and all(state['ready'] >= state['needed'] for state in needed.values())
        if done or elapsed >= timeout:
            return dict(done=done, seconds=round(elapsed, 1), deleted_still_present=still_there,
                        replacements=sorted(needed.values(), key=lambda state: state['owner']))
        time.sleep(min(POLL_SECONDS, max(timeout - elapsed, 0.1)))


def delete_unhealthy(module, kube, params, timeout):
    not_ready_after = parse_duration(params['not_ready_after'], 'not_ready_after')
    label_selector = join_selectors(params['label_selectors'], 'label_selectors')
    plan, skipped, pods = plan_deletes(kube, params, not_ready_after)
    original_uids = set(pod['metadata']['uid'] for pod in pods)
    plan.carry_out(lambda entry: delete_pod(kube, params, not_ready_after, entry), module.check_mode)
    summary = plan_summary(plan, ('delete', 'deleted'), 'unhealthy pods', module.check_mode, 'max_pods')
    if skipped:
        summary += '; %d without a controller left alone' % len(skipped)
    data = dict(unowned=skipped)
    if plan.failed and not plan.done:
        # Nothing could be deleted (RBAC, a dying API server): the runbook must not carry on as if it had been.
        module.fail_json(msg=summary, **plan.result(summary, module.check_mode, **data))
    if module._diff:
        data['diff'] = dict(before=dict(pods=sorted(entry['pod'] for entry in plan.actions)),
                            after=dict(pods=[] if module.check_mode else sorted(entry['pod'] for entry in plan.actions if not entry['done'])))
    if params['wait'] and not module.check_mode and any(entry['owner'] for entry in plan.done):
        data['wait'] = wait_for_replacements(kube, params, plan, original_uids, timeout, label_selector)
        ready = sum(min(state['ready'], state['needed']) for state in data['wait']['replacements'])
        needed = sum(state['needed'] for state in data['wait']['replacements'])
        if data['wait']['done']:
            summary += '; %d ready replacement%s within %s' % (ready, '' if ready == 1 else 's', format_duration(data['wait']['seconds']))
        else:
            summary += '; only %d of %d replacements ready after %s' % (ready, needed, format_duration(timeout))
            module.fail_json(msg=summary, **plan.result(summary, module.check_mode, **data))
    return plan.result(summary, module.check_mode, **data)


def rollout_restart(module, kube, params, timeout):
    kind, name, namespace = params['kind'], params['name'], params['namespace']
    path = object_path(kind, namespace, name)
    try:
        workload = kube.get(path)
    except KubeError as exc:
        if exc.status == 404:
            raise RunbookError('%s %s/%s not found' % (kind, namespace, name))
        raise
    annotations = (((workload.get('spec') or {}).get('template') or {}).get('metadata') or {}).get('annotations') or {}
    before = annotations.get(RESTARTED_AT)
    plan = Plan(1)
    target = '%s %s/%s' % (kind, namespace, name)
    window = parse_duration(params['skip_if_restarted_within'], 'skip_if_restarted_within') if params['skip_if_restarted_within'] else None
    age = seconds_since(before) if before else None
    if window is not None and age is not None and age < window:
        summary = '%s was restarted %s ago (%s), within skip_if_restarted_within; nothing to do' % (target, format_duration(age), before)
        return plan.result(summary, module.check_mode, restarted_at=before)
    plan.add(target, 'rollout_restart', 'restart requested (last restart: %s)' % (before or 'never'))
    restarted_at = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())

    def restart(entry):
        kube.patch(path, {'spec': {'template': {'metadata': {'annotations': {RESTARTED_AT: restarted_at}}}}}, patch_type='strategic')
        entry['restarted_at'] = restarted_at
        return True

    plan.carry_out(restart, module.check_mode)
    summary = ('would restart %s' if module.check_mode else 'restarted %s') % target
    if plan.failed:
        summary = 'failed to restart %s: %s' % (target, plan.failed[0]['error'])
    data = dict(restarted_at=restarted_at if plan.done else before)
    if module._diff:
        data['diff'] = dict(before={'spec.template.metadata.annotations': {RESTARTED_AT: before}},
                            after={'spec.template.metadata.annotations': {RESTARTED_AT: restarted_at}})
    if params['wait'] and plan.done:
        started = time.time()
        state = wait_for_rollout(kube, kind, namespace, name, timeout)
        data['wait'] = dict(done=bool(state.get('done')), seconds=round(time.time() - started, 1), rollout=state)
        if state.get('done'):
            summary += '; rollout complete within %s' % format_duration(data['wait']['seconds'])
        else:
            summary += '; rollout not complete after %s: %s' % (format_duration(data['wait']['seconds']), state.get('message'))
            module.fail_json(msg=summary, **plan.result(summary, module.check_mode, **data))
    if plan.failed:
        module.fail_json(msg=summary, **plan.result(summary, module.check_mode, **data))
    return plan.result(summary, module.check_mode, **data)


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(
        mode=dict(type='str', required=True, choices=['delete_unhealthy', 'rollout_restart']),
        label_selectors=dict(type='list', elements='str', default=[]),
        field_selectors=dict(type='list', elements='str', default=[]),
        reasons=dict(type='list', elements='str', default=['crash_loop', 'oom_killed', 'not_ready'],
                     choices=['crash_loop', 'oom_killed', 'not_ready', 'image_pull', 'config_error', 'failed', 'pending']),
        not_ready_after=dict(type='str', default='5m'),
        include_unowned=dict(type='bool', default=False),
        max_pods=dict(type='int', default=5),
        kind=dict(type='str', choices=['Deployment', 'StatefulSet', 'DaemonSet']),
        name=dict(type='str'),
        skip_if_restarted_within=dict(type='str'),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='raw', default='5m'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('mode', 'rollout_restart', ('kind', 'name'))])
    params = module.params

    with failing_on_error(module, 'Kubernetes API'):
        timeout = parse_duration(params['wait_timeout'], 'wait_timeout')
        if params['mode'] == 'delete_unhealthy':
            check_cap(params['max_pods'], 'max_pods')
            if not params['reasons']:
                raise RunbookError('reasons must name at least one reason to delete a pod for')
            if not params['label_selectors'] and not params['field_selectors']:
                raise RunbookError('label_selectors: give a selector; delete_unhealthy does not act on a whole namespace by accident')
            join_selectors(params['label_selectors'], 'label_selectors')
            join_selectors(params['field_selectors'], 'field_selectors', field=True)
            parse_duration(params['not_ready_after'], 'not_ready_after')
        else:
            for option in ('label_selectors', 'field_selectors'):
                if params[option]:
                    raise RunbookError('%s applies to mode delete_unhealthy only; rollout_restart acts on kind and name' % option)
            if params['skip_if_restarted_within']:
                parse_duration(params['skip_if_restarted_within'], 'skip_if_restarted_within')
        kube = connect(module)
        if params['mode'] == 'delete_unhealthy':
            result = delete_unhealthy(module, kube, params, timeout)
        else:
            result = rollout_restart(module, kube, params, timeout)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
