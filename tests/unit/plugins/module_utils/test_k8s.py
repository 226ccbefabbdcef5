# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    KubeError,
    condition,
    controller_ref,
    images_of,
    join_selectors,
    kind_name,
    object_path,
    parse_quantity,
    pod_problems,
    pod_status_text,
    pod_view,
    selector_string,
    _http_error,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError

NOW = 1795000000.0  # 2026-11-18T11:06:40Z, fixed so that ages are exact
CREATED = '2026-11-18T10:06:40Z'  # NOW - 3600


def pod(name='api-1', phase='Running', containers=None, ready=True, owner=True, ready_since=CREATED, init=None, deleting=False,
        scheduled=None, reason=None):
    containers = containers if containers is not None else [running('api')]
    metadata = dict(name=name, namespace='linkflow', uid='uid-' + name, resourceVersion='42', creationTimestamp=CREATED)
    if owner:
        metadata['ownerReferences'] = [dict(kind='ReplicaSet', name='api-7d9', uid='rs-uid', controller=True)]
    if deleting:
        metadata['deletionTimestamp'] = CREATED
    conditions = [dict(type='Ready', status='True' if ready else 'False', lastTransitionTime=ready_since)]
    if scheduled:
        conditions.append(dict(type='PodScheduled', status='False', reason='Unschedulable', message=scheduled))
    status = dict(phase=phase, podIP='10.0.0.7', conditions=conditions, containerStatuses=containers)
    if reason:
        status['reason'] = reason
    if init is not None:
        status['initContainerStatuses'] = init
    spec = dict(nodeName='node-1', containers=[dict(name=item['name'], image='app:1') for item in containers])
    if init is not None:
        spec['initContainers'] = [dict(name=item['name'], image='init:1') for item in init]
    return dict(metadata=metadata, spec=spec, status=status)


def running(name, ready=True, restarts=0, last=None):
    item = dict(name=name, ready=ready, restartCount=restarts, state=dict(running=dict(startedAt=CREATED)))
    if last:
        item['lastState'] = dict(terminated=dict(reason=last[0], exitCode=last[1], finishedAt=CREATED))
    return item


def waiting(name, reason, restarts=0, last=None):
    item = dict(name=name, ready=False, restartCount=restarts, state=dict(waiting=dict(reason=reason)))
    if last:
        item['lastState'] = dict(terminated=dict(reason=last[0], exitCode=last[1], finishedAt=CREATED))
    return item


def terminated(name, reason, code, restarts=0):
    return dict(name=name, ready=False, restartCount=restarts, state=dict(terminated=dict(reason=reason, exitCode=code)))


def test_healthy_pod_view():
    view = pod_view(pod(), now=NOW)
    assert view['status'] == 'Running'
    assert view['ready'] == '1/1' and view['is_ready']
    assert view['restarts'] == 0
    assert view['age_seconds'] == 3600 and view['age'] == '1h'
    assert view['owner'] == dict(kind='ReplicaSet', name='api-7d9')
    assert view['node'] == 'node-1'
    assert pod_problems(view) == {}


def test_crash_loop_with_oom_kill():
    raw = pod(ready=False, containers=[waiting('api', 'CrashLoopBackOff', restarts=7, last=('OOMKilled', 137)), running('sidecar')])
    view = pod_view(raw, now=NOW)
    assert view['status'] == 'CrashLoopBackOff'
    assert view['ready'] == '1/2'
    assert view['restarts'] == 7
    assert view['waiting_reason'] == 'CrashLoopBackOff'
    assert view['last_termination'] == dict(reason='OOMKilled', exit_code=137, finished_at=CREATED, container='api')
    problems = pod_problems(view, restarts_threshold=5)
    assert set(problems) == {'crash_loop', 'oom_killed', 'restarts'}
    assert 'not_ready' not in problems  # explained by the crash loop


def test_oom_killed_right_now_shows_like_kubectl():
    view = pod_view(pod(ready=False, containers=[terminated('api', 'OOMKilled', 137, restarts=1)]), now=NOW)
    assert view['status'] == 'OOMKilled'
    assert 'oom_killed' in pod_problems(view)


