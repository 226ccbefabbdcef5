# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_pod_health against the Kubernetes API emulator (or the cluster of KUBECONFIG), through ansible-playbook."""

from __future__ import annotations

import json
import time

import pytest


def pod_names(k8s, selector):
    return sorted(pod.metadata.name for pod in k8s.core.list_namespaced_pod(k8s.namespace, label_selector=selector).items)


def ready_pods(k8s, selector):
    pods = k8s.core.list_namespaced_pod(k8s.namespace, label_selector=selector).items
    return [pod for pod in pods if any(c.type == 'Ready' and c.status == 'True' for c in (pod.status.conditions or []))]


def running_deployment(k8s, name, replicas):
    k8s.deployment(name, image='registry.local/%s:1.0' % name, replicas=replicas, labels={'app': name})
    k8s.wait_until(lambda: len(ready_pods(k8s, 'app=' + name)) == replicas, 60, '%d ready %s pods' % (replicas, name))
    return pod_names(k8s, 'app=' + name)


def findings_by_check(result):
    return dict((item['check'], item) for item in result['findings'])


def test_each_failure_kind_is_reported(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'web', 5)
    broken = dict(zip(('crashloop', 'oom', 'unready', 'image_pull'), pods))
    for reason, pod in broken.items():
        k8s.emulator.break_pod(k8s.namespace, pod, reason)

    result, run = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=web']))
    assert result.get('failed') is not True, run.stdout
    assert result['changed'] is False and result['status'] == 'critical'
    checks = findings_by_check(result)
    assert checks['crash_loop']['status'] == 'critical' and checks['crash_loop']['pods'] == [broken['crashloop']]
    assert checks['oom_killed']['status'] == 'critical' and checks['oom_killed']['pods'] == [broken['oom']]
    assert checks['image_pull']['status'] == 'critical' and checks['image_pull']['pods'] == [broken['image_pull']]
    assert checks['not_ready']['status'] == 'warn' and checks['not_ready']['pods'] == [broken['unready']]
    assert result['findings'][0]['status'] == 'critical'

    views = dict((view['name'], view) for view in result['pods'])
    assert len(views) == 5 and result['counts']['total'] == 5 and result['counts']['unhealthy'] == 4
    crash = views[broken['crashloop']]
    assert crash['status'] == 'CrashLoopBackOff' and crash['waiting_reason'] == 'CrashLoopBackOff'
    assert crash['ready'] == '0/1' and crash['restarts'] >= 1 and crash['owner']['kind'] == 'ReplicaSet'
    assert crash['last_termination']['exit_code'] not in (None, 0)
    oom = views[broken['oom']]
    assert oom['last_termination']['reason'] == 'OOMKilled' and oom['last_termination']['exit_code'] == 137
    assert views[broken['image_pull']]['status'] in ('ImagePullBackOff', 'ErrImagePull')
    assert views[broken['unready']]['ready'] == '0/1' and views[broken['unready']]['status'] == 'Running'
    healthy = views[pods[4]]
    assert healthy['status'] == 'Running' and healthy['ready'] == '1/1' and healthy['problems'] == {}
    assert healthy['node'] and healthy['age'] and healthy['ip']


def test_only_unhealthy_and_check_mode_change_nothing(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'api', 3)
    k8s.emulator.break_pod(k8s.namespace, pods[0], 'crashloop')
    versions = dict((pod, k8s.resource_version('Pod', pod)) for pod in pods)
    deployment_version = k8s.resource_version('Deployment', 'api')

    args = dict(namespace=k8s.namespace, label_selectors=['app=api'], only_unhealthy=True)
    result = run_k8s('k8s_pod_health', args)[0]
    checked = run_k8s('k8s_pod_health', args, check=True)[0]
    assert [view['name'] for view in result['pods']] == [pods[0]]
    assert result['counts']['total'] == 3 and result['counts']['healthy'] == 2
    for data in (result, checked):
        data.pop('invocation', None)
        for view in data['pods']:
            view.pop('age', None)
            view.pop('age_seconds', None)
            view.pop('not_ready_seconds', None)
    assert checked == result
    assert dict((pod, k8s.resource_version('Pod', pod)) for pod in pods) == versions
    assert k8s.resource_version('Deployment', 'api') == deployment_version


