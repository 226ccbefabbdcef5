# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_exec against the lab's Docker engine, through ansible-playbook, in a project of each test's own."""

from __future__ import annotations

import time

import pytest


def running_processes(docker_client, container):
    """The command lines running in a container (from the engine, not from an exec)."""
    top = docker_client.api.top(container.id, ps_args='-o pid,args')
    return [' '.join(row) for row in top.get('Processes') or []]


def test_rc_stdout_stderr_separately(compose_project, run_module):
    container = compose_project.add('api')
    result = run_module('container_exec', dict(container=container.name, argv=['sh', '-c', 'echo out; echo err >&2; exit 3'],
                                               allow_failure=True))[0]
    assert result.get('failed') is False, result
    assert result['rc'] == 3 and result['stdout'] == 'out\n' and result['stderr'] == 'err\n'
    assert result['stdout_lines'] == ['out'] and result['stderr_lines'] == ['err']
    assert result['ran'] is True and result['changed'] is True and result['timed_out'] is False
    assert result['container'] == container.name and result['argv'] == ['sh', '-c', 'echo out; echo err >&2; exit 3']

    failed, run = run_module('container_exec', dict(container=container.name, argv=['sh', '-c', 'echo why it broke >&2; exit 3']))
    assert failed['failed'] is True and failed['rc'] == 3
    assert failed['msg'] == "container %s: sh -c 'echo why it broke >&2; exit 3' exited with rc 3: why it broke" % container.name
    assert 'Traceback' not in run.stdout + run.stderr


def test_command_is_split_like_a_shell_and_honours_user_workdir_env(compose_project, run_module):
    compose_project.add('worker')
    result = run_module('container_exec', dict(project=compose_project.name, service='worker', user='nobody', workdir='/tmp',
                                               env={'GREETING': 'hello world'},
                                               command='''sh -c 'echo "$GREETING"; pwd; id -u' ''', read_only=True))[0]
    assert result.get('failed') is False, result
    assert result['stdout_lines'] == ['hello world', '/tmp', '65534']
    assert result['argv'] == ['sh', '-c', 'echo "$GREETING"; pwd; id -u']
    assert result['changed'] is False  # read_only
    assert result['container'] == '%s-worker-1' % compose_project.name


def test_service_picks_the_first_running_container(compose_project, run_module):
    compose_project.add('api', number=1, start=False)
    second = compose_project.add('api', number=2)
    result = run_module('container_exec', dict(project=compose_project.name, service='api', argv=['hostname'], read_only=True))[0]
    assert result['container'] == second.name and result['rc'] == 0


def test_timeout_kills_the_command_within_the_deadline(docker_client, compose_project, run_module):
    container = compose_project.add('api')
    started = time.monotonic()
    result, run = run_module('container_exec', dict(container=container.name, argv=['sleep', '37'], command_timeout='2s'))
    elapsed = time.monotonic() - started
    assert result['failed'] is True and result['timed_out'] is True and result['rc'] is None
    assert result['killed'] is True
    assert result['msg'] == 'container %s: sleep 37 did not finish within 2s and was killed' % container.name
    assert 2 <= result['duration_seconds'] < 5
    assert elapsed < 25, 'the whole playbook took %.1fs' % elapsed
    assert not [line for line in running_processes(docker_client, container) if 'sleep 37' in line]


def test_timeout_kills_what_the_command_started(docker_client, compose_project, run_module):
    container = compose_project.add('api')
    result = run_module('container_exec', dict(container=container.name, command_timeout=2,
                                               argv=['sh', '-c', 'sleep 41 & sleep 42; echo never']))[0]
    assert result['failed'] is True and result['timed_out'] is True and result['killed'] is True
    assert not [line for line in running_processes(docker_client, container) if 'sleep 4' in line]


def test_output_is_capped_to_the_last_bytes(compose_project, run_module):
    container = compose_project.add('api')
    result = run_module('container_exec', dict(container=container.name, read_only=True, max_output=1000,
                                               argv=['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo END']))[0]
    assert result.get('failed') is False, result
    assert len(result['stdout'].encode()) == 1000 and result['output_truncated'] is True
    assert result['stdout_lines'][-1] == 'END' and result['truncated_bytes'] > 20000


