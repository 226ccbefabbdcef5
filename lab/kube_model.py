# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulated Kubernetes API's object store: resources, selectors, patches, resource versions.

Only what the collection's modules read, but in the real API's shapes: the official client
deserializes these objects, and the tests compare them with what a real cluster returns.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import uuid


class ApiError(Exception):
    """An error the API answers with a Status object."""

    REASONS = {400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
               409: 'Conflict', 415: 'UnsupportedMediaType', 422: 'Invalid', 500: 'InternalError', 503: 'ServiceUnavailable'}

    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, 'Unknown')
        self.details = details

    def status(self):
        body = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': self.message, 'reason': self.reason, 'code': self.code}
        if self.details:
            body['details'] = self.details
        return body


class Resource(object):
    """One kind of object: where it lives in the API and how its field selectors work."""

    def __init__(self, group, version, plural, kind, namespaced=True, fields=(), subresources=(), short=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.fields = ('metadata.name', 'metadata.namespace') + tuple(fields)
        self.subresources = subresources
        self.short = short

    @property
    def api_version(self):
        return '%s/%s' % (self.group, self.version) if self.group else self.version

    @property
    def has_status(self):
        return 'status' in self.subresources

    def describe(self):
        """Its APIResource entry in discovery."""
        verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']
        entry = {'name': self.plural, 'singularName': self.kind.lower(), 'namespaced': self.namespaced,
                 'kind': self.kind, 'verbs': verbs}
        if self.short:
            entry['shortNames'] = list(self.short)
        return entry


POD_FIELDS = ('status.phase', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName',
              'status.podIP', 'status.nominatedNodeName')
EVENT_FIELDS = ('involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
                'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath',
                'reason', 'reportingComponent', 'source', 'type')

RESOURCES = [
    Resource('', 'v1', 'namespaces', 'Namespace', namespaced=False, fields=('status.phase',), subresources=('status',), short=('ns',)),
    Resource('', 'v1', 'nodes', 'Node', namespaced=False, subresources=('status',), short=('no',)),
    Resource('', 'v1', 'pods', 'Pod', fields=POD_FIELDS, subresources=('status', 'log', 'exec'), short=('po',)),
    Resource('', 'v1', 'services', 'Service', subresources=('status',), short=('svc',)),
    Resource('', 'v1', 'endpoints', 'Endpoints', short=('ep',)),
    Resource('', 'v1', 'events', 'Event', fields=EVENT_FIELDS, short=('ev',)),
    Resource('', 'v1', 'configmaps', 'ConfigMap', short=('cm',)),
    Resource('apps', 'v1', 'deployments', 'Deployment', subresources=('status', 'scale'), short=('deploy',)),
    Resource('apps', 'v1', 'replicasets', 'ReplicaSet', subresources=('status', 'scale'), short=('rs',)),
    Resource('apps', 'v1', 'statefulsets', 'StatefulSet', subresources=('status', 'scale'), short=('sts',)),
    Resource('apps', 'v1', 'daemonsets', 'DaemonSet', subresources=('status',), short=('ds',)),
    Resource('apps', 'v1', 'controllerrevisions', 'ControllerRevision'),
]
BY_PATH = dict(((r.group, r.version, r.plural), r) for r in RESOURCES)
BY_KIND = dict((r.kind, r) for r in RESOURCES)


def now_iso(offset=0.0):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + offset))


def parse_iso(value):
    return time.mktime(time.strptime(value, '%Y-%m-%dT%H:%M:%SZ')) - time.timezone if value else None


# --- selectors ----------------------------------------------------------------------

_LABEL_REQ = re.compile(r'^\s*(!)?\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$')


