# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module that connects to a service: dead, hung and refusing services fail within the
timeout with one line naming the target and the cause; no secret is ever shown."""

from __future__ import annotations

import pytest

# Each module with the least it needs to get as far as connecting.
POSTGRES = [
    ('pg_activity_info', {}),
    ('pg_idle_kill', {}),
    ('pg_query_kill', {}),
    ('pg_stuck_jobs', {'table': 'workflow_executions'}),
    ('pg_purge', {'table': 'workflow_executions', 'older_than': '90d'}),
    ('pg_storage_info', {}),
    ('pg_vacuum', {}),
]
PGBOUNCER = [
    ('pgbouncer_info', {}),
    ('pgbouncer_command', {'command': 'resume', 'database': 'cloudflow'}),
]
REDIS = [
    ('redis_info', {}),
    ('redis_client_kill', {'names': ['nobody-has-this-name']}),
    ('redis_flush', {'scope': 'pattern', 'pattern': 'nothing-has-this-prefix:*', 'db': 1}),
]
MODULES = ([(name, args, 'PostgreSQL') for name, args in POSTGRES] + [(name, args, 'PgBouncer') for name, args in PGBOUNCER]
           + [(name, args, 'Redis') for name, args in REDIS])
IDS = [name for name, args, service in MODULES]

# Per service: the port option, the timeout option, the lab's port variable, and how the
# server words a wrong password.
SERVICES = {
    'PostgreSQL': ('port', 'connect_timeout', 'postgres_port', 'authentication failed'),
    'PgBouncer': ('port', 'connect_timeout', 'pgbouncer_port', 'authentication failed'),  # "SASL authentication failed"
    'Redis': ('login_port', 'socket_timeout', 'redis_login_port', 'invalid username-password pair'),
}


def port_of(lab, service):
    return lab.vars[SERVICES[service][2]]


def pointed_at(args, service, port, timeout=2):
    port_option, timeout_option = SERVICES[service][:2]
    return dict(args, **{port_option: port, timeout_option: timeout})


@pytest.mark.parametrize('module, args, service', MODULES, ids=IDS)
def test_wrong_password_names_the_target_and_cause(lab, run_module, module, args, service):
    result, run = run_module(module, dict(args, login_password='not-the-password'))
    assert result['failed'] is True
    assert result['msg'].startswith('%s at 127.0.0.1:%s' % (service, port_of(lab, service)))
    assert SERVICES[service][3] in result['msg']
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr


@pytest.mark.parametrize('module, args, service', MODULES, ids=IDS)
def test_closed_port_fails_fast_naming_the_target(lab, run_module, module, args, service, closed_port):
    result, run = run_module(module, pointed_at(args, service, closed_port))
    assert result['failed'] is True
    assert result['msg'].startswith('%s at 127.0.0.1:%d' % (service, closed_port))
    assert 'Connection refused' in result['msg'] and '\n' not in result['msg']
    assert run.entry(module)['duration'] < 2 + 1


@pytest.mark.parametrize('module, args, service', MODULES, ids=IDS)
def test_hung_service_fails_within_connect_timeout(lab, run_module, module, args, service, silent_server):
    result, run = run_module(module, pointed_at(args, service, silent_server))
    assert result['failed'] is True
    assert result['msg'].startswith('%s at 127.0.0.1:%d' % (service, silent_server))
    assert 'timeout' in result['msg'].lower() and '\n' not in result['msg']
    # The task's duration includes Ansible starting the module (under a second here).
    assert run.entry(module)['duration'] < 2 + 1 + 1


def test_no_secret_in_output_even_at_vvv(lab, ansible, pg_database):
    """Every module, once working and once refused, at -vvv: none of the lab's passwords shows."""
    tasks = []
    for name, args, service in MODULES:
        working = dict(args, db=pg_database) if service == 'PostgreSQL' else dict(args)
        # Read-only modules run for real; the others in check mode (the test is about output, not effects).
        tasks.append({'name': name, 'oncall.runbooks.' + name: working, 'check_mode': not name.endswith('_info')})
        tasks.append({'name': name + ' refused', 'ignore_errors': True,
                      'oncall.runbooks.' + name: dict(args, login_password='hunter2-wrong-secret')})
    run = ansible(tasks, verbosity=3)
    assert run.rc == 0, run.stdout
    for name, args, service in MODULES:
        assert run.entry(name)['status'] == 'ok', (name, run.result(name))
        assert run.result(name + ' refused')['failed'] is True
    output = run.stdout + run.stderr
    for secret in lab.secrets() + ['hunter2-wrong-secret']:
        assert secret not in output
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in output
