# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) probing with the standard library: send N requests, measure, grade.

Kept apart from the module so that the pure parts (status ranges, percentiles, JSON
paths, grading) are unit-tested and so that other web-facing modules can reuse them.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, finding, one_line

GATEWAY_CODES = (502, 503, 504)
# Enough of a body to read a health document; a probe is not a download.
MAX_BODY = 1024 * 1024
_METHOD = re.compile(r'^[A-Z][A-Z-]*$')
_RANGE = re.compile(r'^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$')

# Kinds of failure that leave a request without any HTTP answer, and what they say about the target.
NO_ANSWER = {
    'connection_refused': 'nothing listens on that port',
    'timeout': 'the host is down or hung',
    'dns': 'the host name does not resolve',
    'tls': 'the TLS handshake failed',
    'connection': 'the connection failed or closed without an answer',
}


# How each kind of error reads in a finding: "4 connection refused", "3 timed out after 2.0s".
LABELS = {
    'connection_refused': 'connection refused',
    'timeout': 'timed out',
    'dns': 'not resolved',
    'tls': 'TLS failures',
    'connection': 'connection failures',
}


# --- input -----------------------------------------------------------------------

def check_url(url):
    """Return (scheme, host, port, path) of an http:// or https:// URL, or fail naming it."""
    text = str(url or '')
    if not text or re.search(r'\s', text):
        raise RunbookError('urls: %r is not an http:// or https:// URL with a host' % text)
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        # Not echoed: the URL would put the password into the output.
        raise RunbookError('urls: a URL with credentials (user:password@) is refused because it would be shown in output; '
                           'use bearer_token or headers')
    try:
        port = parts.port
    except ValueError:
        raise RunbookError('urls: %r has an invalid port' % text)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise RunbookError('urls: %r is not an http:// or https:// URL with a host' % text)
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == 'https' else 80), path


def parse_status_ranges(values):
    """``[200, "300-399"]`` -> ``[(200, 200), (300, 399)]``; anything else fails with one line."""
    if not values:
        raise RunbookError('expect_status must list at least one status code or range, e.g. 200-399')
    ranges = []
    for value in values:
        match = _RANGE.match(str(value)) if not isinstance(value, bool) else None
        low = int(match.group(1)) if match else 0
        high = int(match.group(2) or low) if match else 0
        if not match or not 100 <= low <= high <= 599:
            raise RunbookError('expect_status: %r is not a status code (200) or a range (200-399) between 100 and 599' % (value,))
        ranges.append((low, high))
    return ranges


def status_expected(code, ranges):
    return any(low <= code <= high for low, high in ranges)


def check_method(method):
    text = str(method or '').strip().upper()
    if not _METHOD.match(text):
        raise RunbookError('method: %r is not an HTTP method' % method)
    return text


def json_path(document, path):
    """The value at a dotted path (``checks.database``, ``data.0.id``); (found, value)."""
    value = document
    for part in path.split('.'):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def ssl_context(validate_certs=True, ca_path=None, client_cert=None, client_key=None):
    """An SSL context for https URLs; a bad certificate file fails here, before any request."""
    if client_key and not client_cert:
        raise RunbookError('client_key needs client_cert')
    try:
        context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        raise RunbookError('ca_path: cannot load %s: %s' % (ca_path, one_line(exc)))
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        try:
            context.load_cert_chain(client_cert, client_key)
        except (OSError, ssl.SSLError) as exc:
            raise RunbookError('client_cert: cannot load %s: %s' % (client_cert, one_line(exc)))
    return context


# --- sending ---------------------------------------------------------------------

def classify(exc):
    """The kind of a failed request: connection_refused, timeout, dns, tls or connection."""
    if isinstance(exc, ConnectionRefusedError):
        return 'connection_refused'
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return 'timeout'
    if isinstance(exc, socket.gaierror):
        return 'dns'
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return 'tls'
    return 'connection'


def send_one(target, method, headers, body, timeout, context):
    """One request on a connection of its own; never retried, never redirected.

    Returns dict(code, kind, error, seconds, body) where ``code`` is None when no
    HTTP answer came back.
    """
    scheme, host, port, path = target
    started = time.perf_counter()
    if scheme == 'https':
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read(MAX_BODY)
        return dict(code=response.status, kind=None, error=None, seconds=time.perf_counter() - started,
                    body=payload, content_type=response.getheader('Content-Type', ''))
    except Exception as exc:  # pylint: disable=broad-except
        return dict(code=None, kind=classify(exc), error=one_line(exc), seconds=time.perf_counter() - started, body=None)
    finally:
        connection.close()


