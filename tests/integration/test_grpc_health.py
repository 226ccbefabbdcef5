# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""grpc_health against the lab's gRPC engine stand-in (and servers of its own), through ansible-playbook."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time

import pytest

from lab.app_grpc import ENGINE_SERVICES, GrpcEngine
from lab.core import REPO, free_port, port_open

FRONTEND, HISTORY, MATCHING = ENGINE_SERVICES


def problems(result):
    return [item for item in result['findings'] if item['status'] != 'ok']


def statuses(result):
    return dict((entry['service'], entry['status']) for entry in result['services'])


@pytest.fixture
def engine(lab):
    """The lab's engine: its target and services from the inventory, serving before the test starts."""
    server = GrpcEngine(lab.lab)
    assert server.check('') == 'SERVING', 'the lab engine does not serve: %s' % server.log
    return lab.vars['grpc_target'], lab.vars['grpc_services']


@pytest.fixture
def grpc_server(tmp_path):
    """Start extra engine stand-ins (other reflection, TLS) on free ports; all stopped afterwards."""
    started = []

    def start(*options):
        port = free_port()
        log = open(tmp_path / ('engine-%d.log' % port), 'wb')
        process = subprocess.Popen([sys.executable, '-m', 'lab.app_grpc', 'serve', '--port', str(port), '--state',
                                    str(tmp_path / ('engine-%d.json' % port))] + list(options),
                                   cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(os.environ, PYTHONPATH=str(REPO)))
        log.close()
        started.append(process)
        deadline = time.monotonic() + 30
        while not port_open(port):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / ('engine-%d.log' % port)).read_text()
            time.sleep(0.1)
        return '127.0.0.1:%d' % port

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_certificate(path, common_name, issuer=None, ca=False):
    """A certificate for the name ``common_name`` only (not for 127.0.0.1), signed by ``issuer`` (cert, key) or by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_cert, issuer_key = issuer or (None, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_cert.subject if issuer_cert else name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    cert_path, key_path = path / (common_name + '.crt'), path / (common_name + '.key')
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, key, str(cert_path), str(key_path)


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for engine.lab (not for 127.0.0.1), and its key: paths, and the objects for signing."""
    return make_certificate(tmp_path, 'engine.lab', ca=True)


def test_healthy_engine_serves_everything_and_lists_its_services(engine, run_module):
    target, services = engine
    assert set(services) == set(ENGINE_SERVICES)
    result, run = run_module('grpc_health', {'target': target, 'services': services + ['']})
    assert run.rc == 0, run.stdout
    assert result['changed'] is False and result['status'] == 'ok' and problems(result) == []
    assert result['reachable'] is True and result['target'] == target
    assert statuses(result) == dict([(name, 'SERVING') for name in services] + [('', 'SERVING')])
    assert all(entry['latency_ms'] > 0 for entry in result['services'])
    assert result['findings'][0]['check'] == 'serving' and result['findings'][0]['value'] == 4
    # What `grpcurl -plaintext HOST:PORT list` shows: the engine's services, health and reflection.
    assert result['reflection'] == 'v1'
    assert set(result['exposed_services']) == set(ENGINE_SERVICES) | {
        'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'}


def test_check_mode_reports_the_same(engine, run_module, scenario):
    scenario('grpc-not-serving')
    target, services = engine
    normal = run_module('grpc_health', {'target': target, 'services': services})[0]
    checked = run_module('grpc_health', {'target': target, 'services': services}, check=True)[0]
    assert checked['changed'] is False
    assert statuses(checked) == statuses(normal) and checked['findings'] == normal['findings']
    assert checked['exposed_services'] == normal['exposed_services']


def test_not_serving_is_critical_for_matching_only(lab, engine, run_module, scenario):
    scenario('grpc-not-serving')
    assert GrpcEngine(lab.lab).check(MATCHING) == 'NOT_SERVING'
    target, services = engine
    result, run = run_module('grpc_health', {'target': target, 'services': services})
    assert run.rc == 0, run.stdout
    assert result['status'] == 'critical'
    assert statuses(result) == {FRONTEND: 'SERVING', HISTORY: 'SERVING', MATCHING: 'NOT_SERVING'}
    assert problems(result) == [{'check': 'not_serving', 'status': 'critical', 'value': MATCHING,
                                 'message': '%s is NOT_SERVING on %s' % (MATCHING, target)}]


