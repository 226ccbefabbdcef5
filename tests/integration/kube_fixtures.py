# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the kube tests (pulled in by conftest.pytest_plugins).

``k8s`` is a Kubernetes API for one test: a fresh in-process emulator (``lab.kube``) on a free
loopback port, or, when ``KUBECONFIG`` is set, that real cluster. Either way the test gets a
namespace of its own and arranges state only through the API, so the same test runs on both;
emulator-only faults (``k8s.emulator.break_pod`` ...) come after ``k8s.require_emulator()``.

    def test_rollback(k8s, run_k8s):
        k8s.deployment('api', image='registry.local/app:1.0')
        k8s.set_image('Deployment', 'api', 'registry.local/app:broken', change_cause='bad release')
        before = k8s.resource_version('Deployment', 'api')
        result, run = run_k8s('k8s_rollback', {'kind': 'Deployment', 'name': 'api', 'namespace': k8s.namespace})

``run_k8s`` runs one module through ansible-playbook with module_defaults pointing group ``k8s``
at the target's kubeconfig.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from conftest import MODULE_DEFAULTS
from lab.kube import Emulator
from lab.kube_seed import seed as seed_shapes

# Where each kind lives in the API.
KIND_PATHS = {
    'Namespace': ('/api/v1', 'namespaces'), 'Pod': ('/api/v1', 'pods'), 'Service': ('/api/v1', 'services'),
    'Endpoints': ('/api/v1', 'endpoints'), 'Event': ('/api/v1', 'events'), 'ConfigMap': ('/api/v1', 'configmaps'),
    'Deployment': ('/apis/apps/v1', 'deployments'), 'ReplicaSet': ('/apis/apps/v1', 'replicasets'),
    'StatefulSet': ('/apis/apps/v1', 'statefulsets'), 'DaemonSet': ('/apis/apps/v1', 'daemonsets'),
    'ControllerRevision': ('/apis/apps/v1', 'controllerrevisions'),
}
PATCH_TYPES = {'merge': 'application/merge-patch+json', 'strategic': 'application/strategic-merge-patch+json',
               'json': 'application/json-patch+json'}
DEFAULT_IMAGE = 'registry.local/app:1.0'


def object_path(kind, namespace=None, name=None, subresource=None):
    if kind not in KIND_PATHS:
        raise ValueError('unknown kind %r; known: %s' % (kind, ', '.join(sorted(KIND_PATHS))))
    prefix, plural = KIND_PATHS[kind]
    path = prefix + ('/namespaces/%s' % namespace if namespace and kind != 'Namespace' else '') + '/' + plural
    if name:
        path += '/' + name
    if subresource:
        path += '/' + subresource
    return path


