# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped playbooks, run as users run them: ansible-playbook with the lab's inventory."""

from __future__ import annotations

import json
import re
import time
import uuid

from conftest import REPO, run_playbook
from pgbouncer_helpers import SPARE_DATABASE, keep_pgbouncer_running, paused  # noqa: F401 pylint: disable=unused-import

pytest_plugins = ('notify_receivers',)

SEV1_DB = REPO / 'playbooks' / 'sev1-db.yml'


def role_result(run, task):
    """The last result of a task, also of a role's task (the callback names those "<role> : <task>")."""
    matching = [entry['result'] for entry in run.results if entry['task'] == task or entry['task'].endswith(' : ' + task)]
    assert matching, 'no result for task %r in:\n%s%s' % (task, run.stdout, run.stderr)
    return matching[-1]


def test_triage_reports_a_healthy_database(lab, tmp_path):
    run = run_playbook(lab, REPO / 'playbooks' / 'triage.yml', tmp_path)
    assert run.rc == 0, run.stdout
    activity = role_result(run, 'Inspect PostgreSQL connections and sessions')
    assert activity['status'] in ('ok', 'warn')
    assert re.search(r'%s\s+postgres\s+connections' % activity['findings'][0]['status'].upper(), run.stdout), run.stdout


def test_triage_sees_the_exhausted_pool_in_check_mode_too(lab, tmp_path, scenario):
    scenario('pg-pool-exhausted')
    checked = run_playbook(lab, REPO / 'playbooks' / 'triage.yml', tmp_path, check=True, diff=True)
    real = run_playbook(lab, REPO / 'playbooks' / 'triage.yml', tmp_path)
    for run in (checked, real):
        assert run.rc == 0, run.stdout
        activity = role_result(run, 'Inspect PostgreSQL connections and sessions')
        assert activity['status'] == 'critical'
        assert activity['connections']['free_for_non_superusers'] == 0
        assert re.search(r'CRITICAL\s+postgres\s+connections', run.stdout), run.stdout
        assert 'changed=0' in run.stdout


def pool_exhausted():
    from lab import scenarios
    from lab.core import Lab
    return scenarios.get(Lab(), 'pg-pool-exhausted').present()


def sev1_db_vars(tmp_path, **more):
    """The lab's fresh leak qualifies after 2s; a store and a report directory of the test's own
    (the fix circuit breaker counts every earlier run of the shared store)."""
    extra = {'postgres_idle_older_than': '2s', 'incident_store_path': str(tmp_path / 'incidents'),
             'incident_report_dir': str(tmp_path / 'reports')}
    extra.update(more)
    return extra


def run_record(tmp_path, mode):
    return json.loads((tmp_path / 'reports' / ('sev1-db-localhost-%s.json' % mode)).read_text())


def idle_kill(record):
    fixes = [fix for fix in record['fixes'] if (fix['component'], fix['fix']) == ('postgres', 'pg_idle_kill')]
    assert len(fixes) == 1, record['fixes']
    return fixes[0]


def test_sev1_db_plans_exactly_in_check_mode_then_frees_the_pool(lab, tmp_path, scenario):
    scenario('pg-pool-exhausted')
    time.sleep(3)
    extra = sev1_db_vars(tmp_path)

    checked = run_playbook(lab, SEV1_DB, tmp_path, check=True, diff=True, extra_vars=extra)
    assert checked.rc == 0, checked.stdout
    record = run_record(tmp_path, 'check')
    assert record['mode'] == 'check' and record['incident'] == ''
    assert any(finding['check'] == 'connections' and finding['status'] == 'critical' for finding in record['findings'])
    plan = idle_kill(record)
    assert plan['decision'] == 'planned (check mode)'
    planned = sorted(action['pid'] for action in plan['actions'])
    assert len(planned) >= 40
    assert not any(action['done'] for action in plan['actions'])
    assert pool_exhausted(), 'check mode freed the pool'
    # Nothing was fixed in check mode, so nothing is verified (the verification is skipped).
    assert record['verification'] == [] and not record['verified']

    real = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=extra)
    assert real.rc == 0, real.stdout
    record = run_record(tmp_path, 'run')
    freed = idle_kill(record)
    assert freed['decision'] == 'run'
    assert sorted(action['pid'] for action in freed['actions']) == planned
    assert all(action['done'] for action in freed['actions'])
    assert not pool_exhausted()
    assert role_result(real, 'Check that the application role can connect')['connections']['free_for_non_superusers'] > 0
    assert record['verified'] and record['incident']
    assert 'resolved: verified' in real.stdout
    # The API restart is the last resort: the application connected, so it was not even guarded.
    assert [fix['fix'] for fix in record['fixes']] == ['pg_idle_kill']
    assert (tmp_path / 'reports' / ('%s.md' % record['incident'])).exists()

    again = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=extra)
    assert again.rc == 0, again.stdout
    assert 'changed=0' in again.stdout
    record = run_record(tmp_path, 'run')
    assert record['fixes'] == [] and record['incident'] == ''


