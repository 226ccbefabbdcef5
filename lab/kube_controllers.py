# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Deployment, ReplicaSet, StatefulSet, DaemonSet, endpoints and kubelet controllers do,
for the fields the collection's modules read.

Each controller compares what is with what should be and writes only the difference, so a
settled emulator makes no writes (check-mode tests compare resourceVersions before and after).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid

from .kube_model import BY_KIND, ApiError, labels_match, match_labels_selector, now_iso, parse_iso

REVISION = 'deployment.kubernetes.io/revision'
REVISION_HISTORY = 'deployment.kubernetes.io/revision-history'
CHANGE_CAUSE = 'kubernetes.io/change-cause'
NODES = ('emu-node-1', 'emu-node-2')
# The characters Kubernetes uses in generated names (no vowels, no look-alikes).
ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'

POD, RS, DEPLOY, STS, DS, CR, SVC, EP, EVENT = (BY_KIND[k] for k in (
    'Pod', 'ReplicaSet', 'Deployment', 'StatefulSet', 'DaemonSet', 'ControllerRevision', 'Service', 'Endpoints', 'Event'))
OWNER_KINDS = ('Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet')


def safe_encode(digest, length):
    return ''.join(ALPHABET[byte % len(ALPHABET)] for byte in digest[:length])


def template_hash(template):
    return safe_encode(hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest(), 10)


def random_suffix():
    return safe_encode(uuid.uuid4().bytes, 5)


def without_hash(template, label):
    template = copy.deepcopy(template or {})
    labels = (template.get('metadata') or {}).get('labels')
    if labels:
        labels.pop(label, None)
    return template


def owner_ref(obj):
    return {'apiVersion': obj['apiVersion'], 'kind': obj['kind'], 'name': obj['metadata']['name'],
            'uid': obj['metadata']['uid'], 'controller': True, 'blockOwnerDeletion': True}


def controller_uid(obj):
    for ref in obj['metadata'].get('ownerReferences') or []:
        if ref.get('controller'):
            return ref.get('uid')
    return None


def pod_ready(pod):
    return any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in (pod.get('status') or {}).get('conditions') or [])


def compact(status, required=()):
    """Status ints are omitempty in the API types: a zero count is absent, as on a real cluster."""
    return dict((k, v) for k, v in status.items() if k in required or v not in (0, None, [], ''))


