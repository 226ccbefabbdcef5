#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: container_exec
short_description: Run a command inside a running container, with a deadline and capped output
version_added: 0.1.0
description:
  - The runbooks' C(docker exec) (C(php artisan cache:clear), C(php-fpm-status), C(queue:monitor), C(psql) inside
    a container), through the Docker SDK for Python.
  - The container is given by name or id (O(container)), or as the first running container of a Compose
    O(service) of O(project), found by the Compose labels (no Compose binary is needed).
  - The command is O(command), split into arguments the way a shell would but never run by a shell, or O(argv),
    a list of arguments. To use shell features, run the shell, e.g. O(argv=[sh, -c, "..."]).
  - The command may run for at most O(command_timeout). When it is over, the module stops waiting and kills the
    command (possible when the engine runs on the managed host, as with a local socket), and fails.
  - Returns the exit status, stdout and stderr (separately), and their lines; each stream keeps at most
    O(max_output) bytes, the last ones.
  - A command that exits non-zero fails the task unless O(allow_failure=true).
  - O(read_only=true) marks a diagnostic command, which runs in check mode too and reports no change. Any
    other command is not run in check mode; the result says what would run.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.docker
attributes:
  check_mode:
    support: full
    description: Runs only commands marked O(read_only); reports any other without running it.
  diff_mode:
    support: none
    description: The command's effect is not known to the module.
options:
  container:
    description:
      - Name or id of the container. Mutually exclusive with O(project) and O(service).
    type: str
  project:
    description:
      - Compose project (label C(com.docker.compose.project)). Requires O(service).
    type: str
  service:
    description:
      - Compose service of O(project) (label C(com.docker.compose.service)); the command runs in its first
        running container, by container number and then name.
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
  user:
    description:
      - User (name or uid, optionally with C(:group)) to run the command as; by default the container's user.
    type: str
  workdir:
    description:
      - Working directory of the command; by default the container's.
    type: str
  env:
    description:
      - Environment variables added for the command. They are shown in the task's invocation like any other option.
    type: dict
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
      - Not to be confused with O(timeout), which bounds each call to the engine.
    type: raw
    default: 60s
  max_output:
    description:
      - Bytes of stdout, and of stderr, to keep. When a stream is longer its last O(max_output) bytes are kept
        and RV(output_truncated) is true.
    type: int
    default: 65536
notes:
  - The Docker API cannot stop an exec process. On timeout the module kills it by its process id, which works
    when the engine runs on the host where the module runs (a local socket) and the module may signal it
    (root). Otherwise RV(killed) is false and the command may still be running in the container.
seealso:
  - module: oncall.runbooks.docker_service_info
    description: Find the container that needs attention first.