def test_engine_down_is_unreachable_within_the_timeout(lab, engine, run_module, scenario):
    scenario('grpc-down')
    target, services = engine
    assert not port_open(int(target.rsplit(':', 1)[1]))
    result, run = run_module('grpc_health', {'target': target, 'services': services, 'timeout': 3})
    assert run.rc == 0, run.stdout
    assert result['status'] == 'critical' and result['reachable'] is False and result['reflection'] == 'skipped'
    assert problems(result) == [{'check': 'unreachable', 'status': 'critical', 'value': target,
                                 'message': 'connection refused by %s' % target}]
    assert set(statuses(result).values()) == {'unreachable'}


def test_engine_serves_again_after_grpc_down_is_cleared(lab, engine, scenario):
    item = scenario('grpc-down')
    assert item.present()
    item.clear()
    assert not item.present() and GrpcEngine(lab.lab).check(MATCHING) == 'SERVING'
    assert lab.vars['grpc_target'] == GrpcEngine(lab.lab).endpoint()


def test_hung_endpoint_is_unreachable_within_the_timeout(run_module, silent_server):
    target = '127.0.0.1:%d' % silent_server
    result, run = run_module('grpc_health', {'target': target, 'timeout': 2})
    assert run.rc == 0, run.stdout
    assert result['status'] == 'critical' and result['reachable'] is False
    [problem] = problems(result)
    assert problem['check'] == 'unreachable'
    assert problem['message'].startswith('no answer from %s within 2s' % target)
    # The wait is bounded by the timeout (a little slack for a busy machine).
    assert 1900 <= result['connect_ms'] <= 2000 + 3000


def test_closed_port_is_unreachable_at_once(run_module, closed_port):
    target = '127.0.0.1:%d' % closed_port
    result = run_module('grpc_health', {'target': target, 'timeout': 5})[0]
    assert result['status'] == 'critical' and result.get('failed') is not True
    assert problems(result)[0]['message'] == 'connection refused by %s' % target
    assert result['connect_ms'] is None


def test_unknown_service_is_reported_as_service_unknown(engine, run_module):
    target = engine[0]
    missing = 'linkflow.engine.v1.SchedulerService'
    result = run_module('grpc_health', {'target': target, 'services': [FRONTEND, missing], 'list_services': False})[0]
    assert statuses(result) == {FRONTEND: 'SERVING', missing: 'SERVICE_UNKNOWN'}
    assert result['status'] == 'warn' and result['reflection'] == 'skipped' and result['exposed_services'] == []
    assert problems(result) == [{'check': 'unknown', 'status': 'warn', 'value': missing,
                                 'message': '%s does not know service %s (NOT_FOUND)' % (target, missing)}]


@pytest.mark.parametrize('args, message', [
    ({'target': 'localhost'}, "target: 'localhost' is not HOST:PORT (e.g. localhost:9090 or [::1]:9090)"),
    ({'target': 'http://localhost:9090'}, "target: 'http://localhost:9090' is not HOST:PORT (e.g. localhost:9090 or [::1]:9090)"),
    ({'target': 'localhost:99999'}, "target: port 99999 of 'localhost:99999' is not between 1 and 65535"),
    ({'services': ['linkflow engine']}, "services: 'linkflow engine' is not a fully qualified service name (dotted identifiers such as "
                                        "grpc.health.v1.Health, or an empty string for the whole server)"),
    ({'services': ['linkflow..v1.Matching']}, "services: 'linkflow..v1.Matching' is not a fully qualified service name (dotted identifiers "
                                              "such as grpc.health.v1.Health, or an empty string for the whole server)"),
    ({'timeout': 0}, 'timeout must be a number of seconds above 0, got 0.0'),
    ({'ca_path': '/etc/ssl/certs/ca-certificates.crt'}, 'ca_path only applies with tls: true'),
    ({'tls': True, 'client_cert': '/nonexistent.crt'}, 'client_cert and client_key go together'),
    ({'tls': True, 'ca_path': '/nonexistent/ca.pem'}, 'ca_path: cannot read /nonexistent/ca.pem: No such file or directory'),
])
def test_bad_input_fails_with_one_line(engine, run_module, args, message):
    result = run_module('grpc_health', dict({'target': engine[0]}, **args))[0]
    assert result['failed'] is True
    assert result['msg'] == message


