# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    Plan,
    RunbookError,
    check_cap,
    check_ratio,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    finding,
    format_bytes,
    format_duration,
    graded_finding,
    one_line,
    parse_timestamp,
    seconds_since,
    parse_duration,
    plan_summary,
    worst_status,
)


@pytest.mark.parametrize('value, seconds', [
    ('30s', 30), ('10m', 600), ('1h', 3600), ('90d', 90 * 86400), ('2w', 14 * 86400),
    ('1h30m', 5400), ('500ms', 0.5), ('1.5h', 5400), (' 10M ', 600), ('45', 45), (45, 45), (2.5, 2.5), (0, 0), ('0s', 0),
])
def test_parse_duration_accepts_units_and_numbers(value, seconds):
    assert parse_duration(value, 'older_than') == seconds


@pytest.mark.parametrize('value, why', [
    ('10 minutes', 'is not a duration'), ('-5m', 'negative'), (-1, 'negative'), ('', 'is not a duration'),
    ('10x', 'is not a duration'), ('m', 'is not a duration'), ('1h 30m', 'is not a duration'), (None, 'is not a duration'),
    (True, 'is not a duration'), ('ten', 'is not a duration'),
])
def test_parse_duration_rejects_with_the_option_name(value, why):
    with pytest.raises(RunbookError) as error:
        parse_duration(value, 'older_than')
    message = str(error.value)
    assert message.startswith('older_than: ')
    assert why in message
    assert '\n' not in message