'''

EXAMPLES = r'''
- name: Clear the Laravel cache in the api service (the runbook's php artisan cache:clear)
  oncall.runbooks.container_exec:
    project: linkflow
    service: api
    command: php artisan cache:clear
    command_timeout: 2m

- name: How busy is php-fpm? (a diagnostic, also run in check mode)
  oncall.runbooks.container_exec:
    container: linkflow-api
    argv: [php-fpm-status, --json]
    read_only: true
  register: fpm

- name: Count connections from inside the database container
  oncall.runbooks.container_exec:
    container: linkflow-postgres
    command: psql -U postgres -Atc "select count(*) from pg_stat_activity"
    user: postgres
    read_only: true

- name: A check whose failure is information, not an error
  oncall.runbooks.container_exec:
    project: linkflow
    service: worker
    command: php artisan queue:monitor default --max=100
    read_only: true
    allow_failure: true
  register: queue
'''

RETURN = r'''
container:
  description: Name of the container the command ran (or would run) in.
  returned: success
  type: str
  sample: linkflow-api
container_id:
  description: Full id of that container.
  returned: success
  type: str
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
killed:
  description: After a timeout, whether the module killed the command.
  returned: when RV(timed_out) is true
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
  sample: [php, artisan, "cache:clear"]
cmd:
  description: The command as one shell-quoted line.
  returned: always
  type: str
  sample: php artisan cache:clear
duration_seconds:
  description: How long the command ran.
  returned: when the command ran
  type: float
'''

import os
import select
import signal
import struct
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
from ansible_collections.oncall.runbooks.plugins.module_utils.docker import (
    connect,
    container_name,
    docker_argument_spec,
    PROJECT_LABEL,
    SERVICE_LABEL,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import failing_on_error, RunbookError

try:
    from docker.errors import NotFound
except ImportError:
    NotFound = None  # connect() reports the missing library

# Frames of a multiplexed (non-TTY) attach stream: 1 byte stream, 3 padding, 4 bytes big-endian length.
FRAME_HEADER = struct.Struct('>BxxxL')
STREAMS = {1: 'stdout', 2: 'stderr'}


def validate(module):
    params = module.params
    if params['container'] is not None and (params['project'] is not None or params['service'] is not None):
        raise RunbookError('container: give either container, or project and service, not both')
    if params['container'] is None:
        if params['project'] is None or params['service'] is None:
            raise RunbookError('container: required (or project and service) to say where the command runs')
    elif not params['container'].strip():
        raise RunbookError('container: must not be empty')
    for key in (params['env'] or {}):
        if not key or '=' in key:
            raise RunbookError('env: %r is not a variable name' % key)
    argv = command_argv(module)
    timeout, limit = command_limits(module)
    return argv, timeout, limit


def find_container(client, params):
    """Inspect data of the target container; RunbookError when there is none running."""
    if params['container'] is not None:
        try:
            attrs = client.api.inspect_container(params['container'])
        except NotFound:
            raise RunbookError('container: no container named or with id %r' % params['container'])
        if not attrs['State'].get('Running'):
            raise RunbookError('container %s is not running (%s): nothing to exec in' % (
                container_name(attrs), attrs['State'].get('Status')))
        return attrs
    labels = ['%s=%s' % (PROJECT_LABEL, params['project']), '%s=%s' % (SERVICE_LABEL, params['service'])]
    found = client.api.containers(all=True, filters={'label': labels})
    if not found:
        raise RunbookError('service: no container of service %r in project %r' % (params['service'], params['project']))
    running = [item for item in found if item.get('State') == 'running']
    if not running:
        raise RunbookError('service %s of project %s has no running container (%d stopped)' % (
            params['service'], params['project'], len(found)))

    def order(item):
        number = (item.get('Labels') or {}).get('com.docker.compose.container-number', '')
        return (int(number) if number.isdigit() else 0, sorted(item.get('Names') or [''])[0])

    return client.api.inspect_container(sorted(running, key=order)[0]['Id'])


def raw_socket(stream):
    """The socket under what exec_start(socket=True) returns (a SocketIO for unix and tcp sockets)."""
    return getattr(stream, '_sock', stream)


def read_frames(sock, deadline):
    """Read the multiplexed stream until it ends or ``deadline``: (stdout bytes, stderr bytes, finished)."""
    output = {'stdout': bytearray(), 'stderr': bytearray()}
    pending = b''
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(output['stdout']), bytes(output['stderr']), False
        # A TLS socket may hold decrypted bytes that select() cannot see.
        buffered = getattr(sock, 'pending', None)
        if not (buffered and buffered()) and not select.select([sock], [], [], remaining)[0]:
            continue
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(output['stdout']), bytes(output['stderr']), True
        pending += chunk
        while len(pending) >= FRAME_HEADER.size:
            stream, size = FRAME_HEADER.unpack_from(pending)
            if len(pending) < FRAME_HEADER.size + size:
                break
            payload = pending[FRAME_HEADER.size:FRAME_HEADER.size + size]
            pending = pending[FRAME_HEADER.size + size:]
            output[STREAMS.get(stream, 'stdout')] += payload


def descendants(pid):
    """Host pids of the processes under ``pid``, from /proc (read before the parent is reaped)."""
    parents = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                # The command name may hold spaces and brackets: the parent pid follows its closing bracket.
                parents[int(entry)] = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        queue += children
    return found


def kill_exec(client, exec_id):
    """Kill a command that outlived its deadline, by its host pid (the engine API has no way to)."""
    try:
        pid = client.api.exec_inspect(exec_id).get('Pid') or 0
    except Exception:  # pylint: disable=broad-except
        return False
    if pid <= 1 or not os.path.exists('/proc/%d' % pid):
        return False
    # Stopped first so that it starts nothing more; its children are found while they are still its
    # children (a shell's children outlive it) and killed with it.
    try:
        os.kill(pid, signal.SIGSTOP)
        tree = descendants(pid)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return False
    for child in tree:
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not client.api.exec_inspect(exec_id).get('Running'):
            return True
        time.sleep(0.1)
    return False


def run(client, attrs, argv, params, timeout):
    """exec_create + exec_start on a raw socket with our own deadline: (rc, stdout, stderr, timed_out, killed, seconds)."""
    environment = ['%s=%s' % (key, '' if value is None else value) for key, value in (params['env'] or {}).items()]
    created = client.api.exec_create(attrs['Id'], argv, stdout=True, stderr=True, tty=False, user=params['user'] or '',
                                     workdir=params['workdir'], environment=environment or None)
    exec_id = created['Id']
    started = time.monotonic()
    deadline = started + timeout
    stream = client.api.exec_start(exec_id, socket=True)
    sock = raw_socket(stream)
    try:
        stdout, stderr, finished = read_frames(sock, deadline)
    finally:
        try:
            stream.close()
        except Exception:  # pylint: disable=broad-except
            pass
    duration = time.monotonic() - started
    if not finished:
        return None, stdout, stderr, True, kill_exec(client, exec_id), duration
    info = client.api.exec_inspect(exec_id)
    # The stream ends a moment before the engine records the exit code.
    while info.get('Running') and time.monotonic() < deadline + 5:
        time.sleep(0.05)
        info = client.api.exec_inspect(exec_id)
    return info.get('ExitCode'), stdout, stderr, False, False, duration


def main():
    argument_spec = docker_argument_spec()
    argument_spec.update(command_argument_spec())
    argument_spec.update(
        container=dict(type='str'),
        project=dict(type='str'),
        service=dict(type='str'),
        user=dict(type='str'),
        workdir=dict(type='str'),
        env=dict(type='dict'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=COMMAND_MUTUALLY_EXCLUSIVE)
    params = module.params
    where = params['container'] or '%s/%s' % (params['project'], params['service'])
    with failing_on_error(module, 'container %s' % where):
        argv, timeout, limit = validate(module)
    client = connect(module)
    with failing_on_error(module, 'container %s' % where):
        attrs = find_container(client, params)
        name = container_name(attrs)
        target = 'container %s' % name
        base = dict(container=name, container_id=attrs['Id'])
        if not runs_in_check_mode(module):
            result = exec_result(None, '', '', limit, argv=argv, ran=False)
            result.update(base, changed=True)
            finish(module, result, 'container %s' % name)
        rc, stdout, stderr, timed_out, killed, duration = run(client, attrs, argv, params, timeout)
    result = exec_result(rc, stdout, stderr, limit, argv=argv, timed_out=timed_out, duration=duration)
    result.update(base, changed=not params['read_only'])
    if timed_out:
        result['killed'] = killed
    finish(module, result, target, timeout)


if __name__ == '__main__':
    main()