@pytest.mark.parametrize('reason, problem', [
    ('ImagePullBackOff', 'image_pull'), ('ErrImagePull', 'image_pull'), ('CreateContainerConfigError', 'config_error'),
])
def test_waiting_reasons(reason, problem):
    view = pod_view(pod(phase='Pending', ready=False, containers=[waiting('api', reason)]), now=NOW)
    assert view['status'] == reason
    assert set(pod_problems(view)) == {problem}


def test_not_ready_only_after_threshold():
    view = pod_view(pod(ready=False, containers=[running('api', ready=False)], ready_since='2026-11-18T11:05:40Z'), now=NOW)
    assert view['not_ready_seconds'] == 60
    assert 'not_ready' in pod_problems(view, not_ready_after=30)
    assert 'not_ready' not in pod_problems(view, not_ready_after=300)


def test_pending_unschedulable():
    view = pod_view(pod(phase='Pending', ready=False, containers=[], scheduled='0/3 nodes are available'), now=NOW)
    assert view['status'] == 'Pending'
    assert pod_problems(view) == {'pending': 'pending: Unschedulable 0/3 nodes are available'}


def test_init_containers_and_terminating_and_evicted():
    view = pod_view(pod(phase='Pending', ready=False, containers=[waiting('api', 'PodInitializing')],
                        init=[running('migrate', ready=False)]), now=NOW)
    assert view['status'] == 'Init:0/1'
    failed_init = pod(phase='Pending', ready=False, containers=[waiting('api', 'PodInitializing')],
                      init=[waiting('migrate', 'CrashLoopBackOff', restarts=3)])
    assert pod_status_text(failed_init) == 'Init:CrashLoopBackOff'
    assert 'crash_loop' in pod_problems(pod_view(failed_init, now=NOW))
    assert pod_status_text(pod(deleting=True)) == 'Terminating'
    assert pod_problems(pod_view(pod(deleting=True, ready=False, containers=[waiting('api', 'CrashLoopBackOff')]), now=NOW)) == {}
    evicted = pod_view(pod(phase='Failed', ready=False, containers=[], reason='Evicted'), now=NOW)
    assert evicted['status'] == 'Evicted'
    assert set(pod_problems(evicted)) == {'failed'}


def test_bare_pod_has_no_owner():
    assert pod_view(pod(owner=False), now=NOW)['owner'] is None
    assert controller_ref(pod(owner=False)) is None
    assert controller_ref(pod())['name'] == 'api-7d9'


def test_helpers():
    assert selector_string({'tier': 'edge', 'app': 'kong'}) == 'app=kong,tier=edge'
    assert condition(pod(), 'Ready')['status'] == 'True'
    assert condition(pod(), 'Missing') is None
    assert images_of(pod(init=[running('migrate')])) == [dict(container='migrate', image='init:1'), dict(container='api', image='app:1')]
    assert object_path('deployment', 'linkflow', 'api', 'scale') == '/apis/apps/v1/namespaces/linkflow/deployments/api/scale'
    assert object_path('Pod', 'linkflow') == '/api/v1/namespaces/linkflow/pods'
    assert kind_name('statefulset') == 'StatefulSet'
    with pytest.raises(RunbookError, match="kind: 'Cronjob' is not one of Deployment"):
        object_path('Cronjob', 'x')


@pytest.mark.parametrize('value, expected', [
    ('250m', 0.25), ('2', 2.0), ('12345678n', 0.012345678), ('128Mi', 128 * 1024 ** 2), ('1Gi', 1024 ** 3),
    ('1.5G', 1.5e9), ('100k', 1e5), (None, None), ('lots', None),
])
def test_parse_quantity(value, expected):
    result = parse_quantity(value)
    assert result == pytest.approx(expected) if expected is not None else result is None