@pytest.mark.parametrize('seconds, text', [
    (0, '0s'), (59.6, '1m'), (45, '45s'), (90, '1m30s'), (600, '10m'), (37 * 60 + 5, '37m'),
    (3600, '1h'), (2 * 3600 + 5 * 60, '2h05m'), (3 * 86400 + 4 * 3600, '3d4h'), (90 * 86400, '90d'), (None, '0s'), (-3, '0s'),
])
def test_format_duration_reads_like_a_human_wrote_it(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize('value, text', [
    (0, '0 B'), (None, '0 B'), (512, '512 B'), (8192, '8.0 kB'), (33554432, '32.0 MB'), (1.5 * 1024 ** 3, '1.5 GB'), (3 * 1024 ** 4, '3.0 TB'),
])
def test_format_bytes_reads_like_df_h(value, text):
    assert format_bytes(value) == text


def test_check_cap_accepts_positive_whole_numbers():
    assert check_cap(1, 'max_sessions') == 1
    assert check_cap(100, 'max_sessions') == 100


@pytest.mark.parametrize('value', [0, -1, 1.5, '3', True, None])
def test_check_cap_rejects_zero_negative_and_non_integers(value):
    with pytest.raises(RunbookError, match=r'^max_sessions must be a whole number of at least 1'):
        check_cap(value, 'max_sessions')


def test_check_ratio_and_thresholds():
    assert check_ratio(0, 'warn') == 0
    assert check_ratio(100, 'warn') == 100
    for bad in (-1, 101, '50', True):
        with pytest.raises(RunbookError, match='percentage'):
            check_ratio(bad, 'warn')
    check_thresholds(80, 90, 'warn', 'critical')
    with pytest.raises(RunbookError, match=r'warn \(95\) must not be greater than critical \(90\)'):
        check_thresholds(95, 90, 'warn', 'critical')


def test_finding_shape_and_unknown_status():
    assert finding('connections', 'warn', 'many', 85, 80) == {
        'check': 'connections', 'status': 'warn', 'message': 'many', 'value': 85, 'threshold': 80}
    assert finding('x', 'ok', 'fine') == {'check': 'x', 'status': 'ok', 'message': 'fine'}
    with pytest.raises(ValueError):
        finding('x', 'bad', 'nope')


@pytest.mark.parametrize('value, status, threshold', [(79, 'ok', 80), (80, 'warn', 80), (89.9, 'warn', 80), (90, 'critical', 90), (120, 'critical', 90)])
def test_graded_finding_uses_the_threshold_crossed(value, status, threshold):
    item = graded_finding('connections', value, 80, 90, '{value}% (threshold {threshold}%)')
    assert item['status'] == status
    assert item['threshold'] == threshold
    assert item['message'] == '%s%% (threshold %s%%)' % (value, threshold)


def test_worst_status_and_diagnostic_result_order_worst_first():
    findings = [finding('a', 'ok', 'a'), finding('b', 'critical', 'b'), finding('c', 'warn', 'c')]
    assert worst_status(findings) == 'critical'
    assert worst_status([]) == 'ok'
    result = diagnostic_result(findings, max_connections=50)
    assert result['changed'] is False
    assert result['status'] == 'critical'
    assert [item['check'] for item in result['findings']] == ['b', 'c', 'a']
    assert result['max_connections'] == 50


def make_plan(count, limit=None):
    plan = Plan(limit=limit)
    for pid in range(count):
        plan.add('pid %d' % pid, 'terminate', 'idle > 10m', pid=pid)
    return plan.cap()


def test_plan_cap_keeps_the_first_and_counts_the_rest():
    plan = make_plan(41, limit=37)
    assert len(plan) == 37
    assert plan.left_out == 4
    assert plan.candidates == 41
    assert [entry['pid'] for entry in plan.actions] == list(range(37))


def test_plan_in_check_mode_reports_every_action_and_executes_nothing():
    calls = []
    plan = make_plan(3).carry_out(calls.append, check_mode=True)
    assert calls == []
    assert [entry['done'] for entry in plan.actions] == [False, False, False]
    result = plan.result(plan_summary(plan, ('terminate', 'terminated'), 'idle sessions', True), True)
    assert result['changed'] is True
    assert result['summary'] == 'would terminate 3 of 3 idle sessions'
    assert len(result['actions']) == 3


def test_plan_carry_out_records_done_vanished_and_errors():
    def execute(entry):
        if entry['pid'] == 1:
            return False  # the session had already gone
        if entry['pid'] == 2:
            raise OSError('connection reset\n  by peer')
        return True

    plan = make_plan(4, limit=10).carry_out(execute, check_mode=False)
    assert [entry['done'] for entry in plan.actions] == [True, False, False, True]
    assert plan.actions[2]['error'] == 'connection reset; by peer'
    summary = plan_summary(plan, ('terminate', 'terminated'), 'idle sessions', False)
    assert summary == 'terminated 2 of 4 idle sessions; 1 failed: connection reset; by peer'
    assert plan.result(summary, False)['changed'] is True


def test_plan_summary_names_the_cap_when_it_left_targets_out():
    plan = make_plan(41, limit=37).carry_out(lambda entry: True, check_mode=False)
    assert plan_summary(plan, ('terminate', 'terminated'), 'idle sessions', False, 'max_sessions') == \
        'terminated 37 of 41 idle sessions (max_sessions 37 left 4 out)'


def test_empty_plan_is_not_a_change_in_either_mode():
    plan = make_plan(0)
    assert not plan
    assert plan.result('nothing', True)['changed'] is False
    assert plan.carry_out(lambda entry: True, False).result('nothing', False)['changed'] is False


def test_one_line_flattens_driver_messages():
    error = Exception('connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running?\n')
    assert one_line(error) == 'connection to server at "127.0.0.1", port 1 failed: Connection refused; Is the server running?'
    assert one_line(KeyError()) == 'KeyError'


class FakeModule(object):
    """Records fail_json like AnsibleModule does (it raises SystemExit after printing)."""

    def __init__(self):
        self.failure = None

    def fail_json(self, **kwargs):
        self.failure = kwargs
        raise SystemExit(1)


def test_failing_on_error_names_the_target_and_keeps_one_line():
    module = FakeModule()
    with pytest.raises(SystemExit):
        with failing_on_error(module, 'PostgreSQL at db:5432/app'):
            raise OSError('timeout expired\nagain')
    assert module.failure == {'msg': 'PostgreSQL at db:5432/app: timeout expired; again'}


def test_failing_on_error_passes_runbook_errors_through_unprefixed():
    module = FakeModule()
    with pytest.raises(SystemExit):
        with failing_on_error(module, 'target'):
            parse_duration('10 minutes', 'older_than')
    assert module.failure['msg'].startswith('older_than: ')


def test_failing_on_error_lets_exit_json_through():
    module = FakeModule()
    with pytest.raises(SystemExit):
        with failing_on_error(module, 'target'):
            raise SystemExit(0)
    assert module.failure is None


@pytest.mark.parametrize('value, expected', [
    ('2026-11-22T03:04:05Z', 1795316645.0),
    ('2026-11-22T03:04:05.5Z', 1795316645.5),
    ('2026-11-22T03:04:05.123456789Z', 1795316645.123456789),
    ('2026-11-22T04:04:05+01:00', 1795316645.0),
    ('0001-01-01T00:00:00Z', None),
    ('', None),
    (None, None),
    ('yesterday', None),
])
def test_parse_timestamp(value, expected):
    result = parse_timestamp(value)
    assert result == pytest.approx(expected) if expected is not None else result is None


def test_seconds_since():
    assert seconds_since('2026-11-22T03:04:05Z', now=1795316645.0 + 90) == pytest.approx(90)
    assert seconds_since('0001-01-01T00:00:00Z') is None
