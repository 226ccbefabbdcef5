#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: grpc_health
short_description: The standard gRPC health check of each service, and what the server exposes
version_added: 0.1.0
description:
  - What the runbooks' C(grpcurl -plaintext localhost:9090 list) and a health check should have told you during
    a "gRPC connection failures" or "Workflow execution stalled" incident.
  - Asks C(grpc.health.v1.Health/Check) for each of O(services) and reports each one's status, C(SERVING),
    C(NOT_SERVING), C(UNKNOWN), C(SERVICE_UNKNOWN) (the server answered C(NOT_FOUND)) or C(unreachable)
    (C(UNAVAILABLE), C(DEADLINE_EXCEEDED)), with the call's latency.
  - With O(list_services), lists the services the server exposes through server reflection (protocol v1, then
    v1alpha), as C(grpcurl list) does. A server without reflection is reported with RV(reflection=unavailable),
    which is not a failure.
  - A target that refuses connections, or accepts them and never answers, is reported as the C(unreachable)
    finding within O(timeout), not as a failed task.
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
requirements:
  - grpcio
  - grpcio-health-checking
  - grpcio-reflection
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  target:
    description:
      - The server, as C(HOST:PORT) or C([IPv6]:PORT), e.g. C(localhost:9090).
    type: str
    required: true
  services:
    description:
      - Fully qualified names of the services to check, e.g. C(temporal.api.workflowservice.v1.WorkflowService).
      - An empty string checks the server as a whole; so does an empty list.
    type: list
    elements: str
    default: ['']
  list_services:
    description:
      - List the services the server exposes through server reflection.
    type: bool
    default: true
  tls:
    description:
      - Connect with TLS instead of plaintext.
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the server's certificate against O(ca_path) or the system's trust store, and its name.
      - When false and O(ca_path) is not set, the certificate the server presents is trusted as it is, which suits
        a self-signed certificate (gRPC itself cannot skip the check).
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the certificate authorities to trust, with O(tls=true).
    type: path
  client_cert:
    description:
      - PEM client certificate for mutual TLS, with O(client_key).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
    type: path
  server_name:
    description:
      - The name to expect in the server's certificate, when it differs from the host of O(target).
    type: str
  timeout:
    description:
      - Seconds allowed for each step, connecting, each health check and the reflection listing.
      - When the channel does not connect in time, at most one more second goes to learning why (a TLS failure,
        a server that hangs up).
    type: float
    default: 5.0
seealso:
  - name: gRPC health checking protocol
    description: The C(grpc.health.v1.Health) service that this module asks.
    link: https://github.com/grpc/grpc/blob/master/doc/health-checking.md
'''

EXAMPLES = r'''
- name: Is the workflow engine serving?
  oncall.runbooks.grpc_health:
    target: temporal-frontend.internal:7233
    services:
      - temporal.api.workflowservice.v1.WorkflowService
  register: engine_health

- name: The server as a whole, and what it exposes, over TLS with our own CA
  oncall.runbooks.grpc_health:
    target: engine.internal:9090
    tls: true
    ca_path: /etc/pki/internal-ca.pem

- name: The lab's engine stand-in
  oncall.runbooks.grpc_health:
    target: "{{ grpc_target }}"
    services: "{{ grpc_services }}"
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: always
  type: str
  sample: critical
findings:
  description:
    - What a human should read first, worst first. C(unreachable) (critical), C(not_serving) (critical), C(unknown) (warn,
      for C(UNKNOWN), C(SERVICE_UNKNOWN) and other answers), or one C(serving) finding (ok) when every service serves.
  returned: always
  type: list
  elements: dict
  sample:
    - check: not_serving
      status: critical
      message: "linkflow.engine.v1.MatchingService is NOT_SERVING on 127.0.0.1:9090"
      value: linkflow.engine.v1.MatchingService
target:
  description: The target as given.
  returned: always
  type: str
  sample: 127.0.0.1:9090
reachable:
  description: Whether the channel connected within O(timeout).
  returned: always
  type: bool
connect_ms:
  description: How long the channel took to connect, in milliseconds; null when the port refused the connection.
  returned: always
  type: float
services:
  description:
    - Per checked service, C(service) (an empty string is the server as a whole), C(status) (C(SERVING), C(NOT_SERVING),
      C(UNKNOWN), C(SERVICE_UNKNOWN), C(unreachable), or the gRPC code the server answered with) and C(latency_ms);
      C(code) and C(error) when the call failed.
  returned: always
  type: list
  elements: dict
  sample:
    - service: linkflow.engine.v1.MatchingService
      status: NOT_SERVING
      latency_ms: 1.8
