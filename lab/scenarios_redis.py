"""Redis incidents: imported by lab.scenarios.load_all()."""

from __future__ import annotations

import json
import os
import sys
import time

from .core import REPO, pid_alive, processes_running, stop_pid, wait_for
from .scenarios import Scenario, scenario
from .services import Redis


@scenario
class RedisIdleClients(Scenario):
    name = 'redis-idle-clients'
    description = ('a leaking "linkflow-worker" pool holds Redis connections it never uses again: '
                   'idle clients pile up towards maxclients')
    client_name = 'linkflow-worker'
    clients = 30
    # present() sees the symptom once this many of them have been idle for a second or more.
    threshold = 20

    def inject(self):
        if pid_alive(self.state.get('pid')):
            return
        ready = self.lab.root / 'redis-holder.json'
        if ready.exists():
            ready.unlink()
        redis = self.lab.section('redis')
        env = dict(os.environ, LAB_REDIS_PORT=str(redis['port']), LAB_REDIS_PASSWORD=redis['password'],
                   LAB_CLIENTS=str(self.clients), LAB_CLIENT_NAME=self.client_name, LAB_READY_FILE=str(ready))
        log = self.lab.root / 'redis-holder.log'
        self.state['pid'] = self.lab.spawn([sys.executable, '-m', 'lab.redis_holder'], log, as_user=False, env=env, cwd=str(REPO))
        self.lab.save()
        wait_for(ready.exists, 60, 'the Redis client leak', log)
        self.state['clients'] = json.loads(ready.read_text())['clients']
        wait_for(self.present, 15, 'idle %s clients in Redis' % self.client_name, log)

    def clear(self):
        for pid in set([self.state.get('pid')] + self.holders()):
            stop_pid(pid)
        # Connections of a holder that died may linger a moment; end them by id.
        client = Redis(self.lab).client()
        for row in self.leaked(client):
            client.client_kill_filter(_id=row['id'])
        wait_for(lambda: not self.present(), 15, '%s to clear' % self.name)

    def present(self):
        idle = [row for row in self.leaked(Redis(self.lab).client()) if int(row['idle']) >= 1]
        return len(idle) >= self.threshold

    def leaked(self, client):
        return [row for row in client.client_list(_type='normal') if row.get('name') == self.client_name]

    def holders(self):
        return processes_running(['lab.redis_holder'], 'LAB_REDIS_PORT=%s' % self.lab.section('redis')['port'])


# The keys redis-bigkeys adds, so that clear() removes exactly those.
BIG_REPORTS = 'linkflow_cache:report:'
SMALL_SESSIONS = 'linkflow_session:bk:'
EXPORT_QUEUE = 'queues:exports'


@scenario
class RedisMisconf(Scenario):
    name = 'redis-misconf'
    description = 'snapshots fail (the data directory is read-only) with a save point set: writes are refused with MISCONF'

    def inject(self):
        client = Redis(self.lab).client()
        os.chmod(self.data_dir(), 0o555)
        client.config_set('save', '3600 1')
        self.save_in_background(client)
        wait_for(self.present, 15, 'Redis refusing writes with MISCONF')

    def clear(self):
        client = Redis(self.lab).client()
        os.chmod(self.data_dir(), 0o755)
        self.save_in_background(client)
        client.config_set('save', '')
        wait_for(lambda: client.info('persistence')['rdb_last_bgsave_status'] == 'ok', 15, 'a successful save')

    def present(self):
        return Redis(self.lab).client().info('persistence')['rdb_last_bgsave_status'] == 'err'

    def data_dir(self):
        return self.lab.data_dir / 'redis'

    @staticmethod
    def save_in_background(client):
        deadline = time.monotonic() + 15
        while client.info('persistence')['rdb_bgsave_in_progress'] and time.monotonic() < deadline:
            time.sleep(0.1)
        client.bgsave()
        while client.info('persistence')['rdb_bgsave_in_progress'] and time.monotonic() < deadline:
            time.sleep(0.1)


@scenario
class RedisBigKeys(Scenario):
    name = 'redis-bigkeys'
    description = 'the app\'s db holds a mix of prefixes: three 2 MB cached reports, 2,000 small sessions, an export queue of 20,000 jobs'

    def inject(self):
        client = Redis(self.lab).client()
        pipe = client.pipeline(transaction=False)
        for number in range(3):
            pipe.set('%s%d' % (BIG_REPORTS, number), b'r' * (2 * 1024 * 1024))
        for number in range(2000):
            pipe.set('%s%04d' % (SMALL_SESSIONS, number), 'user-%d' % number)
        pipe.rpush(EXPORT_QUEUE, *['{"job":"ExportCsv","id":%d}' % number for number in range(20000)])
        pipe.execute()

    def clear(self):
        client = Redis(self.lab).client()
        for pattern in (BIG_REPORTS + '*', SMALL_SESSIONS + '*'):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 500):
                client.unlink(*keys[start:start + 500])
        client.unlink(EXPORT_QUEUE)

    def present(self):
        client = Redis(self.lab).client()
        return client.exists(BIG_REPORTS + '0') == 1 and client.llen(EXPORT_QUEUE) > 0
