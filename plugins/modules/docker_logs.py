#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: docker_logs
short_description: Recent log lines of a Compose project's containers, with patterns counted
version_added: 0.1.0
description:
  - The runbooks' C(docker logs --tail 100 SERVICE), for every container of a Compose O(project) (or some of its
    O(services)), or of listed O(containers), read at the same time.
  - Lines of standard output and standard error are both read and tagged with their stream and time, in the order
    they were written.
  - With O(patterns), counts the lines that match each regular expression, per container, and returns the first
    O(max_matches) matching lines of each; the answer to "how many C(SQLSTATE) errors did the api log in the last 10
    minutes".
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.docker
  - oncall.runbooks.docker.selection
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  tail:
    description:
      - How many of the latest lines to read from each container (both streams together). C(0) reads every line,
        which with O(since) means every line since then.
    type: int
    default: 100
  since:
    description:
      - Only lines written since then, a duration back from now such as C(10m) or C(1h30m), or a time such as
        C(2026-11-23T01:00:00Z).
    type: str
  patterns:
    description:
      - Regular expressions (Python syntax) to count in the lines read. A bad expression fails before anything is read.
    type: list
    elements: str
    default: []
  max_matches:
    description:
      - How many matching lines of each pattern to return per container; all matches are counted.
    type: int
    default: 20
  include_lines:
    description:
      - Return the lines read (RV(containers[].lines)). With V(false), only counts and matching lines are returned.
    type: bool
    default: true
  match_status:
    description:
      - Status of the finding for a pattern that matched at least one line.
    type: str
    choices: [ok, warn, critical]
    default: warn
seealso:
  - module: oncall.runbooks.docker_service_info
    description: Which containers are unhealthy, restarting or OOM-killed.
'''

EXAMPLES = r'''
- name: The api's last 100 lines
  oncall.runbooks.docker_logs:
    project: linkflow
    services: [api]

- name: Database errors in the last 10 minutes, of every service
  oncall.runbooks.docker_logs:
    project: linkflow
    since: 10m
    tail: 0
    patterns:
      - 'SQLSTATE\[\w+\]'
      - 'Connection refused'
    include_lines: false
  register: errors

- name: Stop when the worker could not reach its database
  ansible.builtin.assert:
    that: errors.matches['linkflow-worker']['Connection refused'].count == 0
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: warn
findings:
  description:
    - C(pattern) findings, one per container and pattern that matched (status O(match_status)), and C(logs), how many
      lines were read.
  returned: success
  type: list
  elements: dict
  sample:
    - check: pattern
      status: warn
      container: linkflow-api
      message: "linkflow-api (api): 12 lines match 'SQLSTATE'"
      value: 12
containers:
  description: One entry per container, by service then name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
    service:
      description: Compose service, or null.
      type: str
    state:
      description: The container's state when read.
      type: str
    line_count:
      description: How many lines were read.
      type: int
    lines:
      description:
        - The lines, oldest first, each with C(time) (RFC 3339), C(stream) (C(stdout) or C(stderr)) and C(text).
          Left out with O(include_lines=false).
      type: list
      elements: dict
    matches:
      description: Per pattern, C(count) (every matching line), C(lines) (the first O(max_matches)) and C(truncated).
      type: dict
matches:
  description: Per container name, per pattern, C(count), C(lines) and C(truncated) (as in RV(containers[].matches)).
  returned: success
  type: dict
totals:
  description: Per pattern, matching lines over all containers.
  returned: success
  type: dict
  sample: {"SQLSTATE": 12}
since:
  description: The start of the lines read, RFC 3339, when O(since) was given.
  returned: success
  type: str
