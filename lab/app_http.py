"""The application tier's HTTP stand-ins: the LinkFlow "api" and a "gateway" in front of it, like Kong.

    python -m lab.app_http serve api --port P --admin-port A
    python -m lab.app_http serve gateway --port P --admin-port A --upstream-port U

The api answers ``/health`` and ``/api/v1/...`` with JSON. Its error rate (a deterministic
round robin: with 30%, exactly 3 of any 10 consecutive API requests answer 500), its latency
and its health are set through a small admin port, which also reports request counters,
so that a test can count what a probe really sent. The gateway forwards every request to
its upstream and answers 502 when the upstream refuses, 504 when it does not answer in time;
its upstream is set through its own admin port. Standard library only: the servers run
under the system's python3 as the lab's user.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .core import REPO, free_port, pid_alive, port_open, wait_for
from .services import Service

HEALTH_OK = {'status': 'ok', 'checks': {'database': 'ok', 'redis': 'ok'}}
WORKFLOWS = [{'id': number, 'name': 'workflow-%d' % number, 'status': 'active'} for number in range(1, 4)]


class Counters(object):
    """Requests seen, in total and by "METHOD target"; read by tests through the admin port."""

    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.by_request = {}

    def count(self, method, target):
        with self.lock:
            self.total += 1
            key = '%s %s' % (method, target)
            self.by_request[key] = self.by_request.get(key, 0) + 1
            return self.total

    def snapshot(self):
        with self.lock:
            return {'requests': self.total, 'by_request': dict(self.by_request)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'lab-app-http/1'

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        sys.stderr.write('%s %s\n' % (self.server.role, format % args))

    def body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(length) if length else b''

    def answer(self, code, document, headers=None):
        payload = json.dumps(document).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(payload)

    def handle_any(self):
        self.server.app.handle(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_any


class Api(object):
    """The LinkFlow API: JSON health and workflows, with an error rate, a latency and a health the lab sets."""

    def __init__(self):
        self.counters = Counters()
        self.lock = threading.Lock()
        self.settings = {'error_percent': 0, 'latency': 0.0, 'health': 'ok'}
        self.api_requests = 0

    def configure(self, settings):
        with self.lock:
            self.settings.update(settings)
            self.api_requests = 0
            return dict(self.settings)

    def failing(self):
        """Whether this API request is one of the round robin's failures."""
        with self.lock:
            number = self.api_requests
            self.api_requests += 1
            percent = self.settings['error_percent']
        return (number + 1) * percent // 100 > number * percent // 100

    def handle(self, request):
        request.body()
        self.counters.count(request.command, request.path)
        settings = dict(self.settings)
        if settings['latency']:
            time.sleep(settings['latency'])
        path = request.path.split('?', 1)[0]
        if path == '/health':
            document = dict(HEALTH_OK, checks=dict(HEALTH_OK['checks']))
            if settings['health'] != 'ok':
                document.update(status=settings['health'], error_percent=settings['error_percent'])
            return request.answer(200, document)
        if path.startswith('/api/'):
            if self.failing():
                return request.answer(500, {'message': 'Server Error'})
            if path == '/api/v1/workflows' and request.command == 'POST':
                return request.answer(201, {'data': {'id': 4, 'status': 'created'}})
            if path == '/api/v1/workflows':
                return request.answer(200, {'data': WORKFLOWS, 'total': len(WORKFLOWS)})
        return request.answer(404, {'message': 'Not Found'})


