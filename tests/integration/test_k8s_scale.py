# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_scale through ansible-playbook, against the Kubernetes emulator (or KUBECONFIG's cluster)."""

from __future__ import annotations

import pytest

from kube_rollout_helpers import check_connection_failures


def replicas(k8s, kind='Deployment', name='api'):
    return k8s.read(kind, name)['spec']['replicas']


def ready_pods(k8s, name='api'):
    return [pod for pod in k8s.pods(selector='app=%s' % name) if not pod['metadata'].get('deletionTimestamp')
            and any(c['type'] == 'Ready' and c['status'] == 'True' for c in (pod.get('status') or {}).get('conditions') or [])]


def test_scale_to_replicas_waits_until_ready_then_nothing_to_do(k8s, run_k8s):
    k8s.deployment('api', replicas=2)
    result = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', replicas=4, wait_timeout='60s'))[0]
    assert result.get('failed') is not True, result
    assert result['changed'] is True and (result['replicas_before'], result['replicas_after']) == (2, 4)
    assert result['clamped'] is None and result['actions'][0]['done'] is True
    assert result['state']['done'] and result['state']['ready'] == 4, result['state']
    assert result['summary'].startswith('scaled Deployment %s/api from 2 to 4 replicas; 4 of 4 ready in ' % k8s.namespace), result['summary']
    assert replicas(k8s) == 4 and len(ready_pods(k8s)) == 4

    before = k8s.resource_version('Deployment', 'api')
    again = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', replicas=4))[0]
    assert again.get('failed') is not True, again
    assert again['changed'] is False and again['actions'] == []
    assert again['summary'] == 'Deployment %s/api already has 4 replicas: nothing to scale' % k8s.namespace
    assert k8s.resource_version('Deployment', 'api') == before


def test_delta_clamped_to_the_bounds_says_so(k8s, run_k8s):
    k8s.deployment('api', replicas=3)
    up = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', delta=5, max_replicas=5, wait_timeout='60s'))[0]
    assert up.get('failed') is not True, up
    assert (up['replicas_before'], up['replicas_after'], up['clamped']) == (3, 5, 'max_replicas')
    assert '(delta +5 clamped to max_replicas 5)' in up['summary'], up['summary']
    assert replicas(k8s) == 5
    down = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', delta=-4, min_replicas=2, wait_timeout='60s'))[0]
    assert down.get('failed') is not True, down
    assert (down['replicas_before'], down['replicas_after'], down['clamped']) == (5, 2, 'min_replicas')
    assert '(delta -4 clamped to min_replicas 2)' in down['summary']
    assert down['state']['done'] and down['state']['current'] == 2
    assert replicas(k8s) == 2
    # Already at the bound: clamped, and nothing to do.
    same = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', delta=-1, min_replicas=2))[0]
    assert same['changed'] is False and same['clamped'] == 'min_replicas' and 'nothing to scale' in same['summary']


def test_check_mode_and_diff(k8s, run_k8s):
    k8s.deployment('api', replicas=2)
    before = k8s.versions()
    result, run = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', delta=1), check=True, diff=True, verbosity=3)
    assert result.get('failed') is not True, result
    assert k8s.versions() == before, 'check mode scaled'
    assert result['changed'] is True and result['actions'][0]['done'] is False
    assert result['summary'] == 'would scale Deployment %s/api from 2 to 3 replicas' % k8s.namespace
    assert result['diff']['before'] == {'replicas': 2} and result['diff']['after'] == {'replicas': 3}
    assert '"replicas": 3' in run.stdout or 'replicas: 3' in run.stdout or '+    "replicas": 3' in run.stdout, run.stdout[-3000:]


def test_statefulset_scales_through_the_scale_subresource(k8s, run_k8s):
    k8s.stateful_set('db', replicas=1)
    result = run_k8s('k8s_scale', dict(namespace=k8s.namespace, kind='StatefulSet', name='db', replicas=3, wait_timeout='60s'))[0]
    assert result.get('failed') is not True, result
    assert (result['replicas_before'], result['replicas_after']) == (1, 3) and result['state']['ready'] == 3
    assert replicas(k8s, 'StatefulSet', 'db') == 3
    assert sorted(pod['metadata']['name'] for pod in ready_pods(k8s, 'db')) == ['db-0', 'db-1', 'db-2']


def test_wait_fails_when_the_replicas_never_become_ready(k8s, run_k8s):
    k8s.require_emulator('only the emulator crash-loops images marked broken')
    k8s.deployment('api', image='registry.local/api:broken', replicas=1, wait=False)
    result = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', replicas=2, wait_timeout='3s'))[0]
    assert result['failed'] is True and result['replicas_after'] == 2
    assert result['msg'].startswith('Deployment %s/api: 2 replicas wanted, but the rollout is not complete after 3s: ' % k8s.namespace), result['msg']
    assert replicas(k8s) == 2, 'the scaling itself is done'


def test_delta_is_guarded_by_the_resource_version_and_retried_once_on_conflict(k8s, run_k8s):
    emulator = k8s.require_emulator('it answers 409 on demand')
    k8s.deployment('api', replicas=2)
    emulator.fail('PATCH', r'/deployments/api/scale', 409)
    result = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', delta=1))[0]
    emulator.clear_faults()
    assert result['failed'] is True and '409' in result['msg'] and '\n' not in result['msg'], result['msg']
    patches = [path for method, path in list(emulator.requests) if method == 'PATCH' and '/deployments/api/scale' in path]
    assert len(patches) == 2, 'one retry after the conflict, not more'
    assert replicas(k8s) == 2


@pytest.mark.parametrize('options, message', [
    (dict(replicas=-1), 'replicas: -1 is negative; replicas are 0 or more'),
    (dict(replicas=3, delta=1), 'replicas and delta: give exactly one of them'),
    (dict(), 'replicas and delta: give exactly one of them'),
    (dict(delta=1, min_replicas=5, max_replicas=2), 'min_replicas (5) must not be greater than max_replicas (2)'),
    (dict(replicas=1, wait_timeout='soon'), "wait_timeout: 'soon' is not a duration"),
])
def test_bad_input_fails_before_anything(k8s, run_k8s, options, message):
    k8s.deployment('api', replicas=2)
    before = k8s.versions()
    result = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='api', **options))[0]
    assert result['failed'] is True and result['msg'].startswith(message), result['msg']
    assert k8s.versions() == before


def test_missing_workload_and_kind(k8s, run_k8s):
    missing = run_k8s('k8s_scale', dict(namespace=k8s.namespace, name='nope', replicas=1))[0]
    assert missing['failed'] is True and missing['msg'] == 'Deployment %s/nope not found' % k8s.namespace
    daemon = run_k8s('k8s_scale', dict(namespace=k8s.namespace, kind='DaemonSet', name='agent', replicas=1))[0]
    assert daemon['failed'] is True and 'kind' in daemon['msg'] and 'Deployment, StatefulSet' in daemon['msg']


def test_connection_failures(k8s, run_k8s, closed_port, silent_server):
    k8s.deployment('api', replicas=1)
    check_connection_failures(k8s, run_k8s, 'k8s_scale', dict(namespace=k8s.namespace, name='api', replicas=2), closed_port, silent_server)
