# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared contract of every oncall.runbooks module.

Diagnostic modules return ``status`` and ``findings``; fix modules build a
``Plan`` first, carry it out unless in check mode, and return ``actions`` and a
one-line ``summary``. Durations, caps and the translation of driver errors into
one-line failures live here so that every module behaves the same way.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from datetime import datetime, timezone

STATUSES = ('ok', 'warn', 'critical')

_DURATION_UNITS = {
    'ms': 0.001,
    's': 1,
    'm': 60,
    'h': 3600,
    'd': 86400,
    'w': 604800,
}
_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h|d|w)')
_DURATION_EXAMPLES = 'use a number and a unit (ms, s, m, h, d, w), e.g. 30s, 10m, 1h30m, 90d'


class RunbookError(Exception):
    """A failure whose message is already one clear line for the user."""


def parse_duration(value, option='duration'):
    """Return ``value`` ("30s", "10m", "1h30m", "90d", or a number of seconds) in seconds.

    Raises RunbookError naming ``option`` for anything else, including negative
    values, because a runbook that silently reads "10 minutes" as nothing is worse
    than one that refuses it.
    """
    if isinstance(value, bool) or value is None:
        raise RunbookError('%s: %r is not a duration; %s' % (option, value, _DURATION_EXAMPLES))
    if isinstance(value, (int, float)):
        if value < 0:
            raise RunbookError('%s: %s is negative; a duration must be zero or more' % (option, value))
        return float(value)
    text = str(value).strip().lower()
    if text.startswith('-'):
        raise RunbookError('%s: %r is negative; a duration must be zero or more' % (option, str(value)))
    if re.fullmatch(r'\d+(?:\.\d+)?', text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not text or ''.join(number + unit for number, unit in parts) != text:
        raise RunbookError('%s: %r is not a duration; %s' % (option, str(value), _DURATION_EXAMPLES))
    return float(sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts))


