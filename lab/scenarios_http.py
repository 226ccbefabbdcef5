"""HTTP application incidents (api-5xx, api-slow, gateway-502): imported by lab.scenarios.load_all()."""

from __future__ import annotations

import http.client
import json
import os
import sys
import time

from .app_http import HttpApi, HttpGateway
from .core import REPO, free_port, port_open, stop_pid, wait_for
from .restart_watch import apply_if_restarted, container_start
from .scenarios import Scenario, scenario
from .services import Docker, service_container_name

API_PATH = '/api/v1/workflows'


def get(port, path, timeout=10):
    """One GET straight to the service: (status, decoded JSON or None, seconds)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        connection.request('GET', path, headers={'User-Agent': 'lab-check'})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return response.status, document, time.monotonic() - started


class ApiFault(Scenario):
    """A fault of the api stand-in that a restart of the lab's ``api`` container clears (lab.restart_watch).

    inject() records the container's start and runs a watcher that posts ``reset`` to the
    stand-in once the container restarts; present() applies the same test once before it
    measures, so that ``check`` tells the truth even without the watcher.
    """
    reset = {}

    def watch_restarts(self):
        self.stop_watch()
        docker = Docker(self.lab)
        container = service_container_name('api')
        start = container_start(docker.host, container)
        if start is None:
            # No container to restart: only clear() undoes the fault.
            for key in ('container_id', 'started_at', 'watch_pid'):
                self.state.pop(key, None)
            self.lab.save()
            return
        self.state.update(container_id=start[0], started_at=start[1])
        argv = [sys.executable, '-m', 'lab.restart_watch', '--docker-host', docker.host, '--container', container,
                '--container-id', start[0], '--started-at', start[1], '--admin-port', str(HttpApi(self.lab).state['admin_port']),
                '--reset', json.dumps(self.reset)]
        log = self.lab.root / ('restart-watch-%s.log' % self.name)
        self.state['watch_pid'] = self.lab.spawn(argv, log, as_user=False, env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=str(REPO))
        self.lab.save()

    def stop_watch(self):
        stop_pid(self.state.pop('watch_pid', None))

    def restarted(self):
        """Reset the stand-in if the api container restarted since the injection (once); True if it did."""
        if not self.state.get('started_at'):
            return False
        baseline = (self.state['container_id'], self.state['started_at'], True)
        return apply_if_restarted(Docker(self.lab).host, service_container_name('api'), baseline,
                                  HttpApi(self.lab).state['admin_port'], self.reset)

    def clear(self):
        self.stop_watch()
        HttpApi(self.lab).configure(**self.reset)
        wait_for(lambda: not self.present(), 15, '%s to clear' % self.name)


@scenario
class Api5xx(ApiFault):
    name = 'api-5xx'
    description = ('the API answers 500 to 30% of its requests (a deterministic round robin) and /health reports "degraded"; '
                   'restarting the api container clears it')
    error_percent = 30
    reset = {'error_percent': 0, 'health': 'ok'}

    def inject(self):
        self.watch_restarts()
        HttpApi(self.lab).configure(error_percent=self.error_percent, health='degraded')
        wait_for(self.present, 15, 'the API failing %d%% of requests' % self.error_percent)

    def present(self):
        self.restarted()
        port = HttpApi(self.lab).state['port']
        health = get(port, '/health')[1] or {}
        failed = sum(1 for number in range(10) if get(port, API_PATH)[0] == 500)
        return health.get('status') == 'degraded' and failed >= 1


@scenario
class ApiSlow(ApiFault):
    name = 'api-slow'
    description = 'every API request takes about 1.5 s (the runbook\'s "High Response Times"); restarting the api container clears it'
    latency = 1.5
    reset = {'latency': 0.0}

    def inject(self):
        self.watch_restarts()
        HttpApi(self.lab).configure(latency=self.latency)
        wait_for(self.present, 15, 'the API answering slowly')

    def present(self):
        self.restarted()
        status, document, seconds = get(HttpApi(self.lab).state['port'], API_PATH)
        return status == 200 and seconds >= self.latency * 0.8


@scenario
class Gateway502(Scenario):
    name = 'gateway-502'
    description = 'the gateway\'s upstream points at a closed port: the gateway is up and answers 502 Bad Gateway'

    def inject(self):
        # A port nobody listens on; kept in the state so that present() can show it is still closed.
        self.state['upstream_port'] = free_port()
        self.lab.save()
        HttpGateway(self.lab).configure(upstream_port=self.state['upstream_port'])
        wait_for(self.present, 15, 'the gateway answering 502')

    def clear(self):
        HttpGateway(self.lab).configure(upstream_port=HttpApi(self.lab).state['port'])
        wait_for(lambda: not self.present(), 15, '%s to clear' % self.name)

    def present(self):
        gateway = HttpGateway(self.lab).state['port']
        return port_open(gateway) and get(gateway, API_PATH)[0] == 502
