# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab itself: real services on loopback, and incidents that really happen."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest
import redis

from lab.scenarios import CACHE_PREFIX
from lab.services import oom_killed

REPO_LAB = [sys.executable, '-m', 'lab']


def lab_cli(*args):
    from conftest import REPO
    return subprocess.run(REPO_LAB + list(args), capture_output=True, text=True, cwd=str(REPO), timeout=120, check=False)


def test_services_answer_on_loopback(lab):
    rows = lab.postgres.execute('SHOW max_connections')
    assert rows == [('50',)]
    assert lab.postgres.execute('SHOW superuser_reserved_connections') == [('3',)]
    assert lab.postgres.execute('SHOW listen_addresses') == [('127.0.0.1',)]
    assert lab.pgbouncer.answers()
    assert lab.redis.client().ping()
    assert lab.redis.client().config_get('maxmemory-policy') == {'maxmemory-policy': 'noeviction'}
    assert lab.docker.client().ping()


def test_postgres_and_pgbouncer_refuse_wrong_passwords(lab):
    with pytest.raises(psycopg2.OperationalError, match='password authentication failed'):
        lab.postgres.connect('linkflow', 'linkflow', password='wrong')
    with pytest.raises(psycopg2.OperationalError):
        lab.pgbouncer.connect('linkflow', 'linkflow', password='wrong')
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host='127.0.0.1', port=lab.vars['redis_login_port'], password='wrong', socket_timeout=5).ping()


def test_seed_schemas_exist_for_both_platforms(lab):
    linkflow = lab.postgres.execute('SELECT count(*) FROM workflow_executions', dbname='linkflow')
    cloudflow = lab.postgres.execute('SELECT count(*) FROM executions', dbname='cloudflow')
    assert linkflow[0][0] > 0 and cloudflow[0][0] > 0


def test_pgbouncer_pools_in_transaction_mode(lab):
    connection = lab.pgbouncer.connect('linkflow', 'linkflow')
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM workflow_executions')
        assert cursor.fetchone()[0] > 0
    connection.close()
    admin = lab.pgbouncer.connect()
    with admin.cursor() as cursor:
        cursor.execute('SHOW CONFIG')
        config = dict((row[0], row[1]) for row in cursor.fetchall())
    admin.close()
    assert config['pool_mode'] == 'transaction'
    assert config['default_pool_size'] == '5'


def test_compose_project_containers_are_labelled_like_compose(lab):
    client = lab.docker.client()
    containers = client.containers.list(filters={'label': 'com.docker.compose.project=linkflow'})
    services = sorted(container.labels['com.docker.compose.service'] for container in containers)
    assert services == ['api', 'frontend', 'history', 'matching', 'worker']
    assert all(container.status == 'running' for container in containers)
    assert client.containers.get('linkflow-api').image.tags


def test_engine_enforces_memory_limits(lab, docker_client):
    """Later issues rely on real OOM kills; prove the engine delivers them."""
    container = docker_client.containers.run(
        'oncall-lab/busybox:1', ['sh', '-c', 'x=a; while :; do x=$x$x; done'], detach=True,
        network_mode='none', mem_limit='8m', memswap_limit='8m', labels={'oncall.test': 'true'})
    assert container.wait(timeout=60)['StatusCode'] == 137
    container.reload()
    assert oom_killed(docker_client, container.attrs)


def test_pg_pool_exhausted_refuses_the_app_but_not_a_superuser(lab):
    assert lab_cli('check', 'pg-pool-exhausted').returncode == 1
    try:
        assert lab_cli('inject', 'pg-pool-exhausted').returncode == 0
        assert lab_cli('check', 'pg-pool-exhausted').returncode == 0
        with pytest.raises(psycopg2.OperationalError, match='remaining connection slots are reserved'):
            lab.postgres.connect('linkflow', 'linkflow')
        superuser = lab.postgres.connect('linkflow')
        with superuser.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'linkflow-api' AND state = 'idle'")
            assert cursor.fetchone()[0] >= 40
        superuser.close()
    finally:
        cleared = lab_cli('clear', 'pg-pool-exhausted')
    assert cleared.returncode == 0, cleared.stderr
    lab.postgres.connect('linkflow', 'linkflow').close()
    assert lab_cli('check', 'pg-pool-exhausted').returncode == 1


def test_redis_oom_makes_writes_fail_and_clear_undoes_it(lab):
    client = lab.redis.client()
    sessions_before = sorted(client.scan_iter(match='linkflow_session:*'))
    try:
        assert lab_cli('inject', 'redis-oom').returncode == 0
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            client.set('any-write', 'x')
        assert client.info('memory')['used_memory'] > client.info('memory')['maxmemory']
    finally:
        cleared = lab_cli('clear', 'redis-oom')
    assert cleared.returncode == 0, cleared.stderr
    client.set('any-write', 'x')
    client.delete('any-write')
    assert not list(client.scan_iter(match=CACHE_PREFIX + '*'))
    assert sorted(client.scan_iter(match='linkflow_session:*')) == sessions_before


def test_up_is_idempotent_and_fast_when_up(lab):
    before = lab_cli('status', '--json')
    again = lab_cli('up')
    after = lab_cli('status', '--json')
    assert again.returncode == 0, again.stderr
    assert 'starting' not in again.stdout
    assert before.stdout == after.stdout


def test_unknown_scenario_fails_with_one_line(lab):
    result = lab_cli('inject', 'no-such-thing')
    assert result.returncode == 1
    assert result.stderr.strip().startswith("lab: unknown scenario 'no-such-thing'; known: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_fixtures_give_each_test_its_own_state(lab, pg_database, redis_db):
    assert pg_database.startswith('test_')
    assert lab.postgres.execute('SELECT count(*) FROM workflow_executions', dbname=pg_database) == [(0,)]
    assert redis_db != 0 and lab.redis.client(redis_db).dbsize() == 0