def test_check_mode_runs_read_only_commands_only(docker_client, compose_project, run_module):
    container = compose_project.add('api')
    marker = ['test', '-e', '/tmp/created-by-exec']

    def marker_exists():
        return container.exec_run(marker).exit_code == 0

    diagnostic = run_module('container_exec', dict(container=container.name, argv=['cat', '/etc/group'], read_only=True), check=True)[0]
    assert diagnostic.get('failed') is False, diagnostic
    assert diagnostic['ran'] is True and diagnostic['changed'] is False and 'root:x:0:' in diagnostic['stdout']

    change = dict(container=container.name, argv=['touch', '/tmp/created-by-exec'])
    dry = run_module('container_exec', change, check=True)[0]
    assert dry.get('failed') is False, dry
    assert dry['ran'] is False and dry['changed'] is True and dry['rc'] is None and dry['cmd'] == 'touch /tmp/created-by-exec'
    assert not marker_exists()

    real = run_module('container_exec', change)[0]
    assert real['ran'] is True and real['rc'] == 0 and real['changed'] is True
    assert marker_exists()


@pytest.mark.parametrize('args, message', [
    ({'argv': ['true']}, 'container: required (or project and service) to say where the command runs'),
    ({'container': 'CONTAINER'}, 'command: required (or argv); the command to run'),
    ({'container': 'CONTAINER', 'command': '   '}, 'command: must not be empty'),
    ({'container': 'CONTAINER', 'command': "echo 'unclosed"}, "command: cannot be split into arguments (No closing quotation): \"echo 'unclosed\""),
    ({'container': 'CONTAINER', 'argv': ['true'], 'command_timeout': 0}, 'command_timeout must be more than 0, got 0'),
    ({'container': 'CONTAINER', 'argv': ['true'], 'max_output': 0}, 'max_output must be a whole number of bytes of at least 1, got 0'),
    ({'container': 'no-such-container-here', 'argv': ['true']}, "container: no container named or with id 'no-such-container-here'"),
], ids=['no-target', 'no-command', 'empty-command', 'unsplittable', 'zero-timeout', 'zero-output', 'unknown-container'])
def test_bad_input_fails_with_one_line(compose_project, run_module, args, message):
    container = compose_project.add('api')
    args = dict((key, container.name if value == 'CONTAINER' else value) for key, value in args.items())
    result, run = run_module('container_exec', args)
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert '\n' not in result['msg'] and 'Traceback' not in run.stdout + run.stderr


def test_stopped_service_fails_naming_it(compose_project, run_module):
    compose_project.add('api', start=False)
    result = run_module('container_exec', dict(project=compose_project.name, service='api', argv=['true']))[0]
    assert result['failed'] is True
    assert result['msg'] == 'service api of project %s has no running container (1 stopped)' % compose_project.name


# Each of the docker fix modules with the least it needs to get as far as the engine.
ENGINE_MODULES = [
    ('container_exec', {'container': 'linkflow-api', 'argv': ['true']}),
    ('docker_service_restart', {'project': 'linkflow', 'only_unhealthy': True}),
    ('docker_rollback', {'project': 'linkflow', 'to_tag': '1.0.0'}),
]


@pytest.mark.parametrize('module, args', ENGINE_MODULES, ids=[name for name, args in ENGINE_MODULES])
@pytest.mark.parametrize('engine', ['missing-socket', 'closed-port', 'hung'])
def test_engine_down_fails_within_timeout_with_one_line(run_module, tmp_path, silent_server, closed_port, module, args, engine):
    host, cause = {
        'missing-socket': ('unix://%s/no-such-docker.sock' % tmp_path, 'no such socket'),
        'closed-port': ('tcp://127.0.0.1:%d' % closed_port, 'connection refused'),
        'hung': ('tcp://127.0.0.1:%d' % silent_server, 'no answer within 2s'),
    }[engine]
    started = time.monotonic()
    result, run = run_module(module, dict(args, docker_host=host, timeout=2))
    elapsed = time.monotonic() - started
    assert result['failed'] is True
    assert result['msg'] == 'cannot reach the Docker engine at %s: %s' % (host, cause)
    assert elapsed < 30 and 'Traceback' not in run.stdout + run.stderr
