# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident_notify through ansible-playbook, against local receivers that stand in for each service."""

from __future__ import annotations

import email
import email.policy
import json

# The receivers' fixtures (http_receiver, smtp_receiver).
pytest_plugins = ('notify_receivers',)

INCIDENT = dict(id='INC-20261122-0042', title='Checkout API returns 502', severity='P1', status='investigating',
                impact='all checkouts fail', lead='alice', services=['checkout-api'], started_at='2026-11-22T03:00:00Z')
ROUTING_KEY = 'R0uting0Key0Secret0000000000000a'
API_KEY = 'eb243592-faa2-4ba2-a551-1afdf565c889'
SLACK_PATH = '/services/T0SECRET/B0SECRET/XyZsEcReTtOkEn'
TEAMS_PATH = '/webhookb2/teams-secret-path-0001'
HOOK_TOKEN = 'Bearer hook-token-secret-0002'
SMTP_PASSWORD = 'smtp-pass-secret-0003'
SECRETS = (ROUTING_KEY, API_KEY, SLACK_PATH, 'XyZsEcReTtOkEn', TEAMS_PATH, HOOK_TOKEN, 'hook-token-secret-0002', SMTP_PASSWORD)
NO_DEFAULTS = {}


def fast(**channel):
    """A channel with short timeouts so that failures are quick."""
    channel.setdefault('timeout', 5)
    channel.setdefault('retry_delay', 0.2)
    return channel


def notify(ansible, args, check=False, verbosity=0):
    task = {'name': 'notify', 'oncall.runbooks.incident_notify': args, 'ignore_errors': True}
    outcome = ansible([task], check=check, verbosity=verbosity, module_defaults=NO_DEFAULTS)
    return outcome.result('notify'), outcome


def by_name(result):
    return dict((item['name'], item) for item in result['results'])


def assert_no_secret(outcome):
    text = outcome.stdout + outcome.stderr
    for secret in SECRETS:
        assert secret not in text, 'secret %r in output' % secret


def test_every_channel_gets_its_documented_format(ansible, http_receiver, smtp_receiver):
    slack, pagerduty, opsgenie, teams, hook = (http_receiver(status=200), http_receiver(), http_receiver(), http_receiver(status=200),
                                               http_receiver(status=204))
    result, outcome = notify(ansible, dict(incident=INCIDENT, template='initial', channels=[
        fast(type='slack', url=slack.url + SLACK_PATH),
        fast(type='pagerduty', routing_key=ROUTING_KEY, url=pagerduty.url + '/v2/enqueue'),
        fast(type='opsgenie', api_key=API_KEY, url=opsgenie.url),
        fast(type='teams', url=teams.url + TEAMS_PATH),
        fast(type='webhook', url=hook.url + '/hook', headers={'Authorization': HOOK_TOKEN}),
        fast(type='email', host='127.0.0.1', port=smtp_receiver.port, user='incidents', password=SMTP_PASSWORD,
             **{'from': 'incidents@example.com', 'to': ['oncall@example.com', 'dba@example.com']}),
    ]), verbosity=3)
    assert not result.get('failed'), outcome.stdout + outcome.stderr
    assert result['changed'] and result['sent'] == 6 and result['failed_channels'] == 0
    assert result['template'] == 'initial'
    title = '\U0001F6A8 INCIDENT: checkout-api - Checkout API returns 502'
    assert result['title'] == title
    assert result['message'].split('\n')[2:6] == ['Severity: SEV1', 'Impact: all checkouts fail', 'Status: Investigating', 'Lead: @alice']
    assert result['summary'] == 'sent the initial notice to 6 of 6 channels'
    assert all(item['attempts'] == 1 and item['outcome'] == 'sent' for item in result['results'])

    # Slack incoming webhook: text (the fallback) and blocks.
    request = slack.requests[0]
    assert request['path'] == SLACK_PATH and request['headers']['Content-Type'] == 'application/json'
    assert request['body']['text'] == result['message']
    assert request['body']['blocks'][0] == {'type': 'header', 'text': {'type': 'plain_text', 'text': title, 'emoji': True}}
    assert request['body']['blocks'][1]['type'] == 'section' and request['body']['blocks'][1]['text']['type'] == 'mrkdwn'

    # PagerDuty Events API v2: trigger with the incident id as dedup key, P1 read as SEV1 -> critical.
    event = pagerduty.requests[0]['body']
    assert pagerduty.requests[0]['path'] == '/v2/enqueue'
    assert event['routing_key'] == ROUTING_KEY and event['event_action'] == 'trigger' and event['dedup_key'] == INCIDENT['id']
    assert event['payload']['summary'] == title and event['payload']['severity'] == 'critical'
    assert event['payload']['source'] == 'checkout-api' and event['payload']['timestamp'] == INCIDENT['started_at']
    assert event['payload']['custom_details']['impact'] == 'all checkouts fail'

    # Opsgenie Alert API v2: POST /v2/alerts, GenieKey, alias = incident id, priority from the severity.
    request = opsgenie.requests[0]
    assert request['path'] == '/v2/alerts' and request['headers']['Authorization'] == 'GenieKey ' + API_KEY
    alert = request['body']
    assert alert['message'] == title and alert['alias'] == INCIDENT['id'] and alert['priority'] == 'P1'
    assert alert['description'] == result['message'] and alert['details']['lead'] == 'alice'

    card = teams.requests[0]['body']
    assert teams.requests[0]['path'] == TEAMS_PATH
    assert card['@type'] == 'MessageCard' and card['title'] == title and card['sections'][0]['facts']

    request = hook.requests[0]
    assert request['headers']['Authorization'] == HOOK_TOKEN
    assert request['body']['incident']['id'] == INCIDENT['id'] and request['body']['text'] == result['message']

    mail = smtp_receiver.messages[0]
    assert smtp_receiver.logins == [['incidents', SMTP_PASSWORD]]
    assert mail['recipients'] == ['<oncall@example.com>', '<dba@example.com>']
    parsed = email.message_from_bytes(mail['raw'], policy=email.policy.default)
    assert parsed['Subject'] == title and parsed.get_content().replace('\r\n', '\n').rstrip('\n') == result['message']
    assert_no_secret(outcome)
    # The proof that the output was looked at: -vvv shows the invocation, with the secrets censored.
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in outcome.stdout and 'failed_channels: 0' in outcome.stdout


