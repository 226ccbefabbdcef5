#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: redis_info
short_description: Redis memory, clients, persistence and the biggest keys, graded
version_added: 0.1.0
description:
  - What the runbooks' C(redis-cli ping), C(INFO memory) and C(CLIENT LIST) should have told you during
    a "Memory Full" (C(OOM command not allowed)) or "Connection Issues" incident.
  - Reports the PING round trip, role and version, memory (used, peak, C(maxmemory), usage, fragmentation,
    eviction policy), clients (connected, blocked, C(maxclients)), evicted and expired keys, rejected
    connections, commands refused for lack of memory, the keyspace of each database, persistence health
    (a failing save is what makes Redis answer C(MISCONF)), and the slow log's top entries.
  - With O(sample_keys), samples keys of the database O(db) with C(SCAN) and C(MEMORY USAGE) and reports the
    biggest keys and the key prefixes that hold the most memory, which is what to know before deciding
    what to flush.
  - Changes nothing, and runs the same in check mode.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.redis
attributes:
  check_mode:
    support: full
    description: Reads only; check mode returns the same data.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
options:
  memory_warn:
    description:
      - Percentage of C(maxmemory) in use at which the C(memory) finding warns, when the eviction policy
        is C(noeviction) (with an eviction policy a full Redis is normal).
    type: int
    default: 80
  memory_critical:
    description:
      - Percentage of C(maxmemory) in use at which the C(memory) finding is critical under C(noeviction).
    type: int
    default: 95
  clients_warn:
    description:
      - Percentage of C(maxclients) connected at which the C(clients) finding warns.
    type: int
    default: 80
  clients_critical:
    description:
      - Percentage of C(maxclients) connected at which the C(clients) finding is critical.
    type: int
    default: 95
  sample_keys:
    description:
      - Sample up to this many keys of the database to find the biggest keys and prefixes. 0 samples none.
    type: int
    default: 0
  prefix_separator:
    description:
      - A key's prefix is what comes before the last occurrence of this separator (C(linkflow_cache:user:42)
        has the prefix C(linkflow_cache:user)).
    type: str
    default: ':'
  slowlog_entries:
    description:
      - How many of the slow log's entries to return.
    type: int
    default: 10
seealso:
  - module: oncall.runbooks.redis_flush
    description: Remove what the sample shows is safe to remove.
'''

EXAMPLES = r'''
- name: Why does Redis answer "OOM command not allowed"?
  oncall.runbooks.redis_info:
    login_host: redis.internal
    login_password: "{{ vault_redis_password }}"
    sample_keys: 2000
  register: redis_state

- name: Through a URL, with TLS
  oncall.runbooks.redis_info:
    url: "rediss://default:{{ vault_redis_password }}@redis.internal:6380/0"
'''

RETURN = r'''
status:
  description: The worst status among RV(findings).
  returned: success
  type: str
  sample: critical
findings:
  description: What a human should read first, worst first (C(memory), C(oom_rejections), C(persistence), C(clients)).
  returned: success
  type: list
  elements: dict
  sample:
    - check: memory
      status: critical
      message: "used 33.9 MB of maxmemory 32.0 MB (106%) under noeviction: writes are refused"
      value: 106.0
      threshold: 95
ping_ms:
  description: PING round trip in milliseconds.
  returned: success
  type: float
ping_reply:
  description: C(PONG), or the error the server answered PING with (Redis 7 refuses even PING with C(MISCONF)).
  returned: success
  type: str
  sample: PONG
server:
  description: C(version), C(role), C(mode) and C(uptime_seconds).
  returned: success
  type: dict
memory:
  description:
    - C(used), C(peak), C(maxmemory) (bytes, 0 means no limit), C(usage_percent) (of C(maxmemory), null without a limit),
      C(fragmentation_ratio), C(policy) (the eviction policy) and C(used_human).
  returned: success
  type: dict
clients:
  description: C(connected), C(blocked), C(maxclients), C(usage_percent) and C(rejected_connections).
  returned: success
  type: dict
stats:
  description: C(evicted_keys), C(expired_keys), C(oom_rejections) (commands refused for lack of memory since the start).
  returned: success
  type: dict
keyspace:
  description: Per database (C(db0), ...), C(keys), C(expires) and C(avg_ttl).
  returned: success
  type: dict