def replicas_allowed(value, desired, round_up):
    if isinstance(value, str) and value.endswith('%'):
        fraction = desired * int(value[:-1]) / 100.0
        return int(-(-fraction // 1)) if round_up else int(fraction)
    return int(value or 0)


class Controllers(object):
    """Runs against an emulator (its store, faults, logs and events)."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.store = emulator.store
        self.ip_counter = 10

    # --- helpers ---------------------------------------------------------------------

    def write(self, resource, current, new):
        return self.store.replace(resource, current, new, part='controller')

    def create(self, resource, namespace, obj):
        try:
            return self.store.create(resource, namespace, obj)
        except ApiError:
            # The namespace went away meanwhile: nothing to reconcile.
            return None

    def delete(self, resource, obj):
        try:
            self.store.delete(resource, obj['metadata'].get('namespace'), obj['metadata']['name'])
        except ApiError:
            pass

    def new_pod(self, namespace, name, template, owner, labels, node):
        meta = copy.deepcopy(template.get('metadata') or {})
        meta['name'] = name
        meta['labels'] = dict(meta.get('labels') or {}, **labels)
        meta['ownerReferences'] = [owner_ref(owner)]
        spec = copy.deepcopy(template.get('spec') or {})
        spec['nodeName'] = node
        spec.setdefault('serviceAccountName', 'default')
        spec.setdefault('enableServiceLinks', True)
        spec.setdefault('priority', 0)
        pod = self.create(POD, namespace, {'metadata': meta, 'spec': spec, 'status': {'phase': 'Pending', 'qosClass': 'BestEffort'}})
        if pod:
            self.emulator.born[pod['metadata']['uid']] = time.time()
        return pod

    def node_for(self, index):
        return NODES[index % len(NODES)]

    # --- the loop --------------------------------------------------------------------

    def run_once(self):
        before = self.store.writes
        self.index()
        self.garbage_collect()
        for deployment in self.store.all(DEPLOY):
            self.deployment(deployment)
        self.index()
        for replica_set in self.store.all(RS):
            self.replica_set(replica_set)
        for stateful_set in self.store.all(STS):
            self.stateful_set(stateful_set)
        for daemon_set in self.store.all(DS):
            self.daemon_set(daemon_set)
        self.kubelet()
        self.index()
        for replica_set in self.store.all(RS):
            self.replica_set_status(replica_set)
        for service in self.store.all(SVC):
            self.endpoints(service)
        return self.store.writes != before

    def settle(self, rounds=300):
        for unused in range(rounds):
            if not self.run_once():
                return True
        return False

    def index(self):
        self.owned = {}
        for resource in (POD, RS, CR):
            for obj in self.store.all(resource):
                uid = controller_uid(obj)
                if uid:
                    self.owned.setdefault((resource.kind, uid), []).append(obj)

    def children(self, kind, owner):
        return list(self.owned.get((kind, owner['metadata']['uid']), []))

    def garbage_collect(self):
        owners = set(obj['metadata']['uid'] for kind in OWNER_KINDS for obj in self.store.all(BY_KIND[kind]))
        for resource in (POD, RS, CR):
            for obj in self.store.all(resource):
                uid = controller_uid(obj)
                if uid and uid not in owners:
                    self.delete(resource, obj)
        if any(uid not in owners for kind, uid in self.owned):
            self.index()

    # --- Deployment -------------------------------------------------------------------

    def deployment(self, deployment):
        namespace = deployment['metadata']['namespace']
        spec = deployment['spec']
        template = spec['template']
        owned = sorted(self.children('ReplicaSet', deployment), key=revision_of)
        newest = max([revision_of(rs) for rs in owned] or [0])
        current = next((rs for rs in owned if without_hash(rs['spec']['template'], 'pod-template-hash') == template), None)
        annotations = deployment['metadata'].get('annotations') or {}
        progressed = False
        if current is None:
            digest = template_hash(template)
            labels = dict((template.get('metadata') or {}).get('labels') or {}, **{'pod-template-hash': digest})
            rs_template = copy.deepcopy(template)
            rs_template.setdefault('metadata', {})['labels'] = labels
            rs_annotations = {REVISION: str(newest + 1), 'deployment.kubernetes.io/desired-replicas': str(spec['replicas']),
                              'deployment.kubernetes.io/max-replicas': str(spec['replicas'] + self.surge(deployment))}
            if CHANGE_CAUSE in annotations:
                rs_annotations[CHANGE_CAUSE] = annotations[CHANGE_CAUSE]
            selector = copy.deepcopy(spec['selector'])
            selector.setdefault('matchLabels', {})['pod-template-hash'] = digest
            current = self.create(RS, namespace, {
                'metadata': {'name': '%s-%s' % (deployment['metadata']['name'], digest), 'labels': labels,
                             'annotations': rs_annotations, 'ownerReferences': [owner_ref(deployment)]},
                'spec': {'replicas': 0, 'minReadySeconds': spec.get('minReadySeconds', 0), 'selector': selector, 'template': rs_template}})
            if current is None:
                return
            self.emulator.record(namespace, deployment, 'ScalingReplicaSet', 'Scaled up replica set %s to %d'
                                 % (current['metadata']['name'], spec['replicas']), 'Normal', 'deployment-controller')
            owned.append(current)
            progressed = True
        else:
            wanted = dict(current['metadata'].get('annotations') or {})
            if revision_of(current) < newest:
                # A template equal to an old ReplicaSet's reuses it as the next revision: revisions get gaps.
                history = [h for h in wanted.get(REVISION_HISTORY, '').split(',') if h] + [str(revision_of(current))]
                wanted[REVISION_HISTORY] = ','.join(history)
                wanted[REVISION] = str(newest + 1)
                progressed = True
            if CHANGE_CAUSE in annotations:
                wanted[CHANGE_CAUSE] = annotations[CHANGE_CAUSE]
            if wanted != (current['metadata'].get('annotations') or {}):
                new = copy.deepcopy(current)
                new['metadata']['annotations'] = wanted
                current = self.write(RS, current, new)
        if not spec.get('paused'):
            fresh = [self.store.find(RS, namespace, rs['metadata']['name']) or rs for rs in owned]
            current = next(rs for rs in fresh if rs['metadata']['uid'] == current['metadata']['uid'])
            old = [rs for rs in fresh if rs['metadata']['uid'] != current['metadata']['uid']]
            if (spec.get('strategy') or {}).get('type') == 'Recreate':
                targets = self.recreate(spec['replicas'], current, old)
            else:
                targets = self.rolling_update(deployment, current, old)
            for rs, target in targets:
                if rs['spec'].get('replicas') != target:
                    new = copy.deepcopy(rs)
                    new['spec']['replicas'] = target
                    self.write(RS, rs, new)
                    progressed = True
        self.deployment_status(deployment, current, owned, progressed)
        deployment = self.store.find(DEPLOY, namespace, deployment['metadata']['name'])
        if deployment and (deployment['metadata'].get('annotations') or {}).get(REVISION) != str(revision_of(current)):
            new = copy.deepcopy(deployment)
            new['metadata'].setdefault('annotations', {})[REVISION] = str(revision_of(current))
            self.write(DEPLOY, deployment, new)
        self.prune_history(deployment, owned, current)

    def rolling_update(self, deployment, current, old):
        """One step of the real controller's rolling update: surge the new ReplicaSet, then scale
        old ones down while at least ``replicas - maxUnavailable`` pods stay available (unhealthy ones first)."""
        desired = deployment['spec']['replicas']
        rolling = (deployment['spec'].get('strategy') or {}).get('rollingUpdate') or {}
        surge = replicas_allowed(rolling.get('maxSurge', '25%'), desired, True)
        unavailable = replicas_allowed(rolling.get('maxUnavailable', '25%'), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        size = dict((rs['metadata']['uid'], rs['spec'].get('replicas', 0)) for rs in [current] + old)
        uid = current['metadata']['uid']
        if size[uid] > desired:
            size[uid] = desired
        elif size[uid] < desired:
            room = desired + surge - sum(size.values())
            if room > 0:
                size[uid] += min(room, desired - size[uid])
        available = dict((rs['metadata']['uid'], (rs.get('status') or {}).get('availableReplicas', 0)) for rs in [current] + old)
        minimum = desired - unavailable
        budget = sum(size.values()) - minimum - max(0, size[uid] - available[uid])
        by_age = sorted(old, key=lambda rs: (rs['metadata']['creationTimestamp'], revision_of(rs)))
        for rs in by_age:
            if budget <= 0:
                break
            key = rs['metadata']['uid']
            unhealthy = max(0, size[key] - available[key])
            step = min(budget, unhealthy)
            size[key] -= step
            budget -= step
        spare = sum(min(available[k], size[k]) for k in size) - minimum
        for rs in by_age:
            if spare <= 0:
                break
            key = rs['metadata']['uid']
            step = min(size[key], spare)
            size[key] -= step
            spare -= step
        return [(rs, size[rs['metadata']['uid']]) for rs in [current] + old]

    def recreate(self, desired, current, old):
        """Recreate: every old pod goes before the new ReplicaSet scales up."""
        if any(rs['spec'].get('replicas', 0) or (rs.get('status') or {}).get('replicas', 0) for rs in old):
            return [(rs, 0) for rs in old]
        return [(current, desired)]

    def surge(self, deployment):
        rolling = (deployment['spec'].get('strategy') or {}).get('rollingUpdate') or {}
        return replicas_allowed(rolling.get('maxSurge', '25%'), deployment['spec']['replicas'], True)

    def prune_history(self, deployment, owned, current):
        limit = (deployment or {}).get('spec', {}).get('revisionHistoryLimit', 10)
        old = [rs for rs in owned if rs['metadata']['uid'] != current['metadata']['uid']]
        idle = [rs for rs in sorted(old, key=revision_of)
                if not (self.store.find(RS, rs['metadata']['namespace'], rs['metadata']['name']) or {}).get('spec', {}).get('replicas')
                and not (self.store.find(RS, rs['metadata']['namespace'], rs['metadata']['name']) or {}).get('status', {}).get('replicas')]
        for rs in idle[:max(0, len(idle) - limit)]:
            self.delete(RS, rs)

    def deployment_status(self, deployment, current, owned, progressed):
        spec = deployment['spec']
        desired = spec['replicas']
        fresh = [self.store.find(RS, rs['metadata']['namespace'], rs['metadata']['name']) or rs for rs in owned]
        statuses = [rs.get('status') or {} for rs in fresh]
        new_status = next((rs.get('status') or {} for rs in fresh if rs['metadata']['uid'] == current['metadata']['uid']), {})
        replicas = sum(s.get('replicas', 0) for s in statuses)
        ready = sum(s.get('readyReplicas', 0) for s in statuses)
        available = sum(s.get('availableReplicas', 0) for s in statuses)
        updated = new_status.get('replicas', 0)
        old = deployment.get('status') or {}
        total = sum(rs['spec'].get('replicas', 0) for rs in fresh)
        counts = dict(replicas=replicas, updatedReplicas=updated, readyReplicas=ready, availableReplicas=available,
                      unavailableReplicas=max(0, total - available))
        if any(old.get(k, 0) != v for k, v in counts.items()) or old.get('observedGeneration') != deployment['metadata']['generation']:
            progressed = True
        now = now_iso()
        conditions = dict((c['type'], c) for c in old.get('conditions') or [])
        rolling = (spec.get('strategy') or {}).get('rollingUpdate') or {}
        minimum = desired - replicas_allowed(rolling.get('maxUnavailable', '25%'), desired, False)
        if available >= minimum:
            available_condition = ('True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
        else:
            available_condition = ('False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.')
        name = current['metadata']['name']
        complete = updated == desired and replicas == desired and available == desired
        previous = conditions.get('Progressing')
        if complete:
            progressing = ('True', 'NewReplicaSetAvailable', 'ReplicaSet "%s" has successfully progressed.' % name)
        elif progressed or previous is None:
            progressing = ('True', 'ReplicaSetUpdated', 'ReplicaSet "%s" is progressing.' % name)
        elif previous.get('reason') == 'ProgressDeadlineExceeded':
            progressing = (previous['status'], previous['reason'], previous['message'])
        elif time.time() - (parse_iso(previous.get('lastUpdateTime')) or 0) > spec.get('progressDeadlineSeconds', 600):
            progressing = ('False', 'ProgressDeadlineExceeded', 'ReplicaSet "%s" has timed out progressing.' % name)
        else:
            progressing = (previous['status'], previous['reason'], previous['message'])
        new_conditions = []
        for kind, (status, reason, message) in (('Available', available_condition), ('Progressing', progressing)):
            before = conditions.get(kind) or {}
            same = before.get('status') == status and before.get('reason') == reason and before.get('message') == message
            update_time = before.get('lastUpdateTime') if same and not (kind == 'Progressing' and progressed and not complete) else now
            new_conditions.append({'type': kind, 'status': status, 'lastUpdateTime': update_time or now,
                                   'lastTransitionTime': before.get('lastTransitionTime') if before.get('status') == status else now,
                                   'reason': reason, 'message': message})
        status = compact(dict(counts, observedGeneration=deployment['metadata']['generation'], conditions=new_conditions),
                         required=('observedGeneration',))
        if status != old:
            new = copy.deepcopy(deployment)
            new['status'] = status
            self.write(DEPLOY, deployment, new)

    # --- ReplicaSet -------------------------------------------------------------------

    def replica_set(self, replica_set):
        namespace = replica_set['metadata']['namespace']
        pods = self.children('Pod', replica_set)
        wanted = replica_set['spec'].get('replicas', 1)
        for index in range(len(pods), wanted):
            name = '%s-%s' % (replica_set['metadata']['name'], random_suffix())
            self.new_pod(namespace, name, replica_set['spec']['template'], replica_set, {}, self.node_for(index))
        if len(pods) > wanted:
            # Unready pods go first, then the youngest, as the real controller prefers.
            doomed = sorted(pods, key=lambda p: (pod_ready(p), p['metadata']['creationTimestamp'], p['metadata']['name']))
            for pod in doomed[:len(pods) - wanted]:
                self.delete(POD, pod)

    def replica_set_status(self, replica_set):
        pods = self.children('Pod', replica_set)
        ready = sum(1 for pod in pods if pod_ready(pod))
        status = compact({'replicas': len(pods), 'fullyLabeledReplicas': len(pods), 'readyReplicas': ready, 'availableReplicas': ready,
                          'observedGeneration': replica_set['metadata']['generation']}, required=('replicas', 'observedGeneration'))
        if status != replica_set.get('status'):
            new = copy.deepcopy(replica_set)
            new['status'] = status
            self.write(RS, replica_set, new)

    # --- StatefulSet and DaemonSet: ControllerRevisions --------------------------------

    def revision_for(self, owner, hash_label_value):
        """The ControllerRevision of the owner's current template, reused (with the next number) when it already exists."""
        namespace = owner['metadata']['namespace']
        template = owner['spec']['template']
        revisions = self.children('ControllerRevision', owner)
        newest = max([r.get('revision', 0) for r in revisions] or [0])
        data = {'spec': {'template': dict(copy.deepcopy(template), **{'$patch': 'replace'})}}
        for revision in revisions:
            if revision.get('data') == data:
                if revision.get('revision', 0) < newest:
                    new = copy.deepcopy(revision)
                    new['revision'] = newest + 1
                    revision = self.write(CR, revision, new)
                return revision
        digest = template_hash(template)
        labels = dict((template.get('metadata') or {}).get('labels') or {}, **{'controller.kubernetes.io/hash': digest})
        return self.create(CR, namespace, {
            'metadata': {'name': '%s-%s' % (owner['metadata']['name'], digest), 'labels': labels, 'ownerReferences': [owner_ref(owner)]},
            'data': data, 'revision': newest + 1})

    def roll(self, owner, pods, revision_label, update_revision):
        """Replace one outdated pod: an unready one at once, else the highest-ordinal one when all are ready."""
        outdated = [p for p in pods if (p['metadata'].get('labels') or {}).get(revision_label) != update_revision]
        if not outdated:
            return
        unready = [p for p in outdated if not pod_ready(p)]
        if unready:
            victim = unready[-1]
        elif all(pod_ready(p) for p in pods):
            victim = outdated[-1]
        else:
            return
        self.delete(POD, victim)

    def stateful_set(self, stateful_set):
        namespace = stateful_set['metadata']['namespace']
        name = stateful_set['metadata']['name']
        revision = self.revision_for(stateful_set, None)
        if revision is None:
            return
        update_revision = revision['metadata']['name']
        replicas = stateful_set['spec'].get('replicas', 1)
        pods = dict((p['metadata']['name'], p) for p in self.children('Pod', stateful_set))
        for pod_name, pod in list(pods.items()):
            ordinal = pod_name.rsplit('-', 1)[-1]
            if not ordinal.isdigit() or int(ordinal) >= replicas:
                self.delete(POD, pod)
                del pods[pod_name]
        for ordinal in range(replicas):
            pod_name = '%s-%d' % (name, ordinal)
            if pod_name not in pods and not self.store.find(POD, namespace, pod_name):
                labels = {'controller-revision-hash': update_revision, 'statefulset.kubernetes.io/pod-name': pod_name,
                          'apps.kubernetes.io/pod-index': str(ordinal)}
                pod = self.new_pod(namespace, pod_name, stateful_set['spec']['template'], stateful_set, labels, self.node_for(ordinal))
                if pod:
                    pods[pod_name] = pod
        ordered = [pods[key] for key in sorted(pods, key=lambda n: int(n.rsplit('-', 1)[-1]))]
        self.roll(stateful_set, ordered, 'controller-revision-hash', update_revision)
        fresh = [self.store.find(POD, namespace, p['metadata']['name']) for p in ordered]
        fresh = [p for p in fresh if p]
        old = stateful_set.get('status') or {}
        updated = sum(1 for p in fresh if p['metadata']['labels'].get('controller-revision-hash') == update_revision)
        current_revision = old.get('currentRevision') or update_revision
        if updated == replicas and len(fresh) == replicas:
            current_revision = update_revision
        ready = sum(1 for p in fresh if pod_ready(p))
        status = compact({
            'observedGeneration': stateful_set['metadata']['generation'], 'replicas': len(fresh), 'readyReplicas': ready,
            'currentReplicas': sum(1 for p in fresh if p['metadata']['labels'].get('controller-revision-hash') == current_revision),
            'updatedReplicas': updated, 'availableReplicas': ready, 'currentRevision': current_revision,
            'updateRevision': update_revision, 'collisionCount': 0}, required=('replicas', 'observedGeneration', 'collisionCount'))
        if status != old:
            new = copy.deepcopy(stateful_set)
            new['status'] = status
            self.write(STS, stateful_set, new)

    def daemon_set(self, daemon_set):
        namespace = daemon_set['metadata']['namespace']
        revision = self.revision_for(daemon_set, None)
        if revision is None:
            return
        digest = revision['metadata']['labels']['controller.kubernetes.io/hash']
        pods = self.children('Pod', daemon_set)
        by_node = dict((p['spec'].get('nodeName'), p) for p in pods)
        for index, node in enumerate(NODES):
            if node not in by_node:
                labels = {'controller-revision-hash': digest, 'pod-template-generation': str(daemon_set['metadata']['generation'])}
                name = '%s-%s' % (daemon_set['metadata']['name'], random_suffix())
                pod = self.new_pod(namespace, name, daemon_set['spec']['template'], daemon_set, labels, node)
                if pod:
                    by_node[node] = pod
        ordered = [by_node[node] for node in NODES if node in by_node]
        self.roll(daemon_set, ordered, 'controller-revision-hash', digest)
        fresh = [p for p in (self.store.find(POD, namespace, p['metadata']['name']) for p in ordered) if p]
        ready = sum(1 for p in fresh if pod_ready(p))
        updated = sum(1 for p in fresh if p['metadata']['labels'].get('controller-revision-hash') == digest)
        old = daemon_set.get('status') or {}
        status = compact({
            'currentNumberScheduled': len(fresh), 'numberMisscheduled': 0, 'desiredNumberScheduled': len(NODES), 'numberReady': ready,
            'observedGeneration': daemon_set['metadata']['generation'], 'updatedNumberScheduled': updated, 'numberAvailable': ready,
            'numberUnavailable': len(NODES) - ready},
            required=('currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady', 'observedGeneration'))
        if status != old:
            new = copy.deepcopy(daemon_set)
            new['status'] = status
            self.write(DS, daemon_set, new)

    # --- kubelet ---------------------------------------------------------------------

    def kubelet(self):
        """Start pods: Running and Ready at once (or after the emulator's start delay), unless broken."""
        delay = self.emulator.start_delay
        started = self.emulator.started
        for pod in self.store.all(POD):
            uid = pod['metadata']['uid']
            if uid in started:
                continue
            if delay and time.time() - self.emulator.born.get(uid, 0) < delay:
                if not (pod.get('status') or {}).get('containerStatuses'):
                    self.set_status(pod, self.emulator.pod_status(pod, 'creating'))
                continue
            started.add(uid)
            self.emulator.apply_fault(pod, record=True)

    def set_status(self, pod, status):
        new = copy.deepcopy(pod)
        new['status'] = status
        return self.write(POD, pod, new)

    # --- endpoints -------------------------------------------------------------------

    def endpoints(self, service):
        namespace = service['metadata']['namespace']
        selector = service['spec'].get('selector')
        if not selector:
            return
        requirements = match_labels_selector({'matchLabels': selector})
        pods = [p for p in self.store.all(POD, namespace) if labels_match(requirements, p['metadata'].get('labels'))]
        ready, unready = [], []
        for pod in pods:
            if not (pod.get('status') or {}).get('podIP'):
                continue
            address = {'ip': pod['status']['podIP'], 'nodeName': pod['spec'].get('nodeName'),
                       'targetRef': {'kind': 'Pod', 'namespace': namespace, 'name': pod['metadata']['name'], 'uid': pod['metadata']['uid']}}
            (ready if pod_ready(pod) else unready).append(address)
        ports = []
        for port in service['spec'].get('ports') or []:
            target = port.get('targetPort', port.get('port'))
            if isinstance(target, str) and not target.isdigit():
                target = next((p['containerPort'] for pod in pods for c in pod['spec'].get('containers', [])
                               for p in c.get('ports') or [] if p.get('name') == target), port.get('port'))
            entry = {'port': int(target), 'protocol': port.get('protocol', 'TCP')}
            if port.get('name'):
                entry['name'] = port['name']
            ports.append(entry)
        subset = {}
        if ready:
            subset['addresses'] = sorted(ready, key=lambda a: a['ip'])
        if unready:
            subset['notReadyAddresses'] = sorted(unready, key=lambda a: a['ip'])
        body = {'metadata': {'name': service['metadata']['name'], 'namespace': namespace,
                             'labels': dict(service['metadata'].get('labels') or {})}}
        if subset:
            subset['ports'] = ports
            body['subsets'] = [subset]
        current = self.store.find(EP, namespace, service['metadata']['name'])
        if current is None:
            self.create(EP, namespace, body)
        elif current.get('subsets') != body.get('subsets') or current['metadata'].get('labels') != body['metadata']['labels']:
            new = copy.deepcopy(current)
            new['metadata']['labels'] = body['metadata']['labels']
            new.pop('subsets', None)
            if 'subsets' in body:
                new['subsets'] = body['subsets']
            self.write(EP, current, new)


def revision_of(replica_set):
    try:
        return int((replica_set['metadata'].get('annotations') or {}).get(REVISION, 0))
    except ValueError:
        return 0