def test_resolution_resolves_pagerduty_and_closes_opsgenie(ansible, http_receiver):
    pagerduty, opsgenie = http_receiver(), http_receiver()
    resolved = dict(INCIDENT, status='resolved', resolved_at='2026-11-22T03:42:00Z', root_cause='pool exhausted',
                    resolution='killed idle sessions')
    result, outcome = notify(ansible, dict(incident=resolved, channels=[
        fast(type='pagerduty', routing_key=ROUTING_KEY, url=pagerduty.url + '/v2/enqueue'),
        fast(type='opsgenie', api_key=API_KEY, url=opsgenie.url, source='runbook'),
    ]))
    assert result['template'] == 'resolution' and result['sent'] == 2, outcome.stdout
    assert 'Duration: 2026-11-22 03:00 UTC - 2026-11-22 03:42 UTC (42 minutes)' in result['message']
    assert pagerduty.requests[0]['body'] == {'routing_key': ROUTING_KEY, 'event_action': 'resolve', 'dedup_key': INCIDENT['id']}
    request = opsgenie.requests[0]
    assert request['path'] == '/v2/alerts/%s/close?identifierType=alias' % INCIDENT['id']
    assert request['body']['source'] == 'runbook' and 'RESOLVED' in request['body']['note']


def test_retries_on_500_then_succeeds_and_not_on_4xx(ansible, http_receiver):
    flaky, refusing = http_receiver(fail_times=2), http_receiver(status=400)
    result, outcome = notify(ansible, dict(incident=INCIDENT, template='update', actions='restarted the pool', channels=[
        fast(type='pagerduty', name='flaky', routing_key=ROUTING_KEY, url=flaky.url + '/v2/enqueue', retries=2),
        fast(type='webhook', name='refusing', url=refusing.url + '/hook', retries=3),
    ]))
    results = by_name(result)
    assert results['flaky']['ok'] and results['flaky']['attempts'] == 3 and len(flaky.requests) == 3, outcome.stdout
    assert flaky.requests[0]['body']['event_action'] == 'acknowledge'
    assert not results['refusing']['ok'] and results['refusing']['attempts'] == 1 and len(refusing.requests) == 1
    assert results['refusing']['error'].startswith('HTTP 400')
    assert result['sent'] == 1 and result['failed_channels'] == 1 and not result.get('failed')
    assert 'Actions: restarted the pool' in result['message']


def test_hung_and_dead_channels_do_not_stop_the_others(ansible, http_receiver, closed_port):
    hung, healthy = http_receiver(hang=True), http_receiver(status=200)
    result, outcome = notify(ansible, dict(incident=INCIDENT, template='initial', channels=[
        dict(type='slack', name='hung', url=hung.url + SLACK_PATH, timeout=2, retries=1, retry_delay=0.2),
        fast(type='webhook', name='dead', url='http://127.0.0.1:%d%s' % (closed_port, SLACK_PATH), retries=1),
        fast(type='slack', name='healthy', url=healthy.url + SLACK_PATH),
    ]), verbosity=3)
    assert outcome.rc == 0 and not result.get('failed'), outcome.stdout
    results = by_name(result)
    assert results['hung']['error'] == 'timed out after 2.0s' and results['hung']['attempts'] == 2
    # Two attempts of 2 s and one backoff of 0.2 s, with room for a loaded machine, but not the 120 s the receiver would hang.
    assert results['hung']['seconds'] < 2 * 2 + 0.2 + 4
    assert not results['dead']['ok'] and 'refused' in results['dead']['error'].lower()
    assert results['healthy']['ok'] and len(healthy.requests) == 1
    assert result['sent'] == 1 and result['failed_channels'] == 2
    assert result['summary'].startswith('sent the initial notice to 1 of 3 channels; 2 failed: hung: timed out')
    assert_no_secret(outcome)


