# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the docker tests (pulled in by conftest.pytest_plugins).

Tests never touch the lab's own ``linkflow`` containers (the scenarios do that, through the
``scenario`` fixture). Each test makes a Compose project of its own with ``compose_project``:
a unique project name, every container labelled ``oncall.test=<token>`` and removed at
teardown, so tests running side by side never see each other's containers.

    def test_restart(compose_project, release_image, run_module):
        image = release_image('api', '2.0.0', healthy=False)
        compose_project.add('api', image=image, healthcheck=FAST_HEALTHCHECK)
        compose_project.wait_for_health('api', 'unhealthy')
        before = compose_project.snapshot()
        result, run = run_module('docker_service_info', {'project': compose_project.name})
"""

from __future__ import annotations

import time
import uuid

import pytest

from lab.services import BASE_IMAGE, IDLE_COMMAND, build_release_image

TEST_LABEL = 'oncall.test'
PROJECT_LABEL = 'com.docker.compose.project'
SERVICE_LABEL = 'com.docker.compose.service'
# A health check that decides within seconds: every second, unhealthy after 2 failures.
FAST_HEALTHCHECK = {'test': ['CMD', '/app/selftest'], 'interval': 1000000000, 'timeout': 2000000000,
                    'retries': 2, 'start_period': 0}


def poll(condition, timeout, what, interval=0.25):
    """Wait until ``condition()`` is truthy (returns its value) or fail the test naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail('%s: not within %ss' % (what, timeout))
        time.sleep(interval)


def healthcheck(test, interval=1.0, timeout=2.0, retries=2, start_period=0.0):
    """A health check dict for ``ComposeProject.add`` (durations in seconds)."""
    command = ['CMD-SHELL', test] if isinstance(test, str) else list(test)
    return {'test': command, 'interval': int(interval * 1e9), 'timeout': int(timeout * 1e9),
            'retries': retries, 'start_period': int(start_period * 1e9)}


@pytest.fixture
def docker_client(lab):
    """A client of the lab's engine. Containers this test labels ``oncall.test=<docker_token>`` go at teardown.

    Containers labelled ``oncall.test=true`` (the older convention) also go, unless they
    belong to a test project of another test (those carry a token of their own).
    """
    client = lab.docker.client()
    yield client
    for container in client.containers.list(all=True, filters={'label': '%s=true' % TEST_LABEL}):
        container.remove(force=True)


@pytest.fixture
def docker_token():
    """The value of the ``oncall.test`` label of this test's containers."""
    return uuid.uuid4().hex[:10]


