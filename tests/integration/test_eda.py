# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert intake: ansible-rulebook with extensions/eda/rulebooks/alertmanager.yml receives Alertmanager's
webhook JSON (version 4, firing and resolved) on loopback and runs the runbooks against the lab."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
import yaml

from conftest import BIN, REPO

EDA = REPO / 'extensions' / 'eda'
RULEBOOK = EDA / 'rulebooks' / 'alertmanager.yml'
ROUTES = EDA / 'rulebooks' / 'vars' / 'alert_routes.yml'


def load_source():
    spec = importlib.util.spec_from_file_location('alertmanager_source', EDA / 'plugins' / 'event_source' / 'alertmanager.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def now_iso(offset=0):
    return time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(time.time() + offset))


def alert(name, status='firing', fingerprint=None, **labels):
    """One alert as Alertmanager's webhook sends it."""
    labels = dict({'alertname': name, 'instance': 'localhost', 'job': 'linkflow'}, **labels)
    return {
        'status': status,
        'labels': labels,
        'annotations': {'summary': '%s on linkflow' % name, 'description': 'test alert'},
        'startsAt': now_iso(-60),
        'endsAt': now_iso() if status == 'resolved' else '0001-01-01T00:00:00Z',
        'generatorURL': 'http://prometheus.example:9090/graph?g0.expr=up',
        'fingerprint': fingerprint or uuid.uuid4().hex[:16],
    }


def notification(*alerts):
    """Alertmanager's webhook payload (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)."""
    first = alerts[0]
    common = dict((key, value) for key, value in first['labels'].items()
                  if all(item['labels'].get(key) == value for item in alerts))
    return {
        'version': '4',
        'groupKey': '{}:{alertname="%s"}' % first['labels']['alertname'],
        'truncatedAlerts': 0,
        'status': 'firing' if any(item['status'] == 'firing' for item in alerts) else 'resolved',
        'receiver': 'oncall-runbooks',
        'groupLabels': {'alertname': first['labels']['alertname']},
        'commonLabels': common,
        'commonAnnotations': {},
        'externalURL': 'http://alertmanager.example:9093',
        'alerts': list(alerts),
    }


def post(port, payload, token=None, raw=None):
    request = urllib.request.Request('http://127.0.0.1:%d/alerts' % port, method='POST',
                                     data=raw if raw is not None else json.dumps(payload).encode(),
                                     headers=dict({'Content-Type': 'application/json'},
                                                  **({'Authorization': 'Bearer %s' % token} if token else {})))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- the source plugin on its own: a real HTTP server on loopback, the queue it fills ---

@pytest.mark.asyncio
async def test_the_source_puts_one_event_per_alert_and_refuses_bad_requests():
    source = load_source()
    queue = asyncio.Queue()
    port = free_port()
    server = asyncio.create_task(source.main(queue, {'host': '127.0.0.1', 'port': port, 'token': 's3cret'}))
    try:
        for dummy in range(50):
            try:
                status = (await asyncio.to_thread(post, port, {}, 's3cret'))[0]
                break
            except (ConnectionError, urllib.error.URLError):
                await asyncio.sleep(0.1)
        else:
            pytest.fail('the source did not listen on port %d' % port)
        assert status == 400 and queue.empty()

        firing = alert('RedisOutOfMemory', severity='critical')
        resolved = alert('RedisMemoryHigh', status='resolved')
        del resolved['fingerprint']
        payload = notification(firing, resolved)
        assert await asyncio.to_thread(post, port, payload, None) == (401, {'error': 'missing or wrong bearer token'})
        assert (await asyncio.to_thread(post, port, payload, 'wrong'))[0] == 401
        assert (await asyncio.to_thread(post, port, None, 's3cret', b'{not json'))[0] == 400
        assert queue.empty()

        assert await asyncio.to_thread(post, port, payload, 's3cret') == (200, {'queued': 2})
        first, second = queue.get_nowait(), queue.get_nowait()
        assert queue.empty()
        assert first['alert'] == firing
        assert first['alertmanager']['groupKey'] == payload['groupKey']
        assert first['alertmanager']['receiver'] == 'oncall-runbooks' and first['alertmanager']['version'] == '4'
        assert first['meta'] == {'endpoint': 'alerts'}
        assert second['alert']['status'] == 'resolved'
        # Made from the labels when missing: the same labels give the same fingerprint.
        assert second['alert']['fingerprint'] == source.fingerprint_of(resolved['labels'])
        assert re.fullmatch('[0-9a-f]{16}', second['alert']['fingerprint'])
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server


# --- the rulebook, through ansible-rulebook, against the lab ---

