#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: incident_fix_guard
short_description: Decide whether a fix may run - the remediation policy and a circuit breaker per fix and target
version_added: 0.1.0
description:
  - Consulted by a runbook right before a fix (a restart, a rollback, a session kill). Returns RV(allowed) and one line,
    RV(reason), that the fix task can use in its C(when) and the runbook can show when it skips the fix.
  - The circuit breaker - the same O(fix) of the same O(target) may run at most O(max_fixes) times within O(window),
    counted across every incident of the store. The N+1th attempt is refused - restarting a crash-looping service a
    fourth time in an hour hides the cause instead of fixing it; a human decides.
  - Each allowed attempt is recorded in the store (under its lock or in one transaction, so two concurrent runs cannot
    both take the last allowed attempt). Refused attempts are recorded too but do not count.
  - With O(incident) and O(policy), the remediation mode of the incident's severity applies first - C(auto) lets the
    breaker decide, C(approve) refuses unless O(approved=true), C(advise) always refuses (the fix is proposed, not run).
    The attempt, allowed or not, is added to the incident's C(fixes) and timeline.
  - In check mode nothing is recorded; RV(allowed) says what the real run would decide now.
  - The task never fails because a fix is refused; it fails (one line) only on bad input or an unreachable store.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.incident_store
attributes:
  check_mode:
    support: full
    description: Decides as the real run would and records nothing.
  diff_mode:
    support: none
    description: Nothing to compare; RV(reason) says what was decided.
options:
  fix:
    description:
      - The fix, usually the module name, for example C(docker_service_restart) or C(k8s_rollback).
    type: str
    required: true
  target:
    description:
      - What the fix acts on, for example C(linkflow/api) or C(deployment/workflow-engine).
    type: str
    required: true
  incident:
    description:
      - The id of the incident the fix belongs to. Its severity selects the remediation mode of O(policy), and the
        attempt is recorded in its C(fixes) and timeline.
    type: str
  max_fixes:
    description:
      - How many times O(fix) may run on O(target) within O(window). At least 1.
      - Defaults to C(circuit_breaker.max_fixes) of O(policy), else 3.
    type: int
  window:
    description:
      - The period the attempts are counted over, a duration such as C(1h) or C(30m), or a number of seconds.
      - Defaults to C(circuit_breaker.window) of O(policy), else C(1h).
    type: raw
  approved:
    description:
      - A human approved this fix. Needed when the incident's severity has C(remediation=approve).
    type: bool
    default: false
  policy:
    description:
      - The severity policy, normally C("{{ incident_policy }}") from the C(oncall.runbooks.incident) role.
    type: dict
seealso:
  - module: oncall.runbooks.incident
    description: Declares the incident whose fixes are guarded.
'''

EXAMPLES = r'''
- name: May the API be restarted once more?
  oncall.runbooks.incident_fix_guard:
    fix: docker_service_restart
    target: linkflow/api
    incident: "{{ incident.incident.id }}"
    policy: "{{ incident_policy }}"
  register: guard

- name: Restart the API (only when the guard allows it)
  oncall.runbooks.docker_service_restart:
    project: linkflow
    services: [api]
  when: guard.allowed

- name: Say why the restart was skipped
  ansible.builtin.debug:
    msg: "{{ guard.reason }}"
  when: not guard.allowed
'''

RETURN = r'''
allowed:
  description: Whether the fix may run now.
  returned: always
  type: bool
reason:
  description: One line saying why, for humans and the timeline.
  returned: always
  type: str
  sample: "circuit breaker open: docker_service_restart of linkflow/api already ran 3 times in the last 1h (max_fixes 3); a human must decide"
status:
  description: C(ok) when allowed, C(critical) when refused.
  returned: always
  type: str
findings:
  description: When refused, one finding (C(check) is C(circuit_breaker) or C(remediation_policy)) with the reason as its message; else empty.
  returned: always
  type: list
  elements: dict
attempts:
  description: How many allowed attempts of O(fix) on O(target) fall within the window, this one included when allowed.
  returned: always
  type: int
  sample: 2
max_fixes:
  description: The cap that applied.
  returned: always
  type: int
window:
  description: The window that applied, in seconds.
  returned: always
  type: float
  sample: 3600.0
