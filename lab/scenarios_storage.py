"""Storage incidents: tables full of dead rows that nothing vacuums."""

from __future__ import annotations

import json
import time

from .core import LabError, wait_for
from .scenarios import Scenario, scenario
from .services import PostgreSQL

# Rows added by the scenario carry this in their payload, so that clear() removes them and
# nothing else (the lab's own seed rows stay).
MARK = {'lab_scenario': 'pg-bloat'}
OLD_ROWS = 200000
RECENT_ROWS = 5000
# Present while at least this many dead tuples wait for a vacuum.
MIN_DEAD_TUPLES = 20000

DEAD_TUPLES_QUERY = """
SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables
WHERE schemaname = 'public' AND relname = 'workflow_executions'
"""


@scenario
class PgBloat(Scenario):
    name = 'pg-bloat'
    description = ('linkflow.workflow_executions holds 200,000 executions older than 90 days and ~90,000 dead '
                   'tuples, with autovacuum switched off on the table')

    def connect(self):
        # As the superuser: it still gets in when another scenario has exhausted the app's slots.
        return PostgreSQL(self.lab).connect('linkflow', application_name='lab/pg-bloat')

    def inject(self):
        if self.present():
            return
        connection = self.connect()
        mark = json.dumps(MARK)
        try:
            with connection.cursor() as cursor:
                cursor.execute('ALTER TABLE public.workflow_executions SET (autovacuum_enabled = false)')
                cursor.execute("""
                    INSERT INTO public.workflow_executions (workflow_id, status, started_at, completed_at, payload)
                    SELECT n %% 50, 'completed', now() - (91 + n %% 300) * interval '1 day' - interval '5 minutes',
                           now() - (91 + n %% 300) * interval '1 day', %(mark)s::jsonb || jsonb_build_object('n', n)
                    FROM generate_series(1, %(old)s) AS n;
                    INSERT INTO public.workflow_executions (workflow_id, status, started_at, completed_at, payload)
                    SELECT n %% 50, 'completed', now() - (n %% 30) * interval '1 day' - interval '5 minutes',
                           now() - (n %% 30) * interval '1 day', %(mark)s::jsonb
                    FROM generate_series(1, %(recent)s) AS n;
                """, {'mark': mark, 'old': OLD_ROWS, 'recent': RECENT_ROWS})
            # One transaction for the updates and deletes: no scan prunes the other's dead rows
            # (page pruning would lower n_dead_tup behind the scenario's back).
            connection.autocommit = False
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM public.workflow_executions WHERE payload @> %s::jsonb AND (payload->>'n')::int %% 5 < 2",
                               (mark,))
                cursor.execute("UPDATE public.workflow_executions SET status = 'archived' WHERE payload @> %s::jsonb "
                               "AND (payload->>'n')::int %% 20 = 2", (mark,))
                # The stats reach the shared counters when this session goes idle, not at its leisure.
                cursor.execute('SELECT pg_stat_force_next_flush()')
            connection.commit()
        finally:
            connection.close()
        wait_for(self.present, 30, 'dead tuples in linkflow.workflow_executions')

    def dead_tuples(self):
        rows = PostgreSQL(self.lab).execute(DEAD_TUPLES_QUERY, dbname='linkflow')
        return rows[0][0] if rows else 0

    def present(self):
        return self.dead_tuples() >= MIN_DEAD_TUPLES

    def clear(self):
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute('DELETE FROM public.workflow_executions WHERE payload @> %s::jsonb', (json.dumps(MARK),))
                # Report the delete now: flushed after VACUUM, it would count its rows as dead again.
                cursor.execute('SELECT pg_stat_force_next_flush()')
                cursor.execute('VACUUM (ANALYZE) public.workflow_executions')
                # The lab's schema never sets it: back to the server's default, whatever an
                # interrupted earlier run left behind.
                cursor.execute('ALTER TABLE public.workflow_executions RESET (autovacuum_enabled)')
        finally:
            connection.close()
        # VACUUM reports at once; give a straggling flush of another session a moment.
        deadline = time.monotonic() + 10
        while self.present():
            if time.monotonic() > deadline:
                raise LabError('linkflow.workflow_executions still has %d dead tuples after VACUUM' % self.dead_tuples())
            time.sleep(0.2)
