# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the rollout, rollback, scale and exec tests share: revision listings and the connection-failure checks."""

from __future__ import annotations

import time

REVISION = 'deployment.kubernetes.io/revision'
REQUEST_TIMEOUT = 3


def revisions(k8s, kind, name):
    """{revision: image} of the workload's ReplicaSets or ControllerRevisions, read straight from the API."""
    found = {}
    workload = k8s.read(kind, name)
    if kind == 'Deployment':
        for rs in k8s.list('ReplicaSet'):
            owner = [ref for ref in rs['metadata'].get('ownerReferences') or [] if ref.get('controller')]
            if owner and owner[0]['uid'] == workload['metadata']['uid']:
                found[int(rs['metadata']['annotations'][REVISION])] = rs['spec']['template']['spec']['containers'][0]['image']
    else:
        for item in k8s.list('ControllerRevision'):
            owner = [ref for ref in item['metadata'].get('ownerReferences') or [] if ref.get('controller')]
            if owner and owner[0]['uid'] == workload['metadata']['uid']:
                found[int(item['revision'])] = item['data']['spec']['template']['spec']['containers'][0]['image']
    return found


def image(k8s, kind, name):
    return k8s.read(kind, name)['spec']['template']['spec']['containers'][0]['image']


def failing_connections(k8s, closed_port, silent_server):
    """(case, extra module options, what the message must say) for refused, hung, 401 and (emulator) 403."""
    cases = [
        ('refused', {'host': 'http://127.0.0.1:%d' % closed_port}, ['http://127.0.0.1:%d' % closed_port, 'connection refused']),
        ('hung', {'host': 'http://127.0.0.1:%d' % silent_server}, ['http://127.0.0.1:%d' % silent_server, 'no answer within %ds' % REQUEST_TIMEOUT]),
        ('401', {'api_key': 'not-the-token'}, [k8s.server, '401 Unauthorized']),
    ]
    if k8s.emulated:
        k8s.emulator.forbid('.*')
        cases.append(('403', {}, [k8s.server, '403 Forbidden']))
    return cases


def check_connection_failures(k8s, run_k8s, module, args, closed_port, silent_server):
    """Each failure ends the task within the request timeout (plus Ansible's own start-up), in one line."""
    for case, extra, expected in failing_connections(k8s, closed_port, silent_server):
        options = dict(args, request_timeout=REQUEST_TIMEOUT, **extra)
        started = time.monotonic()
        result = run_k8s(module, options)[0]
        took = time.monotonic() - started
        assert result.get('failed') is True, (case, result)
        message = result['msg']
        assert '\n' not in message and 'Traceback' not in message, (case, message)
        for part in expected:
            assert part in message, (case, message)
        assert 'not-the-token' not in str(result) and (k8s.token or 'no token') not in str(result), case
        assert took < REQUEST_TIMEOUT + 25, (case, took)
    if k8s.emulated:
        k8s.emulator.clear_faults()
