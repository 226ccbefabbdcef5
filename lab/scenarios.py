"""Incidents the lab can inject, undo, and check for by itself (not through the collection)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

from .core import REPO, LabError, pid_alive, processes_running, stop_pid, wait_for
from .services import PostgreSQL, Redis

SCENARIOS = {}

# Laravel's cache keys carry the app's prefix; sessions and queues live beside them.
CACHE_PREFIX = 'linkflow_cache:'


def scenario(cls):
    SCENARIOS[cls.name] = cls
    return cls


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise LabError('%s: not within %ss' % (what, timeout))
        time.sleep(0.25)


class Scenario(object):
    name = ''
    description = ''

    def __init__(self, lab):
        self.lab = lab
        self.state = lab.section('scenarios').setdefault(self.name, {})

    def inject(self):
        raise NotImplementedError

    def clear(self):
        raise NotImplementedError

    def present(self):
        """Whether the symptom can be observed right now, measured directly against the service."""
        raise NotImplementedError

    def forget(self):
        self.lab.section('scenarios').pop(self.name, None)


class HeldSessions(Scenario):
    """Sessions held in a bad state by ``python -m lab.holder MODE`` until cleared."""
    mode = ''
    # Sessions of these applications belong to the scenario; clear() makes sure they are gone.
    applications = ()

    def inject(self):
        if pid_alive(self.state.get('pid')):
            return
        postgres = self.lab.section('postgres')
        ready = self.lab.root / ('holder-%s.json' % self.mode)
        if ready.exists():
            ready.unlink()
        env = dict(os.environ, LAB_PG_PORT=str(postgres['port']), LAB_PG_USER='linkflow',
                   LAB_PG_PASSWORD=postgres['apps']['linkflow'], LAB_READY_FILE=str(ready))
        log = self.lab.root / ('holder-%s.log' % self.mode)
        self.state['pid'] = self.lab.spawn([sys.executable, '-m', 'lab.holder', self.mode], log, as_user=False, env=env, cwd=str(REPO))
        self.lab.save()
        wait_for(ready.exists, 60, 'the %s holder' % self.mode, log)
        self.state['held'] = json.loads(ready.read_text())['held']
        wait_for(self.present, 15, 'the %s scenario taking hold' % self.name, log)

    def clear(self):
        for pid in set([self.state.get('pid')] + self.holders()):
            stop_pid(pid)
        # Sessions whose client died may linger a moment; make sure none of them is left.
        PostgreSQL(self.lab).execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ANY(%s)',
                                     args=(list(self.applications),))
        wait_for(lambda: not self.present(), 15, '%s to clear' % self.name)

    def holders(self):
        """This lab's holder processes for this mode, found even if the state file lost their pid."""
        return processes_running(['lab.holder', self.mode], 'LAB_PG_PORT=%s' % self.lab.section('postgres')['port'])

    def sessions(self, condition):
        """pids of the scenario's sessions that meet ``condition`` (SQL over pg_stat_activity)."""
        rows = PostgreSQL(self.lab).execute(
            'SELECT pid FROM pg_stat_activity WHERE application_name = ANY(%%s) AND %s' % condition,
            'linkflow', (list(self.applications),))
        return [row[0] for row in rows]


@scenario
class PgPoolExhausted(HeldSessions):
    name = 'pg-pool-exhausted'
    mode = 'pool'
    applications = ('linkflow-api',)
    description = ('a leaking "linkflow-api" holds idle sessions until the application role is refused '
                   '(superusers still get in through the reserved slots)')

    def present(self):
        import psycopg2
        try:
            PostgreSQL(self.lab).connect('linkflow', 'linkflow').close()
        except psycopg2.OperationalError as exc:
            if 'remaining connection slots' in str(exc) or 'too many clients' in str(exc):
                return True
            raise
        return False


@scenario
class RedisOom(Scenario):
    name = 'redis-oom'
    description = 'the Laravel cache fills Redis up to maxmemory under noeviction: writes fail with OOM'

    def inject(self):
        import redis
        client = Redis(self.lab).client()
        written = 0
        try:
            while written < 100000:
                client.set('%sresponse:%06d' % (CACHE_PREFIX, written), b'x' * 65536)
                written += 1
        except redis.exceptions.OutOfMemoryError:
            pass
        # Freeing our own buffers leaves a little room; a tiny SETRANGE that allocates 4 MB
        # is accepted while there is any, and leaves Redis well past maxmemory.
        try:
            while written < 100010:
                client.setrange('%sblob:%06d' % (CACHE_PREFIX, written), 4 * 1024 * 1024, 'x')
                written += 1
        except redis.exceptions.OutOfMemoryError:
            pass
        self.state['keys'] = written
        if not self.present():
            raise LabError('Redis still accepts writes after filling %d cache keys' % written)

    def clear(self):
        client = Redis(self.lab).client()
        batch = []
        for key in client.scan_iter(match=CACHE_PREFIX + '*', count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)

    def present(self):
        import redis
        client = Redis(self.lab).client()
        try:
            client.set('lab:write-probe', b'x' * 1024)
        except redis.exceptions.OutOfMemoryError:
            return True
        client.delete('lab:write-probe')
        return False


def load_all():
    """Each domain keeps its scenarios in lab/scenarios_<domain>.py; importing registers them."""
    for path in sorted(Path(__file__).parent.glob('scenarios_*.py')):
        importlib.import_module('%s.%s' % (__package__, path.stem))


def get(lab, name):
    load_all()
    if name not in SCENARIOS:
        raise LabError('unknown scenario %r; known: %s' % (name, ', '.join(sorted(SCENARIOS))))
    return SCENARIOS[name](lab)
