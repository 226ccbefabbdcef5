"""pg_purge of 1,000,000 old rows out of 2,000,000 while the application writes to the same table,
side by side with the seed's single DELETE.

A writer inserts new executions and updates existing ones (mostly recent ones, sometimes old
ones, as an engine finishing stragglers would) and records each statement's latency: first
alone (baseline), then during pg_purge, then during the single DELETE on a fresh copy of the
same data. Targets: purge throughput at least 50% of the DELETE's, and the writer's p99 during
the purge at most 2x its baseline.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time

from common import PostgreSQL, lab_up, median, percentile, run_module, write_results

ROWS = 2000000
OLD = 1000000
DATABASE = 'bench_purge'
BASELINE = 10  # seconds of writes alone before each purge
# The module's defaults unless told otherwise (BENCH_PURGE_OPTIONS='{"batch_size": 20000}').
PURGE_OPTIONS = json.loads(os.environ.get('BENCH_PURGE_OPTIONS', '{}'))


def load(postgres):
    postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % DATABASE)
    postgres.execute('CREATE DATABASE %s OWNER linkflow' % DATABASE)
    postgres.create_schema('linkflow', DATABASE)
    postgres.execute("""
        INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at)
        SELECT n %% 100, 'completed', now() - interval '200 days' + n * interval '1 second',
               now() - interval '199 days' + n * interval '1 second'
        FROM generate_series(1, %s) AS n""", DATABASE, (OLD,))
    postgres.execute("""
        INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at)
        SELECT n %% 100, 'completed', now() - interval '30 days' + n * interval '1 second',
               now() - interval '29 days' + n * interval '1 second'
        FROM generate_series(1, %s) AS n""", DATABASE, (ROWS - OLD,))
    postgres.execute('VACUUM ANALYZE workflow_executions', DATABASE)


class Writer(threading.Thread):
    """The application: one insert and one update per loop, each timed."""

    def __init__(self, postgres):
        super().__init__(daemon=True)
        self.connection = postgres.connect(DATABASE, 'linkflow', application_name='linkflow-engine')
        self.latencies = []
        self.marks = []
        self.running = True

    def run(self):
        random.seed(7)
        with self.connection.cursor() as cursor:
            while self.running:
                # Mostly recent executions; now and then an old one (a straggler being closed).
                row_id = random.randint(1, ROWS) if random.random() < 0.1 else random.randint(OLD + 1, ROWS)
                for statement, args in (
                        ("INSERT INTO workflow_executions (workflow_id, status) VALUES (%s, 'running')", (row_id % 100,)),
                        ("UPDATE workflow_executions SET payload = '{\"touched\": true}' WHERE id = %s", (row_id,))):
                    started = time.perf_counter()
                    cursor.execute(statement, args)
                    self.latencies.append((started, time.perf_counter() - started))
                time.sleep(0.002)

    def window(self, start, end):
        return [latency for started, latency in self.latencies if start <= started <= end]

    def stop(self):
        self.running = False
        self.join()
        self.connection.close()


def single_delete(postgres, state):
    command = ['psql', '-X', '-q', '-At', '-h', '127.0.0.1', '-p', str(state['port']), '-U', 'postgres', '-d', DATABASE, '-c',
               "DELETE FROM workflow_executions WHERE completed_at < now() - interval '90 days'"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={'PGPASSWORD': state['password'], 'PATH': '/usr/bin:/bin'})
    return time.perf_counter() - started, OLD


def module_purge(postgres, state):
    args = dict(login_host='127.0.0.1', port=state['port'], login_user='postgres', login_password=state['password'],
                db=DATABASE, table='workflow_executions', time_column='completed_at', older_than='90d', **PURGE_OPTIONS)
    seconds, result = run_module('pg_purge', args)
    assert result['complete'], result['summary']
    return seconds, result['deleted']


def measure(postgres, state, run):
    load(postgres)
    writer = Writer(postgres)
    writer.start()
    time.sleep(2)  # warm up
    time.sleep(BASELINE)
    baseline_end = time.perf_counter()
    seconds, deleted = run(postgres, state)
    end = time.perf_counter()
    writer.stop()
    baseline = writer.window(baseline_end - BASELINE, baseline_end)
    during = writer.window(end - seconds, end)
    return dict(seconds=seconds, deleted=deleted, rows_per_second=deleted / seconds,
                baseline_p99_ms=1000 * percentile(baseline, 0.99), during_p99_ms=1000 * percentile(during, 0.99),
                baseline_median_ms=1000 * median(baseline), during_median_ms=1000 * median(during),
                during_max_ms=1000 * max(during), writes_during=len(during))


def main():
    lab = lab_up()
    postgres = PostgreSQL(lab)
    state = lab.section('postgres')
    try:
        purge = measure(postgres, state, module_purge)
        delete = measure(postgres, state, single_delete)
    finally:
        postgres.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % DATABASE)
    throughput_ratio = purge['rows_per_second'] / delete['rows_per_second']
    p99_ratio = purge['during_p99_ms'] / purge['baseline_p99_ms']
    rows = [('`pg_purge` %s' % (json.dumps(PURGE_OPTIONS) if PURGE_OPTIONS else '(defaults)'), purge),
            ("seed: single `DELETE ... < now() - interval '90 days'`", delete)]
    markdown = '\n'.join([
        '### pg_purge: %d of %d rows, with a concurrent writer' % (OLD, ROWS),
        '',
        '| command | time | rows/s | writer p99 before | writer p99 during | writer max during |',
        '|---|---|---|---|---|---|',
    ] + ['| %s | %.1f s | %d | %.1f ms | %.1f ms | %.1f ms |' % (
        name, r['seconds'], r['rows_per_second'], r['baseline_p99_ms'], r['during_p99_ms'], r['during_max_ms']) for name, r in rows] + [
        '',
        'Throughput of pg_purge: %.0f%% of the single DELETE (target at least 50%%). '
        'Writer p99 during pg_purge: %.2fx its baseline (target at most 2x); during the single DELETE: %.2fx.' % (
            100 * throughput_ratio, p99_ratio, delete['during_p99_ms'] / delete['baseline_p99_ms']),
    ])
    write_results('pg_purge', {'options': PURGE_OPTIONS, 'purge': purge, 'delete': delete,
                               'throughput_ratio': throughput_ratio, 'p99_ratio': p99_ratio}, markdown)


if __name__ == '__main__':
    main()
