# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the runbook roles use to turn diagnostic results into one list of findings."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

STATUS_ORDER = ('ok', 'warn', 'critical')


def _one_line(text):
    return ' '.join(str(text or '').split())


def runbook_findings(results, component):
    """Findings of a component from its diagnostics' registered results (name -> result).

    A diagnostic that failed is itself a critical finding (check C(reachable)): a database that
    refuses the runbook is the incident. Skipped diagnostics are left out.
    """
    if not isinstance(results, dict):
        raise AnsibleFilterError('runbook_findings expects a dict of diagnostic name to registered result, got %s'
                                 % type(results).__name__)
    findings = []
    for source in sorted(results):
        result = results[source]
        if not isinstance(result, dict) or result.get('skipped'):
            continue
        if result.get('failed'):
            findings.append(dict(component=component, source=source, check='reachable', status='critical',
                                 message=_one_line(result.get('msg')) or '%s failed' % source))
            continue
        for finding in result.get('findings') or []:
            status = finding.get('status', 'ok')
            findings.append(dict(component=component, source=source, check=finding.get('check', source),
                                 status=status if status in STATUS_ORDER else 'warn',
                                 message=_one_line(finding.get('message'))))
    return findings


def worst_status(findings):
    """The worst status of a list of findings (or of results with a status): ok, warn or critical."""
    worst = 0
    for finding in findings or []:
        status = finding.get('status', 'ok') if isinstance(finding, dict) else finding
        if status in STATUS_ORDER:
            worst = max(worst, STATUS_ORDER.index(status))
    return STATUS_ORDER[worst]


def _matches(finding, matcher):
    for key, wanted in matcher.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if finding.get(key) not in allowed:
            return False
    return True


def suggest_severity(findings, rules):
    """The first rule (in order) that any finding matches: its severity and why, or none when nothing is wrong.

    A rule is {severity, reason, match: [matcher, ...]}; a matcher is a dict of finding keys to a value or a
    list of allowed values, for example {component: postgres, check: reachable, status: critical}.
    """
    if not isinstance(rules, list) or not all(isinstance(rule, dict) and rule.get('severity') and
                                              isinstance(rule.get('match'), list) for rule in rules):
        raise AnsibleFilterError('suggest_severity expects rules as a list of {severity, reason, match: [...]}')
    problems = [finding for finding in findings or [] if finding.get('status') != 'ok']
    for rule in rules:
        matched = [finding for finding in problems if any(_matches(finding, matcher) for matcher in rule['match'])]
        if matched:
            return dict(severity=rule['severity'], reason=rule.get('reason', ''), findings=matched)
    return dict(severity=None, reason='nothing wrong found' if not problems else 'no rule matched', findings=[])


class FilterModule(object):

    def filters(self):
        return {'runbook_findings': runbook_findings, 'worst_status': worst_status, 'suggest_severity': suggest_severity}
