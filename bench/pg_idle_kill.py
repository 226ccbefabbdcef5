"""pg_idle_kill against 1,000 idle sessions, side by side with the seed's single psql command.

The seed: psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle' AND ..."
Both are timed from start until the command returns, and until every targeted backend has
exited (the moment the application can connect again). Target: the module at most 1.5x psql.
"""

from __future__ import annotations

import os
import subprocess
import time

import psycopg2

from common import PostgreSQL, lab_up, median, more_file_descriptors, run_module, write_results

SESSIONS = 1000
ROUNDS = 3
APPLICATION = 'bench-idle'


def open_idle_sessions(postgres, count):
    sessions = []
    for number in range(count):
        connection = postgres.connect('linkflow', 'linkflow', application_name=APPLICATION)
        with connection.cursor() as cursor:
            cursor.execute('SELECT 1')
        sessions.append(connection)
    return sessions


def remaining(postgres):
    return postgres.execute('SELECT count(*) FROM pg_stat_activity WHERE application_name = %s', args=(APPLICATION,))[0][0]


def wait_until_gone(postgres, started):
    while remaining(postgres):
        time.sleep(0.005)
    return time.perf_counter() - started


def close_all(sessions):
    for connection in sessions:
        try:
            connection.close()
        except psycopg2.Error:
            pass


def psql_round(postgres, state):
    env = dict(os.environ, PGPASSWORD=state['password'])
    command = ['psql', '-X', '-q', '-At', '-h', '127.0.0.1', '-p', str(state['port']), '-U', 'postgres', '-d', 'linkflow', '-c',
               "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE state = 'idle' "
               "AND application_name = '%s' AND state_change < now() - interval '0 seconds'" % APPLICATION]
    started = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout.strip()
    returned = time.perf_counter() - started
    return returned, wait_until_gone(postgres, started), int(output)


def module_round(postgres, state):
    args = dict(login_host='127.0.0.1', port=state['port'], login_user='postgres', login_password=state['password'],
                db='linkflow', applications=[APPLICATION], older_than=0, max_sessions=SESSIONS)
    started = time.perf_counter()
    returned, result = run_module('pg_idle_kill', args)
    return returned, wait_until_gone(postgres, started), result['terminated']


def main():
    more_file_descriptors()
    lab = lab_up()
    postgres = PostgreSQL(lab)
    postgres.set_max_connections(SESSIONS + 100)
    timings = {'psql': [], 'pg_idle_kill': []}
    try:
        for round_number in range(ROUNDS):
            for name, run in (('psql', psql_round), ('pg_idle_kill', module_round)):
                sessions = open_idle_sessions(postgres, SESSIONS)
                time.sleep(0.5)
                returned, freed, count = run(postgres, lab.section('postgres'))
                assert count == SESSIONS, '%s terminated %d of %d' % (name, count, SESSIONS)
                timings[name].append({'returned': returned, 'freed': freed})
                close_all(sessions)
    finally:
        postgres.set_max_connections(None)

    summary = dict((name, {'returned_median_s': median([t['returned'] for t in runs]),
                           'freed_median_s': median([t['freed'] for t in runs])}) for name, runs in timings.items())
    ratio_returned = summary['pg_idle_kill']['returned_median_s'] / summary['psql']['returned_median_s']
    ratio_freed = summary['pg_idle_kill']['freed_median_s'] / summary['psql']['freed_median_s']
    markdown = '\n'.join([
        '### pg_idle_kill: %d idle sessions, median of %d rounds' % (SESSIONS, ROUNDS),
        '',
        '| command | returns after | all %d backends gone after |' % SESSIONS,
        '|---|---|---|',
        '| seed: `psql -c "SELECT pg_terminate_backend(pid) ..."` | %.3f s | %.3f s |' % (
            summary['psql']['returned_median_s'], summary['psql']['freed_median_s']),
        '| `pg_idle_kill` (one module process, no Ansible controller) | %.3f s | %.3f s |' % (
            summary['pg_idle_kill']['returned_median_s'], summary['pg_idle_kill']['freed_median_s']),
        '| ratio (target at most 1.5x) | %.2fx | %.2fx |' % (ratio_returned, ratio_freed),
    ])
    write_results('pg_idle_kill', {'sessions': SESSIONS, 'rounds': timings, 'summary': summary,
                                   'ratio_returned': ratio_returned, 'ratio_freed': ratio_freed}, markdown)


if __name__ == '__main__':
    main()
