# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes emulator itself, through the official ``kubernetes`` client over a real socket.

What the k8s modules' tests rely on: selectors, paging, patches, resourceVersion, revisions with
reuse, a rollout that stalls on a broken image, endpoints, logs, exec, metrics, events and the
error statuses. Tests that inject faults skip on a real cluster (KUBECONFIG set).
"""

from __future__ import annotations

import json
import time

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from kube_fixtures import KubeTarget


def names(items):
    return sorted(item['metadata']['name'] for item in items)


def error_of(call):
    with pytest.raises(ApiException) as caught:
        call()
    body = json.loads(caught.value.body) if caught.value.body else {}
    return caught.value.status, body


def test_fixture_starts_fast_and_serves_discovery(tmp_path):
    # The first target pays for importing the client's API classes; the time that matters is per test.
    KubeTarget(tmp_path / 'warm-up').close()
    started = time.monotonic()
    target = KubeTarget(tmp_path)
    try:
        elapsed = time.monotonic() - started
        if target.emulated:
            assert elapsed < 0.3, 'the emulator took %.3fs to start' % elapsed
        from kubernetes import client
        assert client.VersionApi(target.api_client).get_code().major == '1'
        assert 'pods' in [r.name for r in target.core.get_api_resources().resources]
        assert 'deployments/scale' in [r.name for r in target.apps.get_api_resources().resources]
        groups = [g['name'] for g in target.request('GET', '/apis')['groups']]
        assert 'apps' in groups
        assert target.read('Namespace', target.namespace)['status']['phase'] == 'Active'
    finally:
        target.close()


def test_lists_carry_kind_version_and_page_with_continue(k8s):
    k8s.deployment('web', replicas=7)
    first = k8s.request('GET', '/api/v1/namespaces/%s/pods' % k8s.namespace, {'limit': 3})
    assert first['kind'] == 'PodList' and first['apiVersion'] == 'v1'
    assert first['metadata']['resourceVersion'] and first['metadata']['continue']
    seen = names(first['items'])
    token = first['metadata']['continue']
    while token:
        page = k8s.request('GET', '/api/v1/namespaces/%s/pods' % k8s.namespace, {'limit': 3, 'continue': token})
        assert len(page['items']) <= 3
        seen += names(page['items'])
        token = page['metadata'].get('continue')
    assert sorted(seen) == names(k8s.pods()) and len(seen) == 7
    typed = k8s.core.list_namespaced_pod(k8s.namespace, limit=5)
    assert len(typed.items) == 5 and typed.metadata._continue


def test_label_selectors(k8s):
    k8s.deployment('api', replicas=1, labels={'app': 'api', 'tier': 'web'})
    k8s.deployment('worker', replicas=1, labels={'app': 'worker', 'tier': 'jobs'})
    k8s.deployment('cron', replicas=1, labels={'app': 'cron'})
    cases = {
        'app=api': ['api'], 'app==api': ['api'], 'app!=api': ['cron', 'worker'], 'tier in (web,jobs)': ['api', 'worker'],
        'tier notin (web)': ['cron', 'worker'], 'tier': ['api', 'worker'], '!tier': ['cron'], 'app=api,tier=web': ['api'],
        'app in (api, cron),!tier': ['cron'],
    }
    for selector, expected in cases.items():
        found = sorted(pod['metadata']['labels']['app'] for pod in k8s.pods(selector=selector))
        assert found == expected, selector
    status, body = error_of(lambda: k8s.core.list_namespaced_pod(k8s.namespace, label_selector='app in (x'))
    assert status == 400 and body['reason'] == 'BadRequest'


def test_field_selectors(k8s):
    k8s.deployment('api', replicas=2)
    pods = k8s.pods()
    one = pods[0]['metadata']['name']
    assert names(k8s.list('Pod', field_selector='metadata.name=%s' % one)) == [one]
    assert len(k8s.list('Pod', field_selector='status.phase=Running')) == 2
    assert k8s.list('Pod', field_selector='status.phase!=Running') == []
    node = pods[0]['spec']['nodeName']
    assert all(p['spec']['nodeName'] == node for p in k8s.list('Pod', field_selector='spec.nodeName=%s' % node))
    status, body = error_of(lambda: k8s.core.list_namespaced_pod(k8s.namespace, field_selector='spec.bogus=1'))
    assert status == 400 and 'not a known field selector' in body['message']


def test_patch_types_generation_and_resource_version(k8s):
    k8s.deployment('api', replicas=1, containers=[
        {'name': 'app', 'image': 'registry.local/app:1.0', 'env': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': '2'}]},
        {'name': 'sidecar', 'image': 'registry.local/sidecar:1.0'}])
    before = k8s.read('Deployment', 'api')
    # Strategic merge: containers and env merge by name.
    after = k8s.patch('Deployment', 'api', {'spec': {'template': {'spec': {'containers': [
        {'name': 'app', 'image': 'registry.local/app:2.0', 'env': [{'name': 'B', 'value': '3'}]}]}}}})
    containers = dict((c['name'], c) for c in after['spec']['template']['spec']['containers'])
    assert set(containers) == {'app', 'sidecar'} and containers['app']['image'] == 'registry.local/app:2.0'
    assert [(e['name'], e['value']) for e in containers['app']['env']] == [('A', '1'), ('B', '3')]
    assert after['metadata']['generation'] == before['metadata']['generation'] + 1
    assert int(after['metadata']['resourceVersion']) > int(before['metadata']['resourceVersion'])
    # Merge patch replaces lists; metadata-only changes keep the generation.
    labelled = k8s.patch('Deployment', 'api', {'metadata': {'labels': {'team': 'core'}}}, patch_type='merge')
    assert labelled['metadata']['labels']['team'] == 'core'
    assert labelled['metadata']['generation'] == after['metadata']['generation']
    replaced = k8s.patch('Deployment', 'api', {'spec': {'template': {'spec': {'containers': [
        {'name': 'only', 'image': 'registry.local/only:1.0'}]}}}}, patch_type='merge')
    assert [c['name'] for c in replaced['spec']['template']['spec']['containers']] == ['only']
    # JSON patch, the way kubectl rollout undo-like tools replace a template.
    patched = k8s.patch('Deployment', 'api', [{'op': 'replace', 'path': '/spec/template/spec/containers/0/image',
                                              'value': 'registry.local/only:2.0'}], patch_type='json')
    assert patched['spec']['template']['spec']['containers'][0]['image'] == 'registry.local/only:2.0'
    # The typed client picks strategic merge for a dict body.
    typed = k8s.apps.patch_namespaced_deployment('api', k8s.namespace, {'spec': {'replicas': 2}})
    assert typed.spec.replicas == 2
    # A write with a stale resourceVersion conflicts.
    stale = dict(before, spec=dict(before['spec'], replicas=3))
    status, body = error_of(lambda: k8s.request('PUT', '/apis/apps/v1/namespaces/%s/deployments/api' % k8s.namespace, body=stale))
    assert status == 409 and body['reason'] == 'Conflict' and 'the object has been modified' in body['message']
    status, body = error_of(lambda: k8s.patch('Deployment', 'api', {'spec': {'replicas': -1}}))
    assert status == 422 and body['reason'] == 'Invalid' and 'spec.replicas' in body['message']
    status, body = error_of(lambda: k8s.read('Deployment', 'missing'))
    assert status == 404 and body['reason'] == 'NotFound' and body['message'] == 'deployments.apps "missing" not found'


def test_dry_run_json_patch_tests_preconditions_and_eviction(k8s):
    k8s.deployment('api', replicas=1)
    before = k8s.versions()
    path = '/apis/apps/v1/namespaces/%s/deployments/api' % k8s.namespace
    answer = k8s.request('PATCH', path + '?dryRun=All', body={'spec': {'replicas': 5}}, content_type='application/merge-patch+json')
    assert answer['spec']['replicas'] == 5
    assert k8s.versions() == before and k8s.read('Deployment', 'api')['spec']['replicas'] == 1
    stale = [{'op': 'test', 'path': '/metadata/resourceVersion', 'value': '1'}, {'op': 'replace', 'path': '/spec/replicas', 'value': 3}]
    status, body = error_of(lambda: k8s.patch('Deployment', 'api', stale, patch_type='json'))
    assert status == 422 and k8s.versions() == before
    pod = k8s.pods()[0]
    status, body = error_of(lambda: k8s.request('DELETE', '/api/v1/namespaces/%s/pods/%s' % (k8s.namespace, pod['metadata']['name']),
                                                body={'preconditions': {'resourceVersion': '1'}}))
    assert status == 409 and k8s.versions() == before
    k8s.request('POST', '/api/v1/namespaces/%s/pods/%s/eviction' % (k8s.namespace, pod['metadata']['name']),
                body={'apiVersion': 'policy/v1', 'kind': 'Eviction', 'metadata': {'name': pod['metadata']['name']}})
    k8s.wait_until(lambda: [p['metadata']['name'] for p in k8s.pods()] not in ([], [pod['metadata']['name']]), what='a replacement')


def test_settled_emulator_makes_no_writes(k8s):
    k8s.deployment('api', replicas=2)
    k8s.service('api', {'app': 'api'})
    before = k8s.versions()
    k8s.settle()
    time.sleep(1.2)
    assert k8s.versions() == before


def test_revisions_reuse_old_replica_sets_like_the_real_controller(k8s):
    k8s.deployment('api', image='registry.local/app:1.0', change_cause='v1')
    k8s.set_image('Deployment', 'api', 'registry.local/app:2.0', change_cause='v2')
    k8s.set_image('Deployment', 'api', 'registry.local/app:3.0', change_cause='v3')
    k8s.set_image('Deployment', 'api', 'registry.local/app:1.0', change_cause='back to v1')

    def history():
        found = {}
        for rs in k8s.list('ReplicaSet'):
            annotations = rs['metadata']['annotations']
            found[int(annotations['deployment.kubernetes.io/revision'])] = (
                rs['spec']['template']['spec']['containers'][0]['image'], annotations.get('kubernetes.io/change-cause'), rs['spec']['replicas'])
        return found
    assert history() == {2: ('registry.local/app:2.0', 'v2', 0), 3: ('registry.local/app:3.0', 'v3', 0),
                         4: ('registry.local/app:1.0', 'back to v1', 2)}
    deployment = k8s.read('Deployment', 'api')
    assert deployment['metadata']['annotations']['deployment.kubernetes.io/revision'] == '4'
    reused = [rs for rs in k8s.list('ReplicaSet') if rs['spec']['replicas']][0]
    assert reused['metadata']['annotations']['deployment.kubernetes.io/revision-history'] == '1'
    for pod in k8s.pods():
        assert pod['spec']['containers'][0]['image'] == 'registry.local/app:1.0'
        owner = pod['metadata']['ownerReferences'][0]
        assert owner['kind'] == 'ReplicaSet' and owner['controller'] is True
        assert owner['name'].endswith(pod['metadata']['labels']['pod-template-hash'])


def test_broken_image_stalls_the_rollout_and_rollback_fixes_it(k8s):
    k8s.require_emulator('only the emulator crash-loops images tagged :broken')
    k8s.deployment('api', image='registry.local/app:1.0', replicas=2, progress_deadline=1)
    k8s.set_image('Deployment', 'api', 'registry.local/app:broken', change_cause='bad')

    def stalled():
        status = k8s.read('Deployment', 'api')['status']
        progressing = [c for c in status['conditions'] if c['type'] == 'Progressing'][0]
        return status if progressing['reason'] == 'ProgressDeadlineExceeded' else None
    status = k8s.wait_until(stalled, timeout=15, what='ProgressDeadlineExceeded')
    # maxSurge 25% of 2 rounds up to one new pod; maxUnavailable rounds down to 0: the old pods stay.
    assert (status['replicas'], status['updatedReplicas'], status['readyReplicas'], status['availableReplicas'],
            status['unavailableReplicas']) == (3, 1, 2, 2, 1)
    broken = [p for p in k8s.pods() if p['spec']['containers'][0]['image'].endswith(':broken')]
    assert len(broken) == 1
    waiting = broken[0]['status']['containerStatuses'][0]
    assert waiting['state']['waiting']['reason'] == 'CrashLoopBackOff' and waiting['restartCount'] > 0
    assert waiting['lastState']['terminated']['exitCode'] == 1
    events = k8s.list('Event', field_selector='involvedObject.name=%s' % broken[0]['metadata']['name'])
    assert [e['reason'] for e in events] == ['BackOff'] and events[0]['type'] == 'Warning'
    # Rolling back: the old template again, so its ReplicaSet comes back as revision 3.
    k8s.set_image('Deployment', 'api', 'registry.local/app:1.0')
    final = k8s.read('Deployment', 'api')
    progressing = [c for c in final['status']['conditions'] if c['type'] == 'Progressing'][0]
    assert progressing['reason'] == 'NewReplicaSetAvailable' and progressing['status'] == 'True'
    assert final['metadata']['annotations']['deployment.kubernetes.io/revision'] == '3'
    assert len(k8s.pods()) == 2


def test_rolling_update_surges_and_recreate_replaces_all(k8s):
    k8s.deployment('big', replicas=10)
    k8s.set_image('Deployment', 'big', 'registry.local/app:2.0')
    assert len(k8s.pods(selector='app=big')) == 10
    assert {p['spec']['containers'][0]['image'] for p in k8s.pods(selector='app=big')} == {'registry.local/app:2.0'}
    k8s.create('Deployment', {'metadata': {'name': 'batch'}, 'spec': {
        'replicas': 2, 'strategy': {'type': 'Recreate'}, 'selector': {'matchLabels': {'app': 'batch'}},
        'template': {'metadata': {'labels': {'app': 'batch'}}, 'spec': {'containers': [{'name': 'app', 'image': 'registry.local/app:1.0'}]}}}})
    k8s.set_image('Deployment', 'batch', 'registry.local/app:2.0')
    assert {p['spec']['containers'][0]['image'] for p in k8s.pods(selector='app=batch')} == {'registry.local/app:2.0'}


def test_scale_subresource(k8s):
    k8s.deployment('api', replicas=2)
    scale = k8s.apps.read_namespaced_deployment_scale('api', k8s.namespace)
    assert scale.kind == 'Scale' and scale.spec.replicas == 2 and scale.status.selector == 'app=api'
    k8s.apps.patch_namespaced_deployment_scale('api', k8s.namespace, {'spec': {'replicas': 4}})
    k8s.wait_until(lambda: len(k8s.pods()) == 4, what='4 pods')
    assert k8s.read('Deployment', 'api')['spec']['replicas'] == 4
    status, body = error_of(lambda: k8s.apps.patch_namespaced_deployment_scale('api', k8s.namespace, {'spec': {'replicas': -1}}))
    assert status == 422 and body['reason'] == 'Invalid'
    k8s.stateful_set('db', replicas=1)
    k8s.apps.patch_namespaced_stateful_set_scale('db', k8s.namespace, {'spec': {'replicas': 3}})
    k8s.wait_until(lambda: names(k8s.pods(selector='app=db')) == ['db-0', 'db-1', 'db-2'], what='db-0..2')


def test_statefulset_and_daemonset_revisions(k8s):
    k8s.stateful_set('db', image='registry.local/db:1', replicas=2)
    k8s.set_image('StatefulSet', 'db', 'registry.local/db:2')
    sts = k8s.read('StatefulSet', 'db')
    assert sts['status']['currentRevision'] == sts['status']['updateRevision']
    assert sts['status']['updatedReplicas'] == 2 and sts['status']['readyReplicas'] == 2
    revisions = sorted((r['revision'], r['data']['spec']['template']['spec']['containers'][0]['image'])
                       for r in k8s.list('ControllerRevision') if r['metadata']['ownerReferences'][0]['name'] == 'db')
    assert revisions == [(1, 'registry.local/db:1'), (2, 'registry.local/db:2')]
    for pod in k8s.pods(selector='app=db'):
        assert pod['metadata']['labels']['controller-revision-hash'] == sts['status']['updateRevision']
        assert pod['spec']['containers'][0]['image'] == 'registry.local/db:2'
    k8s.daemon_set('agent', image='registry.local/agent:1')
    ds = k8s.read('DaemonSet', 'agent')
    assert ds['status']['desiredNumberScheduled'] == ds['status']['numberReady'] >= 1
    k8s.set_image('DaemonSet', 'agent', 'registry.local/agent:2')
    k8s.set_image('DaemonSet', 'agent', 'registry.local/agent:1')
    revisions = sorted((r['revision'], r['data']['spec']['template']['spec']['containers'][0]['image'])
                       for r in k8s.list('ControllerRevision') if r['metadata']['ownerReferences'][0]['name'] == 'agent')
    assert revisions == [(2, 'registry.local/agent:2'), (3, 'registry.local/agent:1')]
    nodes = sorted(p['spec']['nodeName'] for p in k8s.pods(selector='app=agent'))
    assert len(nodes) == len(set(nodes)) == ds['status']['desiredNumberScheduled']


def test_deleted_pods_are_replaced_and_endpoints_follow_readiness(k8s):
    k8s.deployment('api', replicas=2)
    k8s.service('api', {'app': 'api'}, target_port=8080)
    endpoints = k8s.read('Endpoints', 'api')
    assert len(endpoints['subsets'][0]['addresses']) == 2 and endpoints['subsets'][0]['ports'][0]['port'] == 8080
    victim = k8s.pods()[0]['metadata']['name']
    k8s.core.delete_namespaced_pod(victim, k8s.namespace)
    k8s.wait_until(lambda: len(k8s.pods()) == 2 and victim not in names(k8s.pods()), what='a replacement pod')
    k8s.service('nothing', {'app': 'none'})
    assert 'subsets' not in k8s.read('Endpoints', 'nothing')
    emulator = k8s.require_emulator()
    pod = k8s.pods()[0]['metadata']['name']
    emulator.break_pod(k8s.namespace, pod, 'unready')
    subset = k8s.read('Endpoints', 'api')['subsets'][0]
    assert len(subset['addresses']) == 1 and subset['notReadyAddresses'][0]['targetRef']['name'] == pod
    emulator.heal_pod(k8s.namespace, pod)
    assert len(k8s.read('Endpoints', 'api')['subsets'][0]['addresses']) == 2


@pytest.mark.parametrize('reason, phase, waiting, terminated', [
    ('crashloop', 'Running', 'CrashLoopBackOff', ('Error', 1)),
    ('oom', 'Running', None, ('OOMKilled', 137)),
    ('unready', 'Running', None, None),
    ('image_pull', 'Pending', 'ImagePullBackOff', None),
    ('config', 'Pending', 'CreateContainerConfigError', None),
])
def test_break_pod_shapes(k8s, reason, phase, waiting, terminated):
    emulator = k8s.require_emulator()
    k8s.deployment('api', replicas=1)
    pod = k8s.pods()[0]['metadata']['name']
    emulator.break_pod(k8s.namespace, pod, reason)
    obj = k8s.read('Pod', pod)
    status = obj['status']['containerStatuses'][0]
    assert obj['status']['phase'] == phase and status['ready'] is False or reason == 'oom'
    assert (status['state'].get('waiting') or {}).get('reason') == waiting
    last = (status['lastState'] or {}).get('terminated')
    assert ((last['reason'], last['exitCode']) if last else None) == terminated
    if reason in ('crashloop', 'oom'):
        assert status['restartCount'] >= 1
    ready = [c for c in obj['status']['conditions'] if c['type'] == 'Ready'][0]
    assert ready['status'] == ('True' if reason == 'oom' else 'False')
    typed = k8s.core.read_namespaced_pod(pod, k8s.namespace)
    assert typed.status.container_statuses[0].name == 'app'
    emulator.heal_pod(k8s.namespace, pod)
    assert k8s.read('Pod', pod)['status']['containerStatuses'][0]['ready'] is True


def test_pod_logs(k8s):
    emulator = k8s.require_emulator('logs are appended through the emulator')
    k8s.deployment('api', replicas=1, containers=[{'name': 'app', 'image': 'registry.local/app:1'},
                                                  {'name': 'proxy', 'image': 'registry.local/proxy:1'}])
    pod = k8s.pods()[0]['metadata']['name']
    emulator.append_log(k8s.namespace, pod, 'app', ['old line'], age=600)
    emulator.append_log(k8s.namespace, pod, 'app', ['line %d' % n for n in range(1, 6)])
    emulator.append_log(k8s.namespace, pod, 'app', ['panic: crashed'], previous=True)
    read = k8s.core.read_namespaced_pod_log
    assert read(pod, k8s.namespace, container='app').splitlines() == ['old line'] + ['line %d' % n for n in range(1, 6)]
    assert read(pod, k8s.namespace, container='app', tail_lines=2).splitlines() == ['line 4', 'line 5']
    assert read(pod, k8s.namespace, container='app', since_seconds=60).splitlines()[0] == 'line 1'
    assert read(pod, k8s.namespace, container='app', previous=True) == 'panic: crashed\n'
    stamped = read(pod, k8s.namespace, container='app', tail_lines=1, timestamps=True)
    assert stamped.endswith('Z line 5\n') and stamped[:4].isdigit()
    assert read(pod, k8s.namespace, container='app', limit_bytes=4) == 'old '
    assert read(pod, k8s.namespace, container='proxy') == ''
    status, body = error_of(lambda: read(pod, k8s.namespace))
    assert status == 400 and 'a container name must be specified' in body['message'] and '[app proxy]' in body['message']
    status, body = error_of(lambda: read(pod, k8s.namespace, container='proxy', previous=True))
    assert status == 400 and 'previous terminated container "proxy"' in body['message']


def test_events_and_metrics(k8s):
    emulator = k8s.require_emulator()
    k8s.deployment('api', replicas=2, containers=[{'name': 'app', 'image': 'registry.local/app:1',
                                                   'resources': {'requests': {'memory': '128Mi'}, 'limits': {'memory': '256Mi'}}}])
    pods = names(k8s.pods())
    emulator.break_pod(k8s.namespace, pods[0], 'crashloop')
    emulator.add_event(k8s.namespace, 'Pod', pods[1], 'Unhealthy', 'Liveness probe failed')
    warnings = k8s.list('Event', field_selector='type=Warning')
    assert sorted((e['involvedObject']['name'], e['reason']) for e in warnings) == [(pods[0], 'BackOff'), (pods[1], 'Unhealthy')]
    assert all(e['involvedObject']['uid'] and e['count'] == 1 and e['lastTimestamp'] for e in warnings)
    assert k8s.list('Event', field_selector='involvedObject.name=%s,reason=Unhealthy' % pods[1])[0]['message'] == 'Liveness probe failed'
    emulator.set_usage(k8s.namespace, pods[1], 'app', 0.25, 200 * 1024 * 1024)
    metrics = k8s.request('GET', '/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods' % k8s.namespace, {'labelSelector': 'app=api'})
    assert metrics['kind'] == 'PodMetricsList'
    usage = dict((m['metadata']['name'], m['containers'][0]['usage']) for m in metrics['items'] if m['containers'])
    assert usage[pods[1]] == {'cpu': '250000000n', 'memory': '204800Ki'}
    assert pods[0] not in usage


def test_exec_streams_output_and_exit_codes(k8s):
    k8s.require_emulator('the emulator runs exec commands on the host')
    k8s.deployment('db', replicas=1, containers=[{'name': 'db', 'image': 'registry.local/db:1', 'env': [{'name': 'GREETING', 'value': 'hi'}]}])
    pod = k8s.pods()[0]['metadata']['name']
    output = stream(k8s.core.connect_get_namespaced_pod_exec, pod, k8s.namespace, command=['sh', '-c', 'echo $GREETING; pwd'],
                    stdout=True, stderr=True, stdin=False, tty=False)
    lines = output.splitlines()
    assert lines[0] == 'hi' and lines[1].endswith('/exec/%s/%s' % (k8s.namespace, pod))
    client = stream(k8s.core.connect_get_namespaced_pod_exec, pod, k8s.namespace, command=['sh', '-c', 'echo out; echo err >&2; exit 3'],
                    stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    client.run_forever(timeout=10)
    assert client.read_stdout() == 'out\n' and client.read_stderr() == 'err\n'
    assert client.returncode == 3
    client = stream(k8s.core.connect_get_namespaced_pod_exec, pod, k8s.namespace, command=['true'],
                    stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    client.run_forever(timeout=10)
    assert client.returncode == 0
    client = stream(k8s.core.connect_get_namespaced_pod_exec, pod, k8s.namespace, command=['no-such-binary-here'],
                    stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    client.run_forever(timeout=10)
    error = json.loads(client.read_channel(3))
    assert error['status'] == 'Failure' and 'executable file not found' in error['message']


def test_auth_forbidden_failures_and_hangs(k8s):
    from kubernetes import client
    emulator = k8s.require_emulator('faults are injected into the emulator')
    configuration = client.Configuration()
    configuration.host = k8s.server
    configuration.api_key = {'authorization': 'Bearer wrong'}
    wrong = client.CoreV1Api(client.ApiClient(configuration))
    status, body = error_of(lambda: wrong.list_namespaced_pod(k8s.namespace))
    assert status == 401 and body['reason'] == 'Unauthorized'
    emulator.forbid(r'/namespaces/[^/]+/secrets|/pods/[^/]+/exec|/deployments$')
    status, body = error_of(lambda: k8s.apps.list_namespaced_deployment(k8s.namespace))
    assert status == 403 and body['message'].startswith('deployments is forbidden: User ')
    emulator.fail('GET', r'/pods$', 500)
    status, body = error_of(lambda: k8s.core.list_namespaced_pod(k8s.namespace))
    assert status == 500 and body['reason'] == 'InternalError'
    emulator.clear_faults()
    assert k8s.core.list_namespaced_pod(k8s.namespace).items == []
    emulator.fail(None, r'/pods', 'hang')
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        k8s.core.list_namespaced_pod(k8s.namespace, _request_timeout=1)
    assert time.monotonic() - started < 5 and 'timed out' in str(caught.value).lower()
    emulator.clear_faults()
    assert k8s.core.list_namespaced_pod(k8s.namespace).items == []


def test_two_thousand_pods_list_in_well_under_a_second(k8s):
    emulator = k8s.require_emulator('bulk pods are created in-process')
    emulator.add_pods(k8s.namespace, 2000, {'app': 'bulk'}, broken_every=100)
    started = time.monotonic()
    items = k8s.request('GET', '/api/v1/namespaces/%s/pods' % k8s.namespace)['items']
    elapsed = time.monotonic() - started
    assert len(items) == 2000 and elapsed < 1.0, '%.2fs' % elapsed
    assert sum(1 for p in items if not p['status']['containerStatuses'][0]['ready']) == 20


def test_seed_shapes(k8s):
    k8s.seed()
    history = sorted(int(rs['metadata']['annotations']['deployment.kubernetes.io/revision'])
                     for rs in k8s.list('ReplicaSet', 'linkflow', 'app=linkflow-api'))
    assert history == [1, 2, 3]
    assert names(k8s.list('Deployment', 'production')) == ['kong', 'pgbouncer', 'workflow-engine']
    assert 'postgres-0' in names(k8s.pods('production'))
    for service in ('kong-proxy', 'workflow-engine', 'pgbouncer', 'postgres'):
        assert k8s.read('Endpoints', service, 'production')['subsets'][0]['addresses']


# --- the lab's service ---------------------------------------------------------------------------

def test_lab_serves_the_seeded_emulator_with_a_private_kubeconfig(lab):
    import os
    import stat
    from kubernetes import client, config
    path = lab.vars['kubeconfig']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    api_client = config.new_client_from_config(path)
    try:
        apps = client.AppsV1Api(api_client)
        revisions = sorted(int(rs.metadata.annotations['deployment.kubernetes.io/revision'])
                           for rs in apps.list_namespaced_replica_set('linkflow', label_selector='app=linkflow-api').items)
        assert len(revisions) >= 3 and len(set(revisions)) == len(revisions)
        pods = [p.metadata.name for p in client.CoreV1Api(api_client).list_namespaced_pod('production').items]
        assert 'postgres-0' in pods and any(p.startswith('kong-') for p in pods)
        configuration = client.Configuration()
        configuration.host = api_client.configuration.host
        configuration.api_key = {'authorization': 'Bearer not-the-token'}
        status, body = error_of(lambda: client.CoreV1Api(client.ApiClient(configuration)).list_namespace())
        assert status == 401
    finally:
        api_client.close()
    from lab import control
    info = control.status(lab.lab)
    kube = [s for s in info['services'] if s['name'] == 'kube'][0]
    assert kube['running'] and kube['endpoint'] == api_client.configuration.host
    assert 'kube       running  http://127.0.0.1:' in control.render_status(info)


def test_tls_with_the_ca_in_the_kubeconfig(k8s_tls):
    k8s = k8s_tls
    k8s.require_emulator('the emulator makes its own certificate')
    assert k8s.server.startswith('https://127.0.0.1:')
    k8s.deployment('api', replicas=1)
    pod = k8s.pods()[0]['metadata']['name']
    assert stream(k8s.core.connect_get_namespaced_pod_exec, pod, k8s.namespace, command=['echo', 'over tls'],
                  stdout=True, stderr=True, stdin=False, tty=False) == 'over tls\n'
    from kubernetes import client
    configuration = client.Configuration()
    configuration.host = k8s.server
    configuration.api_key = {'authorization': 'Bearer ' + k8s.token}
    with pytest.raises(Exception) as caught:
        client.CoreV1Api(client.ApiClient(configuration)).list_namespaced_pod(k8s.namespace, _request_timeout=5)
    assert 'CERTIFICATE_VERIFY_FAILED' in str(caught.value)