class Rulebook(object):
    """ansible-rulebook running alertmanager.yml in the background, its output in a file."""

    def __init__(self, lab, tmp_path, token):
        self.port = free_port()
        self.token = token
        self.store = tmp_path / 'incidents'
        self.reports = tmp_path / 'reports'
        # The lab's inventory plus the test's own store, report directory and short threshold.
        inventory = yaml.safe_load(lab.inventory.read_text())
        inventory['all']['vars'].update(incident_store_path=str(self.store), incident_report_dir=str(self.reports),
                                        postgres_idle_older_than='2s')
        self.inventory = tmp_path / 'inventory.yml'
        self.inventory.write_text(yaml.safe_dump(inventory))
        self.inventory.chmod(0o600)
        variables = yaml.safe_load(ROUTES.read_text())
        variables.update(alertmanager_port=self.port, alert_playbooks=str(REPO / 'playbooks'))
        self.vars = tmp_path / 'vars.yml'
        self.vars.write_text(yaml.safe_dump(variables))
        self.log_path = tmp_path / 'rulebook.log'
        environment = dict(os.environ, PATH='%s:%s' % (BIN, os.environ.get('PATH', '')), ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'),
                           ANSIBLE_NOCOLOR='1', ALERTMANAGER_TOKEN=token)
        with open(self.log_path, 'w') as log:
            self.process = subprocess.Popen(
                [str(BIN / 'ansible-rulebook'), '--rulebook', str(RULEBOOK), '-i', str(self.inventory), '--vars', str(self.vars),
                 '-E', 'ALERTMANAGER_TOKEN', '-v'],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(tmp_path), env=environment,
                start_new_session=True)
        self.wait_for(self.ready, 90, 'the rulebook to listen')

    def ready(self):
        try:
            return post(self.port, {}, self.token)[0] == 400
        except (ConnectionError, urllib.error.URLError):
            return False

    @property
    def log(self):
        return self.log_path.read_text(errors='replace')

    def wait_for(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            assert self.process.poll() is None, 'ansible-rulebook exited:\n%s' % self.log[-6000:]
            time.sleep(1)
        pytest.fail('timed out waiting for %s:\n%s' % (what, self.log[-6000:]))

    def send(self, *alerts):
        status, body = post(self.port, notification(*alerts), self.token)
        assert (status, body) == (200, {'queued': len(alerts)})

    def marker(self):
        """An alert with no runbook: its debug line shows that every earlier event has been handled
        (the ruleset handles events in order, one action at a time)."""
        item = alert('NoRunbookMarker')
        self.send(item)
        self.wait_for(lambda: 'no runbook for alert NoRunbookMarker (%s)' % item['fingerprint'] in self.log, 600, 'the marker')

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def rulebook(lab, tmp_path):
    running = Rulebook(lab, tmp_path, token=uuid.uuid4().hex)
    yield running
    running.stop()


def incidents(store):
    return [json.loads(path.read_text()) for path in sorted(store.glob('INC-*.json'))]


def pool_exhausted():
    from lab import scenarios
    from lab.core import Lab
    return scenarios.get(Lab(), 'pg-pool-exhausted').present()


def test_a_firing_pool_alert_runs_sev1_db_once_and_its_resolution_updates_the_incident(lab, rulebook, scenario):
    scenario('pg-pool-exhausted')
    assert pool_exhausted()
    time.sleep(3)  # the leaked sessions are idle for longer than postgres_idle_older_than (2s)
    record_path = rulebook.reports / 'sev1-db-localhost-run.json'

    # Firing, with Alertmanager's fingerprint and a critical severity: sev1-db runs, declares SEV1, frees the pool.
    firing = alert('PgConnectionPoolExhausted', severity='critical', service='linkflow-db')
    rulebook.send(firing)
    rulebook.wait_for(record_path.exists, 600, 'the sev1-db run record')
    record = json.loads(record_path.read_text())
    assert record['severity'] == 'SEV1'
    assert record['verified'] is True, record
    assert any(fix['fix'] == 'pg_idle_kill' and fix['changed'] for fix in record['fixes']), record['fixes']
    assert not pool_exhausted()
    [incident] = incidents(rulebook.store)
    assert incident['id'] == record['incident']
    assert incident['dedup_key'] == 'sev1-db/localhost'
    assert incident['title'] == 'PgConnectionPoolExhausted on linkflow'
    assert incident['severity'] == 'SEV1' and incident['status'] == 'resolved'
    assert rulebook.log.count('PLAY [SEV1 database') == 1

    # The same alert again (Alertmanager repeats firing alerts; a flapping one comes back) within the
    # window: throttled per fingerprint, sev1-db does not run again.
    record_written = record_path.stat().st_mtime_ns
    rulebook.send(dict(firing, startsAt=now_iso()))
    rulebook.marker()
    assert rulebook.log.count('PLAY [SEV1 database') == 1, rulebook.log[-4000:]
    assert record_path.stat().st_mtime_ns == record_written

    # Resolved: playbooks/alert.yml notes it in the incident (with the alert as evidence); no runbook runs.
    resolved = dict(firing, status='resolved', endsAt=now_iso())
    rulebook.send(resolved)
    note = 'alert PgConnectionPoolExhausted (%s) resolved at %s' % (firing['fingerprint'], resolved['endsAt'])

    def noted():
        return any(note in entry['summary'] for item in incidents(rulebook.store) for entry in item['timeline'])

    rulebook.wait_for(noted, 300, 'the note of the resolved alert')
    [incident] = incidents(rulebook.store)
    assert incident['status'] == 'resolved'
    assert [entry['summary'] for entry in incident['timeline'] if note in entry['summary']] == [
        note + '; sev1-db verified its fix']
    saved = [item for item in incident['evidence'] if item['name'] == 'alert-%s-resolved' % firing['fingerprint']]
    assert [item['data'] for item in saved] == [resolved]
    assert rulebook.log.count('PLAY [SEV1 database') == 1
    assert 'PLAY [Resolved alert' in rulebook.log
    # No secret of the lab or of the intake reaches the output.
    for secret in lab.secrets() + [rulebook.token]:
        assert secret not in rulebook.log


def declare(ansible, rulebook, dedup_key, title):
    """An open SEV2 incident in the intake's store, as a runbook run by hand would leave it."""
    declared = ansible([{'oncall.runbooks.incident': {
        'state': 'declared', 'dedup_key': dedup_key, 'title': title, 'severity': 'SEV2', 'store_path': str(rulebook.store)}}])
    assert declared.rc == 0, declared.stdout
    [incident] = incidents(rulebook.store)
    return incident


def test_a_resolved_alert_without_a_run_record_notes_the_open_incident_and_keeps_it_open(rulebook, ansible):
    """The runbook was run by hand and could not verify (or is still running): the incident is found by its dedup key."""
    incident = declare(ansible, rulebook, 'sev2-redis/localhost', 'Redis full')

    resolved = alert('RedisOutOfMemory', status='resolved', severity='warning')
    rulebook.send(resolved)
    note = 'alert RedisOutOfMemory (%s) resolved at %s; no run record of sev2-redis: a human confirms' % (
        resolved['fingerprint'], resolved['endsAt'])
    rulebook.wait_for(lambda: any(note == entry['summary'] for entry in incidents(rulebook.store)[0]['timeline']), 300, 'the note')
    [after] = incidents(rulebook.store)
    assert after['id'] == incident['id']
    assert after['status'] == 'monitoring'
    assert 'PLAY [SEV2 Redis' not in rulebook.log


def test_a_resolved_alert_resolves_the_incident_that_its_runbook_verified(rulebook, ansible):
    """A run record written after the alert started names the incident; verified and still open: resolved."""
    incident = declare(ansible, rulebook, 'sev2-api/localhost', 'API 5xx')
    resolved = alert('GatewayHigh502Rate', status='resolved', severity='critical')
    rulebook.reports.mkdir()
    (rulebook.reports / 'sev2-api-localhost-run.json').write_text(json.dumps(
        {'runbook': 'sev2-api', 'host': 'localhost', 'mode': 'run', 'incident': incident['id'], 'verified': True,
         'finished_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}))
    rulebook.send(resolved)
    rulebook.wait_for(lambda: incidents(rulebook.store)[0]['status'] == 'resolved', 300, 'the incident to be resolved')
    [after] = incidents(rulebook.store)
    assert after['resolution'] == 'the alert resolved after sev2-api verified its fix'
    assert any(entry['summary'].endswith('; sev2-api verified its fix') for entry in after['timeline'])
    assert 'PLAY [SEV2 API' not in rulebook.log


def test_the_awx_rulebook_needs_a_controller_even_for_rules_that_never_fire(lab, tmp_path):
    """Why the AWX mode is a rulebook of its own: ansible-rulebook refuses run_job_template without a controller."""
    process = subprocess.run(
        [str(BIN / 'ansible-rulebook'), '--rulebook', str(EDA / 'rulebooks' / 'alertmanager-awx.yml'), '-i', str(lab.inventory),
         '--vars', str(ROUTES)], capture_output=True, check=False, text=True, timeout=120, cwd=str(tmp_path), stdin=subprocess.DEVNULL,
        env=dict(os.environ, PATH='%s:%s' % (BIN, os.environ.get('PATH', '')), ANSIBLE_CONFIG=str(REPO / 'ansible.cfg')))
    assert process.returncode != 0
    assert 'needs controller url and token to be defined' in process.stdout + process.stderr
