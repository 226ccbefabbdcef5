# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident notifications: the seeds' message templates, each service's payload, and delivery.

Rendering and payloads are pure functions of the incident record so that they can be
tested without a network. Delivery goes through Ansible's ``open_url`` and ``smtplib``
with a timeout and retries with exponential backoff on what may pass (connection
errors, timeouts, 5xx and 429), never on what will not (other 4xx).
"""

from __future__ import annotations

import json
import re
import smtplib
import socket
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit

from ansible.module_utils.urls import ConnectionError as UrlConnectionError, SSLValidationError, open_url
from ansible_collections.oncall.runbooks.plugins.module_utils.incident import policy_duration, severity_policy
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, one_line

TEMPLATES = ('initial', 'update', 'resolution', 'custom')
CHANNEL_TYPES = ('slack', 'pagerduty', 'opsgenie', 'teams', 'webhook', 'email')

# PagerDuty Events API v2 knows four severities; Opsgenie five priorities (P5 stays unused).
PAGERDUTY_SEVERITY = {'SEV1': 'critical', 'SEV2': 'error', 'SEV3': 'warning', 'SEV4': 'info'}
OPSGENIE_PRIORITY = {'SEV1': 'P1', 'SEV2': 'P2', 'SEV3': 'P3', 'SEV4': 'P4'}
# What each template means to a service that tracks alerts, not messages.
PAGERDUTY_ACTION = {'initial': 'trigger', 'update': 'acknowledge', 'resolution': 'resolve', 'custom': 'trigger'}
OPSGENIE_ACTION = {'initial': 'create', 'update': 'note', 'resolution': 'close', 'custom': 'create'}
COLOURS = {'SEV1': 'D32F2F', 'SEV2': 'F57C00', 'SEV3': 'FBC02D', 'SEV4': '1976D2', 'resolved': '388E3C'}

DEFAULT_URLS = {
    'pagerduty': 'https://events.pagerduty.com/v2/enqueue',
    'opsgenie': 'https://api.opsgenie.com',
}
DEFAULT_NEXT_UPDATE = 15 * 60
MAX_BACKOFF = 30.0


# --- rendering ---------------------------------------------------------------------

def parse_time(value):
    """An ISO 8601 UTC time of the record (``...Z``) as an aware datetime, None when absent."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace('Z', '+00:00')).astimezone(timezone.utc)
    except ValueError:
        return None


def short_time(value):
    moment = parse_time(value)
    return moment.strftime('%Y-%m-%d %H:%M UTC') if moment else 'unknown'


def service_name(record):
    services = record.get('services') or []
    if isinstance(services, str):
        services = [services]
    return ', '.join(str(item) for item in services if item) or 'Service'


def next_update_seconds(record, policy, next_update=None):
    """The cadence of updates: given, else the policy's ``update_every`` for the severity, else 15 minutes."""
    if next_update is not None:
        return next_update
    seconds = policy_duration(severity_policy(policy, record.get('severity')), 'update_every', 'policy update_every')
    return DEFAULT_NEXT_UPDATE if seconds is None else seconds


def minutes(seconds):
    return max(int(round(seconds / 60.0)), 1)


def actions_text(record, actions=None):
    """What is being done: given, else the fixes recorded so far, else the status."""
    if actions:
        return actions
    fixes = [fix for fix in record.get('fixes') or [] if fix.get('allowed', True)]
    if fixes:
        return '; '.join('%s on %s' % (fix.get('fix'), fix.get('target')) for fix in fixes[-3:])
    return 'investigating' if record.get('status') in (None, 'investigating') else str(record.get('status'))


def details_text(record, details=None):
    """The progress paragraph: given, else the latest note or status entry of the timeline."""
    if details:
        return details
    for entry in reversed(record.get('timeline') or []):
        if entry.get('kind') in ('note', 'status', 'fix') and entry.get('summary'):
            return str(entry['summary'])
    return 'No further details yet.'


