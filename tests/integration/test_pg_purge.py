# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_purge against the lab's PostgreSQL, through ansible-playbook."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest


def fill(lab, database, old=1000, recent=50, old_other_status=20):
    lab.postgres.execute("""
        INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at)
        SELECT 1, 'completed', now() - interval '200 days', now() - interval '100 days' - n * interval '1 minute'
        FROM generate_series(1, %(old)s) AS n
        UNION ALL SELECT 2, 'failed', now() - interval '200 days', now() - interval '120 days' FROM generate_series(1, %(other)s)
        UNION ALL SELECT 3, 'completed', now() - interval '2 days', now() - interval '1 day' FROM generate_series(1, %(recent)s)
    """, database, {'old': old, 'recent': recent, 'other': old_other_status})


def counts(lab, database):
    rows = lab.postgres.execute("""SELECT workflow_id, count(*) FROM workflow_executions GROUP BY 1 ORDER BY 1""", database)
    return dict(rows)


def kill_processes_running(name):
    """SIGKILL every process whose command line mentions ``name`` (Ansible runs modules in a session of their own)."""
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if name.encode() in handle.read():
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError):
            continue


ARGS = {'table': 'workflow_executions', 'older_than': '90d', 'filters': {'status': 'completed'}, 'batch_size': 100, 'pause': 0}


def test_check_mode_counts_and_deletes_nothing(lab, run_module, pg_database):
    fill(lab, pg_database)
    result = run_module('pg_purge', dict(ARGS, db=pg_database), check=True)[0]
    assert result['changed'] is True
    assert result['matching'] == 1000 and result['deleted'] == 0
    assert result['actions'][0]['rows'] == 1000 and result['actions'][0]['done'] is False
    assert result['oldest'] < result['newest'] < result['cutoff']
    assert result['summary'] == 'would delete 1000 rows of public.workflow_executions older than 90d'
    assert counts(lab, pg_database) == {1: 1000, 2: 20, 3: 50}


def test_batches_delete_only_old_matching_rows_then_nothing_to_do(lab, run_module, pg_database):
    fill(lab, pg_database)
    result = run_module('pg_purge', dict(ARGS, db=pg_database))[0]
    assert result['changed'] is True
    # Batches of at most 100 rows (block ranges, so some hold fewer).
    assert result['deleted'] == 1000 and result['batches'] >= 10
    assert result['remaining'] == 0 and result['complete'] is True and result['stopped_by'] == 'done'
    assert counts(lab, pg_database) == {2: 20, 3: 50}
    assert result['summary'].startswith('deleted 1000 rows of public.workflow_executions older than 90d in %d batches (' % result['batches'])
    assert result['summary'].endswith('; 0 left')
    again = run_module('pg_purge', dict(ARGS, db=pg_database))[0]
    assert again['changed'] is False and again['actions'] == [] and again['deleted'] == 0


def test_caps_stop_the_run_and_a_rerun_finishes(lab, run_module, pg_database):
    fill(lab, pg_database)
    capped = run_module('pg_purge', dict(ARGS, db=pg_database, max_rows=250))[0]
    assert capped['deleted'] == 250 and capped['remaining'] == 750 and capped['stopped_by'] == 'max_rows'
    assert capped['summary'].endswith('750 left, stopped by max_rows: run again to continue')
    timed = run_module('pg_purge', dict(ARGS, db=pg_database, max_duration=0))[0]
    assert timed['deleted'] == 0 and timed['stopped_by'] == 'max_duration'
    rest = run_module('pg_purge', dict(ARGS, db=pg_database))[0]
    assert rest['deleted'] == 750 and rest['complete'] is True
    assert counts(lab, pg_database) == {2: 20, 3: 50}


def test_rows_locked_by_the_application_are_waited_for_briefly_then_skipped(lab, run_module, pg_sessions, pg_database):
    fill(lab, pg_database, old=300)
    application = pg_sessions.open(autocommit=False)
    with application.cursor() as cursor:
        cursor.execute("SELECT id FROM workflow_executions WHERE workflow_id = 1 ORDER BY id LIMIT 7 FOR UPDATE")
    result = run_module('pg_purge', dict(ARGS, db=pg_database, lock_timeout='1s'))[0]
    assert result['deleted'] == 293 and result['remaining'] == 7
    assert result['stopped_by'] == 'locked rows' and result['complete'] is False
    assert result['duration_seconds'] < 5
    application.rollback()
    rest = run_module('pg_purge', dict(ARGS, db=pg_database))[0]
    assert rest['deleted'] == 7 and rest['complete'] is True


def test_a_killed_run_keeps_its_batches_and_a_rerun_finishes(lab, ansible, run_module, pg_database, tmp_path):
    from conftest import BIN, REPO, MODULE_DEFAULTS
    import json
    fill(lab, pg_database)
    play = [{'hosts': 'localhost', 'gather_facts': False, 'module_defaults': MODULE_DEFAULTS,
             'tasks': [{'oncall.runbooks.pg_purge': dict(ARGS, db=pg_database, pause='500ms')}]}]
    playbook = tmp_path / 'purge.yml'
    playbook.write_text(json.dumps(play))
    process = subprocess.Popen([str(BIN / 'ansible-playbook'), '-i', str(lab.inventory), str(playbook)], cwd=str(REPO),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg')))
    deadline = time.monotonic() + 30
    while counts(lab, pg_database).get(1, 0) > 700 and time.monotonic() < deadline:
        time.sleep(0.2)
    kill_processes_running('AnsiballZ_pg_purge')
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    left = counts(lab, pg_database).get(1, 0)
    assert 0 < left <= 700, 'nothing was committed before the kill: %d left' % left
    rest = run_module('pg_purge', dict(ARGS, db=pg_database))[0]
    assert rest['deleted'] == left and rest['complete'] is True


@pytest.mark.parametrize('args, message', [
    ({'older_than': None}, 'missing required arguments: older_than'),
    ({'older_than': '90 days'}, "older_than: '90 days' is not a duration"),
    ({'filters': {'state': 'completed'}}, "filters.state: no column 'state' in the table"),
    ({'time_column': 'status'}, 'time_column: the column is of type text, not a timestamp or date'),
    ({'table': "workflow_executions'; DELETE FROM workflow_executions; --"}, "table: no table \"workflow_executions'; DELETE"),
    ({'batch_size': 0}, 'batch_size must be a whole number of at least 1, got 0'),
    ({'max_rows': -5}, 'max_rows must be a whole number of at least 1, got -5'),
    ({'pause': 'a bit'}, "pause: 'a bit' is not a duration"),
])
def test_bad_input_fails_before_touching_anything(lab, run_module, pg_database, args, message):
    fill(lab, pg_database, old=10)
    arguments = dict(ARGS, db=pg_database, **args)
    arguments = dict((key, value) for key, value in arguments.items() if value is not None)
    result = run_module('pg_purge', arguments)[0]
    assert result['failed'] is True
    assert result['msg'].startswith(message), result['msg']
    assert '\n' not in result['msg']
    assert counts(lab, pg_database) == {1: 10, 2: 20, 3: 50}
