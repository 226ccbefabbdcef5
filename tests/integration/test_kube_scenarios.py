# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's Kubernetes scenario kube-bad-deploy: injected, seen by the modules, repeated, cleared."""

from __future__ import annotations

from lab.core import Lab
from lab.scenarios import get
from lab.scenarios_kube import KubeBadDeploy


def present():
    return get(Lab(), 'kube-bad-deploy').present()


def k8s(lab, args):
    return dict(args, kubeconfig=lab.vars['kubeconfig'], namespace='linkflow')


def test_kube_bad_deploy_is_a_recent_failing_revision(lab, run_module, scenario):
    scenario('kube-bad-deploy')
    assert present()
    health = run_module('k8s_pod_health', k8s(lab, {'label_selectors': ['app=linkflow-api']}))[0]
    crash = [item for item in health['findings'] if item['check'] == 'crash_loop']
    assert crash and crash[0]['status'] == 'critical', health['findings']
    rollout = run_module('k8s_rollout_info', k8s(lab, {'name': 'linkflow-api'}))[0]
    current = [rev for rev in rollout['revisions'] if rev['current']][0]
    assert current['images'] == [{'container': 'api', 'image': KubeBadDeploy.bad_image}]
    previous = [rev for rev in rollout['revisions'] if rev['revision'] < current['revision']][-1]
    assert previous['images'] == [{'container': 'api', 'image': KubeBadDeploy.healthy_image}]
    # The old pods keep serving: the rolling update stalls instead of taking the service down.
    assert rollout['state']['available'] == rollout['state']['desired']


def test_kube_bad_deploy_again_is_a_new_revision_on_the_healthy_one(lab, run_module, scenario):
    scenario('kube-bad-deploy')
    first = run_module('k8s_rollout_info', k8s(lab, {'name': 'linkflow-api'}))[0]
    scenario('kube-bad-deploy')
    assert present()
    second = run_module('k8s_rollout_info', k8s(lab, {'name': 'linkflow-api'}))[0]
    assert second['current_revision'] > first['current_revision'] + 1
    current = [rev for rev in second['revisions'] if rev['current']][0]
    assert current['name'] != [rev for rev in first['revisions'] if rev['current']][0]['name']
    previous = [rev for rev in second['revisions'] if rev['revision'] < current['revision']][-1]
    assert previous['images'] == [{'container': 'api', 'image': KubeBadDeploy.healthy_image}]


def test_kube_bad_deploy_clear_restores_the_healthy_revision(lab, run_module, scenario):
    scenario('kube-bad-deploy')
    item = get(Lab(), 'kube-bad-deploy')
    item.clear()
    assert not present()
    rollout = run_module('k8s_rollout_info', k8s(lab, {'name': 'linkflow-api'}))[0]
    assert rollout['images'] == [{'container': 'api', 'image': KubeBadDeploy.healthy_image}]
    assert rollout['state']['done'] and rollout['status'] == 'ok'
    before = rollout['current_revision']
    item.clear()
    again = run_module('k8s_rollout_info', k8s(lab, {'name': 'linkflow-api'}))[0]
    assert again['current_revision'] == before
