# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker engine connections, container selection and waiting for oncall.runbooks modules.

Option names follow community.docker; they are documented once in the ``oncall.runbooks.docker``
doc fragment and set once per playbook with ``module_defaults`` for ``group/oncall.runbooks.docker``.
Services are found by the labels Compose puts on its containers, so no Compose binary is needed.
"""

from __future__ import annotations

import os
import re
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import one_line, parse_timestamp, seconds_since

try:
    import docker
    from docker.errors import ImageNotFound, NotFound
    from docker.tls import TLSConfig
except ImportError:
    docker = None
    ImageNotFound = NotFound = TLSConfig = None
    DOCKER_IMPORT_ERROR = traceback.format_exc()
else:
    DOCKER_IMPORT_ERROR = None

PROJECT_LABEL = 'com.docker.compose.project'
SERVICE_LABEL = 'com.docker.compose.service'
ONEOFF_LABEL = 'com.docker.compose.oneoff'
NUMBER_LABEL = 'com.docker.compose.container-number'
# Set by docker_rollback on the containers it creates, so that the next rollback knows where to return.
PREVIOUS_IMAGE_LABEL = 'oncall.runbooks.previous-image'
DEFAULT_HOST = 'unix:///var/run/docker.sock'


def docker_argument_spec():
    """Connection options shared by every Docker module (names as in community.docker)."""
    return dict(
        # No default here: AnsibleModule would prefer it to the DOCKER_HOST fallback; engine_name() applies it.
        docker_host=dict(type='str', aliases=['docker_url'], fallback=(env_fallback, ['DOCKER_HOST'])),
        tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=False, aliases=['tls_verify']),
        ca_path=dict(type='path', aliases=['ca_cert', 'tls_ca_cert', 'cacert_path']),
        client_cert=dict(type='path', aliases=['tls_client_cert', 'cert_path']),
        client_key=dict(type='path', aliases=['tls_client_key', 'key_path']),
        timeout=dict(type='int', default=30),
    )


def selection_argument_spec():
    """Which containers a module works on: a Compose project (and some of its services) or containers by name."""
    return dict(
        project=dict(type='str'),
        services=dict(type='list', elements='str'),
        containers=dict(type='list', elements='str'),
    )


# AnsibleModule keyword arguments that go with selection_argument_spec().
SELECTION_RULES = dict(
    required_one_of=[('project', 'containers')],
    mutually_exclusive=[('project', 'containers')],
    required_by={'services': 'project'},
)


def engine_name(params):
    """The engine's address (DOCKER_HOST or the local socket when not given); failures name it."""
    return params.get('docker_host') or DEFAULT_HOST


def _cause(exc):
    """The reason a request to the engine failed, in the words an operator searches for."""
    seen = []
    current = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    text = ' '.join('%s %s' % (item.__class__.__name__, item) for item in seen)
    if re.search(r'FileNotFoundError|No such file or directory', text):
        return 'no such socket'
    if re.search(r'ConnectionRefused|Connection refused|Errno 111', text):
        return 'connection refused'
    if re.search(r'PermissionError|Permission denied', text):
        return 'permission denied'
    if re.search(r'Timeout|timed out', text, re.IGNORECASE):
        return None
    return one_line(exc)


def connect(module):
    """A ``docker.DockerClient`` that has answered a ping, or ``fail_json`` with one line naming the engine.

    Every request is bounded by ``timeout``; a socket that does not exist, a refused
    connection and an engine that never answers each fail with their own cause.
    """
    if docker is None:
        module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)
    params = module.params
    timeout = params['timeout']
    if timeout is None or timeout <= 0:
        module.fail_json(msg='timeout must be greater than 0, got %s' % timeout)
    host = engine_name(params)
    if not re.match(r'^(unix|tcp|http|https|ssh|npipe)://', host or ''):
        module.fail_json(msg='docker_host must look like unix:///path/to/docker.sock or tcp://host:port, got %r' % host)
    prefix = 'cannot reach the Docker engine at %s: ' % host
    if host.startswith('unix://') and not os.path.exists(host[len('unix://'):]):
        module.fail_json(msg=prefix + 'no such socket')
    tls = False
    if params['tls'] or params['validate_certs']:
        client_cert = (params['client_cert'], params['client_key']) if params['client_cert'] else None
        tls = TLSConfig(client_cert=client_cert, ca_cert=params['ca_path'], verify=params['validate_certs'])
    try:
        # version='auto' asks the engine first, which doubles as the ping that proves it answers.
        client = docker.DockerClient(base_url=host, version='auto', timeout=timeout, tls=tls)
        client.ping()
    except Exception as exc:  # pylint: disable=broad-except
        cause = _cause(exc)
        module.fail_json(msg=prefix + (cause or 'no answer within %ds' % timeout))
    return client


