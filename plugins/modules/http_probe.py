#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: http_probe
short_description: Error rate, latency and health of HTTP endpoints, measured with a bounded burst of requests
version_added: 0.1.0
description:
  - What the runbooks' C(curl http://localhost:8082/health | jq) and "API errors over 10%", "High response times" and
    "API Gateway 502 errors" symptoms ask, measured directly. Sends exactly O(requests) requests to each of O(urls),
    at most O(concurrency) at a time, and reports per URL the status codes, the errors by kind, the error rate,
    latency percentiles and, for JSON bodies, the values at O(json_fields).
  - An error is a request that got no answer (connection refused, timeout, TLS or DNS failure) or an answer whose
    status is not in O(expect_status).
  - Answers 502, 503 and 504 are counted apart; a gateway that answers them is told apart from a dead host, which
    does not answer at all.
  - Never sends more than O(requests) requests per URL, never retries and never follows redirects.
  - Never changes anything by default; the default O(method) is C(GET). Another method, a body, or a URL whose
    C(GET) has side effects is the caller's explicit choice.
  - Runs the same in check mode, where it still sends its requests, because reading is all it does.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
attributes:
  check_mode:
    support: full
    description: Reads only; check mode sends the same requests and returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  urls:
    description:
      - The URLs to probe, each C(http://) or C(https://) with a host. They are probed one after another.
    type: list
    elements: str
    required: true
  requests:
    description:
      - How many requests to send to each URL. Exactly this many are sent, never more.
    type: int
    default: 20
  concurrency:
    description:
      - How many requests may be in flight at once, from 1 to O(requests).
    type: int
    default: 5
  method:
    description:
      - The HTTP method. Only C(GET) is sent unless another method is set here on purpose.
    type: str
    default: GET
  headers:
    description:
      - Request headers. They appear in the task's invocation; pass a bearer token through O(bearer_token) instead.
    type: dict
    default: {}
  bearer_token:
    description:
      - Sent as C(Authorization) C(Bearer) header. Never shown in output.
    type: str
  body:
    description:
      - A request body, sent as is. Needs a method other than C(GET) and C(HEAD).
      - Mutually exclusive with O(json_body).
    type: str
  json_body:
    description:
      - A request body, sent as JSON with C(Content-Type) C(application/json). Needs a method other than C(GET) and C(HEAD).
    type: raw
  timeout:
    description:
      - Seconds to wait for each request, for the connection and for each read of the answer.
      - A request that times out counts as an error of kind C(timeout).
    type: float
    default: 10
  validate_certs:
    description:
      - Check the certificate of C(https://) URLs against the system's or O(ca_path)'s authorities, and the host name.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of certificate authorities to trust instead of the system's.
    type: path
  client_cert:
    description:
      - A PEM client certificate for mutual TLS, which may also hold its key.
    type: path
  client_key:
    description:
      - The PEM private key of O(client_cert), when it is not in that file.
    type: path
  expect_status:
    description:
      - The status codes that count as success, as codes (C(200)) or ranges (C(200-399)).
    type: list
    elements: raw
    default: ['200-399']
  json_fields:
    description:
      - Dotted paths into JSON answers whose values to report, such as C(status) or C(checks.database); a number
        selects a list item (C(data.0.id)).
      - Only answers with an expected status are read.
    type: list
    elements: str
    default: []
  expect_json:
    description:
      - Dotted paths and the values they must have, such as C(status) and C(ok). Each answer with an expected status
        is checked; a missing value or a body that is not JSON does not match.
    type: dict
    default: {}
  latency_warn:
    description:
      - The C(latency) finding warns when the 95th percentile of answered requests is over this duration, such as
        C(500ms) or C(1s); a bare number is seconds.
    type: raw
    default: 1s
  latency_critical:
    description:
      - The C(latency) finding is critical when the 95th percentile is over this duration.
    type: raw
    default: 3s
  error_rate_warn:
    description:
      - Percentage of failed requests over which the C(error_rate) finding warns.
    type: float
    default: 1
  error_rate_critical:
    description:
      - Percentage of failed requests over which the C(error_rate) finding is critical; the runbooks' SEV2 line is
        "API errors over 10%".
    type: float
    default: 10
notes:
  - Each request uses a connection of its own, so that the latency includes connecting, as a new client sees it.
  - Bodies are read up to 1 MiB.
seealso:
  - module: ansible.builtin.uri
    description: One request, with its full answer, when a probe is not what is needed.
'''

EXAMPLES = r'''
- name: Is the API failing more than the SEV2 line?
  oncall.runbooks.http_probe:
    urls:
      - https://api.linkflow.example.com/api/v1/workflows
    bearer_token: "{{ vault_api_token }}"
    requests: 50
    concurrency: 10
  register: api_probe

- name: The health endpoint of the engine, as the runbook's curl | jq reads it
  oncall.runbooks.http_probe:
    urls:
      - http://localhost:8082/health
    requests: 5
    json_fields:
      - checks.database
      - checks.redis
    expect_json:
      status: ok

- name: The gateway and the API behind it, with tight latency thresholds
  oncall.runbooks.http_probe:
    urls:
      - https://gateway.example.com/api/v1/workflows
      - http://10.0.4.12:8080/api/v1/workflows
    latency_warn: 300ms
    latency_critical: 1s
    timeout: 5
'''

RETURN = r'''
status:
  description: The worst status among RV(findings); C(ok) when there are none.
  returned: success
  type: str
  sample: critical
findings:
  description:
    - What a human should read first, worst first; each names its C(url). None for a healthy endpoint.
    - C(unreachable) when no request got any answer, C(error_rate), C(gateway_errors) for answers 502, 503 and 504,
      C(latency) and C(json) for an O(expect_json) mismatch.
  returned: success
  type: list
  elements: dict
  sample:
    - check: gateway_errors
      status: critical
      message: "http://127.0.0.1:8000/api/v1/workflows: 20 of 20 answers were gateway errors (502: 20): the gateway answers but its upstream does not"
      value: 20
      url: http://127.0.0.1:8000/api/v1/workflows
urls:
  description: What was measured, one entry per URL in the order of O(urls).
  returned: success
  type: list
  elements: dict
  contains:
    url:
      description: The URL.
      type: str
      sample: http://127.0.0.1:8082/health
    requests:
      description: Requests sent.
      type: int
      sample: 20
    answered:
      description: Requests that got an HTTP answer, whatever its status.
      type: int
      sample: 20
    errors:
      description: Requests without an answer or with a status outside O(expect_status).
      type: int
      sample: 6
    error_rate:
      description: RV(urls[].errors) as a percentage of RV(urls[].requests).
      type: float
      sample: 30.0
    status_codes:
      description: Answers by status code.
      type: dict
      sample: {"200": 14, "500": 6}
    errors_by_kind:
      description: Errors by kind, C(status), C(connection_refused), C(timeout), C(tls), C(dns) or C(connection).
      type: dict
      sample: {"status": 6}
    gateway_errors:
      description: Answers 502, 503 or 504.
      type: int
      sample: 0
    latency_ms:
      description: C(p50), C(p95), C(p99) and C(max) of the answered requests in milliseconds, null without answers.
      type: dict
      sample: {"p50": 2.1, "p95": 3.4, "p99": 3.9, "max": 3.9}
    json:
      description: For each path of O(json_fields) and O(expect_json), the values seen, with C(value), C(found) and C(count).
      type: dict
      sample: {"status": [{"value": "ok", "found": true, "count": 20}]}
    json_checked:
      description: Answers whose JSON was read.
      type: int
      sample: 20
    json_mismatches:
      description: For each path of O(expect_json), the answers where it did not have the expected value.
      type: dict
      sample: {"status": 0}
    first_error:
      description: The first error seen, as one line, or null.
      type: str
      sample: "[Errno 111] Connection refused"
    duration_ms:
      description: How long probing this URL took.
      type: float
      sample: 41.7
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError,
    check_ratio,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    parse_duration,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.web import (
    check_method,
    check_url,
    grade_url,
    parse_status_ranges,
    send_all,
    ssl_context,
    summarize,
)


def check_input(params):
    """Everything is validated before the first request; returns the options the probe needs."""
    if not params['urls']:
        raise RunbookError('urls must list at least one URL')
    targets = [(url, check_url(url)) for url in params['urls']]
    if params['requests'] < 1:
        raise RunbookError('requests must be at least 1, got %d' % params['requests'])
    if not 1 <= params['concurrency'] <= params['requests']:
        raise RunbookError('concurrency must be between 1 and requests (%d), got %d' % (params['requests'], params['concurrency']))
    method = check_method(params['method'])
    if not params['timeout'] > 0:
        raise RunbookError('timeout must be more than 0 seconds, got %s' % params['timeout'])
    if (params['body'] is not None or params['json_body'] is not None) and method in ('GET', 'HEAD'):
        raise RunbookError('body and json_body need a method that carries a body; %s sends none' % method)
    for path in list(params['json_fields']) + list(params['expect_json']):
        if not path or any(not part for part in str(path).split('.')):
            raise RunbookError('json_fields and expect_json: %r is not a dotted path such as checks.database' % path)
    options = dict(
        ranges=parse_status_ranges(params['expect_status']),
        latency_warn=parse_duration(params['latency_warn'], 'latency_warn'),
        latency_critical=parse_duration(params['latency_critical'], 'latency_critical'),
        error_rate_warn=check_ratio(params['error_rate_warn'], 'error_rate_warn'),
        error_rate_critical=check_ratio(params['error_rate_critical'], 'error_rate_critical'),
        expect_json=params['expect_json'],
        timeout=params['timeout'],
    )
    check_thresholds(options['latency_warn'], options['latency_critical'], 'latency_warn', 'latency_critical')
    check_thresholds(options['error_rate_warn'], options['error_rate_critical'], 'error_rate_warn', 'error_rate_critical')
    return targets, method, options


def request_parts(params):
    """Headers and body as they go on the wire."""
    headers = dict((str(name), str(value)) for name, value in params['headers'].items())
    headers.setdefault('User-Agent', 'oncall.runbooks-http_probe')
    headers['Connection'] = 'close'
    if params['bearer_token']:
        headers['Authorization'] = 'Bearer %s' % params['bearer_token']
    body = params['body']
    if params['json_body'] is not None:
        body = json.dumps(params['json_body'])
        headers.setdefault('Content-Type', 'application/json')
    return headers, body.encode('utf-8') if body is not None else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            urls=dict(type='list', elements='str', required=True),
            requests=dict(type='int', default=20),
            concurrency=dict(type='int', default=5),
            method=dict(type='str', default='GET'),
            headers=dict(type='dict', default={}),
            bearer_token=dict(type='str', no_log=True),
            body=dict(type='str'),
            json_body=dict(type='raw'),
            timeout=dict(type='float', default=10),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            client_cert=dict(type='path'),
            client_key=dict(type='path', no_log=False),
            expect_status=dict(type='list', elements='raw', default=['200-399']),
            json_fields=dict(type='list', elements='str', default=[]),
            expect_json=dict(type='dict', default={}),
            latency_warn=dict(type='raw', default='1s'),
            latency_critical=dict(type='raw', default='3s'),
            error_rate_warn=dict(type='float', default=1),
            error_rate_critical=dict(type='float', default=10),
        ),
        mutually_exclusive=[('body', 'json_body')],
        supports_check_mode=True,
    )
    params = module.params

    with failing_on_error(module, 'http_probe'):
        targets, method, options = check_input(params)
        headers, body = request_parts(params)
        context = None
        if any(target[0] == 'https' for url, target in targets) or params['client_cert']:
            context = ssl_context(params['validate_certs'], params['ca_path'], params['client_cert'], params['client_key'])
        measured = []
        for url, target in targets:
            answers, seconds = send_all(target, params['requests'], params['concurrency'], method, headers, body,
                                        params['timeout'], context)
            measured.append(summarize(url, answers, options['ranges'], params['json_fields'], params['expect_json'], seconds))

    findings = []
    for item in measured:
        findings.extend(grade_url(item, options))
    module.exit_json(**diagnostic_result(findings, urls=measured))


if __name__ == '__main__':
    main()
