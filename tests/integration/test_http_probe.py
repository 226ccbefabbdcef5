# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""http_probe against the lab's API and gateway stand-ins, through ansible-playbook.

The stand-ins count every request they receive by method and target (their admin port),
so that a test can prove how many requests the probe really sent: each test asks for a
target of its own (a ``?probe=`` marker) and reads its count.
"""

from __future__ import annotations

import time
import uuid

import pytest

from lab.app_http import HttpApi, HttpGateway
from lab.core import Lab

API = '/api/v1/workflows'


def marked(path):
    """A target no other test sends to, so that the server's count for it is ours alone."""
    return '%s?probe=%s' % (path, uuid.uuid4().hex[:12])


def counted(service, method, target):
    return service.stats()['by_request'].get('%s %s' % (method, target), 0)


def found(result, check):
    return [item for item in result['findings'] if item['check'] == check]


def by_url(result, url):
    return next(item for item in result['urls'] if item['url'] == url)


@pytest.mark.parametrize('name', ['api-5xx', 'api-slow', 'gateway-502'])
def test_scenarios_are_present_when_injected_and_gone_when_cleared(lab, name):
    from lab import scenarios
    current = Lab()
    item = scenarios.get(current, name)
    assert not item.present()
    try:
        item.inject()
        assert item.present()
    finally:
        item.clear()
        item.forget()
        current.save()
    assert not item.present()
    assert HttpGateway(lab.lab).running() and HttpApi(lab.lab).running()


def test_healthy_lab_is_ok_without_findings(lab, ansible):
    health = lab.vars['api_url'] + '/health'
    urls = [lab.vars['api_url'] + API, lab.vars['gateway_url'] + API]
    run = ansible([
        {'name': 'health', 'oncall.runbooks.http_probe': {'urls': [health], 'json_fields': ['checks.database', 'checks.redis'],
                                                          'expect_json': {'status': 'ok'}}},
        {'name': 'api', 'oncall.runbooks.http_probe': {'urls': urls}},
    ])
    assert run.rc == 0, run.stdout
    checked, probed = run.result('health'), run.result('api')
    for result in (checked, probed):
        assert result['changed'] is False and result['status'] == 'ok' and result['findings'] == []
    assert [item['url'] for item in probed['urls']] == urls
    for item in checked['urls'] + probed['urls']:
        assert item['requests'] == item['answered'] == 20 and item['errors'] == 0 and item['error_rate'] == 0.0
        assert item['status_codes'] == {'200': 20} and item['gateway_errors'] == 0
        assert 0 < item['latency_ms']['p50'] <= item['latency_ms']['p95'] <= item['latency_ms']['p99'] <= item['latency_ms']['max'] < 1000
    assert checked['urls'][0]['json'] == {
        'checks.database': [{'value': 'ok', 'found': True, 'count': 20}],
        'checks.redis': [{'value': 'ok', 'found': True, 'count': 20}],
        'status': [{'value': 'ok', 'found': True, 'count': 20}],
    }


def test_never_sends_more_than_requests_and_only_get(lab, run_module):
    api, gateway = HttpApi(lab.lab), HttpGateway(lab.lab)
    direct, through = marked(API), marked(API)
    result, run = run_module('http_probe', {'urls': [lab.vars['api_url'] + direct, lab.vars['gateway_url'] + through],
                                            'requests': 7, 'concurrency': 3})
    assert run.rc == 0, run.stdout
    assert [item['requests'] for item in result['urls']] == [7, 7]
    assert counted(api, 'GET', direct) == 7
    assert counted(gateway, 'GET', through) == 7 and counted(api, 'GET', through) == 7
    sent = [key for key in api.stats()['by_request'] if direct in key or through in key]
    assert sorted(sent) == sorted(['GET ' + direct, 'GET ' + through])


def test_another_method_only_when_asked(lab, run_module):
    api = HttpApi(lab.lab)
    target = marked(API)
    result = run_module('http_probe', {'urls': [lab.vars['api_url'] + target], 'method': 'POST', 'json_body': {'name': 'probe'},
                                       'requests': 3, 'concurrency': 1})[0]
    assert result['status'] == 'ok' and result['urls'][0]['status_codes'] == {'201': 3}
    assert counted(api, 'POST', target) == 3 and counted(api, 'GET', target) == 0