def api_version(client):
    """The negotiated API version as a tuple, e.g. (1, 43)."""
    try:
        return tuple(int(part) for part in client.api.api_version.split('.'))
    except (AttributeError, ValueError):
        return (1, 0)


def concurrently(function, items, workers=16):
    """``[function(item) for item in items]`` with up to ``workers`` at once; the engine answers each slowly."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(function, items))


def container_name(attrs):
    """A container's name without the leading slash the engine puts on it."""
    name = attrs.get('Name') or (attrs.get('Names') or [''])[0]
    return name.lstrip('/')


def labels_of(attrs):
    """Labels of an inspected container or of an entry of the container list."""
    if 'Config' in attrs:
        return (attrs.get('Config') or {}).get('Labels') or {}
    return attrs.get('Labels') or {}


def service_of(attrs):
    """The Compose service a container belongs to, or None."""
    return labels_of(attrs).get(SERVICE_LABEL)


def project_of(attrs):
    """The Compose project a container belongs to, or None."""
    return labels_of(attrs).get(PROJECT_LABEL)


def has_healthcheck(attrs):
    """Whether the container has a health check (of its own or from its image)."""
    test = ((attrs.get('Config') or {}).get('Healthcheck') or {}).get('Test') or []
    return bool(test) and test[0] != 'NONE'


def health_of(attrs):
    """'healthy', 'unhealthy', 'starting', or None without a health check."""
    status = ((attrs.get('State') or {}).get('Health') or {}).get('Status')
    return status if status in ('healthy', 'unhealthy', 'starting') else None


def last_health_output(attrs):
    """The output and exit code of the latest health check, or None."""
    log = ((attrs.get('State') or {}).get('Health') or {}).get('Log') or []
    if not log:
        return None
    latest = log[-1]
    return {'exit_code': latest.get('ExitCode'), 'output': (latest.get('Output') or '').strip()[-1000:],
            'end': latest.get('End')}


def image_exists(client, ref):
    """Whether the image is present on the engine (no pull is ever attempted)."""
    try:
        client.api.inspect_image(ref)
    except ImageNotFound:
        return False
    return True


def is_oneoff(entry):
    """A ``docker compose run`` container: not one of the service's containers."""
    return str(labels_of(entry).get(ONEOFF_LABEL, 'False')).lower() == 'true'


def _fail_unknown(module, what, wanted, existing):
    names = ', '.join(sorted(existing)) or 'none'
    module.fail_json(msg='unknown %s %s; the engine has: %s' % (what, ', '.join(sorted(wanted)), names))