class Gateway(object):
    """A reverse proxy: forwards to its upstream; 502 when the upstream refuses, 504 when it hangs."""

    def __init__(self, upstream_port, upstream_timeout):
        self.counters = Counters()
        self.settings = {'upstream_port': upstream_port, 'upstream_timeout': upstream_timeout}

    def configure(self, settings):
        self.settings = dict(self.settings, **settings)
        return dict(self.settings)

    def handle(self, request):
        body = request.body()
        self.counters.count(request.command, request.path)
        settings = self.settings
        upstream = http.client.HTTPConnection('127.0.0.1', settings['upstream_port'], timeout=settings['upstream_timeout'])
        headers = dict((name, value) for name, value in request.headers.items() if name.lower() not in ('connection', 'host'))
        try:
            upstream.request(request.command, request.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            # Kong's words for the two failures.
            if isinstance(exc, TimeoutError) or 'timed out' in str(exc):
                return request.answer(504, {'message': 'The upstream server is timing out'}, {'Via': 'lab-gateway'})
            return request.answer(502, {'message': 'An invalid response was received from the upstream server'}, {'Via': 'lab-gateway'})
        finally:
            upstream.close()
        request.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ('connection', 'transfer-encoding', 'content-length', 'server', 'date'):
                request.send_header(name, value)
        request.send_header('Content-Length', str(len(payload)))
        request.send_header('Via', 'lab-gateway')
        request.end_headers()
        if request.command != 'HEAD':
            request.wfile.write(payload)


class AdminHandler(BaseHTTPRequestHandler):
    """GET /stats, GET /config, POST /config (JSON): the lab's control of a stand-in."""
    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def reply(self, code, document):
        payload = json.dumps(document).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        app = self.server.app
        if self.path == '/stats':
            return self.reply(200, app.counters.snapshot())
        if self.path == '/config':
            return self.reply(200, app.settings)
        return self.reply(404, {'message': 'Not Found'})

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        try:
            settings = json.loads(self.rfile.read(length) or b'{}')
        except ValueError:
            return self.reply(400, {'message': 'not JSON'})
        unknown = sorted(set(settings) - set(self.server.app.settings))
        if self.path != '/config' or unknown:
            return self.reply(400, {'message': 'unknown settings: %s' % ', '.join(unknown)})
        return self.reply(200, self.server.app.configure(settings))


def serve(role, port, admin_port, upstream_port=None, upstream_timeout=5.0):
    app = Api() if role == 'api' else Gateway(upstream_port, upstream_timeout)
    servers = []
    for handler, number in ((Handler, port), (AdminHandler, admin_port)):
        server = ThreadingHTTPServer(('127.0.0.1', number), handler)
        server.daemon_threads = True
        server.app, server.role = app, role
        servers.append(server)
    threading.Thread(target=servers[1].serve_forever, daemon=True).start()
    sys.stderr.write('%s listening on 127.0.0.1:%d, admin on 127.0.0.1:%d\n' % (role, port, admin_port))
    sys.stderr.flush()
    servers[0].serve_forever()


# --- the lab's side ------------------------------------------------------------------

def admin_call(port, method='GET', path='/stats', settings=None, timeout=5):
    """Talk to a stand-in's admin port; returns the decoded JSON answer."""
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        body = json.dumps(settings).encode() if settings is not None else None
        connection.request(method, path, body=body, headers={'Content-Type': 'application/json'})
        response = connection.getresponse()
        document = json.loads(response.read() or b'{}')
        if response.status != 200:
            raise RuntimeError('admin %s %s: %s' % (method, path, document.get('message')))
        return document
    finally:
        connection.close()


class AppService(Service):
    """A stand-in run as ``python -m lab.app_http serve ROLE`` with an admin port of its own."""
    role = ''

    def running(self):
        return pid_alive(self.state.get('pid')) and port_open(self.state.get('port')) and port_open(self.state.get('admin_port'))

    def endpoint(self):
        return 'http://127.0.0.1:%s' % self.state.get('port')

    @property
    def url(self):
        return self.endpoint()

    def interpreter(self):
        """The system's python3 as the lab's user when it may run it and read the repository; else ours, as we are."""
        if self.lab.run_as:
            for candidate in ('/usr/bin/python3', '/usr/local/bin/python3'):
                real = Path(os.path.realpath(candidate))
                usable = real.exists() and bool(real.stat().st_mode & stat.S_IXOTH)
                if usable and self.lab.user_can_traverse(real.parent) and self.lab.user_can_traverse(REPO / 'lab'):
                    return str(real), True
        return sys.executable, False

    def spawn(self, extra):
        state = self.state
        if 'port' not in state:
            state.update(port=free_port(), admin_port=free_port())
        python, as_user = self.interpreter()
        self.runs_as_user = as_user
        argv = [python, '-m', 'lab.app_http', 'serve', self.role, '--port', str(state['port']),
                '--admin-port', str(state['admin_port'])] + extra
        environment = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE='1')
        state['pid'] = self.lab.spawn(argv, self.log, as_user=as_user, env=environment, cwd=str(REPO))
        wait_for(self.running, 30, 'the %s stand-in on port %d' % (self.role, state['port']), self.log)

    def admin(self, method='GET', path='/stats', settings=None):
        return admin_call(self.state['admin_port'], method, path, settings)

    def configure(self, **settings):
        return self.admin('POST', '/config', settings)

    def stats(self):
        return self.admin('GET', '/stats')


class HttpApi(AppService):
    """The LinkFlow API stand-in (``curl http://localhost:8082/health`` of the seeds)."""
    name = 'api'
    role = 'api'

    def start(self):
        self.spawn([])


class HttpGateway(AppService):
    """The API gateway stand-in (Kong in the seeds), in front of the api."""
    name = 'gateway'
    role = 'gateway'
    upstream_timeout = 5.0

    def start(self):
        self.spawn(['--upstream-port', str(self.lab.section('api')['port']), '--upstream-timeout', str(self.upstream_timeout)])


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.app_http')
    sub = parser.add_subparsers(dest='command', required=True)
    command = sub.add_parser('serve')
    command.add_argument('role', choices=('api', 'gateway'))
    command.add_argument('--port', type=int, required=True)
    command.add_argument('--admin-port', type=int, required=True)
    command.add_argument('--upstream-port', type=int)
    command.add_argument('--upstream-timeout', type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.role == 'gateway' and not args.upstream_port:
        parser.error('the gateway needs --upstream-port')
    serve(args.role, args.port, args.admin_port, args.upstream_port, args.upstream_timeout)


if __name__ == '__main__':
    main()
