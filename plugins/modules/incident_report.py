#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: incident_report
short_description: Render the post-incident report of an incident as Markdown
version_added: 0.1.0
description:
  - Reads the incident O(id) from the incident store and renders its post-incident report as Markdown,
    written to O(dest) when given and returned as RV(report).
  - "The report has: a summary (id, title, severity and priority, status, start, acknowledgement and resolution times,
    duration, impact, lead, services, root cause, resolution); the timeline as a Mermaid C(gantt) chart, which GitHub and
    GitLab render, and as a table; the fixes with their targets and whether each was carried out or refused; the evidence
    (names, times, the worst finding, links when stored as files or URLs); the notifications and escalations sent;
    and both runbooks' post-incident checklists with the items that the record proves ticked, each with its proof."
  - "What the record proves: service restored and verified (the incident is resolved and a diagnostic or evidence was
    recorded after the last fix); stakeholders notified (a resolution notice was sent successfully); timeline recorded
    (the timeline has entries); post-mortem and report due dates (within O(policy)'s C(post_mortem_within) of the
    resolution, 24 hours for SEV1, SEV2, P1 and P2 by default). Items that only a human can confirm stay unticked."
  - The report holds no time of its own, so the same record renders the same report, and a second run reports no change.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.incident_store
attributes:
  check_mode:
    support: full
    description: Renders the report and says whether O(dest) would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the old and new content of O(dest).
options:
  id:
    description:
      - The incident to report on, e.g. C(INC-20261122-0001).
    type: str
    required: true
  dest:
    description:
      - The Markdown file to write, e.g. C(reports/INC-20261122-0001.md). Its directory must exist.
      - When not set, the report is only returned as RV(report).
      - Evidence stored as files is linked relative to this file's directory.
    type: path
  policy:
    description:
      - The incident policy, C(incident_policy) of the C(oncall.runbooks.incident) role's defaults.
      - Read for each severity's C(name) and C(post_mortem_within), and each priority's C(post_mortem_within).
      - When not set, a post-mortem is due within 24 hours for SEV1, SEV2, P1 and P2, and not required otherwise.
    type: dict
  max_chart_entries:
    description:
      - At most this many tasks are drawn in the Mermaid chart (the table lists every entry), so that a long run
        still renders. Must be at least 1.
    type: int
    default: 60
notes:
  - Times in the report are UTC, as stored.
seealso:
  - module: oncall.runbooks.incident
    description: Declares, updates and resolves the incident that this module reports on.
  - plugin: oncall.runbooks.incident_timeline
    plugin_type: callback
    description: Records every task of a run in the incident's timeline.
'''

EXAMPLES = r'''
- name: Write the post-incident report next to the other reports
  oncall.runbooks.incident_report:
    id: "{{ incident.record.id }}"
    dest: "reports/{{ incident.record.id }}.md"
    policy: "{{ incident_policy }}"

- name: Show which checklist items are still open
  oncall.runbooks.incident_report:
    id: INC-20261122-0001
  register: report

- name: Open items
  ansible.builtin.debug:
    msg: "{{ report.checklist | rejectattr('done') | map(attribute='item') | list }}"
'''

RETURN = r'''
report:
  description: The report, in Markdown.
  returned: always
  type: str
  sample: "# INC-20261122-0001: Connection pool exhausted ..."
dest:
  description: The file written (or that would be written in check mode); absent when O(dest) is not set.
  returned: when O(dest) is set
  type: str
  sample: reports/INC-20261122-0001.md
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: "INC-20261122-0001 report written to reports/INC-20261122-0001.md: 42 timeline entries, 2 fixes, 3 evidence, 5 of 11 checklist items proven"
checklist:
  description: Every checklist item of both runbooks, with whether the record proves it done.
  returned: always
  type: list
  elements: dict
  contains:
    list:
      description: Which runbook's checklist, C(sev) (SEV1-SEV4 runbook) or C(priority) (P1-P3 runbook).
      type: str
    item:
      description: The item, as the runbook words it.
      type: str
    done:
      description: Whether the record proves it.
      type: bool
    proof:
      description: What in the record proves it, or what is still needed, in one line.
      type: str