def select_containers(module, client, include_stopped=True):
    """The inspected containers (engine inspect JSON) chosen by ``project``/``services`` or ``containers``.

    Compose containers are found by their labels, one-off containers left out. An unknown
    project, service or container fails with one line listing what exists. Containers are
    inspected concurrently: the engine answers each request slowly under load.
    Ordered by service, then container number, then name.
    """
    params = module.params
    project = params.get('project')
    services = params.get('services') or []
    wanted_names = params.get('containers') or []
    if not project and not wanted_names:
        module.fail_json(msg='give project (and optionally services) or containers')
    listed = client.api.containers(all=True)
    if project:
        projects = set(project_of(entry) for entry in listed if project_of(entry))
        if project not in projects:
            _fail_unknown(module, 'project', [project], projects)
        members = [entry for entry in listed if project_of(entry) == project and not is_oneoff(entry)]
        known_services = set(service_of(entry) for entry in members if service_of(entry))
        missing = [service for service in services if service not in known_services]
        if missing:
            _fail_unknown(module, 'service%s of project %s' % ('s' if len(missing) > 1 else '', project), missing, known_services)
        if services:
            members = [entry for entry in members if service_of(entry) in services]
    else:
        members, missing = [], []
        for wanted in wanted_names:
            matches = [entry for entry in listed
                       if wanted in [name.lstrip('/') for name in entry.get('Names') or []] or (len(wanted) >= 4 and entry['Id'].startswith(wanted))]
            if not matches:
                missing.append(wanted)
            members += [entry for entry in matches if entry not in members]
        if missing:
            _fail_unknown(module, 'container%s' % ('s' if len(missing) > 1 else ''), missing, [container_name(entry) for entry in listed])
    if not include_stopped:
        members = [entry for entry in members if entry.get('State') in ('running', 'restarting', 'paused')]

    def inspect(entry):
        try:
            return client.api.inspect_container(entry['Id'])
        except NotFound:
            # Removed between the list and the inspect (a rollback or a restart policy at work).
            return None

    inspected = [attrs for attrs in concurrently(inspect, members) if attrs is not None]
    return sorted(inspected, key=lambda attrs: (service_of(attrs) or '', int(labels_of(attrs).get(NUMBER_LABEL) or 0), container_name(attrs)))


def readiness(attrs):
    """(ready, final, reason) of one inspected container: ready, or given up on, or still to wait for."""
    state = attrs.get('State') or {}
    status = state.get('Status')
    if status in ('exited', 'dead') or state.get('Restarting') or status == 'restarting':
        reason = 'exited with code %s' % state.get('ExitCode')
        if state.get('OOMKilled'):
            reason += ' (OOM-killed)'
        return False, True, reason
    if status != 'running':
        return False, False, 'is %s' % status
    if not has_healthcheck(attrs):
        return True, True, 'running'
    health = health_of(attrs)
    if health == 'healthy':
        return True, True, 'running and healthy'
    if health == 'unhealthy':
        last = last_health_output(attrs) or {}
        output = re.sub(r'\s+', ' ', last.get('output') or '').strip()
        reason = 'unhealthy: health check exited %s' % last.get('exit_code')
        return False, True, reason + (': %s' % output[:200] if output else '')
    return False, False, 'health is %s' % (health or 'unknown')


def wait_until_ready(client, container_id, timeout, interval=0.5):
    """Wait until the container runs and, when it has a health check, is healthy.

    Returns (ready, reason). Gives up at once when the container exits or its health check
    reports unhealthy (the engine does so only after the check's retries), else at ``timeout``.
    """
    deadline = time.monotonic() + timeout
    reason = 'not inspected'
    while True:
        try:
            attrs = client.api.inspect_container(container_id)
        except NotFound:
            return False, 'the container no longer exists'
        ready, final, reason = readiness(attrs)
        if ready or final:
            return ready, reason
        if time.monotonic() >= deadline:
            return False, 'not ready within %ss: %s' % (timeout, reason)
        time.sleep(interval)


def state_text(attrs):
    """A container's state as a human reads it: ``running (healthy)``, ``exited (code 137, OOM-killed)``."""
    state = attrs.get('State') or {}
    status = state.get('Status') or 'unknown'
    if status in ('exited', 'dead'):
        details = ['code %s' % state.get('ExitCode')] + (['OOM-killed'] if state.get('OOMKilled') else [])
        return '%s (%s)' % (status, ', '.join(details))
    health = health_of(attrs)
    return '%s (%s)' % (status, health) if health else status


# A container restarted this many times, the last time within this many seconds, counts as looping.
LOOP_RESTARTS = 3
LOOP_WINDOW = 300