@pytest.mark.parametrize('reflection, expected', [('v1alpha', 'v1alpha'), ('none', 'unavailable')])
def test_reflection_versions_and_servers_without_it(grpc_server, run_module, reflection, expected):
    target = grpc_server('--reflection', reflection)
    result, run = run_module('grpc_health', {'target': target, 'services': [MATCHING]})
    assert run.rc == 0, run.stdout
    # A server without reflection is not a problem: its health is what counts.
    assert result['status'] == 'ok' and result['reflection'] == expected
    if expected == 'unavailable':
        assert result['exposed_services'] == []
    else:
        assert set(ENGINE_SERVICES) <= set(result['exposed_services'])
        assert 'grpc.reflection.v1.ServerReflection' not in result['exposed_services']


def test_tls_with_a_self_signed_certificate(grpc_server, certificate, run_module):
    cert, key = certificate[2:]
    target = grpc_server('--tls-cert', cert, '--tls-key', key)
    trusted = run_module('grpc_health', {'target': target, 'services': [MATCHING], 'tls': True, 'ca_path': cert,
                                         'server_name': 'engine.lab'})[0]
    assert trusted['status'] == 'ok' and statuses(trusted) == {MATCHING: 'SERVING'} and trusted['reflection'] == 'v1'
    # Without validation the presented certificate is trusted as it is, under the name it carries.
    unchecked = run_module('grpc_health', {'target': target, 'services': [MATCHING], 'tls': True, 'validate_certs': False})[0]
    assert unchecked['status'] == 'ok' and statuses(unchecked) == {MATCHING: 'SERVING'}


@pytest.mark.parametrize('args, words', [
    ({'tls': True}, 'CERTIFICATE_VERIFY_FAILED'),                      # not signed by a CA the system trusts
    ({'tls': True, 'ca_path': 'CERT'}, 'Hostname Verification'),      # trusted, but not issued for 127.0.0.1
    ({}, 'closed the connection without a gRPC answer (a TLS port? then set tls: true)'),  # plaintext to a TLS port
])
def test_tls_failures_are_unreachable_findings(grpc_server, certificate, run_module, args, words):
    cert, key = certificate[2:]
    target = grpc_server('--tls-cert', cert, '--tls-key', key)
    args = dict((name, cert if value == 'CERT' else value) for name, value in args.items())
    result, run = run_module('grpc_health', dict({'target': target, 'timeout': 2}, **args))
    assert run.rc == 0, run.stdout
    assert result['status'] == 'critical' and result['reachable'] is False
    [problem] = problems(result)
    assert problem['check'] == 'unreachable' and words in problem['message'], problem['message']
    assert problem['message'].startswith('TLS with %s failed: ' % target if args.get('tls') else target)


def test_lab_cli_injects_checks_and_clears_grpc_down(lab, engine):
    """The lab's own commands work while the engine's port is closed on purpose (the lab still counts as up)."""
    command = [sys.executable, '-m', 'lab']

    def cli(*args):
        return subprocess.run(command + list(args), capture_output=True, text=True, cwd=str(REPO), timeout=120, check=False)

    try:
        injected = cli('inject', 'grpc-down')
        assert injected.returncode == 0, injected.stderr
        assert cli('check', 'grpc-down').returncode == 0
        assert not port_open(int(engine[0].rsplit(':', 1)[1]))
    finally:
        cleared = cli('clear', 'grpc-down')
    assert cleared.returncode == 0, cleared.stderr
    assert cli('check', 'grpc-down').returncode == 1
    assert GrpcEngine(lab.lab).check(MATCHING) == 'SERVING'


def test_mutual_tls_with_a_client_certificate(grpc_server, certificate, tmp_path, run_module):
    ca_cert, ca_key, cert, key = certificate
    client_cert, client_key = make_certificate(tmp_path, 'runbook.client', issuer=(ca_cert, ca_key))[2:]
    target = grpc_server('--tls-cert', cert, '--tls-key', key, '--tls-client-ca', cert)
    args = {'target': target, 'services': [MATCHING], 'tls': True, 'ca_path': cert, 'server_name': 'engine.lab', 'timeout': 2}
    refused = run_module('grpc_health', args)[0]
    assert refused['status'] == 'critical' and problems(refused) == [{
        'check': 'unreachable', 'status': 'critical', 'value': target,
        'message': 'TLS with %s failed: the server closed the connection (does it require a client certificate?)' % target}]
    accepted = run_module('grpc_health', dict(args, client_cert=client_cert, client_key=client_key))[0]
    assert accepted['status'] == 'ok' and statuses(accepted) == {MATCHING: 'SERVING'}
