#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_logs
short_description: Logs of every pod a selector matches, read concurrently, with patterns counted
version_added: 0.1.0
description:
  - The runbooks' C(kubectl logs -l app=kong --tail=100), for every pod that the selector matches
    (C(kubernetes.core.k8s_log) reads only the first), read concurrently.
  - One container per pod (O(container), or the pod's default container), or every container with
    O(all_containers=true); the last O(tail_lines) lines, those of the last O(since), or the logs of the
    previous, crashed instance of the container with O(previous=true).
  - With O(patterns), counts per pod and container the lines that match each regular expression and returns
    the matching lines, which is how to see which replicas log the error and which do not.
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.k8s
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  name:
    description:
      - Name of one pod to read. Mutually exclusive with O(label_selectors).
    type: str
  label_selectors:
    description:
      - Label selectors the pods must match, all of them (for example C(app=kong)).
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Field selectors the pods must match, all of them (for example C(status.phase=Running)).
    type: list
    elements: str
    default: []
  container:
    description:
      - The container to read in each pod. Without it and without O(all_containers), the pod's default
        container (annotation C(kubectl.kubernetes.io/default-container), else the first one), as C(kubectl logs) does.
    type: str
  all_containers:
    description:
      - Read every container of each pod (init containers too).
    type: bool
    default: false
  tail_lines:
    description:
      - Read at most this many of the last lines of each container. 0 reads every line (bounded by O(limit_bytes)).
    type: int
    default: 100
  since:
    description:
      - Read only the lines of the last duration (C(10m), C(1h)).
    type: str
  previous:
    description:
      - Read the logs of the previous instance of the container, the one that crashed or was OOM-killed.
    type: bool
    default: false
  limit_bytes:
    description:
      - Read at most this many bytes of each container's log.
    type: int
  max_pods:
    description:
      - Read at most this many pods (the first by name); the others are counted in RV(left_out).
    type: int
    default: 50
  patterns:
    description:
      - Regular expressions (Python syntax) to count in each log, for example C(ERROR|FATAL) or C(connection refused).
    type: list
    elements: str
    default: []
  max_matches:
    description:
      - Return at most this many matching lines per pattern and container.
    type: int
    default: 20
  return_lines:
    description:
      - Return the log lines themselves in RV(logs). With V(false), only counts and matching lines are returned.
    type: bool
    default: true
  workers:
    description:
      - How many logs to read at the same time.
    type: int
    default: 8
seealso:
  - module: oncall.runbooks.k8s_pod_health
    description: Which pods are broken and why.
'''

EXAMPLES = r'''
- name: The last 100 lines of every Kong pod, with errors counted
  oncall.runbooks.k8s_logs:
    namespace: production
    label_selectors:
      - app=kong
    tail_lines: 100
    patterns:
      - "upstream timed out"
      - "connect\\(\\) failed"
  register: kong_logs

- name: Why did the API crash? The previous instance's logs
  oncall.runbooks.k8s_logs:
    namespace: linkflow
    label_selectors:
      - app=linkflow-api
    previous: true
    patterns:
      - OutOfMemory|FATAL
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: warn
findings:
  description:
    - C(pattern) findings (warn, one per pattern that matched, with the number of matching lines and the pods),
      C(logs) when some logs could not be read, and C(pods) when nothing matched or O(max_pods) left pods out.
  returned: success
  type: list
  elements: dict
logs:
  description:
    - One entry per pod and container, by pod name, with C(pod), C(container), C(lines) (with O(return_lines)),
      C(line_count), C(matches) (per pattern C(count) and C(lines)), and C(error) when the log could not be read
      (for example no previous instance).
  returned: success
  type: list
  elements: dict
  sample:
    - pod: kong-7c9-abcde
      container: proxy
      line_count: 100
      lines: ["2026/11/22 03:04:05 [error] upstream timed out"]
      matches:
        upstream timed out: {count: 12, lines: ["2026/11/22 03:04:05 [error] upstream timed out"]}
pattern_counts:
  description: Per pattern, the number of matching lines over every log read.
  returned: success
  type: dict
  sample: {upstream timed out: 37}
pods_read:
  description: Number of pods whose logs were read.
  returned: success
  type: int
left_out:
  description: Number of matching pods not read because of O(max_pods).
  returned: success
  type: int
'''

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    KubeError,
    connect,
    join_selectors,
    k8s_argument_spec,
    object_path,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.logs import (
    compile_patterns,
    match_lines,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError,
    check_cap,
    diagnostic_result,
    failing_on_error,
    finding,
    parse_duration,
)

DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container'


def containers_to_read(pod, params):
    """The (container, error) pairs to read in a pod, as kubectl logs chooses them."""
    spec = pod.get('spec') or {}
    names = [item['name'] for item in spec.get('containers') or []]
    init = [item['name'] for item in spec.get('initContainers') or []]
    if params['all_containers']:
        return [(name, None) for name in init + names]
    if params['container']:
        if params['container'] in names + init:
            return [(params['container'], None)]
        return [(params['container'], 'the pod has no container %s (it has %s)' % (params['container'], ', '.join(names + init)))]
    default = ((pod.get('metadata') or {}).get('annotations') or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    return [(default if default in names else names[0], None)] if names else []


def read_one(kube, namespace, pod, container, params, since, compiled):
    entry = dict(pod=pod, container=container)
    query = dict(container=container, tailLines=params['tail_lines'] or None, sinceSeconds=int(since) if since else None,
                 previous=True if params['previous'] else None, limitBytes=params['limit_bytes'])
    try:
        text = kube.text(object_path('Pod', namespace, pod, 'log'), query)
    except KubeError as exc:
        if exc.status is None or exc.status in (401, 403):
            # The server is gone or refuses us: no other pod will do better.
            raise
        entry.update(error=str(exc).split(': ', 1)[-1], line_count=0, matches={})
        return entry
    lines = text.splitlines()
    entry['line_count'] = len(lines)
    entry['matches'] = match_lines(compiled, lines, params['max_matches']) if compiled else {}
    if params['return_lines']:
        entry['lines'] = lines
    return entry


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(
        name=dict(type='str'),
        label_selectors=dict(type='list', elements='str', default=[]),
        field_selectors=dict(type='list', elements='str', default=[]),
        container=dict(type='str'),
        all_containers=dict(type='bool', default=False),
        tail_lines=dict(type='int', default=100),
        since=dict(type='str'),
        previous=dict(type='bool', default=False),
        limit_bytes=dict(type='int'),
        max_pods=dict(type='int', default=50),
        patterns=dict(type='list', elements='str', default=[]),
        max_matches=dict(type='int', default=20),
        return_lines=dict(type='bool', default=True),
        workers=dict(type='int', default=8),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('name', 'label_selectors'), ('container', 'all_containers')])
    params = module.params

    with failing_on_error(module, 'Kubernetes API'):
        label_selector = join_selectors(params['label_selectors'], 'label_selectors')
        field_selector = join_selectors(params['field_selectors'], 'field_selectors', field=True)
        check_cap(params['max_pods'], 'max_pods')
        check_cap(params['workers'], 'workers')
        if params['tail_lines'] < 0:
            raise RunbookError('tail_lines must be 0 (every line) or more, got %d' % params['tail_lines'])
        if params['limit_bytes'] is not None and params['limit_bytes'] < 1:
            raise RunbookError('limit_bytes must be at least 1, got %d' % params['limit_bytes'])
        if params['max_matches'] < 0:
            raise RunbookError('max_matches must be 0 or more, got %d' % params['max_matches'])
        since = parse_duration(params['since'], 'since') if params['since'] is not None else None
        if since is not None and since < 1:
            raise RunbookError('since must be at least 1s, got %r' % params['since'])
        compiled = compile_patterns(module, params['patterns'])
        namespace = params['namespace']

        kube = connect(module)
        if params['name']:
            try:
                pods = [kube.get(object_path('Pod', namespace, params['name']))]
            except KubeError as exc:
                if exc.status == 404:
                    raise RunbookError('Pod %s/%s not found' % (namespace, params['name']))
                raise
        else:
            pods = kube.items(object_path('Pod', namespace), label_selector=label_selector, field_selector=field_selector)
        pods.sort(key=lambda pod: pod['metadata']['name'])
        left_out = max(len(pods) - params['max_pods'], 0)
        pods = pods[:params['max_pods']]

        jobs, logs = [], []
        for pod in pods:
            for container, error in containers_to_read(pod, params):
                if error:
                    logs.append(dict(pod=pod['metadata']['name'], container=container, error=error, line_count=0, matches={}))
                else:
                    jobs.append((pod['metadata']['name'], container))
        if jobs:
            with ThreadPoolExecutor(max_workers=min(params['workers'], len(jobs))) as pool:
                futures = [pool.submit(read_one, kube, namespace, pod, container, params, since, compiled) for pod, container in jobs]
                logs.extend(future.result() for future in futures)
        logs.sort(key=lambda entry: (entry['pod'], entry['container'] or ''))

    findings = []
    pattern_counts = dict((pattern, 0) for pattern in params['patterns'])
    for pattern in params['patterns']:
        hits = [entry for entry in logs if (entry['matches'].get(pattern) or {}).get('count')]
        total = sum(entry['matches'][pattern]['count'] for entry in hits)
        pattern_counts[pattern] = total
        if hits:
            item = finding('pattern', 'warn', '%r matched %d lines in %d of %d pods: %s' % (
                pattern, total, len(set(entry['pod'] for entry in hits)), len(pods),
                ', '.join(sorted(set('%s (%d)' % (entry['pod'], entry['matches'][pattern]['count']) for entry in hits))[:10])), total)
        else:
            item = finding('pattern', 'ok', '%r matched no line in %d pods' % (pattern, len(pods)), 0)
        item['pattern'] = pattern
        findings.append(item)
    failed = [entry for entry in logs if entry.get('error')]
    if failed:
        findings.append(finding('logs', 'warn', '%d of %d logs could not be read, e.g. %s/%s: %s' % (
            len(failed), len(logs), failed[0]['pod'], failed[0]['container'], failed[0]['error']), len(failed)))
    if not pods:
        findings.append(finding('pods', 'warn', 'no pods in namespace %s%s' % (namespace, ' matching %s' % label_selector if label_selector else ''), 0))
    elif left_out:
        findings.append(finding('pods', 'warn', 'read %d of %d pods (max_pods %d left %d out)' % (
            len(pods), len(pods) + left_out, params['max_pods'], left_out), len(pods)))
    module.exit_json(**diagnostic_result(findings, logs=logs, pattern_counts=pattern_counts, pods_read=len(pods), left_out=left_out))


if __name__ == '__main__':
    main()