def failing_reason(attrs):
    """Why a container counts as failing (unhealthy, exited, dead, restarting), or None when it does not."""
    state = attrs.get('State') or {}
    status = state.get('Status')
    if status == 'restarting' or state.get('Restarting'):
        return 'restarting (restart loop, %s restarts)' % attrs.get('RestartCount', 0)
    if status in ('exited', 'dead'):
        return state_text(attrs)
    # Between its crashes a looping container looks running for a moment: its restart count tells.
    looping, why = restart_loop(state, attrs.get('RestartCount') or 0, None, seconds_since(state.get('StartedAt')),
                                LOOP_WINDOW, LOOP_RESTARTS)
    if looping:
        return 'restart loop: %s' % why
    if status == 'running' and health_of(attrs) == 'unhealthy':
        last = last_health_output(attrs) or {}
        output = re.sub(r'\s+', ' ', last.get('output') or '').strip()
        return 'unhealthy: health check exited %s%s' % (last.get('exit_code'), ': %s' % output[:200] if output else '')
    return None


# --- restarts ----------------------------------------------------------------------

def container_events(client, since, until):
    """{container id: {'die': [times], 'oom': [times]}} from the engine's events between ``since`` and ``until``."""
    found = {}
    # Nanosecond strings: an ``until`` rounded up to the next second would make the engine wait for it.
    events = client.api.events(since='%.9f' % since, until='%.9f' % until,
                               filters={'type': 'container', 'event': ['die', 'oom']}, decode=True)
    for event in events:
        ident = event.get('id') or (event.get('Actor') or {}).get('ID')
        kind = event.get('status') or event.get('Action')
        if ident and kind in ('die', 'oom'):
            times = found.setdefault(ident, {'die': [], 'oom': []})[kind]
            times.append(event.get('timeNano', 0) / 1e9 or event.get('time'))
    return found


def oom_killed(state, oom_times):
    """Whether a stopped container was killed for memory (a pure decision, unit tested).

    The engine sets ``OOMKilled`` only when the kernel's OOM notice reaches it before the exit
    does; on a busy host the exit can win the race and the flag stays false. The ``oom`` event is
    still recorded, so an exit by SIGKILL (137) with an ``oom`` event since the last start counts too.
    """
    if state.get('OOMKilled'):
        return True
    if state.get('Status') not in ('exited', 'dead') or state.get('ExitCode') != 137:
        return False
    started = parse_timestamp(state.get('StartedAt'))
    return any(started is None or when >= started for when in oom_times or ())


def restart_loop(state, restart_count, deaths_in_window, started_ago, window, threshold):
    """Whether a container is in a restart loop, and why (a pure decision, unit tested).

    A loop is a container the engine is restarting right now, or one that died ``threshold``
    times or more within ``window`` seconds. When the events were not available
    (``deaths_in_window`` None), a restart count of ``threshold`` or more with the last start
    within the window stands in for them.
    """
    if state.get('Restarting') or state.get('Status') == 'restarting':
        return True, 'restarting now (exit code %s, %d restarts)' % (state.get('ExitCode'), restart_count)
    if deaths_in_window is not None:
        if deaths_in_window >= threshold:
            return True, 'died %d times within %ds' % (deaths_in_window, window)
        return False, None
    if restart_count >= threshold and started_ago is not None and started_ago <= window:
        return True, 'restarted %d times, last %ds ago' % (restart_count, started_ago)
    return False, None


# --- resource usage ----------------------------------------------------------------

def memory_used(usage, stats):
    """Memory in use the way ``docker stats`` counts it: usage less the inactive page cache."""
    stats = stats or {}
    for key in ('total_inactive_file', 'inactive_file'):
        if key in stats and stats[key] < usage:
            return usage - stats[key]
    return max(usage - stats.get('cache', 0), 0)


def cpu_percent(first, second):
    """CPU use between two samples as ``docker stats`` shows it (100 per busy CPU), or None."""
    if not first or not second:
        return None
    container = second['cpu_ns'] - first['cpu_ns']
    system = second['system_ns'] - first['system_ns']
    if system <= 0 or container < 0:
        return None
    return round(100.0 * container / system * second['cpus'], 2)


