#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: incident_notify
short_description: Tell people about an incident on Slack, PagerDuty, Opsgenie, Teams, a webhook or email
version_added: 0.1.0
description:
  - Renders one of the runbooks' communication templates from the incident record and sends it to every
    channel in O(channels). The templates are the seeds' own - the initial incident notice, the status update,
    the resolution notice - and a C(custom) one of your own.
  - The record is read from the incident store by O(id) (and the notification is then recorded in its
    C(notifications) and timeline), or given inline as O(incident).
  - C(slack) posts to an incoming webhook, with C(text) and C(blocks). C(pagerduty) sends an Events API v2 event whose
    C(dedup_key) is the incident id - C(trigger) for the initial notice, C(acknowledge) for an update, C(resolve) for the
    resolution notice - with the severity mapped from SEV1-SEV4 to C(critical), C(error), C(warning), C(info).
    C(opsgenie) creates an alert through the Alert API v2 with the incident id as its alias and the priority mapped
    from the severity (SEV1 is P1 ... SEV4 is P4), adds a note for an update and closes the alert for the resolution.
    C(teams) posts a MessageCard (or an Adaptive Card) to an incoming webhook, C(webhook) posts the record and the
    rendered text as JSON, and C(email) sends through SMTP.
  - Each channel has its own timeout and retries, with exponential backoff on connection errors, timeouts, HTTP 5xx and
    429 (not on other 4xx answers, which will not change). A channel that fails is reported in RV(results) and does not
    stop the others; the task fails only with O(fail_on_error=true), so that a runbook goes on when Slack is down.
  - Webhook URLs, routing keys, API keys, headers and SMTP passwords are never shown, not even inside error messages.
  - In check mode, renders everything and sends nothing.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.incident_store
attributes:
  check_mode:
    support: full
    description: Renders the message and reports what would be sent to each channel; sends and records nothing.
  diff_mode:
    support: none
    description: A notification has no before and after to show.
