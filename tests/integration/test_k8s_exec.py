# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_exec through ansible-playbook and the exec websocket.

The emulator runs the command on the host, in a directory of the pod's own; on a real cluster
the same commands run in the container (the images must have ``sh``).
"""

from __future__ import annotations

import os
import time

from kube_rollout_helpers import check_connection_failures


def postgres(k8s):
    k8s.stateful_set('postgres', image='registry.local/postgres:16', replicas=1,
                     containers=[{'name': 'postgres', 'image': 'registry.local/postgres:16'},
                                 {'name': 'exporter', 'image': 'registry.local/exporter:1'}])
    return 'postgres-0'


def test_rc_stdout_stderr_from_the_status_channel(k8s, run_k8s):
    pod = postgres(k8s)
    script = 'echo "rows: 42"; echo "warning: slow" >&2; exit 3'
    result = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', argv=['sh', '-c', script],
                                      allow_failure=True))[0]
    assert result.get('failed') is not True, result
    assert result['rc'] == 3 and result['ran'] is True and result['timed_out'] is False
    assert result['stdout_lines'] == ['rows: 42'] and result['stderr_lines'] == ['warning: slow']
    assert (result['pod'], result['container']) == (pod, 'postgres') and result['changed'] is True
    failing = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', argv=['sh', '-c', script]))[0]
    assert failing['failed'] is True and failing['rc'] == 3
    assert failing['msg'] == 'pod %s/%s container postgres: sh -c %s exited with rc 3: warning: slow' % (
        k8s.namespace, pod, "'%s'" % script.replace("'", "'\"'\"'")), failing['msg']
    ok = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', command='echo "hello  world"', read_only=True))[0]
    assert ok.get('failed') is not True and ok['rc'] == 0 and ok['stdout'] == 'hello  world\n' and ok['changed'] is False


def test_read_only_runs_in_check_mode_and_others_do_not(k8s, run_k8s):
    k8s.require_emulator('it proves what ran with a file in the pod directory on the host')
    pod = postgres(k8s)
    workdir = os.path.join(k8s.emulator.state_dir, 'exec', k8s.namespace, pod)
    touch = dict(namespace=k8s.namespace, pod=pod, container='postgres', argv=['sh', '-c', 'echo ran > marker'])
    plan = run_k8s('k8s_exec', touch, check=True)[0]
    assert plan.get('failed') is not True, plan
    assert plan['ran'] is False and plan['rc'] is None and plan['changed'] is True and plan['cmd'] == "sh -c 'echo ran > marker'"
    assert not os.path.exists(os.path.join(workdir, 'marker')), 'check mode ran a command not marked read_only'
    diagnostic = run_k8s('k8s_exec', dict(touch, read_only=True), check=True)[0]
    assert diagnostic.get('failed') is not True, diagnostic
    assert diagnostic['ran'] is True and diagnostic['rc'] == 0 and diagnostic['changed'] is False
    with open(os.path.join(workdir, 'marker')) as handle:
        assert handle.read() == 'ran\n'


def test_label_selectors_pick_the_first_ready_pod_and_the_default_container(k8s, run_k8s):
    k8s.deployment('kong', replicas=2)
    result = run_k8s('k8s_exec', dict(namespace=k8s.namespace, label_selectors=['app=kong'], argv=['sh', '-c', 'echo $HOSTNAME'],
                                      read_only=True))[0]
    assert result.get('failed') is not True, result
    names = sorted(pod['metadata']['name'] for pod in k8s.pods(selector='app=kong'))
    assert result['pod'] == names[0] and result['container'] == 'app'
    if k8s.emulated:
        assert result['stdout'] == names[0] + '\n'
    none = run_k8s('k8s_exec', dict(namespace=k8s.namespace, label_selectors=['app=nothing'], command='true'))[0]
    assert none['failed'] is True and none['msg'] == 'label_selectors: no running and ready pod in %s matches app=nothing (0 pods match)' % k8s.namespace


def test_command_timeout(k8s, run_k8s):
    pod = postgres(k8s)
    started = time.monotonic()
    result = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', argv=['sleep', '30'], command_timeout='2s'))[0]
    assert time.monotonic() - started < 25
    assert result['failed'] is True and result['timed_out'] is True and result['rc'] is None
    assert result['msg'] == 'pod %s/%s container postgres: sleep 30 did not finish within 2s' % (k8s.namespace, pod)


def test_bad_input_fails_before_anything_runs(k8s, run_k8s):
    pod = postgres(k8s)
    wrong = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='pgbouncer', command='true'))[0]
    assert wrong['failed'] is True
    assert wrong['msg'] == "container: pod %s/%s has no container 'pgbouncer'; its containers are postgres, exporter" % (k8s.namespace, pod)
    missing = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod='postgres-9', command='true'))[0]
    assert missing['failed'] is True and missing['msg'] == 'pod: %s/postgres-9 not found' % k8s.namespace
    neither = run_k8s('k8s_exec', dict(namespace=k8s.namespace, command='true'))[0]
    assert neither['failed'] is True and neither['msg'].startswith('pod and label_selectors: give exactly one')
    empty = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, argv=[]))[0]
    assert empty['failed'] is True and empty['msg'].startswith('argv: must not be empty')
    unknown = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', argv=['no-such-program-here']))[0]
    assert unknown['failed'] is True and 'the command did not run' in unknown['msg'] and 'no-such-program-here' in unknown['msg'], unknown['msg']
    assert '\n' not in unknown['msg']


def test_connection_failures(k8s, run_k8s, closed_port, silent_server):
    pod = postgres(k8s)
    check_connection_failures(k8s, run_k8s, 'k8s_exec', dict(namespace=k8s.namespace, pod=pod, command='true', read_only=True),
                              closed_port, silent_server)


def test_exec_forbidden_names_the_server_and_the_cause(k8s, run_k8s):
    emulator = k8s.require_emulator('it forbids one subresource on demand')
    pod = postgres(k8s)
    emulator.forbid(r'/pods/postgres-0/exec')
    result = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', command='true', read_only=True))[0]
    emulator.clear_faults()
    assert result['failed'] is True and '\n' not in result['msg'], result
    assert result['msg'].startswith('Kubernetes API at %s: 403 Forbidden: ' % k8s.server), result['msg']
    assert 'exec' in result['msg'] and (k8s.token or 'no token') not in str(result)


def test_exec_handshake_that_never_answers_fails_within_the_request_timeout(k8s, run_k8s):
    emulator = k8s.require_emulator('it hangs one subresource on demand')
    pod = postgres(k8s)
    emulator.fail('GET', r'/pods/postgres-0/exec', 'hang')
    started = time.monotonic()
    result = run_k8s('k8s_exec', dict(namespace=k8s.namespace, pod=pod, container='postgres', command='true', read_only=True,
                                      request_timeout=3))[0]
    took = time.monotonic() - started
    emulator.clear_faults()
    assert result['failed'] is True and took < 25, (took, result)
    assert result['msg'] == 'Kubernetes API at %s: no answer within 3s opening the exec stream' % k8s.server, result['msg']


def test_the_runbook_meminfo_of_postgres_0_in_check_mode_and_capped_output(k8s, run_k8s):
    """The seed's "kubectl exec postgres-0 -- cat /proc/meminfo", as a diagnostic in a dry run."""
    k8s.seed()
    result = run_k8s('k8s_exec', dict(namespace='production', pod='postgres-0', command='cat /proc/meminfo', read_only=True),
                     check=True)[0]
    assert result.get('failed') is not True, result
    assert result['ran'] is True and result['rc'] == 0 and result['changed'] is False and result['container'] == 'postgres'
    assert any(line.startswith('MemTotal:') for line in result['stdout_lines'])
    capped = run_k8s('k8s_exec', dict(namespace='production', pod='postgres-0', command='cat /proc/meminfo', read_only=True,
                                      max_output=64))[0]
    assert capped['output_truncated'] is True and len(capped['stdout'].encode()) == 64 and capped['truncated_bytes'] > 0
