# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_rollback through ansible-playbook, against the Kubernetes emulator (or KUBECONFIG's cluster)."""

from __future__ import annotations

from kube_rollout_helpers import check_connection_failures, image, revisions

API = 'registry.local/api:%s'


def history(k8s, name='api'):
    """Revisions 1, 2, 3 with images 1.0, 1.1, 1.2."""
    k8s.deployment(name, image=API % '1.0', replicas=2, change_cause='release 1.0')
    k8s.set_image('Deployment', name, API % '1.1', change_cause='release 1.1')
    k8s.set_image('Deployment', name, API % '1.2', change_cause='release 1.2')
    assert revisions(k8s, 'Deployment', name) == {1: API % '1.0', 2: API % '1.1', 3: API % '1.2'}


def test_previous_after_a_rollback_is_the_highest_lower_revision_then_to_revision(k8s, run_k8s):
    history(k8s)
    result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', wait_timeout='60s'))[0]
    assert result.get('failed') is not True, result
    assert result['changed'] is True and (result['from_revision'], result['to_revision']) == (3, 2)
    assert result['images_before'] == [{'container': 'app', 'image': API % '1.2'}]
    assert result['images_after'] == [{'container': 'app', 'image': API % '1.1'}]
    assert result['revisions'] == [1, 2, 3] and result['change_cause'] == 'release 1.1'
    assert result['state']['done'] and result['state']['observed'], result['state']
    [action] = result['actions']
    assert action['done'] is True and action['action'] == 'rollback' and action['target'] == 'Deployment %s/api' % k8s.namespace
    assert result['summary'].startswith('rolled back Deployment %s/api from revision 3 to 2 (app %s); rollout complete in ' % (
        k8s.namespace, API % '1.1')), result['summary']
    assert image(k8s, 'Deployment', 'api') == API % '1.1'
    assert k8s.read('Deployment', 'api')['metadata']['annotations']['kubernetes.io/change-cause'] == 'release 1.1'
    # Revision 2 became 4: the history now has a gap, and "previous" is 3, the highest below 4.
    assert revisions(k8s, 'Deployment', 'api') == {1: API % '1.0', 3: API % '1.2', 4: API % '1.1'}

    again = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', wait_timeout='60s'))[0]
    assert again.get('failed') is not True, again
    assert (again['from_revision'], again['to_revision']) == (4, 3) and again['revisions'] == [1, 3, 4]
    assert image(k8s, 'Deployment', 'api') == API % '1.2'
    assert revisions(k8s, 'Deployment', 'api') == {1: API % '1.0', 4: API % '1.1', 5: API % '1.2'}

    first = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', to_revision=1, wait_timeout='60s'))[0]
    assert first.get('failed') is not True, first
    assert (first['from_revision'], first['to_revision']) == (5, 1) and first['state']['done']
    assert image(k8s, 'Deployment', 'api') == API % '1.0'


def test_unknown_revision_lists_those_that_exist_and_changes_nothing(k8s, run_k8s):
    history(k8s)
    before = k8s.versions()
    result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', to_revision=7))[0]
    assert result['failed'] is True
    assert result['msg'] == 'to_revision: revision 7 of Deployment %s/api does not exist; its revisions are 1, 2, 3' % k8s.namespace
    assert k8s.versions() == before


def test_already_on_the_target_revision_changes_nothing(k8s, run_k8s):
    history(k8s)
    before = k8s.resource_version('Deployment', 'api')
    result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', to_revision=3))[0]
    assert result.get('failed') is not True, result
    assert result['changed'] is False and result['actions'] == []
    assert (result['from_revision'], result['to_revision']) == (3, 3)
    assert 'already on revision 3' in result['summary'] and 'nothing to roll back' in result['summary']
    assert k8s.resource_version('Deployment', 'api') == before


def test_check_mode_patches_nothing_and_reports_the_same_with_diff(k8s, run_k8s):
    history(k8s)
    before = k8s.versions()
    result, run = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api'), check=True, diff=True, verbosity=3)
    assert result.get('failed') is not True, result
    assert k8s.versions() == before, 'check mode patched something'
    assert result['changed'] is True and (result['from_revision'], result['to_revision']) == (3, 2)
    assert result['actions'][0]['done'] is False
    assert result['resource_version'] == before['Deployment/api']
    assert result['summary'] == 'would roll back Deployment %s/api from revision 3 to 2 (app %s -> app %s)' % (
        k8s.namespace, API % '1.2', API % '1.1')
    diff = result['diff']
    assert diff['before']['images'] == {'app': API % '1.2'} and diff['after']['images'] == {'app': API % '1.1'}
    assert diff['before']['template']['spec']['containers'][0]['image'] == API % '1.2'
    assert 'pod-template-hash' not in diff['after']['template']['metadata']['labels']
    assert API % '1.1' in run.stdout, 'the diff is shown'
    # The real run does what check mode said.
    real = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', wait_timeout='60s'))[0]
    assert (real['from_revision'], real['to_revision'], real['images_after']) == (3, 2, result['images_after'])


def test_stalled_rollout_is_rolled_back_and_waited_for(k8s, run_k8s):
    k8s.require_emulator('only the emulator crash-loops images marked broken')
    k8s.deployment('api', image=API % '1.0', replicas=2, progress_deadline=1, change_cause='good')
    k8s.set_image('Deployment', 'api', API % 'broken', change_cause='bad release')

    def stalled():
        conditions = (k8s.read('Deployment', 'api').get('status') or {}).get('conditions') or []
        return any(c['type'] == 'Progressing' and c['reason'] == 'ProgressDeadlineExceeded' for c in conditions)
    k8s.wait_until(stalled, timeout=60, what='the progress deadline to pass')
    result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', wait_timeout='60s'))[0]
    assert result.get('failed') is not True, result
    assert (result['from_revision'], result['to_revision']) == (2, 1)
    assert result['state']['done'] and not result['state']['stalled'] and result['state']['ready'] == 2
    pods = k8s.pods(selector='app=api')
    assert pods and all(pod['spec']['containers'][0]['image'] == API % '1.0' for pod in pods if not pod['metadata'].get('deletionTimestamp'))


