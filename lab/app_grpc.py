"""The lab's stand-in for the seed's workflow engine: a gRPC server with the standard health service and reflection.

``python -m lab.app_grpc serve --port P --state FILE`` serves ``grpc.health.v1.Health`` for the engine's three
services (and the server as a whole) and server reflection (v1 and v1alpha), which lists them the way
``grpcurl -plaintext HOST:PORT list`` does. The engine services have no methods here: only their health and
their names matter to the runbooks.

The lab steers the server through the state file, read every 0.2 s::

    {"statuses": {"linkflow.engine.v1.MatchingService": "NOT_SERVING"}, "listening": true}

A service not named in ``statuses`` is SERVING. ``listening: false`` stops the gRPC server (its port closes)
while the process lives on, like an engine under a supervisor; ``true`` starts it again on the same port.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

from .core import free_port, pid_alive, port_open, stop_pid, wait_for
from .services import Service

ENGINE_SERVICES = (
    'linkflow.engine.v1.FrontendService',
    'linkflow.engine.v1.HistoryService',
    'linkflow.engine.v1.MatchingService',
)
HEALTH_SERVICE = 'grpc.health.v1.Health'
REFLECTION_SERVICES = {'v1': 'grpc.reflection.v1.ServerReflection', 'v1alpha': 'grpc.reflection.v1alpha.ServerReflection'}
POLL_SECONDS = 0.2


def reflection_names(reflection):
    """The reflection services a server offers for a ``--reflection`` choice."""
    if reflection == 'none':
        return ()
    if reflection == 'both':
        return tuple(REFLECTION_SERVICES.values())
    return (REFLECTION_SERVICES[reflection],)


def read_state(path):
    """The state file's wishes; a missing or half-written file means: all serving, listening."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        data = {}
    return {'statuses': dict(data.get('statuses') or {}), 'listening': data.get('listening', True) is not False}


def write_state(path, statuses=None, listening=True):
    """Replace the state file in one step, so that the server never reads half of it."""
    path = Path(path)
    tmp = path.with_suffix('.tmp')
    tmp.write_text(json.dumps({'statuses': statuses or {}, 'listening': listening}))
    os.chmod(tmp, 0o644)
    tmp.replace(path)


class EngineServer(object):
    """One gRPC server on a fixed port, which can be stopped and started again within the process."""

    def __init__(self, port, reflection='both', cert=None, key=None, client_ca=None):
        self.port = port
        self.reflection = reflection
        self.credentials = None
        if cert:
            import grpc
            # With a client CA, clients must present a certificate it signed (mutual TLS).
            self.credentials = grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())],
                                                           root_certificates=Path(client_ca).read_bytes() if client_ca else None,
                                                           require_client_auth=bool(client_ca))
        self.server = None
        self.health = None
        self.statuses = {}

    def start(self):
        import grpc
        from grpc_health.v1 import health, health_pb2_grpc
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = reflection_names(self.reflection)
        if names:
            add_reflection(server, ENGINE_SERVICES + (HEALTH_SERVICE,) + names, names)
        address = '127.0.0.1:%d' % self.port
        bound = server.add_secure_port(address, self.credentials) if self.credentials else server.add_insecure_port(address)
        if not bound:
            raise RuntimeError('cannot listen on %s' % address)
        self.apply(self.statuses, force=True)
        server.start()
        self.server = server
        print('engine: listening on %s (reflection %s, %s)' % (address, self.reflection, 'tls' if self.credentials else 'plaintext'), flush=True)

    def stop(self):
        if self.server is not None:
            self.server.stop(grace=0).wait(5)
            self.server = None
            print('engine: stopped listening on 127.0.0.1:%d' % self.port, flush=True)

    def apply(self, statuses, force=False):
        """Give every engine service (and the server as a whole) the status the lab asked for."""
        from grpc_health.v1 import health_pb2
        if self.health is not None and (force or statuses != self.statuses):
            for name in ENGINE_SERVICES:
                wanted = statuses.get(name, 'SERVING')
                self.health.set(name, health_pb2.HealthCheckResponse.ServingStatus.Value(wanted))
            self.health.set('', health_pb2.HealthCheckResponse.SERVING)
            if statuses != self.statuses:
                print('engine: statuses %s' % (json.dumps(statuses, sort_keys=True) if statuses else 'all SERVING'), flush=True)
        self.statuses = dict(statuses)

    def follow(self, state_file, stopping):
        """Apply the state file until ``stopping`` is set."""
        while not stopping.is_set():
            wanted = read_state(state_file)
            if wanted['listening'] and self.server is None:
                self.statuses = wanted['statuses']
                self.start()
            elif not wanted['listening'] and self.server is not None:
                self.stop()
            self.apply(wanted['statuses'])
            stopping.wait(POLL_SECONDS)
        self.stop()


