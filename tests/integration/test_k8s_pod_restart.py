# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_pod_restart against the Kubernetes API emulator (or the cluster of KUBECONFIG), through ansible-playbook.

The connection failures are in test_k8s_pod_health.py, for every module of the set.
"""

from __future__ import annotations

import pytest

RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'


def pods_of(k8s, selector):
    return k8s.core.list_namespaced_pod(k8s.namespace, label_selector=selector).items


def ready(pod):
    return not pod.metadata.deletion_timestamp and any(c.type == 'Ready' and c.status == 'True' for c in (pod.status.conditions or []))


def running_deployment(k8s, name, replicas):
    k8s.deployment(name, image='registry.local/%s:1.0' % name, replicas=replicas, labels={'app': name})
    k8s.wait_until(lambda: sum(1 for pod in pods_of(k8s, 'app=' + name) if ready(pod)) == replicas, 60, '%d ready pods' % replicas)
    return sorted(pod.metadata.name for pod in pods_of(k8s, 'app=' + name))


def state(k8s, selector):
    """Pod name -> (uid, resourceVersion)."""
    return dict((pod.metadata.name, (pod.metadata.uid, pod.metadata.resource_version)) for pod in pods_of(k8s, selector))


def test_delete_unhealthy_deletes_only_broken_owned_pods_and_waits(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'api', 4)
    k8s.emulator.break_pod(k8s.namespace, pods[0], 'crashloop')
    k8s.emulator.break_pod(k8s.namespace, pods[1], 'oom')
    [bare] = k8s.emulator.add_pods(k8s.namespace, 1, labels={'app': 'api'}, prefix='bare')
    k8s.emulator.break_pod(k8s.namespace, bare, 'crashloop')
    before = state(k8s, 'app=api')
    args = dict(namespace=k8s.namespace, mode='delete_unhealthy', label_selectors=['app=api'], wait_timeout='60s')

    planned, run = run_k8s('k8s_pod_restart', args, check=True)
    assert planned.get('failed') is not True, run.stdout
    assert state(k8s, 'app=api') == before  # check mode: the same pods, the same resourceVersions
    assert planned['changed'] is True
    assert [(entry['pod'], entry['action'], entry['done']) for entry in planned['actions']] == [
        (pods[0], 'delete', False), (pods[1], 'delete', False)]
    assert planned['actions'][0]['reason'].startswith('crash_loop: ')
    assert planned['actions'][1]['reason'].startswith('oom_killed: ')
    assert [entry['pod'] for entry in planned['unowned']] == [bare]
    assert planned['summary'] == 'would delete 2 of 2 unhealthy pods; 1 without a controller left alone'

    result = run_k8s('k8s_pod_restart', args)[0]
    assert result['changed'] is True
    assert [(entry['pod'], entry['done']) for entry in result['actions']] == [(pods[0], True), (pods[1], True)]
    for entry, plan in zip(result['actions'], planned['actions']):
        assert dict(entry, done=False) == plan
    assert result['wait']['done'] is True
    assert result['wait']['replacements'][0]['ready'] >= 2 and result['wait']['replacements'][0]['needed'] == 2
    assert result['summary'].startswith('deleted 2 of 2 unhealthy pods; 1 without a controller left alone; 2 ready replacements within ')
    after = state(k8s, 'app=api')
    assert pods[0] not in after and pods[1] not in after
    assert after[pods[2]] == before[pods[2]] and after[pods[3]] == before[pods[3]] and after[bare] == before[bare]
    assert sum(1 for pod in pods_of(k8s, 'app=api') if ready(pod)) == 4

    again = run_k8s('k8s_pod_restart', args)[0]
    assert again['changed'] is False and again['actions'] == []
    assert again['summary'] == 'deleted 0 of 0 unhealthy pods; 1 without a controller left alone'


def test_include_unowned_and_reasons(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'mixed', 2)
    k8s.emulator.break_pod(k8s.namespace, pods[0], 'image_pull')
    k8s.emulator.break_pod(k8s.namespace, pods[1], 'unready')
    [bare] = k8s.emulator.add_pods(k8s.namespace, 1, labels={'app': 'mixed'}, prefix='bare')
    k8s.emulator.break_pod(k8s.namespace, bare, 'crashloop')
    args = dict(namespace=k8s.namespace, mode='delete_unhealthy', label_selectors=['app=mixed'])

    default = run_k8s('k8s_pod_restart', args, check=True)[0]
    # not_ready only after 5m, image_pull not asked for: nothing but the bare pod, which is spared.
    assert default['actions'] == [] and default['changed'] is False and len(default['unowned']) == 1

    chosen = run_k8s('k8s_pod_restart', dict(args, reasons=['image_pull', 'not_ready'], not_ready_after='0s',
                                             include_unowned=True), check=True)[0]
    assert [(entry['pod'], entry['problems']) for entry in chosen['actions']] == [
        (pods[0], ['image_pull']), (pods[1], ['not_ready'])]
    everything = run_k8s('k8s_pod_restart', dict(args, reasons=['crash_loop'], include_unowned=True, wait=False))[0]
    assert [(entry['pod'], entry['done']) for entry in everything['actions']] == [(bare, True)]
    assert everything['actions'][0]['target'] == 'pod %s/%s (no controller)' % (k8s.namespace, bare)
    k8s.wait_until(lambda: bare not in state(k8s, 'app=mixed'), 30, 'the bare pod gone')


def test_cap_limits_deletions(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'capped', 3)
    for pod in pods:
        k8s.emulator.break_pod(k8s.namespace, pod, 'crashloop')
    result = run_k8s('k8s_pod_restart', dict(namespace=k8s.namespace, mode='delete_unhealthy', label_selectors=['app=capped'],
                                             max_pods=1, wait_timeout=60))[0]
    assert [entry['pod'] for entry in result['actions']] == pods[:1]
    assert result['candidates'] == 3 and result['left_out'] == 2
    assert result['summary'].startswith('deleted 1 of 3 unhealthy pods (max_pods 1 left 2 out)')
    remaining = state(k8s, 'app=capped')
    assert pods[0] not in remaining and pods[1] in remaining and pods[2] in remaining


def test_rollout_restart_like_kubectl(k8s, run_k8s):
    pods = running_deployment(k8s, 'web', 2)
    version = k8s.resource_version('Deployment', 'web')
    args = dict(namespace=k8s.namespace, mode='rollout_restart', kind='Deployment', name='web', wait_timeout='90s')

    planned = run_k8s('k8s_pod_restart', args, check=True, diff=True)[0]
    assert planned['changed'] is True and k8s.resource_version('Deployment', 'web') == version
    assert [(entry['target'], entry['action'], entry['done']) for entry in planned['actions']] == [
        ('Deployment %s/web' % k8s.namespace, 'rollout_restart', False)]
    assert planned['summary'] == 'would restart Deployment %s/web' % k8s.namespace

    result, run = run_k8s('k8s_pod_restart', dict(args, skip_if_restarted_within='10m'), diff=True)
    assert result['changed'] is True and result['actions'][0]['done'] is True
    assert result['wait']['done'] is True and result['wait']['rollout']['done'] is True
    assert RESTARTED_AT in run.stdout and result['restarted_at'] in run.stdout  # the --diff output
    deployment = k8s.apps.read_namespaced_deployment('web', k8s.namespace)
    assert deployment.spec.template.metadata.annotations[RESTARTED_AT] == result['restarted_at']
    new = sorted(pod.metadata.name for pod in pods_of(k8s, 'app=web') if ready(pod))
    assert len(new) == 2 and not set(new) & set(pods)

    again = run_k8s('k8s_pod_restart', dict(args, skip_if_restarted_within='10m'))[0]
    assert again['changed'] is False and again['actions'] == [] and 'within skip_if_restarted_within' in again['summary']


@pytest.mark.parametrize('args, message', [
    (dict(mode='rollout_restart', kind='CronJob', name='x'), 'value of kind must be one of: Deployment, StatefulSet, DaemonSet'),
    (dict(mode='rollout_restart', kind='Deployment', name='missing'), 'Deployment {ns}/missing not found'),
    (dict(mode='rollout_restart', kind='Deployment'), 'mode is rollout_restart but all of the following are missing: name'),
    (dict(mode='delete_unhealthy', label_selectors=['app=x=y']), "label_selectors: 'app=x=y' is not a label selector"),
    (dict(mode='delete_unhealthy', label_selectors=['app=x'], max_pods=0), 'max_pods must be a whole number of at least 1, got 0'),
    (dict(mode='delete_unhealthy'), 'label_selectors: give a selector'),
    (dict(mode='delete_unhealthy', label_selectors=['app=x'], wait_timeout='later'), "wait_timeout: 'later' is not a duration"),
])
def test_bad_input_fails_in_one_line_before_anything(k8s, run_k8s, args, message):
    result = run_k8s('k8s_pod_restart', dict(args, namespace=k8s.namespace))[0]
    assert result['failed'] is True and message.format(ns=k8s.namespace) in result['msg'] and '\n' not in result['msg']
    assert 'actions' not in result or result['actions'] == []


def test_replacements_that_never_get_ready_fail_the_wait(k8s, run_k8s):
    k8s.require_emulator()
    k8s.deployment('doomed', image='registry.local/doomed:broken', replicas=2, labels={'app': 'doomed'}, wait=False)
    k8s.wait_until(lambda: len(pods_of(k8s, 'app=doomed')) == 2 and all(
        pod.status.container_statuses and pod.status.container_statuses[0].state.waiting for pod in pods_of(k8s, 'app=doomed')),
        60, 'two crash-looping pods')
    result = run_k8s('k8s_pod_restart', dict(namespace=k8s.namespace, mode='delete_unhealthy', label_selectors=['app=doomed'],
                                             wait_timeout='3s'))[0]
    assert result['failed'] is True and '\n' not in result['msg']
    assert result['msg'].startswith('deleted 2 of 2 unhealthy pods; only 0 of 2 replacements ready after 3s')
    assert [entry['done'] for entry in result['actions']] == [True, True]
    assert result['wait']['done'] is False


def test_stateful_set_pod_comes_back_under_the_same_name(k8s, run_k8s):
    k8s.require_emulator()
    k8s.stateful_set('db', replicas=2, labels={'app': 'db'})
    before = state(k8s, 'app=db')
    assert sorted(before) == ['db-0', 'db-1']
    k8s.emulator.break_pod(k8s.namespace, 'db-0', 'oom')
    result = run_k8s('k8s_pod_restart', dict(namespace=k8s.namespace, mode='delete_unhealthy', label_selectors=['app=db'],
                                             reasons=['oom_killed'], wait_timeout='60s'))[0]
    assert [(entry['target'], entry['done']) for entry in result['actions']] == [('pod %s/db-0 (StatefulSet db)' % k8s.namespace, True)]
    assert result['wait']['done'] is True
    after = state(k8s, 'app=db')
    assert sorted(after) == ['db-0', 'db-1'] and after['db-0'][0] != before['db-0'][0] and after['db-1'] == before['db-1']


def test_deletes_refused_by_the_api_fail_the_task(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'rbac', 2)
    k8s.emulator.break_pod(k8s.namespace, pods[0], 'crashloop')
    k8s.emulator.fail('DELETE', r'/pods/', 403)
    result = run_k8s('k8s_pod_restart', dict(namespace=k8s.namespace, mode='delete_unhealthy', label_selectors=['app=rbac']))[0]
    k8s.emulator.clear_faults()
    assert result['failed'] is True and '\n' not in result['msg']
    assert result['msg'].startswith('deleted 0 of 1 unhealthy pods; 1 failed: Kubernetes API at %s: 403 ' % k8s.server)
    assert result['actions'][0]['done'] is False and pods[0] in state(k8s, 'app=rbac')
