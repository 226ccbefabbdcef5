"""What every benchmark shares: the lab, timing, and writing results beside the code.

Benchmarks run side by side with the raw commands of the seeds, in the same run and
against the same lab, and write bench/results/<name>.json and .md (quoted in the README).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import control  # noqa: E402
from lab.core import Lab  # noqa: E402
from lab.services import PostgreSQL  # noqa: E402

RESULTS = REPO / 'bench' / 'results'
BIN = Path(sys.executable).parent


def lab_up():
    lab = Lab()
    if not control.status(lab)['up']:
        control.up(lab)
        lab = Lab()
    return lab


def more_file_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def run_module(name, args):
    """Run a module the way Ansible's local connection ends up running it, minus the controller:
    one Python process reading its arguments from a file. Returns (seconds, result)."""
    args_file = RESULTS / ('.%s-args.json' % name)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=str(REPO / '.build' / 'collections'))
    started = time.perf_counter()
    process = subprocess.run([sys.executable, str(REPO / 'plugins' / 'modules' / ('%s.py' % name)), str(args_file)],
                             capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    args_file.unlink()
    result = json.loads(process.stdout)
    if result.get('failed'):
        raise RuntimeError('%s failed: %s' % (name, result.get('msg')))
    return seconds, result


def median(values):
    return statistics.median(values)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def write_results(name, data, markdown):
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = dict(data, recorded=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), python=sys.version.split()[0],
                cpus=os.cpu_count())
    (RESULTS / ('%s.json' % name)).write_text(json.dumps(data, indent=2) + '\n')
    (RESULTS / ('%s.md' % name)).write_text(markdown.rstrip() + '\n')
    print(markdown)


__all__ = ['PostgreSQL', 'lab_up', 'more_file_descriptors', 'timed', 'run_module', 'median', 'percentile', 'write_results', 'BIN']
