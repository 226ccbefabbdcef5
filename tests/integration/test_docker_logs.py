# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_logs against the lab's engine, through ansible-playbook, on test projects of its own."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from docker_fixtures import IDLE_COMMAND, poll

# Writes to both streams, then idles; "ERROR" three times, once on stderr. The pauses keep the
# order certain: the engine reads the two streams from separate pipes.
TALKER = ('echo "api: starting"; sleep 0.1; echo "ERROR SQLSTATE[08006] connection refused" >&2; sleep 0.1; echo "api: ready"; '
          'echo "ERROR cache miss storm"; echo "ERROR SQLSTATE[08006] again"; echo "api: serving"; ')


def talker(script):
    return ['sh', '-c', script + IDLE_COMMAND[2]]


def logs_of(docker_client, container):
    return docker_client.api.logs(container.id).decode()


def test_tail_reads_both_streams_tagged_in_order(lab, run_module, compose_project, docker_client):
    container = compose_project.add('api', command=talker(TALKER))
    compose_project.add('worker', command=talker('echo "worker: idle"; '))
    poll(lambda: 'api: serving' in logs_of(docker_client, container), 30, 'the api to log')

    result, run = run_module('docker_logs', {'project': compose_project.name, 'tail': 4})
    assert run.rc == 0, run.stdout
    assert result['changed'] is False and result['status'] == 'ok'
    containers = dict((item['name'], item) for item in result['containers'])
    api = containers['%s-api-1' % compose_project.name]
    assert api['service'] == 'api' and api['line_count'] == 4
    assert [line['text'] for line in api['lines']] == ['api: ready', 'ERROR cache miss storm', 'ERROR SQLSTATE[08006] again', 'api: serving']
    assert all(line['stream'] == 'stdout' and line['time'].startswith('20') for line in api['lines'])
    assert [line['text'] for line in containers['%s-worker-1' % compose_project.name]['lines']] == ['worker: idle']

    everything = run_module('docker_logs', {'project': compose_project.name, 'services': ['api'], 'tail': 0})[0]
    lines = everything['containers'][0]['lines']
    assert len(lines) == 6 and len(everything['containers']) == 1
    assert [line['stream'] for line in lines if line['text'].startswith('ERROR SQLSTATE[08006] connection')] == ['stderr']


def test_patterns_are_counted_with_matching_lines_capped(lab, run_module, compose_project, docker_client):
    container = compose_project.add('api', command=talker(TALKER))
    poll(lambda: 'api: serving' in logs_of(docker_client, container), 30, 'the api to log')
    name = '%s-api-1' % compose_project.name

    args = {'project': compose_project.name, 'patterns': [r'SQLSTATE\[\d+\]', '^ERROR', 'never-logged'], 'max_matches': 1, 'include_lines': False}
    result, run = run_module('docker_logs', args)
    assert run.rc == 0, run.stdout
    sqlstate = result['matches'][name][r'SQLSTATE\[\d+\]']
    assert sqlstate['count'] == 2 and sqlstate['truncated'] is True
    assert [line['text'] for line in sqlstate['lines']] == ['ERROR SQLSTATE[08006] connection refused']
    assert sqlstate['lines'][0]['stream'] == 'stderr'
    assert result['matches'][name]['^ERROR']['count'] == 3 and result['matches'][name]['never-logged']['count'] == 0
    assert result['totals'] == {r'SQLSTATE\[\d+\]': 2, '^ERROR': 3, 'never-logged': 0}
    assert 'lines' not in result['containers'][0]
    assert result['status'] == 'warn'
    patterns = [item for item in result['findings'] if item['check'] == 'pattern']
    assert sorted(item['value'] for item in patterns) == [2, 3]
    assert "api-1 (api): 2 lines match 'SQLSTATE\\\\[\\\\d+\\\\]'" in ' '.join(item['message'] for item in patterns)

    checked, run = run_module('docker_logs', args, check=True)
    assert run.rc == 0 and checked['matches'] == result['matches'] and checked['changed'] is False

    critical = run_module('docker_logs', dict(args, match_status='critical'))[0]
    assert critical['status'] == 'critical'


def test_since_a_time_or_a_duration(lab, run_module, compose_project, docker_client):
    container = compose_project.add('api', command=talker('echo early; sleep 3; echo late; '))
    poll(lambda: 'late' in logs_of(docker_client, container), 30, 'the late line')
    stamps = docker_client.api.logs(container.id, timestamps=True).decode().splitlines()
    late = [line.split(' ', 1)[0] for line in stamps if line.endswith(' late')][0]
    # Engines count since in whole seconds: the second of the late line excludes the early one, 3s before.
    second = datetime.strptime(late[:19], '%Y-%m-%dT%H:%M:%S').replace(tzinfo=timezone.utc)
    since = second.strftime('%Y-%m-%dT%H:%M:%SZ')

    result = run_module('docker_logs', {'project': compose_project.name, 'since': since, 'tail': 0})[0]
    assert [line['text'] for line in result['containers'][0]['lines']] == ['late']
    assert result['since'] == since
    recent = run_module('docker_logs', {'project': compose_project.name, 'since': '1h'})[0]
    assert [line['text'] for line in recent['containers'][0]['lines']] == ['early', 'late']


@pytest.mark.parametrize('args, message', [
    ({'project': 'linkflow', 'patterns': ['(unclosed']}, "patterns: '(unclosed' is not a regular expression"),
    ({'project': 'linkflow', 'tail': -1}, 'tail must be 0 (every line) or more, got -1'),
    ({'project': 'linkflow', 'max_matches': 0}, 'max_matches must be a whole number of at least 1'),
    ({'project': 'linkflow', 'since': 'yesterday'}, "since: 'yesterday' is neither a duration"),
    ({'project': 'linkflow', 'services': ['nope']}, 'unknown service of project linkflow nope'),
    ({'containers': ['no-such-container']}, 'unknown container no-such-container'),
    ({'project': 'linkflow', 'timeout': -5}, 'timeout must be greater than 0'),
], ids=['pattern', 'tail', 'max_matches', 'since', 'service', 'container', 'timeout'])
def test_bad_input_fails_with_one_line(lab, run_module, args, message):
    result = run_module('docker_logs', args)[0]
    assert result['failed'] is True
    assert message in result['msg'] and '\n' not in result['msg'], result['msg']


def test_engine_down_or_hung_fails_within_timeout_naming_it(lab, run_module, closed_port, silent_server, tmp_path):
    for host, cause in (('unix://%s' % (tmp_path / 'missing.sock'), 'no such socket'),
                        ('tcp://127.0.0.1:%d' % closed_port, 'connection refused'),
                        ('tcp://127.0.0.1:%d' % silent_server, 'no answer within 2s')):
        result, run = run_module('docker_logs', {'project': 'linkflow', 'docker_host': host, 'timeout': 2})
        assert result['msg'] == 'cannot reach the Docker engine at %s: %s' % (host, cause)
        assert run.entry('docker_logs')['duration'] < 2 + 3
