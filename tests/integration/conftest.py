# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests run the collection through ansible-playbook against the lab's real services.

The lab is brought up if it is not (in CI ``make test`` has already done so); a service
that cannot start fails the session, it is never skipped. Each test gets clean state:
a fresh PostgreSQL database, a Redis database of its own, no leftover test containers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lab import control  # noqa: E402  (needs the repository on sys.path)
from lab.core import Lab  # noqa: E402
from lab.services import Docker, PgBouncer, PostgreSQL, Redis  # noqa: E402

BIN = Path(sys.executable).parent
TEST_LABEL = 'oncall.test'

# module_defaults that point each action group at the lab, from the lab's inventory.
MODULE_DEFAULTS = {
    'group/oncall.runbooks.postgres': {
        'login_host': '{{ postgres_login_host }}',
        'port': '{{ postgres_port }}',
        'login_user': '{{ postgres_login_user }}',
        'login_password': '{{ postgres_login_password }}',
        'db': '{{ postgres_db }}',
    },
    'group/oncall.runbooks.redis': {
        'login_host': '{{ redis_login_host }}',
        'login_port': '{{ redis_login_port }}',
        'login_password': '{{ redis_login_password }}',
    },
    'group/oncall.runbooks.pgbouncer': {
        'login_host': '{{ pgbouncer_login_host }}',
        'port': '{{ pgbouncer_port }}',
        'login_user': '{{ pgbouncer_login_user }}',
        'login_password': '{{ pgbouncer_login_password }}',
    },
    'group/oncall.runbooks.docker': {
        'docker_host': '{{ docker_host }}',
    },
}

# Fixtures of each domain live in a file of their own.
pytest_plugins = ('docker_fixtures', 'kube_fixtures')


class LabHandle(object):
    """The running lab and its services, for tests to arrange state and check results."""

    def __init__(self, lab):
        self.lab = lab
        self.postgres = PostgreSQL(lab)
        self.pgbouncer = PgBouncer(lab)
        self.redis = Redis(lab)
        self.docker = Docker(lab)
        self.inventory = lab.root / 'inventory.yml'
        self.vars = control.inventory(lab)['all']['vars']

    def secrets(self):
        """Every password the lab handed out: none of them may ever appear in output."""
        values = [self.vars['postgres_login_password'], self.vars['pgbouncer_login_password'], self.vars['redis_login_password']]
        values += [app['password'] for app in self.vars['postgres_apps'].values()]
        values.append(self.lab.section('kube')['token'])
        return values


@pytest.fixture(scope='session')
def lab():
    handle = Lab()
    if not control.status(handle)['up']:
        control.up(handle)
        handle = Lab()
    info = control.status(handle)
    if not info['up']:
        pytest.fail('the lab did not come up: %s' % control.render_status(info))
    return LabHandle(handle)


class AnsibleRun(object):
    def __init__(self, process, results):
        self.rc = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.results = results

    def result(self, task=None):
        """The result of the named task (or of the only/last task)."""
        matching = [entry for entry in self.results if task is None or entry['task'] == task]
        assert matching, 'no result for task %r in:\n%s%s' % (task, self.stdout, self.stderr)
        return matching[-1]['result']

    def entry(self, task=None):
        return [entry for entry in self.results if task is None or entry['task'] == task][-1]


def run_playbook(lab, playbook, tmp_path, check=False, diff=False, extra_vars=None, verbosity=0, timeout=300, env=None):
    """Run ansible-playbook against the lab's inventory and capture each task's result."""
    capture = tmp_path / ('results-%s.jsonl' % uuid.uuid4().hex[:8])
    environment = dict(os.environ)
    environment.update(
        ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'),
        ANSIBLE_CALLBACK_PLUGINS=str(REPO / 'tests' / 'integration' / 'callback_plugins'),
        ANSIBLE_CALLBACKS_ENABLED='capture_results',
        CAPTURE_RESULTS_FILE=str(capture),
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_FORCE_COLOR='0',
        ANSIBLE_HOST_KEY_CHECKING='0',
    )
    environment.update(env or {})
    command = [str(BIN / 'ansible-playbook'), '-i', str(lab.inventory), str(playbook)]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    if verbosity:
        command.append('-' + 'v' * verbosity)
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, check=False,
                             cwd=str(REPO), stdin=subprocess.DEVNULL)
    results = [json.loads(line) for line in capture.read_text().splitlines()] if capture.exists() else []
    return AnsibleRun(process, results)


