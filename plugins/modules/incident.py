#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: incident
short_description: Declare, update and resolve an incident, and save evidence, in the incident store
version_added: 0.1.0
description:
  - The runbooks' "declare an incident, keep its state, resolve it" as a record in the incident store (a directory of
    JSON files, or a PostgreSQL table with O(store_dsn)) that the timeline callback, M(oncall.runbooks.incident_notify)
    and the post-incident report read.
  - O(state=declared) creates the incident, or joins the one that exists - the same O(id), or without O(id) the open
    incident with the same O(dedup_key). Declaring twice, even at the same moment from two runners, gives one record and
    reports C(changed=false) the second time. Joining does not change the existing fields; it only adds O(note),
    O(evidence) and O(acknowledged).
  - O(state=present) creates the incident if missing and otherwise updates it with the options given.
  - O(state=updated) changes an existing incident (found by O(id) or by O(dedup_key) among the open ones). Options that are
    not given are left alone; an update with nothing new reports C(changed=false) and writes nothing.
  - O(state=resolved) sets the status to C(resolved) and C(resolved_at). A resolution is required, given as O(resolution)
    or already recorded, because the resolution notice and the report say what fixed it.
  - O(evidence) saves diagnostic results (for example a registered C(pg_activity_info) result) with the record, each
    with the time it was saved, before any fix runs; evidence identical to the latest of the same name is not saved twice.
  - Status and severity changes, notes and evidence are also added to the incident's timeline.
  - With O(policy) (the C(incident) role's C(incident_policy)), returns the response deadline, the escalation steps that
    are due and the time of the next stakeholder update.
  - Bad input (an unknown severity or status, a time that does not read, a policy that does not read) fails before the
    store is touched, with one line naming the option.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.incident_store
attributes:
  check_mode:
    support: full
    description: Reads the store, returns the record as it would be and whether it would change, and writes nothing.
  diff_mode:
    support: full
    description: Shows the fields that change, before and after, and the timeline entries that would be added.
options:
  state:
    description:
      - V(declared) creates or joins; V(present) creates or updates; V(updated) changes an existing incident;
        V(resolved) resolves an existing incident.
    type: str
    choices: [declared, present, updated, resolved]
    default: present
  id:
    description:
      - The incident id, for example C(INC-20261123-0001). Letters, digits, C(.), C(_) and C(-), at most 64 characters.
      - When a new incident is declared without it, the next C(INC-YYYYMMDD-NNNN) of the day (UTC) is used.
    type: str
  dedup_key:
    description:
      - What makes two declarations the same incident when no O(id) is given, for example the alert's fingerprint or
        C(linkflow/db-connections). At most one open incident has a given key.
    type: str
  title:
    description:
      - One line saying what is wrong. Required to create an incident.
    type: str
  severity:
    description:
      - V(SEV1) to V(SEV4), or V(P1) to V(P3) (mapped to SEV1 to SEV3, and kept as the priority); case does not matter
        and a bare number means SEV. Required to create an incident.
    type: str
  status:
    description:
      - V(investigating), V(identified), V(mitigating), V(monitoring) or V(resolved). A new incident starts as
        V(investigating). V(resolved) is the same as O(state=resolved).
    type: str
  impact:
    description:
      - Who or what is affected, in words, for the status messages.
    type: str
  customer_impacting:
    description:
      - Whether customers are affected. Drives the escalation steps with condition C(customer_impacting).
    type: bool
  lead:
    description:
      - The incident lead (commander).
    type: str
  services:
    description:
      - The affected services, for example C(linkflow/api). Replaces the list when given.
    type: list
    elements: str
  started_at:
    description:
      - When the incident started, ISO 8601 (for example C(2026-11-23T02:40:00Z)); for backfilling an incident
        declared late. Used only when the incident is created. Defaults to now.
    type: str
  acknowledged:
    description:
      - V(true) records that a responder acknowledged the incident (C(acknowledged_at), once). V(false) changes nothing.
    type: bool
  root_cause:
    description:
      - What caused the incident, once known.
    type: str
  resolution:
    description:
      - What fixed it. Required to resolve unless already recorded.
    type: str
  note:
    description:
      - A line added to the timeline. The same note is not added twice.
    type: str
  evidence:
    description:
      - Diagnostic results to keep with the incident, as a dict of name to data, for example the registered result
        of a diagnostic module under the name C(db_activity). Each is saved with the time, before fixes run.
    type: dict
  policy:
    description:
      - The severity policy, normally C("{{ incident_policy }}") from the C(oncall.runbooks.incident) role.
      - Without it, RV(response_deadline) and RV(next_update_at) are null and RV(escalations_due) is empty.
    type: dict
notes:
  - The directory store locks with C(fcntl); it is safe for concurrent runs on one host. Use O(store_dsn) when runs on
    several hosts must share incidents.
seealso:
  - module: oncall.runbooks.incident_fix_guard
    description: The circuit breaker that fix roles consult before a fix.
  - module: oncall.runbooks.incident_notify
    description: Sends the status messages of an incident.
'''

EXAMPLES = r'''
- name: Declare (or join) the incident for this alert
  oncall.runbooks.incident:
    state: declared
    dedup_key: linkflow/db-connections
    title: PostgreSQL connections exhausted
    severity: SEV1
    services: [linkflow/api, linkflow/db]
    customer_impacting: true
    policy: "{{ incident_policy }}"
  register: incident

- name: Keep the diagnosis with the incident before fixing anything
  oncall.runbooks.incident:
    state: updated
    id: "{{ incident.incident.id }}"
    status: identified
    evidence:
      db_activity: "{{ activity }}"
    note: 97 of 100 connections used by idle sessions

- name: Resolve
  oncall.runbooks.incident:
    state: resolved
    id: "{{ incident.incident.id }}"
    root_cause: Connection leak in the worker release 4.2
    resolution: Terminated 37 idle sessions and rolled back the worker

- name: Backfill an incident that started before anyone declared it
  oncall.runbooks.incident:
    state: declared
    title: Redis out of memory
    severity: P2
    started_at: "2026-11-23T02:10:00Z"
    store_dsn: "{{ incident_store_dsn }}"
'''

RETURN = r'''
incident:
  description: The incident record as stored (in check mode, as it would be stored; a new one then has C(id) null unless O(id) was given).
  returned: always
  type: dict
  contains:
    id:
      description: The incident id.
      type: str
      sample: INC-20261123-0001
    dedup_key:
      description: The deduplication key, or null.
      type: str
    title:
      description: What is wrong.
      type: str
    severity:
      description: SEV1 to SEV4.
      type: str
      sample: SEV1
    priority:
      description: P1 to P3, as given or derived from the severity (SEV4 reads as P3).
      type: str
      sample: P1
    status:
      description: investigating, identified, mitigating, monitoring or resolved.
      type: str
    impact:
      description: Who or what is affected.
      type: str
    customer_impacting:
      description: Whether customers are affected.
      type: bool
    lead:
      description: The incident lead, or null.
      type: str
    services:
      description: The affected services.
      type: list
      elements: str
    started_at:
      description: ISO 8601 UTC.
      type: str
      sample: "2026-11-23T02:40:00Z"
    acknowledged_at:
      description: ISO 8601 UTC, or null.
      type: str
    resolved_at:
      description: ISO 8601 UTC, or null.
      type: str
    root_cause:
      description: The root cause, or null.
      type: str
    resolution:
      description: What fixed it, or null.
      type: str
    timeline:
      description: Entries with C(time), C(kind) (task, note, status, notification, escalation, evidence, fix) and C(summary).
      type: list
      elements: dict
    evidence:
      description: Entries with C(time), C(name) and C(data).
      type: list
      elements: dict
    notifications:
      description: Entries with C(time), C(template), C(channel), C(ok) and C(error).
      type: list
      elements: dict
    escalations:
      description: Entries with C(time), C(step) and C(contacts).
      type: list
      elements: dict
    fixes:
      description: Entries with C(time), C(fix), C(target), C(allowed) and C(reason) (see M(oncall.runbooks.incident_fix_guard)).
      type: list
      elements: dict
    updated_at:
      description: ISO 8601 UTC of the last write.
      type: str
created:
  description: Whether the incident was created by this task (in check mode, would be).
  returned: always
  type: bool
changes:
  description: The names of the fields that changed (or would change), including C(timeline) and C(evidence).
  returned: always
  type: list
  elements: str
  sample: [status, evidence, timeline]
summary:
  description: One line for humans and the timeline.
  returned: always
  type: str
  sample: "declared INC-20261123-0001 SEV1 PostgreSQL connections exhausted"
response_deadline:
  description: C(started_at) plus the severity's C(response_time) of O(policy); null without a policy.
  returned: always
  type: str
  sample: "2026-11-23T02:55:00Z"
escalations_due:
  description:
    - The escalation steps of the severity that are due now and not yet recorded in the incident's C(escalations),
      each as in the policy (C(step), C(after), C(condition), C(contacts)) plus C(due_at). Empty without a policy.
  returned: always
  type: list
  elements: dict
  sample: [{step: engineering-lead, after: 5m, condition: no_response, contacts: [engineering_lead], due_at: "2026-11-23T02:45:00Z"}]
next_update_at:
  description: The last stakeholder update sent (or the start) plus the severity's C(update_every); null when resolved or without a policy.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.incident import (
    check_id,
    check_policy,
    copy_record,
    escalation_due,
    new_record,
    normalize_priority,
    normalize_severity,
    normalize_status,
    now_iso,
    open_store,
    parse_iso,
    response_deadline,
    next_update_at,
    store_argument_spec,
    timeline_entry,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, failing_on_error

# Fields that an option sets as given (None means "not given").
PLAIN_FIELDS = ('title', 'impact', 'customer_impacting', 'lead', 'root_cause', 'resolution', 'dedup_key')


def validated(params):
    """Check and normalise the options; raise RunbookError naming the option. Touches nothing."""
    if params['id'] is not None:
        check_id(params['id'])
    if params['severity'] is not None:
        params['priority'] = normalize_priority(params['severity'])
        params['severity'] = normalize_severity(params['severity'])
    if params['status'] is not None:
        params['status'] = normalize_status(params['status'])
        if params['status'] == 'resolved':
            params['state'] = 'resolved'
    if params['state'] == 'resolved' and params['status'] not in (None, 'resolved'):
        raise RunbookError('status: %s contradicts state=resolved' % params['status'])
    if params['started_at'] is not None:
        params['started_at'] = now_iso(parse_iso(params['started_at'], 'started_at'))
    for option in ('title', 'resolution'):
        if params[option] is not None and not params[option].strip():
            raise RunbookError('%s: must not be empty' % option)
    if params['state'] in ('updated', 'resolved') and not (params['id'] or params['dedup_key']):
        raise RunbookError('state=%s needs id or dedup_key to find the incident' % params['state'])
    if params['state'] == 'declared' and not (params['title'] and params['severity']):
        raise RunbookError('state=declared needs title and severity')
    check_policy(params['policy'])
    return params


def apply_options(record, params, now, join_only=False):
    """Change ``record`` as the options ask; return the names of what changed. Adds timeline entries."""
    changes = []
    timeline = []
    if not join_only:
        for field in PLAIN_FIELDS:
            if params[field] is not None and record.get(field) != params[field]:
                record[field] = params[field]
                changes.append(field)
        if params['services'] is not None and list(record.get('services') or []) != params['services']:
            record['services'] = list(params['services'])
            changes.append('services')
        if params['severity'] is not None and record.get('severity') != params['severity']:
            timeline.append(timeline_entry('status', 'severity %s -> %s' % (record.get('severity'), params['severity']), now))
            record['severity'] = params['severity']
            changes.append('severity')
        if params['severity'] is not None and record.get('priority') != params['priority']:
            record['priority'] = params['priority']
            changes.append('priority')
        status = 'resolved' if params['state'] == 'resolved' else params['status']
        if status is not None and record.get('status') != status:
            timeline.append(timeline_entry('status', 'status %s -> %s' % (record.get('status'), status), now))
            record['status'] = status
            changes.append('status')
            resolved_at = now if status == 'resolved' else None
            if record.get('resolved_at') != resolved_at:
                record['resolved_at'] = resolved_at
                changes.append('resolved_at')
    if params['acknowledged'] and not record.get('acknowledged_at'):
        record['acknowledged_at'] = now
        timeline.append(timeline_entry('status', 'acknowledged', now))
        changes.append('acknowledged_at')
    if params['note'] and not any(item.get('kind') == 'note' and item.get('summary') == params['note'] for item in record.get('timeline') or []):
        timeline.append(timeline_entry('note', params['note'], now))
    for name in sorted(params['evidence'] or {}):
        data = params['evidence'][name]
        saved = [item for item in record.get('evidence') or [] if item.get('name') == name]
        if saved and saved[-1].get('data') == data:
            continue
        record.setdefault('evidence', []).append(dict(time=now, name=name, data=data))
        timeline.append(timeline_entry('evidence', 'evidence saved: %s' % name, now))
        if 'evidence' not in changes:
            changes.append('evidence')
    if timeline:
        record.setdefault('timeline', []).extend(timeline)
        changes.append('timeline')
    return changes


def creation_fields(params):
    if not (params['title'] and params['severity']):
        raise RunbookError('no incident %s in the store; creating one needs title and severity' % (params['id'] or params['dedup_key'] or ''))
    fields = dict((key, params[key]) for key in ('id', 'dedup_key', 'title', 'severity', 'priority', 'status', 'impact', 'customer_impacting',
                                                 'lead', 'services', 'started_at', 'root_cause', 'resolution'))
    if params['state'] == 'resolved':
        fields['status'] = 'resolved'
    return fields


def check_resolvable(record, params):
    if (params['state'] == 'resolved' or record.get('status') == 'resolved') and not (record.get('resolution') or params['resolution']):
        raise RunbookError('resolution: required to resolve %s (say what fixed it)' % (record.get('id') or 'the incident'))


def declare_new(store, params, check_mode):
    """Create the incident (or find that a concurrent run just did). Returns (record, created, changes)."""
    now = now_iso()
    record = new_record(creation_fields(params))
    check_resolvable(record, params)
    record['timeline'].append(timeline_entry('status', 'declared %s %s' % (record['severity'], record['title']), now))
    apply_options(record, dict(params, state='present', status=None), now, join_only=True)
    if check_mode:
        return record, True, ['created']
    stored, created = store.declare(record)
    if created:
        return stored, True, ['created']
    # Another run declared it between our read and our write: join it like a second declaration.
    return join(store, stored, params, check_mode)


def join(store, record, params, check_mode):
    """Apply the options to an existing incident. Returns (record, created, changes)."""
    join_only = params['state'] == 'declared'
    preview = copy_record(record)
    changes = apply_options(preview, params, now_iso(), join_only)
    check_resolvable(preview, params)
    if not changes or check_mode:
        return preview, False, changes

    def mutate(current):
        # Re-applied under the store's lock to the current record: a concurrent update is not lost.
        return bool(apply_options(current, params, now_iso(), join_only))

    return store.update(record['id'], mutate), False, changes


def diff_of(before, after, changes):
    scalar = [name for name in changes if name not in ('timeline', 'evidence', 'created')]
    added = (after.get('timeline') or [])[len((before or {}).get('timeline') or []):]
    return dict(before=dict((name, (before or {}).get(name)) for name in scalar),
                after=dict([(name, after.get(name)) for name in scalar] + [('timeline_added', [item['summary'] for item in added])]))


def summarize(record, created, changes, check_mode):
    label = record.get('id') or 'a new incident'
    if created:
        return '%s %s %s %s' % ('would declare' if check_mode else 'declared', label, record['severity'], record['title'])
    if not changes:
        return '%s %s unchanged (%s, %s)' % (label, record.get('severity'), record.get('status'), record.get('title'))
    return '%s %s: %s' % ('would update' if check_mode else 'updated', label, ', '.join(changes))


def main():
    argument_spec = dict(
        state=dict(type='str', default='present', choices=['declared', 'present', 'updated', 'resolved']),
        id=dict(type='str'),
        dedup_key=dict(type='str', no_log=False),
        title=dict(type='str'),
        severity=dict(type='str'),
        status=dict(type='str'),
        impact=dict(type='str'),
        customer_impacting=dict(type='bool'),
        lead=dict(type='str'),
        services=dict(type='list', elements='str'),
        started_at=dict(type='str'),
        acknowledged=dict(type='bool'),
        root_cause=dict(type='str'),
        resolution=dict(type='str'),
        note=dict(type='str'),
        evidence=dict(type='dict'),
        policy=dict(type='dict'),
    )
    argument_spec.update(store_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = dict(module.params, priority=None)
    with failing_on_error(module, 'incident'):
        validated(params)
    store = open_store(module)
    with failing_on_error(module, store.target):
        try:
            existing = store.find(params['id'], params['dedup_key'])
            if existing is None and params['state'] in ('updated', 'resolved'):
                raise RunbookError('%s: no %s' % (store.target, 'incident %s' % params['id'] if params['id']
                                                  else 'open incident with dedup_key %s' % params['dedup_key']))
            if existing is None:
                record, created, changes = declare_new(store, params, module.check_mode)
            else:
                record, created, changes = join(store, existing, params, module.check_mode)
        finally:
            store.close()
        policy = params['policy'] or {}
        result = dict(
            changed=bool(changes),
            created=created,
            changes=changes,
            incident=record,
            summary=summarize(record, created, changes, module.check_mode),
            response_deadline=response_deadline(record, policy),
            escalations_due=escalation_due(record, policy),
            next_update_at=next_update_at(record, policy),
        )
        if module._diff:
            result['diff'] = diff_of(existing, record, changes)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