'''

import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.docker import (
    SELECTION_RULES, concurrently, connect, container_name, docker_argument_spec, engine_name, select_containers,
    selection_argument_spec, service_of)
from ansible_collections.oncall.runbooks.plugins.module_utils.logs import compile_patterns, match_lines
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    RunbookError, check_cap, diagnostic_result, failing_on_error, finding, parse_duration, parse_timestamp)


def since_epoch(value, now):
    """Seconds since the epoch of ``since``: a duration back from ``now``, or a time."""
    try:
        return now - parse_duration(value, 'since')
    except RunbookError:
        stamp = parse_timestamp(str(value).strip().replace(' ', 'T'))
        if stamp is None:
            raise RunbookError('since: %r is neither a duration such as 10m nor a time such as 2026-11-23T01:00:00Z' % value)
        return stamp


def split_lines(raw, stream):
    """Lines of one stream, as the engine sends them with timestamps=True ("<RFC 3339> <text>")."""
    lines = []
    for line in raw.decode('utf-8', errors='replace').splitlines():
        stamp, space, text = line.partition(' ')
        if not space:
            stamp, text = '', line
        lines.append({'time': stamp, 'stream': stream, 'text': text.rstrip('\r')})
    return lines


def time_key(stamp):
    """A sort key of an RFC 3339 UTC time with up to nine digits of fraction."""
    whole, dot, fraction = stamp.rstrip('Z').partition('.')
    return whole, fraction.ljust(9, '0')


def read_logs(client, attrs, tail, since):
    """Both streams of one container, merged in the order written, the latest ``tail`` lines (all with 0)."""
    options = dict(timestamps=True, tail=tail if tail else 'all')
    if since is not None:
        options['since'] = since
    lines = []
    for stream in ('stdout', 'stderr'):
        raw = client.api.logs(attrs['Id'], stdout=stream == 'stdout', stderr=stream == 'stderr', **options)
        lines += split_lines(raw, stream)
    # The engine trims trailing zeros of the nanoseconds, so times do not sort as text; the sort is
    # stable, so a stream's own order is kept.
    lines.sort(key=lambda line: time_key(line['time']))
    return lines[-tail:] if tail else lines


def main():
    argument_spec = docker_argument_spec()
    argument_spec.update(selection_argument_spec())
    argument_spec.update(
        tail=dict(type='int', default=100),
        since=dict(type='str'),
        patterns=dict(type='list', elements='str', default=[]),
        max_matches=dict(type='int', default=20),
        include_lines=dict(type='bool', default=True),
        match_status=dict(type='str', default='warn', choices=['ok', 'warn', 'critical']),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **SELECTION_RULES)
    params = module.params

    with failing_on_error(module, 'Docker engine at %s' % engine_name(params)):
        if params['tail'] < 0:
            raise RunbookError('tail must be 0 (every line) or more, got %d' % params['tail'])
        check_cap(params['max_matches'], 'max_matches')
        compiled = compile_patterns(module, params['patterns'])
        since = since_epoch(params['since'], time.time()) if params['since'] else None

        client = connect(module)
        selected = select_containers(module, client)
        # Engines take whole seconds for since; a fraction would be refused by older API versions.
        logs = concurrently(lambda attrs: read_logs(client, attrs, params['tail'], int(since) if since is not None else None), selected)
        client.close()

    containers, matches, totals, findings = [], {}, dict((pattern, 0) for pattern, regex in compiled), []
    total_lines = 0
    for attrs, lines in zip(selected, logs):
        name = container_name(attrs)
        label = '%s (%s)' % (name, service_of(attrs)) if service_of(attrs) else name
        found = match_lines(compiled, lines, params['max_matches'])
        entry = {'name': name, 'service': service_of(attrs), 'state': (attrs.get('State') or {}).get('Status'),
                 'line_count': len(lines), 'matches': found}
        if params['include_lines']:
            entry['lines'] = lines
        containers.append(entry)
        matches[name] = found
        total_lines += len(lines)
        for pattern, result in found.items():
            totals[pattern] += result['count']
            if result['count']:
                message = '%s: %d line%s match %r' % (label, result['count'], '' if result['count'] == 1 else 's', pattern)
                item = finding('pattern', params['match_status'], message, result['count'])
                item['container'] = name
                item['pattern'] = pattern
                findings.append(item)
    findings.append(finding('logs', 'ok', '%d lines read from %d containers' % (total_lines, len(containers)), total_lines))
    data = dict(containers=containers, matches=matches, totals=totals)
    if since is not None:
        data['since'] = datetime.fromtimestamp(since, timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    module.exit_json(**diagnostic_result(findings, **data))


if __name__ == '__main__':
    main()