class ComposeProject(object):
    """A Compose-labelled project of this test only; its containers are removed at teardown."""

    def __init__(self, client, token):
        self.client = client
        self.token = token
        self.name = 'test-%s' % token
        self.containers = []

    def add(self, service, command=None, image=BASE_IMAGE, healthcheck=None, restart_policy=None, mem_limit=None,
            labels=None, start=True, number=None, environment=None, **kwargs):
        """Create (and start) one container of ``service``; returns the docker-py Container.

        ``command`` defaults to an idle loop when ``image`` is the bare base image, and to the
        image's own command otherwise. ``restart_policy`` is a name ('unless-stopped', 'always',
        'on-failure', 'no') or a dict for docker-py. ``healthcheck`` is a docker-py dict (see
        ``healthcheck()``); release images bring their own. More keyword arguments go to
        ``containers.create``. Names follow Compose: ``<project>-<service>-<n>``.
        """
        number = number or 1 + len([item for item in self.containers if item.labels.get(SERVICE_LABEL) == service])
        all_labels = {
            PROJECT_LABEL: self.name,
            SERVICE_LABEL: service,
            'com.docker.compose.container-number': str(number),
            'com.docker.compose.oneoff': 'False',
            TEST_LABEL: self.token,
        }
        all_labels.update(labels or {})
        if command is None and image == BASE_IMAGE:
            command = IDLE_COMMAND
        options = dict(name='%s-%s-%d' % (self.name, service, number), network_mode='none', labels=all_labels,
                       environment=environment, healthcheck=healthcheck, mem_limit=mem_limit)
        if mem_limit:
            options['memswap_limit'] = mem_limit
        if restart_policy:
            options['restart_policy'] = restart_policy if isinstance(restart_policy, dict) else {'Name': restart_policy}
        options.update(kwargs)
        container = self.client.containers.create(image, command, **options)
        self.containers.append(container)
        if start:
            container.start()
        return container

    def inspect(self, container=None):
        """Inspect JSON of one container (object, name or id), or of all of them."""
        if container is None:
            return [self.client.api.inspect_container(item.id) for item in self.list()]
        return self.client.api.inspect_container(getattr(container, 'id', container))

    def list(self, service=None):
        """The project's containers now on the engine (a module may have replaced some)."""
        labels = ['%s=%s' % (PROJECT_LABEL, self.name)]
        if service:
            labels.append('%s=%s' % (SERVICE_LABEL, service))
        return self.client.containers.list(all=True, filters={'label': labels})

    def wait_for_health(self, service=None, status='healthy', timeout=60):
        """Wait until every container (of ``service``) has this health status ('healthy', 'unhealthy', 'starting')."""
        def reached():
            states = [((attrs['State'].get('Health') or {}).get('Status')) for attrs in self.inspect_service(service)]
            return states and all(state == status for state in states)
        return poll(reached, timeout, 'containers of %s/%s %s' % (self.name, service or '*', status))

    def wait_for_state(self, predicate, service=None, timeout=60, what='state'):
        """Wait until ``predicate(inspect_json)`` holds for every container (of ``service``)."""
        seen = []

        def reached():
            found = self.inspect_service(service)
            seen[:] = [dict((key, attrs['State'].get(key)) for key in ('Status', 'ExitCode', 'OOMKilled', 'Error')) for attrs in found]
            return found and all(predicate(attrs) for attrs in found)
        try:
            return poll(reached, timeout, 'containers of %s/%s: %s' % (self.name, service or '*', what))
        except pytest.fail.Exception as exc:
            # Say what the engine showed instead, so that a failure in CI can be understood from its log.
            pytest.fail('%s; last seen: %s' % (exc, seen))

    def inspect_service(self, service=None):
        return [self.client.api.inspect_container(item.id) for item in self.list(service)]

    def snapshot(self):
        """{name: (id, status, StartedAt, image)} for check-mode comparisons: equal before and after means untouched."""
        result = {}
        for attrs in self.inspect():
            result[attrs['Name'].lstrip('/')] = (attrs['Id'], attrs['State']['Status'], attrs['State']['StartedAt'], attrs['Image'])
        return result

    def remove(self):
        for container in self.client.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, self.token)}):
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


@pytest.fixture
def compose_project(docker_client, docker_token):
    """A Compose project of this test only (``.name``, ``.add``, ``.wait_for_health``, ``.snapshot``).

    Every container it creates, and any container a module creates from them (rollbacks copy
    labels), carries ``oncall.test=<token>`` and is removed at teardown.
    """
    project = ComposeProject(docker_client, docker_token)
    yield project
    project.remove()


@pytest.fixture
def release_image(docker_client):
    """``release_image(service, version, healthy=True)`` -> tag ``linkflow-test/<service>:<version>``.

    Built from the lab's busybox with a passing or failing ``/app/selftest`` and a HEALTHCHECK
    (every 3s, 2 retries) that runs it. Building again the same tag is cheap (cached layers).
    Images are shared between tests and not removed: a tag means one content, so use different
    versions for a passing and a failing release (e.g. 2.0.0 healthy, 2.0.1-broken failing).
    """
    def build(service, version, healthy=True, interval='3s'):
        return build_release_image(docker_client, 'linkflow-test/%s' % service, version, healthy=healthy, interval=interval)
    return build
