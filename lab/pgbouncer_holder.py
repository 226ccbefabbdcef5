"""A flood of application clients through PgBouncer: more than the pool has servers, all busy.

Started by the pgbouncer-saturated scenario. Each client loops over a long query inside
a transaction, so the pool's server connections are always taken and the other clients
queue (``cl_waiting`` in SHOW POOLS). It never reconnects: a client that a KILL drops
stays gone. Credentials come from the environment so that they never show in ``ps``.
"""

from __future__ import annotations

import os
import threading

import psycopg2

from lab.holder import hold

# Marks the queries so that clearing the scenario can end their server backends too.
MARKER = 'oncall-lab pgbouncer-saturated'


def keep_busy(connection, seconds):
    try:
        while True:
            with connection.cursor() as cursor:
                cursor.execute('SELECT pg_sleep(%s) /* ' + MARKER + ' */', (seconds,))
            connection.commit()
    except psycopg2.Error:
        pass  # dropped by PgBouncer (KILL) or by the scenario's clear: stay gone


def main():
    clients = []
    for number in range(int(os.environ["LAB_CLIENTS"])):
        connection = psycopg2.connect(
            host='127.0.0.1', port=int(os.environ['LAB_PGBOUNCER_PORT']), user=os.environ['LAB_PG_USER'],
            password=os.environ['LAB_PG_PASSWORD'], dbname=os.environ['LAB_PG_DB'],
            application_name='linkflow-worker-%d' % number, connect_timeout=5)
        clients.append(connection)
    for connection in clients:
        threading.Thread(target=keep_busy, args=(connection, float(os.environ['LAB_SLEEP'])), daemon=True).start()
    hold({'clients': len(clients)})


if __name__ == '__main__':
    main()
