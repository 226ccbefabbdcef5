# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API access for oncall.runbooks modules.

Connection options follow kubernetes.core; they are documented once in the
``oncall.runbooks.k8s`` doc fragment and set once per playbook with ``module_defaults``
for ``group/oncall.runbooks.k8s``.

The official client loads the kubeconfig (or the in-cluster service account) and
builds the TLS/proxy connection pool; requests then go through that pool directly and
come back as parsed JSON. Deserializing every object into the client's models takes
seconds for thousands of pods, and the modules only read a few fields of each.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError,
    format_duration,
    one_line,
    seconds_since,
)

try:
    import urllib3
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException
except ImportError:
    kube_client = None
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    KUBERNETES_IMPORT_ERROR = None

# kind -> (API group prefix, plural). Every kind here is namespaced.
KINDS = {
    'Deployment': ('/apis/apps/v1', 'deployments'),
    'StatefulSet': ('/apis/apps/v1', 'statefulsets'),
    'DaemonSet': ('/apis/apps/v1', 'daemonsets'),
    'ReplicaSet': ('/apis/apps/v1', 'replicasets'),
    'ControllerRevision': ('/apis/apps/v1', 'controllerrevisions'),
    'Pod': ('/api/v1', 'pods'),
    'Service': ('/api/v1', 'services'),
    'Endpoints': ('/api/v1', 'endpoints'),
    'Event': ('/api/v1', 'events'),
}

PATCH_TYPES = {
    'merge': 'application/merge-patch+json',
    'strategic': 'application/strategic-merge-patch+json',
    'json': 'application/json-patch+json',
}


class KubeError(RunbookError):
    """An API failure; its str is one line naming the server and the cause.

    ``status`` is the HTTP status (None when the server was not reached or did not answer).
    """

    def __init__(self, message, status=None, reason=None):
        super(KubeError, self).__init__(message)
        self.status = status
        self.reason = reason