def sample_from_engine(stats):
    """A usage sample (memory, limit, cpu_ns, system_ns, cpus, pids) from the engine's stats JSON."""
    memory = stats.get('memory_stats') or {}
    cpu = stats.get('cpu_stats') or {}
    usage = memory.get('usage')
    cpus = cpu.get('online_cpus') or len((cpu.get('cpu_usage') or {}).get('percpu_usage') or []) or 1
    return {
        'memory': memory_used(usage, memory.get('stats')) if usage is not None else None,
        'limit': memory.get('limit'),
        'cpu_ns': (cpu.get('cpu_usage') or {}).get('total_usage', 0),
        'system_ns': cpu.get('system_cpu_usage', 0),
        'cpus': cpus,
        'pids': (stats.get('pids_stats') or {}).get('current'),
    }


CGROUP_ROOT = '/sys/fs/cgroup'
_NO_LIMIT = 1 << 62


def _read(path):
    with open(path) as handle:
        return handle.read()


def _key_values(text):
    return dict((line.split()[0], int(line.split()[1])) for line in text.splitlines() if len(line.split()) == 2)


def host_memory():
    """MemTotal in bytes: the engine's limit for a container without one."""
    for line in _read('/proc/meminfo').splitlines():
        if line.startswith('MemTotal:'):
            return int(line.split()[1]) * 1024
    return None


def system_cpu_ns():
    """Host CPU time in nanoseconds, counted as the engine counts it for ``system_cpu_usage``."""
    fields = _read('/proc/stat').splitlines()[0].split()[1:8]
    return sum(int(field) for field in fields) * 1000000000 // os.sysconf('SC_CLK_TCK')


def cgroup_paths(pid, container_id, root=CGROUP_ROOT):
    """{'memory': dir, 'cpu': dir, 'pids': dir, 'version': 1|2} of a container's cgroups, or None.

    Found through ``/proc/<pid>/cgroup``, and only trusted when the path names the container's
    id: a pid reused by another process, or another pid namespace, must not be read as this container.
    """
    try:
        lines = _read('/proc/%d/cgroup' % pid).splitlines()
    except (OSError, TypeError, ValueError):
        return None
    controllers = {}
    for line in lines:
        parts = line.split(':', 2)
        if len(parts) == 3 and container_id in parts[2]:
            for name in parts[1].split(',') if parts[1] else ['']:
                controllers[name] = parts[2].lstrip('/')
    v1 = dict((key, os.path.join(root, key, controllers[key])) for key in ('memory', 'cpuacct', 'pids') if key in controllers)
    if len(v1) == 3 and os.path.exists(os.path.join(v1['memory'], 'memory.usage_in_bytes')):
        return {'version': 1, 'memory': v1['memory'], 'cpu': v1['cpuacct'], 'pids': v1['pids']}
    if '' in controllers:
        unified = os.path.join(root, controllers[''])
        if os.path.exists(os.path.join(unified, 'memory.current')):
            return {'version': 2, 'memory': unified, 'cpu': unified, 'pids': unified}
    return None


def sample_from_cgroup(paths, memory_total):
    """A usage sample read from cgroup files (v1 or v2), same keys as ``sample_from_engine``."""
    if paths['version'] == 1:
        usage = int(_read(os.path.join(paths['memory'], 'memory.usage_in_bytes')))
        stats = _key_values(_read(os.path.join(paths['memory'], 'memory.stat')))
        limit = int(_read(os.path.join(paths['memory'], 'memory.limit_in_bytes')))
        cpu_ns = int(_read(os.path.join(paths['cpu'], 'cpuacct.usage')))
    else:
        usage = int(_read(os.path.join(paths['memory'], 'memory.current')))
        stats = _key_values(_read(os.path.join(paths['memory'], 'memory.stat')))
        raw = _read(os.path.join(paths['memory'], 'memory.max')).strip()
        limit = _NO_LIMIT if raw == 'max' else int(raw)
        cpu_ns = _key_values(_read(os.path.join(paths['cpu'], 'cpu.stat'))).get('usage_usec', 0) * 1000
    try:
        pids = int(_read(os.path.join(paths['pids'], 'pids.current')))
    except (OSError, ValueError):
        pids = None
    if memory_total and limit >= memory_total:
        limit = memory_total
    return {'memory': memory_used(usage, stats), 'limit': limit, 'cpu_ns': cpu_ns, 'system_ns': system_cpu_ns(),
            'cpus': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1,
            'pids': pids}


