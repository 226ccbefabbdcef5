# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker helpers that decide things without an engine: restart loops, stats arithmetic, readiness, cgroups."""

from __future__ import annotations

import os

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.docker import (
    cgroup_paths, container_name, cpu_percent, has_healthcheck, health_of, is_oneoff, memory_used, oom_killed, readiness,
    restart_loop, sample_from_cgroup, sample_from_engine)
from ansible_collections.oncall.runbooks.plugins.module_utils.logs import match_lines


@pytest.mark.parametrize('state, count, deaths, started_ago, expected', [
    ({'Status': 'restarting', 'Restarting': True, 'ExitCode': 3}, 1, 0, None, True),
    ({'Status': 'running'}, 5, 3, 10, True),
    ({'Status': 'running'}, 5, 2, 10, False),
    # Many restarts long ago, none in the window: not a loop.
    ({'Status': 'running'}, 40, 0, 5, False),
    # Without events, the restart count stands in while the last start is recent.
    ({'Status': 'running'}, 4, None, 30, True),
    ({'Status': 'running'}, 4, None, 3600, False),
    ({'Status': 'running'}, 2, None, 30, False),
])
def test_restart_loop_decision(state, count, deaths, started_ago, expected):
    looping, reason = restart_loop(state, count, deaths, started_ago, 600, 3)
    assert looping is expected
    assert (reason is not None) is expected


def test_memory_is_counted_without_the_inactive_page_cache():
    assert memory_used(100, {'total_inactive_file': 30, 'cache': 50}) == 70
    assert memory_used(100, {'inactive_file': 40}) == 60
    # A stat larger than the usage (racy reads) is ignored rather than going negative.
    assert memory_used(100, {'total_inactive_file': 300, 'cache': 20}) == 80
    assert memory_used(100, {}) == 100


def test_cpu_percent_is_per_cpu_like_docker_stats():
    first = {'cpu_ns': 1000, 'system_ns': 10000, 'cpus': 2}
    second = {'cpu_ns': 2000, 'system_ns': 20000, 'cpus': 2}
    assert cpu_percent(first, second) == 20.0
    assert cpu_percent(first, dict(second, system_ns=10000)) is None
    assert cpu_percent(None, second) is None


def test_a_sample_from_the_engine_stats_json():
    stats = {
        'memory_stats': {'usage': 5000, 'limit': 64 * 1024 * 1024, 'stats': {'total_inactive_file': 1000}},
        'cpu_stats': {'cpu_usage': {'total_usage': 10, 'percpu_usage': [5, 5]}, 'system_cpu_usage': 99},
        'pids_stats': {'current': 3},
    }
    sample = sample_from_engine(stats)
    assert sample == {'memory': 4000, 'limit': 64 * 1024 * 1024, 'cpu_ns': 10, 'system_ns': 99, 'cpus': 2, 'pids': 3}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def test_cgroup_v1_and_v2_files_are_read_like_the_engine(tmp_path):
    ident = 'a' * 64
    v1 = str(tmp_path / 'v1')
    write('%s/memory/docker/%s/memory.usage_in_bytes' % (v1, ident), '9000\n')
    write('%s/memory/docker/%s/memory.stat' % (v1, ident), 'cache 5000\ntotal_inactive_file 3000\n')
    write('%s/memory/docker/%s/memory.limit_in_bytes' % (v1, ident), '9223372036854771712\n')
    write('%s/cpuacct/docker/%s/cpuacct.usage' % (v1, ident), '123456\n')
    write('%s/pids/docker/%s/pids.current' % (v1, ident), '2\n')
    paths = {'version': 1, 'memory': '%s/memory/docker/%s' % (v1, ident), 'cpu': '%s/cpuacct/docker/%s' % (v1, ident),
             'pids': '%s/pids/docker/%s' % (v1, ident)}
    sample = sample_from_cgroup(paths, memory_total=8 * 1024 ** 3)
    # No limit: the host's memory, as the engine reports it.
    assert (sample['memory'], sample['limit'], sample['cpu_ns'], sample['pids']) == (6000, 8 * 1024 ** 3, 123456, 2)

    v2 = str(tmp_path / 'v2' / 'system.slice' / ('docker-%s.scope' % ident))
    write(v2 + '/memory.current', '9000\n')
    write(v2 + '/memory.stat', 'anon 4000\ninactive_file 2000\n')
    write(v2 + '/memory.max', '67108864\n')
    write(v2 + '/cpu.stat', 'usage_usec 50\nuser_usec 40\n')
    write(v2 + '/pids.current', '4\n')
    sample = sample_from_cgroup({'version': 2, 'memory': v2, 'cpu': v2, 'pids': v2}, memory_total=8 * 1024 ** 3)
    assert (sample['memory'], sample['limit'], sample['cpu_ns'], sample['pids']) == (7000, 67108864, 50000, 4)


