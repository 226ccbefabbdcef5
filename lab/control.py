"""The lab's commands: bring it up, take it down, inject and clear incidents, report."""

from __future__ import annotations

import json
import os
import sys

from . import scenarios
from .core import LabError
from .app_grpc import GrpcEngine
from .app_http import HttpApi, HttpGateway
from .services import COMPOSE_PROJECT, COMPOSE_SERVICES, Docker, KubeAPI, PgBouncer, PostgreSQL, Redis

# Started in this order, stopped in the reverse order.
SERVICES = (PostgreSQL, PgBouncer, Redis, Docker, KubeAPI, HttpApi, HttpGateway, GrpcEngine)


def up(lab):
    for service_class in SERVICES:
        service = service_class(lab)
        if not service.running():
            print('lab: starting %s' % service.name, flush=True)
            service.start()
            lab.save()
        elif service_class is Docker:
            # Containers may have been stopped or removed by a test; put them back.
            service.provision()
    lab.save()
    write_inventory(lab)
    print(render_status(status(lab)))
    return 0


def down(lab):
    for name in list(lab.section('scenarios')):
        try:
            scenarios.get(lab, name).clear()
        except Exception:  # noqa: BLE001 - the services are about to go anyway
            pass
    for service_class in reversed(SERVICES):
        service_class(lab).stop()
    lab.remove()
    print('lab: down; nothing left running, %s removed' % lab.root)
    return 0


def inject(lab, name):
    require_up(lab)
    item = scenarios.get(lab, name)
    item.inject()
    lab.save()
    print('lab: injected %s: %s' % (name, item.description))
    return 0


def clear(lab, name):
    require_up(lab)
    item = scenarios.get(lab, name)
    item.clear()
    item.forget()
    lab.save()
    print('lab: cleared %s' % name)
    return 0


def check(lab, name):
    require_up(lab)
    present = scenarios.get(lab, name).present()
    print('%s: %s' % (name, 'present' if present else 'absent'))
    return 0 if present else 1


def list_scenarios(lab):
    scenarios.load_all()
    for name, item in sorted(scenarios.SCENARIOS.items()):
        print('%-22s %s' % (name, item.description))
    return 0


COMMANDS = {'up': up, 'down': down, 'inject': inject, 'clear': clear, 'check': check, 'scenarios': list_scenarios}


def require_up(lab):
    missing = [cls.name for cls in SERVICES if not cls(lab).running()]
    if missing:
        raise LabError('not running: %s; run "python -m lab up" first' % ', '.join(missing))


def status(lab):
    services = [cls(lab).describe() for cls in SERVICES]
    return {
        'root': str(lab.root),
        'up': all(item['running'] for item in services),
        'services': services,
        'scenarios': sorted(lab.section('scenarios')),
        'inventory': str(lab.root / 'inventory.yml'),
    }


def render_status(info):
    lines = ['lab at %s: %s' % (info['root'], 'up' if info['up'] else 'not (fully) up')]
    for item in info['services']:
        lines.append('  %-10s %-8s %s' % (item['name'], 'running' if item['running'] else 'stopped', item['endpoint']))
    lines.append('  scenarios: %s' % (', '.join(info['scenarios']) or 'none injected'))
    lines.append('  inventory: %s' % info['inventory'])
    return '\n'.join(lines)


def inventory(lab):
    """Variables that point the collection at the lab, in the shape the example inventories use."""
    postgres = lab.section('postgres')
    pgbouncer = lab.section('pgbouncer')
    redis = lab.section('redis')
    return {
        'all': {
            'hosts': {
                'localhost': {
                    'ansible_connection': 'local',
                    'ansible_python_interpreter': sys.executable,
                },
            },
            'vars': {
                'postgres_login_host': '127.0.0.1',
                'postgres_port': postgres['port'],
                'postgres_login_user': 'postgres',
                'postgres_login_password': postgres['password'],
                'postgres_db': 'linkflow',
                'postgres_app_user': 'linkflow',
                'postgres_app_password': postgres['apps']['linkflow'],
                'postgres_apps': dict((app, {'db': app, 'user': app, 'password': password})
                                      for app, password in sorted(postgres['apps'].items())),
                'pgbouncer_login_host': '127.0.0.1',
                'pgbouncer_port': pgbouncer['port'],
                'pgbouncer_login_user': pgbouncer['admin_user'],
                'pgbouncer_login_password': pgbouncer['admin_password'],
                'redis_login_host': '127.0.0.1',
                'redis_login_port': redis['port'],
                'redis_login_password': redis['password'],
                'redis_db': 0,
                'docker_host': Docker(lab).host,
                'compose_project': COMPOSE_PROJECT,
                'compose_services': list(COMPOSE_SERVICES),
                'kubeconfig': str(lab.root / 'kubeconfig'),
                'api_url': 'http://127.0.0.1:%s' % lab.section('api').get('port'),
                'gateway_url': 'http://127.0.0.1:%s' % lab.section('gateway').get('port'),
                'grpc_target': '127.0.0.1:%s' % lab.section('grpc').get('port'),
                'grpc_services': lab.section('grpc').get('services', []),
                'k8s_namespace': 'linkflow',
                # The runbooks' incidents and run records stay inside the lab.
                'incident_store_path': str(lab.root / 'incidents'),
                'incident_report_dir': str(lab.root / 'reports'),
            },
        },
    }


def write_inventory(lab):
    """JSON is YAML: the file reads as YAML and needs no YAML writer. It holds passwords: 0600."""
    path = lab.root / 'inventory.yml'
    path.write_text('# Written by "python -m lab up"; points oncall.runbooks at the local lab.\n'
                    + json.dumps(inventory(lab), indent=2) + '\n')
    os.chmod(path, 0o600)
    return path