def add_reflection(server, service_names, offered):
    """Reflection as grpcurl expects it: v1 (what current clients ask first) and/or v1alpha.

    grpcio-reflection implements only v1alpha; v1 has the same messages, field for field, so the
    same servicer answers on the v1 method name too.
    """
    import grpc
    from grpc_reflection.v1alpha import reflection, reflection_pb2
    servicer = reflection.ReflectionServicer(service_names)
    for name in offered:
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, {'ServerReflectionInfo': handler}),))


def serve(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.app_grpc', description='the lab gRPC engine stand-in')
    commands = parser.add_subparsers(dest='command', required=True)
    command = commands.add_parser('serve')
    command.add_argument('--port', type=int, required=True)
    command.add_argument('--state', required=True, help='JSON file with the statuses the lab wants, read every 0.2 s')
    command.add_argument('--reflection', choices=('both', 'v1', 'v1alpha', 'none'), default='both')
    command.add_argument('--tls-cert', help='PEM certificate: serve TLS instead of plaintext')
    command.add_argument('--tls-key', help='PEM private key of --tls-cert')
    command.add_argument('--tls-client-ca', help='PEM CA that must have signed the client\'s certificate (mutual TLS)')
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error('--tls-cert and --tls-key go together')
    if args.tls_client_ca and not args.tls_cert:
        parser.error('--tls-client-ca needs --tls-cert')
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *ignored: stopping.set())
    EngineServer(args.port, args.reflection, args.tls_cert, args.tls_key, args.tls_client_ca).follow(args.state, stopping)
    return 0


class GrpcEngine(Service):
    """The engine stand-in as a lab service; .lab/inventory.yml's ``grpc_target`` points at it."""
    name = 'grpc'

    @property
    def runs_as_user(self):
        # The lab's user cannot run an interpreter it cannot reach (a venv under /root): then the invoking user runs it.
        return self.lab.user_can_traverse(Path(sys.executable).resolve().parent)

    @property
    def state_file(self):
        return self.lab.service_dir(self.name, for_user=self.runs_as_user) / 'engine.json'

    def running(self):
        # grpc-down closes the port on purpose; the process still runs, and the scenario says so.
        taken_down = 'grpc-down' in self.lab.section('scenarios')
        return pid_alive(self.state.get('pid')) and (taken_down or port_open(self.state.get('port')))

    def start(self):
        state = self.state
        if 'port' not in state:
            state['port'] = free_port()
        state['services'] = list(ENGINE_SERVICES)
        if pid_alive(state.get('pid')):
            stop_pid(state['pid'])
        write_state(self.state_file, listening=True)
        repository = Path(__file__).resolve().parents[1]
        environment = dict(os.environ, PYTHONPATH=str(repository))
        state['pid'] = self.lab.spawn([sys.executable, '-m', 'lab.app_grpc', 'serve', '--port', str(state['port']),
                                       '--state', str(self.state_file)], self.log, as_user=self.runs_as_user,
                                      env=environment, cwd=str(repository))
        wait_for(lambda: port_open(state['port']), 30, 'the gRPC engine on port %d' % state['port'], self.log)

    def set(self, statuses=None, listening=True):
        """Ask the running server for these statuses (service name -> NOT_SERVING, UNKNOWN ...)."""
        write_state(self.state_file, statuses, listening)

    def check(self, service, timeout=3.0):
        """The health of one service, asked directly with grpcio: SERVING, NOT_SERVING, ... or the gRPC error code."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        with grpc.insecure_channel(self.endpoint()) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            except grpc.RpcError as exc:
                return exc.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


if __name__ == '__main__':
    sys.exit(serve())
