# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gRPC probes for oncall.runbooks modules: the channel, the standard health check and server reflection.

Kept apart from the module as the three concerns the module composes: open a channel (plaintext
or TLS) and wait for it within the timeout, ask ``grpc.health.v1.Health/Check`` per service, and
list what the server exposes through reflection (what ``grpcurl list`` shows).
"""

from __future__ import annotations

import re
import socket
import ssl
import time
import traceback

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, one_line

try:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2
except ImportError:
    grpc = None
    GRPC_IMPORT_ERROR = traceback.format_exc()
else:
    GRPC_IMPORT_ERROR = None

# A fully qualified service name: dotted identifiers (package.Service), as in the proto files.
_SERVICE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*')
_HOST = re.compile(r'[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?')
# v1 first, as grpcurl does; v1alpha has the same messages, field for field, so one set of stubs serves both.
REFLECTION_METHODS = (
    ('v1', '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo'),
    ('v1alpha', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'),
)
# Codes that mean: nothing answered in time, or nothing to talk to.
UNREACHABLE_CODES = ('UNAVAILABLE', 'DEADLINE_EXCEEDED')


def parse_target(target):
    """``HOST:PORT`` (or ``[IPv6]:PORT``) as (host, port); anything else is one line naming O(target)."""
    text = (target or '').strip()
    match = re.fullmatch(r'\[([0-9A-Fa-f:.]+)\]:(\d+)', text) or re.fullmatch(r'([^:\s/\[\]]+):(\d+)', text)
    if not match or not (_HOST.fullmatch(match.group(1)) or ':' in match.group(1)):
        raise RunbookError('target: %r is not HOST:PORT (e.g. localhost:9090 or [::1]:9090)' % (target,))
    port = int(match.group(2))
    if not 0 < port < 65536:
        raise RunbookError('target: port %d of %r is not between 1 and 65535' % (port, target))
    return match.group(1), port


def check_service_names(names):
    """Each name is '' (the server as a whole) or dotted identifiers; returns them without duplicates, in order."""
    seen = []
    for name in names:
        if name is None:
            name = ''
        if not isinstance(name, str) or (name and not _SERVICE_NAME.fullmatch(name)):
            raise RunbookError('services: %r is not a fully qualified service name (dotted identifiers such as '
                               'grpc.health.v1.Health, or an empty string for the whole server)' % (name,))
        if name not in seen:
            seen.append(name)
    return seen


def check_options(params):
    """Bad input fails before any connection is made."""
    if params['timeout'] is None or not params['timeout'] > 0:
        raise RunbookError('timeout must be a number of seconds above 0, got %r' % (params['timeout'],))
    host, port = parse_target(params['target'])
    tls_only = [name for name in ('ca_path', 'client_cert', 'client_key', 'server_name') if params.get(name)]
    if tls_only and not params['tls']:
        raise RunbookError('%s only appl%s with tls: true' % (' and '.join(tls_only), 'ies' if len(tls_only) == 1 else 'y'))
    if bool(params.get('client_cert')) != bool(params.get('client_key')):
        raise RunbookError('client_cert and client_key go together')
    return host, port


def read_pem_files(params):
    """The PEM files the TLS options name, read before anything is contacted (None for those not given)."""
    return dict((option, read_file(params[option], option) if params.get(option) else None) for option in ('ca_path', 'client_cert', 'client_key'))


def read_file(path, option):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise RunbookError('%s: cannot read %s: %s' % (option, path, exc.strerror or exc)) from None


class Unreachable(Exception):
    """The target cannot be talked to; the message is the one line the finding shows."""


def presented_certificate(host, port, timeout, server_name=None):
    """The certificate the server presents, and a name it is valid for, read without verifying it.

    gRPC's Python API cannot turn certificate checks off; without validation the presented
    certificate becomes the trust root instead, which is what a self-signed server needs.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(['h2'])
        with context.wrap_socket(sock, server_hostname=server_name or host) as tls:
            pem = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))
    # Decode it by verifying it against itself: the only way the ssl module hands out its names.
    with socket.create_connection((host, port), timeout=timeout) as sock:
        context = ssl.create_default_context(cadata=pem)
        context.check_hostname = False
        context.verify_flags |= getattr(ssl, 'VERIFY_X509_PARTIAL_CHAIN', 0)
        context.set_alpn_protocols(['h2'])
        with context.wrap_socket(sock, server_hostname=server_name or host) as tls:
            decoded = tls.getpeercert()
    names = [value for kind, value in decoded.get('subjectAltName', ()) if kind in ('DNS', 'IP Address')]
    names += [value for field in decoded.get('subject', ()) for key, value in field if key == 'commonName']
    return pem.encode(), (names[0] if names else None)