class KubeTarget(object):
    """One test's Kubernetes API: emulated (``emulated`` True, ``emulator`` set) or a real cluster."""

    def __init__(self, tmp_path, tls=False):
        from kubernetes import client, config
        real = os.environ.get('KUBECONFIG')
        self.emulator = None
        if real:
            self.kubeconfig = real.split(os.pathsep)[0]
            self.emulated = False
        else:
            tmp_path.mkdir(parents=True, exist_ok=True)
            self.emulator = Emulator(token='t-' + uuid.uuid4().hex, state_dir=str(tmp_path / 'kube-emulator'), tls=tls).start()
            self.kubeconfig = str(tmp_path / 'kubeconfig')
            self.emulator.kubeconfig(self.kubeconfig)
            self.emulated = True
        self.api_client = config.new_client_from_config(self.kubeconfig)
        configuration = self.api_client.configuration
        self.server = configuration.host
        token = (configuration.api_key or {}).get('authorization') or (configuration.api_key or {}).get('BearerToken') or ''
        self.token = token.split(' ', 1)[1] if token.startswith('Bearer ') else (token or None)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.namespace = 'test-' + uuid.uuid4().hex[:10]
        self.namespaces = []
        self.ensure_namespace(self.namespace)

    def close(self):
        try:
            if not self.emulated:
                for namespace in self.namespaces:
                    self.request('DELETE', object_path('Namespace', name=namespace), missing_ok=True)
        finally:
            self.api_client.close()
            if self.emulator:
                self.emulator.stop()

    # --- raw access: parsed JSON through the official client's REST layer ---------------------

    def request(self, method, path, query=None, body=None, content_type=None, missing_ok=False, timeout=30):
        """One API call through the official client's REST layer; parsed JSON back, ApiException on an error status."""
        from kubernetes.client.rest import ApiException
        headers = {'Accept': 'application/json'}
        if body is not None:
            headers['Content-Type'] = content_type or 'application/json'
        serialized = self.api_client.param_serialize(method, path, query_params=list((query or {}).items()), header_params=headers,
                                                     body=body, auth_settings=['BearerToken'])
        response = self.api_client.call_api(*serialized, _request_timeout=timeout)
        data = response.read()
        if response.status >= 400:
            if missing_ok and response.status == 404:
                return None
            raise ApiException(http_resp=response)
        return json.loads(data) if data else None

    def read(self, kind, name, namespace=None, subresource=None, missing_ok=False):
        return self.request('GET', object_path(kind, namespace or self.namespace, name, subresource), missing_ok=missing_ok)

    def list(self, kind, namespace=None, selector=None, field_selector=None):
        query = {}
        if selector:
            query['labelSelector'] = selector
        if field_selector:
            query['fieldSelector'] = field_selector
        return self.request('GET', object_path(kind, namespace or self.namespace), query)['items']

    def create(self, kind, body, namespace=None):
        return self.request('POST', object_path(kind, namespace or self.namespace), body=body)

    def patch(self, kind, name, body, namespace=None, patch_type='strategic', subresource=None):
        return self.request('PATCH', object_path(kind, namespace or self.namespace, name, subresource), body=body,
                            content_type=PATCH_TYPES[patch_type])

    def delete(self, kind, name, namespace=None):
        return self.request('DELETE', object_path(kind, namespace or self.namespace, name), missing_ok=True)

    def ensure_namespace(self, name):
        if self.request('GET', object_path('Namespace', name=name), missing_ok=True) is None:
            self.request('POST', object_path('Namespace'), body={'metadata': {'name': name}})
            self.namespaces.append(name)

    # --- arranging state ----------------------------------------------------------------------------

    def _workload(self, kind, name, image, replicas, labels, namespace, containers, annotations=None):
        labels = dict(labels or {'app': name})
        containers = containers or [{'name': 'app', 'image': image}]
        spec = {'selector': {'matchLabels': labels},
                'template': {'metadata': {'labels': labels}, 'spec': {'containers': containers, 'terminationGracePeriodSeconds': 0}}}
        if replicas is not None:
            spec['replicas'] = replicas
        if kind == 'StatefulSet':
            spec['serviceName'] = name
        body = {'metadata': {'name': name, 'labels': labels}, 'spec': spec}
        if annotations:
            body['metadata']['annotations'] = annotations
        return self.create(kind, body, namespace)

    def deployment(self, name, image=DEFAULT_IMAGE, replicas=2, labels=None, namespace=None, containers=None, wait=True,
                   change_cause=None, progress_deadline=None):
        """Create a Deployment; with ``wait`` (unless its image is broken) until all its pods are ready."""
        annotations = {'kubernetes.io/change-cause': change_cause} if change_cause else None
        self._workload('Deployment', name, image, replicas, labels, namespace, containers, annotations)
        if progress_deadline is not None:
            self.patch('Deployment', name, {'spec': {'progressDeadlineSeconds': progress_deadline}}, namespace)
        return self._settled('Deployment', name, namespace, wait)

    def stateful_set(self, name, image=DEFAULT_IMAGE, replicas=1, labels=None, namespace=None, containers=None, wait=True):
        self._workload('StatefulSet', name, image, replicas, labels, namespace, containers)
        return self._settled('StatefulSet', name, namespace, wait)

    def daemon_set(self, name, image=DEFAULT_IMAGE, labels=None, namespace=None, containers=None, wait=True):
        self._workload('DaemonSet', name, image, None, labels, namespace, containers)
        return self._settled('DaemonSet', name, namespace, wait)

    def service(self, name, selector, namespace=None, port=80, target_port=8080):
        return self.create('Service', {'metadata': {'name': name, 'labels': dict(selector)},
                                       'spec': {'selector': dict(selector),
                                                'ports': [{'name': 'http', 'port': port, 'targetPort': target_port}]}}, namespace)

    def set_image(self, kind, name, image, container=None, namespace=None, change_cause=None, wait=True):
        """A new revision: the container's image changed (with a change-cause); waits for the controller to see it."""
        current = self.read(kind, name, namespace)
        container = container or current['spec']['template']['spec']['containers'][0]['name']
        patch = {'spec': {'template': {'spec': {'containers': [{'name': container, 'image': image}]}}}}
        if change_cause:
            patch['metadata'] = {'annotations': {'kubernetes.io/change-cause': change_cause}}
        self.patch(kind, name, patch, namespace)
        return self._settled(kind, name, namespace, wait and not self.broken(image))

    def broken(self, image):
        return bool(self.emulator and self.emulator.broken_marker and self.emulator.broken_marker in image)

    def _settled(self, kind, name, namespace, wait):
        """Until the controller saw the latest generation and, with ``wait``, the rollout is complete."""
        def check():
            obj = self.read(kind, name, namespace)
            status = obj.get('status') or {}
            if status.get('observedGeneration', 0) < obj['metadata'].get('generation', 1):
                return None
            if not wait or self.broken(json.dumps(obj['spec']['template'])):
                return obj
            if kind == 'DaemonSet':
                done = status.get('desiredNumberScheduled', 0) > 0 and status.get('numberReady', 0) == status['desiredNumberScheduled'] \
                    and status.get('updatedNumberScheduled', 0) == status['desiredNumberScheduled']
            else:
                desired = obj['spec'].get('replicas', 1)
                done = status.get('readyReplicas', 0) == desired and status.get('updatedReplicas', 0) == desired \
                    and status.get('replicas', 0) == desired
            return obj if done else None
        return self.wait_until(check, timeout=120, what='%s %s to be rolled out' % (kind, name))

    # --- reading -------------------------------------------------------------------------------------

    def pods(self, namespace=None, selector=None):
        return self.list('Pod', namespace, selector)

    def resource_version(self, kind, name, namespace=None):
        return self.read(kind, name, namespace)['metadata']['resourceVersion']

    def versions(self, namespace=None):
        """Every object's resourceVersion in the namespace: equal before and after means nothing changed."""
        namespace = namespace or self.namespace
        found = {}
        for kind in ('Pod', 'Service', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'ControllerRevision'):
            for item in self.list(kind, namespace):
                found['%s/%s' % (kind, item['metadata']['name'])] = item['metadata']['resourceVersion']
        return found

    def wait_until(self, predicate, timeout=30, what='', interval=0.1):
        """Poll ``predicate()`` until it is truthy (returns its value) or fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail('timed out after %ss waiting for %s' % (timeout, what or predicate))
            time.sleep(interval)

    def require_emulator(self, why='it injects faults only the emulator can'):
        if not self.emulated:
            pytest.skip('needs the Kubernetes emulator: %s' % why)
        return self.emulator

    def settle(self):
        if self.emulator:
            self.emulator.settle()

    def seed(self):
        """Both seeds' shapes: namespaces linkflow and production (on a real cluster they are created if absent)."""
        if self.emulator:
            seed_shapes(self.emulator)
        else:
            seed_shapes(_ClusterSeeder(self))
        return self


