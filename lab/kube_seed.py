# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two seeds' Kubernetes shapes: namespace ``linkflow`` (linkflow-api with a rollout history)
and namespace ``production`` (kong, workflow-engine, pgbouncer, the postgres StatefulSet).

``seed(api)`` works on anything with ``ensure_namespace``, ``create(kind, namespace, body)`` and
``patch(kind, namespace, name, body)``: the in-process emulator, or the test fixture's adapter
for a real cluster. Logs and metrics are added only where the target can fake them.
"""

from __future__ import annotations

LINKFLOW_API_HISTORY = (
    ('registry.local/linkflow/api:1.4.0', 'deploy 1.4.0'),
    ('registry.local/linkflow/api:1.5.0', 'deploy 1.5.0: webhook retries'),
    ('registry.local/linkflow/api:1.5.1', 'deploy 1.5.1: fix retry storm'),
)


def container(name, image, port=None, port_name=None, cpu='100m', memory='128Mi', memory_limit='256Mi', env=None):
    spec = {'name': name, 'image': image,
            'resources': {'requests': {'cpu': cpu, 'memory': memory}, 'limits': {'memory': memory_limit}}}
    if port:
        spec['ports'] = [dict({'containerPort': port, 'protocol': 'TCP'}, **({'name': port_name} if port_name else {}))]
    if env:
        spec['env'] = [{'name': key, 'value': value} for key, value in sorted(env.items())]
    return spec


def workload(name, containers, replicas=1, labels=None, annotations=None):
    labels = labels or {'app': name}
    body = {'metadata': {'name': name, 'labels': dict(labels)},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': dict(labels)},
                     'template': {'metadata': {'labels': dict(labels)}, 'spec': {'containers': containers}}}}
    if annotations:
        body['metadata']['annotations'] = dict(annotations)
    return body


def service(name, selector, port, target_port, headless=False):
    body = {'metadata': {'name': name, 'labels': {'app': selector.get('app', name)}},
            'spec': {'selector': dict(selector), 'ports': [{'name': 'http' if port != target_port else 'main', 'port': port,
                                                            'targetPort': target_port, 'protocol': 'TCP'}]}}
    if headless:
        body['spec']['clusterIP'] = 'None'
    return body


def seed(api):
    """Create both seeds' namespaces and workloads (with linkflow-api's three revisions)."""
    api.ensure_namespace('linkflow')
    image, cause = LINKFLOW_API_HISTORY[0]
    api.create('Deployment', 'linkflow', workload(
        'linkflow-api', [container('api', image, 8000, 'http', cpu='250m', memory='256Mi', memory_limit='512Mi', env={'APP_ENV': 'production'})],
        replicas=3, annotations={'kubernetes.io/change-cause': cause}))
    for image, cause in LINKFLOW_API_HISTORY[1:]:
        api.patch('Deployment', 'linkflow', 'linkflow-api', {
            'metadata': {'annotations': {'kubernetes.io/change-cause': cause}},
            'spec': {'template': {'spec': {'containers': [{'name': 'api', 'image': image}]}}}})
    api.create('Deployment', 'linkflow', workload('linkflow-worker', [container('worker', 'registry.local/linkflow/worker:1.5.1')], replicas=2))
    api.create('Service', 'linkflow', service('linkflow-api', {'app': 'linkflow-api'}, 80, 8000))

    api.ensure_namespace('production')
    api.create('Deployment', 'production', workload('kong', [container('proxy', 'kong:3.6', 8000, 'proxy')], replicas=2))
    api.create('Deployment', 'production', workload(
        'workflow-engine', [container('engine', 'registry.local/workflow-engine:2.3.1', 8080, 'http', cpu='500m', memory='512Mi',
                                      memory_limit='1Gi')], replicas=2))
    api.create('Deployment', 'production', workload('pgbouncer', [container('pgbouncer', 'bitnami/pgbouncer:1.22.0', 6432, 'pgbouncer')]))
    api.create('StatefulSet', 'production', workload(
        'postgres', [container('postgres', 'postgres:15.6', 5432, 'postgres', cpu='500m', memory='1Gi', memory_limit='2Gi',
                               env={'POSTGRES_DB': 'cloudflow'})]))
    api.create('Service', 'production', service('kong-proxy', {'app': 'kong'}, 80, 'proxy'))
    api.create('Service', 'production', service('workflow-engine', {'app': 'workflow-engine'}, 8080, 8080))
    api.create('Service', 'production', service('pgbouncer', {'app': 'pgbouncer'}, 6432, 6432))
    api.create('Service', 'production', service('postgres', {'app': 'postgres'}, 5432, 5432, headless=True))
    if hasattr(api, 'append_log'):
        fake_activity(api)


def fake_activity(emulator):
    """What the seeds' runbooks look at in logs and ``kubectl top``: kong's 502s, a busy workflow engine."""
    for pod in emulator.list('Pod', 'production', 'app=kong'):
        emulator.append_log('production', pod['metadata']['name'], 'proxy', [
            '10.244.0.1 - - "GET /api/v1/workflows HTTP/1.1" 200 512',
            '2026/01/01 00:00:00 [error] 1101#0: *8 connect() failed (111: Connection refused) while connecting to upstream, '
            'upstream: "http://10.244.0.9:8080/api/v1/executions"',
            '10.244.0.1 - - "POST /api/v1/executions HTTP/1.1" 502 150',
        ], age=30)
    for pod in emulator.list('Pod', 'production', 'app=workflow-engine'):
        emulator.append_log('production', pod['metadata']['name'], 'engine', [
            'INFO workflow-engine started, 8 workers',
            'WARN execution 4711 running for 3h, step 3 of 5',
            'ERROR timeout calling payment-service after 30s',
        ], age=30)
        emulator.set_usage('production', pod['metadata']['name'], 'engine', '450m', '900Mi')
    for pod in emulator.list('Pod', 'linkflow', 'app=linkflow-api'):
        emulator.append_log('linkflow', pod['metadata']['name'], 'api', ['[INFO] linkflow api listening on :8000'], age=30)
