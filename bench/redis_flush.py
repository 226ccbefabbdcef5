"""redis_flush scope=pattern removing 1,000,000 matching keys out of 2,000,000, while a client
sends PINGs, side by side with the shell way (redis-cli --scan | xargs redis-cli unlink) and
the blocking way (KEYS + DEL).

A concurrent client sends PING in a loop and records each one's latency: alone (baseline), then
during each way of removing the keys (the matching keys are written again before each). Targets:
the client's worst latency during redis_flush at most 10 ms; redis_flush's throughput at least 50%
of the redis-cli pipeline's.

The lab's Redis has maxmemory 32mb: it is raised (0, no limit) for the run and restored afterwards,
and the benchmark's database is flushed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

from common import lab_up, median, percentile, run_module, write_results
from lab.services import Redis

DB = 15
TOTAL = 2000000
MATCHING = 1000000
PATTERN = 'bench_flush:cache:*'
BASELINE = 5  # seconds of PINGs alone
# The module's defaults unless told otherwise (BENCH_FLUSH_OPTIONS='{"batch_size": 5000}').
FLUSH_OPTIONS = json.loads(os.environ.get('BENCH_FLUSH_OPTIONS', '{}'))


def fill(client, prefix, count, chunk=1000):
    pipe = client.pipeline(transaction=False)
    for start in range(0, count, chunk):
        pipe.mset(dict(('%s%07d' % (prefix, n), 'v%d' % n) for n in range(start, min(start + chunk, count))))
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


class Pinger(threading.Thread):
    """Another client of the same server: one PING at a time, each timed."""

    def __init__(self, redis_service):
        super().__init__(daemon=True)
        self.client = redis_service.client(DB, socket_timeout=30)
        self.latencies = []
        self.running = True

    def run(self):
        while self.running:
            started = time.perf_counter()
            self.client.ping()
            self.latencies.append((started, time.perf_counter() - started))
            time.sleep(0.001)

    def window(self, start, end):
        return [latency for started, latency in self.latencies if start <= started <= end]

    def stop(self):
        self.running = False
        self.join()
        self.client.close()


def module_flush(state, client):
    args = dict(login_host='127.0.0.1', login_port=state['port'], login_password=state['password'],
                scope='pattern', db=DB, pattern=PATTERN, **FLUSH_OPTIONS)
    seconds, result = run_module('redis_flush', args)
    assert result['complete'], result['summary']
    return seconds, result['keys_removed']


def redis_cli(state, client):
    base = 'redis-cli -h 127.0.0.1 -p %d -n %d' % (state['port'], DB)
    command = "%s --scan --pattern '%s' | xargs %s unlink > /dev/null" % (base, PATTERN, base)
    env = {'REDISCLI_AUTH': state['password'], 'PATH': '/usr/bin:/bin'}  # never on the command line
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True, env=env)
    return time.perf_counter() - started, MATCHING


def keys_del(state, client):
    started = time.perf_counter()
    keys = client.keys(PATTERN)
    removed = 0
    for start in range(0, len(keys), 100000):
        removed += client.delete(*keys[start:start + 100000])
    return time.perf_counter() - started, removed


def measure(redis_service, state, client, run):
    fill(client, PATTERN[:-1], MATCHING)
    assert client.dbsize() == TOTAL, 'db %d holds %d keys, not %d' % (DB, client.dbsize(), TOTAL)
    pinger = Pinger(redis_service)
    pinger.start()
    time.sleep(1 + BASELINE)
    baseline_end = time.perf_counter()
    seconds, removed = run(state, client)
    end = time.perf_counter()
    time.sleep(0.2)
    pinger.stop()
    left = sum(1 for key in client.scan_iter(match=PATTERN, count=10000))
    assert left == 0 and removed == MATCHING, '%d keys left, %d removed' % (left, removed)
    assert client.dbsize() == TOTAL - MATCHING
    baseline = pinger.window(baseline_end - BASELINE, baseline_end)
    during = pinger.window(end - seconds, end)
    return dict(seconds=seconds, removed=removed, keys_per_second=removed / seconds,
                baseline_p99_ms=1000 * percentile(baseline, 0.99), baseline_max_ms=1000 * max(baseline),
                during_median_ms=1000 * median(during), during_p99_ms=1000 * percentile(during, 0.99),
                during_max_ms=1000 * max(during), pings_during=len(during))


def main():
    lab = lab_up()
    redis_service = Redis(lab)
    state = lab.section('redis')
    client = redis_service.client(DB, socket_timeout=120)
    if client.dbsize():
        raise SystemExit('db %d is not empty; it is the benchmark\'s own database' % DB)
    original = client.config_get('maxmemory')['maxmemory']
    try:
        client.config_set('maxmemory', 0)
        fill(client, 'bench_flush:keep:', TOTAL - MATCHING)
        results = [('`redis_flush scope=pattern` %s' % (json.dumps(FLUSH_OPTIONS) if FLUSH_OPTIONS else '(defaults)'),
                    measure(redis_service, state, client, module_flush)),
                   (r'`redis-cli --scan --pattern P \| xargs redis-cli unlink`', measure(redis_service, state, client, redis_cli)),
                   ('`KEYS P` + `DEL` (redis-py)', measure(redis_service, state, client, keys_del))]
    finally:
        client.flushdb()
        client.config_set('maxmemory', original)
        client.close()
    flush, cli, blocking = (entry[1] for entry in results)
    throughput_ratio = flush['keys_per_second'] / cli['keys_per_second']
    markdown = '\n'.join([
        '### redis_flush: %d of %d keys, with a client sending PINGs' % (MATCHING, TOTAL),
        '',
        '| command | time | keys/s | PING p99 before | PING p99 during | PING max during |',
        '|---|---|---|---|---|---|',
    ] + ['| %s | %.1f s | %d | %.2f ms | %.2f ms | %.2f ms |' % (
        name, r['seconds'], r['keys_per_second'], r['baseline_p99_ms'], r['during_p99_ms'], r['during_max_ms']) for name, r in results] + [
        '',
        'Worst PING during redis_flush: %.2f ms (target at most 10 ms); during KEYS + DEL: %.0f ms. '
        'Throughput of redis_flush: %.0f%% of the redis-cli pipeline\'s (target at least 50%%).' % (
            flush['during_max_ms'], blocking['during_max_ms'], 100 * throughput_ratio),
    ])
    write_results('redis_flush', {'options': FLUSH_OPTIONS, 'flush': flush, 'redis_cli': cli, 'keys_del': blocking,
                                  'throughput_ratio': throughput_ratio,
                                  'worst_ping_ms': flush['during_max_ms']}, markdown)


if __name__ == '__main__':
    main()
