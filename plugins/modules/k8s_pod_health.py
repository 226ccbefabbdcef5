#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: k8s_pod_health
short_description: Pods, Service endpoints, warning events and memory use, graded like an on-call engineer reads them
version_added: 0.1.0
description:
  - What the runbooks' C(kubectl get pods), C(kubectl describe pod), C(kubectl get endpoints) and
    C(kubectl top pods) should have told you during an incident, in one task.
  - For every pod that O(namespace), O(label_selectors) and O(field_selectors) select, reports the phase, the
    status as the STATUS column of C(kubectl get pods) shows it (C(Running), C(CrashLoopBackOff), C(OOMKilled),
    C(ImagePullBackOff), C(Pending), C(Init:0/1), C(Terminating)...), ready containers (C(1/2)), restarts, the
    waiting reason, the last termination reason and exit code, node, age and owner.
  - With O(services), checks that each named Service has ready endpoint addresses. A Service without any is
    what a gateway answers with 502 for.
  - With O(include_events), adds the recent C(Warning) events of the selected pods (one list of the
    namespace's warning events, matched to the pods).
  - With O(include_metrics), adds CPU and memory use from the C(metrics.k8s.io) API (what C(kubectl top pods)
    shows) next to each container's requests and limits, and grades memory use against the limit.
  - Pods are read with one paged list as raw JSON, so thousands of pods take about a second.
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
  label_selectors:
    description:
      - Label selectors the pods must match, all of them (for example C(app=kong), C(tier in (edge,api)), C(!canary)).
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Field selectors the pods must match, all of them (for example C(status.phase!=Succeeded), C(spec.nodeName=node-3)).
    type: list
    elements: str
    default: []
  only_unhealthy:
    description:
      - Return only the pods that have a problem in RV(pods). Counts and findings still cover every pod.
    type: bool
    default: false
  services:
    description:
      - Names of Services in O(namespace) whose endpoints to check.
    type: list
    elements: str
    default: []
  include_events:
    description:
      - Add the C(Warning) events of the selected pods seen within O(events_max_age).
    type: bool
    default: false
  events_max_age:
    description:
      - How old a warning event may be to be reported, as a duration (C(30m), C(2h)).
    type: str
    default: 1h
  include_metrics:
    description:
      - Add CPU and memory use from the C(metrics.k8s.io) API (needs metrics-server in the cluster).
    type: bool
    default: false
  memory_warn:
    description:
      - Percentage of a container's memory limit in use at which the C(memory) finding warns.
    type: int
    default: 80
  memory_critical:
    description:
      - Percentage of a container's memory limit in use at which the C(memory) finding is critical
        (the kernel kills the container with C(OOMKilled) at 100).
    type: int
    default: 95
  restarts_warn:
    description:
      - Number of restarts of a pod at which the C(restarts) finding warns. 0 turns the check off.
    type: int
    default: 5
  not_ready_after:
    description:
      - How long a running pod must have been unready before it counts as C(not_ready), as a duration.
    type: str
    default: 0s
seealso:
  - module: oncall.runbooks.k8s_logs
    description: Read the logs of the pods this module reports.
  - module: oncall.runbooks.k8s_pod_restart
    description: Delete the pods this module reports as broken, or restart their workload.
'''

EXAMPLES = r'''
- name: Why does the gateway answer 502?
  oncall.runbooks.k8s_pod_health:
    namespace: production
    label_selectors:
      - app=kong
    services:
      - kong-proxy
    include_events: true
    include_metrics: true
  register: kong_health

- name: Only the broken pods of the namespace
  oncall.runbooks.k8s_pod_health:
    kubeconfig: ~/.kube/prod.yml
    context: prod-eu
    namespace: linkflow
    only_unhealthy: true
    field_selectors:
      - status.phase!=Succeeded
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: critical
findings:
  description:
    - What a human should read first, worst first, one per kind of problem over all pods (C(crash_loop),
      C(oom_killed), C(image_pull), C(config_error), C(pending), C(failed), C(not_ready), C(restarts)), one per
      Service (C(endpoints)), C(memory) and C(metrics) with O(include_metrics), and C(pods) when all is well or
      nothing matched. C(value) is the number of pods, C(pods) their names (at most 20).
  returned: success
  type: list
  elements: dict
  sample:
    - check: crash_loop
      status: critical
      message: "2 pods crash-looping: api-7d9-x2x (api is in CrashLoopBackOff (12 restarts)), api-7d9-k8s"
      value: 2
      pods: [api-7d9-x2x, api-7d9-k8s]
counts:
  description: C(total), C(healthy), C(unhealthy), C(ready), C(by_status) (pods per STATUS) and C(by_problem).
  returned: success
  type: dict
  sample: {total: 4, healthy: 3, unhealthy: 1, ready: 3, by_status: {Running: 3, CrashLoopBackOff: 1}, by_problem: {crash_loop: 1}}
pods:
  description:
    - One entry per pod (only those with problems with O(only_unhealthy=true)), with C(name), C(namespace), C(phase),
      C(status) (as C(kubectl get pods) shows it), C(ready) (C(1/2)), C(is_ready), C(restarts), C(waiting_reason),
      C(last_termination) (C(reason), C(exit_code), C(container)), C(node), C(ip), C(age), C(age_seconds), C(owner)
      (C(kind), C(name)), C(containers) (per container C(name), C(ready), C(restarts), C(state), C(reason), C(exit_code),
      C(last_termination)), C(init_containers) (the same, when the pod has any), C(deleting), C(not_ready_seconds) (how long
      an unready pod has been unready), C(unschedulable) (the scheduler's reason), C(problems) (problem to reason),
      C(resource_version), and with the options C(events) and C(usage) (per container C(cpu_millicores), C(memory_bytes),
      the requests and limits, and C(memory_limit_percent)).
  returned: success
  type: list
  elements: dict
services:
  description:
    - With O(services), per Service C(name), C(exists), C(ready) (ready endpoint addresses, as C(ip) and C(pod)),
      C(not_ready) and C(ports).
  returned: when O(services) is not empty
  type: list
  elements: dict
events:
  description: With O(include_events), the recent warning events of the pods, newest first (C(pod), C(reason), C(message), C(count), C(last_seen)).
  returned: when O(include_events=true)
  type: list
  elements: dict
metrics_available:
  description: With O(include_metrics), whether the C(metrics.k8s.io) API answered.
  returned: when O(include_metrics=true)
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    KubeError,
    connect,
    join_selectors,
    k8s_argument_spec,
    object_path,
    parse_quantity,
    pod_problems,
    pod_view,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError,
    check_ratio,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    finding,
    format_bytes,
    parse_duration,
    seconds_since,
)

# Findings per problem: status and how a line of them starts.
PROBLEM_FINDINGS = (
    ('crash_loop', 'critical', 'crash-looping'),
    ('oom_killed', 'critical', 'OOM-killed'),
    ('image_pull', 'critical', 'unable to pull their image'),
    ('config_error', 'critical', 'unable to start their containers'),
    ('not_ready', 'warn', 'running but not ready'),
    ('pending', 'warn', 'pending'),
    ('failed', 'warn', 'failed'),
    ('restarts', 'warn', 'restarting often'),
)
NAMES_SHOWN = 20


def pod_findings(views):
    findings = []
    for problem, status, words in PROBLEM_FINDINGS:
        hit = [view for view in views if problem in view['problems']]
        if not hit:
            continue
        shown = ', '.join('%s (%s)' % (view['name'], view['problems'][problem]) if index < 3 else view['name']
                          for index, view in enumerate(hit[:NAMES_SHOWN]))
        more = ' and %d more' % (len(hit) - NAMES_SHOWN) if len(hit) > NAMES_SHOWN else ''
        item = finding(problem, status, '%d pod%s %s: %s%s' % (len(hit), '' if len(hit) == 1 else 's', words, shown, more), len(hit))
        item['pods'] = [view['name'] for view in hit[:NAMES_SHOWN]]
        findings.append(item)
    return findings


def check_services(kube, namespace, names):
    services, findings = [], []
    for name in names:
        entry = dict(name=name, exists=True, ready=[], not_ready=[], ports=[])
        try:
            kube.get(object_path('Service', namespace, name))
        except KubeError as exc:
            if exc.status != 404:
                raise
            entry['exists'] = False
            services.append(entry)
            findings.append(finding('endpoints', 'critical', 'Service %s/%s not found' % (namespace, name), 0))
            continue
        try:
            endpoints = kube.get(object_path('Endpoints', namespace, name)) or {}
        except KubeError as exc:
            if exc.status != 404:
                raise
            endpoints = {}
        for subset in endpoints.get('subsets') or []:
            for key, field in (('ready', 'addresses'), ('not_ready', 'notReadyAddresses')):
                for address in subset.get(field) or []:
                    entry[key].append(dict(ip=address.get('ip'), pod=(address.get('targetRef') or {}).get('name')))
            entry['ports'].extend(dict(name=port.get('name'), port=port.get('port'), protocol=port.get('protocol'))
                                  for port in subset.get('ports') or [] if port not in entry['ports'])
        services.append(entry)
        ready, not_ready = len(entry['ready']), len(entry['not_ready'])
        if not ready:
            findings.append(finding('endpoints', 'critical', 'Service %s/%s has no ready endpoints (%d not ready): '
                                    'requests through it fail (a gateway answers 502)' % (namespace, name, not_ready), 0))
        elif not_ready:
            findings.append(finding('endpoints', 'warn', 'Service %s/%s has %d ready and %d not-ready endpoints'
                                    % (namespace, name, ready, not_ready), ready))
        else:
            findings.append(finding('endpoints', 'ok', 'Service %s/%s has %d ready endpoints' % (namespace, name, ready), ready))
    return services, findings


def attach_events(kube, namespace, views, max_age):
    """One LIST of the namespace's warning events, matched to the pods by involvedObject."""
    by_name = dict((view['name'], view) for view in views)
    events = []
    for event in kube.items(object_path('Event', namespace), field_selector='type=Warning'):
        involved = event.get('involvedObject') or {}
        view = by_name.get(involved.get('name'))
        if involved.get('kind') != 'Pod' or view is None or (involved.get('uid') and view['uid'] and involved['uid'] != view['uid']):
            continue
        last_seen = (event.get('lastTimestamp') or event.get('eventTime') or (event.get('series') or {}).get('lastObservedTime')
                     or (event.get('metadata') or {}).get('creationTimestamp'))
        age = seconds_since(last_seen)
        if age is not None and age > max_age:
            continue
        item = dict(pod=view['name'], reason=event.get('reason'), message=event.get('message'),
                    count=event.get('count') or (event.get('series') or {}).get('count') or 1, last_seen=last_seen)
        events.append(item)
    events.sort(key=lambda item: item['last_seen'] or '', reverse=True)
    for item in events:
        by_name[item['pod']].setdefault('events', []).append(dict((key, value) for key, value in item.items() if key != 'pod'))
    return events


def attach_metrics(kube, namespace, label_selector, views, pods, params):
    """Usage from metrics.k8s.io next to each container's requests and limits; the memory findings."""
    try:
        metrics = kube.items('/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods' % namespace, label_selector=label_selector)
    except KubeError as exc:
        if exc.status in (404, 503):
            return False, [finding('metrics', 'warn', 'the metrics.k8s.io API is not available (%s): no CPU or memory use' % (
                'not installed' if exc.status == 404 else 'unavailable'))]
        raise
    specs = {}
    for pod in pods:
        for container in (pod.get('spec') or {}).get('containers') or []:
            specs[(pod['metadata']['name'], container.get('name'))] = container.get('resources') or {}
    by_name = dict((view['name'], view) for view in views)
    near = []
    for item in metrics:
        view = by_name.get((item.get('metadata') or {}).get('name'))
        if view is None:
            continue
        usage = []
        for container in item.get('containers') or []:
            resources = specs.get((view['name'], container.get('name')), {})
            used = container.get('usage') or {}
            entry = dict(container=container.get('name'),
                         cpu_millicores=round(1000 * (parse_quantity(used.get('cpu')) or 0), 1),
                         memory_bytes=int(parse_quantity(used.get('memory')) or 0))
            for kind in ('requests', 'limits'):
                values = resources.get(kind) or {}
                cpu, memory = parse_quantity(values.get('cpu')), parse_quantity(values.get('memory'))
                entry['cpu_%s_millicores' % kind[:-1]] = round(1000 * cpu, 1) if cpu is not None else None
                entry['memory_%s_bytes' % kind[:-1]] = int(memory) if memory is not None else None
            limit = entry['memory_limit_bytes']
            entry['memory_limit_percent'] = round(100.0 * entry['memory_bytes'] / limit, 1) if limit else None
            if limit and entry['memory_limit_percent'] >= params['memory_warn']:
                near.append((view['name'], entry))
            usage.append(entry)
        view['usage'] = usage
    findings = []
    if near:
        near.sort(key=lambda pair: -pair[1]['memory_limit_percent'])
        worst = near[0][1]['memory_limit_percent']
        status = 'critical' if worst >= params['memory_critical'] else 'warn'
        shown = ', '.join('%s/%s %s of %s (%s%%)' % (
            name, entry['container'], format_bytes(entry['memory_bytes']), format_bytes(entry['memory_limit_bytes']),
            entry['memory_limit_percent']) for name, entry in near[:5])
        item = finding('memory', status, '%d container%s near their memory limit: %s%s' % (
            len(near), '' if len(near) == 1 else 's', shown, ' and %d more' % (len(near) - 5) if len(near) > 5 else ''),
            worst, params['memory_critical'] if status == 'critical' else params['memory_warn'])
        item['pods'] = sorted(set(name for name, entry in near))[:NAMES_SHOWN]
        findings.append(item)
    else:
        findings.append(finding('memory', 'ok', 'no container above %d%% of its memory limit' % params['memory_warn']))
    return True, findings


def main():
    argument_spec = k8s_argument_spec()
    argument_spec.update(
        label_selectors=dict(type='list', elements='str', default=[]),
        field_selectors=dict(type='list', elements='str', default=[]),
        only_unhealthy=dict(type='bool', default=False),
        services=dict(type='list', elements='str', default=[]),
        include_events=dict(type='bool', default=False),
        events_max_age=dict(type='str', default='1h'),
        include_metrics=dict(type='bool', default=False),
        memory_warn=dict(type='int', default=80),
        memory_critical=dict(type='int', default=95),
        restarts_warn=dict(type='int', default=5),
        not_ready_after=dict(type='str', default='0s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, 'Kubernetes API'):
        label_selector = join_selectors(params['label_selectors'], 'label_selectors')
        field_selector = join_selectors(params['field_selectors'], 'field_selectors', field=True)
        max_age = parse_duration(params['events_max_age'], 'events_max_age')
        not_ready_after = parse_duration(params['not_ready_after'], 'not_ready_after')
        for option in ('memory_warn', 'memory_critical'):
            check_ratio(params[option], option)
        check_thresholds(params['memory_warn'], params['memory_critical'], 'memory_warn', 'memory_critical')
        if params['restarts_warn'] < 0:
            raise RunbookError('restarts_warn must be 0 or more, got %d' % params['restarts_warn'])
        namespace = params['namespace']

        kube = connect(module)
        pods = kube.items(object_path('Pod', namespace), label_selector=label_selector, field_selector=field_selector)
        views = []
        for pod in pods:
            view = pod_view(pod)
            view['problems'] = pod_problems(view, params['restarts_warn'], not_ready_after)
            views.append(view)

        findings = pod_findings(views)
        counts = dict(total=len(views), ready=sum(1 for view in views if view['is_ready']),
                      unhealthy=sum(1 for view in views if view['problems']), by_status={}, by_problem={})
        counts['healthy'] = counts['total'] - counts['unhealthy']
        for view in views:
            counts['by_status'][view['status']] = counts['by_status'].get(view['status'], 0) + 1
            for problem in view['problems']:
                counts['by_problem'][problem] = counts['by_problem'].get(problem, 0) + 1
        where = 'namespace %s%s' % (namespace, ' matching %s' % label_selector if label_selector else '')
        if not views:
            findings.append(finding('pods', 'warn', 'no pods in %s%s' % (where, ' with %s' % field_selector if field_selector else ''), 0))
        elif not counts['unhealthy']:
            findings.append(finding('pods', 'ok', 'all %d pods in %s healthy (%d ready)' % (len(views), where, counts['ready']), len(views)))

        data = dict(counts=counts)
        if params['services']:
            data['services'], service_findings = check_services(kube, namespace, params['services'])
            findings.extend(service_findings)
        if params['include_events']:
            data['events'] = attach_events(kube, namespace, views, max_age)
        if params['include_metrics']:
            data['metrics_available'], metric_findings = attach_metrics(kube, namespace, label_selector, views, pods, params)
            findings.extend(metric_findings)
        for view in views:
            del view['uid']
        data['pods'] = [view for view in views if view['problems']] if params['only_unhealthy'] else views

    module.exit_json(**diagnostic_result(findings, **data))


if __name__ == '__main__':
    main()
