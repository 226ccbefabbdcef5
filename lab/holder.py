"""A leaking application: opens sessions as the app role until PostgreSQL refuses, then holds them.

Started by the pg-pool-exhausted scenario. It never reconnects: sessions that a fix
terminates stay gone, as they would once the leak is plugged. Credentials come from the
environment so that they never show in ``ps``.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import psycopg2

LIMIT = 10000


def main():
    sessions = []
    while len(sessions) < LIMIT:
        try:
            connection = psycopg2.connect(
                host='127.0.0.1', port=int(os.environ['LAB_PG_PORT']), user=os.environ['LAB_PG_USER'],
                password=os.environ['LAB_PG_PASSWORD'], dbname=os.environ['LAB_PG_USER'],
                application_name='linkflow-api', connect_timeout=5)
        except psycopg2.OperationalError as exc:
            if 'remaining connection slots' in str(exc) or 'too many clients' in str(exc):
                break
            raise
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute('SELECT 1')
        sessions.append(connection)
    ready = os.environ['LAB_READY_FILE']
    with open(ready + '.tmp', 'w') as handle:
        json.dump({'held': len(sessions)}, handle)
    os.replace(ready + '.tmp', ready)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == '__main__':
    main()