def test_api_5xx_is_a_critical_error_rate_with_the_500s_counted(lab, ansible, scenario):
    scenario('api-5xx')
    api, health = lab.vars['api_url'] + API, lab.vars['api_url'] + '/health'
    run = ansible([
        {'name': 'api', 'oncall.runbooks.http_probe': {'urls': [api], 'requests': 20, 'concurrency': 5}},
        {'name': 'health', 'oncall.runbooks.http_probe': {'urls': [health], 'requests': 5, 'expect_json': {'status': 'ok'}}},
    ])
    assert run.rc == 0, run.stdout
    result, checked = run.result('api'), run.result('health')
    assert result['status'] == 'critical' and result['changed'] is False
    measured = by_url(result, api)
    # The stand-in's round robin fails exactly 3 of every 10 consecutive API requests.
    assert measured['status_codes'] == {'200': 14, '500': 6}
    assert measured['errors_by_kind'] == {'status': 6} and measured['error_rate'] == 30.0 and measured['gateway_errors'] == 0
    rate = found(result, 'error_rate')
    assert len(rate) == 1 and rate[0]['url'] == api
    assert rate[0]['status'] == 'critical' and rate[0]['value'] == 30.0 and rate[0]['threshold'] == 10
    assert '6 of 20 requests failed (30.0%; 500: 6)' in rate[0]['message']
    assert [item['check'] for item in result['findings']] == ['error_rate']
    # /health answers 200 but says it is degraded: only expect_json sees it.
    assert checked['status'] == 'critical' and [item['check'] for item in checked['findings']] == ['json']
    assert checked['findings'][0]['message'] == '%s: status is not "ok" in 5 of 5 answers (seen: "degraded" in 5)' % health


def test_error_rate_below_critical_warns(lab, run_module, scenario):
    scenario('api-5xx')
    result = run_module('http_probe', {'urls': [lab.vars['api_url'] + API], 'requests': 10, 'concurrency': 2,
                                       'error_rate_warn': 20, 'error_rate_critical': 50})[0]
    rate = found(result, 'error_rate')
    assert result['status'] == 'warn' and rate[0]['status'] == 'warn' and rate[0]['threshold'] == 20


def test_api_slow_is_a_latency_finding(lab, ansible, scenario):
    scenario('api-slow')
    url = lab.vars['api_url'] + API
    run = ansible([
        {'name': 'tight', 'oncall.runbooks.http_probe': {'urls': [url], 'requests': 10, 'concurrency': 5,
                                                         'latency_warn': '500ms', 'latency_critical': '1s'}},
        {'name': 'defaults', 'oncall.runbooks.http_probe': {'urls': [url], 'requests': 5, 'concurrency': 5}},
    ])
    assert run.rc == 0, run.stdout
    tight, defaults = run.result('tight'), run.result('defaults')
    latency = found(tight, 'latency')
    assert tight['status'] == 'critical' and len(latency) == 1
    assert latency[0]['status'] == 'critical' and latency[0]['value'] >= 1400 and latency[0]['threshold'] == 1000.0
    assert tight['urls'][0]['latency_ms']['p50'] >= 1400 and tight['urls'][0]['status_codes'] == {'200': 10}
    assert not found(tight, 'error_rate')
    # 1.5 s is over the default 1s warning line and under the 3s critical one.
    assert defaults['status'] == 'warn' and found(defaults, 'latency')[0]['threshold'] == 1000.0


def test_gateway_502_is_gateway_errors_not_unreachable(lab, run_module, scenario):
    scenario('gateway-502')
    gateway, api = lab.vars['gateway_url'] + API, lab.vars['api_url'] + API
    result, run = run_module('http_probe', {'urls': [gateway, api], 'requests': 10, 'concurrency': 5})
    assert run.rc == 0, run.stdout
    measured = by_url(result, gateway)
    assert measured['status_codes'] == {'502': 10} and measured['gateway_errors'] == 10 and measured['answered'] == 10
    storm = found(result, 'gateway_errors')
    assert len(storm) == 1 and storm[0]['url'] == gateway and storm[0]['status'] == 'critical' and storm[0]['value'] == 10
    assert storm[0]['message'].endswith('10 of 10 answers were gateway errors (502: 10): the gateway answers but its upstream does not')
    assert found(result, 'error_rate')[0]['url'] == gateway
    assert not found(result, 'unreachable')
    # The API itself is healthy: the problem is between the gateway and its upstream.
    assert all(item['url'] == gateway for item in result['findings'])


def test_closed_port_is_unreachable(lab, run_module, closed_port):
    url = 'http://127.0.0.1:%d/health' % closed_port
    result, run = run_module('http_probe', {'urls': [url], 'requests': 5, 'concurrency': 5})
    assert run.rc == 0 and not result.get('failed'), run.stdout
    assert result['status'] == 'critical'
    assert result['urls'][0]['answered'] == 0 and result['urls'][0]['errors_by_kind'] == {'connection_refused': 5}
    dead = found(result, 'unreachable')
    assert len(dead) == 1 and dead[0]['message'] == (
        '%s: no answer to any of 5 requests (5 connection refused): nothing listens on that port' % url)
    assert not found(result, 'gateway_errors')


def test_hung_server_times_out_within_timeout(lab, run_module, silent_server):
    url = 'http://127.0.0.1:%d/health' % silent_server
    started = time.monotonic()
    result, run = run_module('http_probe', {'urls': [url], 'requests': 4, 'concurrency': 2, 'timeout': 2})
    elapsed = time.monotonic() - started
    assert run.rc == 0 and not result.get('failed'), run.stdout
    measured = result['urls'][0]
    assert measured['errors_by_kind'] == {'timeout': 4} and measured['answered'] == 0
    # Two rounds of two requests, each given up after 2 s.
    assert 3500 <= measured['duration_ms'] <= 4000 + 2000
    assert elapsed < 60
    dead = found(result, 'unreachable')
    assert len(dead) == 1 and '(4 timed out after 2.0s): the host is down or hung' in dead[0]['message']


