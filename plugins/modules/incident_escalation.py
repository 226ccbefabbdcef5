#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: incident_escalation
short_description: Claim the escalation steps of open incidents that are now due
version_added: 0.1.0
description:
  - For every open incident of the store (or only O(id)), finds the escalation steps of its severity that are due now
    and not yet recorded, as the policy says (SEV1, for example - engineering lead after 5 minutes without
    acknowledgement, CTO/VP after 15 minutes unresolved, executives after 30 minutes if customer-impacting).
  - Records each due step in the incident's C(escalations) and timeline, under the store's lock (or in one transaction
    with the PostgreSQL store), and returns it in RV(escalations) with the contacts to reach and their contact methods.
    A step is claimed by one run only, so two overlapping scheduled runs never escalate the same step twice.
  - Meant for C(playbooks/escalate.yml), which sends each returned step to its contacts with M(oncall.runbooks.incident_notify).
  - In check mode, returns the steps that are due and records nothing.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.incident_store
attributes:
  check_mode:
    support: full
    description: Returns the due steps, each with C(recorded=false), and writes nothing.
  diff_mode:
    support: none
    description: RV(escalations) lists the steps recorded.
options:
  policy:
    description:
      - The incident policy, C(incident_policy) of the C(oncall.runbooks.incident) role's defaults; its C(severities)
        give each severity's C(escalation) steps and its C(contacts) the contact methods.
    type: dict
    required: true
  id:
    description:
      - Only this incident, e.g. C(INC-20261122-0001). By default, every open incident of the store.
    type: str
notes:
  - A step is recorded before its contacts are notified, so that it is never repeated; a notification that fails is
    recorded with the incident by M(oncall.runbooks.incident_notify) and shown in the post-incident report.
seealso:
  - module: oncall.runbooks.incident
  - module: oncall.runbooks.incident_notify
'''

EXAMPLES = r'''
- name: Claim the escalation steps that are due
  oncall.runbooks.incident_escalation:
    policy: "{{ incident_policy }}"
  register: due

- name: Tell each step's contacts
  oncall.runbooks.incident_notify:
    id: "{{ item.id }}"
    template: custom
    custom_template: "ESCALATION {id} to {{ item.step }}: {title}"
    channels: "{{ item.methods | select('in', my_channels) | map('extract', my_channels) | list }}"
  loop: "{{ due.escalations }}"
  loop_control:
    label: "{{ item.id }} {{ item.step }}"
'''

RETURN = r'''
escalations:
  description: The steps due now, one per incident and step, in the order of the policy.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The incident id.
      type: str
      sample: INC-20261122-0001
    title:
      description: The incident's title.
      type: str
    severity:
      description: The incident's severity.
      type: str
      sample: SEV1
    step:
      description: The step's name (or its number in the policy).
      type: str
      sample: engineering-lead
    condition:
      description: The step's condition, C(no_response), C(unresolved), C(customer_impacting) or C(no_progress).
      type: str
    after:
      description: The step's delay as written in the policy.
      type: str
      sample: 5m
    due_at:
      description: When the step became due (ISO 8601 UTC).
      type: str
    contacts:
      description: The contacts of the step (keys of the policy's C(contacts)).
      type: list
      elements: str
      sample: [engineering_lead]
    methods:
      description: The contact methods of those contacts, in the policy's order, without duplicates.
      type: list
      elements: str
      sample: [slack_dm, phone]
    recorded:
      description: Whether this run recorded the step (false in check mode).
      type: bool
incidents_checked:
  description: How many open incidents were looked at.
  returned: always
  type: int
summary:
  description: One line for humans and the timeline.
  returned: always
  type: str
  sample: "escalated 2 steps of 1 of 3 open incidents: INC-20261122-0001 engineering-lead, cto-vp-engineering"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.incident import (
    check_id,
    check_policy,
    escalation_due,
    is_open,
    now_iso,
    open_store,
    store_argument_spec,
    timeline_entry,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, failing_on_error


def methods_of(contacts, policy):
    methods = []
    for contact in contacts:
        for method in ((policy.get('contacts') or {}).get(contact) or {}).get('methods') or []:
            if method not in methods:
                methods.append(method)
    return methods


def described(record, step, policy, recorded):
    return dict(id=record['id'], title=record.get('title'), severity=record.get('severity'), step=step['step'],
                condition=step.get('condition', 'unresolved'), after=str(step.get('after', 0)), due_at=step['due_at'],
                contacts=list(step['contacts']), methods=methods_of(step['contacts'], policy), recorded=recorded)


def claim(store, incident_id, policy):
    """Record the due steps of one incident under the store's lock; returns the steps claimed by this run."""
    claimed = []

    def mutate(record):
        # Computed again under the lock: a step that another run claimed meanwhile is no longer due.
        if not is_open(record):
            return False
        now = now_iso()
        for step in escalation_due(record, policy, now):
            record.setdefault('escalations', []).append(dict(time=now, step=step['step'], contacts=step['contacts'], due_at=step['due_at'],
                                                             condition=step.get('condition', 'unresolved')))
            contacts = ', '.join(step['contacts']) or 'no contacts'
            summary = 'escalated to %s (%s): %s after %s' % (step['step'], contacts, step.get('condition', 'unresolved'), step.get('after', 0))
            record.setdefault('timeline', []).append(timeline_entry('escalation', summary, now))
            claimed.append(step)
        return bool(claimed)

    record = store.update(incident_id, mutate)
    return [described(record, step, policy, True) for step in claimed]


def main():
    argument_spec = store_argument_spec()
    argument_spec.update(
        policy=dict(type='dict', required=True),
        id=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    with failing_on_error(module, 'incident_escalation'):
        check_policy(params['policy'], 'policy')
        if not (params['policy'].get('severities') or {}):
            raise RunbookError('policy: has no severities; pass the incident role\'s incident_policy')
        if params['id'] is not None:
            check_id(params['id'])
    policy = params['policy']
    store = open_store(module)
    escalations = []
    with failing_on_error(module, store.target):
        try:
            if params['id']:
                record = store.get(params['id'])
                if record is None:
                    raise RunbookError('id: incident %s is not in %s' % (params['id'], store.target))
                incidents = [record] if is_open(record) else []
            else:
                incidents = store.open_incidents()
            for record in incidents:
                due = escalation_due(record, policy)
                if not due:
                    continue
                if module.check_mode:
                    escalations += [described(record, step, policy, False) for step in due]
                else:
                    escalations += claim(store, record['id'], policy)
        finally:
            store.close()

    touched = sorted(set(item['id'] for item in escalations))
    verb = 'would escalate' if module.check_mode else 'escalated'
    summary = '%s %d steps of %d of %d open incidents' % (verb, len(escalations), len(touched), len(incidents))
    if escalations:
        summary += ': ' + '; '.join('%s %s' % (incident_id, ', '.join(item['step'] for item in escalations if item['id'] == incident_id))
                                    for incident_id in touched)
    module.exit_json(changed=bool(escalations), escalations=escalations, incidents_checked=len(incidents), summary=summary)


if __name__ == '__main__':
    main()