def test_healthy_selection_and_empty_selection(k8s, run_k8s):
    running_deployment(k8s, 'calm', 2)
    result = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=calm'],
                                            field_selectors=['status.phase=Running']))[0]
    assert result['status'] == 'ok' and len(result['pods']) == 2
    assert findings_by_check(result)['pods']['message'].startswith('all 2 pods in namespace %s matching app=calm healthy' % k8s.namespace)
    nothing = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=nothing']))[0]
    assert nothing['status'] == 'warn' and nothing['pods'] == [] and nothing['counts']['total'] == 0


def test_service_without_ready_endpoints_is_critical(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'kong', 2)
    running_deployment(k8s, 'admin', 1)
    k8s.service('kong-proxy', {'app': 'kong'})
    k8s.service('admin', {'app': 'admin'})
    for pod in pods:
        k8s.emulator.break_pod(k8s.namespace, pod, 'unready')
    k8s.wait_until(lambda: not ready_pods(k8s, 'app=kong'), 30, 'kong pods unready')

    result = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=kong'],
                                            services=['kong-proxy', 'admin', 'missing']))[0]
    services = dict((entry['name'], entry) for entry in result['services'])
    assert services['kong-proxy']['ready'] == [] and len(services['kong-proxy']['not_ready']) == 2
    assert sorted(address['pod'] for address in services['kong-proxy']['not_ready']) == pods
    assert len(services['admin']['ready']) == 1 and services['missing']['exists'] is False
    endpoint_findings = [item for item in result['findings'] if item['check'] == 'endpoints']
    messages = dict((item['message'].split()[1], item) for item in endpoint_findings)
    assert messages['%s/kong-proxy' % k8s.namespace]['status'] == 'critical'
    assert 'no ready endpoints' in messages['%s/kong-proxy' % k8s.namespace]['message']
    assert messages['%s/admin' % k8s.namespace]['status'] == 'ok'
    assert messages['%s/missing' % k8s.namespace]['message'] == 'Service %s/missing not found' % k8s.namespace
    assert result['status'] == 'critical'


def test_events_of_the_selected_pods(k8s, run_k8s):
    k8s.require_emulator()
    pods = running_deployment(k8s, 'ev', 2)
    others = running_deployment(k8s, 'other', 1)
    k8s.emulator.add_event(k8s.namespace, 'Pod', pods[0], 'FailedMount', 'MountVolume.SetUp failed for volume "config"')
    k8s.emulator.add_event(k8s.namespace, 'Pod', pods[1], 'Pulled', 'pulled the image', type='Normal')
    k8s.emulator.add_event(k8s.namespace, 'Pod', others[0], 'FailedMount', 'not one of ours')
    k8s.emulator.add_event(k8s.namespace, 'Pod', pods[1], 'BackOff', 'an old one', age=7200)

    result = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=ev'], include_events=True))[0]
    assert [(event['pod'], event['reason']) for event in result['events']] == [(pods[0], 'FailedMount')]
    views = dict((view['name'], view) for view in result['pods'])
    assert views[pods[0]]['events'][0]['message'] == 'MountVolume.SetUp failed for volume "config"'
    assert 'events' not in views[pods[1]]


def test_memory_near_the_limit(k8s, run_k8s):
    k8s.require_emulator()
    # Bare pods with a 256Mi memory limit.
    names = sorted(k8s.emulator.add_pods(k8s.namespace, 3, labels={'app': 'mem'}, prefix='mem'))
    k8s.emulator.set_usage(k8s.namespace, names[0], 'app', '250m', '250Mi')
    k8s.emulator.set_usage(k8s.namespace, names[1], 'app', 0.05, '100Mi')

    result = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=mem'], include_metrics=True))[0]
    assert result['metrics_available'] is True
    checks = findings_by_check(result)
    assert checks['memory']['status'] == 'critical' and checks['memory']['pods'] == [names[0]]
    assert checks['memory']['value'] == pytest.approx(97.7, abs=0.1)
    views = dict((view['name'], view) for view in result['pods'])
    [usage] = views[names[0]]['usage']
    assert usage['memory_bytes'] == 250 * 1024 ** 2 and usage['memory_limit_bytes'] == 256 * 1024 ** 2
    assert usage['cpu_millicores'] == pytest.approx(250) and usage['cpu_request_millicores'] == 100
    assert views[names[1]]['usage'][0]['memory_limit_percent'] == pytest.approx(39.1, abs=0.1)

    warn = run_k8s('k8s_pod_health', dict(namespace=k8s.namespace, label_selectors=['app=mem'], include_metrics=True,
                                          memory_warn=30, memory_critical=99))[0]
    assert findings_by_check(warn)['memory']['status'] == 'warn'
    assert findings_by_check(warn)['memory']['pods'] == names[:2]


