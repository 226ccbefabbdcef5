# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An emulated Kubernetes API server on loopback, for the collection's k8s modules and their tests.

The official ``kubernetes`` client reaches it over a real socket: real paths, real JSON shapes,
Status errors, bearer-token auth, paging, selectors, patches, subresources (scale, status, log,
exec over websocket, eviction), events and metrics.k8s.io. Controllers (``kube_controllers``)
turn Deployments, StatefulSets and DaemonSets into pods the way the real ones do for the fields
the modules read. Faults (broken pods, failing or hanging paths, 403s) are methods of ``Emulator``.

Built on the standard library's ThreadingHTTPServer: it starts in milliseconds inside a test
process, needs no event loop, and the one thing it lacks (websockets for exec) is a page of code.

Run it: ``python -m lab.kube serve --port 8443 --token T --state-dir DIR``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .kube_controllers import NODES, Controllers
from .kube_model import BY_KIND, BY_PATH, RESOURCES, ApiError, Store, apply_patch, now_iso

BROKEN_MARKER = ':broken'
WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
# Restart counts a fault adds, like a pod that has been failing for a while.
FAULT_RESTARTS = {'crashloop': 5, 'oom': 1}
WAITING = {
    'crashloop': 'CrashLoopBackOff',
    'image_pull': 'ImagePullBackOff',
    'config': 'CreateContainerConfigError',
    'creating': 'ContainerCreating',
}
FAULT_REASONS = ('crashloop', 'oom', 'unready', 'image_pull', 'config')
VERSION = {'major': '1', 'minor': '30', 'gitVersion': 'v1.30.0-oncall-emulator', 'gitCommit': 'emulated', 'gitTreeState': 'clean',
           'buildDate': '2026-01-01T00:00:00Z', 'goVersion': 'go1.22', 'compiler': 'gc', 'platform': 'linux/amd64'}


def cpu_quantity(value):
    """metrics-server reports CPU in nanocores and memory in KiB; strings pass as they are."""
    if isinstance(value, str):
        return value
    return '%dn' % int(round(float(value) * 1e9))


