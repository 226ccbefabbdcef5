# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_client_kill against the lab's Redis, through ansible-playbook.

Other tests share this Redis: every run is narrowed with ``names`` to clients this test opened.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest


class IdleClients(object):
    """Redis connections opened by a test, each sending one command and then nothing; closed at its end."""

    def __init__(self, lab):
        self.lab = lab
        self.clients = []
        self.threads = []

    def open(self, name, count=1):
        """``count`` connections named ``name``; returns their ids."""
        ids = []
        for number in range(count):
            client = self.lab.redis.client(single_connection_client=True)
            client.client_setname(name)
            ids.append(int(client.client_id()))
            self.clients.append(client)
        return ids

    def subscriber(self, name):
        """A pub/sub client (type pubsub) named ``name``; returns its id."""
        client = self.lab.redis.client(client_name=name)
        pubsub = client.pubsub()
        pubsub.subscribe('test-rk-%s' % uuid.uuid4().hex[:8])
        pubsub.get_message(timeout=1)
        self.clients += [pubsub, client]  # both referenced: a collected client closes its pool
        return ids_named(self.lab, name)[-1]

    def blocked(self, name, seconds=60):
        """A client waiting in BLPOP (a queue worker waiting for jobs); returns its id."""
        client = self.lab.redis.client(single_connection_client=True, socket_timeout=seconds + 10)
        client.client_setname(name)
        client_id = int(client.client_id())

        def wait():
            try:
                client.blpop(['test-rk-queue-%s' % uuid.uuid4().hex[:8]], timeout=seconds)
            except Exception:  # noqa: BLE001 - ended by the test's teardown
                pass
        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        self.threads.append(thread)
        self.clients.append(client)
        deadline = time.monotonic() + 5
        while 'b' not in flags(self.lab, client_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        return client_id

    def close(self, names):
        # Only the clients this test opened: by the names it chose.
        admin = self.lab.redis.client()
        for name in names:
            for client_id in ids_named(self.lab, name):
                admin.client_kill_filter(_id=str(client_id))
        for client in self.clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - already killed by the test
                pass
        for thread in self.threads:
            thread.join(timeout=10)


def ids_named(lab, name):
    return sorted(int(row['id']) for row in lab.redis.client().client_list() if row.get('name') == name)


def alive(lab, ids):
    """The ids among ``ids`` that the server still lists (CLIENT LIST, directly)."""
    if not ids:
        return []
    return sorted(int(row['id']) for row in lab.redis.client().client_list(client_id=list(ids)))


def flags(lab, client_id):
    rows = lab.redis.client().client_list(client_id=[client_id])
    return rows[0]['flags'] if rows else ''


@pytest.fixture
def names():
    """Client names of this test's own, so that its runs can never reach anyone else's clients."""
    token = uuid.uuid4().hex[:8]

    class Names(object):
        leak = 'test-rk-leak-%s' % token
        other = 'test-rk-other-%s' % token
        ours = 'oncall.runbooks/test-rk-%s' % token

        def __iter__(self):
            return iter([self.leak, self.other, self.ours])
    return Names()


@pytest.fixture
def idle_clients(lab, names):
    pool = IdleClients(lab)
    yield pool
    pool.close(names)


def planned_ids(result):
    return sorted(action['id'] for action in result['actions'])


def test_check_mode_lists_exactly_what_the_real_run_kills(lab, run_module, idle_clients, names):
    leak = idle_clients.open(names.leak, 3)
    other = idle_clients.open(names.other, 2)
    time.sleep(2.2)
    args = {'names': [names.leak], 'idle_longer_than': '1s'}

    planned, run = run_module('redis_client_kill', args, check=True)
    assert run.rc == 0, run.stdout
    assert planned['changed'] is True
    assert planned_ids(planned) == sorted(leak)
    assert not any(action['done'] for action in planned['actions'])
    assert alive(lab, leak + other) == sorted(leak + other), 'check mode killed something'
    assert planned['summary'] == 'would kill 3 of 3 idle clients'
    assert planned['killed'] == 0 and planned['candidates'] == 3 and planned['left_out'] == 0
    action = planned['actions'][0]
    assert action['action'] == 'kill' and action['name'] == names.leak and action['type'] == 'normal'
    assert action['user'] == 'default' and action['command'] == 'client|id' and action['idle'] >= 2
    assert action['addr'].startswith('127.0.0.1:')
    assert action['target'] == 'client %d %s (name %s, idle %ds)' % (action['id'], action['addr'], names.leak, action['idle'])
    assert action['reason'] == 'idle for %ds (> 1s)' % action['idle']

    done = run_module('redis_client_kill', args)[0]
    assert done['changed'] is True
    assert planned_ids(done) == sorted(leak)
    assert all(action['done'] for action in done['actions'])
    assert done['killed'] == 3 and done['summary'] == 'killed 3 of 3 idle clients'
    assert alive(lab, leak) == []
    assert alive(lab, other) == sorted(other)

    again = run_module('redis_client_kill', args)[0]
    assert again['changed'] is False
    assert again['actions'] == [] and again['summary'] == 'killed 0 of 0 idle clients'


def test_filters_users_addr_prefix_and_idle(lab, run_module, idle_clients, names):
    old = idle_clients.open(names.leak, 2)
    time.sleep(9)
    fresh = idle_clients.open(names.leak, 1)
    base = {'names': [names.leak], 'idle_longer_than': '8s'}

    # Each run takes a second or two to start: the fresh client stays well under 8s for these two.
    assert planned_ids(run_module('redis_client_kill', base, check=True)[0]) == sorted(old)
    result = run_module('redis_client_kill', dict(base, users=['default'], addr_prefix='127.0.0.'))[0]
    assert planned_ids(result) == sorted(old) and result['killed'] == 2
    assert alive(lab, old + fresh) == fresh

    # The fresh client qualifies on idle time alone now; the other filters leave it out.
    anything_idle = {'names': [names.leak], 'idle_longer_than': 0}
    assert planned_ids(run_module('redis_client_kill', anything_idle, check=True)[0]) == fresh
    assert run_module('redis_client_kill', dict(anything_idle, users=['nobody-here']))[0]['actions'] == []
    assert run_module('redis_client_kill', dict(anything_idle, addr_prefix='10.0.3.'))[0]['actions'] == []
    assert alive(lab, fresh) == fresh


def test_types_pubsub_and_blocked_clients(lab, run_module, idle_clients, names):
    normal = idle_clients.open(names.leak, 1)
    subscriber = idle_clients.subscriber(names.leak)
    waiting = idle_clients.blocked(names.leak)
    time.sleep(2.2)
    assert 'b' in flags(lab, waiting)
    args = {'names': [names.leak], 'idle_longer_than': '1s'}

    only_normal = run_module('redis_client_kill', dict(args, types=['normal']), check=True)[0]
    assert planned_ids(only_normal) == normal
    assert run_module('redis_client_kill', dict(args, types=['replica', 'master']), check=True)[0]['actions'] == []

    result = run_module('redis_client_kill', args)[0]
    assert planned_ids(result) == sorted(normal + [subscriber])
    assert dict((action['id'], action['type']) for action in result['actions']) == {normal[0]: 'normal', subscriber: 'pubsub'}
    assert alive(lab, normal + [subscriber, waiting]) == [waiting], 'a client waiting in BLPOP was killed'


def test_own_and_other_collection_clients_are_never_killed(lab, run_module, idle_clients, names):
    ours = idle_clients.open(names.ours, 2)
    time.sleep(1.2)
    result = run_module('redis_client_kill', {'names': [names.ours, 'oncall.runbooks/redis_client_kill'], 'idle_longer_than': 0})[0]
    assert result['changed'] is False and result['actions'] == [] and result['candidates'] == 0
    assert alive(lab, ours) == sorted(ours)


def test_cap_kills_the_longest_idle_first_and_says_so(lab, run_module, idle_clients, names):
    oldest = idle_clients.open(names.leak, 2)
    time.sleep(3)
    newest = idle_clients.open(names.leak, 3)
    time.sleep(1.1)
    result = run_module('redis_client_kill', {'names': [names.leak], 'idle_longer_than': 0, 'max_clients': 2})[0]
    assert planned_ids(result) == sorted(oldest)
    assert result['candidates'] == 5 and result['left_out'] == 3 and result['killed'] == 2
    assert result['summary'] == 'killed 2 of 5 idle clients (max_clients 2 left 3 out)'
    assert alive(lab, oldest) == []
    assert alive(lab, newest) == sorted(newest)


@pytest.mark.parametrize('args, message', [
    ({'idle_longer_than': '10 minutes'}, "idle_longer_than: '10 minutes' is not a duration"),
    ({'idle_longer_than': '-5m'}, "idle_longer_than: '-5m' is negative"),
    ({'max_clients': 0}, 'max_clients must be a whole number of at least 1, got 0'),
    ({'types': ['normal', 'sentinel']}, 'value of types must be one or more of: normal, pubsub, replica, master. Got no match for: sentinel'),
])
def test_bad_input_fails_before_connecting(lab, run_module, idle_clients, names, closed_port, args, message):
    client = idle_clients.open(names.leak, 1)
    # Nothing listens on closed_port: the message can only be the input's, checked before connecting.
    result = run_module('redis_client_kill', dict(args, names=[names.leak], login_port=closed_port))[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message), result['msg']
    assert '\n' not in result['msg']
    assert alive(lab, client) == client


def test_redis_idle_clients_scenario_is_fixed(lab, run_module, scenario):
    from lab import scenarios
    scenario('redis-idle-clients')
    time.sleep(2.2)
    args = {'names': ['linkflow-worker'], 'idle_longer_than': '1s'}
    planned = run_module('redis_client_kill', args, check=True)[0]
    assert planned['candidates'] >= 20 and not any(action['done'] for action in planned['actions'])
    assert scenarios.get(lab.lab, 'redis-idle-clients').present() is True

    result = run_module('redis_client_kill', args)[0]
    assert result['changed'] is True and result['killed'] >= 20
    assert planned_ids(result) == planned_ids(planned)
    assert scenarios.get(lab.lab, 'redis-idle-clients').present() is False
    assert ids_named(lab, 'linkflow-worker') == []
