#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: redis_flush
short_description: Remove Redis keys by pattern, or flush one database, without blocking the server
version_added: 0.1.0
description:
  - The runbooks' C(redis-cli FLUSHDB) for a Redis that is full, made safe and precise.
  - With O(scope=pattern), removes only the keys of database O(db) that match O(pattern) (and, if asked,
    only those without a TTL, O(only_persistent), or of one O(type)). Keys are found with C(SCAN) and
    removed with C(UNLINK) in batches of about O(batch_size), with O(pause) between batches, so that
    other clients are served while a large keyspace is cleared. At most O(max_keys) keys are removed per run.
  - With O(scope=db), flushes the database given by O(db) (C(FLUSHDB), asynchronously unless
    O(asynchronous=false)). O(db) is required; there is no default database to flush.
  - With O(scope=all), flushes every database (C(FLUSHALL)); only ever done when asked by that name.
  - In check mode nothing is removed; the result says how many keys would go and, from a sample of
    O(sample) keys (C(MEMORY USAGE)), about how much memory they use.
  - Bad input fails before anything is touched, with one line naming the option.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.redis
attributes:
  check_mode:
    support: full
    description: Counts the keys that would be removed, estimates their memory, and removes nothing.
  diff_mode:
    support: none
    description: RV(actions) says which database or pattern, and how many keys.
options:
  scope:
    description:
      - What to remove. V(pattern) removes the keys of O(db) matching O(pattern); V(db) flushes the whole
        database O(db); V(all) flushes every database of the server.
      - With V(pattern), O(db) is the connection's database (O(db), the URL's, or 0).
      - With V(db), O(db) (or a database in O(url)) is required.
    type: str
    required: true
    choices: [pattern, db, all]
  pattern:
    description:
      - With O(scope=pattern), a C(SCAN MATCH) glob, e.g. C(linkflow_cache:*). Required and not empty.
      - V(*) is allowed and means every key of the database; the result says so.
    type: str
  only_persistent:
    description:
      - With O(scope=pattern), remove only keys without a TTL (C(TTL) -1); keys that expire anyway are left.
    type: bool
    default: false
  type:
    description:
      - With O(scope=pattern), remove only keys of this type (C(SCAN TYPE)).
    type: str
    choices: [string, list, set, zset, hash, stream]
  asynchronous:
    description:
      - With O(scope=db) or O(scope=all), free the memory in the background (C(FLUSHDB ASYNC)), so that
        the server is not blocked while a large database is freed.
    type: bool
    default: true
  batch_size:
    description:
      - With O(scope=pattern), the C(SCAN COUNT) hint, and about how many keys each C(UNLINK) removes.
      - Small batches keep every other client's wait short; 250 removes as fast as C(redis-cli --scan | xargs redis-cli unlink)
        while no other command waits more than a few milliseconds.
    type: int
    default: 250
  pause:
    description:
      - With O(scope=pattern), pause between batches, a duration such as C(10ms) or C(1s), or a number of seconds.
    type: raw
    default: 0
  max_keys:
    description:
      - With O(scope=pattern), stop after removing this many keys (run again to continue). Must be at least 1.
      - C(FLUSHDB) and C(FLUSHALL) cannot stop half-way; this cap does not apply to them.
    type: int
    default: 10000000
  sample:
    description:
      - How many of the keys that go are measured with C(MEMORY USAGE) to estimate, by extrapolation,
        the memory they use. V(0) skips the estimate.
    type: int
    default: 100
notes:
  - The server's database count is read with C(CONFIG GET databases) to check O(db); when that command is
    not allowed, the server's own error for a database out of range is reported as one line.
  - O(scope=pattern) needs Redis 6 or later for O(type).
seealso:
  - module: oncall.runbooks.redis_info
    description: Memory, keyspace and clients, to decide what to remove.
'''

EXAMPLES = r'''
- name: How much would clearing the Laravel cache free?
  oncall.runbooks.redis_flush:
    scope: pattern
    db: 0
    pattern: 'linkflow_cache:*'
  check_mode: true
  register: cache_plan

- name: Clear the cache (Redis is out of memory), leaving sessions and queues alone
  oncall.runbooks.redis_flush:
    scope: pattern
    db: 0
    pattern: 'linkflow_cache:*'
    batch_size: 1000
    pause: 10ms

