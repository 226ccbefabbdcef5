# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each Docker lab scenario: injected, seen on the engine, reported by the modules, cleared."""

from __future__ import annotations

from lab.core import Lab
from lab.scenarios import get


def present(name):
    return get(Lab(), name).present()


def finding(result, check, container):
    return [item for item in result['findings'] if item['check'] == check and item.get('container') == container]


def test_container_oom(lab, run_module, scenario):
    scenario('container-oom')
    assert present('container-oom')
    result = run_module('docker_service_info', {'project': 'linkflow', 'services': ['worker']})[0]
    assert result['status'] == 'critical'
    assert finding(result, 'oom_killed', 'linkflow-worker')[0]['message'] == \
        'linkflow-worker (worker) was OOM-killed by its memory limit 64.0 MB, exit code 137'
    logs = run_module('docker_logs', {'project': 'linkflow', 'services': ['worker'], 'patterns': ['nightly batch']})[0]
    assert logs['totals'] == {'nightly batch': 1}


def test_container_restart_loop(lab, run_module, scenario):
    scenario('container-restart-loop')
    assert present('container-restart-loop')
    result = run_module('docker_service_info', {'project': 'linkflow', 'services': ['frontend']})[0]
    assert finding(result, 'restart_loop', 'linkflow-frontend')[0]['status'] == 'critical'
    assert result['containers'][0]['restart_count'] >= 3 and result['containers'][0]['restart_policy'] == 'always'
    logs = run_module('docker_logs', {'project': 'linkflow', 'services': ['frontend'], 'patterns': ['cannot read']})[0]
    assert logs['totals']['cannot read'] >= 3
    assert {line['stream'] for line in logs['containers'][0]['lines']} == {'stderr'}


def test_container_unhealthy(lab, run_module, scenario):
    scenario('container-unhealthy')
    assert present('container-unhealthy')
    result = run_module('docker_service_info', {'project': 'linkflow'})[0]
    unhealthy = finding(result, 'unhealthy', 'linkflow-history')
    assert unhealthy and 'database connection refused' in unhealthy[0]['message']
    others = [item for item in result['findings'] if item['status'] != 'ok' and item.get('container') != 'linkflow-history']
    assert not others, others


def test_bad_deploy(lab, run_module, scenario):
    scenario('bad-deploy')
    assert present('bad-deploy')
    result = run_module('docker_service_info', {'project': 'linkflow', 'services': ['api']})[0]
    api = result['containers'][0]
    assert api['image'] == 'linkflow/api:1.1.0' and api['health'] == 'unhealthy'
    assert 'selftest FAILED' in finding(result, 'unhealthy', 'linkflow-api')[0]['message']
    labels = lab.docker.client().api.inspect_container('linkflow-api')['Config']['Labels']
    assert labels['oncall.runbooks.previous-image'] == 'linkflow/api:1.0.0'


def test_clear_restores_the_normal_containers(lab, run_module, scenario):
    item = scenario('container-oom')
    item.clear()
    assert not present('container-oom')
    result = run_module('docker_service_info', {'project': 'linkflow', 'services': ['worker']})[0]
    assert result['status'] == 'ok' and result['containers'][0]['health'] == 'healthy'
    assert result['containers'][0]['restart_policy'] == 'unless-stopped' and result['containers'][0]['image'] == 'linkflow/worker:1.0.0'
