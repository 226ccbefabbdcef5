"""HTTP application incidents (api-5xx, api-slow, gateway-502): imported by lab.scenarios.load_all()."""

from __future__ import annotations

import http.client
import json
import time

from .app_http import HttpApi, HttpGateway
from .core import free_port, port_open, wait_for
from .scenarios import Scenario, scenario

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


@scenario
class Api5xx(Scenario):
    name = 'api-5xx'
    description = 'the API answers 500 to 30% of its requests (a deterministic round robin) and /health reports "degraded"'
    error_percent = 30

    def inject(self):
        HttpApi(self.lab).configure(error_percent=self.error_percent, health='degraded')
        wait_for(self.present, 15, 'the API failing %d%% of requests' % self.error_percent)

    def clear(self):
        HttpApi(self.lab).configure(error_percent=0, health='ok')
        wait_for(lambda: not self.present(), 15, '%s to clear' % self.name)

    def present(self):
        port = HttpApi(self.lab).state['port']
        health = get(port, '/health')[1] or {}
        failed = sum(1 for number in range(10) if get(port, API_PATH)[0] == 500)
        return health.get('status') == 'degraded' and failed >= 1


@scenario
class ApiSlow(Scenario):
    name = 'api-slow'
    description = 'every API request takes about 1.5 s (the runbook\'s "High Response Times")'
    latency = 1.5

    def inject(self):
        HttpApi(self.lab).configure(latency=self.latency)
        wait_for(self.present, 15, 'the API answering slowly')

    def clear(self):
        HttpApi(self.lab).configure(latency=0.0)
        wait_for(lambda: not self.present(), 15, '%s to clear' % self.name)

    def present(self):
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
