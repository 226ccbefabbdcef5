# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped playbooks, run as users run them: ansible-playbook with the lab's inventory."""

from __future__ import annotations

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