post_mortem_due:
  description: When the post-mortem is due (ISO 8601 UTC), or null when the severity and priority do not call for one
    or the incident is not resolved.
  returned: always
  type: str
  sample: "2026-11-23T03:45:00Z"
'''

import os
import tempfile
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError,
    check_cap,
    failing_on_error,
    format_duration,
    parse_duration,
    parse_timestamp,
)

from ansible_collections.oncall.runbooks.plugins.module_utils.incident import check_id, check_policy, open_store, store_argument_spec

# Both seeds: a post-mortem for SEV1/SEV2 and for P1/P2, and the report within 24 hours.
DEFAULT_POST_MORTEM = {'SEV1': '24h', 'SEV2': '24h', 'P1': '24h', 'P2': '24h'}
SEVERITY_NAMES = {'SEV1': 'Critical', 'SEV2': 'Major', 'SEV3': 'Minor', 'SEV4': 'Low'}
# Mermaid gantt lines that start with these words are directives, not tasks.
GANTT_KEYWORDS = ('title', 'section', 'dateformat', 'axisformat', 'tickinterval', 'excludes', 'includes',
                  'todaymarker', 'weekday', 'acctitle', 'accdescr', 'inclusiveenddates', 'topaxis', 'displaymode')


# --- small helpers ------------------------------------------------------------------

def cell(value):
    """A value as one Markdown table cell: one line, pipes escaped, no HTML."""
    if value is None or value == '':
        return ''
    text = ' '.join(str(value).split())
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('<', '&lt;').replace('>', '&gt;')


def iso(stamp):
    return datetime.fromtimestamp(stamp, timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def chart_time(stamp):
    return datetime.fromtimestamp(stamp, timezone.utc).strftime('%Y-%m-%d %H:%M:%S')


def chart_label(text, limit=60):
    """A Mermaid gantt task name: no colon, semicolon or hash (they end the name), not a directive."""
    label = ' '.join(str(text or '').replace(':', ' ').replace(';', ',').replace('#', 'no. ').split()) or 'entry'
    if label.lower().startswith(GANTT_KEYWORDS):
        label = '- ' + label
    return label if len(label) <= limit else label[:limit - 3] + '...'


def by_time(entries):
    """Entries in time order (stable, unknown times last)."""
    def key(pair):
        stamp = parse_timestamp(pair[1].get('time'))
        return (stamp is None, stamp or 0, pair[0])
    return [entry for index, entry in sorted(enumerate(entries or []), key=key)]


def yes_no(value):
    return 'yes' if value else 'no'


# --- what the record proves ---------------------------------------------------------

def post_mortem_window(record, policy):
    """Seconds within which a post-mortem is due, or None when neither scale calls for one."""
    policy = policy or {}
    windows = []
    severity = record.get('severity')
    priority = record.get('priority')
    for scale, key in (('severities', severity), ('priorities', priority)):
        if not key:
            continue
        settings = (policy.get(scale) or {}).get(key)
        if isinstance(settings, dict) and 'post_mortem_within' in settings:
            value = settings['post_mortem_within']
        else:
            value = DEFAULT_POST_MORTEM.get(key)
        if value not in (None, '', False):
            windows.append(parse_duration(value, 'policy.%s.%s.post_mortem_within' % (scale, key)))
    return min(windows) if windows else None


def resolution_target(record, policy):
    """Seconds of the severity's resolution target (the shorter of the two scales' when both set one), or None."""
    targets = []
    for scale, key in (('severities', record.get('severity')), ('priorities', record.get('priority'))):
        settings = ((policy or {}).get(scale) or {}).get(key) if key else None
        if isinstance(settings, dict) and settings.get('resolution_target') not in (None, ''):
            targets.append(parse_duration(settings['resolution_target'], 'policy.%s.%s.resolution_target' % (scale, key)))
    return min(targets) if targets else None


def is_diagnostic(entry):
    module = str(entry.get('module') or '')
    return module.endswith(('_info', '_health', 'http_probe')) and not entry.get('failed') and not entry.get('check_mode')


def checklist(record, policy):
    """Both seeds' post-incident checklists, each item with whether the record proves it, and why."""
    resolved = record.get('status') == 'resolved' and parse_timestamp(record.get('resolved_at')) is not None
    resolved_at = parse_timestamp(record.get('resolved_at'))
    fixes = [fix for fix in record.get('fixes') or [] if fix.get('allowed', True)]
    fix_times = [parse_timestamp(fix.get('time')) for fix in fixes]
    last_fix = max([stamp for stamp in fix_times if stamp is not None] or [None], key=lambda stamp: stamp or 0)
    timeline = record.get('timeline') or []

    def after_last_fix(entry):
        stamp = parse_timestamp(entry.get('time'))
        return stamp is not None and (last_fix is None or stamp >= last_fix)

    checks = [item for item in record.get('evidence') or [] if after_last_fix(item)]
    checks += [entry for entry in timeline if entry.get('kind') == 'task' and is_diagnostic(entry) and after_last_fix(entry)]
    checks = by_time(checks)
    if not resolved:
        restored = (False, 'the incident is not resolved (status %s)' % (record.get('status') or 'unknown'))
    elif not checks:
        restored = (False, 'resolved at %s, but no diagnostic or evidence was recorded after %s' % (
            record.get('resolved_at'), 'the last fix' if last_fix else 'the start'))
    else:
        last = checks[-1]
        restored = (True, 'resolved at %s; verified by %s at %s' % (
            record.get('resolved_at'), last.get('name') or last.get('task') or last.get('module'), last.get('time')))

    resolution_notices = [item for item in record.get('notifications') or []
                          if item.get('ok') and str(item.get('template', '')).startswith('resolution')]
    channels = sorted(set(str(item.get('channel')) for item in resolution_notices))
    notified = (bool(resolution_notices), 'resolution notice sent to %s' % ', '.join(channels) if channels
                else 'no resolution notice was sent successfully')

    tasks = [entry for entry in timeline if entry.get('kind') == 'task']
    pages = [item for item in resolution_notices if 'status' in str(item.get('channel')).lower()]
    status_page = (bool(pages), 'resolution posted to %s' % pages[0].get('channel') if pages
                   else 'to be confirmed by the incident lead (no status page channel was notified)')
    recorded = (bool(timeline), '%d timeline entries, %d of them tasks' % (len(timeline), len(tasks)) if timeline
                else 'the timeline is empty')

    window = post_mortem_window(record, policy)
    due = iso(resolved_at + window) if window is not None and resolved_at is not None else None
    scales = '/'.join(value for value in (record.get('severity'), record.get('priority')) if value) or 'unknown severity'
    if window is None:
        post_mortem = (True, 'not required for %s' % scales)
    elif due:
        post_mortem = (False, 'required for %s: schedule it, due by %s' % (scales, due))
    else:
        post_mortem = (False, 'required for %s: due %s after the resolution' % (scales, format_duration(window)))
    report_due = iso(resolved_at + 86400) if resolved_at is not None else None
    report = (resolved, 'this report; due by %s' % report_due if report_due else 'render it again once the incident is resolved')
    human = (False, 'to be confirmed by the incident lead')

    items = [
        ('sev', 'Service fully restored and verified', restored),
        ('sev', 'Stakeholders notified of resolution', notified),
        ('sev', 'Incident ticket created with full timeline', recorded),
        ('sev', 'Monitoring/alerts verified working', human),
        ('sev', 'Post-mortem scheduled (SEV1/SEV2)', post_mortem),
        ('sev', 'Temporary workarounds documented', human),
        ('sev', 'Follow-up tasks created for permanent fixes', human),
        ('priority', 'Update status page', status_page),
        ('priority', 'Notify affected users', notified),
        ('priority', 'Create incident report within 24 hours', report),
        ('priority', 'Schedule post-mortem for P1/P2', post_mortem),
    ]
    return [{'list': scale, 'item': text, 'done': bool(proof[0]), 'proof': proof[1]} for scale, text, proof in items], due


# --- the report ---------------------------------------------------------------------

def summary_section(record, policy):
    severity = record.get('severity') or 'unknown'
    name = ((policy or {}).get('severities') or {}).get(severity, {}).get('name') or SEVERITY_NAMES.get(severity)
    severity_text = '%s (%s)' % (severity, name) if name else severity
    if record.get('priority'):
        severity_text += ', %s' % record['priority']
    started = parse_timestamp(record.get('started_at'))
    acknowledged = parse_timestamp(record.get('acknowledged_at'))
    resolved = parse_timestamp(record.get('resolved_at'))
    if started is not None and resolved is not None:
        duration = '%s (%s to %s)' % (format_duration(resolved - started), record.get('started_at'), record.get('resolved_at'))
        target = resolution_target(record, policy)
        if target is not None:
            duration += ', %s the %s resolution target' % ('within' if resolved - started <= target else 'over', format_duration(target))
    else:
        duration = 'not resolved yet'
    acknowledged_text = record.get('acknowledged_at') or 'not acknowledged'
    if started is not None and acknowledged is not None:
        acknowledged_text += ' (after %s)' % format_duration(acknowledged - started)
    customer = record.get('customer_impacting')
    rows = [
        ('Severity', severity_text),
        ('Status', record.get('status')),
        ('Started', record.get('started_at')),
        ('Acknowledged', acknowledged_text),
        ('Resolved', record.get('resolved_at') or 'not resolved'),
        ('Duration', duration),
        ('Impact', record.get('impact')),
        ('Customer impacting', None if customer is None else yes_no(customer)),
        ('Lead', record.get('lead')),
        ('Services', ', '.join(str(item) for item in record.get('services') or [])),
        ('Root cause', record.get('root_cause') or 'not recorded'),
        ('Resolution', record.get('resolution') or 'not recorded'),
    ]
    lines = ['# %s: %s' % (record.get('id'), cell(record.get('title')) or 'untitled incident'), '',
             '| Field | Value |', '|---|---|']
    lines += ['| %s | %s |' % (label, cell(value) or '-') for label, value in rows]
    return lines


def chart_section(record, limit):
    """A Mermaid gantt: the incident as one bar, status changes as milestones, one bar per task."""
    lines = ['```mermaid', 'gantt', '    title %s (UTC)' % chart_label(record.get('id')),
             '    dateFormat YYYY-MM-DD HH:mm:ss', '    axisFormat %H:%M', '    section Incident']
    started = parse_timestamp(record.get('started_at'))
    resolved = parse_timestamp(record.get('resolved_at'))
    if started is not None and resolved is not None:
        tag = 'crit' if record.get('severity') in ('SEV1', 'SEV2') else 'done'
        label = chart_label(record.get('severity') or 'incident')
        lines.append('    %s : %s, %s, %s' % (label, tag, chart_time(started), chart_time(max(resolved, started + 1))))
    elif started is not None:
        lines.append('    Started : milestone, %s, 0d' % chart_time(started))
    entries = by_time(record.get('timeline'))
    for entry in entries:
        stamp = parse_timestamp(entry.get('time'))
        if entry.get('kind') != 'task' and stamp is not None:
            label = '%s %s' % (entry.get('kind'), entry.get('summary') or '')
            lines.append('    %s : milestone, %s, 0d' % (chart_label(label, 40), chart_time(stamp)))
    tasks = [entry for entry in entries if entry.get('kind') == 'task' and not entry.get('skipped')
             and parse_timestamp(entry.get('time')) is not None]
    hosts = []
    for entry in tasks[:limit]:
        if entry.get('host') not in hosts:
            hosts.append(entry.get('host'))
    for host in hosts:
        lines.append('    section %s' % chart_label(host or 'controller'))
        for entry in tasks[:limit]:
            if entry.get('host') != host:
                continue
            end = parse_timestamp(entry['time'])
            start = end - float(entry.get('duration') or 0)
            tag = 'crit' if entry.get('failed') else 'active' if entry.get('changed') else 'done'
            name = chart_label(('[check] ' if entry.get('check_mode') else '') + str(entry.get('task') or entry.get('module')))
            lines.append('    %s : %s, %s, %s' % (name, tag, chart_time(start), chart_time(max(end, start + 1))))
    lines.append('```')
    if len(tasks) > limit:
        lines += ['', '_The chart shows the first %d of %d tasks; the table lists every entry._' % (limit, len(tasks))]
    return lines


def timeline_section(record, limit):
    lines = ['', '## Timeline', '']
    entries = by_time(record.get('timeline'))
    if not entries:
        return lines + ['No timeline entries were recorded.']
    lines += chart_section(record, limit) + ['', '| Time (UTC) | Kind | Host | What | Result | Duration | Summary |',
                                             '|---|---|---|---|---|---|---|']
    for entry in entries:
        if entry.get('kind') == 'task':
            what = '%s (%s)' % (entry.get('task'), entry.get('module')) if entry.get('module') else entry.get('task')
            result = entry.get('status') or ('failed' if entry.get('failed') else 'skipped' if entry.get('skipped')
                                             else 'changed' if entry.get('changed') else 'ok')
            if entry.get('check_mode'):
                result += ', check mode'
            duration = '%.1fs' % float(entry['duration']) if entry.get('duration') is not None else ''
        else:
            what, result, duration = '', '', ''
        lines.append('| %s | %s | %s | %s | %s | %s | %s |' % (
            cell(entry.get('time')), cell(entry.get('kind')), cell(entry.get('host')), cell(what), cell(result),
            duration, cell(entry.get('summary'))))
    return lines


def fixes_section(record):
    lines = ['', '## Fixes', '']
    fixes = by_time(record.get('fixes'))
    if not fixes:
        return lines + ['No fix was recorded.']
    lines += ['| Time (UTC) | Fix | Target | Carried out | Reason |', '|---|---|---|---|---|']
    for fix in fixes:
        allowed = 'yes' if fix.get('allowed', True) else 'no, refused'
        lines.append('| %s | %s | %s | %s | %s |' % (cell(fix.get('time')), cell(fix.get('fix')), cell(fix.get('target')), allowed,
                                                     cell(fix.get('reason'))))
    return lines


def evidence_link(item, base):
    """Where the evidence is: a link when it was stored as a file or URL, else 'in the record'."""
    data = item.get('data')
    location = item.get('path') or item.get('url') or item.get('file')
    if not location and isinstance(data, dict):
        location = data.get('path') or data.get('url') or data.get('file')
    if not location or not isinstance(location, str):
        return 'in the incident record'
    target = location
    if '://' not in location and base:
        target = os.path.relpath(os.path.abspath(location), base)
    return '[%s](%s)' % (cell(os.path.basename(location.rstrip('/')) or location), target.replace(' ', '%20').replace(')', '%29'))


def evidence_section(record, base):
    lines = ['', '## Evidence', '']
    evidence = by_time(record.get('evidence'))
    if not evidence:
        return lines + ['No evidence was recorded.']
    lines += ['| Time (UTC) | Name | Status | Where |', '|---|---|---|---|']
    for item in evidence:
        data = item.get('data') if isinstance(item.get('data'), dict) else {}
        status = data.get('status') or ''
        findings = data.get('findings') if isinstance(data.get('findings'), list) else []
        if findings and isinstance(findings[0], dict) and findings[0].get('message'):
            status = '%s: %s' % (status or findings[0].get('status'), findings[0]['message'])
        lines.append('| %s | %s | %s | %s |' % (cell(item.get('time')), cell(item.get('name')), cell(status), evidence_link(item, base)))
    return lines


def communication_section(record):
    lines = []
    notifications = by_time(record.get('notifications'))
    if notifications:
        lines += ['', '## Notifications', '', '| Time (UTC) | Template | Channel | Sent |', '|---|---|---|---|']
        for item in notifications:
            sent = 'yes' if item.get('ok') else 'no: %s' % (item.get('error') or 'failed')
            lines.append('| %s | %s | %s | %s |' % (cell(item.get('time')), cell(item.get('template')), cell(item.get('channel')), cell(sent)))
    escalations = by_time(record.get('escalations'))
    if escalations:
        lines += ['', '## Escalations', '', '| Time (UTC) | Step | Contacts |', '|---|---|---|']
        for item in escalations:
            contacts = item.get('contacts')
            contacts = ', '.join(str(contact) for contact in contacts) if isinstance(contacts, list) else contacts
            lines.append('| %s | %s | %s |' % (cell(item.get('time')), cell(item.get('step')), cell(contacts)))
    return lines


def checklist_section(items):
    titles = {'sev': 'Post-incident checklist (SEV1-SEV4 runbook)', 'priority': 'After resolution (P1-P3 runbook)'}
    lines = []
    for scale in ('sev', 'priority'):
        lines += ['', '## %s' % titles[scale], '']
        lines += ['- [%s] %s: %s' % ('x' if item['done'] else ' ', item['item'], item['proof'].replace('\n', ' '))
                  for item in items if item['list'] == scale]
    return lines


def render(record, policy=None, base=None, limit=60):
    """The report as Markdown, and the checklist and post-mortem due date it shows."""
    items, due = checklist(record, policy)
    lines = summary_section(record, policy)
    lines += timeline_section(record, limit)
    lines += fixes_section(record)
    lines += evidence_section(record, base)
    lines += communication_section(record)
    lines += checklist_section(items)
    return '\n'.join(lines) + '\n', items, due


# --- the module ---------------------------------------------------------------------

def write(module, dest, content):
    """Write atomically: a reader never sees half a report."""
    handle, temporary = tempfile.mkstemp(prefix='.incident_report-', dir=os.path.dirname(dest) or '.')
    try:
        with os.fdopen(handle, 'w') as stream:
            stream.write(content)
        module.atomic_move(temporary, dest)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def main():
    argument_spec = store_argument_spec()
    argument_spec.update(
        id=dict(type='str', required=True),
        dest=dict(type='path'),
        policy=dict(type='dict'),
        max_chart_entries=dict(type='int', default=60),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    with failing_on_error(module, 'incident_report'):
        check_cap(params['max_chart_entries'], 'max_chart_entries')
        check_id(params['id'])
        check_policy(params['policy'])
        dest = params['dest']
        if dest is not None:
            if os.path.isdir(dest):
                raise RunbookError('dest: %s is a directory; give the file to write, e.g. %s/%s.md' % (dest, dest.rstrip('/'), params['id']))
            if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
                raise RunbookError('dest: the directory %s does not exist' % os.path.dirname(os.path.abspath(dest)))
        policy = params['policy'] or {}
        # Fails the task with one line itself when the store cannot be opened.
        store = open_store(module)
    with failing_on_error(module, store.target):
        try:
            record = store.get(params['id'])
        finally:
            store.close()
        if record is None:
            raise RunbookError('id: incident %s is not in %s' % (params['id'], store.target))
        base = os.path.dirname(os.path.abspath(dest)) if dest else None
        report, items, due = render(record, policy, base, params['max_chart_entries'])

    result = dict(changed=False, report=report, checklist=items, post_mortem_due=due)
    counts = '%d timeline entries, %d fixes, %d evidence, %d of %d checklist items proven' % (
        len(record.get('timeline') or []), len(record.get('fixes') or []), len(record.get('evidence') or []),
        len([item for item in items if item['done']]), len(items))
    if dest is None:
        result['summary'] = '%s report rendered: %s' % (record.get('id'), counts)
        module.exit_json(**result)

    before = None
    if os.path.exists(dest):
        with failing_on_error(module, dest):
            with open(dest) as stream:
                before = stream.read()
    result.update(dest=dest, changed=before != report)
    if module._diff:
        result['diff'] = dict(before=before or '', after=report, before_header=dest if before is not None else '/dev/null', after_header=dest)
    if result['changed'] and not module.check_mode:
        with failing_on_error(module, dest):
            write(module, dest, report)
    verb = 'unchanged in' if not result['changed'] else 'would be written to' if module.check_mode else 'written to'
    result['summary'] = '%s report %s %s: %s' % (record.get('id'), verb, dest, counts)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