class _ClusterSeeder(object):
    """kube_seed's interface over the API, for a real cluster."""

    def __init__(self, target):
        self.target = target

    def ensure_namespace(self, name):
        self.target.ensure_namespace(name)

    def create(self, kind, namespace, body):
        if self.target.read(kind, body['metadata']['name'], namespace, missing_ok=True) is None:
            self.target.create(kind, body, namespace)

    def patch(self, kind, namespace, name, body):
        self.target.patch(kind, name, body, namespace)
        self.target._settled(kind, name, namespace, False)


@pytest.fixture
def k8s(tmp_path):
    target = KubeTarget(tmp_path)
    yield target
    target.close()


@pytest.fixture
def k8s_tls(tmp_path):
    """Like ``k8s`` but served over HTTPS with a self-signed CA (``k8s_tls.emulator.ca_file``; in the kubeconfig too)."""
    target = KubeTarget(tmp_path, tls=True)
    yield target
    target.close()


@pytest.fixture
def run_k8s(ansible, k8s):
    """Run one k8s module through ansible-playbook against ``k8s``; returns (result, AnsibleRun)."""
    defaults = dict(MODULE_DEFAULTS)
    defaults['group/oncall.runbooks.k8s'] = {'kubeconfig': k8s.kubeconfig}

    def run(name, args=None, check=False, diff=False, verbosity=0):
        task = {'name': name, 'oncall.runbooks.' + name: args or {}, 'ignore_errors': True}
        outcome = ansible([task], check=check, diff=diff, verbosity=verbosity, module_defaults=defaults)
        return outcome.result(name), outcome

    return run