- name: Flush the cache database of another application, in the background
  oncall.runbooks.redis_flush:
    scope: db
    db: 2
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: removed 1400 keys matching 'linkflow_cache:*' in db 0 in 2 batches (0.1s); used_memory 33.1 MB -> 1.2 MB
actions:
  description: One entry per database (O(scope=db), O(scope=all)) or per pattern (O(scope=pattern)), as every fix module returns.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The database, e.g. C(db 3), or the database and pattern, e.g. C(db 0 linkflow_cache:*).
      type: str
    action:
      description: C(unlink), C(flushdb) or C(flushall).
      type: str
    reason:
      description: What was asked, in words.
      type: str
    done:
      description: Whether keys were removed (always false in check mode).
      type: bool
    db:
      description: The database number.
      type: int
    keys:
      description: Keys removed, or in check mode keys that would be removed.
      type: int
    examples:
      description: A few of the keys, for a human to check the pattern.
      type: list
      elements: str
candidates:
  description: Targets planned, as every fix module returns.
  returned: always
  type: int
left_out:
  description: Always 0 (the cap on keys is O(max_keys), reported in RV(complete)).
  returned: always
  type: int
keys_removed:
  description: Keys removed (0 in check mode).
  returned: always
  type: int
keys_matched:
  description:
    - Keys found that qualified. In check mode, the keys that would be removed (at most O(max_keys)).
  returned: always
  type: int
keys_total:
  description: In check mode, every key that qualifies, even beyond O(max_keys).
  returned: in check mode
  type: int
complete:
  description: Whether no qualifying key was left behind because of O(max_keys).
  returned: always
  type: bool
memory_estimate:
  description: Bytes the keys that go use (or would use), extrapolated from C(MEMORY USAGE) of up to O(sample) of them.
  returned: when O(sample) is more than 0
  type: int
used_memory_before:
  description: C(used_memory) of C(INFO memory) before the run.
  returned: always
  type: int
used_memory_after:
  description: C(used_memory) after the run (memory freed in the background may take a moment to show).
  returned: always
  type: int
batches:
  description: C(UNLINK) batches run (O(scope=pattern)).
  returned: always
  type: int
duration_seconds:
  description: How long the removing took.
  returned: always
  type: float
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible_collections.oncall.runbooks.plugins.module_utils.redis import (
    check_connection_options,
    connect,
    redis_argument_spec,
    redis_target,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    check_cap,
    failing_on_error,
    format_bytes,
    parse_duration,
    Plan,
    RunbookError,
)

try:
    import redis
except ImportError:
    redis = None  # reported by connect()

EXAMPLES_KEPT = 5


def text(key):
    return key.decode('utf-8', 'replace') if isinstance(key, bytes) else str(key)


def url_db(params):
    """The database in the URL's path (redis://host/3), or None."""
    if not params['url'] or params['url'].startswith('unix://'):
        return None
    path = urlsplit(params['url']).path.strip('/')
    return int(path) if path.isdigit() else None


def validate(params):
    """Every check that needs no server: fail before anything is touched."""
    check_connection_options(params)
    scope = params['scope']
    if scope == 'pattern':
        if params['pattern'] is None or not params['pattern'].strip():
            raise RunbookError('pattern: required and not empty with scope=pattern (use a glob such as linkflow_cache:*)')
    else:
        for option, unset in (('pattern', None), ('type', None), ('only_persistent', False)):
            if params[option] != unset:
                raise RunbookError('%s: only used with scope=pattern; scope=%s removes every key of %s' % (
                    option, scope, 'the database' if scope == 'db' else 'every database'))
    if scope == 'db' and params['db'] is None and url_db(params) is None:
        raise RunbookError('db: required with scope=db (there is no default database to flush)')
    if scope == 'all' and params['db'] is not None:
        raise RunbookError('db: not used with scope=all, which flushes every database; use scope=db to flush one')
    check_cap(params['batch_size'], 'batch_size')
    check_cap(params['max_keys'], 'max_keys')
    if isinstance(params['sample'], bool) or params['sample'] < 0:
        raise RunbookError('sample must be a whole number of at least 0, got %r' % params['sample'])
    return parse_duration(params['pause'], 'pause')


def check_db_range(control, db):
    """Check ``db`` against CONFIG GET databases when allowed; otherwise the server's error will say."""
    try:
        databases = int(control.config_get('databases').get('databases'))
    except (redis.exceptions.ResponseError, TypeError, ValueError):
        return
    if not 0 <= db < databases:
        raise RunbookError('db: %d is out of range; this server has databases 0 to %d' % (db, databases - 1))


