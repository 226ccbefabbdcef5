# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of incident_notify: the seeds' templates, each service's payload, retries and redaction."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.notify import (
    Attempt,
    check_channel,
    choose_template,
    deliver,
    opsgenie_request,
    pagerduty_payload,
    redact,
    render,
    slack_payload,
    summary_of,
    target_of,
    teams_payload,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError

RECORD = dict(id='INC-20261122-0001', title='Checkout API returns 502', severity='SEV1', status='investigating',
              impact='all checkouts fail', lead='alice', services=['checkout-api'], started_at='2026-11-22T03:00:00Z')
CHANNEL = dict(type='slack', name=None, url='https://hooks.slack.com/services/T000/B000/SECRET', routing_key=None, api_key=None,
               headers=None, source=None, event_action=None, format='messagecard', host=None, port=25, starttls=False, user=None,
               password=None, sender=None, to=None, timeout=10.0, retries=2, retry_delay=1.0, validate_certs=True)


def channel(**overrides):
    value = dict(CHANNEL)
    value.update(overrides)
    return value


def test_initial_notice_follows_the_seed():
    title, text = render('initial', RECORD)
    assert title == '\U0001F6A8 INCIDENT: checkout-api - Checkout API returns 502'
    assert text.split('\n') == [title, '', 'Severity: SEV1', 'Impact: all checkouts fail', 'Status: Investigating', 'Lead: @alice', '',
                                'We are aware of the issue and actively investigating.', 'Next update in 15 minutes.']


def test_update_uses_policy_cadence_and_recorded_fixes():
    record = dict(RECORD, status='mitigating', severity='SEV2',
                  fixes=[dict(fix='pg_idle_kill', target='db1', allowed=True), dict(fix='redis_flush', target='r1', allowed=False)],
                  timeline=[dict(kind='note', summary='connections dropping'), dict(kind='task', summary='ignored')])
    policy = dict(severities=dict(SEV2=dict(update_every='30m')))
    title, text = render('update', record, policy)
    assert title == '\U0001F4CD UPDATE: checkout-api Incident'
    lines = text.split('\n')
    assert lines[2:5] == ['Status: Mitigating', 'Impact: all checkouts fail', 'Actions: pg_idle_kill on db1']
    assert lines[6] == 'connections dropping'
    assert lines[-1] == 'Next update in 30 minutes.'
    # Given values win over the record and the policy.
    text = render('update', record, policy, next_update=300, actions='restarted', details='better')[1]
    assert 'Actions: restarted' in text and '\nbetter\n' in text and text.endswith('Next update in 5 minutes.')


def test_resolution_notice_has_duration_in_minutes():
    record = dict(RECORD, status='resolved', resolved_at='2026-11-22T03:47:30Z', root_cause='pool exhausted', resolution='killed idle sessions')
    title, text = render('resolution', record)
    assert title == '\u2705 RESOLVED: checkout-api Incident'
    assert 'Duration: 2026-11-22 03:00 UTC - 2026-11-22 03:47 UTC (47 minutes)' in text
    assert 'Root Cause: pool exhausted' in text and 'Resolution: killed idle sessions' in text
    assert text.endswith('Service is fully restored. Post-mortem will follow.')


def test_resolution_of_an_open_incident_counts_until_now():
    now = datetime(2026, 11, 22, 3, 10, tzinfo=timezone.utc)
    assert '(10 minutes)' in render('resolution', RECORD, now=now)[1]


def test_custom_template_fields_only():
    title, text = render('custom', RECORD, custom_template='{id} {severity}\n\n{title} led by {lead}')
    assert title == 'INC-20261122-0001 SEV1'
    assert text == 'INC-20261122-0001 SEV1\n\nCheckout API returns 502 led by alice'
    with pytest.raises(RunbookError, match=r'custom_template: unknown field \{nope\}'):
        render('custom', RECORD, custom_template='{nope}')
    # No attribute access: str.format would have evaluated it.
    assert render('custom', RECORD, custom_template='{id.__class__}')[0] == '{id.__class__}'
    with pytest.raises(RunbookError, match='custom_template is required'):
        render('custom', RECORD)


def test_missing_fields_render_readably():
    text = render('initial', dict(id='INC-1'))[1]
    assert 'INCIDENT: Service - incident' in text and 'Lead: @unassigned' in text and 'Severity: SEV?' in text


@pytest.mark.parametrize('record, expected', [
    (dict(status='resolved'), 'resolution'),
    (dict(status='investigating'), 'initial'),
    (dict(status='mitigating', notifications=[dict(template='initial', ok=False)]), 'initial'),
    (dict(status='mitigating', notifications=[dict(template='initial', ok=True)]), 'update'),
])
def test_auto_template(record, expected):
    assert choose_template(record) == expected


@pytest.mark.parametrize('severity, pagerduty, opsgenie', [
    ('SEV1', 'critical', 'P1'), ('SEV2', 'error', 'P2'), ('SEV3', 'warning', 'P3'), ('SEV4', 'info', 'P4'),
])
def test_severity_mapping(severity, pagerduty, opsgenie):
    record = dict(RECORD, severity=severity)
    action, body = pagerduty_payload(record, 'initial', 't', 'text', channel(type='pagerduty', routing_key='R' * 32))
    assert action == 'trigger' and body['payload']['severity'] == pagerduty
    assert opsgenie_request(record, 'initial', 't', 'text', channel(type='opsgenie', api_key='k'))[2]['priority'] == opsgenie