persistence:
  description: C(rdb_last_bgsave_status), C(rdb_changes_since_last_save), C(aof_enabled), C(aof_last_write_status) and C(failing).
  returned: success
  type: dict
slowlog:
  description: The slow log's top entries, with C(id), C(duration_ms), C(command) (cut to 200 characters) and C(client_name).
  returned: success
  type: list
  elements: dict
sample:
  description:
    - With O(sample_keys), C(keys_sampled), C(dbsize), C(bytes_sampled), C(estimated_total_bytes), C(biggest_keys)
      (C(key), C(type), C(bytes)) and C(prefixes) (C(prefix), C(keys), C(bytes), C(estimated_bytes)), the biggest first.
  returned: when O(sample_keys) is more than 0
  type: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.redis import (
    check_connection_options,
    connect,
    redis,
    redis_argument_spec,
    redis_target,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_ratio,
    check_thresholds,
    diagnostic_result,
    failing_on_error,
    finding,
    format_bytes,
    graded_finding,
    RunbookError,
)


def text(value):
    return value.decode('utf-8', 'replace') if isinstance(value, bytes) else str(value)


def gather(client, params):
    started = time.perf_counter()
    try:
        client.ping()
        ping_reply = 'PONG'
    except redis.exceptions.ResponseError as exc:
        # The server answered, with an error: under MISCONF even PING is refused. That is evidence.
        ping_reply = str(exc)
    ping_ms = round(1000 * (time.perf_counter() - started), 3)
    info = client.info('all')
    maxmemory = info.get('maxmemory', 0)
    maxclients = info.get('maxclients') or int(client.config_get('maxclients').get('maxclients', 0) or 0)
    data = dict(
        ping_ms=ping_ms,
        ping_reply=ping_reply,
        server=dict(version=info.get('redis_version'), role=info.get('role'), mode=info.get('redis_mode'),
                    uptime_seconds=info.get('uptime_in_seconds')),
        memory=dict(used=info['used_memory'], used_human=format_bytes(info['used_memory']), peak=info.get('used_memory_peak'),
                    maxmemory=maxmemory, policy=info.get('maxmemory_policy'),
                    usage_percent=round(100.0 * info['used_memory'] / maxmemory, 1) if maxmemory else None,
                    fragmentation_ratio=info.get('mem_fragmentation_ratio')),
        clients=dict(connected=info.get('connected_clients'), blocked=info.get('blocked_clients'), maxclients=maxclients,
                     usage_percent=round(100.0 * info.get('connected_clients', 0) / maxclients, 1) if maxclients else None,
                     rejected_connections=info.get('rejected_connections', 0)),
        stats=dict(evicted_keys=info.get('evicted_keys', 0), expired_keys=info.get('expired_keys', 0),
                   oom_rejections=(info.get('errorstat_OOM') or {}).get('count', 0)),
        keyspace=dict((name, value) for name, value in info.items() if name.startswith('db') and isinstance(value, dict)),
        persistence=dict(rdb_last_bgsave_status=info.get('rdb_last_bgsave_status'),
                         rdb_changes_since_last_save=info.get('rdb_changes_since_last_save'),
                         aof_enabled=bool(info.get('aof_enabled')), aof_last_write_status=info.get('aof_last_write_status')),
        slowlog=[dict(id=entry['id'], duration_ms=entry['duration'] / 1000.0, command=text(entry['command'])[:200],
                      client_name=text(entry.get('client_name', '')))
                 for entry in client.slowlog_get(params['slowlog_entries'])] if params['slowlog_entries'] else [],
    )
    data['persistence']['failing'] = data['persistence']['rdb_last_bgsave_status'] == 'err' or (
        data['persistence']['aof_enabled'] and data['persistence']['aof_last_write_status'] == 'err')
    if params['sample_keys']:
        data['sample'] = sample(client, params['sample_keys'], params['prefix_separator'])
    return data