@pytest.fixture
def ansible(lab, tmp_path):
    """Run tasks (a list of task dicts) as a one-play playbook with the lab's module_defaults."""

    def run(tasks, check=False, diff=False, extra_vars=None, verbosity=0, module_defaults=None):
        play = {
            'name': 'test',
            'hosts': 'localhost',
            'gather_facts': False,
            'module_defaults': MODULE_DEFAULTS if module_defaults is None else module_defaults,
            'tasks': tasks,
        }
        playbook = tmp_path / ('play-%s.yml' % uuid.uuid4().hex[:8])
        playbook.write_text(json.dumps([play], indent=1))
        return run_playbook(lab, playbook, tmp_path, check=check, diff=diff, extra_vars=extra_vars, verbosity=verbosity)

    return run


@pytest.fixture
def run_module(ansible):
    """Run one module through ansible-playbook; returns (result, AnsibleRun)."""

    def run(name, args=None, check=False, **kwargs):
        task = {'name': name, 'oncall.runbooks.' + name: args or {}, 'ignore_errors': True}
        outcome = ansible([task], check=check, **kwargs)
        return outcome.result(name), outcome

    return run


# --- clean state per test ------------------------------------------------------------

@pytest.fixture
def pg_database(lab):
    """A fresh database owned by the linkflow role, with the linkflow schema; dropped afterwards."""
    from psycopg2 import sql
    name = 'test_%s' % uuid.uuid4().hex[:12]
    lab.postgres.execute(sql.SQL('CREATE DATABASE {} OWNER linkflow').format(sql.Identifier(name)))
    lab.postgres.create_schema('linkflow', name)
    yield name
    lab.postgres.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


class SessionPool(object):
    """Sessions opened by a test, closed at its end whatever happened."""

    def __init__(self, lab, database):
        self.lab = lab
        self.database = database
        self.connections = []
        self.threads = []

    def open(self, user='linkflow', application='test-client', autocommit=True):
        connection = self.lab.postgres.connect(self.database, user, application_name=application)
        connection.autocommit = autocommit
        self.connections.append(connection)
        return connection

    def pid(self, connection):
        return connection.get_backend_pid()

    def in_background(self, connection, statement):
        """Run a statement that blocks (a long query, a lock wait) without blocking the test."""
        def target():
            try:
                with connection.cursor() as cursor:
                    cursor.execute(statement)
            except Exception:  # noqa: BLE001 - it is expected to be cancelled or terminated
                pass
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def close(self):
        for connection in self.connections:
            try:
                connection.cancel()
                connection.close()
            except Exception:  # noqa: BLE001 - already terminated by the test
                pass
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def pg_sessions(lab, pg_database):
    pool = SessionPool(lab, pg_database)
    yield pool
    pool.close()


@pytest.fixture
def redis_db(lab):
    """A Redis database number of its own (1-15; 0 belongs to the app), empty before and after."""
    number = 1 + (uuid.uuid4().int % 15)
    client = lab.redis.client(number)
    client.flushdb()
    yield number
    client.flushdb()


@pytest.fixture
def scenario(lab):
    """Inject lab scenarios for one test; each is cleared afterwards, even when the test fails.

    The state file is read afresh each time: the lab CLI may have changed it meanwhile.
    """
    from lab import scenarios
    injected = []

    def change(name, verb):
        current = Lab()
        item = scenarios.get(current, name)
        getattr(item, verb)()
        if verb == 'clear':
            item.forget()
        current.save()
        return item

    def inject(name):
        item = change(name, 'inject')
        injected.append(name)
        return item

    yield inject
    for name in reversed(injected):
        change(name, 'clear')


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers: a hung service."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_port():
    """A port on which nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


# The collection's module_utils, for tests that exercise a helper against the real server.
COLLECTIONS = REPO / '.build' / 'collections'
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
