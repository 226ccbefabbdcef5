# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bloat made on purpose, and the server's own view of it, for the storage and vacuum tests."""

from __future__ import annotations

import time

from psycopg2 import sql

STATS_QUERY = """
SELECT s.n_live_tup AS live, s.n_dead_tup AS dead, s.last_vacuum, s.last_analyze,
       pg_relation_filenode(s.relid) AS filenode, pg_total_relation_size(s.relid) AS total_bytes
FROM pg_stat_user_tables AS s WHERE s.schemaname = %s AND s.relname = %s
"""


def stats(lab, database, table, schema='public'):
    """The statistics views' counts for one table; no scan of the table (that would prune pages)."""
    connection = lab.postgres.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(STATS_QUERY, (schema, table))
            names = [column.name for column in cursor.description]
            return dict(zip(names, cursor.fetchone()))
    finally:
        connection.close()


def create_table(lab, database, table):
    """A plain table of the app's role, autovacuum off so that its dead tuples stay put."""
    connection = lab.postgres.connect(database, 'linkflow')
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE TABLE {} (id bigserial PRIMARY KEY, body text NOT NULL DEFAULT repeat('x', 200)) "
                                   "WITH (autovacuum_enabled = false)").format(sql.Identifier(table)))
    finally:
        connection.close()


def bloat(lab, database, table='workflow_executions', rows=20000, dead=10000):
    """Insert ``rows`` rows and delete ``dead`` of them (the oldest); return once the server counts them."""
    before = stats(lab, database, table)
    connection = lab.postgres.connect(database)
    identifier = sql.Identifier(table)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL('ALTER TABLE {} SET (autovacuum_enabled = false)').format(identifier))
            if table == 'workflow_executions':
                cursor.execute("INSERT INTO workflow_executions (workflow_id, status, completed_at) "
                               "SELECT n %% 7, 'completed', now() - interval '100 days' FROM generate_series(1, %s) AS n", (rows,))
            else:
                cursor.execute(sql.SQL('INSERT INTO {} (body) SELECT repeat(%s, 200) FROM generate_series(1, %s)').format(identifier),
                               ('y', rows))
            cursor.execute(sql.SQL('DELETE FROM {} WHERE id IN (SELECT id FROM {} ORDER BY id LIMIT %s)').format(identifier, identifier),
                           (dead,))
            cursor.execute('SELECT pg_stat_force_next_flush()')
    finally:
        connection.close()
    deadline = time.monotonic() + 15
    while True:
        now = stats(lab, database, table)
        if now['dead'] == before['dead'] + dead and now['live'] == before['live'] + rows - dead:
            return now
        assert time.monotonic() < deadline, 'the server never counted the dead tuples of %s: %r' % (table, now)
        time.sleep(0.2)
