# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/sev2-redis.yml, run as users run it: ansible-playbook with the lab's inventory."""

from __future__ import annotations

import time

from conftest import REPO, run_playbook

KILL_TASK = 'End the idle clients'


def killed_ids(run):
    """Ids of the clients the playbook's fix task planned (check mode) or ended."""
    entries = [entry for entry in run.results if entry['task'].endswith(KILL_TASK) and entry['status'] != 'skipped']
    assert len(entries) == 1, run.stdout
    return sorted(action['id'] for action in entries[0]['result']['actions']), entries[0]['result']['actions']


def test_sev2_redis_check_mode_plans_exactly_the_clients_it_then_ends(lab, tmp_path, scenario):
    leak = scenario('redis-idle-clients')
    time.sleep(3)
    playbook = REPO / 'playbooks' / 'sev2-redis.yml'
    extra = {'redis_idle_longer_than': '2s', 'redis_idle_clients_threshold': 20, 'redis_client_names': ['linkflow-worker'],
             # A store of the test's own: the circuit breaker must not count earlier runs' fixes.
             'incident_store_path': str(tmp_path / 'incidents'), 'incident_report_dir': str(tmp_path / 'reports')}

    checked = run_playbook(lab, playbook, tmp_path, check=True, diff=True, extra_vars=extra)
    assert checked.rc == 0, checked.stdout
    planned, actions = killed_ids(checked)
    assert len(planned) == 30 and not any(action['done'] for action in actions)
    assert leak.present(), 'check mode ended clients'

    real = run_playbook(lab, playbook, tmp_path, extra_vars=extra)
    assert real.rc == 0, real.stdout
    ended, actions = killed_ids(real)
    assert ended == planned
    assert all(action['done'] for action in actions)
    assert not leak.present()
    assert not any(secret in real.stdout + checked.stdout for secret in lab.secrets())