def trust_as_presented(host, port, timeout, server_name):
    """presented_certificate, with a failure to get it as the reason the target is unreachable."""
    try:
        return presented_certificate(host, port, timeout, server_name)
    except socket.timeout:
        raise Unreachable('no TLS answer from %s:%d within %ss' % (host, port, format_seconds(timeout))) from None
    except (ssl.SSLError, OSError) as exc:
        raise Unreachable('TLS with %s:%d failed: %s' % (host, port, exc.strerror or one_line(exc))) from None


def open_channel(params, host, port, pem):
    """A plaintext or TLS channel to the target (not yet connected); ``pem`` comes from read_pem_files."""
    address = '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)
    # No retries beyond the timeout, short reconnect backoff, no proxy from the environment.
    options = [('grpc.enable_retries', 0), ('grpc.enable_http_proxy', 0), ('grpc.max_reconnect_backoff_ms', 1000),
               ('grpc.initial_reconnect_backoff_ms', 200)]
    if not params['tls']:
        return grpc.insecure_channel(address, options=options)
    root, name = pem['ca_path'], params.get('server_name')
    if not params['validate_certs'] and not root:
        root, presented_name = trust_as_presented(host, port, params['timeout'], name)
        name = name or presented_name
    if name:
        options.append(('grpc.ssl_target_name_override', name))
    credentials = grpc.ssl_channel_credentials(root_certificates=root, private_key=pem['client_key'], certificate_chain=pem['client_cert'])
    return grpc.secure_channel(address, credentials, options=options)


def wait_ready(channel, timeout):
    """True when the channel connected (TCP, TLS and HTTP/2) within ``timeout`` seconds."""
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False


def refused(host, port, timeout):
    """Why a TCP connection to the target fails at once (refused, no route), or None when it connects.

    Checked before waiting for the channel, so that a closed port is reported at once rather than
    after the whole timeout; a port that accepts and stays silent is left to the channel's wait.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return 'connection refused by %s:%d' % (host, port)
    except socket.timeout:
        return 'no answer from %s:%d within %ss' % (host, port, format_seconds(timeout))
    except OSError as exc:
        return 'cannot connect to %s:%d: %s' % (host, port, exc.strerror or one_line(exc))


def why_not_ready(channel, host, port, timeout, tls):
    """One line on why a channel whose TCP port accepts never became ready: TLS failed, the server hung up, or stayed silent."""
    where = '%s:%d' % (host, port)
    # One more call, bounded to a second, to learn what the transport said; a silent server leaves it waiting.
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=min(timeout, 1.0))
        detail = ''
    except grpc.RpcError as exc:
        detail = re.sub(r'^failed to connect to all addresses; last error: [A-Z_]+: (ipv[46]|unix):\S+: ', '', exc.details() or '')
    if re.search(r'ssl|tls|handshake|certificate|verification', detail, re.I):
        return 'TLS with %s failed: %s' % (where, one_line(detail))
    if re.search(r'socket closed|connection reset', detail, re.I):
        if tls:
            return 'TLS with %s failed: the server closed the connection (does it require a client certificate?)' % where
        return '%s closed the connection without a gRPC answer (a TLS port? then set tls: true)' % where
    return 'no answer from %s within %ss (the port accepts connections but no gRPC server answers)' % (where, format_seconds(timeout))


def format_seconds(value):
    return ('%g' % value)


def check_health(channel, service, timeout):
    """``grpc.health.v1.Health/Check`` for one service: status (SERVING ... or a gRPC code) and latency."""
    started = time.perf_counter()
    entry = {'service': service}
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        entry['status'] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError as exc:
        code = exc.code().name
        entry['code'] = code
        entry['error'] = one_line(exc.details() or code)
        # The server answers NOT_FOUND for a service it does not know (grpcurl prints SERVICE_UNKNOWN).
        entry['status'] = 'SERVICE_UNKNOWN' if code == 'NOT_FOUND' else 'unreachable' if code in UNREACHABLE_CODES else code
    entry['latency_ms'] = round(1000 * (time.perf_counter() - started), 3)
    return entry


def list_services(channel, timeout):
    """What server reflection lists, as (protocol version, sorted names); (None, []) without reflection."""
    request = reflection_pb2.ServerReflectionRequest(list_services='')
    for version, method in REFLECTION_METHODS:
        call = channel.stream_stream(method, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        try:
            replies = list(call(iter([request]), timeout=timeout))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                continue
            raise
        names = set()
        for reply in replies:
            names.update(service.name for service in reply.list_services_response.service)
        return version, sorted(names)
    return None, []


def rpc_error_line(exc):
    """A gRPC error as one line: CODE: details."""
    if grpc is not None and isinstance(exc, grpc.RpcError):
        return '%s: %s' % (exc.code().name, one_line(exc.details() or ''))
    return one_line(exc)