def _split_selector(text):
    """Split at the commas that are not inside the parentheses of a set."""
    parts, depth, current = [], 0, ''
    for char in text:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            parts.append(current)
            current = ''
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def parse_label_selector(text):
    """'a=b,c!=d,e in (x,y),f notin (z),g,!h' -> requirements; 400 on a malformed one."""
    requirements = []
    for part in _split_selector(text or ''):
        match = _LABEL_REQ.match(part)
        if not match:
            raise ApiError(400, 'unable to parse requirement: found %r, expected a label selector' % part.strip())
        negate, key, op, value, set_op, values = match.groups()
        if negate and (op or set_op):
            raise ApiError(400, 'unable to parse requirement: %r' % part.strip())
        if set_op:
            requirements.append((key, set_op, set(v.strip() for v in values.split(',') if v.strip())))
        elif op:
            requirements.append((key, '!=' if op == '!=' else '=', value))
        else:
            requirements.append((key, '!exists' if negate else 'exists', None))
    return requirements


def labels_match(requirements, labels):
    labels = labels or {}
    for key, op, value in requirements:
        present = key in labels
        if op == '=' and labels.get(key) != value:
            return False
        if op == '!=' and present and labels[key] == value:
            return False
        if op == 'in' and labels.get(key) not in value:
            return False
        if op == 'notin' and present and labels[key] in value:
            return False
        if op == 'exists' and not present:
            return False
        if op == '!exists' and present:
            return False
    return True


def match_labels_selector(selector):
    """A LabelSelector object (matchLabels, matchExpressions) -> requirements."""
    requirements = [(key, '=', value) for key, value in sorted((selector or {}).get('matchLabels', {}).items())]
    for expression in (selector or {}).get('matchExpressions', []):
        op = {'In': 'in', 'NotIn': 'notin', 'Exists': 'exists', 'DoesNotExist': '!exists'}[expression['operator']]
        requirements.append((expression['key'], op, set(expression.get('values') or [])))
    return requirements


def selector_string(match_labels):
    return ','.join('%s=%s' % item for item in sorted((match_labels or {}).items()))


def field_value(obj, path):
    value = obj
    for part in path.split('.'):
        value = value.get(part) if isinstance(value, dict) else None
    if path == 'source' and isinstance(value, dict):
        value = value.get('component')
    return '' if value is None else str(value)


def parse_field_selector(text, resource):
    requirements = []
    for part in _split_selector(text or ''):
        match = re.match(r'^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$', part)
        if not match:
            raise ApiError(400, 'invalid selector: %r; can\'t understand %r' % (text, part))
        path, op, value = match.groups()
        if path not in resource.fields:
            raise ApiError(400, '"%s" is not a known field selector: only %s' % (path, ', '.join('"%s"' % f for f in resource.fields)))
        requirements.append((path, op != '!=', value))
    return requirements


def fields_match(requirements, obj):
    return all((field_value(obj, path) == value) == equal for path, equal, value in requirements)


# --- patches ------------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# The lists that a strategic merge patch merges by a key instead of replacing (from the API's patchMergeKey tags).
MERGE_KEYS = {
    'containers': 'name', 'initContainers': 'name', 'ephemeralContainers': 'name', 'env': 'name', 'volumes': 'name',
    'volumeMounts': 'mountPath', 'ports': 'containerPort', 'imagePullSecrets': 'name', 'tolerations': None,
    'ownerReferences': 'uid', 'conditions': 'type', 'envFrom': None, 'finalizers': None, 'args': None, 'command': None,
}