@pytest.mark.parametrize('args, message', [
    (dict(label_selectors=['app=web=x']), "label_selectors: 'app=web=x' is not a label selector"),
    (dict(field_selectors=['status.phase']), "field_selectors: 'status.phase' is not a field selector"),
    (dict(memory_warn=90, memory_critical=80), 'memory_warn (90) must not be greater than memory_critical (80)'),
    (dict(events_max_age='soon'), "events_max_age: 'soon' is not a duration"),
])
def test_bad_input_fails_in_one_line(k8s, run_k8s, args, message):
    result = run_k8s('k8s_pod_health', dict(args, namespace=k8s.namespace))[0]
    assert result['failed'] is True and message in result['msg'] and '\n' not in result['msg']


# --- the API server fails: the same for every module of this file set ------------------------

MODULES = {
    'k8s_pod_health': dict(label_selectors=['app=x']),
    'k8s_logs': dict(label_selectors=['app=x']),
    'k8s_pod_restart': dict(mode='delete_unhealthy', label_selectors=['app=x']),
}


def kubeconfig_for(server, token='t'):
    return {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'c',
            'clusters': [{'name': 'c', 'cluster': {'server': server}}],
            'users': [{'name': 'u', 'user': {'token': token}}],
            'contexts': [{'name': 'c', 'context': {'cluster': 'c', 'user': 'u'}}]}


def run_failing(run_k8s, module, args):
    started = time.monotonic()
    result = run_k8s(module, dict(MODULES[module], **args))[0]
    elapsed = time.monotonic() - started
    assert result['failed'] is True, result
    assert '\n' not in result['msg'] and 'Traceback' not in json.dumps(result)
    return result['msg'], elapsed


@pytest.mark.parametrize('module', sorted(MODULES))
def test_refused_connection(run_k8s, closed_port, module):
    server = 'http://127.0.0.1:%d' % closed_port
    message, elapsed = run_failing(run_k8s, module, dict(kubeconfig=kubeconfig_for(server), request_timeout=3))
    assert message == 'cannot reach the Kubernetes API at %s: connection refused' % server


@pytest.mark.parametrize('module', sorted(MODULES))
def test_server_that_never_answers(run_k8s, silent_server, module):
    server = 'http://127.0.0.1:%d' % silent_server
    message, elapsed = run_failing(run_k8s, module, dict(kubeconfig=kubeconfig_for(server), request_timeout=2))
    assert message.startswith('Kubernetes API at %s: no answer within 2s' % server)
    # The module gives up after 2s; the rest is ansible-playbook starting up on a busy machine.
    assert elapsed < 2 + 30


@pytest.mark.parametrize('module', sorted(MODULES))
def test_wrong_token_is_401(k8s, run_k8s, module):
    k8s.require_emulator()
    message = run_failing(run_k8s, module, dict(namespace=k8s.namespace, api_key='not-the-token'))[0]
    assert message == 'Kubernetes API at %s: 401 Unauthorized (check the token or client certificate)' % k8s.server
    assert 'not-the-token' not in message


@pytest.mark.parametrize('module', sorted(MODULES))
def test_forbidden_is_403(k8s, run_k8s, module):
    k8s.require_emulator()
    k8s.emulator.forbid(r'/pods')
    message = run_failing(run_k8s, module, dict(namespace=k8s.namespace))[0]
    assert message.startswith('Kubernetes API at %s: 403 Forbidden: ' % k8s.server)
    assert 'pods' in message