def memory_quantity(value):
    if isinstance(value, str):
        return value
    return '%dKi' % (int(value) // 1024)


class Emulator(object):
    """The emulated API server: store, controllers, faults, logs, metrics and the HTTP listener."""

    def __init__(self, token='emulator-token', host='127.0.0.1', port=0, state_dir=None, broken_marker=BROKEN_MARKER,
                 start_delay=0.0, tick=0.5, tls=False):
        self.token = token
        self.store = Store()
        self.controllers = Controllers(self)
        self.broken_marker = broken_marker
        self.start_delay = start_delay
        self.tick_interval = tick
        self.faults = {}
        self.started = set()
        self.born = {}
        self.logs = {}
        self.usage = {}
        self.failures = []
        self.forbidden = []
        self.requests = deque(maxlen=20000)
        self.unhang = threading.Event()
        self.stopping = threading.Event()
        self.ip_counter = 0
        self.state_dir = state_dir or tempfile.mkdtemp(prefix='kube-emulator-')
        self.server = Server((host, port), Handler)
        self.ca_pem = self.ca_file = None
        if tls:
            os.makedirs(self.state_dir, exist_ok=True)
            self.ca_file, key_file, self.ca_pem = self_signed_certificate(self.state_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_file, key_file)
            self.server.ssl_context = context
        self.server.emulator = self
        self.host, self.port = self.server.server_address[:2]
        self.threads = []
        with self.lock:
            for name in ('default', 'kube-system', 'kube-public'):
                self.store.create(BY_KIND['Namespace'], None, {'metadata': {'name': name}})
            for index, name in enumerate(NODES):
                self.store.create(BY_KIND['Node'], None, node_object(name, index))

    @property
    def lock(self):
        return self.store.lock

    @property
    def server_url(self):
        return '%s://%s:%d' % ('https' if self.ca_pem else 'http', self.host, self.port)

    # --- lifecycle -------------------------------------------------------------------

    def start(self):
        # A short poll interval: stop() waits for it, once per test.
        for target in (lambda: self.server.serve_forever(poll_interval=0.05), self.ticker):
            thread = threading.Thread(target=target, daemon=True, name='kube-emulator')
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self):
        self.stopping.set()
        self.unhang.set()
        self.server.shutdown()
        self.server.server_close()

    def ticker(self):
        """Time-based work: pods that finish starting, deployments that pass their progress deadline."""
        while not self.stopping.wait(self.tick_interval):
            with self.lock:
                if self.time_pending():
                    self.controllers.settle()

    def time_pending(self):
        if self.start_delay and len(self.started) < len(self.store.objects['pods']):
            return True
        for deployment in self.store.all(BY_KIND['Deployment']):
            for condition in (deployment.get('status') or {}).get('conditions') or []:
                if condition['type'] == 'Progressing' and condition['reason'] == 'ReplicaSetUpdated':
                    return True
        return False

    def settle(self):
        with self.lock:
            return self.controllers.settle()

    def kubeconfig(self, path=None, namespace='default'):
        """A kubeconfig for this server and token (written to ``path`` with mode 0600 when given)."""
        return write_kubeconfig(self.server_url, self.token, path, namespace, ca_pem=self.ca_pem)

    # --- object access for tests -------------------------------------------------------

    def get(self, kind, namespace, name):
        with self.lock:
            return copy.deepcopy(self.store.get(BY_KIND[kind], namespace, name))

    def list(self, kind, namespace=None, label_selector=None):
        with self.lock:
            items, unused = self.store.list(BY_KIND[kind], namespace, label_selector)
            return copy.deepcopy(items)

    def create(self, kind, namespace, body):
        with self.lock:
            obj = self.store.create(BY_KIND[kind], namespace, body)
            self.controllers.settle()
            return copy.deepcopy(obj)

    def patch(self, kind, namespace, name, body, patch_type='strategic'):
        """Patch in-process, like a client would (``patch_type`` merge, strategic or json)."""
        content_type = {'merge': 'application/merge-patch+json', 'strategic': 'application/strategic-merge-patch+json',
                        'json': 'application/json-patch+json'}[patch_type]
        resource = BY_KIND[kind]
        with self.lock:
            current = self.store.get(resource, namespace, name)
            new = self.store.replace(resource, current, apply_patch(current, json.dumps(body).encode(), content_type))
            self.controllers.settle()
            return copy.deepcopy(new)

    def delete(self, kind, namespace, name):
        with self.lock:
            gone = self.store.delete(BY_KIND[kind], namespace, name)
            self.controllers.settle()
            return gone

    def ensure_namespace(self, name):
        with self.lock:
            if not self.store.find(BY_KIND['Namespace'], '', name):
                self.store.create(BY_KIND['Namespace'], None, {'metadata': {'name': name}})

    def pod(self, namespace, name):
        return self.store.get(BY_KIND['Pod'], namespace, name)

    # --- faults and controls ------------------------------------------------------------

    def break_pod(self, namespace, name, reason='crashloop', container=None):
        """Make a pod unhealthy: crashloop, oom, unready, image_pull or config (one container or all)."""
        if reason not in FAULT_REASONS:
            raise ValueError('reason must be one of %s, not %r' % (', '.join(FAULT_REASONS), reason))
        with self.lock:
            pod = self.pod(namespace, name)
            self.faults[pod['metadata']['uid']] = (reason, container)
            self.started.add(pod['metadata']['uid'])
            self.apply_fault(pod, record=True, transition=True)
            self.controllers.settle()

    def heal_pod(self, namespace, name):
        with self.lock:
            pod = self.pod(namespace, name)
            self.faults[pod['metadata']['uid']] = (None, None)
            self.apply_fault(pod, record=False, transition=True)
            self.controllers.settle()

    def append_log(self, namespace, pod, container, lines, previous=False, age=0.0):
        """Add lines to a container's log (``previous``: the log of its last terminated instance), ``age`` seconds ago."""
        if isinstance(lines, str):
            lines = lines.splitlines()
        with self.lock:
            obj = self.pod(namespace, pod)
            container = container or obj['spec']['containers'][0]['name']
            entries = self.logs.setdefault((obj['metadata']['uid'], container, bool(previous)), [])
            stamp = time.time() - age
            for offset, line in enumerate(lines):
                entries.append((stamp + offset * 1e-6, line))
            entries.sort(key=lambda entry: entry[0])

    def set_usage(self, namespace, pod, container, cpu, memory):
        """CPU (cores as a number, or a quantity like '250m') and memory (bytes, or '300Mi') the metrics API reports."""
        with self.lock:
            obj = self.pod(namespace, pod)
            container = container or obj['spec']['containers'][0]['name']
            self.usage[(obj['metadata']['uid'], container)] = (cpu_quantity(cpu), memory_quantity(memory))

    def add_event(self, namespace, involved_kind, involved_name, reason, message, type='Warning', count=1, age=0.0,
                  component='kubelet'):
        with self.lock:
            resource = BY_KIND.get(involved_kind)
            target = self.store.find(resource, namespace, involved_name) if resource else None
            involved = target or {'kind': involved_kind, 'apiVersion': resource.api_version if resource else 'v1',
                                  'metadata': {'name': involved_name, 'namespace': namespace}}
            return copy.deepcopy(self.record(namespace, involved, reason, message, type, component, count=count, age=age))

    def record(self, namespace, involved, reason, message, type='Warning', component='kubelet', count=1, age=0.0):
        """An Event about an object; the same reason and message again bumps the count, as the real recorder does."""
        meta = involved['metadata']
        events = BY_KIND['Event']
        stamp = now_iso(-age)
        for event in self.store.all(events, namespace):
            ref = event['involvedObject']
            if ref.get('name') == meta['name'] and ref.get('uid') == meta.get('uid') and event['reason'] == reason \
                    and event['message'] == message and ref.get('kind') == involved['kind']:
                new = copy.deepcopy(event)
                new['count'] = event.get('count', 1) + count
                new['lastTimestamp'] = stamp
                return self.store.replace(events, event, new, part='controller')
        node = (involved.get('spec') or {}).get('nodeName')
        ref = {'kind': involved['kind'], 'namespace': namespace, 'name': meta['name'], 'apiVersion': involved.get('apiVersion', 'v1')}
        if meta.get('uid'):
            ref.update(uid=meta['uid'], resourceVersion=meta.get('resourceVersion'))
        if involved['kind'] == 'Pod' and involved.get('spec'):
            ref['fieldPath'] = 'spec.containers{%s}' % involved['spec']['containers'][0]['name']
        source = {'component': component}
        if node and component == 'kubelet':
            source['host'] = node
        return self.store.create(events, namespace, {
            'metadata': {'name': '%s.%s' % (meta['name'], uuid.uuid4().hex[:16])}, 'involvedObject': ref, 'reason': reason,
            'message': message, 'source': source, 'firstTimestamp': stamp, 'lastTimestamp': stamp, 'count': count, 'type': type,
            'eventTime': None, 'reportingComponent': component, 'reportingInstance': node or ''})

    def add_pods(self, namespace, count, labels=None, broken_every=0, prefix='bulk', image='registry.local/bulk:1.0', resources=None):
        """Many bare pods at once (for benchmarks): every ``broken_every``-th one crash-loops."""
        labels = dict(labels or {'app': prefix})
        resources = resources or {'requests': {'cpu': '100m', 'memory': '128Mi'}, 'limits': {'memory': '256Mi'}}
        pods = BY_KIND['Pod']
        with self.lock:
            self.ensure_namespace(namespace)
            start = len(self.store.objects['pods'])
            names = []
            for index in range(count):
                name = '%s-%05d-%s' % (prefix, start + index, uuid.uuid4().hex[:5])
                pod = self.store.create(pods, namespace, {
                    'metadata': {'name': name, 'labels': labels},
                    'spec': {'nodeName': NODES[index % len(NODES)],
                             'containers': [{'name': 'app', 'image': image, 'resources': copy.deepcopy(resources)}]}})
                if broken_every and (index + 1) % broken_every == 0:
                    self.faults[pod['metadata']['uid']] = ('crashloop', None)
                names.append(name)
            self.controllers.settle()
            return names

    def fail(self, method, path_regex, status):
        """Answer requests (``method`` or None for any) whose path and query match with ``status``: an HTTP code or 'hang'."""
        with self.lock:
            self.unhang.clear()
            self.failures.append(((method or '').upper() or None, re.compile(path_regex), status))

    def forbid(self, path_regex):
        with self.lock:
            self.forbidden.append(re.compile(path_regex))

    def clear_faults(self):
        with self.lock:
            self.failures = []
            self.forbidden = []
            self.unhang.set()

    # --- the kubelet's view of a pod ------------------------------------------------------

    def image_fault(self, pod):
        for container in pod['spec'].get('containers') or []:
            if self.broken_marker and self.broken_marker in container.get('image', ''):
                return ('crashloop', container['name'])
        return None

    def container_fault(self, pod, container):
        uid = pod['metadata']['uid']
        reason, target = self.faults.get(uid) or (None, None)
        if reason and (target is None or target == container['name']):
            return reason
        if uid not in self.faults and self.broken_marker and self.broken_marker in container.get('image', ''):
            return 'crashloop'
        return None

    def next_ip(self):
        self.ip_counter += 1
        return '10.244.%d.%d' % (self.ip_counter // 250, self.ip_counter % 250 + 2)

    def apply_fault(self, pod, record=False, transition=False):
        status = self.pod_status(pod, None, transition=transition)
        new = copy.deepcopy(pod)
        new['status'] = status
        self.store.replace(BY_KIND['Pod'], pod, new, part='controller')
        if record:
            for container in pod['spec']['containers']:
                self.record_fault(new, container, self.container_fault(pod, container))

    def record_fault(self, pod, container, reason):
        namespace, name, uid = pod['metadata']['namespace'], pod['metadata']['name'], pod['metadata']['uid']
        if reason == 'crashloop':
            self.record(namespace, pod, 'BackOff', 'Back-off restarting failed container %s in pod %s_%s(%s)'
                        % (container['name'], name, namespace, uid))
        elif reason == 'unready':
            self.record(namespace, pod, 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503')
        elif reason == 'image_pull':
            self.record(namespace, pod, 'Failed', 'Error: ImagePullBackOff')
            self.record(namespace, pod, 'BackOff', 'Back-off pulling image "%s"' % container['image'], type='Normal')
        elif reason == 'config':
            self.record(namespace, pod, 'Failed', 'Error: configmap "%s-config" not found' % container['name'])

    def pod_status(self, pod, forced=None, transition=False):
        """The status a kubelet would report for this pod, its faults and its restart history."""
        old = pod.get('status') or {}
        now = now_iso()
        uid = pod['metadata']['uid']
        previous = dict((c['name'], c) for c in old.get('containerStatuses') or [])
        statuses = []
        for container in pod['spec']['containers']:
            name = container['name']
            reason = forced or self.container_fault(pod, container)
            before = previous.get(name) or {}
            restarts = before.get('restartCount', 0)
            if reason in FAULT_RESTARTS and (transition or not before):
                restarts += FAULT_RESTARTS[reason]
            container_id = 'containerd://' + hashlib.sha256(('%s/%s/%d' % (uid, name, restarts)).encode()).hexdigest()
            image_id = '%s@sha256:%s' % (container['image'].split(':')[0], hashlib.sha256(container['image'].encode()).hexdigest())
            entry = {'name': name, 'image': container['image'], 'imageID': image_id, 'containerID': container_id,
                     'restartCount': restarts, 'ready': True, 'started': True,
                     'state': {'running': {'startedAt': now}}, 'lastState': copy.deepcopy(before.get('lastState') or {})}
            terminated = {'exitCode': 1, 'reason': 'Error', 'startedAt': now_iso(-60), 'finishedAt': now_iso(-30),
                          'containerID': 'containerd://' + hashlib.sha256(('%s/%s/%d' % (uid, name, restarts - 1)).encode()).hexdigest()}
            if reason in WAITING:
                entry.update(ready=False, started=False)
                message = {
                    'crashloop': 'back-off 5m0s restarting failed container=%s pod=%s_%s(%s)' % (
                        name, pod['metadata']['name'], pod['metadata']['namespace'], uid),
                    'image_pull': 'Back-off pulling image "%s"' % container['image'],
                    'config': 'configmap "%s-config" not found' % name,
                }.get(reason)
                entry['state'] = {'waiting': dict({'reason': WAITING[reason]}, **({'message': message} if message else {}))}
                if reason == 'crashloop':
                    entry['lastState'] = {'terminated': terminated}
                else:
                    entry.pop('containerID')
                    entry['imageID'] = ''
            elif reason == 'oom':
                entry['lastState'] = {'terminated': dict(terminated, exitCode=137, reason='OOMKilled')}
            elif reason == 'unready':
                entry['ready'] = False
            if 'running' in entry['state'] and 'running' in before.get('state', {}) and not transition:
                entry['state'] = copy.deepcopy(before['state'])
            statuses.append(entry)
        never_started = all('waiting' in s['state'] and s['state']['waiting']['reason'] != 'CrashLoopBackOff' for s in statuses)
        phase = 'Pending' if never_started else 'Running'
        ready = all(s['ready'] for s in statuses)
        unready = [s['name'] for s in statuses if not s['ready']]
        conditions = []
        old_conditions = dict((c['type'], c) for c in old.get('conditions') or [])
        for kind, state in (('PodReadyToStartContainers', not (forced == 'creating')), ('Initialized', True), ('Ready', ready),
                            ('ContainersReady', ready), ('PodScheduled', True)):
            condition = {'type': kind, 'status': 'True' if state else 'False', 'lastProbeTime': None}
            before = old_conditions.get(kind) or {}
            condition['lastTransitionTime'] = before['lastTransitionTime'] if before.get('status') == condition['status'] else now
            if not state and kind in ('Ready', 'ContainersReady'):
                condition.update(reason='ContainersNotReady', message='containers with unready status: [%s]' % ' '.join(unready))
            conditions.append(condition)
        status = {'phase': phase, 'conditions': conditions, 'hostIP': node_ip(pod['spec'].get('nodeName')),
                  'podIP': old.get('podIP') or self.next_ip(), 'startTime': old.get('startTime') or now,
                  'containerStatuses': statuses, 'qosClass': qos_class(pod)}
        status['podIPs'] = [{'ip': status['podIP']}]
        status['hostIPs'] = [{'ip': status['hostIP']}]
        return status

    # --- logs and metrics ----------------------------------------------------------------------

    def read_log(self, namespace, name, query):
        pod = self.pod(namespace, name)
        containers = [c['name'] for c in pod['spec']['containers']]
        every = containers + [c['name'] for c in pod['spec'].get('initContainers') or []]
        container = first(query, 'container')
        if not container:
            if len(containers) > 1:
                raise ApiError(400, 'a container name must be specified for pod %s, choose one of: [%s]' % (name, ' '.join(containers)))
            container = containers[0]
        elif container not in every:
            raise ApiError(400, 'container %s is not valid for pod %s' % (container, name))
        previous = flag(query, 'previous')
        state = next((s for s in (pod.get('status') or {}).get('containerStatuses') or [] if s['name'] == container), {})
        key = (pod['metadata']['uid'], container, previous)
        if previous and key not in self.logs and not state.get('restartCount'):
            raise ApiError(400, 'previous terminated container "%s" in pod "%s" not found' % (container, name))
        waiting = (state.get('state') or {}).get('waiting') or {}
        if not previous and waiting.get('reason') in ('ContainerCreating', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError'):
            raise ApiError(400, 'container "%s" in pod "%s" is waiting to start: %s' % (
                container, name, 'trying and failing to pull image' if 'Image' in waiting['reason'] else waiting['reason']))
        entries = list(self.logs.get(key, []))
        since = integer(query, 'sinceSeconds')
        if since is not None:
            entries = [e for e in entries if e[0] >= time.time() - since]
        tail = integer(query, 'tailLines')
        if tail is not None:
            entries = entries[-tail:] if tail > 0 else []
        stamps = flag(query, 'timestamps')
        text = ''.join('%s%s\n' % ((rfc3339nano(stamp) + ' ') if stamps else '', line) for stamp, line in entries).encode()
        limit = integer(query, 'limitBytes')
        if limit is not None:
            if limit <= 0:
                raise ApiError(422, 'Invalid value: %d: must be greater than 0' % limit)
            text = text[:limit]
        return text

    def pod_metrics(self, pod):
        status = pod.get('status') or {}
        if status.get('phase') != 'Running':
            return None
        containers = []
        for container in status.get('containerStatuses') or []:
            if 'running' not in container.get('state', {}):
                continue
            cpu, memory = self.usage.get((pod['metadata']['uid'], container['name']), ('1500000n', '24576Ki'))
            containers.append({'name': container['name'], 'usage': {'cpu': cpu, 'memory': memory}})
        return {'kind': 'PodMetrics', 'apiVersion': 'metrics.k8s.io/v1beta1',
                'metadata': {'name': pod['metadata']['name'], 'namespace': pod['metadata']['namespace'],
                             'creationTimestamp': now_iso(), 'labels': pod['metadata'].get('labels') or {}},
                'timestamp': now_iso(-15), 'window': '30s', 'containers': containers}


def write_kubeconfig(server, token, path=None, namespace='default', ca_pem=None):
    """A kubeconfig (JSON is YAML) with a bearer token (and the CA for TLS): written 0600 when ``path`` is given."""
    config = {
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'emulator', 'preferences': {},
        'clusters': [{'name': 'emulator', 'cluster': {'server': server}}],
        'users': [{'name': 'emulator', 'user': {'token': token}}],
        'contexts': [{'name': 'emulator', 'context': {'cluster': 'emulator', 'user': 'emulator', 'namespace': namespace}}],
    }
    if ca_pem:
        config['clusters'][0]['cluster']['certificate-authority-data'] = base64.b64encode(ca_pem).decode()
    if path:
        descriptor = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, 'w') as handle:
            json.dump(config, handle, indent=2)
        os.chmod(str(path), 0o600)
    return config


def node_object(name, index):
    return {'metadata': {'name': name, 'labels': {'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux'}},
            'spec': {'podCIDR': '10.244.%d.0/24' % index},
            'status': {'conditions': [{'type': 'Ready', 'status': 'True', 'reason': 'KubeletReady', 'message': 'kubelet is posting ready status'}],
                       'addresses': [{'type': 'InternalIP', 'address': node_ip(name)}, {'type': 'Hostname', 'address': name}],
                       'capacity': {'cpu': '4', 'memory': '16318104Ki', 'pods': '110'},
                       'allocatable': {'cpu': '4', 'memory': '16215704Ki', 'pods': '110'},
                       'nodeInfo': {'kubeletVersion': VERSION['gitVersion'], 'containerRuntimeVersion': 'containerd://1.7.0',
                                    'operatingSystem': 'linux', 'architecture': 'amd64'}}}


def node_ip(name):
    return '10.0.0.%d' % (11 + NODES.index(name)) if name in NODES else '10.0.0.10'


def qos_class(pod):
    resources = [c.get('resources') or {} for c in pod['spec']['containers']]
    if not any(r.get('requests') or r.get('limits') for r in resources):
        return 'BestEffort'
    guaranteed = all((r.get('limits') or {}).get(k) and (r.get('requests') or r.get('limits')).get(k) == r['limits'][k]
                     for r in resources for k in ('cpu', 'memory'))
    return 'Guaranteed' if guaranteed else 'Burstable'


def rfc3339nano(stamp):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(stamp)) + ('.%09dZ' % int((stamp % 1) * 1e9))


def first(query, name, default=None):
    values = query.get(name)
    return values[0] if values else default


def flag(query, name):
    return first(query, name, 'false').lower() in ('true', '1', 'yes')


def integer(query, name):
    value = first(query, name)
    if value is None or value == '':
        return None
    try:
        return int(value)
    except ValueError as error:
        raise ApiError(400, 'invalid value for %s: %r' % (name, value)) from error


# --- discovery ------------------------------------------------------------------------------

EXTRA_SUBRESOURCES = {
    'pods': ('status', 'log', 'exec', 'eviction'), 'deployments': ('status', 'scale'), 'replicasets': ('status', 'scale'),
    'statefulsets': ('status', 'scale'), 'daemonsets': ('status',), 'namespaces': ('status',), 'services': ('status',),
    'nodes': ('status',),
}
SUBRESOURCE_KINDS = {'scale': ('autoscaling', 'v1', 'Scale'), 'eviction': ('policy', 'v1', 'Eviction'), 'exec': ('', 'v1', 'PodExecOptions'),
                     'log': ('', 'v1', 'Pod')}


def resource_list(group, version):
    resources = []
    for resource in RESOURCES:
        if resource.group == group and resource.version == version:
            resources.append(resource.describe())
            for sub in EXTRA_SUBRESOURCES.get(resource.plural, ()):
                sub_group, sub_version, sub_kind = SUBRESOURCE_KINDS.get(sub, (group, version, resource.kind))
                entry = {'name': '%s/%s' % (resource.plural, sub), 'singularName': '', 'namespaced': resource.namespaced,
                         'kind': sub_kind, 'verbs': ['get', 'patch', 'update'] if sub in ('status', 'scale') else ['create', 'get']}
                if sub_group != group:
                    entry.update(group=sub_group, version=sub_version)
                resources.append(entry)
    if group == 'metrics.k8s.io':
        for plural, kind, namespaced in (('pods', 'PodMetrics', True), ('nodes', 'NodeMetrics', False)):
            resources.append({'name': plural, 'singularName': '', 'namespaced': namespaced, 'kind': kind, 'verbs': ['get', 'list']})
    return {'kind': 'APIResourceList', 'apiVersion': 'v1', 'groupVersion': '%s/%s' % (group, version) if group else version,
            'resources': resources}


def group_list():
    groups = []
    for name, version in (('apps', 'v1'), ('metrics.k8s.io', 'v1beta1')):
        entry = {'groupVersion': '%s/%s' % (name, version), 'version': version}
        groups.append({'name': name, 'versions': [entry], 'preferredVersion': entry})
    return {'kind': 'APIGroupList', 'apiVersion': 'v1', 'groups': groups}


PATH = re.compile(r'^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))'
                  r'(?:/namespaces/(?P<namespace>[^/]+)(?=/))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$')


class Server(ThreadingHTTPServer):
    # Tests open many connections at once (hung requests hold theirs): a deeper accept queue.
    request_queue_size = 128
    daemon_threads = True
    ssl_context = None

    def finish_request(self, request, client_address):
        # The TLS handshake happens in the request's thread: a client that never completes one blocks only itself.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)


def self_signed_certificate(directory):
    """A certificate for 127.0.0.1 and localhost that is its own CA: (cert path, key path, PEM bytes)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'kube-emulator')])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1')), x509.DNSName('localhost')]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = os.path.join(directory, 'tls.crt'), os.path.join(directory, 'tls.key')
    with open(cert_path, 'wb') as handle:
        handle.write(pem)
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path, pem


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'kube-emulator'

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    @property
    def emulator(self):
        return self.server.emulator

    def do_GET(self):
        self.dispatch('GET')

    def do_POST(self):
        self.dispatch('POST')

    def do_PUT(self):
        self.dispatch('PUT')

    def do_PATCH(self):
        self.dispatch('PATCH')

    def do_DELETE(self):
        self.dispatch('DELETE')

    # --- plumbing --------------------------------------------------------------------------

    def body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def reply(self, code, payload, content_type='application/json'):
        data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(',', ':')).encode()
        self.send_response(code)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Audit-Id', str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self, method):
        url = urlsplit(self.path)
        path = url.path.rstrip('/') or '/'
        query = parse_qs(url.query, keep_blank_values=True)
        emulator = self.emulator
        data = self.body()
        emulator.requests.append((method, self.path))
        try:
            if path not in ('/healthz', '/livez', '/readyz'):
                if self.headers.get('Authorization', '') != 'Bearer %s' % emulator.token:
                    raise ApiError(401, 'Unauthorized')
            target = path + ('?' + url.query if url.query else '')
            if any(rule.search(target) for rule in list(emulator.forbidden)):
                raise ApiError(403, forbidden_message(method, path))
            for rule_method, rule, status in list(emulator.failures):
                if (rule_method is None or rule_method == method) and rule.search(target):
                    if status == 'hang':
                        emulator.unhang.wait()
                        self.close_connection = True
                        return
                    raise ApiError(int(status), 'the emulator was told to fail %s %s with %s' % (method, path, status))
            result = self.route(method, path, query, data)
            if result is None:
                return
            code, payload = result[0], result[1]
            self.reply(code, payload, *result[2:])
        except ApiError as error:
            self.reply(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # noqa: BLE001 - an emulator bug must reach the client as a 500, not a hang
            self.reply(500, ApiError(500, 'emulator error: %s: %s' % (type(error).__name__, error)).status())

    def route(self, method, path, query, data):
        emulator = self.emulator
        if path in ('/healthz', '/livez', '/readyz'):
            return 200, b'ok', 'text/plain'
        if path == '/version':
            return 200, VERSION
        if path == '/api':
            return 200, {'kind': 'APIVersions', 'versions': ['v1'], 'serverAddressByClientCIDRs': [
                {'clientCIDR': '0.0.0.0/0', 'serverAddress': '%s:%d' % (emulator.host, emulator.port)}]}
        if path == '/apis':
            return 200, group_list()
        if path == '/api/v1':
            return 200, resource_list('', 'v1')
        match = re.match(r'^/apis/([^/]+)(?:/([^/]+))?$', path)
        if match and match.group(1) in ('apps', 'metrics.k8s.io'):
            if match.group(2) is None:
                return 200, [g for g in group_list()['groups'] if g['name'] == match.group(1)][0]
            if match.group(2) == {'apps': 'v1', 'metrics.k8s.io': 'v1beta1'}[match.group(1)]:
                return 200, resource_list(match.group(1), match.group(2))
        match = PATH.match(path)
        if not match:
            raise ApiError(404, 'the server could not find the requested resource')
        parts = match.groupdict()
        group = '' if parts['core'] else parts['group']
        version = parts['core'] or parts['version']
        namespace, plural, name, sub = parts['namespace'], parts['plural'], parts['name'], parts['sub']
        if namespace and plural in ('status', 'finalize') and not name:
            namespace, plural, name, sub = None, 'namespaces', namespace, plural
        if group == 'metrics.k8s.io':
            return self.metrics(method, namespace, plural, name, query)
        resource = BY_PATH.get((group, version, plural))
        if resource is None or (namespace and not resource.namespaced):
            raise ApiError(404, 'the server could not find the requested resource')
        if sub and sub not in EXTRA_SUBRESOURCES.get(plural, ()):
            raise ApiError(404, 'the server could not find the requested resource')
        if sub == 'exec':
            return self.exec_(namespace, name, query)
        with emulator.lock:
            return self.operate(method, resource, namespace, name, sub, query, data)

    def operate(self, method, resource, namespace, name, sub, query, data):
        emulator = self.emulator
        store = emulator.store
        dry_run = 'All' in query.get('dryRun', [])
        if resource.namespaced and namespace is None and name:
            raise ApiError(404, 'the server could not find the requested resource')
        if dry_run:
            saved = (dict((k, dict(v)) for k, v in store.objects.items()), store.revision, store.writes)
        try:
            if name is None:
                if method == 'GET':
                    if flag(query, 'watch'):
                        raise ApiError(405, 'watch is not supported by the emulator', reason='MethodNotAllowed')
                    items, following = store.list(resource, namespace, first(query, 'labelSelector'), first(query, 'fieldSelector'),
                                                  integer(query, 'limit'), first(query, 'continue'))
                    return 200, store.list_body(resource, items, following)
                if method == 'POST':
                    obj = store.create(resource, namespace if resource.namespaced else None, parse_json(data))
                    result = 201, copy.deepcopy(obj)
                elif method == 'DELETE':
                    items, unused = store.list(resource, namespace, first(query, 'labelSelector'), first(query, 'fieldSelector'))
                    gone = [store.delete(resource, namespace, item['metadata']['name']) for item in list(items)]
                    result = 200, store.list_body(resource, gone, None)
                else:
                    raise ApiError(405, 'the server does not allow this method on the requested resource')
            else:
                result = self.object_call(method, resource, namespace, name, sub, query, data)
            if dry_run:
                return result
            if method != 'GET':
                emulator.controllers.settle()
            return result
        finally:
            if dry_run:
                store.objects, store.revision, store.writes = saved

    def object_call(self, method, resource, namespace, name, sub, query, data):
        emulator = self.emulator
        store = emulator.store
        current = store.get(resource, namespace, name)
        if sub == 'log':
            if method != 'GET':
                raise ApiError(405, 'the server does not allow this method on the requested resource')
            return 200, emulator.read_log(namespace, name, query), 'text/plain'
        if sub == 'scale':
            return self.scale(method, resource, current, data)
        if sub == 'eviction':
            if method != 'POST':
                raise ApiError(405, 'the server does not allow this method on the requested resource')
            store.delete(resource, namespace, name)
            return 201, {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Success', 'code': 201}
        if method == 'GET':
            return 200, current
        part = 'status' if sub == 'status' else 'all'
        if method == 'PUT':
            body = parse_json(data)
            if (body.get('metadata') or {}).get('name') not in (None, name):
                raise ApiError(400, 'the name of the object (%s) does not match the name on the URL (%s)' % (body['metadata']['name'], name))
            return 200, copy.deepcopy(store.replace(resource, current, body, part=part))
        if method == 'PATCH':
            patched = apply_patch(current, data, self.headers.get('Content-Type'))
            if not isinstance(patched, dict):
                raise ApiError(422, 'the patch does not produce an object')
            return 200, copy.deepcopy(store.replace(resource, current, patched, part=part))
        if method == 'DELETE':
            options = parse_json(data) if data else {}
            preconditions = (options or {}).get('preconditions') or {}
            gone = store.delete(resource, namespace, name, preconditions.get('resourceVersion'), preconditions.get('uid'))
            if resource.kind == 'Namespace':
                gone['status'] = {'phase': 'Terminating'}
            return 200, gone
        raise ApiError(405, 'the server does not allow this method on the requested resource')

    def scale(self, method, resource, current, data):
        store = self.emulator.store
        meta = current['metadata']
        scale = {'kind': 'Scale', 'apiVersion': 'autoscaling/v1',
                 'metadata': {'name': meta['name'], 'namespace': meta['namespace'], 'uid': meta['uid'],
                              'resourceVersion': meta['resourceVersion'], 'creationTimestamp': meta['creationTimestamp']},
                 'spec': {'replicas': current['spec'].get('replicas', 1)},
                 'status': {'replicas': (current.get('status') or {}).get('replicas', 0),
                            'selector': ','.join('%s=%s' % item for item in sorted(current['spec']['selector'].get('matchLabels', {}).items()))}}
        if method == 'GET':
            return 200, scale
        if method == 'PUT':
            wanted = parse_json(data)
        elif method == 'PATCH':
            wanted = apply_patch(scale, data, self.headers.get('Content-Type'))
        else:
            raise ApiError(405, 'the server does not allow this method on the requested resource')
        replicas = ((wanted or {}).get('spec') or {}).get('replicas', 0)
        if not isinstance(replicas, int) or replicas < 0:
            cause = {'reason': 'FieldValueInvalid', 'field': 'spec.replicas', 'message': 'must be greater than or equal to 0'}
            raise ApiError(422, 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid value: %s: must be greater than or equal to 0'
                           % (meta['name'], json.dumps(replicas)),
                           details={'name': meta['name'], 'group': 'autoscaling', 'kind': 'Scale', 'causes': [cause]})
        new = copy.deepcopy(current)
        new['spec']['replicas'] = replicas
        new['metadata']['resourceVersion'] = ((wanted or {}).get('metadata') or {}).get('resourceVersion') or meta['resourceVersion']
        updated = store.replace(resource, current, new)
        self.emulator.controllers.settle()
        updated = store.get(resource, meta['namespace'], meta['name'])
        scale['metadata']['resourceVersion'] = updated['metadata']['resourceVersion']
        scale['spec']['replicas'] = replicas
        scale['status']['replicas'] = (updated.get('status') or {}).get('replicas', 0)
        return 200, scale

    def metrics(self, method, namespace, plural, name, query):
        emulator = self.emulator
        if method != 'GET' or plural not in ('pods', 'nodes'):
            raise ApiError(404, 'the server could not find the requested resource')
        with emulator.lock:
            if plural == 'nodes':
                items = [{'kind': 'NodeMetrics', 'apiVersion': 'metrics.k8s.io/v1beta1', 'metadata': {'name': node},
                          'timestamp': now_iso(-15), 'window': '20s', 'usage': {'cpu': '250000000n', 'memory': '2097152Ki'}}
                         for node in NODES if name in (None, node)]
                if name:
                    if not items:
                        raise ApiError(404, 'nodemetrics.metrics.k8s.io "%s" not found' % name)
                    return 200, items[0]
                return 200, {'kind': 'NodeMetricsList', 'apiVersion': 'metrics.k8s.io/v1beta1', 'metadata': {}, 'items': items}
            pods = BY_KIND['Pod']
            if name:
                pod = emulator.store.find(pods, namespace, name)
                metrics = emulator.pod_metrics(pod) if pod else None
                if metrics is None:
                    raise ApiError(404, 'podmetrics.metrics.k8s.io "%s/%s" not found' % (namespace, name))
                return 200, metrics
            items, unused = emulator.store.list(pods, namespace, first(query, 'labelSelector'), first(query, 'fieldSelector'))
            items = [m for m in (emulator.pod_metrics(pod) for pod in items) if m]
            return 200, {'kind': 'PodMetricsList', 'apiVersion': 'metrics.k8s.io/v1beta1', 'metadata': {}, 'items': items}

    # --- exec over websocket ----------------------------------------------------------------------

    def exec_(self, namespace, name, query):
        emulator = self.emulator
        with emulator.lock:
            pod = copy.deepcopy(emulator.store.get(BY_KIND['Pod'], namespace, name))
        containers = [c['name'] for c in pod['spec']['containers']]
        container = first(query, 'container')
        if not container:
            if len(containers) > 1:
                raise ApiError(400, 'a container name must be specified for pod %s, choose one of: [%s]' % (name, ' '.join(containers)))
            container = containers[0]
        elif container not in containers:
            raise ApiError(400, 'container %s is not valid for pod %s' % (container, name))
        state = next((s for s in (pod.get('status') or {}).get('containerStatuses') or [] if s['name'] == container), {})
        if 'running' not in (state.get('state') or {}):
            raise ApiError(400, 'unable to upgrade connection: container not found ("%s")' % container)
        command = query.get('command') or []
        if not command:
            raise ApiError(400, 'you must specify at least 1 command')
        if 'websocket' not in self.headers.get('Upgrade', '').lower():
            raise ApiError(400, 'Upgrade request required')
        offered = [p.strip() for p in self.headers.get('Sec-WebSocket-Protocol', '').split(',') if p.strip()]
        protocol = next((p for p in ('v4.channel.k8s.io', 'v5.channel.k8s.io') if p in offered), 'v4.channel.k8s.io')
        accept = base64.b64encode(hashlib.sha1((self.headers.get('Sec-WebSocket-Key', '') + WS_GUID).encode()).digest()).decode()
        self.send_response(101, 'Switching Protocols')
        self.send_header('Upgrade', 'websocket')
        self.send_header('Connection', 'Upgrade')
        self.send_header('Sec-WebSocket-Accept', accept)
        self.send_header('Sec-WebSocket-Protocol', protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        session = ExecSession(self, emulator, pod, container, command, query, protocol)
        session.run()
        return None


class ExecSession(object):
    """One command run on the host in the pod's directory, streamed over the v4/v5 channel protocol."""

    def __init__(self, handler, emulator, pod, container, command, query, protocol):
        self.handler = handler
        self.emulator = emulator
        self.pod = pod
        self.container = container
        self.command = command
        self.protocol = protocol
        self.want_stdin = flag(query, 'stdin')
        self.want = {STDOUT: flag(query, 'stdout'), STDERR: flag(query, 'stderr')}
        self.write_lock = threading.Lock()

    def send(self, opcode, payload):
        header = bytes([0x80 | opcode])
        size = len(payload)
        if size < 126:
            header += bytes([size])
        elif size < 65536:
            header += bytes([126]) + struct.pack('>H', size)
        else:
            header += bytes([127]) + struct.pack('>Q', size)
        with self.write_lock:
            try:
                self.handler.wfile.write(header + payload)
                self.handler.wfile.flush()
            except OSError:
                pass

    def channel(self, number, data):
        self.send(0x2, bytes([number]) + data)

    def receive(self):
        """One message from the client (frames are masked); None when the connection is gone."""
        read = self.handler.rfile.read
        message, opcode = b'', None
        while True:
            head = read(2)
            if len(head) < 2:
                return None, None
            fin, code, masked, size = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if size == 126:
                size = struct.unpack('>H', read(2))[0]
            elif size == 127:
                size = struct.unpack('>Q', read(8))[0]
            mask = read(4) if masked else b'\0\0\0\0'
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read(size)))
            if code == 0x9:
                self.send(0xA, payload)
                continue
            if code in (0x8, 0xA):
                if code == 0x8:
                    return 0x8, payload
                continue
            opcode = opcode if code == 0 else code
            message += payload
            if fin:
                return opcode, message

    def run(self):
        workdir = os.path.join(self.emulator.state_dir, 'exec', self.pod['metadata']['namespace'], self.pod['metadata']['name'])
        os.makedirs(workdir, exist_ok=True)
        environment = dict(os.environ)
        spec = next(c for c in self.pod['spec']['containers'] if c['name'] == self.container)
        environment.update((e['name'], str(e['value'])) for e in spec.get('env') or [] if 'value' in e)
        environment.update(HOSTNAME=self.pod['metadata']['name'], POD_NAME=self.pod['metadata']['name'],
                           POD_NAMESPACE=self.pod['metadata']['namespace'], CONTAINER_NAME=self.container)
        # An initial empty message per channel, as the real server sends.
        for number in (STDOUT, STDERR):
            if self.want[number]:
                self.channel(number, b'')
        try:
            process = subprocess.Popen(self.command, cwd=workdir, env=environment,
                                       stdin=subprocess.PIPE if self.want_stdin else subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as error:
            cause = 'executable file not found in $PATH' if isinstance(error, FileNotFoundError) else error.strerror
            message = ('failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start '
                       'container process: exec: "%s": %s: unknown' % (self.command[0], cause))
            self.finish({'metadata': {}, 'status': 'Failure', 'message': message, 'reason': 'InternalError',
                         'details': {'causes': [{'message': message}]}, 'code': 500})
            return
        readers = [threading.Thread(target=self.pump, args=(process.stdout, STDOUT), daemon=True),
                   threading.Thread(target=self.pump, args=(process.stderr, STDERR), daemon=True)]
        for reader in readers:
            reader.start()
        if self.want_stdin:
            threading.Thread(target=self.feed, args=(process,), daemon=True).start()
        while process.poll() is None:
            if self.emulator.stopping.wait(0.05):
                process.kill()
        for reader in readers:
            reader.join(timeout=10)
        code = process.returncode
        if code == 0:
            self.finish({'metadata': {}, 'status': 'Success'})
        else:
            self.finish({'metadata': {}, 'status': 'Failure', 'message': 'command terminated with non-zero exit code: exit status %d' % code,
                         'reason': 'NonZeroExitCode', 'details': {'causes': [{'reason': 'ExitCode', 'message': str(code)}]}})

    def pump(self, stream, number):
        for chunk in iter(lambda: stream.read1(65536), b''):
            if self.want[number]:
                self.channel(number, chunk)
        stream.close()

    def feed(self, process):
        try:
            while True:
                opcode, message = self.receive()
                if opcode is None or opcode == 0x8:
                    break
                if message and message[0] == STDIN:
                    process.stdin.write(message[1:])
                    process.stdin.flush()
                elif message and message[0] == CLOSE:
                    break
        except (OSError, ValueError):
            pass
        try:
            process.stdin.close()
        except OSError:
            pass

    def finish(self, status):
        self.channel(ERROR, json.dumps(status).encode())
        self.send(0x8, struct.pack('>H', 1000))
        try:
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def parse_json(data):
    try:
        body = json.loads(data or b'{}')
    except ValueError as error:
        raise ApiError(400, 'the body of the request was in an unknown format: %s' % error) from error
    if not isinstance(body, dict):
        raise ApiError(400, 'the body of the request must be an object')
    return body


def forbidden_message(method, path):
    match = PATH.match(path)
    verb = {'GET': 'get', 'POST': 'create', 'PUT': 'update', 'PATCH': 'patch', 'DELETE': 'delete'}.get(method, method.lower())
    if not match:
        return 'forbidden: User "system:serviceaccount:oncall:runbooks" cannot %s path "%s"' % (verb, path)
    parts = match.groupdict()
    if verb == 'get' and not parts['name']:
        verb = 'list'
    resource = parts['plural'] + ('/' + parts['sub'] if parts['sub'] else '')
    where = ' in the namespace "%s"' % parts['namespace'] if parts['namespace'] else ' at the cluster scope'
    named = '%s "%s" is forbidden' % (parts['plural'], parts['name']) if parts['name'] else '%s is forbidden' % parts['plural']
    return '%s: User "system:serviceaccount:oncall:runbooks" cannot %s resource "%s" in API group "%s"%s' % (
        named, verb, resource, parts['group'] or '', where)


# --- CLI ------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.kube', description=__doc__.split('\n', maxsplit=1)[0])
    commands = parser.add_subparsers(dest='command', required=True)
    serve = commands.add_parser('serve', help='serve the emulated API until SIGTERM')
    serve.add_argument('--host', default='127.0.0.1')
    serve.add_argument('--port', type=int, default=0)
    serve.add_argument('--token', default=os.environ.get('KUBE_EMULATOR_TOKEN', 'emulator-token'))
    serve.add_argument('--state-dir', default=None)
    serve.add_argument('--kubeconfig', default=None, help='write a kubeconfig for this server here (mode 0600)')
    serve.add_argument('--no-seed', action='store_true', help='start empty instead of with the seeds\' namespaces')
    serve.add_argument('--start-delay', type=float, default=0.0, help='seconds a new pod stays ContainerCreating')
    serve.add_argument('--tls', action='store_true', help='serve HTTPS with a self-signed certificate (its CA goes into the kubeconfig)')
    options = parser.parse_args(argv)
    if options.state_dir:
        os.makedirs(options.state_dir, exist_ok=True)
    emulator = Emulator(token=options.token, host=options.host, port=options.port, state_dir=options.state_dir,
                        start_delay=options.start_delay, tls=options.tls)
    if not options.no_seed:
        from .kube_seed import seed
        seed(emulator)
    if options.kubeconfig:
        emulator.kubeconfig(options.kubeconfig)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *unused: done.set())
    signal.signal(signal.SIGINT, lambda *unused: done.set())
    emulator.start()
    print('kube emulator serving %s' % emulator.server_url, flush=True)
    done.wait()
    emulator.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
