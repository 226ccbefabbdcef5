"""PostgreSQL sessions in the states that the runbooks' "kill stuck queries" is about."""

from __future__ import annotations

from .scenarios import HeldSessions, Scenario, scenario
from .services import PostgreSQL


@scenario
class PgLongQuery(HeldSessions):
    name = 'pg-long-query'
    mode = 'long-query'
    applications = ('linkflow-reports',)
    description = 'a "linkflow-reports" query runs pg_sleep for a day'

    def present(self):
        return bool(self.sessions("state = 'active' AND query LIKE '%%pg_sleep%%'"))


@scenario
class PgIdleInTransaction(HeldSessions):
    name = 'pg-idle-in-transaction'
    mode = 'idle-in-transaction'
    applications = ('linkflow-billing',)
    description = '"linkflow-billing" opened a transaction, read, and never committed'

    def present(self):
        return bool(self.sessions("state = 'idle in transaction'"))


@scenario
class PgBlockingLock(HeldSessions):
    name = 'pg-blocking-lock'
    mode = 'blocking-lock'
    applications = ('linkflow-migrate', 'linkflow-worker')
    description = 'a "linkflow-migrate" transaction holds a row lock; two "linkflow-worker" updates wait for it'

    def present(self):
        return len(self.sessions('cardinality(pg_blocking_pids(pid)) > 0')) >= 2


# Rows that the scenarios below add carry this workflow_id, so that clear() removes only them.
LAB_WORKFLOW = 9001


@scenario
class PgStuckExecutions(Scenario):
    name = 'pg-stuck-executions'
    description = ('executions "running" for hours in both platforms (linkflow.workflow_executions, '
                   'cloudflow.executions), beside recent ones that are fine')

    def inject(self):
        postgres = PostgreSQL(self.lab)
        postgres.execute("""INSERT INTO workflow_executions (workflow_id, status, started_at)
                            SELECT %s, 'running', now() - interval '3 hours' - n * interval '1 minute' FROM generate_series(1, 5) AS n
                            UNION ALL SELECT %s, 'running', now() - interval '10 minutes' FROM generate_series(1, 2)""",
                         'linkflow', (LAB_WORKFLOW, LAB_WORKFLOW))
        postgres.execute("""INSERT INTO executions (workflow_id, status, started_at, current_step)
                            SELECT %s, 'running', now() - interval '2 hours' - n * interval '1 minute', 2 FROM generate_series(1, 3) AS n
                            UNION ALL SELECT %s, 'running', now() - interval '5 minutes', 1""",
                         'cloudflow', (LAB_WORKFLOW, LAB_WORKFLOW))

    def clear(self):
        postgres = PostgreSQL(self.lab)
        postgres.execute('DELETE FROM workflow_executions WHERE workflow_id = %s', 'linkflow', (LAB_WORKFLOW,))
        postgres.execute('DELETE FROM executions WHERE workflow_id = %s', 'cloudflow', (LAB_WORKFLOW,))

    def present(self):
        postgres = PostgreSQL(self.lab)
        linkflow = postgres.execute("""SELECT count(*) FROM workflow_executions
                                       WHERE status = 'running' AND started_at < now() - interval '1 hour'""", 'linkflow')
        cloudflow = postgres.execute("""SELECT count(*) FROM executions
                                        WHERE status = 'running' AND started_at < now() - interval '1 hour'""", 'cloudflow')
        return linkflow[0][0] + cloudflow[0][0] > 0
