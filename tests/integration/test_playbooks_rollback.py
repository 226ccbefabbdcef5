# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rollback.yml with rollback_target=restore, against the lab's PostgreSQL, run on the host.

A restore replaces a database's contents: without rollback_restore_confirm equal to the
database's name the runbook fails in one line before it touches anything; with it, check mode
plans the restore and changes nothing, and the real run restores the backup and verifies it.
"""

from __future__ import annotations

import json
import os
import subprocess

from conftest import REPO, run_playbook

PLAYBOOK = REPO / 'playbooks' / 'rollback.yml'
ROLE = 'oncall.runbooks.rollback : '


def value_in(lab, database):
    connection = lab.postgres.connect(database, 'linkflow')
    try:
        with connection.cursor() as cursor:
            cursor.execute('SELECT v FROM rollback_probe')
            return cursor.fetchone()[0]
    finally:
        connection.close()


def set_value(lab, database, value):
    connection = lab.postgres.connect(database, 'linkflow')
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute('CREATE TABLE IF NOT EXISTS rollback_probe (v text)')
            cursor.execute('DELETE FROM rollback_probe')
            cursor.execute('INSERT INTO rollback_probe VALUES (%s)', (value,))
    finally:
        connection.close()


def backup(lab, database, path):
    """pg_dump -Fc of the database as the application role, as the seed's /backups/latest.dump."""
    env = dict(os.environ, PGPASSWORD=lab.vars['postgres_apps']['linkflow']['password'])
    subprocess.run(['pg_dump', '-Fc', '-h', '127.0.0.1', '-p', str(lab.vars['postgres_port']), '-U', 'linkflow',
                    '-f', str(path), database], check=True, env=env, capture_output=True, timeout=60)


def record(lab, mode):
    """The run record that the incident role wrote: what was found, planned or done, and verified."""
    path = os.path.join(lab.vars['incident_report_dir'], 'rollback-localhost-%s.json' % mode)
    with open(path) as handle:
        return json.load(handle)


def test_restore_needs_the_confirmation_then_restores_exactly_what_check_mode_planned(lab, tmp_path, pg_database):
    set_value(lab, pg_database, 'before the bad release')
    dump = tmp_path / 'latest.dump'
    backup(lab, pg_database, dump)
    set_value(lab, pg_database, 'written by the bad release')
    extra = {
        'rollback_target': 'restore',
        'rollback_exec_via': 'host',
        'rollback_database': pg_database,
        'rollback_backup_file': str(dump),
        'rollback_database_password': '{{ postgres_app_password }}',
    }

    # Without the confirmation (or with the wrong one): one line naming the variable, nothing touched.
    for confirm in ('', 'linkflow'):
        refused = run_playbook(lab, PLAYBOOK, tmp_path, extra_vars=dict(extra, rollback_restore_confirm=confirm))
        assert refused.rc != 0, refused.stdout
        failed = [entry for entry in refused.results if entry['status'] == 'failed']
        assert [entry['task'] for entry in failed] == [ROLE + 'Check rollback_restore_confirm'], refused.stdout
        message = failed[0]['result']['msg']
        assert '\n' not in message
        assert message.startswith("rollback_restore_confirm must equal '%s'" % pg_database), message
        assert 'nothing was touched' in message
        ran = [entry['task'] for entry in refused.results if entry['status'] in ('ok', 'changed')]
        assert not [task for task in ran if 'Read the state' in task or 'rollback command' in task
                    or task == 'Declare or join the incident'], ran
        assert not [entry for entry in refused.results if entry['result'].get('changed')], refused.stdout
        assert 'changed=0' in refused.stdout
        assert value_in(lab, pg_database) == 'written by the bad release'

    extra['rollback_restore_confirm'] = pg_database

    # Check mode: reads the backup's listing, plans the restore on this database, restores nothing.
    checked = run_playbook(lab, PLAYBOOK, tmp_path, check=True, extra_vars=extra)
    assert checked.rc == 0, checked.stdout
    assert checked.result(ROLE + 'Read the state on the host')['rc'] == 0
    assert checked.entry(ROLE + 'Run the rollback command on the host')['status'] == 'skipped'
    planned = record(lab, 'check')['fixes']
    assert [(fix['fix'], fix['actions'][0]['target'], fix['actions'][0]['done']) for fix in planned] == [
        ('pg_restore', '%s on localhost' % pg_database, False)]
    assert value_in(lab, pg_database) == 'written by the bad release'

    # The real run restores the backup and proves that the database answers.
    real = run_playbook(lab, PLAYBOOK, tmp_path, extra_vars=extra)
    assert real.rc == 0, real.stdout
    restored = real.result(ROLE + 'Run the rollback command on the host')
    assert restored['rc'] == 0 and restored['changed']
    done = record(lab, 'run')
    assert [(fix['fix'], fix['actions'][0]['target'], fix['actions'][0]['done'], fix['changed']) for fix in done['fixes']] == [
        ('pg_restore', '%s on localhost' % pg_database, True, True)]
    assert done['verified']
    assert value_in(lab, pg_database) == 'before the bad release'
    assert 'resolved: verified' in real.stdout
    for run in (checked, real):
        assert not [secret for secret in lab.secrets() if secret in run.stdout]
