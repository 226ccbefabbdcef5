# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.oncall.runbooks.plugins.filter.findings import runbook_findings, suggest_severity, worst_status


def test_findings_are_tagged_with_component_and_source():
    results = {
        'storage': {'findings': [{'check': 'disk', 'status': 'warn', 'message': 'disk  85%\nused'}]},
        'activity': {'findings': [{'check': 'connections', 'status': 'critical', 'message': '97 of 100'},
                                  {'check': 'blocking', 'status': 'ok', 'message': 'none'}]},
    }
    found = runbook_findings(results, 'postgres')
    assert found == [
        {'component': 'postgres', 'source': 'activity', 'check': 'connections', 'status': 'critical', 'message': '97 of 100'},
        {'component': 'postgres', 'source': 'activity', 'check': 'blocking', 'status': 'ok', 'message': 'none'},
        {'component': 'postgres', 'source': 'storage', 'check': 'disk', 'status': 'warn', 'message': 'disk 85% used'},
    ]


def test_a_failed_diagnostic_is_a_critical_reachable_finding_and_skipped_ones_vanish():
    results = {'activity': {'failed': True, 'msg': '127.0.0.1:5432: connection refused'},
               'pools': {'skipped': True, 'changed': False}}
    assert runbook_findings(results, 'postgres') == [
        {'component': 'postgres', 'source': 'activity', 'check': 'reachable', 'status': 'critical',
         'message': '127.0.0.1:5432: connection refused'}]


def test_an_unknown_status_counts_as_warn():
    found = runbook_findings({'info': {'findings': [{'check': 'x', 'status': 'weird', 'message': 'm'}]}}, 'redis')
    assert found[0]['status'] == 'warn'


def test_findings_need_a_dict_of_results():
    with pytest.raises(AnsibleFilterError, match='expects a dict'):
        runbook_findings([{'findings': []}], 'redis')


@pytest.mark.parametrize('findings, expected', [
    ([], 'ok'),
    ([{'status': 'ok'}, {'status': 'warn'}], 'warn'),
    ([{'status': 'warn'}, {'status': 'critical'}, {'status': 'ok'}], 'critical'),
    (['ok', 'warn'], 'warn'),
    (None, 'ok'),
])
def test_worst_status(findings, expected):
    assert worst_status(findings) == expected


RULES = [
    {'severity': 'SEV1', 'reason': 'database down', 'match': [{'component': 'postgres', 'check': ['reachable', 'connections'], 'status': 'critical'}]},
    {'severity': 'SEV2', 'reason': 'errors', 'match': [{'component': 'api', 'status': 'critical'}]},
    {'severity': 'SEV4', 'reason': 'anything else', 'match': [{'status': ['warn', 'critical']}]},
]


def test_the_first_matching_rule_wins():
    findings = [{'component': 'api', 'check': 'error_rate', 'status': 'critical'},
                {'component': 'postgres', 'check': 'connections', 'status': 'critical'}]
    suggested = suggest_severity(findings, RULES)
    assert suggested['severity'] == 'SEV1'
    assert suggested['findings'] == [findings[1]]


def test_ok_findings_never_match_and_a_warn_falls_through():
    findings = [{'component': 'postgres', 'check': 'connections', 'status': 'ok'},
                {'component': 'redis', 'check': 'memory', 'status': 'warn'}]
    assert suggest_severity(findings, RULES)['severity'] == 'SEV4'
    assert suggest_severity(findings[:1], RULES) == {'severity': None, 'reason': 'nothing wrong found', 'findings': []}


def test_rules_must_be_well_formed():
    with pytest.raises(AnsibleFilterError, match='list of'):
        suggest_severity([], [{'severity': 'SEV1'}])