def test_selectors():
    assert join_selectors(['app=kong', 'tier in (edge,api)', '!canary', 'env!=prod'], 'label_selectors') == \
        'app=kong,tier in (edge,api),!canary,env!=prod'
    assert join_selectors([], 'label_selectors') is None
    assert join_selectors(['status.phase!=Succeeded'], 'field_selectors', field=True) == 'status.phase!=Succeeded'
    for bad in (['app=kong=x'], ['app in kong'], ['=kong']):
        with pytest.raises(RunbookError, match='label_selectors: .* is not a label selector'):
            join_selectors(bad, 'label_selectors')


def test_http_errors_are_one_line():
    error = _http_error('https://k:6443', 'GET', '/api/v1/pods', 401, b'{"message": "Unauthorized"}')
    assert str(error) == 'Kubernetes API at https://k:6443: 401 Unauthorized (check the token or client certificate)'
    assert isinstance(error, KubeError) and error.status == 401
    error = _http_error('https://k:6443', 'GET', '/api/v1/pods', 403,
                        b'{"reason": "Forbidden", "message": "pods is forbidden: User \\"x\\" cannot list\\nresource"}')
    assert str(error) == 'Kubernetes API at https://k:6443: 403 Forbidden: pods is forbidden: User "x" cannot list; resource'
    error = _http_error('https://k:6443', 'GET', '/x', 404, b'{"reason": "NotFound", "message": "deployments.apps \\"x\\" not found"}')
    assert error.status == 404 and '404 NotFound' in str(error)


def kubeconfig(server='https://10.0.0.1:6443', token='from-kubeconfig'):
    return {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'a',
            'clusters': [{'name': 'a', 'cluster': {'server': server}}, {'name': 'b', 'cluster': {'server': 'https://10.0.0.2:6443'}}],
            'users': [{'name': 'u', 'user': {'token': token}}],
            'contexts': [{'name': 'a', 'context': {'cluster': 'a', 'user': 'u'}}, {'name': 'b', 'context': {'cluster': 'b', 'user': 'u'}}]}


def params(**values):
    base = dict(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=None, ca_cert=None, client_cert=None,
                client_key=None, proxy=None, namespace='default', request_timeout=10)
    base.update(values)
    return base


def test_configuration_from_a_kubeconfig_dict_and_overrides(tmp_path):
    from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import Kube, _load_configuration
    configuration = _load_configuration(params(kubeconfig=kubeconfig()))
    kube = Kube(configuration, 5)
    assert kube.server == 'https://10.0.0.1:6443'
    assert kube._headers()['authorization'] == 'Bearer from-kubeconfig'
    assert configuration.retries is False
    assert Kube(_load_configuration(params(kubeconfig=kubeconfig(), context='b')), 5).server == 'https://10.0.0.2:6443'
    overridden = Kube(_load_configuration(params(kubeconfig=kubeconfig(), host='https://k:443', api_key='secret',
                                                 validate_certs=False)), 5)
    assert overridden.server == 'https://k:443' and overridden._headers()['authorization'] == 'Bearer secret'
    assert overridden.configuration.verify_ssl is False
    only_host = Kube(_load_configuration(params(host='http://127.0.0.1:8080')), 5)
    assert only_host.server == 'http://127.0.0.1:8080' and 'authorization' not in only_host._headers()
    assert only_host._url('/api/v1/pods', dict(labelSelector='app=a,b in (c)', limit=500, watch=False, x=None)) == \
        'http://127.0.0.1:8080/api/v1/pods?labelSelector=app%3Da%2Cb+in+%28c%29&limit=500&watch=false'


def test_configuration_errors_are_one_line(tmp_path):
    from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import _load_configuration
    with pytest.raises(RunbookError, match='kubeconfig: .*/missing.yml does not exist'):
        _load_configuration(params(kubeconfig=str(tmp_path / 'missing.yml')))
    with pytest.raises(RunbookError, match='^kubeconfig: '):
        _load_configuration(params(kubeconfig=kubeconfig(), context='nope'))
    with pytest.raises(RunbookError, match='ca_cert: /no/such/ca.pem does not exist'):
        _load_configuration(params(host='https://k:443', ca_cert='/no/such/ca.pem'))
