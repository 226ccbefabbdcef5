#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: docker_rollback
short_description: Recreate a Compose service's containers from a previous image, keeping the old ones until the new are healthy
version_added: 0.1.0
description:
  - The runbooks' "Docker Compose Rollback" (put the previous image tag back and recreate the service), through the
    Docker SDK for Python, without a Compose file or binary.
  - Each selected container is recreated from O(to_image), or from O(to_tag) of the repository it runs now, or, with
    neither, from the image recorded in its label C(oncall.runbooks.previous-image) by an earlier rollback.
  - The new container gets the old one's configuration - environment, command and entrypoint, labels, mounts and
    volumes, network mode and networks with their aliases, restart policy, memory and CPU limits, health check and the
    other host settings. Settings that the old container only had from its old image (its environment, command,
    entrypoint, working directory, user, health check and labels) are left to the new image.
  - The new container is created under a temporary name and started next to the old one; only when it runs and, with
    a health check, is healthy is the old one removed and the new one given its name. The old image is recorded in the
    new container's label C(oncall.runbooks.previous-image), so that the next rollback without a target returns to it.
  - When the new container does not become ready within O(wait_timeout) (it exits, or its health check reports
    unhealthy), it is removed, the old one is left (or put back) running, and the task fails with the reason and the
    health check's output.
  - A container with fixed host ports or a fixed IP address cannot run twice; it is stopped first and started again
    if its replacement fails.
  - Containers are rolled back one at a time; the first failure stops the rollback.
  - The target image must be present on the engine (nothing is pulled); otherwise the task fails before anything is
    touched. Containers already running the target image are left alone.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.docker
  - oncall.runbooks.docker.selection
attributes:
  check_mode:
    support: full
    description: Reports each container's current and target image and touches nothing.
  diff_mode:
    support: full
    description: Shows, per container, the image before and after.
options:
  to_image:
    description:
      - The image to run, as a reference (V(linkflow/api:1.4.2)) or an id. Mutually exclusive with O(to_tag).
    type: str
  to_tag:
    description:
      - The tag to run, in the repository of each container's current image (V(linkflow/api:1.4.3) with
        O(to_tag=1.4.2) becomes V(linkflow/api:1.4.2)).
    type: str
  wait_timeout:
    description:
      - How long each new container may take to run and, with a health check, to be healthy, as seconds or a duration
        (V(90s), V(5m)).
    type: raw
    default: 2m
  stop_timeout:
    description:
      - Seconds the engine gives the old container to stop (after C(SIGTERM)) before it kills it.
    type: int
    default: 10
  max_containers:
    description:
      - Recreate at most this many containers in one run (at least 1). The others are counted in RV(left_out).
    type: int
    default: 10
notes:
  - Anonymous volumes of the old container are handed over to the new one by name, so their data stays.
  - The Compose file is not changed. A later C(docker compose up) of the service recreates its containers from the
    image the Compose file names; change the file too to make the rollback stick.
seealso:
  - module: oncall.runbooks.docker_service_info
    description: See whether the release is failing (unhealthy, exited, restart loop) before rolling back.
  - module: oncall.runbooks.docker_service_restart
    description: When the release is fine and the containers only need a restart.
'''

EXAMPLES = r'''
- name: Roll the api back to the previous release tag
  oncall.runbooks.docker_rollback:
    project: linkflow
    services: [api]
    to_tag: 1.4.2

- name: Undo the last rollback (or deploy made by docker_rollback), without naming the image
  oncall.runbooks.docker_rollback:
    project: linkflow
    services: [api, worker]

- name: What would change? (check mode with diff)
  oncall.runbooks.docker_rollback:
    containers: [linkflow-frontend]
    to_image: registry.internal/linkflow/frontend:2026-11-20
  check_mode: true
  diff: true