remediation:
  description: The remediation mode of the incident's severity (auto, approve or advise), or null without O(incident) and O(policy).
  returned: always
  type: str
changed:
  description: True when the attempt was allowed (and, outside check mode, recorded).
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.incident import (
    check_id,
    check_policy,
    now_iso,
    open_store,
    severity_policy,
    store_argument_spec,
    timeline_entry,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, check_cap, failing_on_error, finding, parse_duration

REMEDIATION_MODES = ('auto', 'approve', 'advise')


def limits(params):
    """max_fixes and window (seconds): the options, else the policy's circuit breaker, else 3 in 1h."""
    breaker = (params['policy'] or {}).get('circuit_breaker') or {}
    if params['max_fixes'] is not None:
        max_fixes = check_cap(params['max_fixes'], 'max_fixes')
    else:
        max_fixes = check_cap(breaker.get('max_fixes', 3), 'policy.circuit_breaker.max_fixes')
    option = 'window' if params['window'] is not None else 'policy.circuit_breaker.window'
    window = parse_duration(params['window'] if params['window'] is not None else breaker.get('window', '1h'), option)
    if window <= 0:
        raise RunbookError('%s: must be longer than 0s' % option)
    return max_fixes, window


def remediation_refusal(record, params):
    """The reason the incident's remediation mode refuses the fix, or None; and the mode."""
    mode = severity_policy(params['policy'], record.get('severity')).get('remediation', 'auto') if params['policy'] else None
    if mode is not None and mode not in REMEDIATION_MODES:
        raise RunbookError('policy.severities.%s.remediation: %r is not one of %s' % (record.get('severity'), mode, ', '.join(REMEDIATION_MODES)))
    if mode == 'advise':
        return mode, '%s remediation is advise: %s of %s is proposed, not run' % (record['severity'], params['fix'], params['target'])
    if mode == 'approve' and not params['approved']:
        return mode, '%s remediation is approve: %s of %s needs approved=true from a human' % (record['severity'], params['fix'], params['target'])
    return mode, None


def main():
    argument_spec = dict(
        fix=dict(type='str', required=True),
        target=dict(type='str', required=True),
        incident=dict(type='str'),
        max_fixes=dict(type='int'),
        window=dict(type='raw'),
        approved=dict(type='bool', default=False),
        policy=dict(type='dict'),
    )
    argument_spec.update(store_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    with failing_on_error(module, 'incident_fix_guard'):
        for option in ('fix', 'target'):
            if not params[option].strip():
                raise RunbookError('%s: must not be empty' % option)
        if params['incident'] is not None:
            check_id(params['incident'], 'incident')
        check_policy(params['policy'])
        max_fixes, window = limits(params)

    store = open_store(module)
    with failing_on_error(module, store.target):
        try:
            now = now_iso()
            mode, refusal = None, None
            if params['incident']:
                record = store.get(params['incident'])
                if record is None:
                    raise RunbookError('incident: no incident %s in %s' % (params['incident'], store.target))
                mode, refusal = remediation_refusal(record, params)
            attempt = dict(time=now, fix=params['fix'], target=params['target'], incident=params['incident'])
            if refusal:
                allowed, reason, count, check = False, refusal, 0, 'remediation_policy'
            else:
                allowed, reason, count = store.fix_attempt(attempt, max_fixes, window, dry_run=module.check_mode)
                check = 'circuit_breaker'
            if params['incident'] and not module.check_mode:
                def mutate(current):
                    current.setdefault('fixes', []).append(dict(time=now, fix=params['fix'], target=params['target'], allowed=allowed, reason=reason))
                    current.setdefault('timeline', []).append(timeline_entry('fix', reason, now, fix=params['fix'], target=params['target'], allowed=allowed))
                store.update(params['incident'], mutate)
        finally:
            store.close()
    module.exit_json(
        changed=allowed,
        allowed=allowed,
        reason=reason,
        status='ok' if allowed else 'critical',
        findings=[] if allowed else [finding(check, 'critical', reason, count, max_fixes if check == 'circuit_breaker' else None)],
        attempts=count + 1 if allowed else count,
        max_fixes=max_fixes,
        window=window,
        remediation=mode,
    )


if __name__ == '__main__':
    main()
