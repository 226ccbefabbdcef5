"""Kubernetes incidents on the lab's API emulator (lab.kube): imported by lab.scenarios.load_all().

The scenarios talk to the emulator over its HTTP API with the lab's token, as any client would,
and present() reads the objects directly, never through the collection.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from datetime import datetime, timezone

from .core import LabError
from .kube_seed import LINKFLOW_API_HISTORY
from .scenarios import Scenario, scenario, wait_until

# The emulator's kubelet crash-loops every container whose image contains this (lab.kube.BROKEN_MARKER).
BROKEN_MARKER = ':broken'
REVISION = 'deployment.kubernetes.io/revision'
CHANGE_CAUSE = 'kubernetes.io/change-cause'
# Set on the pod template by each injection: every injection is a new template, so a new revision
# (a new ReplicaSet created now) even when an earlier injection's ReplicaSet is still kept.
DEPLOYED_AT = 'oncall.lab/deployed-at'


class Kube(object):
    """A few calls of the Kubernetes API, against the lab's emulator."""

    def __init__(self, lab):
        state = lab.section('kube')
        if not state.get('port') or not state.get('token'):
            raise LabError('the lab has no Kubernetes API emulator; run: python -m lab up')
        self.base = 'http://127.0.0.1:%s' % state['port']
        self.token = state['token']

    def call(self, method, path, body=None, content_type='application/json'):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={'Authorization': 'Bearer %s' % self.token, 'Content-Type': content_type,
                                                  'Accept': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b'null')
        except urllib.error.HTTPError as error:
            raise LabError('%s %s: HTTP %s %s' % (method, path, error.code, error.read()[:300].decode(errors='replace'))) from error
        except OSError as error:
            raise LabError('%s %s: %s' % (method, self.base + path, error)) from error

    def deployment(self, namespace, name):
        return self.call('GET', '/apis/apps/v1/namespaces/%s/deployments/%s' % (namespace, name))

    def json_patch_deployment(self, namespace, name, operations):
        return self.call('PATCH', '/apis/apps/v1/namespaces/%s/deployments/%s' % (namespace, name), operations,
                         'application/json-patch+json')

    def items(self, namespace, plural, group='apps/v1'):
        prefix = '/api/v1' if group == 'v1' else '/apis/%s' % group
        return self.call('GET', '%s/namespaces/%s/%s' % (prefix, namespace, plural)).get('items') or []


def owned_by(obj, owner):
    return any(ref.get('uid') == owner['metadata']['uid'] and ref.get('controller')
               for ref in obj['metadata'].get('ownerReferences') or [])


def crash_looping(pod):
    return any(((status.get('state') or {}).get('waiting') or {}).get('reason') == 'CrashLoopBackOff'
               for status in (pod.get('status') or {}).get('containerStatuses') or [])


def pointer(key):
    return key.replace('~', '~0').replace('/', '~1')


@scenario
class KubeBadDeploy(Scenario):
    name = 'kube-bad-deploy'
    namespace = 'linkflow'
    deployment = 'linkflow-api'
    container = 'api'
    healthy_image, healthy_cause = LINKFLOW_API_HISTORY[-1]
    bad_image = 'registry.local/linkflow/api:broken-1.6.0'
    bad_cause = 'deploy 1.6.0: new webhook signer'
    description = ('a new revision of linkflow-api (namespace linkflow, image %s) crash-loops; the rolling update '
                   'stalls with the old pods still serving' % bad_image)
    timeout = 30

    @property
    def kube(self):
        return Kube(self.lab)

    def inject(self):
        # Always a fresh bad revision on top of the healthy one: a repeated injection neither stacks two
        # bad revisions (the previous revision must be the healthy one) nor reuses an old ReplicaSet
        # (whose creation time may lie outside a runbook's rollback window).
        self.restore()
        stamp = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
        current = self.kube.deployment(self.namespace, self.deployment)
        template = copy.deepcopy(current['spec']['template'])
        template.setdefault('metadata', {}).setdefault('annotations', {})[DEPLOYED_AT] = stamp
        for container in template['spec']['containers']:
            if container['name'] == self.container:
                container['image'] = self.bad_image
        self.patch(current, template, self.bad_cause)
        self.state.update(injected_at=stamp)
        wait_until(self.present, self.timeout, 'the pods of %s %s to crash-loop' % (self.deployment, self.bad_image))

    def clear(self):
        self.restore()
        wait_until(lambda: not self.present(), self.timeout, '%s to clear' % self.name)

    def restore(self):
        """Put the healthy template back (as the seed made it), unless it is there already; wait for the rollout."""
        current = self.kube.deployment(self.namespace, self.deployment)
        template = copy.deepcopy(current['spec']['template'])
        annotations = template.setdefault('metadata', {}).get('annotations') or {}
        annotations.pop(DEPLOYED_AT, None)
        if annotations:
            template['metadata']['annotations'] = annotations
        else:
            template['metadata'].pop('annotations', None)
        for container in template['spec']['containers']:
            if container['name'] == self.container:
                container['image'] = self.healthy_image
        if template != current['spec']['template']:
            self.patch(current, template, self.healthy_cause)
        wait_until(self.rolled_out, self.timeout, '%s to roll out %s' % (self.deployment, self.healthy_image))

    def patch(self, current, template, cause):
        # test the resourceVersion first: never overwrite a change made meanwhile by a runbook.
        annotations = current['metadata'].get('annotations') or {}
        operations = [{'op': 'test', 'path': '/metadata/resourceVersion', 'value': current['metadata']['resourceVersion']},
                      {'op': 'replace', 'path': '/spec/template', 'value': template}]
        if annotations:
            operations.append({'op': 'add', 'path': '/metadata/annotations/%s' % pointer(CHANGE_CAUSE), 'value': cause})
        else:
            operations.append({'op': 'add', 'path': '/metadata/annotations', 'value': {CHANGE_CAUSE: cause}})
        self.kube.json_patch_deployment(self.namespace, self.deployment, operations)

    def rolled_out(self):
        deployment = self.kube.deployment(self.namespace, self.deployment)
        status = deployment.get('status') or {}
        wanted = deployment['spec'].get('replicas', 1)
        return (status.get('observedGeneration') == deployment['metadata']['generation']
                and status.get('updatedReplicas', 0) == wanted and status.get('replicas', 0) == wanted
                and status.get('availableReplicas', 0) == wanted)

    def present(self):
        """The deployment's current revision is a bad one and its pods crash-loop."""
        deployment = self.kube.deployment(self.namespace, self.deployment)
        images = [c.get('image', '') for c in deployment['spec']['template']['spec']['containers']]
        if not any(BROKEN_MARKER in image for image in images):
            return False
        revision = (deployment['metadata'].get('annotations') or {}).get(REVISION)
        current = [rs for rs in self.kube.items(self.namespace, 'replicasets')
                   if owned_by(rs, deployment) and (rs['metadata'].get('annotations') or {}).get(REVISION) == revision]
        if not current:
            return False
        pods = self.kube.items(self.namespace, 'pods', group='v1')
        return any(owned_by(pod, current[0]) and crash_looping(pod) for pod in pods)
