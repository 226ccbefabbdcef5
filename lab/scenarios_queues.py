"""Queue incidents: imported by lab.scenarios.load_all()."""

from __future__ import annotations

import json
import time
import uuid

from .scenarios import Scenario, scenario
from .services import PostgreSQL, Redis

# The application's job queue in its database, as queue_backlog_info reads it (a status per row,
# unlike Laravel's own database driver). Not part of the app's schema: the scenario creates it
# when it is missing (with TABLE_COMMENT) and drops it again if it did.
JOBS_TABLE = """
    CREATE TABLE IF NOT EXISTS jobs (
        id bigserial PRIMARY KEY,
        queue text NOT NULL DEFAULT 'default',
        status text NOT NULL DEFAULT 'pending',
        payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
"""

QUEUE = 'queues:default'
# Every job the scenario adds carries this in its uuid (Redis) or payload (PostgreSQL), so that
# clear() removes exactly those and leaves the app's own jobs, such as the 5 the lab seeds.
MARK = 'lab-queue-backlog'
TABLE_COMMENT = 'created by the lab scenario queue-backlog'


def laravel_payload(number, pushed_at, command='SendWebhook'):
    """A job as Laravel 11 (createdAt) and Horizon (pushedAt) serialise it onto a Redis queue."""
    return json.dumps({
        'uuid': '%s-%s' % (MARK, uuid.uuid4()),
        'displayName': 'App\\Jobs\\%s' % command,
        'job': 'Illuminate\\Queue\\CallQueuedHandler@call',
        'maxTries': None, 'maxExceptions': None, 'failOnTimeout': False, 'backoff': None, 'timeout': None, 'retryUntil': None,
        'data': {'commandName': 'App\\Jobs\\%s' % command, 'command': 'O:19:"App\\Jobs\\%s":1:{s:2:"id";i:%d;}' % (command, number)},
        'id': str(uuid.uuid4()),
        'attempts': 0,
        'pushedAt': '%.4f' % pushed_at,
        'createdAt': int(pushed_at),
    }, separators=(',', ':'))


@scenario
class QueueBacklog(Scenario):
    name = 'queue-backlog'
    description = ('workers stopped 20 minutes ago: Laravel\'s default Redis queue holds 1,200 more jobs (and delayed and '
                   'reserved ones), the linkflow jobs table 1,200 pending rows, the oldest 20 minutes old')
    waiting = 1200
    # Delayed jobs: some already due (no worker moved them), the rest due in an hour.
    due = 10
    later = 20
    # Reserved jobs: taken by workers; some reservations have run out (the worker died).
    reserved = 15
    expired = 5
    rows = 1200
    # Rows in other statuses, which a backlog count must leave out.
    finished_rows = 50
    age = 1200
    threshold = 1000

    # The lab's state file is rewritten whole by every lab process, so a concurrent one can undo what
    # this scenario records there: what it added is recognised in the data itself instead (MARK, and
    # the table's comment when it created the table).
    def inject(self):
        now = time.time()
        client = Redis(self.lab).client()
        if not self.ours(client.lrange(QUEUE, 0, -1)):
            # The oldest job at the head of the list, where Laravel's workers pop: pushed newest first with
            # LPUSH, in front of whatever the app already has.
            newest_first = [laravel_payload(number, now - self.age + number * 0.5) for number in reversed(range(self.waiting))]
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(newest_first), 500):
                pipe.lpush(QUEUE, *newest_first[start:start + 500])
            delayed = dict((laravel_payload(number, now - self.age), now - 300) for number in range(self.due))
            delayed.update((laravel_payload(number, now), now + 3600) for number in range(self.later))
            reserved = dict((laravel_payload(number, now - self.age), now + 600) for number in range(self.reserved))
            reserved.update((laravel_payload(number, now - self.age), now - 30) for number in range(self.expired))
            pipe.zadd(QUEUE + ':delayed', delayed)
            pipe.zadd(QUEUE + ':reserved', reserved)
            pipe.execute()

        connection = PostgreSQL(self.lab).connect('linkflow', 'linkflow')
        try:
            with connection.cursor() as cursor:
                if not self.table_exists(cursor):
                    cursor.execute(JOBS_TABLE)
                    cursor.execute('COMMENT ON TABLE jobs IS %s', (TABLE_COMMENT,))
                cursor.execute("SELECT EXISTS (SELECT 1 FROM jobs WHERE payload->>'lab' = %s)", (MARK,))
                if not cursor.fetchone()[0]:
                    cursor.execute("""INSERT INTO jobs (queue, status, payload, created_at)
                                      SELECT 'default', 'pending', jsonb_build_object('lab', %s, 'n', n),
                                             now() - make_interval(secs => %s) + n * interval '100 ms'
                                      FROM generate_series(1, %s) AS n""", (MARK, self.age, self.rows))
                    cursor.execute("""INSERT INTO jobs (queue, status, payload, created_at)
                                      SELECT 'default', 'done', jsonb_build_object('lab', %s, 'n', n), now() - interval '1 hour'
                                      FROM generate_series(1, %s) AS n""", (MARK, self.finished_rows))
        finally:
            connection.close()

    def clear(self):
        client = Redis(self.lab).client()
        pipe = client.pipeline(transaction=False)
        for job in self.ours(client.lrange(QUEUE, 0, -1)):
            pipe.lrem(QUEUE, 1, job)
        for key in (QUEUE + ':delayed', QUEUE + ':reserved'):
            members = self.ours(client.zrange(key, 0, -1))
            for start in range(0, len(members), 500):
                pipe.zrem(key, *members[start:start + 500])
        pipe.execute()
        connection = PostgreSQL(self.lab).connect('linkflow', 'linkflow')
        try:
            with connection.cursor() as cursor:
                if self.table_exists(cursor):
                    cursor.execute("DELETE FROM jobs WHERE payload->>'lab' = %s", (MARK,))
                    # Dropped only if the scenario made it and nothing else has been put in it since.
                    cursor.execute("SELECT obj_description('public.jobs'::regclass, 'pg_class') = %s AND NOT EXISTS (SELECT 1 FROM jobs)",
                                   (TABLE_COMMENT,))
                    if cursor.fetchone()[0]:
                        cursor.execute('DROP TABLE jobs')
        finally:
            connection.close()

    @staticmethod
    def ours(items):
        return [item for item in items if MARK.encode() in item]

    @staticmethod
    def table_exists(cursor):
        cursor.execute("SELECT to_regclass('public.jobs') IS NOT NULL")
        return cursor.fetchone()[0]

    def present(self):
        """Both backlogs, measured directly: the list's length and the pending rows older than 10 minutes."""
        if Redis(self.lab).client().llen(QUEUE) < self.threshold:
            return False
        postgres = PostgreSQL(self.lab)
        if postgres.execute("SELECT to_regclass('public.jobs') IS NULL", 'linkflow')[0][0]:
            return False
        rows = postgres.execute("SELECT count(*) FROM jobs WHERE status IN ('pending', 'queued') AND created_at < now() - interval '10 minutes'",
                                'linkflow')
        return rows[0][0] >= self.threshold