def test_sev1_db_leaks_no_secret_even_at_vvv(lab, tmp_path, scenario, http_receiver):
    """Every connection option of the run holds a secret (the lab's passwords: PostgreSQL's superuser,
    the application role, PgBouncer's admin; a webhook whose URL and header carry tokens): none may
    appear in the output, the incident store or the reports."""
    hook = http_receiver()
    path_token, header_token = 'hook-path-%s' % uuid.uuid4().hex, 'hook-header-%s' % uuid.uuid4().hex
    channels = [{'type': 'webhook', 'name': 'incidents-hook', 'url': '%s/hooks/%s' % (hook.url, path_token),
                 'headers': {'Authorization': 'Bearer %s' % header_token}, 'retries': 0, 'timeout': 5}]
    scenario('pg-pool-exhausted')
    time.sleep(3)
    extra = sev1_db_vars(tmp_path, incident_channels=channels)

    runs = [run_playbook(lab, SEV1_DB, tmp_path, check=True, diff=True, extra_vars=extra, verbosity=3),
            run_playbook(lab, SEV1_DB, tmp_path, extra_vars=extra, verbosity=3)]
    for run in runs:
        assert run.rc == 0, run.stdout[-3000:]
    assert not pool_exhausted()
    record = run_record(tmp_path, 'run')
    assert record['verified']
    # The channel was really used: the initial and the resolution notices, with the token in the URL.
    assert [request['path'] for request in hook.requests] == ['/hooks/%s' % path_token] * 2
    assert all(request['headers'].get('Authorization') == 'Bearer %s' % header_token for request in hook.requests)

    secrets = lab.secrets() + [path_token, header_token]
    assert lab.vars['postgres_app_password'] in secrets and lab.vars['pgbouncer_login_password'] in secrets
    written = [path for path in (tmp_path / 'incidents').rglob('*') if path.is_file()]
    written += [path for path in (tmp_path / 'reports').rglob('*') if path.is_file()]
    assert any(path.suffix == '.json' for path in (tmp_path / 'incidents').iterdir())
    assert any(path.name == '%s.md' % record['incident'] for path in written)
    places = [('stdout of %s' % name, run.stdout + run.stderr) for name, run in zip(('check', 'run'), runs)]
    places += [(str(path), path.read_text(errors='replace')) for path in written]
    for where, text in places:
        for secret in secrets:
            assert secret not in text, 'a secret (%s...) appears in %s' % (secret[:4], where)


def test_sev1_db_only_plans_the_fix_until_it_is_approved(lab, tmp_path, scenario):
    """SEV3's remediation is `approve`: without approval the fix shows its exact plan and runs nothing;
    with incident_approved_fixes=[all] (an AWX approval node) it runs."""
    scenario('pg-pool-exhausted')
    time.sleep(3)
    extra = sev1_db_vars(tmp_path, sev1_db_severity='SEV3', incident_prompt_for_approval=False)

    refused = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=extra)
    assert refused.rc == 0, refused.stdout
    record = run_record(tmp_path, 'run')
    assert record['severity'] == 'SEV3'
    plan = idle_kill(record)
    assert plan['decision'].startswith('not run'), plan['decision']
    assert len(plan['actions']) >= 40 and not any(action['done'] for action in plan['actions'])
    assert pool_exhausted(), 'the fix ran without approval'
    assert not record['verified'] and 'still open' in refused.stdout
    # The application still cannot connect, so the last resort comes up: the API restart, refused too.
    restarts = [fix for fix in record['fixes'] if fix['fix'] == 'docker_service_restart']
    assert [fix['target'] for fix in restarts] == ['linkflow: api']
    assert all(fix['decision'].startswith('not run') for fix in restarts)
    assert not any(action['done'] for fix in restarts for action in fix['actions'])

    approved = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=dict(extra, incident_approved_fixes=['all']))
    assert approved.rc == 0, approved.stdout
    record = run_record(tmp_path, 'run')
    fix = idle_kill(record)
    assert fix['decision'] == 'run'
    assert fix['actions'] and all(action['done'] for action in fix['actions'])
    assert not pool_exhausted()
    assert record['verified']