def test_cgroup_paths_trust_only_a_path_naming_the_container(tmp_path):
    # Our own process is not a container: its cgroup path does not name the id.
    assert cgroup_paths(os.getpid(), 'f' * 64, root=str(tmp_path)) is None
    assert cgroup_paths(None, 'f' * 64) is None


def test_readiness_of_inspected_containers():
    running = {'State': {'Status': 'running'}, 'Config': {}}
    assert readiness(running)[:2] == (True, True)
    checked = {'State': {'Status': 'running', 'Health': {'Status': 'starting'}}, 'Config': {'Healthcheck': {'Test': ['CMD', 'true']}}}
    assert readiness(checked)[:2] == (False, False)
    checked['State']['Health'] = {'Status': 'unhealthy', 'Log': [{'ExitCode': 1, 'Output': 'db down\n'}]}
    ready, final, reason = readiness(checked)
    assert (ready, final) == (False, True) and reason == 'unhealthy: health check exited 1: db down'
    exited = {'State': {'Status': 'exited', 'ExitCode': 137, 'OOMKilled': True}, 'Config': {}}
    assert readiness(exited) == (False, True, 'exited with code 137 (OOM-killed)')
    # A health check switched off in the image or container is no health check.
    assert has_healthcheck({'Config': {'Healthcheck': {'Test': ['NONE']}}}) is False
    assert health_of({'State': {'Health': {'Status': 'none'}}}) is None


def test_names_and_one_off_containers():
    assert container_name({'Name': '/linkflow-api'}) == 'linkflow-api'
    assert container_name({'Names': ['/linkflow-api']}) == 'linkflow-api'
    assert is_oneoff({'Labels': {'com.docker.compose.oneoff': 'True'}}) is True
    assert is_oneoff({'Config': {'Labels': {}}}) is False


def test_match_lines_counts_all_and_keeps_the_first():
    import re
    lines = [{'text': 'ERROR a'}, {'text': 'ok'}, {'text': 'ERROR b'}]
    found = match_lines([('ERROR', re.compile('ERROR'))], lines, 1)
    assert found == {'ERROR': {'count': 2, 'lines': [{'text': 'ERROR a'}], 'truncated': True}}
    assert match_lines([('x', re.compile('x'))], ['x', 'y'], 5)['x'] == {'count': 1, 'lines': ['x'], 'truncated': False}


STARTED = '2026-11-22T03:00:00Z'


@pytest.mark.parametrize('state, oom_times, expected', [
    ({'Status': 'exited', 'ExitCode': 137, 'OOMKilled': True, 'StartedAt': STARTED}, [], True),
    # The exit won the race: no flag, but an oom event after the start.
    ({'Status': 'exited', 'ExitCode': 137, 'OOMKilled': False, 'StartedAt': STARTED}, [1795316400.0 + 5], True),
    # An oom event from an earlier life of the container does not count.
    ({'Status': 'exited', 'ExitCode': 137, 'OOMKilled': False, 'StartedAt': STARTED}, [1795316400.0 - 60], False),
    # Killed with SIGKILL for another reason: no oom event.
    ({'Status': 'exited', 'ExitCode': 137, 'OOMKilled': False, 'StartedAt': STARTED}, [], False),
    # A running container whose child process hit the limit was not itself OOM-killed.
    ({'Status': 'running', 'ExitCode': 0, 'OOMKilled': False, 'StartedAt': STARTED}, [1795316400.0 + 5], False),
    ({'Status': 'exited', 'ExitCode': 1, 'OOMKilled': False, 'StartedAt': STARTED}, [1795316400.0 + 5], False),
])
def test_oom_killed(state, oom_times, expected):
    assert oom_killed(state, oom_times) is expected