def test_pagerduty_event_fields():
    action, body = pagerduty_payload(RECORD, 'initial', 'title', 'text', channel(type='pagerduty', routing_key='R' * 32))
    assert set(body) == {'routing_key', 'event_action', 'dedup_key', 'payload'}
    assert body['dedup_key'] == 'INC-20261122-0001'
    assert {'summary', 'source', 'severity'} <= set(body['payload'])
    assert body['payload']['source'] == 'checkout-api' and body['payload']['timestamp'] == '2026-11-22T03:00:00Z'
    assert body['payload']['custom_details']['id'] == 'INC-20261122-0001'
    for template, expected in (('update', 'acknowledge'), ('resolution', 'resolve')):
        action, body = pagerduty_payload(RECORD, template, 't', 'x', channel(type='pagerduty', routing_key='R'))
        assert action == expected and 'payload' not in body and body['dedup_key'] == RECORD['id']
    assert pagerduty_payload(RECORD, 'initial', 't', 'x', channel(type='pagerduty', routing_key='R', event_action='resolve'))[0] == 'resolve'


def test_opsgenie_requests():
    action, path, body = opsgenie_request(RECORD, 'initial', 'T' * 200, 'text', channel(type='opsgenie', api_key='k'))
    assert (action, path) == ('create', '/v2/alerts')
    assert len(body['message']) == 130 and body['alias'] == RECORD['id'] and body['description'] == 'text'
    assert all(isinstance(value, str) for value in body['details'].values())
    assert opsgenie_request(RECORD, 'resolution', 't', 'x', channel(type='opsgenie', api_key='k'))[:2] == (
        'close', '/v2/alerts/INC-20261122-0001/close?identifierType=alias')
    assert opsgenie_request(RECORD, 'update', 't', 'x', channel(type='opsgenie', api_key='k'))[1].endswith('/notes?identifierType=alias')


def test_slack_and_teams_payloads():
    title, text = render('initial', RECORD)
    body = slack_payload(RECORD, 'initial', title, text)
    assert body['text'] == text
    assert [block['type'] for block in body['blocks']] == ['header', 'section', 'context']
    assert body['blocks'][0]['text'] == {'type': 'plain_text', 'text': title, 'emoji': True}
    card = teams_payload(RECORD, 'initial', title, text, channel(type='teams'))
    assert card['@type'] == 'MessageCard' and card['title'] == title and card['themeColor'] == 'D32F2F'
    adaptive = teams_payload(RECORD, 'resolution', title, text, channel(type='teams', format='adaptivecard'))
    assert adaptive['attachments'][0]['content']['type'] == 'AdaptiveCard'


def test_deliver_retries_with_backoff_and_stops_on_4xx():
    waits = []
    answers = [Attempt('HTTP 500', True, 500), Attempt('timed out', True), 202]

    def send():
        answer = answers.pop(0)
        if isinstance(answer, Attempt):
            raise answer
        return answer

    assert deliver(send, 2, 0.5, waits.append) == (202, 3, None)
    assert waits == [0.5, 1.0]

    def refused():
        raise Attempt('HTTP 400 bad', False, 400)
    assert deliver(refused, 5, 0.5, waits.append) == (400, 1, 'HTTP 400 bad')

    def down():
        raise Attempt('refused', True)
    waits[:] = []
    assert deliver(down, 3, 20, waits.append) == (None, 4, 'refused')
    assert waits == [20, 30.0, 30.0]

    def broken():
        raise ValueError('unexpected\nanswer')
    assert deliver(broken, 3, 1, waits.append) == (None, 1, 'unexpected; answer')


def test_secrets_are_redacted_and_never_a_target():
    url = 'https://hooks.slack.com/services/T000/B000/SECRET'
    assert redact('failed on %s and /services/T000/B000/SECRET' % url, [url]) == 'failed on *** and /***'
    assert target_of(channel(url=url)) == 'https://hooks.slack.com'
    assert target_of(channel(type='webhook', url='https://user:pw@example.com/x?token=1')) == 'https://example.com'
    assert target_of(channel(type='pagerduty', url=None)) == 'https://events.pagerduty.com'
    assert target_of(channel(type='email', host='smtp.example.com', port=587)) == 'smtp://smtp.example.com:587'


@pytest.mark.parametrize('overrides, message', [
    (dict(type='slack', url=None), r'channels\[0\] \(slack\): url required'),
    (dict(type='pagerduty', url=None), 'routing_key required'),
    (dict(type='opsgenie', url=None), 'api_key required'),
    (dict(type='email', url=None, host='h'), 'from, to required'),
    (dict(timeout=0), 'timeout must be more than 0'),
    (dict(retries=-1), 'retries must be 0 or more'),
    (dict(url='ftp://x/secret'), 'url must be an http or https URL$'),
])
def test_bad_channels_fail_before_sending(overrides, message):
    with pytest.raises(RunbookError, match=message):
        check_channel(channel(**overrides), 0)


def test_summary():
    results = [dict(name='slack', ok=True), dict(name='pd', ok=False, error='HTTP 500')]
    assert summary_of('initial', results, False) == 'sent the initial notice to 1 of 2 channels; 1 failed: pd: HTTP 500'
    assert summary_of('resolution', results, True) == 'would send the resolution notice to 2 channels'
