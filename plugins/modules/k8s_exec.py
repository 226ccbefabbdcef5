#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_exec
short_description: Run a command inside a pod's container, with a deadline and capped output
version_added: 0.1.0
description:
  - The runbooks' C(kubectl exec postgres-0 -- psql ...) and C(kubectl exec ... -- cat /proc/meminfo), through the
    official client's exec stream (a websocket to the API server).
  - The pod is given by name (O(pod)), or as the first running and ready pod, by name, that O(label_selectors) match.
  - The container is O(container), or the pod's default container (annotation C(kubectl.kubernetes.io/default-container))
    or its first one. A container that the pod does not have fails before anything runs, listing those it has.
  - The command is O(command), split into arguments the way a shell would but never run by a shell, or O(argv),
    a list of arguments. To use shell features, run the shell, e.g. O(argv=[sh, -c, "..."]).
  - The command may run for at most O(command_timeout); then the module closes the stream and fails.
  - Returns the exit status (from the stream's status channel), stdout and stderr (separately), and their lines;
    each stream keeps at most O(max_output) bytes, the last ones.
  - A command that exits non-zero fails the task unless O(allow_failure=true).
  - O(read_only=true) marks a diagnostic command, which runs in check mode too and reports no change. Any
    other command is not run in check mode; the result says what would run, and where.
  - This is a module of its own rather than a target of M(oncall.runbooks.container_exec) because the
    connection options of the two domains share names (O(validate_certs), O(client_cert), timeouts) with
    different meanings, and a module in both the C(docker) and the C(k8s) C(module_defaults) groups would
    get both sets of defaults.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.k8s
attributes:
  check_mode:
    support: full
    description: Runs only commands marked O(read_only); reports any other without running it.
  diff_mode:
    support: none
    description: The command's effect is not known to the module.
options:
  pod:
    description:
      - Name of the pod, in O(namespace). Exactly one of O(pod) and O(label_selectors) is required.
    type: str
  label_selectors:
    description:
      - Label selectors (as in C(kubernetes.core)), e.g. V(app=postgres); the command runs in the first running
        and ready pod they match, by name.
    type: list
    elements: str
  container:
    description:
      - The container to run the command in; by default the pod's default container.
    type: str
  command:
    description:
      - The command, split into arguments like a shell would (quotes are honoured) but not run by a shell.
      - Exactly one of O(command) and O(argv) is required.
    type: str
  argv:
    description:
      - The command as a list of arguments, passed as is.
    type: list
    elements: str
  read_only:
    description:
      - The command only reads (a status or diagnostic command). It then also runs in check mode, and the task
        reports no change.
      - Without it the command is assumed to change something; in check mode it is not run.
    type: bool
    default: false
  allow_failure:
    description:
      - Return a non-zero exit status as a result instead of failing the task.
    type: bool
    default: false
  command_timeout:
    description:
      - How long the command may run, as seconds or a duration (V(30s), V(5m)). More than 0.
      - Not to be confused with O(request_timeout), which bounds each call to the API server and opening the stream.
    type: raw
    default: 60s
  max_output:
    description:
      - Bytes of stdout, and of stderr, to keep. When a stream is longer its last O(max_output) bytes are kept
        and RV(output_truncated) is true.
    type: int
    default: 65536
notes:
  - When O(command_timeout) passes, the module closes the exec stream. The kubelet then stops streaming; whether the
    process in the container is stopped too depends on the container runtime, so a command that may hang is best
    wrapped in C(timeout), e.g. O(argv=[timeout, 30, psql, ...]).
seealso:
  - module: oncall.runbooks.container_exec
    description: The same for Docker containers.
  - module: oncall.runbooks.k8s_pod_health
    description: Which pod needs attention first.
'''

EXAMPLES = r'''
- name: Count connections from inside the database pod (the runbook's kubectl exec postgres-0 -- psql)
  oncall.runbooks.k8s_exec:
    namespace: production
    pod: postgres-0
    command: psql -U postgres -Atc "select count(*) from pg_stat_activity"
    read_only: true
  register: connections

- name: Memory as the kernel of a kong pod sees it (a diagnostic, also run in check mode)
  oncall.runbooks.k8s_exec:
    namespace: production
    label_selectors: [app=kong]
    argv: [cat, /proc/meminfo]
    read_only: true

- name: Clear the application cache in one API pod
  oncall.runbooks.k8s_exec:
    namespace: linkflow
    label_selectors: [app=linkflow-api]
    container: api
    command: php artisan cache:clear
    command_timeout: 2m
'''

RETURN = r'''
pod:
  description: Name of the pod the command ran (or would run) in.
  returned: success
  type: str
  sample: postgres-0
container:
  description: Name of the container.
  returned: success
  type: str
  sample: postgres
rc:
  description: Exit status of the command; null when it did not run (check mode) or did not finish.
  returned: always
  type: int
  sample: 0
stdout:
  description: Standard output (at most O(max_output) bytes, the last ones).
  returned: always
  type: str
stderr:
  description: Standard error (at most O(max_output) bytes, the last ones).
  returned: always
  type: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
stderr_lines:
  description: RV(stderr) split into lines.
  returned: always
  type: list
  elements: str
output_truncated:
  description: Whether output was cut to O(max_output).
  returned: always
  type: bool
truncated_bytes:
  description: How many bytes of output were cut (both streams).
  returned: always
  type: int
timed_out:
  description: Whether the command was still running at O(command_timeout).
  returned: always
  type: bool
ran:
  description: Whether the command ran (false in check mode unless O(read_only)).
  returned: always
  type: bool
argv:
  description: The command's arguments.
  returned: always
  type: list
  elements: str
  sample: [cat, /proc/meminfo]
cmd:
  description: The command as one shell-quoted line.
  returned: always
  type: str
  sample: cat /proc/meminfo
duration_seconds:
  description: How long the command ran.
  returned: when the command ran
  type: float
'''

import json
import re
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.command import (
    COMMAND_MUTUALLY_EXCLUSIVE,
    command_argument_spec,
    command_argv,
    command_limits,
    exec_result,
    finish,
    runs_in_check_mode,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    condition,
    connect,
    join_selectors,
    k8s_argument_spec,
    KubeError,
    object_path,
    status_error,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import failing_on_error, one_line, RunbookError

try:
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream
except ImportError:
    stream = None  # connect() reports the missing library

DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container'
STATUS_CHANNEL = 3
HANDSHAKE_STATUS = re.compile(r'Handshake status (\d{3})')


class HandshakeTimeout(Exception):
    pass


def validate(module):
    params = module.params
    if (params['pod'] is None) == (not params['label_selectors']):
        raise RunbookError('pod and label_selectors: give exactly one of them to say where the command runs')
    if params['pod'] is not None and not params['pod'].strip():
        raise RunbookError('pod: must not be empty')
    selector = join_selectors(params['label_selectors'], 'label_selectors') if params['label_selectors'] else None
    argv = command_argv(module)
    timeout, limit = command_limits(module)
    return selector, argv, timeout, limit


def is_ready(pod):
    ready = condition(pod, 'Ready') or {}
    return (pod.get('status') or {}).get('phase') == 'Running' and ready.get('status') == 'True' and not pod['metadata'].get('deletionTimestamp')


def find_pod(kube, namespace, name, selector):
    """The pod to exec in: the named one (running), or the first running and ready one the selector matches."""
    if name is not None:
        try:
            pod = kube.get(object_path('Pod', namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                raise RunbookError('pod: %s/%s not found' % (namespace, name))
            raise
        phase = (pod.get('status') or {}).get('phase')
        if phase != 'Running':
            raise RunbookError('pod %s/%s is %s, not Running: nothing to exec in' % (namespace, name, phase))
        return pod
    pods = sorted(kube.items(object_path('Pod', namespace), label_selector=selector), key=lambda item: item['metadata']['name'])
    ready = [pod for pod in pods if is_ready(pod)]
    if not ready:
        raise RunbookError('label_selectors: no running and ready pod in %s matches %s (%d pods match)' % (namespace, selector, len(pods)))
    return ready[0]


def pick_container(pod, wanted):
    """The container to exec in; RunbookError listing the pod's containers for one it does not have."""
    names = [item.get('name') for item in ((pod.get('spec') or {}).get('containers') or [])]
    if wanted is not None:
        if wanted not in names:
            raise RunbookError('container: pod %s/%s has no container %r; its containers are %s' % (
                pod['metadata'].get('namespace'), pod['metadata']['name'], wanted, ', '.join(names) or 'none'))
        return wanted
    default = ((pod['metadata'].get('annotations')) or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if default in names:
        return default
    if not names:
        raise RunbookError('pod %s/%s has no containers' % (pod['metadata'].get('namespace'), pod['metadata']['name']))
    return names[0]


def exit_code(status_text, target):
    """The exit status from the status channel: {"status": "Success"} or a NonZeroExitCode cause."""
    try:
        status = json.loads(status_text) if status_text else {}
    except ValueError:
        status = {}
    if status.get('status') == 'Success':
        return 0
    for cause in ((status.get('details') or {}).get('causes')) or []:
        if cause.get('reason') == 'ExitCode':
            return int(cause.get('message'))
    raise RunbookError('%s: the command did not run: %s' % (target, one_line(status.get('message') or status_text or 'no exit status from the API server')))


def handshake_error(kube, pod, text):
    """A refused exec handshake as the one line every other API error gets.

    The client wraps it in an ApiException with status 0 whose reason reads
    "Handshake status 403 Forbidden -+-+- {headers} -+-+- body".
    """
    text = str(text)
    match = HANDSHAKE_STATUS.search(text)
    if match:
        body = text.rsplit(' -+-+- ', 1)[-1] if ' -+-+- ' in text else ''
        body = body[2:-1] if body.startswith("b'") and body.endswith("'") else body
        path = object_path('Pod', pod['metadata']['namespace'], pod['metadata']['name'], 'exec')
        return status_error(kube.server, 'GET', path, int(match.group(1)), body.encode('utf-8', 'replace'))
    return RunbookError('Kubernetes API at %s: cannot open the exec stream: %s' % (kube.server, one_line(text)))


def open_stream(kube, pod, container, argv, request_timeout):
    """Start the exec websocket; the client sets no timeout on the handshake, so an alarm bounds it."""
    expired = []

    def on_alarm(signum, frame):
        expired.append(signum)
        raise HandshakeTimeout('no answer within %ss' % request_timeout)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(int(request_timeout), 1))
    try:
        return stream(CoreV1Api(kube.api_client).connect_get_namespaced_pod_exec, pod['metadata']['name'], pod['metadata']['namespace'],
                      command=argv, container=container, stdin=False, stdout=True, stderr=True, tty=False,
                      _preload_content=False, _request_timeout=request_timeout)
    except Exception as exc:  # pylint: disable=broad-except
        # The client wraps whatever the handshake raised (our alarm too) in an ApiException with status 0.
        if expired:
            raise RunbookError('Kubernetes API at %s: no answer within %ss opening the exec stream' % (kube.server, request_timeout))
        raise handshake_error(kube, pod, getattr(exc, 'reason', None) or str(exc))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(kube, pod, container, argv, timeout, request_timeout, target):
    """(rc, stdout, stderr, timed_out, seconds), reading the stream until it closes or ``timeout`` passes."""
    started = time.monotonic()
    client = open_stream(kube, pod, container, argv, request_timeout)
    deadline = started + timeout
    stdout, stderr = [], []
    try:
        while client.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            client.update(timeout=min(remaining, 1.0))
            stdout.append(client.read_stdout(timeout=0))
            stderr.append(client.read_stderr(timeout=0))
        finished = not client.is_open()
        stdout.append(client.read_stdout(timeout=0))
        stderr.append(client.read_stderr(timeout=0))
        status_text = client.read_channel(STATUS_CHANNEL) if finished else ''
    finally:
        client.close()
    duration = time.monotonic() - started
    if not finished:
        return None, ''.join(stdout), ''.join(stderr), True, duration
    return exit_code(status_text, target), ''.join(stdout), ''.join(stderr), False, duration


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(command_argument_spec())
    argument_spec.update(
        pod=dict(type='str'),
        label_selectors=dict(type='list', elements='str'),
        container=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=COMMAND_MUTUALLY_EXCLUSIVE + [('pod', 'label_selectors')])
    params = module.params
    namespace = params['namespace']
    where = 'pod %s/%s' % (namespace, params['pod'] or ','.join(params['label_selectors'] or []))
    with failing_on_error(module, where):
        selector, argv, timeout, limit = validate(module)
        kube = connect(module)
        pod = find_pod(kube, namespace, params['pod'], selector)
        container = pick_container(pod, params['container'])
        target = 'pod %s/%s container %s' % (namespace, pod['metadata']['name'], container)
        base = dict(pod=pod['metadata']['name'], container=container)
        if not runs_in_check_mode(module):
            result = exec_result(None, '', '', limit, argv=argv, ran=False)
            result.update(base, changed=True)
            finish(module, result, target)
        rc, stdout, stderr, timed_out, duration = run(kube, pod, container, argv, timeout, kube.timeout, target)
    result = exec_result(rc, stdout, stderr, limit, argv=argv, timed_out=timed_out, duration=duration)
    result.update(base, changed=not params['read_only'])
    finish(module, result, target, timeout)


if __name__ == '__main__':
    main()