def test_sev1_db_stops_stuck_queries_vacuums_and_resumes_pgbouncer(lab, tmp_path, scenario, keep_pgbouncer_running):
    """The other database fixes, each decided from its own finding: the root of a lock chain, a stuck
    query, a transaction left idle, a bloated table, and a database left paused in PgBouncer."""
    from lab import scenarios
    from lab.core import Lab
    names = ['pg-blocking-lock', 'pg-long-query', 'pg-idle-in-transaction', 'pg-bloat']
    for name in names:
        scenario(name)
    console = lab.pgbouncer.connect()
    try:
        with console.cursor() as cursor:
            cursor.execute('PAUSE %s' % SPARE_DATABASE)
    finally:
        console.close()
    time.sleep(3)
    extra = sev1_db_vars(tmp_path, postgres_long_query_threshold='2s', postgres_idle_in_transaction_older_than='2s',
                         postgres_blocked_longer_than='1s', postgres_query_kill_grace='2s')

    def present():
        return [name for name in names if scenarios.get(Lab(), name).present()]

    checked = run_playbook(lab, SEV1_DB, tmp_path, check=True, extra_vars=extra)
    assert checked.rc == 0, checked.stdout
    assert present() == names and SPARE_DATABASE in paused(lab), 'check mode changed something'
    record = run_record(tmp_path, 'check')
    planned = {(fix['component'], fix['fix'], fix['target'].split(' on ')[0]): fix for fix in record['fixes']}
    assert set(planned) == {('postgres', 'pg_query_kill', 'lock-chain roots'), ('postgres', 'pg_query_kill', 'queries longer than 2s'),
                            ('postgres', 'pg_idle_kill', 'sessions idle in a transaction of linkflow'),
                            ('postgres', 'pg_vacuum', 'bloated tables of linkflow'),
                            ('pgbouncer', 'pgbouncer_command', 'RESUME of database %s' % SPARE_DATABASE)}, record['fixes']
    assert [action['target'] for action in planned[('postgres', 'pg_vacuum', 'bloated tables of linkflow')]['actions']] == \
        ['public.workflow_executions']

    real = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=extra)
    assert real.rc == 0, real.stdout
    assert present() == [] and SPARE_DATABASE not in paused(lab)
    record = run_record(tmp_path, 'run')
    assert record['verified'], record['verification']
    assert all(fix['decision'] == 'run' for fix in record['fixes'])

    again = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=extra)
    assert again.rc == 0, again.stdout
    assert 'changed=0' in again.stdout


def test_sev1_db_purges_old_rows_only_when_asked_and_the_disk_is_critical(lab, tmp_path, scenario):
    """The seed's emergency DELETE of old executions is opt-in (postgres_purge_tables) and runs only when
    the disk finding is critical (here: a threshold of 1%); it deletes what the filters name, nothing newer."""
    scenario('pg-bloat')
    count = """SELECT count(*) FILTER (WHERE completed_at < now() - interval '90 days' AND status = 'completed'),
                      count(*) FILTER (WHERE completed_at < now() - interval '90 days' AND status <> 'completed'),
                      count(*) FILTER (WHERE completed_at >= now() - interval '90 days')
               FROM workflow_executions"""
    old, old_other, recent = lab.postgres.execute(count, 'linkflow')[0]
    assert old > 100000 and old_other > 0 and recent > 0
    purge = [{'table': 'workflow_executions', 'column': 'completed_at', 'older_than': '90d', 'filters': {'status': 'completed'}}]
    full_disk = sev1_db_vars(tmp_path, postgres_disk_critical=1, postgres_disk_warn=1, postgres_vacuum=False)

    not_asked = run_playbook(lab, SEV1_DB, tmp_path, check=True, extra_vars=full_disk)
    assert not_asked.rc == 0, not_asked.stdout
    assert not [fix for fix in run_record(tmp_path, 'check')['fixes'] if fix['fix'] == 'pg_purge']
    disk_fine = run_playbook(lab, SEV1_DB, tmp_path, check=True, extra_vars=sev1_db_vars(tmp_path, postgres_purge_tables=purge))
    assert disk_fine.rc == 0, disk_fine.stdout
    assert not [fix for fix in run_record(tmp_path, 'check')['fixes'] if fix['fix'] == 'pg_purge']

    asked = dict(full_disk, postgres_purge_tables=purge)
    checked = run_playbook(lab, SEV1_DB, tmp_path, check=True, extra_vars=asked)
    assert checked.rc == 0, checked.stdout
    plan = [fix for fix in run_record(tmp_path, 'check')['fixes'] if fix['fix'] == 'pg_purge']
    assert len(plan) == 1 and plan[0]['actions'][0]['rows'] == old and not plan[0]['actions'][0]['done']
    assert lab.postgres.execute(count, 'linkflow')[0] == (old, old_other, recent)

    real = run_playbook(lab, SEV1_DB, tmp_path, extra_vars=asked)
    assert real.rc == 0, real.stdout
    done = [fix for fix in run_record(tmp_path, 'run')['fixes'] if fix['fix'] == 'pg_purge']
    assert len(done) == 1 and done[0]['decision'] == 'run' and done[0]['actions'][0]['done']
    assert lab.postgres.execute(count, 'linkflow')[0] == (0, old_other, recent)