def send_all(target, count, concurrency, method, headers, body, timeout, context):
    """Exactly ``count`` requests, at most ``concurrency`` at a time; (answers, seconds taken)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(send_one, target, method, headers, body, timeout, context) for index in range(count)]
        answers = [future.result() for future in futures]
    return answers, time.perf_counter() - started


# --- measuring -------------------------------------------------------------------

def percentile(values, rank):
    """Nearest-rank percentile of ``values`` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(-(-rank * len(ordered) // 100)) - 1))
    return ordered[index]


def read_json(answer):
    try:
        return True, json.loads(answer['body'].decode('utf-8'))
    except (AttributeError, ValueError, UnicodeDecodeError):
        return False, None


def summarize(url, answers, ranges, json_fields, expect_json, seconds):
    """Per-URL measurements: status codes, errors by kind, error rate, latency, JSON values."""
    codes = {}
    kinds = {}
    latencies = []
    first_error = None
    for answer in answers:
        if answer['code'] is None:
            kinds[answer['kind']] = kinds.get(answer['kind'], 0) + 1
            first_error = first_error or answer['error']
            continue
        codes[str(answer['code'])] = codes.get(str(answer['code']), 0) + 1
        latencies.append(answer['seconds'] * 1000.0)
        if not status_expected(answer['code'], ranges):
            kinds['status'] = kinds.get('status', 0) + 1
            first_error = first_error or 'HTTP %d' % answer['code']
    errors = sum(kinds.values())
    fields = list(json_fields) + [path for path in expect_json if path not in json_fields]
    values = dict((path, []) for path in fields)
    mismatches = dict((path, 0) for path in expect_json)
    checked = 0
    for answer in answers:
        if answer['code'] is None or not status_expected(answer['code'], ranges) or not fields:
            continue
        checked += 1
        parsed, document = read_json(answer)
        for path in fields:
            found, value = json_path(document, path) if parsed else (False, None)
            seen = values[path]
            entry = next((item for item in seen if item['found'] == found and item['value'] == value), None)
            if entry is None:
                entry = dict(value=value, found=found, count=0)
                seen.append(entry)
            entry['count'] += 1
            if path in expect_json and (not found or value != expect_json[path]):
                mismatches[path] += 1

    def milliseconds(value):
        return None if value is None else round(value, 1)

    return dict(
        url=url,
        requests=len(answers),
        answered=len(latencies),
        errors=errors,
        error_rate=round(100.0 * errors / len(answers), 1) if answers else 0.0,
        status_codes=codes,
        errors_by_kind=kinds,
        gateway_errors=sum(codes.get(str(code), 0) for code in GATEWAY_CODES),
        latency_ms=dict(p50=milliseconds(percentile(latencies, 50)), p95=milliseconds(percentile(latencies, 95)),
                        p99=milliseconds(percentile(latencies, 99)), max=milliseconds(max(latencies) if latencies else None)),
        json=values,
        json_checked=checked,
        json_mismatches=mismatches,
        first_error=first_error,
        duration_ms=round(seconds * 1000.0, 1),
    )


# --- grading ---------------------------------------------------------------------

def grade_url(measured, options):
    """Findings for one URL; none when all is well."""
    url = measured['url']
    total = measured['requests']
    findings = []

    def add(check, status, message, value=None, threshold=None):
        item = finding(check, status, '%s: %s' % (url, message), value, threshold)
        item['url'] = url
        findings.append(item)

    if measured['answered'] == 0:
        kinds = measured['errors_by_kind']
        main = max(kinds, key=lambda kind: kinds[kind]) if kinds else 'connection'
        detail = ', '.join('%d %s' % (kinds[kind], LABELS.get(kind, kind)) for kind in sorted(kinds, key=lambda kind: -kinds[kind]))
        detail = detail.replace(LABELS['timeout'], '%s after %ss' % (LABELS['timeout'], options['timeout']))
        add('unreachable', 'critical', 'no answer to any of %d requests (%s): %s' % (total, detail, NO_ANSWER.get(main, NO_ANSWER['connection'])),
            total)
        return findings

    rate = measured['error_rate']
    if rate > options['error_rate_warn']:
        status = 'critical' if rate > options['error_rate_critical'] else 'warn'
        threshold = options['error_rate_critical'] if status == 'critical' else options['error_rate_warn']
        causes = ['%s: %d' % (code, count) for code, count in sorted(measured['status_codes'].items())
                  if not status_expected(int(code), options['ranges'])]
        causes += ['%s: %d' % (LABELS.get(kind, kind), count) for kind, count in sorted(measured['errors_by_kind'].items()) if kind != 'status']
        add('error_rate', status, '%d of %d requests failed (%s%%; %s), over %s%%' % (
            measured['errors'], total, rate, ', '.join(causes), threshold), rate, threshold)

    # Only gateway answers that count as errors, graded on the same lines as the error rate.
    gateway = sum(measured['status_codes'].get(str(code), 0) for code in GATEWAY_CODES if not status_expected(code, options['ranges']))
    share = round(100.0 * gateway / total, 1)
    if share > options['error_rate_warn']:
        status = 'critical' if share > options['error_rate_critical'] else 'warn'
        codes = ', '.join('%d: %d' % (code, measured['status_codes'][str(code)]) for code in GATEWAY_CODES
                          if str(code) in measured['status_codes'] and not status_expected(code, options['ranges']))
        add('gateway_errors', status, '%d of %d answers were gateway errors (%s): the gateway answers but its upstream does not' % (
            gateway, total, codes), gateway)

    p95 = measured['latency_ms']['p95']
    if p95 is not None and options['latency_warn'] is not None and p95 > options['latency_warn'] * 1000.0:
        critical = options['latency_critical'] is not None and p95 > options['latency_critical'] * 1000.0
        threshold = round((options['latency_critical'] if critical else options['latency_warn']) * 1000.0, 1)
        latency = measured['latency_ms']
        add('latency', 'critical' if critical else 'warn', 'p95 %s ms over %s ms (p50 %s, p99 %s, max %s ms over %d answers)' % (
            latency['p95'], threshold, latency['p50'], latency['p99'], latency['max'], measured['answered']), p95, threshold)

    checked = measured['json_checked']
    for path, wrong in sorted(measured['json_mismatches'].items()):
        if not wrong:
            continue
        expected = options['expect_json'][path]
        seen = ', '.join('%s in %d' % (json.dumps(item['value']) if item['found'] else 'missing', item['count'])
                         for item in measured['json'][path])
        add('json', 'critical' if wrong == checked else 'warn', '%s is not %s in %d of %d answers (seen: %s)' % (
            path, json.dumps(expected), wrong, checked, seen), wrong)
    return findings