def k8s_argument_spec():
    """Connection options shared by every Kubernetes module (names as in kubernetes.core)."""
    return dict(
        kubeconfig=dict(type='raw', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
        context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
        host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
        api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
        validate_certs=dict(type='bool', aliases=['verify_ssl'], fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
        ca_cert=dict(type='path', aliases=['ssl_ca_cert'], fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
        client_cert=dict(type='path', aliases=['cert_file'], fallback=(env_fallback, ['K8S_AUTH_CERT_FILE'])),
        client_key=dict(type='path', aliases=['key_file'], no_log=False, fallback=(env_fallback, ['K8S_AUTH_KEY_FILE'])),
        proxy=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_PROXY'])),
        namespace=dict(type='str', default='default'),
        request_timeout=dict(type='int', default=10),
    )


def _load_configuration(params):
    """A kubernetes.client.Configuration from the options, the way kubernetes.core resolves them.

    An explicit O(kubeconfig) (path or dict) wins; with only O(host), the options alone are used;
    with neither, the in-cluster service account when running in a pod, else the default
    kubeconfig (C(KUBECONFIG) or C(~/.kube/config)). Explicit options override what was loaded.
    """
    configuration = kube_client.Configuration()
    kubeconfig = params.get('kubeconfig')
    try:
        if isinstance(kubeconfig, dict):
            kube_config.load_kube_config_from_dict(kubeconfig, context=params.get('context'),
                                                   client_configuration=configuration, persist_config=False)
        elif kubeconfig:
            path = os.path.expanduser(str(kubeconfig))
            if not os.path.exists(path):
                raise RunbookError('kubeconfig: %s does not exist' % path)
            kube_config.load_kube_config(config_file=path, context=params.get('context'),
                                         client_configuration=configuration, persist_config=False)
        elif not params.get('host'):
            if os.environ.get('KUBERNETES_SERVICE_HOST') and not params.get('context'):
                kube_config.load_incluster_config(client_configuration=configuration)
            else:
                kube_config.load_kube_config(context=params.get('context'), client_configuration=configuration,
                                             persist_config=False)
    except ConfigException as exc:
        raise RunbookError('kubeconfig: %s' % one_line(exc))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise RunbookError('kubeconfig: cannot be read: %s' % one_line(exc))
    if params.get('host'):
        configuration.host = params['host']
    if params.get('api_key'):
        configuration.api_key = {'authorization': params['api_key'], 'BearerToken': params['api_key']}
        configuration.api_key_prefix = {'authorization': 'Bearer', 'BearerToken': 'Bearer'}
        configuration.refresh_api_key_hook = None
    if params.get('validate_certs') is not None:
        configuration.verify_ssl = params['validate_certs']
    for option, attribute in (('ca_cert', 'ssl_ca_cert'), ('client_cert', 'cert_file'), ('client_key', 'key_file'), ('proxy', 'proxy')):
        if params.get(option):
            setattr(configuration, attribute, params[option])
    for option in ('ca_cert', 'client_cert', 'client_key'):
        if params.get(option) and not os.path.exists(params[option]):
            raise RunbookError('%s: %s does not exist' % (option, params[option]))
    if not configuration.host or configuration.host == 'http://localhost':
        if not (kubeconfig or params.get('host')):
            raise RunbookError('no Kubernetes API server: set kubeconfig, host or K8S_AUTH_KUBECONFIG')
    # Failures are reported once, within request_timeout, instead of being retried behind the user's back.
    configuration.retries = False
    return configuration


def connect(module, params=None):
    """A ``Kube`` for the module's connection options (fails the module without the client library)."""
    if kube_client is None:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params if params is None else params
    timeout = params.get('request_timeout') or 10
    if timeout < 1:
        raise RunbookError('request_timeout must be at least 1 second, got %s' % timeout)
    return Kube(_load_configuration(params), timeout)


class Kube(object):
    """Raw JSON access to one API server, every call bounded by ``timeout`` seconds."""

    def __init__(self, configuration, timeout=10):
        self.configuration = configuration
        self.timeout = timeout
        self.server = (configuration.host or '').rstrip('/')
        self._api_client = None
        # The client's REST layer builds the pool with the kubeconfig's certificates and proxy.
        self._pool = kube_client.rest.RESTClientObject(configuration).pool_manager

    @property
    def api_client(self):
        """The official ApiClient on the same configuration (for ``kubernetes.stream.stream``)."""
        if self._api_client is None:
            self._api_client = kube_client.ApiClient(self.configuration)
        return self._api_client

    def _headers(self, content_type=None, accept='application/json'):
        headers = {'Accept': accept, 'User-Agent': 'oncall.runbooks'}
        if content_type:
            headers['Content-Type'] = content_type
        for setting in self.configuration.auth_settings().values():
            if setting.get('in') == 'header' and setting.get('value'):
                headers[setting['key']] = setting['value']
        if getattr(self.configuration, 'username', None) and getattr(self.configuration, 'password', None):
            headers['authorization'] = self.configuration.get_basic_auth_token()
        return headers

    def _url(self, path, query=None):
        url = self.server + path
        if query:
            pairs = []
            for key, value in query.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    value = 'true' if value else 'false'
                pairs.append((key, value))
            if pairs:
                url += '?' + urlencode(pairs)
        return url

    def raw(self, method, path, query=None, body=None, content_type=None, accept='application/json', timeout=None):
        """Send one request; return the response body as bytes, or raise ``KubeError``."""
        timeout = timeout or self.timeout
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            content_type = content_type or 'application/json'
        try:
            response = self._pool.request(method, self._url(path, query), body=data,
                                          headers=self._headers(content_type, accept),
                                          timeout=urllib3.Timeout(total=timeout), retries=False,
                                          preload_content=True, redirect=False)
        except urllib3.exceptions.SSLError as exc:
            raise KubeError('Kubernetes API at %s: TLS failed: %s' % (self.server, _cause(exc)))
        except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.TimeoutError) as exc:
            if isinstance(exc, urllib3.exceptions.NewConnectionError):
                raise KubeError('cannot reach the Kubernetes API at %s: %s' % (self.server, _cause(exc)))
            raise KubeError('Kubernetes API at %s: no answer within %ss (%s %s)' % (self.server, timeout, method, path))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError('cannot reach the Kubernetes API at %s: %s' % (self.server, _cause(exc)))
        if response.status >= 400:
            raise _http_error(self.server, method, path, response.status, response.data)
        return response.data

    def request(self, method, path, query=None, body=None, content_type=None, timeout=None):
        """Send one request; return the parsed JSON answer (None for an empty body)."""
        data = self.raw(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise KubeError('Kubernetes API at %s: %s %s answered with something other than JSON: %r'
                            % (self.server, method, path, data[:80]))

    def get(self, path, query=None):
        return self.request('GET', path, query=query)

    def text(self, path, query=None, timeout=None):
        """A plain-text GET (pod logs), decoded as UTF-8."""
        return self.raw('GET', path, query=query, accept='*/*', timeout=timeout).decode('utf-8', 'replace')

    def items(self, path, label_selector=None, field_selector=None, limit=500):
        """Every item of a LIST, page by page (``limit`` per page, following ``continue``)."""
        items = []
        token = None
        while True:
            page = self.get(path, dict(labelSelector=label_selector or None, fieldSelector=field_selector or None,
                                       limit=limit, **({'continue': token} if token else {}))) or {}
            items.extend(page.get('items') or [])
            token = (page.get('metadata') or {}).get('continue')
            if not token:
                return items

    def patch(self, path, body, patch_type='merge'):
        if patch_type not in PATCH_TYPES:
            raise ValueError('unknown patch type %r' % patch_type)
        return self.request('PATCH', path, body=body, content_type=PATCH_TYPES[patch_type])

    def delete(self, path, body=None):
        return self.request('DELETE', path, body=body)

    def post(self, path, body):
        return self.request('POST', path, body=body)


def _cause(exc):
    """The root cause of a urllib3 error in a few words ("connection refused")."""
    seen = exc
    for dummy in range(5):
        nested = getattr(seen, 'reason', None) or seen.__cause__ or seen.__context__
        if nested is None or nested is seen or isinstance(nested, str):
            break
        seen = nested
    if isinstance(seen, ConnectionRefusedError):
        return 'connection refused'
    text = one_line(seen)
    if 'Connection refused' in text or 'Errno 111' in text:
        return 'connection refused'
    # urllib3 prefixes its own repr of the connection object; keep the part after the last colon pair.
    text = re.sub(r'^<[^>]*>:\s*', '', text)
    text = re.sub(r'^HTTP(S)?ConnectionPool\([^)]*\):\s*', '', text)
    return text


def _http_error(server, method, path, status, data):
    message = ''
    reason = None
    try:
        body = json.loads(data or b'{}')
        if isinstance(body, dict):
            message = body.get('message') or ''
            reason = body.get('reason')
    except ValueError:
        message = (data or b'').decode('utf-8', 'replace')[:200]
    message = one_line(message) if message else ''
    if status == 401:
        text = '401 Unauthorized (check the token or client certificate)'
    elif status == 403:
        text = '403 Forbidden: %s' % (message or '%s %s' % (method, path))
    else:
        text = '%d %s: %s' % (status, reason or 'Error', message or '%s %s' % (method, path))
    return KubeError('Kubernetes API at %s: %s' % (server, text), status=status, reason=reason)


# --- paths and small helpers --------------------------------------------------------

def kind_name(kind, allowed=None, option='kind'):
    """The canonical spelling of ``kind`` (case-insensitive), or RunbookError listing the choices."""
    choices = list(allowed or KINDS)
    for name in choices:
        if str(kind or '').lower() == name.lower():
            return name
    raise RunbookError('%s: %r is not one of %s' % (option, kind, ', '.join(choices)))


def object_path(kind, namespace, name=None, subresource=None):
    """API path of a namespaced object or collection, e.g. /apis/apps/v1/namespaces/ns/deployments/web/scale."""
    prefix, plural = KINDS[kind_name(kind)]
    path = '%s/namespaces/%s/%s' % (prefix, quote(namespace, safe=''), plural)
    if name is not None:
        path += '/' + quote(name, safe='')
        if subresource:
            path += '/' + subresource
    return path


def selector_string(match_labels):
    """A label selector string from a dict: {'app': 'kong', 'tier': 'edge'} -> "app=kong,tier=edge"."""
    return ','.join('%s=%s' % (key, value) for key, value in sorted((match_labels or {}).items()))


_SELECTOR_TERM = re.compile(
    r'^\s*(?:!?[A-Za-z0-9][A-Za-z0-9._/-]*'
    r'|[A-Za-z0-9][A-Za-z0-9._/-]*\s*(?:=|==|!=)\s*[A-Za-z0-9._-]*'
    r'|[A-Za-z0-9][A-Za-z0-9._/-]*\s+(?:in|notin)\s+\([A-Za-z0-9._,\s-]*\))\s*$')
_FIELD_TERM = re.compile(r'^\s*[A-Za-z0-9][A-Za-z0-9._]*\s*(?:=|==|!=)\s*[A-Za-z0-9._:/-]*\s*$')


def _split_terms(text):
    """Split a selector on commas that are not inside ``in (a,b)`` parentheses."""
    terms, depth, current = [], 0, ''
    for char in text:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
        if char == ',' and depth == 0:
            terms.append(current)
            current = ''
        else:
            current += char
    terms.append(current)
    return terms


def join_selectors(selectors, option, field=False):
    """Validate a list of selectors (kubernetes.core style) and join them with commas; None when empty."""
    selectors = [str(item) for item in (selectors or []) if str(item).strip()]
    pattern = _FIELD_TERM if field else _SELECTOR_TERM
    for selector in selectors:
        for term in _split_terms(selector):
            if not pattern.match(term):
                raise RunbookError('%s: %r is not a %s selector' % (option, selector, 'field' if field else 'label'))
    return ','.join(selector.strip() for selector in selectors) or None


def condition(obj, kind):
    """The status condition of type ``kind`` (e.g. Ready, Progressing) or None."""
    for item in ((obj or {}).get('status') or {}).get('conditions') or []:
        if item.get('type') == kind:
            return item
    return None


def controller_ref(obj):
    """The owner reference with controller=true, or None for a bare object."""
    for ref in ((obj or {}).get('metadata') or {}).get('ownerReferences') or []:
        if ref.get('controller'):
            return ref
    return None


def images_of(pod_template):
    """[{container, image}] of a pod template (or a pod), init containers first."""
    spec = (pod_template or {}).get('spec') or {}
    return [dict(container=item.get('name'), image=item.get('image'))
            for item in (spec.get('initContainers') or []) + (spec.get('containers') or [])]


_QUANTITY = re.compile(r'^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$')
_SUFFIXES = {
    '': 1, 'n': 1e-9, 'u': 1e-6, 'm': 1e-3, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18,
    'Ki': 1024, 'Mi': 1024 ** 2, 'Gi': 1024 ** 3, 'Ti': 1024 ** 4, 'Pi': 1024 ** 5, 'Ei': 1024 ** 6,
}


def parse_quantity(value):
    """A Kubernetes quantity ("250m", "128Mi", "1.5Gi", "12345n") as a float; None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIXES:
        return None
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


# --- pods as kubectl shows them -------------------------------------------------------

IMAGE_PULL_REASONS = ('ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable')
CONFIG_REASONS = ('CreateContainerConfigError', 'CreateContainerError', 'RunContainerError', 'ContainerCannotRun')


def pod_status_text(pod):
    """The STATUS column of ``kubectl get pods`` (Running, CrashLoopBackOff, OOMKilled, Init:0/1, Terminating...)."""
    metadata = pod.get('metadata') or {}
    status = pod.get('status') or {}
    reason = status.get('reason') or status.get('phase') or 'Unknown'
    init_specs = ((pod.get('spec') or {}).get('initContainers')) or []
    initializing = False
    for index, item in enumerate(status.get('initContainerStatuses') or []):
        state = item.get('state') or {}
        terminated = state.get('terminated')
        waiting = state.get('waiting')
        if terminated and terminated.get('exitCode') == 0:
            continue
        if terminated:
            reason = 'Init:' + (terminated.get('reason') or ('Signal:%s' % terminated['signal'] if terminated.get('signal')
                                                             else 'ExitCode:%s' % terminated.get('exitCode')))
        elif waiting and waiting.get('reason') and waiting['reason'] != 'PodInitializing':
            reason = 'Init:' + waiting['reason']
        else:
            reason = 'Init:%d/%d' % (index, len(init_specs))
        initializing = True
        break
    if not initializing:
        has_running = False
        for item in reversed(status.get('containerStatuses') or []):
            state = item.get('state') or {}
            if (state.get('waiting') or {}).get('reason'):
                reason = state['waiting']['reason']
            elif state.get('terminated'):
                terminated = state['terminated']
                reason = terminated.get('reason') or ('Signal:%s' % terminated['signal'] if terminated.get('signal')
                                                      else 'ExitCode:%s' % terminated.get('exitCode'))
            elif item.get('ready') and state.get('running') is not None:
                has_running = True
        if reason == 'Completed' and has_running:
            ready = condition(pod, 'Ready')
            reason = 'Running' if ready and ready.get('status') == 'True' else 'NotReady'
    if metadata.get('deletionTimestamp'):
        reason = 'Unknown' if status.get('reason') == 'NodeLost' else 'Terminating'
    return reason


def _container_view(item):
    state = item.get('state') or {}
    last = (item.get('lastState') or {}).get('terminated') or {}
    current = next(iter(state), None)
    detail = state.get(current) or {}
    view = dict(name=item.get('name'), ready=bool(item.get('ready')), restarts=item.get('restartCount') or 0,
                state=current, reason=detail.get('reason'), exit_code=detail.get('exitCode'))
    if last:
        view['last_termination'] = dict(reason=last.get('reason'), exit_code=last.get('exitCode'), finished_at=last.get('finishedAt'))
    return view


def pod_view(pod, now=None):
    """What an on-call engineer reads about a pod, from the raw API object (no model classes)."""
    metadata = pod.get('metadata') or {}
    spec = pod.get('spec') or {}
    status = pod.get('status') or {}
    containers = [_container_view(item) for item in status.get('containerStatuses') or []]
    init = [_container_view(item) for item in status.get('initContainerStatuses') or []]
    total = len(spec.get('containers') or []) or len(containers)
    ready_count = sum(1 for item in containers if item['ready'])
    owner = controller_ref(pod)
    waiting = next((item['reason'] for item in init + containers if item['state'] == 'waiting' and item['reason']
                    and item['reason'] != 'PodInitializing'), None)
    last = None
    for item in containers + init:
        termination = item.get('last_termination') or (
            dict(reason=item['reason'], exit_code=item['exit_code']) if item['state'] == 'terminated' else None)
        if termination and (last is None or termination.get('reason') == 'OOMKilled'):
            last = dict(termination, container=item['name'])
    ready_condition = condition(pod, 'Ready') or {}
    scheduled = condition(pod, 'PodScheduled') or {}
    age = seconds_since(metadata.get('creationTimestamp'), now)
    view = dict(
        name=metadata.get('name'),
        namespace=metadata.get('namespace'),
        phase=status.get('phase'),
        status=pod_status_text(pod),
        ready='%d/%d' % (ready_count, total),
        is_ready=ready_condition.get('status') == 'True',
        restarts=sum(item['restarts'] for item in containers),
        waiting_reason=waiting,
        last_termination=last,
        node=spec.get('nodeName'),
        ip=status.get('podIP'),
        age_seconds=int(age) if age is not None else None,
        age=format_duration(age) if age is not None else None,
        owner=dict(kind=owner.get('kind'), name=owner.get('name')) if owner else None,
        containers=containers,
        deleting=bool(metadata.get('deletionTimestamp')),
        resource_version=metadata.get('resourceVersion'),
        uid=metadata.get('uid'),
    )
    if init:
        view['init_containers'] = init
    if not view['is_ready'] and ready_condition.get('lastTransitionTime'):
        not_ready = seconds_since(ready_condition['lastTransitionTime'], now)
        view['not_ready_seconds'] = int(not_ready) if not_ready is not None else None
    if scheduled.get('status') == 'False':
        view['unschedulable'] = ' '.join(part for part in (scheduled.get('reason'), scheduled.get('message')) if part)
    return view


PROBLEMS = ('crash_loop', 'oom_killed', 'image_pull', 'config_error', 'pending', 'failed', 'not_ready', 'restarts')


def pod_problems(view, restarts_threshold=5, not_ready_after=0):
    """What is wrong with a pod (``pod_view``), as {problem: reason}; empty when it is healthy.

    A pod counts as ``not_ready`` only once it has been unready for ``not_ready_after``
    seconds (a pod that is starting is not a problem yet), and only when no more specific
    problem (crash loop, image pull...) explains it.
    """
    problems = {}
    if view['deleting'] or view['phase'] == 'Succeeded':
        return problems
    everything = view['containers'] + view.get('init_containers', [])
    for item in everything:
        reason = item['reason'] if item['state'] == 'waiting' else None
        if reason == 'CrashLoopBackOff':
            problems.setdefault('crash_loop', '%s is in CrashLoopBackOff (%d restarts)' % (item['name'], item['restarts']))
        elif reason in IMAGE_PULL_REASONS:
            problems.setdefault('image_pull', '%s cannot pull its image: %s' % (item['name'], reason))
        elif reason in CONFIG_REASONS:
            problems.setdefault('config_error', '%s cannot start: %s' % (item['name'], reason))
        terminated = item.get('last_termination') or {}
        if item['state'] == 'terminated':
            terminated = dict(reason=item['reason'], exit_code=item['exit_code'])
        if terminated.get('reason') == 'OOMKilled':
            problems.setdefault('oom_killed', '%s was OOMKilled (exit code %s)' % (item['name'], terminated.get('exit_code')))
    if view['phase'] == 'Pending' and not problems:
        problems['pending'] = 'pending%s' % (': ' + view['unschedulable'] if view.get('unschedulable') else '')
    if view['phase'] == 'Failed':
        problems['failed'] = 'failed: %s' % view['status']
    if view['phase'] == 'Running' and not view['is_ready'] and not problems:
        waited = view.get('not_ready_seconds')
        if waited is None or waited >= (not_ready_after or 0):
            problems['not_ready'] = 'running but not ready (%s)%s' % (
                view['ready'], ' for %s' % format_duration(waited) if waited is not None else '')
    if restarts_threshold and view['restarts'] >= restarts_threshold:
        problems['restarts'] = 'restarted %d times' % view['restarts']
    return problems


# --- rollouts and revisions (added by the rollout modules) ------------------------

WORKLOAD_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet')
REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause'
POD_TEMPLATE_HASH = 'pod-template-hash'


def status_error(server, method, path, status, data):
    """The one-line ``KubeError`` of an HTTP error answer that did not come through ``Kube`` (the exec handshake)."""
    return _http_error(server, method, path, status, data)


def read_workload(kube, kind, namespace, name):
    """The Deployment, StatefulSet or DaemonSet as JSON; a missing one is one line, not a 404."""
    if kind not in WORKLOAD_KINDS:
        raise RunbookError('kind: %r is not a workload with rollouts; use one of %s' % (kind, ', '.join(WORKLOAD_KINDS)))
    try:
        return kube.get(object_path(kind, namespace, name))
    except KubeError as exc:
        if exc.status == 404:
            raise RunbookError('%s %s/%s not found' % (kind, namespace, name))
        raise


def rollout_state(obj):
    """Where a workload's rollout stands, the way ``kubectl rollout status`` judges it.

    ``observed`` is false while the controller has not seen the latest spec: the
    status counts are then about the previous one and prove nothing. ``stalled``
    is a Deployment whose Progressing condition says ProgressDeadlineExceeded.
    """
    kind = obj.get('kind') or 'Deployment'
    meta = obj.get('metadata') or {}
    spec = obj.get('spec') or {}
    status = obj.get('status') or {}
    generation = meta.get('generation') or 0
    observed = (status.get('observedGeneration') or 0) >= generation
    state = dict(kind=kind, generation=generation, observed_generation=status.get('observedGeneration') or 0,
                 observed=observed, paused=bool(spec.get('paused')), progressing=False, stalled=False, done=False)
    if kind == 'DaemonSet':
        desired = status.get('desiredNumberScheduled') or 0
        state.update(desired=desired, current=status.get('currentNumberScheduled') or 0, updated=status.get('updatedNumberScheduled') or 0,
                     ready=status.get('numberReady') or 0, available=status.get('numberAvailable') or 0)
    else:
        desired = spec.get('replicas', 1) if spec.get('replicas') is not None else 1
        state.update(desired=desired, current=status.get('replicas') or 0, updated=status.get('updatedReplicas') or 0,
                     ready=status.get('readyReplicas') or 0, available=status.get('availableReplicas') or 0)
    progressing = condition(obj, 'Progressing')
    if kind == 'Deployment' and progressing:
        state['stalled'] = observed and progressing.get('reason') == 'ProgressDeadlineExceeded'
    if not observed:
        state['message'] = 'waiting for the controller to see generation %d' % generation
    elif state['stalled']:
        state['message'] = 'stalled: %s' % (progressing.get('message') or 'progress deadline exceeded')
    else:
        state['message'] = _rollout_progress(kind, spec, status, state)
        state['done'] = state['message'].startswith('complete')
    state['progressing'] = observed and not state['done'] and not state['stalled']
    return state


def _rollout_progress(kind, spec, status, state):
    """The first thing a rollout still waits for, or "complete: ..." (kubectl's order)."""
    desired, updated, available = state['desired'], state['updated'], state['available']
    if kind == 'StatefulSet':
        strategy = spec.get('updateStrategy') or {}
        partition = ((strategy.get('rollingUpdate') or {}).get('partition')) or 0
        if state['ready'] < desired:
            return '%d of %d ready' % (state['ready'], desired)
        if strategy.get('type', 'RollingUpdate') == 'RollingUpdate':
            if partition:
                if updated < desired - partition:
                    return '%d of %d updated (partition %d)' % (updated, desired - partition, partition)
            elif status.get('updateRevision') and status.get('currentRevision') != status.get('updateRevision'):
                return '%d of %d updated' % (updated, desired)
        return 'complete: %d of %d updated and ready' % (max(updated, state['ready']) if not partition else updated, desired)
    if updated < desired:
        return '%d of %d updated' % (updated, desired)
    if kind == 'Deployment' and state['current'] > updated:
        return '%d old replicas pending termination' % (state['current'] - updated)
    if available < updated:
        return '%d of %d updated replicas available' % (available, updated)
    return 'complete: %d of %d updated and available' % (updated, desired)


def wait_for_rollout(kube, kind, namespace, name, timeout, interval=1.0):
    """Poll until the rollout is done or stalled, or ``timeout`` seconds pass; the last state.

    ``timed_out`` says that the time ran out first and ``waited`` how long it took.
    """
    started = time.monotonic()
    while True:
        state = rollout_state(read_workload(kube, kind, namespace, name))
        elapsed = time.monotonic() - started
        state.update(timed_out=False, waited=round(elapsed, 1))
        if state['done'] or state['stalled']:
            return state
        if elapsed >= timeout:
            state['timed_out'] = True
            return state
        time.sleep(min(interval, max(timeout - elapsed, 0.05)))


def _without_empty(value):
    """JSON with None, {} and [] members dropped: the API server and the controllers differ only there."""
    if isinstance(value, dict):
        cleaned = ((key, _without_empty(item)) for key, item in value.items())
        return dict((key, item) for key, item in cleaned if item not in (None, {}, []))
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value


def revision_template(template):
    """A pod template as stored in a revision, cleaned to compare with and to patch into a workload.

    ReplicaSets add the pod-template-hash label; ControllerRevisions carry the
    strategic-merge directive ``$patch``; templates carry creationTimestamp null.
    (kubectl strips the same before ``rollout undo``.)
    """
    template = copy.deepcopy(template or {})
    template.pop('$patch', None)
    metadata = template.get('metadata') or {}
    metadata.pop('creationTimestamp', None)
    (metadata.get('labels') or {}).pop(POD_TEMPLATE_HASH, None)
    return _without_empty(template)


def same_template(first, second):
    return revision_template(first) == revision_template(second)


def owned_revisions(kube, kind, namespace, workload):
    """The workload's revisions, lowest first: {revision, name, template, images, change_cause, created}.

    Deployments keep them as ReplicaSets (annotation deployment.kubernetes.io/revision),
    StatefulSets and DaemonSets as ControllerRevisions (``.revision``, the template in
    ``data.spec.template``). Only objects whose controller is this workload count: another
    workload with an overlapping selector must not lend us its history.
    """
    uid = (workload.get('metadata') or {}).get('uid')
    match_labels = ((workload.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
    listed = kube.items(object_path('ReplicaSet' if kind == 'Deployment' else 'ControllerRevision', namespace),
                        label_selector=selector_string(match_labels) or None)
    revisions = []
    for item in listed:
        owner = controller_ref(item)
        if not owner or owner.get('uid') != uid:
            continue
        meta = item.get('metadata') or {}
        annotations = meta.get('annotations') or {}
        if kind == 'Deployment':
            number = annotations.get(REVISION_ANNOTATION)
            template = (item.get('spec') or {}).get('template')
        else:
            number = item.get('revision')
            template = (((item.get('data') or {}).get('spec')) or {}).get('template')
        try:
            number = int(number)
        except (TypeError, ValueError):
            continue  # not (yet) a revision: the controller has not annotated it
        template = revision_template(template)
        revisions.append(dict(revision=number, name=meta.get('name'), template=template, images=images_of(template),
                              change_cause=annotations.get(CHANGE_CAUSE_ANNOTATION), created=meta.get('creationTimestamp')))
    return sorted(revisions, key=lambda entry: entry['revision'])


def current_revision(workload, revisions):
    """The revision the workload's template is, or None when no revision holds it yet.

    Template equality is what counts (it is what ``rollout undo`` compares): the
    revision annotation and updateRevision lag until the controller has seen the spec.
    """
    template = (workload.get('spec') or {}).get('template')
    matching = [entry['revision'] for entry in revisions if same_template(entry['template'], template)]
    return max(matching) if matching else None


def choose_revision(numbers, current, to_revision=None, what='the workload'):
    """The revision to roll back to.

    ``to_revision`` 0 or None means the previous one: the highest revision lower
    than the current one. After earlier rollbacks the numbers have gaps (the
    revision rolled back to is renumbered as the newest), so "current minus one"
    would be wrong or missing. A revision that does not exist is an error listing those that do.
    """
    numbers = sorted(set(numbers))
    listing = ', '.join(str(number) for number in numbers) or 'none'
    if to_revision:
        if to_revision not in numbers:
            raise RunbookError('to_revision: revision %d of %s does not exist; its revisions are %s' % (to_revision, what, listing))
        return to_revision
    if current is None:
        current = numbers[-1] if numbers else None
    earlier = [number for number in numbers if current is not None and number < current]
    if not earlier:
        raise RunbookError('%s has no revision before its current revision %s to roll back to (revisions: %s)' % (what, current, listing))
    return earlier[-1]