def sample(client, count, separator):
    """Sizes of up to ``count`` keys found by SCAN, the biggest keys and the heaviest prefixes."""
    keys = []
    for key in client.scan_iter(count=min(count, 1000)):
        keys.append(key)
        if len(keys) >= count:
            break
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
        pipe.type(key)
    answers = pipe.execute(raise_on_error=False)
    sizes = [(text(key), text(answers[2 * index + 1]), answers[2 * index] if isinstance(answers[2 * index], int) else 0)
             for index, key in enumerate(keys)]
    dbsize = client.dbsize()
    scale = float(dbsize) / len(sizes) if sizes else 0.0
    prefixes = {}
    for key, kind, size in sizes:
        prefix = key.rsplit(separator, 1)[0] if separator in key else key
        entry = prefixes.setdefault(prefix, dict(prefix=prefix, keys=0, bytes=0))
        entry['keys'] += 1
        entry['bytes'] += size
    for entry in prefixes.values():
        entry['estimated_bytes'] = int(entry['bytes'] * scale)
    sampled_bytes = sum(size for key, kind, size in sizes)
    return dict(keys_sampled=len(sizes), dbsize=dbsize, bytes_sampled=sampled_bytes, estimated_total_bytes=int(sampled_bytes * scale),
                biggest_keys=[dict(key=key, type=kind, bytes=size) for key, kind, size in sorted(sizes, key=lambda item: -item[2])[:20]],
                prefixes=sorted(prefixes.values(), key=lambda item: -item['bytes'])[:20])


def grade(data, params):
    findings = []
    memory = data['memory']
    if memory['maxmemory'] and memory['policy'] == 'noeviction':
        findings.append(graded_finding(
            'memory', memory['usage_percent'], params['memory_warn'], params['memory_critical'],
            'used %s of maxmemory %s ({value}%%) under noeviction%s' % (
                memory['used_human'], format_bytes(memory['maxmemory']),
                ': writes are refused' if memory['used'] >= memory['maxmemory'] else '')))
    elif memory['maxmemory']:
        findings.append(finding('memory', 'ok', 'used %s of maxmemory %s (%s%%); %s evicts keys when full' % (
            memory['used_human'], format_bytes(memory['maxmemory']), memory['usage_percent'], memory['policy']), memory['usage_percent']))
    else:
        findings.append(finding('memory', 'ok', 'used %s, no maxmemory limit' % memory['used_human']))
    refused = data['stats']['oom_rejections']
    # Refusals that are still happening are critical; old ones are worth a look.
    current = memory['maxmemory'] and memory['used'] >= memory['maxmemory'] and memory['policy'] == 'noeviction'
    findings.append(finding('oom_rejections', ('critical' if current else 'warn') if refused else 'ok',
                            '%d commands refused with OOM since the server started' % refused, refused))
    persistence = data['persistence']
    findings.append(finding('persistence', 'critical' if persistence['failing'] else 'ok',
                            'the last save failed (rdb %s, aof %s): writes may be refused with MISCONF' % (
                                persistence['rdb_last_bgsave_status'], persistence['aof_last_write_status'] if persistence['aof_enabled'] else 'off')
                            if persistence['failing'] else 'persistence healthy (last save %s)' % persistence['rdb_last_bgsave_status']))
    clients = data['clients']
    if clients['usage_percent'] is not None:
        findings.append(graded_finding('clients', clients['usage_percent'], params['clients_warn'], params['clients_critical'],
                                       '%d of %d clients connected ({value}%%)' % (clients['connected'], clients['maxclients'])))
    return findings


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(
        memory_warn=dict(type='int', default=80),
        memory_critical=dict(type='int', default=95),
        clients_warn=dict(type='int', default=80),
        clients_critical=dict(type='int', default=95),
        sample_keys=dict(type='int', default=0, no_log=False),
        prefix_separator=dict(type='str', default=':'),
        slowlog_entries=dict(type='int', default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, redis_target(params)):
        check_connection_options(params)
        for option in ('memory_warn', 'memory_critical', 'clients_warn', 'clients_critical'):
            check_ratio(params[option], option)
        check_thresholds(params['memory_warn'], params['memory_critical'], 'memory_warn', 'memory_critical')
        check_thresholds(params['clients_warn'], params['clients_critical'], 'clients_warn', 'clients_critical')
        for option in ('sample_keys', 'slowlog_entries'):
            if params[option] < 0:
                raise RunbookError('%s must be 0 or more, got %d' % (option, params[option]))
        if not params['prefix_separator']:
            raise RunbookError('prefix_separator must not be empty')

        client = connect(module, 'redis_info')
        try:
            data = gather(client, params)
        finally:
            client.close()

    module.exit_json(**diagnostic_result(grade(data, params), **data))


if __name__ == '__main__':
    main()