def engine_is_local(params):
    """Whether the engine runs on this host, so that its containers' cgroup files can be read here."""
    return engine_name(params).startswith('unix://') and os.path.isdir('/proc/self')


def collect_stats(client, containers, source='auto', cpu_interval=0.5, local=False, workers=64):
    """{container id: sample with cpu_percent} for running containers, all of them at once.

    ``source`` 'auto' reads the cgroup files of a local engine's containers (fast: no engine
    round trip, which costs the engine a second or more per container) and falls back to the
    engine's one-shot stats for the others; 'engine' always asks the engine. CPU use comes from
    two samples ``cpu_interval`` seconds apart (no CPU figure with 0). Many requests at once: the
    engine spends most of each stats request waiting, not working.
    """
    running = [attrs for attrs in containers if (attrs.get('State') or {}).get('Status') == 'running']
    one_shot = api_version(client) >= (1, 41)
    memory_total = host_memory() if local else None
    readers = {}
    for attrs in running:
        paths = cgroup_paths(attrs['State'].get('Pid'), attrs['Id']) if source == 'auto' and local else None
        readers[attrs['Id']] = ('cgroup', paths) if paths else ('engine', None)

    def sample(ident):
        kind, paths = readers[ident]
        try:
            if kind == 'cgroup':
                return ident, sample_from_cgroup(paths, memory_total)
            if one_shot:
                raw = client.api.stats(ident, stream=False, one_shot=True)
            else:
                raw = client.api.stats(ident, stream=False)
            value = sample_from_engine(raw)
            if (raw.get('precpu_stats') or {}).get('system_cpu_usage'):
                # The engine waited for a second sample itself (no one-shot, or an engine that ignores it).
                previous = sample_from_engine(dict(raw, cpu_stats=raw['precpu_stats']))
                value['cpu_percent'] = cpu_percent(previous, value)
            return ident, value
        except (OSError, ValueError):
            # The container stopped between inspect and read; its cgroup is gone.
            return ident, None
        except NotFound:
            return ident, None

    def sample_all(idents):
        # Reading cgroup files takes microseconds: threads only for what waits on the engine.
        local_ones = [ident for ident in idents if readers[ident][0] == 'cgroup']
        engine_ones = [ident for ident in idents if readers[ident][0] == 'engine']
        return dict([sample(ident) for ident in local_ones] + concurrently(sample, engine_ones, workers))

    first = sample_all(list(readers))
    second = dict(first)
    again = [ident for ident, value in first.items() if value is not None and 'cpu_percent' not in value]
    if cpu_interval and again:
        time.sleep(cpu_interval)
        second.update(sample_all(again))
    result = {}
    for ident, value in second.items():
        if value is None:
            continue
        if 'cpu_percent' not in value:
            value['cpu_percent'] = cpu_percent(first.get(ident), value) if cpu_interval else None
        value['source'] = readers[ident][0]
        result[ident] = value
    return result


def wait_until_settled(client, container_id, timeout, settle=2.0):
    """``wait_until_ready``, and for a container without a health check also that it still runs ``settle`` seconds later.

    Without a health check "running" is all the engine can tell, and a process that crashes
    right after its start looks running for a moment; a restart policy hides the crash.
    """
    started = time.monotonic()
    ready, reason = wait_until_ready(client, container_id, timeout)
    if not ready or reason != 'running':
        return ready, reason
    before = client.api.inspect_container(container_id)
    time.sleep(max(min(settle, timeout - (time.monotonic() - started)), 0))
    try:
        after = client.api.inspect_container(container_id)
    except NotFound:
        return False, 'the container no longer exists'
    restarted = after.get('RestartCount', 0) != before.get('RestartCount', 0)
    if restarted or (after.get('State') or {}).get('StartedAt') != (before.get('State') or {}).get('StartedAt'):
        return False, 'restarted by the engine within %gs of starting (%s)' % (settle, state_text(after))
    outcome = readiness(after)
    return (True, outcome[2]) if outcome[0] else (False, 'stopped within %gs of starting: %s' % (settle, outcome[2]))
