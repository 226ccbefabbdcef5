# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab.restart_watch: restarting the lab's api container is a real fix for api-5xx and api-slow.

The faults live in the api stand-in; the watcher that the scenario starts at injection resets
them once the ``linkflow-api`` container restarts, and the scenario's check applies the same
test itself, so that ``python -m lab check`` stays truthful without the watcher.
"""

from __future__ import annotations

import time

import pytest

from lab.app_http import HttpApi
from lab.core import Lab, pid_alive, stop_pid
from lab.restart_watch import restarted
from lab.services import service_container_name


def test_restarted_compares_id_and_start():
    base = ('abc', '2026-01-01T00:00:00Z', True)
    assert not restarted(base, base)
    assert restarted(base, ('abc', '2026-01-01T00:05:00Z', True))
    assert restarted(base, ('def', '2026-01-01T00:05:00Z', True))
    # Recreated and not running yet, or gone: not back yet.
    assert not restarted(base, ('def', '', False))
    assert not restarted(base, None)
    assert not restarted(None, base)


def wait_until(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


@pytest.mark.parametrize('name', ['api-5xx', 'api-slow'])
def test_restarting_the_api_container_clears_the_fault(lab, scenario, docker_client, name):
    item = scenario(name)
    assert item.present()
    watcher = item.state['watch_pid']
    assert pid_alive(watcher)
    docker_client.containers.get(service_container_name('api')).restart(timeout=2)
    # The watcher resets the stand-in by itself: its settings are back to normal without a check.
    assert wait_until(lambda: all(HttpApi(Lab()).admin('GET', '/config')[key] == value for key, value in item.reset.items()))
    assert wait_until(lambda: not pid_alive(watcher))
    assert not item.present()


def test_check_is_truthful_without_the_watcher(lab, scenario, docker_client):
    item = scenario('api-5xx')
    stop_pid(item.state['watch_pid'])
    assert item.present()
    docker_client.containers.get(service_container_name('api')).restart(timeout=2)
    assert wait_until(lambda: docker_client.containers.get(service_container_name('api')).status == 'running')
    assert not item.present()


def test_faults_stay_without_a_restart(lab, scenario):
    item = scenario('api-5xx')
    time.sleep(1.5)
    assert item.present()
    assert HttpApi(Lab()).admin('GET', '/config')['error_percent'] == item.error_percent