reflection:
  description:
    - The reflection protocol that answered (C(v1) or C(v1alpha)), C(unavailable) when the server offers none,
      C(failed) when the listing failed, or C(skipped) (O(list_services=false) or the server was unreachable).
  returned: always
  type: str
  sample: v1
reflection_error:
  description: Why the reflection listing failed.
  returned: when RV(reflection) is C(failed)
  type: str
exposed_services:
  description: The services the server lists through reflection, sorted.
  returned: always
  type: list
  elements: str
  sample:
    - grpc.health.v1.Health
    - linkflow.engine.v1.MatchingService
'''

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.oncall.runbooks.plugins.module_utils.grpc_probe import (
    GRPC_IMPORT_ERROR,
    check_health,
    check_options,
    check_service_names,
    grpc,
    list_services,
    open_channel,
    read_pem_files,
    refused,
    rpc_error_line,
    Unreachable,
    wait_ready,
    why_not_ready,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    diagnostic_result,
    failing_on_error,
    finding,
)


def probe(params, host, port, pem):
    """Connect, check each service, list what reflection shows; an unreachable server is data, not an error."""
    data = dict(target=params['target'], reachable=False, connect_ms=None, services=[], reflection='skipped', exposed_services=[])
    started = time.perf_counter()
    try:
        reason = refused(host, port, params['timeout'])
        if reason:
            raise Unreachable(reason)
        channel = open_channel(params, host, port, pem)
    except Unreachable as exc:
        return unreachable(data, params, str(exc))
    try:
        ready = wait_ready(channel, params['timeout'])
        data['connect_ms'] = round(1000 * (time.perf_counter() - started), 3)
        if not ready:
            return unreachable(data, params, why_not_ready(channel, host, port, params['timeout'], params['tls']))
        data['reachable'] = True
        data['services'] = [check_health(channel, name, params['timeout']) for name in params['services']]
        if params['list_services']:
            try:
                version, names = list_services(channel, params['timeout'])
                data['reflection'] = version or 'unavailable'
                data['exposed_services'] = names
            except grpc.RpcError as exc:
                data['reflection'] = 'failed'
                data['reflection_error'] = rpc_error_line(exc)
    finally:
        channel.close()
    return data, None


def unreachable(data, params, reason):
    data['services'] = [dict(service=name, status='unreachable', error=reason, latency_ms=None) for name in params['services']]
    return data, reason


def label(service):
    return service or 'the server as a whole'


def grade(data, where, reason, timeout):
    if reason:
        return [finding('unreachable', 'critical', reason, where)]
    findings = []
    for entry in data['services']:
        name, status = entry['service'], entry['status']
        if status == 'SERVING':
            continue
        if status == 'NOT_SERVING':
            findings.append(finding('not_serving', 'critical', '%s is NOT_SERVING on %s' % (label(name), where), name))
        elif status == 'unreachable':
            message = ('no answer from %s within %ss for %s' % (where, '%g' % timeout, label(name)) if entry['code'] == 'DEADLINE_EXCEEDED'
                       else '%s unreachable on %s: %s' % (label(name), where, entry['error']))
            findings.append(finding('unreachable', 'critical', message, name))
        elif status == 'SERVICE_UNKNOWN':
            findings.append(finding('unknown', 'warn', '%s does not know service %s (NOT_FOUND)' % (where, label(name)), name))
        elif status == 'UNKNOWN':
            findings.append(finding('unknown', 'warn', '%s reports UNKNOWN for %s' % (where, label(name)), name))
        else:
            findings.append(finding('unknown', 'warn', '%s answered the health check for %s with %s: %s' % (
                where, label(name), status, entry.get('error', '')), name))
    if not findings:
        slowest = max(entry['latency_ms'] for entry in data['services'])
        findings.append(finding('serving', 'ok', 'every checked service SERVING on %s (%d, the slowest answered in %.1f ms)' % (
            where, len(data['services']), slowest), len(data['services'])))
    return findings


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type='str', required=True),
            services=dict(type='list', elements='str', default=['']),
            list_services=dict(type='bool', default=True),
            tls=dict(type='bool', default=False),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            client_cert=dict(type='path'),
            client_key=dict(type='path', no_log=False),
            server_name=dict(type='str'),
            timeout=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    params = module.params

    with failing_on_error(module, 'gRPC server at %s' % params['target']):
        host, port = check_options(params)
        params['services'] = check_service_names(params['services'] or [''])
        pem = read_pem_files(params)
        if grpc is None:
            module.fail_json(msg=missing_required_lib('grpcio, grpcio-health-checking and grpcio-reflection'), exception=GRPC_IMPORT_ERROR)
        data, reason = probe(params, host, port, pem)

    where = '%s:%d' % (host, port)
    module.exit_json(**diagnostic_result(grade(data, where, reason, params['timeout']), **data))


if __name__ == '__main__':
    main()
