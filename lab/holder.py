"""A misbehaving application: holds PostgreSQL sessions in a given bad state until stopped.

Started by the lab's session scenarios (``python -m lab.holder MODE``). It never
reconnects: sessions that a fix terminates stay gone, as they would once the bug is
fixed. Credentials come from the environment so that they never show in ``ps``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import psycopg2

LIMIT = 10000


def connect(application):
    connection = psycopg2.connect(
        host='127.0.0.1', port=int(os.environ['LAB_PG_PORT']), user=os.environ['LAB_PG_USER'],
        password=os.environ['LAB_PG_PASSWORD'], dbname=os.environ['LAB_PG_USER'],
        application_name=application, connect_timeout=5)
    connection.autocommit = True
    return connection


def run(connection, statement):
    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall() if cursor.description else None


def in_background(connection, statement):
    """A statement that blocks (sleeps or waits for a lock) in a thread of its own."""
    def target():
        try:
            run(connection, statement)
        except psycopg2.Error:
            pass  # cancelled or terminated by a fix: exactly what the scenario is for
    threading.Thread(target=target, daemon=True).start()


def pool(settle=1.5):
    """Open sessions as the app role until PostgreSQL refuses (a connection leak).

    Backends of clients that just disconnected take a moment to exit and free their slot:
    keep taking freed slots for ``settle`` seconds after the first refusal, then stop, so
    that slots a fix frees later stay free.
    """
    sessions = []
    refused_at = None
    while len(sessions) < LIMIT:
        try:
            connection = connect('linkflow-api')
        except psycopg2.OperationalError as exc:
            if 'remaining connection slots' not in str(exc) and 'too many clients' not in str(exc):
                raise
            refused_at = refused_at or time.monotonic()
            if time.monotonic() - refused_at > settle:
                break
            time.sleep(0.05)
            continue
        run(connection, 'SELECT 1')
        sessions.append(connection)
    return sessions


def long_query():
    """A report query that runs for a day."""
    connection = connect('linkflow-reports')
    in_background(connection, 'SELECT pg_sleep(86400) /* monthly usage report */')
    return [connection]


def idle_in_transaction():
    """A request that opened a transaction, read, and went away without committing."""
    connection = connect('linkflow-billing')
    connection.autocommit = False
    run(connection, 'SELECT count(*) FROM workflow_executions')
    return [connection]


def blocking_lock():
    """A migration holding a row lock in an open transaction, and workers queued behind it."""
    holder = connect('linkflow-migrate')
    row_id = run(holder, 'SELECT min(id) FROM workflow_executions')[0][0]
    holder.autocommit = False
    run(holder, 'UPDATE workflow_executions SET status = status WHERE id = %d' % row_id)
    waiters = [connect('linkflow-worker') for number in range(2)]
    for waiter in waiters:
        in_background(waiter, 'UPDATE workflow_executions SET status = status WHERE id = %d' % row_id)
    return [holder] + waiters


MODES = {'pool': pool, 'long-query': long_query, 'idle-in-transaction': idle_in_transaction, 'blocking-lock': blocking_lock}


def hold(report):
    """Say that the scenario has taken hold (``report`` goes to the ready file), then wait for SIGTERM."""
    ready = os.environ['LAB_READY_FILE']
    with open(ready + '.tmp', 'w') as handle:
        json.dump(report, handle)
    os.replace(ready + '.tmp', ready)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


def main():
    sessions = MODES[sys.argv[1]]()  # referenced until the end: dropping it would close them
    hold({'held': len(sessions)})


if __name__ == '__main__':
    main()
