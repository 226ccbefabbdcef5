# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_logs against the Kubernetes API emulator, through ansible-playbook.

Log content is written through the emulator (a real cluster's logs come from real containers),
so these tests need it; the connection failures are in test_k8s_pod_health.py.
"""

from __future__ import annotations

import pytest


def ready_pods(k8s, selector):
    pods = k8s.core.list_namespaced_pod(k8s.namespace, label_selector=selector).items
    return sorted(pod.metadata.name for pod in pods if any(c.type == 'Ready' and c.status == 'True' for c in (pod.status.conditions or [])))


@pytest.fixture
def logged(k8s):
    """Three pods of app=logs, each with ten lines, some of them errors; the first crashed once before."""
    k8s.require_emulator()
    k8s.deployment('logs', image='registry.local/logs:1.0', replicas=3, labels={'app': 'logs'})
    k8s.wait_until(lambda: len(ready_pods(k8s, 'app=logs')) == 3, 60, '3 ready pods')
    pods = ready_pods(k8s, 'app=logs')
    for index, pod in enumerate(pods):
        lines = ['%s line %d' % (pod, number) for number in range(8)]
        lines += ['ERROR upstream timed out (%d)' % number for number in range(index)]
        lines += ['%s last line' % pod]
        k8s.emulator.append_log(k8s.namespace, pod, None, lines)
    k8s.emulator.append_log(k8s.namespace, pods[0], None, ['starting', 'FATAL out of memory'], previous=True)
    return pods


def by_pod(result):
    return dict((entry['pod'], entry) for entry in result['logs'])


def test_every_pod_is_read_with_tail_and_patterns(k8s, run_k8s, logged):
    result, run = run_k8s('k8s_logs', dict(namespace=k8s.namespace, label_selectors=['app=logs'], tail_lines=4,
                                           patterns=['ERROR', 'no such thing']))
    assert result.get('failed') is not True, run.stdout
    assert result['changed'] is False and result['pods_read'] == 3 and result['left_out'] == 0
    logs = by_pod(result)
    assert sorted(logs) == logged
    for index, pod in enumerate(logged):
        assert logs[pod]['container'] == 'app'
        assert logs[pod]['line_count'] == 4 and logs[pod]['lines'][-1] == '%s last line' % pod
        assert logs[pod]['matches']['ERROR']['count'] == min(index, 3)
    assert logs[logged[2]]['matches']['ERROR']['lines'] == ['ERROR upstream timed out (0)', 'ERROR upstream timed out (1)']
    assert result['pattern_counts'] == {'ERROR': 3, 'no such thing': 0}
    [error_finding] = [item for item in result['findings'] if item.get('pattern') == 'ERROR']
    assert error_finding['status'] == 'warn' and 'matched 3 lines in 2 of 3 pods' in error_finding['message']
    assert result['status'] == 'warn'

    everything = run_k8s('k8s_logs', dict(namespace=k8s.namespace, label_selectors=['app=logs'], tail_lines=0,
                                          return_lines=False, patterns=['line']))[0]
    assert [entry['line_count'] for entry in everything['logs']] == [9, 10, 11]
    assert all('lines' not in entry for entry in everything['logs'])
    assert everything['pattern_counts'] == {'line': 27}


def test_previous_instance_and_single_pod(k8s, run_k8s, logged):
    result = run_k8s('k8s_logs', dict(namespace=k8s.namespace, label_selectors=['app=logs'], previous=True, patterns=['FATAL']))[0]
    logs = by_pod(result)
    assert logs[logged[0]]['lines'] == ['starting', 'FATAL out of memory']
    assert logs[logged[0]]['matches']['FATAL']['count'] == 1
    for pod in logged[1:]:
        assert 'previous terminated container' in logs[pod]['error'] and logs[pod]['line_count'] == 0
    assert any(item['check'] == 'logs' and item['value'] == 2 for item in result['findings'])

    one = run_k8s('k8s_logs', dict(namespace=k8s.namespace, name=logged[1], tail_lines=2))[0]
    assert [entry['pod'] for entry in one['logs']] == [logged[1]]
    assert one['logs'][0]['lines'] == ['ERROR upstream timed out (0)', '%s last line' % logged[1]]

    k8s.emulator.append_log(k8s.namespace, logged[1], None, ['an hour old'], age=3600)
    recent = run_k8s('k8s_logs', dict(namespace=k8s.namespace, name=logged[1], tail_lines=0, since='30m'))[0]
    assert recent['logs'][0]['line_count'] == 10 and 'an hour old' not in recent['logs'][0]['lines']
    missing = run_k8s('k8s_logs', dict(namespace=k8s.namespace, name='no-such-pod'))[0]
    assert missing['failed'] is True and missing['msg'] == 'Pod %s/no-such-pod not found' % k8s.namespace


def test_cap_container_and_check_mode(k8s, run_k8s, logged):
    capped = run_k8s('k8s_logs', dict(namespace=k8s.namespace, label_selectors=['app=logs'], max_pods=2))[0]
    assert [entry['pod'] for entry in capped['logs']] == logged[:2] and capped['left_out'] == 1
    assert any(item['check'] == 'pods' and 'max_pods 2 left 1 out' in item['message'] for item in capped['findings'])

    wrong = run_k8s('k8s_logs', dict(namespace=k8s.namespace, label_selectors=['app=logs'], container='sidecar'))[0]
    assert all(entry['error'].startswith('the pod has no container sidecar') for entry in wrong['logs'])

    args = dict(namespace=k8s.namespace, label_selectors=['app=logs'], tail_lines=5, patterns=['ERROR'])
    real = run_k8s('k8s_logs', args)[0]
    checked = run_k8s('k8s_logs', args, check=True)[0]
    for data in (real, checked):
        data.pop('invocation', None)
    assert checked == real


@pytest.mark.parametrize('args, message', [
    (dict(max_pods=0), 'max_pods must be a whole number of at least 1, got 0'),
    (dict(patterns=['(unclosed']), "patterns: '(unclosed' is not a regular expression"),
    (dict(since='yesterday'), "since: 'yesterday' is not a duration"),
    (dict(tail_lines=-1), 'tail_lines must be 0 (every line) or more, got -1'),
    (dict(label_selectors=['app in logs']), "label_selectors: 'app in logs' is not a label selector"),
])
def test_bad_input_fails_in_one_line(k8s, run_k8s, args, message):
    result = run_k8s('k8s_logs', dict(args, namespace=k8s.namespace))[0]
    assert result['failed'] is True and message in result['msg'] and '\n' not in result['msg']


def test_default_container_and_all_containers(k8s, run_k8s):
    k8s.require_emulator()
    containers = [{'name': 'proxy', 'image': 'registry.local/proxy:1.0'}, {'name': 'agent', 'image': 'registry.local/agent:1.0'}]
    k8s.deployment('pair', replicas=1, labels={'app': 'pair'}, containers=containers)
    [pod] = ready_pods(k8s, 'app=pair')
    k8s.emulator.append_log(k8s.namespace, pod, 'proxy', ['proxy says hi'])
    k8s.emulator.append_log(k8s.namespace, pod, 'agent', ['agent says hi', 'ERROR agent lost its upstream'])
    args = dict(namespace=k8s.namespace, label_selectors=['app=pair'], patterns=['ERROR'])

    default = run_k8s('k8s_logs', args)[0]
    assert [(entry['container'], entry['lines']) for entry in default['logs']] == [('proxy', ['proxy says hi'])]
    both = run_k8s('k8s_logs', dict(args, all_containers=True))[0]
    assert [(entry['container'], entry['line_count']) for entry in both['logs']] == [('agent', 2), ('proxy', 1)]
    assert both['pattern_counts'] == {'ERROR': 1}
    agent = run_k8s('k8s_logs', dict(args, container='agent', limit_bytes=14))[0]
    assert agent['logs'][0]['lines'] == ['agent says hi']


def test_a_log_that_hangs_fails_within_the_timeout(k8s, run_k8s, logged):
    k8s.emulator.fail('GET', r'/log', 'hang')
    result = run_k8s('k8s_logs', dict(namespace=k8s.namespace, label_selectors=['app=logs'], request_timeout=2))[0]
    assert result['failed'] is True and '\n' not in result['msg']
    assert result['msg'].startswith('Kubernetes API at %s: no answer within 2s (GET /api/v1/namespaces/%s/pods/' % (k8s.server, k8s.namespace))
    k8s.emulator.clear_faults()
