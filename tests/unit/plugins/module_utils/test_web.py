# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of http_probe: URLs, status ranges, percentiles, JSON paths, measuring and grading."""

from __future__ import annotations

import socket
import ssl

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError
from ansible_collections.oncall.runbooks.plugins.module_utils.web import (
    check_method,
    check_url,
    classify,
    grade_url,
    json_path,
    parse_status_ranges,
    percentile,
    status_expected,
    summarize,
)

URL = 'http://api.example.com/health'
OPTIONS = dict(ranges=[(200, 399)], latency_warn=1.0, latency_critical=3.0, error_rate_warn=1.0, error_rate_critical=10.0,
               expect_json={}, timeout=10.0)


def answer(code, seconds=0.01, body=b'{"status": "ok"}'):
    return dict(code=code, kind=None, error=None, seconds=seconds, body=body)


def failure(kind, seconds=0.01):
    return dict(code=None, kind=kind, error='it failed', seconds=seconds, body=None)


def test_check_url_splits_and_defaults_the_port():
    assert check_url('https://api.example.com/v1?x=1') == ('https', 'api.example.com', 443, '/v1?x=1')
    assert check_url('http://127.0.0.1:8082') == ('http', '127.0.0.1', 8082, '/')


@pytest.mark.parametrize('url', ['ftp://host/', 'http//host/x', 'http://', '', 'http://host/a b', 'localhost:8082/health'])
def test_check_url_refuses_what_is_not_an_http_url(url):
    with pytest.raises(RunbookError, match='is not an http:// or https:// URL with a host'):
        check_url(url)


def test_check_url_refuses_credentials_without_showing_them():
    with pytest.raises(RunbookError) as caught:
        check_url('https://admin:s3cret@api.example.com/health')
    assert 's3cret' not in str(caught.value) and 'credentials' in str(caught.value)


def test_status_ranges():
    ranges = parse_status_ranges([200, '300-399', ' 404 '])
    assert ranges == [(200, 200), (300, 399), (404, 404)]
    assert status_expected(302, ranges) and status_expected(404, ranges) and not status_expected(500, ranges)


@pytest.mark.parametrize('value', ['2xx', '399-200', 99, 600, True, '200-'])
def test_bad_status_ranges_fail_with_one_line(value):
    with pytest.raises(RunbookError, match='^expect_status: .* is not a status code'):
        parse_status_ranges([value])


def test_method_is_upper_cased_and_checked():
    assert check_method('post') == 'POST'
    with pytest.raises(RunbookError):
        check_method('GET /')


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 99) == 99
    assert percentile([7.0], 95) == 7.0 and percentile([], 95) is None
    assert percentile([1, 2, 3, 4], 95) == 4


def test_json_path_reads_dicts_and_lists():
    document = {'checks': {'database': 'ok'}, 'data': [{'id': 3}]}
    assert json_path(document, 'checks.database') == (True, 'ok')
    assert json_path(document, 'data.0.id') == (True, 3)
    assert json_path(document, 'data.1.id') == (False, None)
    assert json_path(document, 'checks.redis') == (False, None)


def test_classify_failures():
    assert classify(ConnectionRefusedError()) == 'connection_refused'
    assert classify(socket.timeout()) == 'timeout'
    assert classify(socket.gaierror()) == 'dns'
    assert classify(ssl.SSLError()) == 'tls'
    assert classify(ConnectionResetError()) == 'connection'


def test_summarize_counts_codes_kinds_and_json():
    answers = [answer(200)] * 7 + [answer(500, body=b'{"message": "x"}')] * 2 + [failure('timeout')]
    measured = summarize(URL, answers, [(200, 399)], ['status'], {'status': 'ok'}, 1.5)
    assert measured['status_codes'] == {'200': 7, '500': 2}
    assert measured['errors_by_kind'] == {'status': 2, 'timeout': 1}
    assert measured['errors'] == 3 and measured['error_rate'] == 30.0 and measured['answered'] == 9
    # Only answers with an expected status are read for JSON.
    assert measured['json'] == {'status': [{'value': 'ok', 'found': True, 'count': 7}]} and measured['json_checked'] == 7
    assert measured['json_mismatches'] == {'status': 0}
    assert measured['duration_ms'] == 1500.0