def strategic_merge_patch(target, patch, field=None):
    """Kubernetes' strategic merge patch for the fields our objects use: keyed lists merge by key."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get('$patch') == 'replace':
        return dict((k, copy.deepcopy(v)) for k, v in patch.items() if k != '$patch')
    if patch.get('$patch') == 'delete':
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith('$'):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and MERGE_KEYS.get(key) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(current, patch, key):
    result = copy.deepcopy(current)
    if any(isinstance(item, dict) and item.get('$patch') == 'replace' for item in patch):
        return [copy.deepcopy(item) for item in patch if not (isinstance(item, dict) and '$patch' in item)]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(copy.deepcopy(item))
            continue
        index = next((i for i, existing in enumerate(result) if isinstance(existing, dict) and existing.get(key) == item[key]), None)
        if item.get('$patch') == 'delete':
            if index is not None:
                del result[index]
        elif index is None:
            result.append(dict((k, copy.deepcopy(v)) for k, v in item.items() if not k.startswith('$')))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def _pointer(path):
    if path == '':
        return []
    if not path.startswith('/'):
        raise ApiError(400, 'invalid JSON pointer %r' % path)
    return [part.replace('~1', '/').replace('~0', '~') for part in path[1:].split('/')]


def _locate(doc, parts):
    parent = doc
    for part in parts[:-1]:
        if isinstance(parent, list):
            parent = parent[int(part)]
        else:
            parent = parent[part]
    return parent


def json_patch(doc, operations):
    """RFC 6902 JSON patch."""
    if not isinstance(operations, list):
        raise ApiError(400, 'json patch must be a list of operations')
    doc = copy.deepcopy(doc)
    for operation in operations:
        try:
            op, parts = operation['op'], _pointer(operation['path'])
            if op in ('move', 'copy'):
                source = _pointer(operation['from'])
                holder = _locate(doc, source)
                value = copy.deepcopy(holder[int(source[-1])] if isinstance(holder, list) else holder[source[-1]])
                if op == 'move':
                    doc = json_patch(doc, [{'op': 'remove', 'path': operation['from']}])
                doc = json_patch(doc, [{'op': 'add', 'path': operation['path'], 'value': value}])
                continue
            parent = _locate(doc, parts)
            last = parts[-1]
            if op == 'test':
                current = parent[int(last)] if isinstance(parent, list) else parent[last]
                if current != operation['value']:
                    raise ApiError(422, 'the server rejected our request due to an error in our request: test failed at %s' % operation['path'])
            elif op == 'remove':
                if isinstance(parent, list):
                    del parent[int(last)]
                else:
                    del parent[last]
            elif op in ('add', 'replace'):
                value = copy.deepcopy(operation['value'])
                if isinstance(parent, list):
                    if last == '-':
                        parent.append(value)
                    elif op == 'add':
                        parent.insert(int(last), value)
                    else:
                        parent[int(last)] = value
                else:
                    if op == 'replace' and last not in parent:
                        raise KeyError(last)
                    parent[last] = value
            else:
                raise ApiError(400, 'unknown json patch operation %r' % op)
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise ApiError(422, 'the server rejected our request due to an error in our request: %s %s: %s'
                           % (operation.get('op'), operation.get('path'), error)) from error
    return doc


def apply_patch(target, body, content_type):
    content_type = (content_type or '').split(';')[0].strip()
    try:
        patch = json.loads(body or b'null')
    except ValueError as error:
        raise ApiError(400, 'the body of the request was in an unknown format: %s' % error) from error
    if content_type == 'application/merge-patch+json':
        return merge_patch(target, patch)
    if content_type == 'application/strategic-merge-patch+json':
        return strategic_merge_patch(target, patch)
    if content_type == 'application/json-patch+json':
        return json_patch(target, patch)
    raise ApiError(415, 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, '
                   'application/merge-patch+json, application/strategic-merge-patch+json')


# --- the store ----------------------------------------------------------------------

DNS_LABEL = re.compile(r'^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')


def validate(resource, obj):
    """The few validation rules whose 422 the modules must report."""
    name = obj['metadata'].get('name', '')
    causes = []
    if not name or not DNS_LABEL.match(name) or len(name) > 253:
        causes.append(('metadata.name', 'Invalid value: "%s": a lowercase RFC 1123 subdomain must consist of lower case '
                       'alphanumeric characters, \'-\' or \'.\'' % name))
    spec = obj.get('spec') or {}
    if 'replicas' in spec and (not isinstance(spec['replicas'], int) or spec['replicas'] < 0):
        causes.append(('spec.replicas', 'Invalid value: %s: must be greater than or equal to 0' % json.dumps(spec['replicas'])))
    template = spec.get('template')
    if resource.kind in ('Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'):
        if not isinstance(template, dict) or not (template.get('spec') or {}).get('containers'):
            causes.append(('spec.template.spec.containers', 'Required value'))
        else:
            labels = (template.get('metadata') or {}).get('labels') or {}
            if not spec.get('selector') or not labels_match(match_labels_selector(spec['selector']), labels):
                causes.append(('spec.template.metadata.labels', 'Invalid value: %s: `selector` does not match template `labels`'
                               % json.dumps(labels)))
    if resource.kind == 'Pod':
        if not (spec.get('containers')):
            causes.append(('spec.containers', 'Required value'))
    for container in ((template or {}).get('spec') or {}).get('containers', []) + spec.get('containers', []):
        if not isinstance(container, dict) or not container.get('name') or not container.get('image'):
            causes.append(('spec.containers', 'Required value: name and image'))
    if causes:
        message = '%s "%s" is invalid: %s' % (qualified(resource), name, ', '.join('%s: %s' % cause for cause in causes))
        raise ApiError(422, message, details={'name': name, 'group': resource.group, 'kind': resource.kind,
                                              'causes': [{'reason': 'FieldValueInvalid', 'message': m, 'field': f} for f, m in causes]})


def qualified(resource):
    return '%s.%s' % (resource.plural, resource.group) if resource.group else resource.plural


def not_found(resource, name):
    return ApiError(404, '%s "%s" not found' % (qualified(resource), name),
                    details={'name': name, 'group': resource.group, 'kind': resource.plural})


class Store(object):
    """Every object by resource, namespace and name, behind one lock; a global resourceVersion counter."""

    def __init__(self):
        self.lock = threading.RLock()
        self.objects = dict((r.plural, {}) for r in RESOURCES)
        self.revision = 1000
        self.writes = 0

    def next_version(self):
        self.revision += 1
        self.writes += 1
        return str(self.revision)

    # Reads: the stored dicts themselves (callers copy before changing them).
    def get(self, resource, namespace, name):
        obj = self.objects[resource.plural].get((namespace or '', name))
        if obj is None:
            raise not_found(resource, name)
        return obj

    def find(self, resource, namespace, name):
        return self.objects[resource.plural].get((namespace or '', name))

    def all(self, resource, namespace=None):
        table = self.objects[resource.plural]
        return [table[key] for key in sorted(table) if namespace is None or key[0] == namespace]

    def list(self, resource, namespace=None, label_selector=None, field_selector=None, limit=None, token=None):
        labels = parse_label_selector(label_selector) if label_selector else None
        fields = parse_field_selector(field_selector, resource) if field_selector else None
        table = self.objects[resource.plural]
        start = None
        if token:
            try:
                start = tuple(json.loads(base64.urlsafe_b64decode(token.encode()).decode())['start'])
            except (ValueError, KeyError, TypeError) as error:
                raise ApiError(400, 'continue key is not valid: %s' % error) from error
        items, following, last = [], None, None
        for key in sorted(table):
            if namespace is not None and key[0] != namespace:
                continue
            if start is not None and key <= start:
                continue
            obj = table[key]
            if labels is not None and not labels_match(labels, obj['metadata'].get('labels')):
                continue
            if fields is not None and not fields_match(fields, obj):
                continue
            if limit and len(items) >= limit:
                following = base64.urlsafe_b64encode(json.dumps({'start': list(last), 'rv': self.revision}).encode()).decode()
                break
            items.append(obj)
            last = key
        return items, following

    # Writes: every one bumps the global resourceVersion.
    def create(self, resource, namespace, obj, generate=True):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault('metadata', {})
        if not meta.get('name') and meta.get('generateName'):
            meta['name'] = meta['generateName'] + uuid.uuid4().hex[:5]
        if resource.namespaced:
            meta['namespace'] = namespace
            if not self.find(BY_KIND['Namespace'], '', namespace):
                raise not_found(BY_KIND['Namespace'], namespace)
        else:
            meta.pop('namespace', None)
        apply_defaults(resource, obj)
        validate(resource, obj)
        key = (namespace if resource.namespaced else '', meta['name'])
        if key in self.objects[resource.plural]:
            raise ApiError(409, '%s "%s" already exists' % (qualified(resource), meta['name']), reason='AlreadyExists',
                           details={'name': meta['name'], 'group': resource.group, 'kind': resource.plural})
        obj['kind'] = resource.kind
        obj['apiVersion'] = resource.api_version
        meta['uid'] = str(uuid.uuid4())
        meta['creationTimestamp'] = now_iso()
        meta['generation'] = 1
        meta['resourceVersion'] = self.next_version()
        meta.pop('deletionTimestamp', None)
        if resource.kind == 'Namespace':
            obj.setdefault('spec', {'finalizers': ['kubernetes']})
            obj['status'] = {'phase': 'Active'}
            meta.setdefault('labels', {})['kubernetes.io/metadata.name'] = meta['name']
        self.objects[resource.plural][key] = obj
        return obj

    def replace(self, resource, current, new, part='all'):
        """Store ``new`` in place of ``current``: part 'all' (spec and metadata), 'status' or 'controller' (anything)."""
        meta = new.setdefault('metadata', {})
        sent = meta.get('resourceVersion')
        if sent and sent != current['metadata']['resourceVersion'] and part != 'controller':
            raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your changes '
                           'to the latest version and try again' % (qualified(resource), current['metadata']['name']),
                           details={'name': current['metadata']['name'], 'group': resource.group, 'kind': resource.plural})
        new = copy.deepcopy(new)
        meta = new['metadata']
        for field in ('uid', 'creationTimestamp', 'name', 'namespace', 'generation', 'deletionTimestamp'):
            if field in current['metadata']:
                meta[field] = current['metadata'][field]
            else:
                meta.pop(field, None)
        new['kind'] = resource.kind
        new['apiVersion'] = resource.api_version
        if part == 'status':
            new = dict(copy.deepcopy(current), status=new.get('status'))
            meta = new['metadata']
        elif part == 'all' and resource.has_status:
            if 'status' in current:
                new['status'] = copy.deepcopy(current['status'])
            else:
                new.pop('status', None)
        if part != 'controller':
            apply_defaults(resource, new)
        validate(resource, new)
        if new.get('spec') != current.get('spec'):
            meta['generation'] = current['metadata'].get('generation', 1) + 1
        meta['resourceVersion'] = current['metadata']['resourceVersion']
        if new == current:
            return current
        meta['resourceVersion'] = self.next_version()
        key = (meta.get('namespace', ''), meta['name'])
        self.objects[resource.plural][key] = new
        return new

    def delete(self, resource, namespace, name, precondition=None, uid=None):
        current = self.get(resource, namespace, name)
        if uid and uid != current['metadata']['uid']:
            raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": Precondition failed: UID in precondition: %s, UID in object meta: %s'
                           % (qualified(resource), name, uid, current['metadata']['uid']))
        if precondition and precondition != current['metadata']['resourceVersion']:
            raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the ResourceVersion in the precondition (%s) does not '
                           'match the ResourceVersion in record (%s). The object might have been modified'
                           % (qualified(resource), name, precondition, current['metadata']['resourceVersion']))
        del self.objects[resource.plural][(namespace if resource.namespaced else '', name)]
        gone = copy.deepcopy(current)
        gone['metadata']['deletionTimestamp'] = now_iso()
        gone['metadata']['resourceVersion'] = self.next_version()
        if resource.kind == 'Namespace':
            for other in RESOURCES:
                if other.namespaced:
                    for key in [key for key in self.objects[other.plural] if key[0] == name]:
                        del self.objects[other.plural][key]
        return gone

    def list_body(self, resource, items, following):
        body = {'kind': resource.kind + 'List', 'apiVersion': resource.api_version,
                'metadata': {'resourceVersion': str(self.revision)}, 'items': items}
        if following:
            body['metadata']['continue'] = following
        return body


def _template_defaults(spec):
    spec.setdefault('restartPolicy', 'Always')
    spec.setdefault('terminationGracePeriodSeconds', 30)
    spec.setdefault('dnsPolicy', 'ClusterFirst')
    spec.setdefault('schedulerName', 'default-scheduler')
    spec.setdefault('securityContext', {})
    for container in spec.get('containers') or []:
        if isinstance(container, dict):
            container.setdefault('imagePullPolicy', 'Always' if str(container.get('image', '')).endswith(':latest') else 'IfNotPresent')
            container.setdefault('terminationMessagePath', '/dev/termination-log')
            container.setdefault('terminationMessagePolicy', 'File')
            container.setdefault('resources', {})
            for port in container.get('ports') or []:
                port.setdefault('protocol', 'TCP')


def apply_defaults(resource, obj):
    """The API server's defaulting, so that templates compare equal the way they do on a real cluster."""
    spec = obj.get('spec')
    if not isinstance(spec, dict):
        return obj
    kind = resource.kind
    if kind in ('Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'):
        template = spec.get('template')
        if isinstance(template, dict):
            # Patch directives are not fields: the API server drops them like any unknown field.
            template.pop('$patch', None)
            template.setdefault('metadata', {})
            template['metadata'].pop('creationTimestamp', None)
            if isinstance(template.get('spec'), dict):
                _template_defaults(template['spec'])
        spec.setdefault('revisionHistoryLimit', 10)
    if kind == 'Deployment':
        spec.setdefault('replicas', 1)
        spec.setdefault('progressDeadlineSeconds', 600)
        strategy = spec.setdefault('strategy', {'type': 'RollingUpdate'})
        if strategy.get('type', 'RollingUpdate') == 'RollingUpdate':
            strategy.setdefault('type', 'RollingUpdate')
            strategy.setdefault('rollingUpdate', {}).setdefault('maxUnavailable', '25%')
            strategy['rollingUpdate'].setdefault('maxSurge', '25%')
    elif kind == 'ReplicaSet':
        spec.setdefault('replicas', 1)
        spec.pop('revisionHistoryLimit', None)
    elif kind == 'StatefulSet':
        spec.setdefault('replicas', 1)
        spec.setdefault('podManagementPolicy', 'OrderedReady')
        spec.setdefault('updateStrategy', {'type': 'RollingUpdate', 'rollingUpdate': {'partition': 0}})
        spec.setdefault('serviceName', obj['metadata'].get('name', ''))
    elif kind == 'DaemonSet':
        spec.setdefault('updateStrategy', {'type': 'RollingUpdate', 'rollingUpdate': {'maxUnavailable': 1, 'maxSurge': 0}})
    elif kind == 'Pod':
        _template_defaults(spec)
        spec.setdefault('serviceAccountName', 'default')
        spec.setdefault('enableServiceLinks', True)
        spec.setdefault('priority', 0)
    elif kind == 'Service':
        spec.setdefault('type', 'ClusterIP')
        spec.setdefault('sessionAffinity', 'None')
        if spec.get('type') != 'ExternalName' and 'clusterIP' not in spec:
            spec['clusterIP'] = '10.96.%d.%d' % (uuid.uuid4().int % 250 + 1, uuid.uuid4().int % 250 + 2)
            spec['clusterIPs'] = [spec['clusterIP']]
        for port in spec.get('ports') or []:
            port.setdefault('protocol', 'TCP')
            port.setdefault('targetPort', port.get('port'))
    return obj