options:
  id:
    description:
      - The id of an incident in the store, for example C(INC-20261122-0001). The record is read from the store,
        and each notification is recorded in it (not in check mode).
      - One of O(id) and O(incident) is required.
    type: str
  incident:
    description:
      - The incident record itself, as the C(incident) module returns it (C(id), C(title), C(severity), C(status),
        C(impact), C(lead), C(services), C(started_at), C(resolved_at), C(root_cause), C(resolution), ...).
        Nothing is recorded in the store.
    type: dict
  template:
    description:
      - Which message to send. C(auto) sends the resolution notice for a resolved incident, the initial notice when
        no notice went out yet, and a status update otherwise.
    type: str
    choices: [auto, initial, update, resolution, custom]
    default: auto
  custom_template:
    description:
      - The message for O(template=custom). Its first line is the title. C({field}) placeholders are replaced by the
        record's fields and by C(service), C(next_update), C(actions), C(details), C(duration), C(started) and C(resolved).
    type: str
  actions:
    description:
      - The "Actions" line of a status update. Defaults to the fixes recorded with the incident.
    type: str
  details:
    description:
      - The progress paragraph of a status update. Defaults to the latest note of the timeline.
    type: str
  next_update:
    description:
      - When the next update is due ("Next update in 15 minutes"), as a duration such as C(15m) or C(1h).
      - Defaults to the policy's C(update_every) for the incident's severity, else 15 minutes.
    type: raw
  policy:
    description:
      - The severity policy, C(incident_policy) of the C(oncall.runbooks.incident) role. Used for the update cadence.
    type: dict
  channels:
    description:
      - Where to send the message.
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description: The kind of channel.
        type: str
        required: true
        choices: [slack, pagerduty, opsgenie, teams, webhook, email]
      name:
        description: A label for the channel in RV(results), for example C(slack-incidents). Defaults to O(channels[].type).
        type: str
      url:
        description:
          - The webhook URL of C(slack), C(teams) and C(webhook) (required for them; it is a secret).
          - For C(pagerduty), the Events API endpoint (default C(https://events.pagerduty.com/v2/enqueue)); for C(opsgenie),
            the API base URL (default C(https://api.opsgenie.com); C(https://api.eu.opsgenie.com) in the EU).
        type: str
      routing_key:
        description: The PagerDuty integration (routing) key. Required for C(pagerduty).
        type: str
      api_key:
        description: The Opsgenie API key, sent as C(Authorization) C(GenieKey) header. Required for C(opsgenie).
        type: str
      headers:
        description: Extra HTTP headers, for example an authorization header of a C(webhook). Treated as secret.
        type: dict
      source:
        description: The C(source) of a PagerDuty event (default the incident's services) or of an Opsgenie alert (default C(oncall.runbooks)).
        type: str
      event_action:
        description: The PagerDuty C(event_action), instead of the one that the template implies.
        type: str
        choices: [trigger, acknowledge, resolve]
      format:
        description: The card of a C(teams) message.
        type: str
        choices: [messagecard, adaptivecard]
        default: messagecard
      host:
        description: The SMTP server of C(email).
        type: str
      port:
        description: The SMTP port of C(email).
        type: int
        default: 25
      starttls:
        description: Upgrade the SMTP connection with STARTTLS before logging in.
        type: bool
        default: false
      user:
        description: The SMTP user; no login without it.
        type: str
      password:
        description: The SMTP password.
        type: str
      sender:
        description: The C(From) address of C(email).
        type: str
        aliases: [from]
      to:
        description: The recipients of C(email).
        type: list
        elements: str
      timeout:
        description: Seconds to wait for each attempt.
        type: float
        default: 10.0
      retries:
        description: How many times to try again after a connection error, a timeout, HTTP 5xx or 429, or SMTP 4xx.
        type: int
        default: 2
      retry_delay:
        description: Seconds before the first retry; each further retry waits twice as long (at most 30 seconds).
        type: float
        default: 1.0
      validate_certs:
        description: Verify the server's TLS certificate.
        type: bool
        default: true
  fail_on_error:
    description:
      - Fail the task when any channel fails. By default a failed channel is only reported, because a runbook must go on.
    type: bool
    default: false
notes:
  - Opsgenie answers 202 to every accepted request and processes it afterwards; an unknown alias on close is therefore not an error here.
seealso:
  - name: PagerDuty Events API v2
    description: The event fields sent to PagerDuty.
    link: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
  - name: Opsgenie Alert API
    description: The alert fields sent to Opsgenie.
    link: https://docs.opsgenie.com/docs/alert-api
  - name: Slack incoming webhooks
    description: How Slack reads C(text) and C(blocks).
    link: https://api.slack.com/messaging/webhooks
'''

EXAMPLES = r'''
- name: Declare the incident
  oncall.runbooks.incident:
    state: declared
    title: Checkout API returns 502
    severity: SEV1
    services: [checkout-api]
  register: declared

- name: Tell everyone that the incident is open
  oncall.runbooks.incident_notify:
    id: "{{ declared.incident.id }}"
    template: initial
    policy: "{{ incident_policy }}"
    channels:
      - type: slack
        url: "{{ vault_slack_incidents_webhook }}"
      - type: pagerduty
        routing_key: "{{ vault_pagerduty_routing_key }}"
      - type: opsgenie
        api_key: "{{ vault_opsgenie_api_key }}"
        url: https://api.eu.opsgenie.com
      - type: email
        host: smtp.example.com
        port: 587
        starttls: true
        user: incidents@example.com
        password: "{{ vault_smtp_password }}"
        from: incidents@example.com
        to: [oncall@example.com, dba@example.com]

- name: A status update with what is being done
  oncall.runbooks.incident_notify:
    id: "{{ declared.incident.id }}"
    template: update
    actions: terminated 37 idle sessions on the primary
    details: Connections are back under the limit; watching the error rate.
    next_update: 30m
    channels: "{{ incident_channels }}"

- name: The resolution notice, and resolve the PagerDuty incident and Opsgenie alert
  oncall.runbooks.incident_notify:
    id: "{{ declared.incident.id }}"
    template: resolution
    channels: "{{ incident_channels }}"

- name: A message of your own to a generic webhook, failing the play if it cannot be delivered
  oncall.runbooks.incident_notify:
    incident:
      id: INC-20261122-0001
      title: Checkout API returns 502
      severity: SEV2
      status: mitigating
    template: custom
    custom_template: "{id} ({severity}) - {title}\n\nStatus: {status}. Next update in {next_update} minutes."
    fail_on_error: true
    channels:
      - type: webhook
        url: "{{ vault_statuspage_hook }}"
        headers:
          Authorization: "Bearer {{ vault_statuspage_token }}"
'''

RETURN = r'''
template:
  description: The template that was rendered (what O(template=auto) chose).
  returned: success
  type: str
  sample: initial
title:
  description: The first line of the message.
  returned: success
  type: str
  sample: "\U0001F6A8 INCIDENT: checkout-api - Checkout API returns 502"
message:
  description: The rendered message, as sent to chat channels and as the body of the email.
  returned: success
  type: str
  sample: "\U0001F6A8 INCIDENT: checkout-api - Checkout API returns 502\n\nSeverity: SEV2\nImpact: ..."
results:
  description:
    - One entry per channel, in the order of O(channels), with C(type), C(name), C(target) (scheme and host only, or the SMTP
      server), C(action) (C(post), C(trigger)/C(acknowledge)/C(resolve), C(create)/C(note)/C(close), C(email)), C(ok), C(sent),
      C(outcome) (C(sent), C(failed) or C(would send)), C(attempts), C(status_code), C(seconds) and C(error) (one line, secrets removed).
  returned: success
  type: list
  elements: dict
  sample:
    - type: pagerduty
      name: pagerduty
      target: https://events.pagerduty.com
      action: trigger
      ok: false
      sent: false
      outcome: failed
      attempts: 3
      status_code: 503
      seconds: 3.02
      error: HTTP 503 Service Unavailable
sent:
  description: How many channels received the message (0 in check mode).
  returned: success
  type: int
  sample: 3
failed_channels:
  description: How many channels could not be reached (not called C(failed), which would fail the task).
  returned: success
  type: int
  sample: 1
summary:
  description: One line for humans and the timeline.
  returned: success
  type: str
  sample: "sent the initial notice to 3 of 4 channels; 1 failed: pagerduty: HTTP 503 Service Unavailable"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.incident import normalize_severity, now_iso, open_store, store_argument_spec, timeline_entry
from ansible_collections.oncall.runbooks.plugins.module_utils.notify import (
    CHANNEL_TYPES,
    check_channel,
    choose_template,
    notify_channel,
    render,
    summary_of,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, failing_on_error, parse_duration

CHANNEL_SPEC = dict(
    type=dict(type='str', required=True, choices=list(CHANNEL_TYPES)),
    name=dict(type='str'),
    url=dict(type='str', no_log=True),
    routing_key=dict(type='str', no_log=True),
    api_key=dict(type='str', no_log=True),
    headers=dict(type='dict', no_log=True),
    source=dict(type='str'),
    event_action=dict(type='str', choices=['trigger', 'acknowledge', 'resolve']),
    format=dict(type='str', choices=['messagecard', 'adaptivecard'], default='messagecard'),
    host=dict(type='str'),
    port=dict(type='int', default=25),
    starttls=dict(type='bool', default=False),
    user=dict(type='str'),
    password=dict(type='str', no_log=True),
    sender=dict(type='str', aliases=['from']),
    to=dict(type='list', elements='str'),
    timeout=dict(type='float', default=10.0),
    retries=dict(type='int', default=2),
    retry_delay=dict(type='float', default=1.0),
    validate_certs=dict(type='bool', default=True),
)


def read_record(module, params):
    """The record to render, with its severity normalised; from the store when an id is given."""
    if not params['id']:
        return dict(params['incident'])
    # Not held open while sending: a channel may take minutes to time out.
    store = open_store(module)
    try:
        record = store.get(params['id'])
    finally:
        store.close()
    if record is None:
        raise RunbookError('id: no incident %s in the store' % params['id'])
    return dict(record)


def record_notifications(module, incident_id, template, results, summary):
    """Add what was sent to the incident's notifications and timeline, under the store's lock."""
    stamp = now_iso()

    def mutate(record):
        record.setdefault('notifications', []).extend(
            dict(time=stamp, template=template, channel=item['name'], ok=item['ok'], error=item['error']) for item in results)
        record.setdefault('timeline', []).append(timeline_entry('notification', summary, time=stamp))

    store = open_store(module)
    try:
        store.update(incident_id, mutate)
    finally:
        store.close()


def main():
    argument_spec = store_argument_spec()
    argument_spec.update(
        id=dict(type='str'),
        incident=dict(type='dict'),
        template=dict(type='str', default='auto', choices=['auto', 'initial', 'update', 'resolution', 'custom']),
        custom_template=dict(type='str'),
        actions=dict(type='str'),
        details=dict(type='str'),
        next_update=dict(type='raw'),
        policy=dict(type='dict'),
        channels=dict(type='list', elements='dict', required=True, options=CHANNEL_SPEC),
        fail_on_error=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[('id', 'incident')], mutually_exclusive=[('id', 'incident')],
                           required_if=[('template', 'custom', ('custom_template',))])
    params = module.params

    with failing_on_error(module, 'incident_notify'):
        # Everything is checked before the first message goes out.
        for index, channel in enumerate(params['channels']):
            check_channel(channel, index)
        next_update = parse_duration(params['next_update'], 'next_update') if params['next_update'] not in (None, '') else None
        record = read_record(module, params)
        if record.get('severity') not in (None, ''):
            record['severity'] = normalize_severity(record['severity'])
        template = choose_template(record) if params['template'] == 'auto' else params['template']
        title, message = render(template, record, params['policy'], params['custom_template'], next_update, params['actions'], params['details'])

    results = [notify_channel(channel, record, template, title, message, module.check_mode) for channel in params['channels']]
    sent = len([item for item in results if item['sent']])
    failed = len([item for item in results if not item['ok']])
    summary = summary_of(template, results, module.check_mode)
    if params['id'] and not module.check_mode:
        with failing_on_error(module, 'incident store'):
            record_notifications(module, params['id'], template, results, summary)

    result = dict(changed=bool(results) if module.check_mode else sent > 0, template=template, title=title, message=message,
                  results=results, sent=sent, failed_channels=failed, summary=summary)
    if failed and params['fail_on_error']:
        module.fail_json(msg=summary, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