def test_healthy_url_has_no_findings():
    assert grade_url(summarize(URL, [answer(200)] * 20, [(200, 399)], [], {}, 0.1), OPTIONS) == []


def test_all_refused_is_unreachable_only():
    findings = grade_url(summarize(URL, [failure('connection_refused')] * 4, [(200, 399)], [], {}, 0.1), OPTIONS)
    assert [(item['check'], item['status']) for item in findings] == [('unreachable', 'critical')]
    assert findings[0]['message'] == '%s: no answer to any of 4 requests (4 connection refused): nothing listens on that port' % URL


def test_502_storm_is_gateway_errors_and_error_rate_not_unreachable():
    findings = grade_url(summarize(URL, [answer(502)] * 18 + [answer(200)] * 2, [(200, 399)], [], {}, 0.1), OPTIONS)
    checks = dict((item['check'], item) for item in findings)
    assert sorted(checks) == ['error_rate', 'gateway_errors']
    assert checks['gateway_errors']['value'] == 18 and checks['gateway_errors']['status'] == 'critical'
    assert '(502: 18)' in checks['gateway_errors']['message']
    assert checks['error_rate']['value'] == 90.0


def test_error_rate_over_warn_and_critical_lines():
    two = summarize(URL, [answer(500)] * 2 + [answer(200)] * 18, [(200, 399)], [], {}, 0.1)
    # 10% is not over the 10% line: the seed's SEV2 is "errors > 10%".
    assert [(item['check'], item['status']) for item in grade_url(two, OPTIONS)] == [('error_rate', 'warn')]
    three = summarize(URL, [answer(500)] * 3 + [answer(200)] * 17, [(200, 399)], [], {}, 0.1)
    assert grade_url(three, OPTIONS)[0]['status'] == 'critical'


def test_latency_graded_on_p95():
    slow = summarize(URL, [answer(200, seconds=1.5)] * 10, [(200, 399)], [], {}, 3.0)
    findings = grade_url(slow, OPTIONS)
    assert [(item['check'], item['status'], item['threshold']) for item in findings] == [('latency', 'warn', 1000.0)]
    assert grade_url(slow, dict(OPTIONS, latency_critical=1.2))[0]['status'] == 'critical'


def test_json_mismatch_in_some_answers_warns():
    answers = [answer(200)] * 3 + [answer(200, body=b'{"status": "degraded"}')]
    measured = summarize(URL, answers, [(200, 399)], [], {'status': 'ok'}, 0.1)
    findings = grade_url(measured, dict(OPTIONS, expect_json={'status': 'ok'}))
    assert [(item['check'], item['status']) for item in findings] == [('json', 'warn')]
    assert findings[0]['message'] == '%s: status is not "ok" in 1 of 4 answers (seen: "ok" in 3, "degraded" in 1)' % URL


def test_a_stray_502_or_an_expected_one_is_no_gateway_finding():
    stray = summarize(URL, [answer(502)] + [answer(200)] * 199, [(200, 399)], [], {}, 0.1)
    assert grade_url(stray, OPTIONS) == []
    expected = summarize(URL, [answer(502)] * 20, [(200, 599)], [], {}, 0.1)
    assert grade_url(expected, dict(OPTIONS, ranges=[(200, 599)])) == []


def test_timeouts_name_the_timeout():
    hung = summarize(URL, [failure('timeout')] * 3 + [failure('connection_refused')], [(200, 399)], [], {}, 0.1)
    message = grade_url(hung, dict(OPTIONS, timeout=2.0))[0]['message']
    assert message == '%s: no answer to any of 4 requests (3 timed out after 2.0s, 1 connection refused): the host is down or hung' % URL