'''

RETURN = r'''
actions:
  description: One entry per container recreated (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The container's name.
      type: str
      sample: linkflow-api
    action:
      description: Always C(recreate).
      type: str
    reason:
      description: From which image to which.
      type: str
      sample: "linkflow/api:1.0.1 -> linkflow/api:1.0.0"
    done:
      description: Whether the container now runs the target image. Always false in check mode.
      type: bool
    service:
      description: Compose service of the container, if any.
      type: str
    from_image:
      description: The image the container ran.
      type: str
    to_image:
      description: The image it runs now (or would run).
      type: str
    old_id:
      description: Short id of the old container.
      type: str
    new_id:
      description: Short id of the new container.
      type: str
      returned: when done
    stopped_first:
      description: Whether the old container had to be stopped first (fixed host ports or addresses).
      type: bool
    error:
      description: Why the rollback of this container failed, with the health check's output.
      type: str
      returned: on failure
unchanged:
  description: Selected containers already on their target image.
  returned: always
  type: list
  elements: str
summary:
  description: One line for humans and the timeline.
  returned: always
  type: str
  sample: "recreated 1 of 1 containers"
candidates:
  description: Containers that qualified, before O(max_containers).
  returned: always
  type: int
left_out:
  description: Containers left out by O(max_containers).
  returned: always
  type: int
'''

import time
import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.docker import (
    connect,
    container_name,
    docker_argument_spec,
    engine_name,
    image_exists,
    last_health_output,
    PREVIOUS_IMAGE_LABEL,
    select_containers,
    SELECTION_RULES,
    selection_argument_spec,
    service_of,
    wait_until_settled,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_cap,
    failing_on_error,
    one_line,
    parse_duration,
    Plan,
    plan_summary,
    RunbookError,
)

try:
    from docker.errors import NotFound
except ImportError:
    NotFound = None  # connect() reports the missing library

# Config fields that, when equal to the old image's, came from it and are left to the new image.
FROM_IMAGE = ('Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Healthcheck', 'StopSignal', 'Volumes', 'ExposedPorts', 'Shell')
# Config fields copied as they are.
AS_IS = ('Domainname', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'StopTimeout',
         'ArgsEscaped', 'OnBuild', 'MacAddress')


def validate(params):
    """Every check that needs no engine: fail before anything is touched."""
    check_cap(params['max_containers'], 'max_containers')
    wait_timeout = parse_duration(params['wait_timeout'], 'wait_timeout')
    if wait_timeout <= 0:
        raise RunbookError('wait_timeout must be more than 0, got %r' % params['wait_timeout'])
    if isinstance(params['stop_timeout'], bool) or params['stop_timeout'] < 0:
        raise RunbookError('stop_timeout must be 0 or more seconds, got %r' % params['stop_timeout'])
    for option in ('to_image', 'to_tag'):
        if params[option] is not None and not params[option].strip():
            raise RunbookError('%s: must not be empty' % option)
    if params['to_tag'] is not None and ('/' in params['to_tag'] or ':' in params['to_tag'] or '@' in params['to_tag']):
        raise RunbookError('to_tag: %r is not a tag (use to_image for a full image reference)' % params['to_tag'])
    return wait_timeout


def repository_of(ref):
    """The repository of an image reference: ``registry:5000/team/app:1.2`` -> ``registry:5000/team/app``."""
    ref = ref.split('@', 1)[0]
    slash = ref.rfind('/')
    colon = ref.rfind(':')
    return ref[:colon] if colon > slash else ref


def target_of(attrs, params):
    """The image reference this container should run, or RunbookError (bad input) when none can be told."""
    current = attrs['Config'].get('Image') or ''
    name = container_name(attrs)
    if params['to_image']:
        return params['to_image']
    if params['to_tag']:
        if current.startswith('sha256:') or not current:
            raise RunbookError('to_tag: container %s runs image %s, which has no repository to take tag %s from; use to_image' % (
                name, current[:19], params['to_tag']))
        return '%s:%s' % (repository_of(current), params['to_tag'])
    recorded = (attrs['Config'].get('Labels') or {}).get(PREVIOUS_IMAGE_LABEL)
    if not recorded:
        raise RunbookError('to_image: required for container %s, which has no %s label (it was not deployed by docker_rollback); '
                           'give to_image or to_tag' % (name, PREVIOUS_IMAGE_LABEL))
    return recorded


def plan_rollback(client, selected, params):
    """Check every target image first (bad input touches nothing), then plan the containers not on theirs."""
    targets = [(attrs, target_of(attrs, params)) for attrs in selected]
    image_ids = {}
    for ref in sorted(set(ref for attrs, ref in targets)):
        if not image_exists(client, ref):
            option = 'to_image' if params['to_image'] else 'to_tag' if params['to_tag'] else PREVIOUS_IMAGE_LABEL
            raise RunbookError('%s: image %s is not on the engine at %s (nothing is pulled; docker pull it first)' % (
                option, ref, engine_name(params)))
        image_ids[ref] = client.api.inspect_image(ref)['Id']
    plan = Plan(limit=params['max_containers'])
    unchanged = []
    for attrs, ref in targets:
        name = container_name(attrs)
        if attrs['Image'] == image_ids[ref]:
            unchanged.append(name)
            continue
        current = attrs['Config'].get('Image') or attrs['Image']
        plan.add(name, 'recreate', '%s -> %s' % (current, ref), service=service_of(attrs), from_image=current, to_image=ref,
                 old_id=attrs['Id'][:12], stopped_first=exclusive(attrs))
    return plan.cap(), unchanged


def exclusive(attrs):
    """Whether two copies of the container cannot run at once: fixed host ports, IP or MAC addresses, host network."""
    host = attrs.get('HostConfig') or {}
    if host.get('NetworkMode') == 'host' or (attrs.get('Config') or {}).get('MacAddress'):
        return True
    for bindings in (host.get('PortBindings') or {}).values():
        if any((binding or {}).get('HostPort') for binding in bindings or []):
            return True
    for network in ((attrs.get('NetworkSettings') or {}).get('Networks') or {}).values():
        ipam = (network or {}).get('IPAMConfig') or {}
        if ipam.get('IPv4Address') or ipam.get('IPv6Address'):
            return True
    return False


def container_config(attrs, old_image, new_ref):
    """The create request of the replacement: the old container's own settings, the new image's defaults."""
    config = attrs['Config']
    image_config = old_image.get('Config') or {}
    body = dict((key, config[key]) for key in AS_IS if config.get(key) is not None)
    image_env = set(image_config.get('Env') or [])
    body['Env'] = [item for item in config.get('Env') or [] if item not in image_env]
    for key in FROM_IMAGE:
        if config.get(key) is not None and config.get(key) != image_config.get(key):
            body[key] = config[key]
    image_labels = image_config.get('Labels') or {}
    labels = dict((key, value) for key, value in (config.get('Labels') or {}).items() if image_labels.get(key) != value)
    labels[PREVIOUS_IMAGE_LABEL] = config.get('Image') or attrs['Image']
    body['Labels'] = labels
    # The engine sets the hostname to the short id unless one was given.
    if config.get('Hostname') and config['Hostname'] != attrs['Id'][:12]:
        body['Hostname'] = config['Hostname']
    body['Image'] = new_ref
    body['HostConfig'] = host_config(attrs)
    networks = endpoints(attrs)
    if networks:
        first = sorted(networks)[0]
        body['NetworkingConfig'] = {'EndpointsConfig': {first: networks[first]}}
    return body, networks


def host_config(attrs):
    """The old HostConfig, with anonymous volumes handed over by name so that their data stays."""
    host = dict(attrs.get('HostConfig') or {})
    binds = list(host.get('Binds') or [])
    declared = set(bind.split(':')[1] for bind in binds if ':' in bind)
    declared.update(mount.get('Target') for mount in host.get('Mounts') or [])
    for mount in attrs.get('Mounts') or []:
        if mount.get('Type') == 'volume' and mount.get('Name') and mount.get('Destination') not in declared:
            binds.append('%s:%s:%s' % (mount['Name'], mount['Destination'], 'rw' if mount.get('RW', True) else 'ro'))
    host['Binds'] = binds or None
    return host


def endpoints(attrs):
    """Networks to connect the replacement to, with their aliases and fixed addresses (not for none/host/container:)."""
    mode = (attrs.get('HostConfig') or {}).get('NetworkMode') or ''
    if mode in ('none', 'host') or mode.startswith('container:'):
        return {}
    result = {}
    short_id = attrs['Id'][:12]
    for name, network in ((attrs.get('NetworkSettings') or {}).get('Networks') or {}).items():
        network = network or {}
        entry = {}
        aliases = [alias for alias in network.get('Aliases') or [] if alias != short_id]
        if aliases:
            entry['Aliases'] = aliases
        if network.get('IPAMConfig'):
            entry['IPAMConfig'] = network['IPAMConfig']
        if network.get('Links'):
            entry['Links'] = network['Links']
        if network.get('DriverOpts'):
            entry['DriverOpts'] = network['DriverOpts']
        result[name] = entry
    return result


def create(client, body, networks, name):
    """POST /containers/create with the full body (the SDK's create_container cannot take an inspected HostConfig)."""
    api = client.api
    response = api._post_json(api._url('/containers/create'), data=body, params={'name': name})  # pylint: disable=protected-access
    new_id = api._result(response, True)['Id']  # pylint: disable=protected-access
    first = sorted(networks)[0] if networks else None
    for network, entry in sorted(networks.items()):
        if network != first:
            api.connect_container_to_network(new_id, network, aliases=entry.get('Aliases'), links=entry.get('Links'),
                                             ipv4_address=(entry.get('IPAMConfig') or {}).get('IPv4Address'),
                                             ipv6_address=(entry.get('IPAMConfig') or {}).get('IPv6Address'),
                                             driver_opt=entry.get('DriverOpts'))
    return new_id


def was_running(attrs):
    state = attrs.get('State') or {}
    return bool(state.get('Running') or state.get('Restarting'))


def health_detail(client, container_id):
    """The last health check's output of a container, for the failure message."""
    try:
        last = last_health_output(client.api.inspect_container(container_id))
    except Exception:  # pylint: disable=broad-except
        return ''
    if not last or not last.get('output'):
        return ''
    return '; last health check output: %s' % one_line(last['output'])[:300]


def remove_quietly(client, container_id):
    try:
        client.api.remove_container(container_id, force=True)
    except NotFound:
        pass


def recreate(client, attrs, entry, params, wait_timeout):
    """Replace one container; on failure put the old one back and record why."""
    name = entry['target']
    old_id = attrs['Id']
    old_image = client.api.inspect_image(attrs['Image'])
    body, networks = container_config(attrs, old_image, entry['to_image'])
    running = was_running(attrs)
    temporary = '%s-rollback-%s' % (name, uuid.uuid4().hex[:6])
    if entry['stopped_first']:
        client.api.stop(old_id, timeout=params['stop_timeout'])
    new_id = None
    try:
        new_id = create(client, body, networks, temporary)
        client.api.start(new_id)
        started = time.monotonic()
        ready, reason = wait_until_settled(client, new_id, wait_timeout)
        entry['waited_seconds'] = round(time.monotonic() - started, 1)
        if not ready:
            detail = health_detail(client, new_id) if 'output' not in reason else ''
            raise RunbookError('new container from %s %s%s' % (entry['to_image'], reason, detail))
    except Exception as exc:  # pylint: disable=broad-except
        if new_id is not None:
            remove_quietly(client, new_id)
        restored = ''
        if running:
            if not client.api.inspect_container(old_id)['State'].get('Running'):
                client.api.start(old_id)
            restored = '; %s left running on %s' % (name, entry['from_image'])
        entry['error'] = 'rollback of %s to %s failed: %s%s' % (name, entry['to_image'], one_line(exc), restored)
        return False
    entry['new_id'] = new_id[:12]
    try:
        # Anonymous volumes (v=False) stay: the new container uses them now.
        client.api.stop(old_id, timeout=params['stop_timeout'])
        remove_quietly(client, old_id)
        client.api.rename(new_id, name)
    except Exception as exc:  # pylint: disable=broad-except
        entry['error'] = 'rollback of %s to %s: the new container %s runs, but replacing the old one failed: %s' % (
            name, entry['to_image'], temporary, one_line(exc))
        return False
    return True


def main():
    argument_spec = docker_argument_spec()
    argument_spec.update(selection_argument_spec())
    argument_spec.update(
        to_image=dict(type='str'),
        to_tag=dict(type='str'),
        wait_timeout=dict(type='raw', default='2m'),
        stop_timeout=dict(type='int', default=10),
        max_containers=dict(type='int', default=10),
    )
    rules = dict(SELECTION_RULES)
    rules['mutually_exclusive'] = list(rules['mutually_exclusive']) + [('to_image', 'to_tag')]
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **rules)
    params = module.params
    check_mode = module.check_mode
    with failing_on_error(module, 'docker_rollback'):
        wait_timeout = validate(params)
    client = connect(module)
    with failing_on_error(module, 'Docker engine at %s' % engine_name(params)):
        selected = select_containers(module, client, include_stopped=True)
        plan, unchanged = plan_rollback(client, selected, params)
        if plan and not check_mode:
            by_name = dict((container_name(attrs), attrs) for attrs in selected)
            for position, entry in enumerate(plan.actions):
                entry['done'] = recreate(client, by_name[entry['target']], entry, params, wait_timeout)
                if not entry['done']:
                    for rest in plan.actions[position + 1:]:
                        rest['note'] = 'not rolled back: the rollback stopped at %s' % entry['target']
                    break
    summary = plan_summary(plan, ('recreate', 'recreated'), 'containers', check_mode, 'max_containers')
    if not plan.candidates:
        summary = 'all %d selected containers already run their target image: nothing to roll back' % len(selected)
    result = plan.result(summary, check_mode, unchanged=unchanged)
    if module._diff and plan:  # pylint: disable=protected-access
        result['diff'] = [dict(before_header=entry['target'], after_header=entry['target'], before='image: %s\n' % entry['from_image'],
                               after='image: %s\n' % entry['to_image']) for entry in plan.actions]
    if plan.failed:
        module.fail_json(msg=summary, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