def test_fail_on_error_fails_the_task_with_one_line(ansible, http_receiver, closed_port):
    healthy = http_receiver()
    result, outcome = notify(ansible, dict(incident=INCIDENT, template='initial', fail_on_error=True, channels=[
        fast(type='pagerduty', routing_key=ROUTING_KEY, url='http://127.0.0.1:%d/v2/enqueue' % closed_port, retries=0),
        fast(type='opsgenie', api_key=API_KEY, url=healthy.url),
    ]), verbosity=3)
    assert result['failed'] is True and result['failed_channels'] == 1, outcome.stdout
    assert result['msg'].startswith('sent the initial notice to 1 of 2 channels; 1 failed: pagerduty:')
    assert '\n' not in result['msg'] and len(healthy.requests) == 1
    assert_no_secret(outcome)


def test_check_mode_renders_and_sends_nothing(ansible, http_receiver, smtp_receiver):
    receiver = http_receiver()
    result, outcome = notify(ansible, dict(incident=INCIDENT, template='custom', custom_template='{id} is {severity}\n\n{impact}', channels=[
        fast(type='slack', url=receiver.url + SLACK_PATH),
        fast(type='pagerduty', routing_key=ROUTING_KEY, url=receiver.url + '/v2/enqueue'),
        fast(type='email', host='127.0.0.1', port=smtp_receiver.port, **{'from': 'a@example.com', 'to': ['b@example.com']}),
    ]), check=True, verbosity=3)
    assert not result.get('failed'), outcome.stdout
    assert result['title'] == 'INC-20261122-0042 is SEV1' and result['message'].endswith('all checkouts fail')
    assert [item['outcome'] for item in result['results']] == ['would send'] * 3
    assert [item['action'] for item in result['results']] == ['post', 'trigger', 'email']
    assert result['sent'] == 0 and result['summary'] == 'would send the custom message to 3 channels'
    assert receiver.requests == [] and smtp_receiver.messages == []
    assert_no_secret(outcome)


def test_bad_input_fails_before_sending(ansible, http_receiver):
    receiver = http_receiver()
    result, outcome = notify(ansible, dict(incident=INCIDENT, template='initial', channels=[
        fast(type='slack', url=receiver.url + SLACK_PATH),
        fast(type='pagerduty', url=receiver.url),
    ]))
    assert result['failed'] and result['msg'] == 'channels[1] (pagerduty): routing_key required for type pagerduty'
    assert receiver.requests == []
    result, outcome = notify(ansible, dict(incident=dict(INCIDENT, severity='critical'), channels=[fast(type='slack', url=receiver.url + SLACK_PATH)]))
    assert result['failed'] and result['msg'] == "severity: 'critical' is not a severity; use SEV1..SEV4 or P1..P3"
    assert receiver.requests == []


def test_store_records_the_notification(ansible, http_receiver, tmp_path):
    store = tmp_path / 'incidents'
    receiver = http_receiver()
    declare = {'name': 'declare', 'oncall.runbooks.incident': dict(state='declared', title='Redis OOM', severity='SEV2', impact='cache writes fail',
                                                                   services=['redis'], store_path=str(store)), 'register': 'declared'}
    channels = [fast(type='webhook', url=receiver.url + '/hook', headers={'Authorization': HOOK_TOKEN})]
    first = {'id': '{{ declared.incident.id }}', 'store_path': str(store), 'channels': channels}
    second = dict(first, details='memory back under the limit')
    tasks = [declare,
             {'name': 'first', 'oncall.runbooks.incident_notify': first},
             {'name': 'second', 'oncall.runbooks.incident_notify': second},
             {'name': 'read', 'oncall.runbooks.incident': dict(state='present', id='{{ declared.incident.id }}', store_path=str(store)),
              'register': 'after'}]
    outcome = ansible(tasks, module_defaults=NO_DEFAULTS)
    assert outcome.rc == 0, outcome.stdout + outcome.stderr
    # auto: the initial notice first, then an update because the initial one is on record.
    assert outcome.result('first')['template'] == 'initial' and outcome.result('second')['template'] == 'update'
    assert 'memory back under the limit' in outcome.result('second')['message']
    assert [request['body']['template'] for request in receiver.requests] == ['initial', 'update']
    record = outcome.result('read')['incident']
    assert [(item['template'], item['channel'], item['ok']) for item in record['notifications']] == [
        ('initial', 'webhook', True), ('update', 'webhook', True)]
    notes = [entry['summary'] for entry in record['timeline'] if entry['kind'] == 'notification']
    assert notes == ['sent the initial notice to 1 of 1 channels', 'sent the status update to 1 of 1 channels']
    assert json.dumps(record).count(HOOK_TOKEN) == 0