def test_tls_to_a_plain_http_port_is_a_tls_error(lab, run_module):
    url = lab.vars['api_url'].replace('http://', 'https://') + '/health'
    result = run_module('http_probe', {'urls': [url], 'requests': 3, 'concurrency': 3, 'validate_certs': False})[0]
    assert result['urls'][0]['errors_by_kind'] == {'tls': 3}
    assert found(result, 'unreachable')[0]['message'].endswith('the TLS handshake failed')


def test_expect_json_mismatch_and_missing_field(lab, run_module):
    url = lab.vars['api_url'] + '/health'
    result = run_module('http_probe', {'urls': [url], 'requests': 5, 'concurrency': 5,
                                       'expect_json': {'checks.database': 'down', 'checks.queue': 'ok', 'status': 'ok'}})[0]
    assert result['status'] == 'critical'
    messages = sorted(item['message'] for item in found(result, 'json'))
    assert messages == [
        '%s: checks.database is not "down" in 5 of 5 answers (seen: "ok" in 5)' % url,
        '%s: checks.queue is not "ok" in 5 of 5 answers (seen: missing in 5)' % url,
    ]
    assert result['urls'][0]['json_mismatches'] == {'checks.database': 5, 'checks.queue': 5, 'status': 0}


def test_check_mode_probes_the_same_and_reports_the_same(lab, run_module):
    api = HttpApi(lab.lab)
    target = marked('/health')
    args = {'urls': [lab.vars['api_url'] + target], 'requests': 6, 'concurrency': 3, 'json_fields': ['status']}
    checked, run = run_module('http_probe', args, check=True)
    assert run.rc == 0, run.stdout
    real = run_module('http_probe', args)[0]
    assert checked['changed'] is False and checked['findings'] == real['findings'] == [] and checked['status'] == 'ok'
    for key in ('requests', 'answered', 'errors', 'status_codes', 'json'):
        assert checked['urls'][0][key] == real['urls'][0][key]
    assert counted(api, 'GET', target) == 12


def test_bearer_token_is_sent_and_never_shown(lab, run_module):
    token = 'probe-token-%s' % uuid.uuid4().hex
    result, run = run_module('http_probe', {'urls': [lab.vars['api_url'] + '/health'], 'requests': 2, 'concurrency': 1,
                                            'bearer_token': token}, verbosity=3)
    assert run.rc == 0 and result['status'] == 'ok', run.stdout
    assert token not in run.stdout + run.stderr


@pytest.mark.parametrize('args, message', [
    ({'urls': ['ftp://127.0.0.1/health']}, "urls: 'ftp://127.0.0.1/health' is not an http:// or https:// URL with a host"),
    ({'urls': ['http//127.0.0.1/health']}, "urls: 'http//127.0.0.1/health' is not an http:// or https:// URL with a host"),
    ({'urls': ['http://127.0.0.1:99999/']}, "urls: 'http://127.0.0.1:99999/' has an invalid port"),
    ({'urls': ['http://probe:not-shown@127.0.0.1/health']},
     'urls: a URL with credentials (user:password@) is refused because it would be shown in output; use bearer_token or headers'),
    ({'requests': 0}, 'requests must be at least 1, got 0'),
    ({'requests': 5, 'concurrency': 6}, 'concurrency must be between 1 and requests (5), got 6'),
    ({'expect_status': ['2xx']}, "expect_status: '2xx' is not a status code (200) or a range (200-399) between 100 and 599"),
    ({'expect_status': ['399-200']}, "expect_status: '399-200' is not a status code (200) or a range (200-399) between 100 and 599"),
    ({'latency_warn': '2s', 'latency_critical': '1s'}, 'latency_warn (2.0) must not be greater than latency_critical (1.0)'),
    ({'latency_warn': 'soon'}, "latency_warn: 'soon' is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m, 90d"),
    ({'error_rate_critical': 120}, 'error_rate_critical must be a percentage between 0 and 100, got 120.0'),
    ({'body': 'x'}, 'body and json_body need a method that carries a body; GET sends none'),
    ({'method': 'GET /x'}, "method: 'GET /x' is not an HTTP method"),
    ({'timeout': 0}, 'timeout must be more than 0 seconds, got 0.0'),
])
def test_bad_input_fails_with_one_line_before_sending(lab, run_module, args, message):
    api = HttpApi(lab.lab)
    target = marked('/health')
    result = run_module('http_probe', dict({'urls': [lab.vars['api_url'] + target]}, **args))[0]
    assert result['failed'] is True
    assert result['msg'] == message
    assert counted(api, 'GET', target) == 0
