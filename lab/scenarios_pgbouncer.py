"""PgBouncer incidents: imported by lab.scenarios.load_all()."""

from __future__ import annotations

import json
import os
import sys

from .core import REPO, pid_alive, stop_pid, wait_for
from .pgbouncer_holder import MARKER
from .scenarios import Scenario, scenario
from .services import PgBouncer, PostgreSQL


@scenario
class PgBouncerSaturated(Scenario):
    name = 'pgbouncer-saturated'
    description = ('a "linkflow-worker" floods PgBouncer with more busy clients than the linkflow pool has '
                   'servers: clients queue (cl_waiting > 0)')
    database = 'linkflow'
    # Pools have 5 servers: 12 busy clients leave 7 waiting.
    clients = 12
    sleep_seconds = 30

    def inject(self):
        if pid_alive(self.state.get('pid')):
            return
        ready = self.lab.root / 'pgbouncer-holder.json'
        if ready.exists():
            ready.unlink()
        env = dict(os.environ, LAB_PGBOUNCER_PORT=str(self.lab.section('pgbouncer')['port']), LAB_PG_USER=self.database,
                   LAB_PG_DB=self.database, LAB_PG_PASSWORD=self.lab.section('postgres')['apps'][self.database],
                   LAB_CLIENTS=str(self.clients), LAB_SLEEP=str(self.sleep_seconds), LAB_READY_FILE=str(ready))
        self.state['pid'] = self.lab.spawn([sys.executable, '-m', 'lab.pgbouncer_holder'], self.lab.root / 'pgbouncer-holder.log',
                                           as_user=False, env=env, cwd=str(REPO))
        self.lab.save()
        log = self.lab.root / 'pgbouncer-holder.log'
        wait_for(ready.exists, 60, 'the PgBouncer client flood', log)
        self.state['clients'] = json.loads(ready.read_text())['clients']
        wait_for(self.present, 30, 'clients waiting in PgBouncer\'s linkflow pool', log)

    def clear(self):
        stop_pid(self.state.get('pid'))
        # PgBouncer closes the server side of a dropped client, but a backend in pg_sleep only
        # notices when it ends: end them now so that PostgreSQL's slots are free at once.
        PostgreSQL(self.lab).execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()',
                                     args=('%' + MARKER + '%',))
        wait_for(lambda: not self.present(), 15, 'PgBouncer\'s linkflow pool without waiting clients')

    def present(self):
        connection = PgBouncer(self.lab).connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute('SHOW POOLS')
                names = [column.name for column in cursor.description]
                pools = [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            connection.close()
        return any(pool['database'] == self.database and pool['cl_waiting'] > 0 for pool in pools)