def used_memory(control):
    return int(control.info('memory')['used_memory'])


def measure(client, keys):
    """MEMORY USAGE of each key (those gone meanwhile are skipped): (bytes, keys measured)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key)
    sizes = [size for size in pipe.execute(raise_on_error=False) if isinstance(size, int)]
    return sum(sizes), len(sizes)


def extrapolate(measured, count, total):
    return int(round(float(measured) / count * total)) if count else 0


def scan_batches(client, params):
    """Yield lists of qualifying keys, one per SCAN call (its COUNT is ``batch_size``)."""
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=params['pattern'], count=params['batch_size'], _type=params['type'])
        if keys and params['only_persistent']:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.ttl(key)
            keys = [key for key, ttl in zip(keys, pipe.execute()) if ttl == -1]
        yield keys, cursor == 0
        if cursor == 0:
            return


def first_keys(client, count):
    """Up to ``count`` keys of the client's database, for a sample."""
    keys = []
    for key in client.scan_iter(count=max(count, 10)):
        if len(keys) >= count:
            break
        keys.append(key)
    return keys


def by_pattern(module, client, db, pause):
    """SCAN and UNLINK (or, in check mode, count) the keys matching the pattern."""
    params = module.params
    outcome = dict(matched=0, removed=0, total=0, batches=0, examples=[], sampled=0, measured=[0, 0], complete=True)
    pending = []

    def unlink(keys):
        if outcome['batches'] and pause:
            time.sleep(pause)
        outcome['removed'] += client.unlink(*keys)
        outcome['batches'] += 1

    for keys, last in scan_batches(client, params):
        outcome['total'] += len(keys)
        room = params['max_keys'] - outcome['matched']
        taken = keys[:max(room, 0)]
        if len(taken) < len(keys):
            outcome['complete'] = False
        outcome['matched'] += len(taken)
        outcome['examples'] += [text(key) for key in taken[:EXAMPLES_KEPT - len(outcome['examples'])]]
        sample = taken[:params['sample'] - outcome['sampled']]
        if sample:
            # Measured before they go: a sample of what is removed, not of what is left.
            outcome['sampled'] += len(sample)
            size, count = measure(client, sample)
            outcome['measured'][0] += size
            outcome['measured'][1] += count
        if module.check_mode:
            continue  # count every key that qualifies, even beyond the cap, to report it
        pending += taken
        while len(pending) >= params['batch_size']:
            unlink(pending[:params['batch_size']])
            del pending[:params['batch_size']]
        if outcome['matched'] >= params['max_keys']:
            if not last:
                outcome['complete'] = False
            break
    if pending:
        unlink(pending)
    return outcome


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(
        scope=dict(type='str', required=True, choices=['pattern', 'db', 'all']),
        pattern=dict(type='str'),
        only_persistent=dict(type='bool', default=False),
        type=dict(type='str', choices=['string', 'list', 'set', 'zset', 'hash', 'stream']),
        asynchronous=dict(type='bool', default=True),
        batch_size=dict(type='int', default=250),
        pause=dict(type='raw', default=0),
        max_keys=dict(type='int', default=10000000, no_log=False),
        sample=dict(type='int', default=100),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    scope = params['scope']
    check_mode = module.check_mode
    plan = Plan()
    data = dict(keys_removed=0, keys_matched=0, complete=True, batches=0)
    estimate = None
    duration = 0.0

    with failing_on_error(module, redis_target(params)):
        pause = validate(params)
        db = params['db'] if params['db'] is not None else url_db(params)
        db = 0 if db is None else db
        control = connect(module, 'redis_flush', db=0)
        client = None
        try:
            check_db_range(control, db)
            data['used_memory_before'] = used_memory(control)
            started = time.monotonic()
            if scope == 'pattern':
                client = connect(module, 'redis_flush', db=db)
                outcome = by_pattern(module, client, db, pause)
                everything = ' (every key in db %d)' % db if params['pattern'] == '*' else ''
                filters = ''.join([' without a TTL' if params['only_persistent'] else '',
                                   ' of type %s' % params['type'] if params['type'] else ''])
                reason = 'keys matching %r%s%s' % (params['pattern'], filters, everything)
                data.update(keys_matched=outcome['matched'], keys_removed=outcome['removed'], complete=outcome['complete'],
                            batches=outcome['batches'])
                if check_mode:
                    data['keys_total'] = outcome['total']
                if outcome['matched']:
                    plan.add('db %d %s' % (db, params['pattern']), 'unlink', reason, db=db,
                             keys=outcome['matched'] if check_mode else outcome['removed'], examples=outcome['examples'])
                if params['sample']:
                    estimate = extrapolate(outcome['measured'][0], outcome['measured'][1], outcome['matched'])
                plan.carry_out(lambda entry: outcome['removed'] > 0, check_mode)
            else:
                keyspace = control.info('keyspace')
                counts = dict((int(name[2:]), int(value['keys'])) for name, value in keyspace.items()
                              if name.startswith('db') and isinstance(value, dict))
                targets = [db] if scope == 'db' else sorted(counts)
                measured = [0, 0]
                for number in targets:
                    keys = counts.get(number, 0)
                    if not keys:
                        continue
                    data['keys_matched'] += keys
                    target_client = connect(module, 'redis_flush', db=number)
                    try:
                        sample = first_keys(target_client, params['sample']) if params['sample'] else []
                        if sample:
                            size, count = measure(target_client, sample)
                            measured[0] += extrapolate(size, count, keys)
                            measured[1] += count
                        plan.add('db %d' % number, 'flushdb' if scope == 'db' else 'flushall',
                                 'every key of db %d%s' % (number, ' (FLUSHALL: every database)' if scope == 'all' else ''),
                                 db=number, keys=keys, examples=[text(key) for key in sample[:EXAMPLES_KEPT]])
                    finally:
                        target_client.close()
                if params['sample'] and measured[1]:
                    estimate = measured[0]
                if plan and not check_mode:
                    if scope == 'db':
                        client = connect(module, 'redis_flush', db=db)
                        client.flushdb(asynchronous=params['asynchronous'])
                        after = {db: client.dbsize()}
                    else:
                        control.flushall(asynchronous=params['asynchronous'])
                        after = dict((number, 0) for number in targets)
                    for entry in plan.actions:
                        entry['keys'] -= after.get(entry['db'], 0)
                    data['keys_removed'] = sum(entry['keys'] for entry in plan.actions)
                plan.carry_out(lambda entry: entry['keys'] > 0, check_mode)
            duration = time.monotonic() - started
            data['used_memory_after'] = used_memory(control)
        finally:
            control.close()
            if client is not None:
                client.close()

    data['duration_seconds'] = round(duration, 3)
    if estimate is not None:
        data['memory_estimate'] = estimate
    module.exit_json(**plan.result(summarize(params, db, data, estimate, check_mode), check_mode, **data))


def summarize(params, db, data, estimate, check_mode):
    scope = params['scope']
    memory = ' (about %s)' % format_bytes(estimate) if estimate else ''
    if scope == 'pattern':
        what = 'keys matching %r%s%s in db %d%s' % (
            params['pattern'], ' without a TTL' if params['only_persistent'] else '',
            ' of type %s' % params['type'] if params['type'] else '', db,
            ' (every key in db %d)' % db if params['pattern'] == '*' else '')
        if not data['keys_matched']:
            return 'no %s: nothing to remove' % what
        if check_mode:
            text_ = 'would remove %d %s%s' % (data['keys_matched'], what, memory)
            if not data['complete']:
                text_ += ' (max_keys %d of %d matching)' % (params['max_keys'], data['keys_total'])
            return text_
        text_ = 'removed %d %s in %d batches (%.1fs)%s; used_memory %s -> %s' % (
            data['keys_removed'], what, data['batches'], data['duration_seconds'], memory,
            format_bytes(data['used_memory_before']), format_bytes(data['used_memory_after']))
        if not data['complete']:
            text_ += '; stopped by max_keys %d: run again to continue' % params['max_keys']
        return text_
    where = 'db %d' % db if scope == 'db' else 'all databases (FLUSHALL)'
    if not data['keys_matched']:
        return '%s %s empty: nothing to flush' % (where, 'is' if scope == 'db' else 'are')
    if check_mode:
        return 'would flush %s: %d keys%s' % (where, data['keys_matched'], memory)
    return 'flushed %s%s: %d keys%s; used_memory %s -> %s' % (
        where, ' asynchronously' if params['asynchronous'] else '', data['keys_removed'], memory,
        format_bytes(data['used_memory_before']), format_bytes(data['used_memory_after']))


if __name__ == '__main__':
    main()