def format_duration(seconds):
    """Render seconds the way an on-call engineer reads them: 45s, 37m, 1h, 2h05m, 3d4h, 90d."""
    seconds = int(round(max(seconds or 0, 0)))
    if seconds < 60:
        return '%ds' % seconds
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return '%dm' % minutes if not seconds or minutes >= 10 else '%dm%02ds' % (minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return '%dh%02dm' % (hours, minutes) if minutes else '%dh' % hours
    days, hours = divmod(hours, 24)
    return '%dd%dh' % (days, hours) if hours else '%dd' % days


def format_bytes(value):
    """Sizes the way ``df -h``, pg_size_pretty and redis-cli show them: 512 B, 8.0 kB, 1.2 GB."""
    value = float(value or 0)
    for unit in ('B', 'kB', 'MB', 'GB'):
        if abs(value) < 1024:
            return '%d %s' % (value, unit) if unit == 'B' else '%.1f %s' % (value, unit)
        value /= 1024.0
    return '%.1f TB' % value


_TIMESTAMP = re.compile(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$')


def parse_timestamp(value):
    """Seconds since the epoch of an RFC 3339 time as the Docker and Kubernetes APIs write it.

    Docker writes nanoseconds (``2026-11-22T03:04:05.123456789Z``), which ``fromisoformat``
    refuses before Python 3.11; a never-set time is Go's zero time (``0001-01-01T00:00:00Z``).
    Returns None for an empty, zero or unreadable value.
    """
    match = _TIMESTAMP.match(str(value or '').strip())
    if not match or match.group(1).startswith('0001-'):
        return None
    whole, fraction, zone = match.groups()
    stamp = datetime.strptime(whole, '%Y-%m-%dT%H:%M:%S').replace(tzinfo=timezone.utc).timestamp()
    if zone and zone != 'Z':
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        stamp -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return stamp + (float('0.' + fraction) if fraction else 0.0)


def seconds_since(value, now=None):
    """How long ago an API timestamp was, in seconds (None when the time is not set)."""
    stamp = parse_timestamp(value)
    if stamp is None:
        return None
    return max((time.time() if now is None else now) - stamp, 0.0)


def check_cap(value, option):
    """Validate a ``max_*`` cap: a whole number of at least one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RunbookError('%s must be a whole number of at least 1, got %r' % (option, value))
    return value


def check_ratio(value, option):
    """Validate a percentage threshold (0-100)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise RunbookError('%s must be a percentage between 0 and 100, got %r' % (option, value))
    return value


def check_thresholds(warn, critical, warn_option, critical_option):
    """A warn threshold above its critical threshold is a typo, not a policy."""
    if warn > critical:
        raise RunbookError('%s (%s) must not be greater than %s (%s)' % (warn_option, warn, critical_option, critical))


# --- diagnostics -----------------------------------------------------------------

def finding(check, status, message, value=None, threshold=None):
    """One finding: what was checked, how bad it is, and the line a human reads."""
    if status not in STATUSES:
        raise ValueError('unknown status %r' % status)
    item = {'check': check, 'status': status, 'message': message}
    if value is not None:
        item['value'] = value
    if threshold is not None:
        item['threshold'] = threshold
    return item


def graded_finding(check, value, warn, critical, message):
    """A finding whose status comes from comparing ``value`` with warn/critical thresholds.

    ``message`` may use ``{value}`` and ``{threshold}``; the threshold shown is the
    one that was crossed (critical, then warn), or the warn threshold when all is well.
    """
    if critical is not None and value >= critical:
        status, threshold = 'critical', critical
    elif warn is not None and value >= warn:
        status, threshold = 'warn', warn
    else:
        status, threshold = 'ok', warn
    return finding(check, status, message.format(value=value, threshold=threshold), value, threshold)


def worst_status(findings):
    """The worst status among findings; ``ok`` when there are none."""
    rank = max([STATUSES.index(item['status']) for item in findings] or [0])
    return STATUSES[rank]


def diagnostic_result(findings, **data):
    """The result of a diagnostic module: never changed, worst finding first in ``status``."""
    ordered = sorted(findings, key=lambda item: -STATUSES.index(item['status']))
    result = dict(data)
    result.update(changed=False, status=worst_status(findings), findings=ordered)
    return result


# --- fixes -----------------------------------------------------------------------

class Plan(object):
    """What a fix module will do, target by target, decided before anything is touched.

    Candidates are added in priority order (the first are acted on first); ``cap``
    keeps at most ``limit`` of them and remembers how many were left out, so that the
    summary can say so. ``carry_out`` acts on each planned target unless in check mode,
    where every action is reported with ``done: false``: the dry run is the real plan.
    """

    def __init__(self, limit=None):
        self.actions = []
        self.limit = limit
        self.left_out = 0

    def __len__(self):
        return len(self.actions)

    def __bool__(self):
        return bool(self.actions)

    def add(self, target, action, reason, **details):
        entry = {'target': target, 'action': action, 'reason': reason, 'done': False}
        entry.update(details)
        self.actions.append(entry)
        return entry

    @property
    def candidates(self):
        return len(self.actions) + self.left_out

    def cap(self):
        """Keep the first ``limit`` actions; count the rest as left out."""
        if self.limit is not None and len(self.actions) > self.limit:
            self.left_out += len(self.actions) - self.limit
            del self.actions[self.limit:]
        return self

    def carry_out(self, execute, check_mode):
        """Call ``execute(action)`` for each action unless ``check_mode``.

        ``execute`` returns True when it changed something and False when the target
        needed nothing after all (it vanished meanwhile). An exception from one target
        is recorded on that action and does not stop the others.
        """
        if check_mode:
            return self
        for entry in self.actions:
            try:
                entry['done'] = bool(execute(entry))
            except Exception as exc:  # pylint: disable=broad-except
                entry['done'] = False
                entry['error'] = one_line(exc)
        return self

    def settle(self, done_keys, key, note, check_mode):
        """Record the outcome of one statement that acted on every target at once.

        The actions whose ``key`` is in ``done_keys`` are done; the others get ``note``
        (they no longer qualified when the statement ran). Nothing happens in check mode.
        """
        def outcome(entry):
            if entry[key] in done_keys:
                return True
            entry['note'] = note
            return False
        return self.carry_out(outcome, check_mode)

    @property
    def done(self):
        return [entry for entry in self.actions if entry['done']]

    @property
    def failed(self):
        return [entry for entry in self.actions if entry.get('error')]

    def changed(self, check_mode):
        """In check mode: whether there is anything to do; otherwise whether anything was done."""
        return bool(self.actions) if check_mode else bool(self.done)

    def result(self, summary, check_mode, **data):
        """The result of a fix module, in the shape every fix module returns."""
        result = dict(data)
        result.update(
            changed=self.changed(check_mode),
            actions=self.actions,
            summary=summary,
            candidates=self.candidates,
            left_out=self.left_out,
        )
        return result


def plan_summary(plan, verbs, noun, check_mode, cap_option=None):
    """One line for humans and the timeline, e.g. "terminated 37 of 41 idle sessions (max_sessions 37 left 4 out)".

    ``verbs`` is the pair (infinitive, past), e.g. ('terminate', 'terminated'): check
    mode reads "would terminate". The cap is mentioned only when it left targets out,
    because that is the one thing the reader must not miss.
    """
    count = len(plan) if check_mode else len(plan.done)
    text = '%s %d of %d %s' % ('would ' + verbs[0] if check_mode else verbs[1], count, plan.candidates, noun)
    if plan.left_out:
        text += ' (%s %d left %d out)' % (cap_option or 'cap', plan.limit, plan.left_out)
    if plan.failed:
        text += '; %d failed: %s' % (len(plan.failed), plan.failed[0]['error'])
    return text


# --- failures --------------------------------------------------------------------

def one_line(exc):
    """A driver or network exception as a single readable line (no traceback, no newlines)."""
    text = str(exc).strip() or exc.__class__.__name__
    lines = [re.sub(r'\s+', ' ', line).strip() for line in text.splitlines()]
    return '; '.join(line for line in lines if line)


@contextmanager
def failing_on_error(module, target):
    """Turn any exception raised inside the block into one ``fail_json`` line naming ``target``.

    ``exit_json``/``fail_json`` raise SystemExit, which is not an Exception and
    passes through untouched.
    """
    try:
        yield
    except RunbookError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='%s: %s' % (target, one_line(exc)))
