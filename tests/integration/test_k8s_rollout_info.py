# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_rollout_info through ansible-playbook, against the Kubernetes emulator (or KUBECONFIG's cluster)."""

from __future__ import annotations

from kube_rollout_helpers import check_connection_failures


def test_history_with_images_change_causes_and_the_current_revision(k8s, run_k8s):
    k8s.deployment('api', image='registry.local/api:1.0', replicas=2, change_cause='first release')
    k8s.set_image('Deployment', 'api', 'registry.local/api:1.1', change_cause='release 1.1')
    k8s.set_image('Deployment', 'api', 'registry.local/api:1.2', change_cause='release 1.2')
    before = k8s.versions()
    result = run_k8s('k8s_rollout_info', dict(namespace=k8s.namespace, name='api'))[0]
    assert result.get('failed') is not True, result
    assert result['changed'] is False and result['status'] == 'ok', result
    assert [entry['revision'] for entry in result['revisions']] == [1, 2, 3]
    assert [entry['images'][0]['image'] for entry in result['revisions']] == ['registry.local/api:%s' % v for v in ('1.0', '1.1', '1.2')]
    assert [entry['change_cause'] for entry in result['revisions']] == ['first release', 'release 1.1', 'release 1.2']
    assert [entry['current'] for entry in result['revisions']] == [False, False, True]
    assert all(entry['created'] for entry in result['revisions'])
    assert result['current_revision'] == 3 and result['images'] == [{'container': 'app', 'image': 'registry.local/api:1.2'}]
    state = result['state']
    assert state['done'] and state['observed'] and not state['stalled'] and not state['progressing']
    assert (state['desired'], state['updated'], state['ready'], state['available']) == (2, 2, 2, 2)
    assert k8s.versions() == before, 'a diagnostic changes nothing'


def test_stalled_rollout_is_critical(k8s, run_k8s):
    k8s.require_emulator('only the emulator crash-loops images marked broken')
    k8s.deployment('api', image='registry.local/api:1.0', replicas=2, progress_deadline=1)
    k8s.set_image('Deployment', 'api', 'registry.local/api:broken', change_cause='bad release')

    def stalled():
        conditions = (k8s.read('Deployment', 'api').get('status') or {}).get('conditions') or []
        return any(c['type'] == 'Progressing' and c['reason'] == 'ProgressDeadlineExceeded' for c in conditions)
    k8s.wait_until(stalled, timeout=60, what='the progress deadline to pass')
    result = run_k8s('k8s_rollout_info', dict(namespace=k8s.namespace, name='api'), check=True)[0]
    assert result.get('failed') is not True, result
    assert result['status'] == 'critical' and result['changed'] is False
    assert result['state']['stalled'] is True and result['state']['done'] is False
    rollout = [item for item in result['findings'] if item['check'] == 'rollout'][0]
    assert rollout['status'] == 'critical' and 'timed out progressing' in rollout['message'], rollout
    assert result['current_revision'] == 2 and result['revisions'][-1]['change_cause'] == 'bad release'


def test_statefulset_and_daemonset_history_from_controller_revisions(k8s, run_k8s):
    k8s.stateful_set('db', image='registry.local/db:1', replicas=2)
    k8s.set_image('StatefulSet', 'db', 'registry.local/db:2')
    k8s.daemon_set('agent', image='registry.local/agent:1')
    k8s.set_image('DaemonSet', 'agent', 'registry.local/agent:2')
    for kind, name, prefix in (('StatefulSet', 'db', 'registry.local/db:'), ('DaemonSet', 'agent', 'registry.local/agent:')):
        result = run_k8s('k8s_rollout_info', dict(namespace=k8s.namespace, kind=kind, name=name))[0]
        assert result.get('failed') is not True, result
        assert [entry['revision'] for entry in result['revisions']] == [1, 2], result['revisions']
        assert [entry['images'][0]['image'] for entry in result['revisions']] == [prefix + '1', prefix + '2']
        assert result['current_revision'] == 2 and result['state']['done'], result['state']
        assert result['status'] == 'ok', result['findings']


def test_missing_workload_is_one_line(k8s, run_k8s):
    result = run_k8s('k8s_rollout_info', dict(namespace=k8s.namespace, name='nope'))[0]
    assert result['failed'] is True and result['msg'] == 'Deployment %s/nope not found' % k8s.namespace


def test_connection_failures(k8s, run_k8s, closed_port, silent_server):
    k8s.deployment('api', replicas=1)
    check_connection_failures(k8s, run_k8s, 'k8s_rollout_info', dict(namespace=k8s.namespace, name='api'), closed_port, silent_server)
