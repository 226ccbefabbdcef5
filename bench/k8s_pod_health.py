"""k8s_pod_health over 2,000 pods, side by side with kubernetes.core.k8s_info listing the same pods.

Both run as one task of a playbook through ansible-playbook (so both include Ansible's own start-up),
in the same run, against the same emulated API server (lab.kube) holding 2,000 pods in one namespace,
every 50th of them crash-looping. kubernetes.core comes from the ``ansible`` package on PyPI, which is
kept out of the project's .venv: both playbooks run with .build/bench-venv's ansible-playbook
(``python -m venv .build/bench-venv && .build/bench-venv/bin/pip install 'ansible-core==2.19.*' ansible kubernetes``),
our collection found through ANSIBLE_COLLECTIONS_PATH=.build/collections.
Target: k8s_pod_health at most 0.5x the time of k8s_info.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from common import median, write_results

from lab.kube import Emulator

PODS = 2000
BROKEN_EVERY = 50
ROUNDS = 5
NAMESPACE = 'bench'
REPO = Path(__file__).resolve().parent.parent
VENV = REPO / '.build' / 'bench-venv'


def playbook(directory, name, task):
    path = Path(directory) / ('%s.yml' % name)
    path.write_text(json.dumps([{'name': name, 'hosts': 'localhost', 'gather_facts': False, 'tasks': [dict(task, register='out')]}]))
    return path


def run_playbook(path, env):
    started = time.perf_counter()
    process = subprocess.run([str(VENV / 'bin' / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                              '-e', 'ansible_python_interpreter=%s' % (VENV / 'bin' / 'python'), str(path)],
                             capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError('%s failed:\n%s%s' % (path.name, process.stdout[-3000:], process.stderr[-3000:]))
    return seconds


def main():
    if not (VENV / 'bin' / 'ansible-playbook').exists():
        raise SystemExit('missing %s: python -m venv %s && %s/bin/pip install "ansible-core==2.19.*" ansible kubernetes' % (VENV, VENV, VENV))
    emulator = Emulator(token='bench-token').start()
    try:
        emulator.add_pods(NAMESPACE, PODS, labels={'app': 'bench'}, broken_every=BROKEN_EVERY)
        emulator.settle()
        with tempfile.TemporaryDirectory(prefix='bench-k8s-') as directory:
            kubeconfig = str(Path(directory) / 'kubeconfig')
            emulator.kubeconfig(kubeconfig)
            connection = dict(kubeconfig=kubeconfig, namespace=NAMESPACE)
            ours = playbook(directory, 'k8s_pod_health', {'oncall.runbooks.k8s_pod_health': dict(connection, label_selectors=['app=bench']),
                                                          'name': 'pod health'})
            theirs = playbook(directory, 'k8s_info', {'kubernetes.core.k8s_info': dict(connection, kind='Pod', label_selectors=['app=bench']),
                                                      'name': 'list pods'})
            check = playbook(directory, 'check', {'oncall.runbooks.k8s_pod_health': dict(connection, label_selectors=['app=bench']),
                                                  'name': 'check'})
            env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / '.build' / 'collections'), ANSIBLE_NOCOLOR='1',
                       ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
            # One checked run first: both read the same 2,000 pods and ours finds the crash-looping ones.
            output = subprocess.run([str(VENV / 'bin' / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                                     '-e', 'ansible_python_interpreter=%s' % (VENV / 'bin' / 'python'), str(check)],
                                    capture_output=True, text=True, env=env, check=False).stdout
            result = json.loads(output)['plays'][0]['tasks'][0]['hosts']['localhost']
            assert result['counts']['total'] == PODS, result.get('msg')
            assert result['counts']['by_problem'].get('crash_loop') == PODS // BROKEN_EVERY, result['counts']
            timings = {'k8s_info': [], 'k8s_pod_health': []}
            for round_number in range(ROUNDS):
                order = (('k8s_info', theirs), ('k8s_pod_health', ours)) if round_number % 2 == 0 else \
                    (('k8s_pod_health', ours), ('k8s_info', theirs))
                for name, path in order:
                    timings[name].append(run_playbook(path, env))
    finally:
        emulator.stop()

    summary = dict((name, median(values)) for name, values in timings.items())
    ratio = summary['k8s_pod_health'] / summary['k8s_info']
    versions = subprocess.run([str(VENV / 'bin' / 'python'), '-c', 'import ansible, kubernetes; print(ansible.__version__, kubernetes.__version__)'],
                              capture_output=True, text=True, check=False).stdout.split()
    markdown = '\n'.join([
        '### k8s_pod_health: %d pods in one namespace, median of %d rounds through ansible-playbook' % (PODS, ROUNDS),
        '',
        '| task | median | rounds |',
        '|---|---|---|',
        '| `kubernetes.core.k8s_info` (kind Pod, same selector; lists only) | %.2f s | %s |' % (
            summary['k8s_info'], ', '.join('%.2f' % value for value in timings['k8s_info'])),
        '| `oncall.runbooks.k8s_pod_health` (lists, grades every pod, findings) | %.2f s | %s |' % (
            summary['k8s_pod_health'], ', '.join('%.2f' % value for value in timings['k8s_pod_health'])),
        '| ratio (target at most 0.5x) | %.2fx | |' % ratio,
        '',
        'Same run, same emulated API server (lab.kube, %d pods, every %dth crash-looping), ansible-core %s, kubernetes client %s. '
        'Both times include ansible-playbook starting up.' % (PODS, BROKEN_EVERY, versions[0] if versions else '?',
                                                              versions[1] if len(versions) > 1 else '?'),
    ])
    write_results('k8s_pod_health', {'pods': PODS, 'rounds': timings, 'median_s': summary, 'ratio': ratio}, markdown)


if __name__ == '__main__':
    main()
