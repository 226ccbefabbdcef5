# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped playbooks, run as users run them: ansible-playbook with the lab's inventory."""

from __future__ import annotations

import time

from conftest import REPO, run_playbook


def test_triage_reports_a_healthy_database(lab, tmp_path):
    run = run_playbook(lab, REPO / 'playbooks' / 'triage.yml', tmp_path)
    assert run.rc == 0, run.stdout
    activity = run.result('Inspect PostgreSQL connections and sessions')
    assert activity['status'] in ('ok', 'warn')
    assert 'PostgreSQL: %s' % activity['status'].upper() in run.stdout


def test_triage_sees_the_exhausted_pool_in_check_mode_too(lab, tmp_path, scenario):
    scenario('pg-pool-exhausted')
    checked = run_playbook(lab, REPO / 'playbooks' / 'triage.yml', tmp_path, check=True, diff=True)
    real = run_playbook(lab, REPO / 'playbooks' / 'triage.yml', tmp_path)
    for run in (checked, real):
        assert run.rc == 0, run.stdout
        activity = run.result('Inspect PostgreSQL connections and sessions')
        assert activity['status'] == 'critical'
        assert activity['connections']['free_for_non_superusers'] == 0
        assert 'PostgreSQL: CRITICAL' in run.stdout
        assert 'changed=0' in run.stdout


def test_sev1_db_plans_exactly_in_check_mode_then_frees_the_pool(lab, tmp_path, scenario):
    from lab import scenarios
    from lab.core import Lab
    scenario('pg-pool-exhausted')
    time.sleep(3)
    playbook = REPO / 'playbooks' / 'sev1-db.yml'
    extra = {'sev1_db_idle_older_than': '2s'}

    checked = run_playbook(lab, playbook, tmp_path, check=True, diff=True, extra_vars=extra)
    assert checked.rc == 0, checked.stdout
    planned = sorted(action['pid'] for action in checked.result("Free the pool - terminate the application's idle sessions")['actions'])
    assert len(planned) >= 40
    assert scenarios.get(Lab(), 'pg-pool-exhausted').present(), 'check mode freed the pool'
    assert checked.entry('Verify - the application role can connect again')['status'] == 'skipped'

    real = run_playbook(lab, playbook, tmp_path, extra_vars=extra)
    assert real.rc == 0, real.stdout
    freed = real.result("Free the pool - terminate the application's idle sessions")
    assert sorted(action['pid'] for action in freed['actions']) == planned
    assert all(action['done'] for action in freed['actions'])
    assert not scenarios.get(Lab(), 'pg-pool-exhausted').present()
    assert real.result('Verify - the application role can connect again')['connections']['free_for_non_superusers'] > 0

    again = run_playbook(lab, playbook, tmp_path, extra_vars=extra)
    assert again.rc == 0
    assert 'changed=0' in again.stdout