def duration_text(record, now=None):
    started = parse_time(record.get('started_at'))
    ended = parse_time(record.get('resolved_at')) or now or datetime.now(timezone.utc)
    if not started:
        return 'unknown'
    seconds = max((ended - started).total_seconds(), 0)
    return '%s - %s (%d minutes)' % (short_time(record.get('started_at')), ended.strftime('%Y-%m-%d %H:%M UTC'), int(seconds // 60))


_FIELD = re.compile(r'\{(\w+)\}')


def fields(record, policy=None, next_update=None, actions=None, details=None, now=None):
    """Every value a template may use, as text."""
    values = dict((key, '' if value is None else value) for key, value in record.items() if not isinstance(value, (list, dict)))
    values.update(
        service=service_name(record),
        services=service_name(record),
        severity=record.get('severity') or 'SEV?',
        status=str(record.get('status') or 'investigating').capitalize(),
        impact=record.get('impact') or 'unknown',
        lead=record.get('lead') or 'unassigned',
        title=record.get('title') or 'incident',
        id=record.get('id') or '',
        next_update=minutes(next_update_seconds(record, policy, next_update)),
        actions=actions_text(record, actions),
        details=details_text(record, details),
        duration=duration_text(record, now),
        started=short_time(record.get('started_at')),
        resolved=short_time(record.get('resolved_at')),
        root_cause=record.get('root_cause') or 'under investigation',
        resolution=record.get('resolution') or 'not recorded',
    )
    return dict((key, str(value)) for key, value in values.items())


def render_custom(text, values):
    """``{field}`` placeholders only: no attribute access or format specs, which str.format would allow."""
    def replace(match):
        if match.group(1) not in values:
            raise RunbookError('custom_template: unknown field {%s}; known fields: %s' % (match.group(1), ', '.join(sorted(values))))
        return values[match.group(1)]
    return _FIELD.sub(replace, text)


def render(template, record, policy=None, custom_template=None, next_update=None, actions=None, details=None, now=None):
    """(title, text) of ``template`` for ``record``, laid out as the seeds' communication templates."""
    values = fields(record, policy, next_update, actions, details, now)
    if template == 'initial':
        title = '\U0001F6A8 INCIDENT: %s - %s' % (values['service'], values['title'])
        body = ['Severity: %s' % values['severity'], 'Impact: %s' % values['impact'], 'Status: %s' % values['status'],
                'Lead: @%s' % values['lead'].lstrip('@'), '',
                'We are aware of the issue and actively investigating.', 'Next update in %s minutes.' % values['next_update']]
    elif template == 'update':
        title = '\U0001F4CD UPDATE: %s Incident' % values['service']
        body = ['Status: %s' % values['status'], 'Impact: %s' % values['impact'], 'Actions: %s' % values['actions'], '',
                values['details'], '', 'Next update in %s minutes.' % values['next_update']]
    elif template == 'resolution':
        title = '\u2705 RESOLVED: %s Incident' % values['service']
        body = ['Duration: %s' % values['duration'], 'Root Cause: %s' % values['root_cause'], 'Resolution: %s' % values['resolution'], '',
                'Service is fully restored. Post-mortem will follow.']
    elif template == 'custom':
        if not custom_template:
            raise RunbookError('custom_template is required when template is custom')
        lines = render_custom(custom_template, values).strip('\n').split('\n')
        title, body = lines[0], lines[2:] if len(lines) > 1 and not lines[1].strip() else lines[1:]
    else:
        raise RunbookError('template must be one of %s, got %r' % (', '.join(TEMPLATES), template))
    return title, '\n'.join([title, ''] + body) if body else title


def choose_template(record):
    """``auto``: the resolution notice for a resolved incident, the initial notice if none went out yet, else an update."""
    if record.get('status') == 'resolved':
        return 'resolution'
    sent = [item for item in record.get('notifications') or [] if item.get('ok') and item.get('template') in ('initial', 'update')]
    return 'update' if sent else 'initial'


# --- payloads ----------------------------------------------------------------------

def details_of(record):
    """The record's headline fields, for services that show key/value details."""
    keys = ('id', 'severity', 'priority', 'status', 'impact', 'lead', 'started_at', 'acknowledged_at', 'resolved_at', 'root_cause', 'resolution')
    found = dict((key, record[key]) for key in keys if record.get(key) not in (None, ''))
    if record.get('services'):
        found['services'] = service_name(record)
    return found


def slack_payload(record, template, title, text):
    severity = record.get('severity') or 'SEV?'
    return {
        'text': text,
        'blocks': [
            {'type': 'header', 'text': {'type': 'plain_text', 'text': title[:150], 'emoji': True}},
            {'type': 'section', 'text': {'type': 'mrkdwn', 'text': text.split('\n', 2)[-1][:3000] or title}},
            {'type': 'context', 'elements': [{'type': 'mrkdwn', 'text': '%s | %s | %s' % (record.get('id') or 'incident', severity, template)}]},
        ],
    }


def pagerduty_payload(record, template, title, text, channel):
    action = channel.get('event_action') or PAGERDUTY_ACTION[template]
    body = {'routing_key': channel['routing_key'], 'event_action': action, 'dedup_key': record.get('id') or title[:255]}
    if action == 'trigger':
        body['payload'] = {
            'summary': title[:1024],
            'source': channel.get('source') or service_name(record),
            'severity': PAGERDUTY_SEVERITY.get(record.get('severity'), 'error'),
            'component': service_name(record),
            'custom_details': dict(details_of(record), message=text),
        }
        if parse_time(record.get('started_at')):
            body['payload']['timestamp'] = record['started_at']
    return action, body


def opsgenie_request(record, template, title, text, channel):
    """(action, path, body) of an Opsgenie Alert API v2 request; the alias is the incident id."""
    action = OPSGENIE_ACTION[template]
    alias = record.get('id') or title[:512]
    source = channel.get('source') or 'oncall.runbooks'
    if action == 'create':
        body = {
            'message': title[:130],
            'alias': alias[:512],
            'description': text[:15000],
            'priority': OPSGENIE_PRIORITY.get(record.get('severity'), 'P3'),
            'source': source,
            'entity': service_name(record),
            'tags': [tag for tag in ('incident', record.get('severity')) if tag],
            'details': dict((key, str(value)) for key, value in details_of(record).items()),
        }
        return action, '/v2/alerts', body
    path = '/v2/alerts/%s/%s?identifierType=alias' % (quote(alias, safe=''), 'close' if action == 'close' else 'notes')
    return action, path, {'source': source, 'note': text[:25000]}


def teams_payload(record, template, title, text, channel):
    facts = [{'name': key, 'value': str(value)} for key, value in details_of(record).items()]
    colour = COLOURS['resolved'] if template == 'resolution' else COLOURS.get(record.get('severity'), COLOURS['SEV2'])
    if channel.get('format') == 'adaptivecard':
        card = {
            '$schema': 'http://adaptivecards.io/schemas/adaptive-card.json', 'type': 'AdaptiveCard', 'version': '1.4',
            'body': [{'type': 'TextBlock', 'text': title, 'weight': 'Bolder', 'size': 'Medium', 'wrap': True},
                     {'type': 'TextBlock', 'text': text.split('\n', 2)[-1], 'wrap': True},
                     {'type': 'FactSet', 'facts': [{'title': fact['name'], 'value': fact['value']} for fact in facts]}],
        }
        return {'type': 'message', 'attachments': [{'contentType': 'application/vnd.microsoft.card.adaptive', 'content': card}]}
    # MessageCard text is Markdown: a lone newline is not a line break.
    return {'@type': 'MessageCard', '@context': 'https://schema.org/extensions', 'summary': title, 'themeColor': colour,
            'title': title, 'text': text.split('\n', 2)[-1].replace('\n', '\n\n'), 'sections': [{'facts': facts}]}


def webhook_payload(record, template, title, text):
    return {'template': template, 'title': title, 'text': text, 'incident': record}


# --- delivery ----------------------------------------------------------------------

def target_of(channel):
    """Where a channel sends, without the secret parts: scheme and host of a URL, the SMTP server."""
    if channel['type'] == 'email':
        return 'smtp://%s:%s' % (channel.get('host'), channel.get('port') or 25)
    parts = urlsplit(channel.get('url') or DEFAULT_URLS.get(channel['type'], ''))
    return '%s://%s' % (parts.scheme, parts.netloc.rsplit('@', 1)[-1]) if parts.netloc else '(no url)'


def redact(text, secrets):
    """Remove every secret (and each URL's path and query) from an error line."""
    for secret in sorted((str(item) for item in secrets if item), key=len, reverse=True):
        text = text.replace(secret, '***')
        parts = urlsplit(secret)
        for piece in (parts.path, parts.query):
            if len(piece) > 1:
                text = text.replace(piece, '/***')
    return text


def secrets_of(channel):
    values = [channel.get(key) for key in ('url', 'routing_key', 'api_key', 'password')]
    values += [str(value) for value in (channel.get('headers') or {}).values()]
    return [value for value in values if value]


class Attempt(Exception):
    """A failed delivery attempt: ``retry`` says whether another attempt may succeed."""

    def __init__(self, message, retry, status=None):
        super(Attempt, self).__init__(message)
        self.retry = retry
        self.status = status


def post_json(url, body, headers, timeout, validate_certs):
    """POST ``body`` as JSON; returns the HTTP status, raises Attempt on failure."""
    request_headers = {'Content-Type': 'application/json'}
    request_headers.update(headers or {})
    try:
        response = open_url(url, data=json.dumps(body), headers=request_headers, method='POST', timeout=timeout,
                            validate_certs=validate_certs, follow_redirects='safe')
        status = response.getcode()
        response.read()
        return status
    except HTTPError as exc:
        detail = ''
        try:
            detail = exc.read().decode('utf-8', 'replace')[:200]
        except Exception:  # pylint: disable=broad-except
            pass
        message = 'HTTP %d %s%s' % (exc.code, exc.reason or '', (': ' + detail) if detail else '')
        raise Attempt(one_line(message), exc.code >= 500 or exc.code == 429, exc.code)
    except (socket.timeout, TimeoutError):
        raise Attempt('timed out after %ss' % timeout, True)
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise Attempt('timed out after %ss' % timeout, True)
        raise Attempt(one_line(reason if reason else exc), True)
    except SSLValidationError as exc:
        # A certificate does not get better by asking again.
        raise Attempt(one_line(exc), False)
    except (UrlConnectionError, ConnectionError, OSError) as exc:
        raise Attempt(one_line(exc), True)


def send_email(channel, title, text):
    message = EmailMessage()
    message['Subject'] = title
    message['From'] = channel['sender']
    message['To'] = ', '.join(channel['to'])
    message.set_content(text)
    try:
        with smtplib.SMTP(channel['host'], channel.get('port') or 25, timeout=channel['timeout']) as client:
            if channel.get('starttls'):
                client.starttls()
            if channel.get('user'):
                client.login(channel['user'], channel.get('password') or '')
            client.send_message(message)
        return 250
    except smtplib.SMTPResponseException as exc:
        # 4xx is the server saying "later"; 5xx is final.
        reply = exc.smtp_error.decode('utf-8', 'replace') if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise Attempt('SMTP %d %s' % (exc.smtp_code, one_line(reply)), 400 <= exc.smtp_code < 500, exc.smtp_code)
    except (socket.timeout, TimeoutError):
        raise Attempt('timed out after %ss' % channel['timeout'], True)
    except (smtplib.SMTPException, OSError) as exc:
        raise Attempt(one_line(exc), True)


def request_of(channel, record, template, title, text):
    """(action, send) for one channel: ``send()`` delivers once and returns the status code."""
    kind = channel['type']
    timeout, certs = channel['timeout'], channel['validate_certs']
    if kind == 'email':
        return 'email', lambda: send_email(channel, title, text)
    if kind == 'slack':
        action, url, body, headers = 'post', channel['url'], slack_payload(record, template, title, text), channel.get('headers')
    elif kind == 'teams':
        action, url, body, headers = 'post', channel['url'], teams_payload(record, template, title, text, channel), channel.get('headers')
    elif kind == 'webhook':
        action, url, body, headers = 'post', channel['url'], webhook_payload(record, template, title, text), channel.get('headers')
    elif kind == 'pagerduty':
        action, body = pagerduty_payload(record, template, title, text, channel)
        url, headers = channel.get('url') or DEFAULT_URLS['pagerduty'], None
    else:
        action, path, body = opsgenie_request(record, template, title, text, channel)
        url = (channel.get('url') or DEFAULT_URLS['opsgenie']).rstrip('/') + path
        headers = {'Authorization': 'GenieKey %s' % channel['api_key']}
    return action, lambda: post_json(url, body, headers, timeout, certs)


def deliver(send, retries, retry_delay, sleep=time.sleep):
    """Call ``send`` up to 1 + ``retries`` times, doubling the delay between attempts.

    Returns (status, attempts, error): error is None on success.
    """
    attempts = 0
    while True:
        attempts += 1
        try:
            return send(), attempts, None
        except Attempt as exc:
            if not exc.retry or attempts > retries:
                return exc.status, attempts, str(exc)
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever else goes wrong with one channel must not stop the others.
            return None, attempts, one_line(exc)
        sleep(min(retry_delay * (2 ** (attempts - 1)), MAX_BACKOFF))


def check_channel(channel, index):
    """Fail before anything is sent when a channel lacks what its type needs."""
    kind = channel['type']
    label = 'channels[%d] (%s)' % (index, channel.get('name') or kind)
    needed = {'slack': ('url',), 'teams': ('url',), 'webhook': ('url',), 'pagerduty': ('routing_key',), 'opsgenie': ('api_key',),
              'email': ('host', 'sender', 'to')}[kind]
    missing = [('from' if key == 'sender' else key) for key in needed if not channel.get(key)]
    if missing:
        raise RunbookError('%s: %s required for type %s' % (label, ', '.join(missing), kind))
    if channel['timeout'] <= 0:
        raise RunbookError('%s: timeout must be more than 0, got %s' % (label, channel['timeout']))
    if channel['retries'] < 0:
        raise RunbookError('%s: retries must be 0 or more, got %s' % (label, channel['retries']))
    if channel['retry_delay'] < 0:
        raise RunbookError('%s: retry_delay must be 0 or more, got %s' % (label, channel['retry_delay']))
    url = channel.get('url')
    if url and urlsplit(url).scheme not in ('http', 'https'):
        # Do not echo the URL: it is a secret.
        raise RunbookError('%s: url must be an http or https URL' % label)


def notify_channel(channel, record, template, title, text, check_mode, sleep=time.sleep):
    """Send to one channel (or not, in check mode); the result never holds a secret."""
    action, send = request_of(channel, record, template, title, text)
    result = {'type': channel['type'], 'name': channel.get('name') or channel['type'], 'target': target_of(channel), 'action': action}
    if check_mode:
        result.update(ok=True, sent=False, outcome='would send', attempts=0, error=None)
        return result
    started = time.monotonic()
    status, attempts, error = deliver(send, channel['retries'], channel['retry_delay'], sleep)
    result.update(ok=error is None, sent=error is None, outcome='sent' if error is None else 'failed', attempts=attempts,
                  status_code=status, seconds=round(time.monotonic() - started, 3),
                  error=redact(error, secrets_of(channel)) if error else None)
    return result


def summary_of(template, results, check_mode):
    label = {'initial': 'initial notice', 'update': 'status update', 'resolution': 'resolution notice', 'custom': 'custom message'}[template]
    if check_mode:
        return 'would send the %s to %d channels' % (label, len(results))
    failed = [item for item in results if not item['ok']]
    text = 'sent the %s to %d of %d channels' % (label, len(results) - len(failed), len(results))
    if failed:
        text += '; %d failed: %s: %s' % (len(failed), failed[0]['name'], failed[0]['error'])
    return text