def test_rollback_that_stalls_fails_with_its_state(k8s, run_k8s):
    k8s.require_emulator('only the emulator crash-loops images marked broken')
    k8s.deployment('api', image=API % 'broken-1', replicas=1, progress_deadline=1, wait=False)
    k8s.set_image('Deployment', 'api', API % '2.0')
    result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', wait_timeout='30s'))[0]
    assert result['failed'] is True and result['to_revision'] == 1
    assert 'rolled back Deployment %s/api to revision 1, but the rollout is' % k8s.namespace in result['msg'], result['msg']
    assert '\n' not in result['msg']


def test_statefulset_and_daemonset_roll_back_through_controller_revisions(k8s, run_k8s):
    k8s.stateful_set('db', image='registry.local/db:1', replicas=2)
    k8s.set_image('StatefulSet', 'db', 'registry.local/db:2')
    k8s.daemon_set('agent', image='registry.local/agent:1')
    k8s.set_image('DaemonSet', 'agent', 'registry.local/agent:2')
    for kind, name, prefix in (('StatefulSet', 'db', 'registry.local/db:'), ('DaemonSet', 'agent', 'registry.local/agent:')):
        before = k8s.resource_version(kind, name)
        check = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, kind=kind, name=name), check=True)[0]
        assert check.get('failed') is not True, check
        assert (check['from_revision'], check['to_revision']) == (2, 1) and k8s.resource_version(kind, name) == before
        result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, kind=kind, name=name, wait_timeout='60s'))[0]
        assert result.get('failed') is not True, result
        assert (result['from_revision'], result['to_revision']) == (2, 1) and result['changed'] is True
        assert result['state']['done'], result['state']
        assert image(k8s, kind, name) == prefix + '1'
        assert revisions(k8s, kind, name) == {2: prefix + '2', 3: prefix + '1'}
        again = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, kind=kind, name=name, to_revision=3))[0]
        assert again['changed'] is False, again


def test_a_workload_changed_meanwhile_is_not_overwritten(k8s, run_k8s):
    emulator = k8s.require_emulator('it answers 409 on demand')
    history(k8s)
    emulator.fail('PATCH', r'/deployments/api$', 409)
    result = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api'))[0]
    emulator.clear_faults()
    assert result['failed'] is True and '\n' not in result['msg']
    assert 'changed while rolling back' in result['msg'] and 'nothing was patched, run again' in result['msg'], result['msg']
    assert image(k8s, 'Deployment', 'api') == API % '1.2'


def test_bad_input_fails_before_anything(k8s, run_k8s):
    history(k8s)
    before = k8s.versions()
    missing = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='nope'))[0]
    assert missing['failed'] is True and missing['msg'] == 'Deployment %s/nope not found' % k8s.namespace
    negative = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', to_revision=-1))[0]
    assert negative['failed'] is True and negative['msg'].startswith('to_revision: -1 is negative')
    kind = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api', kind='CronJob'))[0]
    assert kind['failed'] is True and 'kind' in kind['msg'] and 'Deployment, StatefulSet, DaemonSet' in kind['msg']
    assert k8s.versions() == before
    k8s.patch('Deployment', 'api', {'spec': {'paused': True}})
    paused_version = k8s.resource_version('Deployment', 'api')
    paused = run_k8s('k8s_rollback', dict(namespace=k8s.namespace, name='api'))[0]
    assert paused['failed'] is True and paused['msg'] == 'Deployment %s/api is paused; resume it before rolling back (kubectl rollout resume)' % k8s.namespace
    assert k8s.resource_version('Deployment', 'api') == paused_version


def test_connection_failures(k8s, run_k8s, closed_port, silent_server):
    k8s.deployment('api', replicas=1)
    check_connection_failures(k8s, run_k8s, 'k8s_rollback', dict(namespace=k8s.namespace, name='api'), closed_port, silent_server)


def test_the_runbook_rollback_of_linkflow_api(k8s, run_k8s):
    """The seed's "kubectl rollout history deployment/linkflow-api", then "rollout undo"."""
    k8s.seed()
    info = run_k8s('k8s_rollout_info', dict(namespace='linkflow', name='linkflow-api'))[0]
    assert info.get('failed') is not True, info
    assert [(entry['revision'], entry['images'][0]['image'], entry['change_cause']) for entry in info['revisions']] == [
        (1, 'registry.local/linkflow/api:1.4.0', 'deploy 1.4.0'),
        (2, 'registry.local/linkflow/api:1.5.0', 'deploy 1.5.0: webhook retries'),
        (3, 'registry.local/linkflow/api:1.5.1', 'deploy 1.5.1: fix retry storm')]
    assert info['current_revision'] == 3
    result = run_k8s('k8s_rollback', dict(namespace='linkflow', name='linkflow-api', wait_timeout='60s'))[0]
    assert result.get('failed') is not True, result
    assert (result['from_revision'], result['to_revision'], result['change_cause']) == (3, 2, 'deploy 1.5.0: webhook retries')
    assert result['images_after'] == [{'container': 'api', 'image': 'registry.local/linkflow/api:1.5.0'}]
    assert result['state']['done'] and result['state']['ready'] == 3
