"""Makes restarting the lab's ``api`` container a real fix for the api stand-in's injected faults.

The lab's api is two things: an HTTP stand-in (lab.app_http, a process of its own, whose error
rate and latency the api-5xx and api-slow scenarios set) and the Compose service ``api`` in the
lab's Docker engine (container ``linkflow-api``), which the runbooks restart as the seed does with
``docker-compose restart api``. A real PHP application would come back from that restart with its
bad state gone; this watcher gives the stand-in the same behaviour.

At injection, the scenario records the container's id and ``State.StartedAt`` and starts

    python -m lab.restart_watch --docker-host unix:///... --container linkflow-api \\
        --container-id ID --started-at STARTED --admin-port P --reset '{"error_percent": 0, "health": "ok"}'

which polls the engine and, as soon as the container was restarted (its ``StartedAt`` changed)
or recreated (another id under the same name, running), posts ``--reset`` to the stand-in's
admin port and exits. It also exits when the stand-in's admin port has been closed for a while
(the lab went down) or after ``--max-lifetime`` seconds.

``restarted()`` and ``apply_if_restarted()`` are the same test, run once: a scenario's
``present()`` calls the latter first, so that ``python -m lab check`` is truthful even if the
watcher was not running when the container restarted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .app_http import admin_call
from .core import port_open


def container_start(docker_host, container, timeout=10):
    """(id, StartedAt, running) of ``container`` in the engine at ``docker_host``; None when it does not exist."""
    import docker
    from docker.errors import NotFound
    client = docker.DockerClient(base_url=docker_host, timeout=timeout)
    try:
        attrs = client.api.inspect_container(container)
    except NotFound:
        return None
    finally:
        client.close()
    return attrs['Id'], attrs['State'].get('StartedAt'), bool(attrs['State'].get('Running'))


def restarted(baseline, now):
    """Whether the container's start ``now`` is a restart (or a recreation) since ``baseline``.

    Both are ``container_start()`` answers; a container that is gone, or recreated and not yet
    running, has not come back yet.
    """
    if baseline is None or now is None:
        return False
    base_id, base_started = baseline[0], baseline[1]
    now_id, now_started, running = now
    if now_id != base_id:
        return running
    return bool(now_started) and now_started != base_started


def apply_if_restarted(docker_host, container, baseline, admin_port, reset):
    """Post ``reset`` to the stand-in when the container restarted since ``baseline``; True when it did."""
    if not restarted(baseline, container_start(docker_host, container)):
        return False
    admin_call(admin_port, 'POST', '/config', reset)
    return True


def watch(docker_host, container, baseline, admin_port, reset, interval=0.5, max_lifetime=86400.0, gone_after=30.0):
    """Poll until the container restarts, then reset the stand-in; returns the process's exit status."""
    started = time.monotonic()
    closed_since = None
    while time.monotonic() - started < max_lifetime:
        if port_open(admin_port):
            closed_since = None
        else:
            closed_since = closed_since or time.monotonic()
            if time.monotonic() - closed_since >= gone_after:
                log('the stand-in admin port %d is closed: the lab is down, stopping' % admin_port)
                return 0
        try:
            if apply_if_restarted(docker_host, container, baseline, admin_port, reset):
                log('%s restarted: the stand-in is reset to %s' % (container, json.dumps(reset, sort_keys=True)))
                return 0
        except Exception as exc:  # noqa: BLE001 - an engine that is busy or restarting: try again
            log('not yet: %s' % exc)
        time.sleep(interval)
    log('gave up after %ss' % max_lifetime)
    return 0


def log(message):
    sys.stderr.write('%s restart_watch: %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), message))
    sys.stderr.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.restart_watch', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--docker-host', required=True)
    parser.add_argument('--container', required=True)
    parser.add_argument('--container-id', required=True)
    parser.add_argument('--started-at', required=True)
    parser.add_argument('--admin-port', type=int, required=True)
    parser.add_argument('--reset', required=True, help='JSON settings to post to the admin port on restart')
    parser.add_argument('--interval', type=float, default=0.5)
    parser.add_argument('--max-lifetime', type=float, default=86400.0)
    args = parser.parse_args(argv)
    baseline = (args.container_id, args.started_at, True)
    return watch(args.docker_host, args.container, baseline, args.admin_port, json.loads(args.reset),
                 interval=args.interval, max_lifetime=args.max_lifetime)


if __name__ == '__main__':
    sys.exit(main())
