# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident record and where it is kept.

An incident is a plain JSON-able dict (see ``new_record``). It lives in a store: a
directory with one JSON file per incident (the default, nothing to set up), or a
PostgreSQL table when ``store_dsn`` is set (shared by several runners, e.g. AWX).
Both stores make ``declare`` idempotent under concurrency: two runbooks that declare
the same incident at the same moment get one record.

Times are ISO 8601 UTC strings ending in Z. The severity policy is data (the
``incident`` role's defaults); the helpers here only read it.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import re
import tempfile
import traceback
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, format_duration, parse_duration

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG2_IMPORT_ERROR = None

DEFAULT_STORE_PATH = '~/.local/share/oncall.runbooks/incidents'
STATUSES = ('investigating', 'identified', 'mitigating', 'monitoring', 'resolved')
TIMELINE_KINDS = ('task', 'note', 'status', 'notification', 'escalation', 'evidence', 'fix')
CONDITIONS = ('no_response', 'unresolved', 'customer_impacting', 'no_progress')
SEVERITIES = ('SEV1', 'SEV2', 'SEV3', 'SEV4')
# The P scale of the second seed has three levels; SEV4 has no P of its own and reads as P3.
PRIORITY_OF_SEVERITY = {'SEV1': 'P1', 'SEV2': 'P2', 'SEV3': 'P3', 'SEV4': 'P3'}
SEVERITY_OF_PRIORITY = {'P1': 'SEV1', 'P2': 'SEV2', 'P3': 'SEV3'}
LIST_FIELDS = ('services', 'timeline', 'evidence', 'notifications', 'escalations', 'fixes')
ID_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
APPLICATION_NAME = 'oncall.runbooks/incident-store'


# --- times -----------------------------------------------------------------------

def now_iso(now=None):
    """The current (or given) UTC time as ISO 8601 with a Z, to the second."""
    moment = now if now is not None else datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_iso(value, option='time'):
    """An ISO 8601 time (``2026-11-23T03:00:00Z``, offsets allowed; naive means UTC) as an aware datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value or '').strip()
        if text.endswith(('Z', 'z')):
            text = text[:-1] + '+00:00'
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise RunbookError('%s: %r is not an ISO 8601 time, e.g. 2026-11-23T03:00:00Z' % (option, value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def shift_iso(value, seconds):
    """``value`` (ISO 8601) plus ``seconds``, as ISO 8601."""
    return now_iso(parse_iso(value) + timedelta(seconds=seconds))


# --- severities and the policy ------------------------------------------------------

def normalize_severity(value, option='severity'):
    """SEV1..SEV4 from SEV1, sev1, 1, P1, p1 ... (P1->SEV1, P2->SEV2, P3->SEV3)."""
    text = str(value if value is not None else '').strip().upper().replace(' ', '').replace('-', '')
    if isinstance(value, bool):
        text = ''
    if text in ('1', '2', '3', '4'):
        text = 'SEV' + text
    if text in SEVERITY_OF_PRIORITY:
        text = SEVERITY_OF_PRIORITY[text]
    if text not in SEVERITIES:
        raise RunbookError('%s: %r is not a severity; use SEV1..SEV4 or P1..P3' % (option, value))
    return text


def normalize_priority(value, severity=None):
    """P1..P3: ``value`` when it is on the P scale, otherwise derived from the severity."""
    text = str(value or '').strip().upper()
    if text in SEVERITY_OF_PRIORITY:
        return text
    return PRIORITY_OF_SEVERITY.get(normalize_severity(severity if severity is not None else value))


def normalize_status(value, option='status'):
    text = str(value or '').strip().lower()
    if text not in STATUSES:
        raise RunbookError('%s: %r is not a status; use one of %s' % (option, value, ', '.join(STATUSES)))
    return text


def severity_policy(policy, severity):
    """The policy entry of one severity ({} when there is no policy or no entry)."""
    return dict(((policy or {}).get('severities') or {}).get(severity) or {})


def policy_duration(entry, key, option):
    """A duration of the policy in seconds, or None when the policy does not set it."""
    value = entry.get(key)
    if value is None or value == '':
        return None
    return parse_duration(value, option)


def check_policy(policy, option='policy'):
    """Refuse a policy whose durations, conditions or severities do not read, before anything is touched."""
    if not policy:
        return policy
    if not isinstance(policy, dict) or not isinstance(policy.get('severities', {}), dict):
        raise RunbookError('%s: must be a dict with a severities dict (the incident role\'s incident_policy)' % option)
    for name, entry in (policy.get('severities') or {}).items():
        where = '%s.severities.%s' % (option, name)
        normalize_severity(name, where)
        for key in ('response_time', 'resolution_target', 'update_every', 'post_mortem_within'):
            policy_duration(entry or {}, key, '%s.%s' % (where, key))
        for index, step in enumerate((entry or {}).get('escalation') or []):
            parse_duration(step.get('after', 0), '%s.escalation[%d].after' % (where, index))
            if step.get('condition', 'unresolved') not in CONDITIONS:
                raise RunbookError('%s.escalation[%d].condition: %r is not one of %s'
                                   % (where, index, step.get('condition'), ', '.join(CONDITIONS)))
    breaker = policy.get('circuit_breaker') or {}
    if breaker.get('window') is not None:
        parse_duration(breaker['window'], '%s.circuit_breaker.window' % option)
    return policy


def _condition_holds(condition, record):
    if record.get('status') == 'resolved':
        return False
    if condition == 'no_response':
        return not record.get('acknowledged_at')
    if condition == 'customer_impacting':
        return bool(record.get('customer_impacting'))
    if condition == 'no_progress':
        # Progress is a status beyond "investigating" or a fix carried out.
        return record.get('status', 'investigating') == 'investigating' and not any(fix.get('allowed') for fix in record.get('fixes') or [])
    return True


def step_name(step, index):
    return str(step.get('step') if step.get('step') is not None else index + 1)


def escalation_due(record, policy, now=None):
    """The escalation steps of the record's severity that are due now and not yet recorded.

    A step is due when ``after`` has passed since ``started_at`` and its condition holds
    (no_response: not acknowledged; unresolved; customer_impacting; no_progress: still
    investigating with no fix). Each returned step carries ``due_at``.
    """
    now = parse_iso(now) if now is not None else datetime.now(timezone.utc)
    entry = severity_policy(policy, record.get('severity'))
    started = parse_iso(record.get('started_at') or now_iso(now), 'started_at')
    recorded = set(str(item.get('step')) for item in record.get('escalations') or [])
    due = []
    for index, step in enumerate(entry.get('escalation') or []):
        name = step_name(step, index)
        after = parse_duration(step.get('after', 0), 'escalation step %s after' % name)
        due_at = started + timedelta(seconds=after)
        if name in recorded or now < due_at or not _condition_holds(step.get('condition', 'unresolved'), record):
            continue
        item = dict(step)
        item.update(step=name, due_at=now_iso(due_at), contacts=list(step.get('contacts') or []))
        due.append(item)
    return due


def response_deadline(record, policy):
    entry = severity_policy(policy, record.get('severity'))
    seconds = policy_duration(entry, 'response_time', 'policy response_time')
    return shift_iso(record['started_at'], seconds) if seconds is not None and record.get('started_at') else None


def next_update_at(record, policy):
    """When stakeholders expect the next update: the last update sent (or the start) plus ``update_every``."""
    if record.get('status') == 'resolved' or not record.get('started_at'):
        return None
    seconds = policy_duration(severity_policy(policy, record.get('severity')), 'update_every', 'policy update_every')
    if seconds is None:
        return None
    sent = [item['time'] for item in record.get('notifications') or [] if item.get('ok') and item.get('time')]
    last = max([parse_iso(item) for item in sent] + [parse_iso(record['started_at'])])
    return shift_iso(now_iso(last), seconds)


# --- records ---------------------------------------------------------------------

def new_record(fields, now=None):
    """A complete record from ``fields``: every key present, lists empty, times set."""
    stamp = now_iso(now)
    record = dict(
        id=None, dedup_key=None, title='', severity='SEV3', priority=None, status='investigating', impact='',
        customer_impacting=False, lead=None, services=[], started_at=stamp, acknowledged_at=None, resolved_at=None,
        root_cause=None, resolution=None, timeline=[], evidence=[], notifications=[], escalations=[], fixes=[],
        updated_at=stamp,
    )
    record.update(dict((key, value) for key, value in (fields or {}).items() if value is not None))
    record['severity'] = normalize_severity(record['severity'])
    record['priority'] = normalize_priority(record.get('priority'), record['severity'])
    record['status'] = normalize_status(record['status'])
    for key in LIST_FIELDS:
        record[key] = list(record.get(key) or [])
    record['started_at'] = now_iso(parse_iso(record['started_at'], 'started_at'))
    if record['status'] == 'resolved' and not record.get('resolved_at'):
        record['resolved_at'] = stamp
    return record


def check_id(incident_id, option='id'):
    if not ID_PATTERN.match(str(incident_id or '')):
        raise RunbookError('%s: %r is not an incident id (letters, digits, ".", "_" and "-", at most 64)' % (option, incident_id))
    return str(incident_id)


def id_prefix(now=None):
    return 'INC-%s-' % (now or datetime.now(timezone.utc)).strftime('%Y%m%d')


def next_id(existing_ids, now=None):
    """INC-YYYYMMDD-NNNN: one more than the highest number of the day among ``existing_ids``."""
    prefix = id_prefix(now)
    numbers = [int(name[len(prefix):]) for name in existing_ids if name.startswith(prefix) and name[len(prefix):].isdigit()]
    return '%s%04d' % (prefix, max(numbers or [0]) + 1)


def is_open(record):
    return record.get('status') != 'resolved'


def newest_first(records):
    return sorted(records, key=lambda record: (record.get('started_at') or '', record.get('id') or ''), reverse=True)


def timeline_entry(kind, summary, time=None, **details):
    if kind not in TIMELINE_KINDS:
        raise ValueError('unknown timeline kind %r' % kind)
    entry = dict(time=time or now_iso(), kind=kind, summary=summary)
    entry.update(details)
    return entry


# --- the fix circuit breaker --------------------------------------------------------

def breaker_decision(attempts, max_fixes, window_seconds, fix, target, now=None):
    """Whether one more ``fix`` of ``target`` is allowed, given the earlier attempts (any incident).

    Only allowed attempts count: a refused one did nothing to the target.
    Returns (allowed, reason, count) where count is the allowed attempts within the window.
    """
    now = parse_iso(now) if now is not None else datetime.now(timezone.utc)
    since = now - timedelta(seconds=window_seconds)
    same = [item for item in attempts if item.get('fix') == fix and item.get('target') == target and item.get('allowed')]
    recent = [item for item in same if parse_iso(item['time']) > since]
    window = format_duration(window_seconds)
    if len(recent) >= max_fixes:
        times = '%d time%s' % (len(recent), '' if len(recent) == 1 else 's')
        return False, ('circuit breaker open: %s of %s already ran %s in the last %s (max_fixes %d); a human must decide'
                       % (fix, target, times, window, max_fixes)), len(recent)
    return True, '%s of %s allowed: attempt %d of %d in %s' % (fix, target, len(recent) + 1, max_fixes, window), len(recent)


# --- stores --------------------------------------------------------------------------

def store_argument_spec():
    """Where incidents are kept; shared by every incident module."""
    return dict(
        store_path=dict(type='path', fallback=(env_fallback, ['ONCALL_INCIDENT_STORE'])),
        store_dsn=dict(type='str', no_log=True, fallback=(env_fallback, ['ONCALL_INCIDENT_DSN'])),
    )


class Store(object):
    """What every store offers; see the module docstring."""

    target = 'incident store'

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def find_open(self, dedup_key):
        """The open incident with ``dedup_key`` (newest), or None."""
        for record in self.open_incidents():
            if dedup_key and record.get('dedup_key') == dedup_key:
                return record
        return None

    def find(self, incident_id=None, dedup_key=None):
        if incident_id:
            return self.get(incident_id)
        if dedup_key:
            return self.find_open(dedup_key)
        return None


class DirectoryStore(Store):
    """One JSON file per incident in a directory, written atomically (temp file + rename).

    Every read-modify-write holds an exclusive ``fcntl`` lock on ``.lock`` in the directory,
    so concurrent runbooks on one machine (or on a shared filesystem with working locks)
    never lose an update. Fix attempts of the circuit breaker live in ``fixes.json``.
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.path.expanduser(path or DEFAULT_STORE_PATH))
        self.target = 'incident store %s' % self.path
        if fcntl is None:
            raise RunbookError('%s: file locks (fcntl) are not available on this system' % self.target)

    def _ensure(self):
        try:
            os.makedirs(self.path, mode=0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST or not os.path.isdir(self.path):
                raise RunbookError('%s: cannot create the directory: %s' % (self.target, exc.strerror or exc))

    @contextmanager
    def locked(self):
        self._ensure()
        handle = open(os.path.join(self.path, '.lock'), 'a')
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def _file(self, incident_id):
        return os.path.join(self.path, '%s.json' % check_id(incident_id))

    def _read(self, name):
        try:
            with open(os.path.join(self.path, name)) as handle:
                return json.load(handle)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        except ValueError as exc:
            raise RunbookError('%s: %s is not valid JSON: %s' % (self.target, name, exc))

    def _write(self, name, data):
        handle, temporary = tempfile.mkstemp(prefix='.%s.' % name, dir=self.path)
        try:
            with os.fdopen(handle, 'w') as stream:
                json.dump(data, stream, indent=1, sort_keys=True, default=str)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, os.path.join(self.path, name))
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def _names(self):
        if not os.path.isdir(self.path):
            return []
        return sorted(name[:-5] for name in os.listdir(self.path) if name.endswith('.json') and not name.startswith('.') and name != 'fixes.json')

    def get(self, incident_id):
        check_id(incident_id)
        if not os.path.isdir(self.path):
            return None
        return self._read('%s.json' % incident_id)

    def _all(self):
        return [record for record in (self._read('%s.json' % name) for name in self._names()) if record]

    def open_incidents(self):
        return newest_first([record for record in self._all() if is_open(record)])

    def declare(self, record):
        with self.locked():
            # Same rule as the PostgreSQL store's constraints: the id, then one open incident per dedup_key.
            existing = (self.get(record['id']) if record.get('id') else None) or self.find_open(record.get('dedup_key'))
            if existing:
                return existing, False
            record = new_record(record)
            if not record.get('id'):
                record['id'] = next_id(self._names())
            self._write('%s.json' % check_id(record['id']), record)
            return record, True

    def update(self, incident_id, mutate):
        with self.locked():
            record = self.get(incident_id)
            if record is None:
                raise RunbookError('%s: no incident %s' % (self.target, incident_id))
            if mutate(record) is False:
                return record
            record['updated_at'] = now_iso()
            self._write('%s.json' % check_id(incident_id), record)
            return record

    def append_timeline(self, incident_id, entries):
        def add(record):
            record.setdefault('timeline', []).extend(entries)
        self.update(incident_id, add)

    def fix_attempt(self, attempt, max_fixes, window_seconds, dry_run=False):
        """Decide and (unless ``dry_run``) record one fix attempt; see ``breaker_decision``."""
        if dry_run:
            # Check mode: read without the lock, so that not even the directory is created.
            attempts = (self._read('fixes.json') if os.path.isdir(self.path) else None) or []
            return breaker_decision(attempts, max_fixes, window_seconds, attempt['fix'], attempt['target'], attempt['time'])
        with self.locked():
            attempts = self._read('fixes.json') or []
            allowed, reason, count = breaker_decision(attempts, max_fixes, window_seconds, attempt['fix'], attempt['target'], attempt['time'])
            entry = dict(attempt, allowed=allowed, reason=reason)
            # Keep the file small: entries older than the window (and a week) can no longer count.
            horizon = parse_iso(attempt['time']) - timedelta(seconds=max(window_seconds, 7 * 86400))
            self._write('fixes.json', [item for item in attempts if parse_iso(item['time']) > horizon] + [entry])
            return allowed, reason, count


class PostgresStore(Store):
    """Incidents as jsonb rows of ``oncall_incidents``, created if missing.

    ``id`` is the primary key and a partial unique index on ``dedup_key`` over the open
    incidents makes a concurrent second declaration a no-op (INSERT ... ON CONFLICT DO
    NOTHING); updates take the row with SELECT ... FOR UPDATE in one transaction.
    """

    SCHEMA = """
CREATE TABLE IF NOT EXISTS oncall_incidents (
    id text PRIMARY KEY,
    dedup_key text,
    resolved boolean NOT NULL DEFAULT false,
    started_at timestamptz,
    record jsonb NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS oncall_incidents_open_dedup_key ON oncall_incidents (dedup_key)
    WHERE NOT resolved AND dedup_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS oncall_incident_fixes (
    fix text NOT NULL,
    target text NOT NULL,
    at timestamptz NOT NULL,
    allowed boolean NOT NULL,
    attempt jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS oncall_incident_fixes_recent ON oncall_incident_fixes (fix, target, at);
"""
    # Advisory lock keys (any constants unique to this store): schema creation, id generation, fix attempts.
    LOCK_SCHEMA, LOCK_IDS, LOCK_FIXES = 7203901, 7203902, 7203903

    def __init__(self, dsn, connect_timeout=5):
        if psycopg2 is None:
            raise RunbookError(missing_required_lib('psycopg2 (pip install psycopg2-binary)') + ' for store_dsn')
        try:
            parts = psycopg2.extensions.parse_dsn(dsn)
        except psycopg2.ProgrammingError:
            # Never echo the DSN: it may hold a password.
            raise RunbookError('store_dsn: not a valid libpq connection string or URL')
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        where = (parts.get('host') or 'local socket', parts.get('port') or 5432, parts.get('dbname') or parts.get('user') or '')
        self.target = 'incident store PostgreSQL at %s:%s/%s' % where
        self._connection = None
        self._schema_ready = False

    @property
    def connection(self):
        if self._connection is None:
            self._connection = psycopg2.connect(self.dsn, connect_timeout=max(self.connect_timeout, 2), application_name=APPLICATION_NAME)
        return self._connection

    def _ensure_schema(self):
        """Create the tables on the first write, so that reads (and check mode) never change the database."""
        if not self._schema_ready:
            with self.connection:
                with self.connection.cursor() as cursor:
                    # Concurrent CREATE ... IF NOT EXISTS can still collide; one at a time.
                    cursor.execute('SELECT pg_advisory_xact_lock(%s)', (self.LOCK_SCHEMA,))
                    cursor.execute(self.SCHEMA)
            self._schema_ready = True

    def _has_schema(self):
        if not self._schema_ready:
            with self.connection:
                with self.connection.cursor() as cursor:
                    cursor.execute("SELECT to_regclass('oncall_incidents') IS NOT NULL AND to_regclass('oncall_incident_fixes') IS NOT NULL")
                    self._schema_ready = cursor.fetchone()[0]
        return self._schema_ready

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def cursor(self):
        """One transaction: committed when the block ends, rolled back on an exception."""
        with self.connection:
            with self.connection.cursor() as cursor:
                yield cursor

    def get(self, incident_id):
        check_id(incident_id)
        if not self._has_schema():
            return None
        with self.cursor() as cursor:
            cursor.execute('SELECT record FROM oncall_incidents WHERE id = %s', (check_id(incident_id),))
            row = cursor.fetchone()
        return row[0] if row else None

    def open_incidents(self):
        if not self._has_schema():
            return []
        with self.cursor() as cursor:
            cursor.execute('SELECT record FROM oncall_incidents WHERE NOT resolved ORDER BY started_at DESC, id DESC')
            return [row[0] for row in cursor.fetchall()]

    def _existing(self, cursor, record):
        if record.get('id'):
            cursor.execute('SELECT record FROM oncall_incidents WHERE id = %s', (check_id(record['id']),))
        else:
            cursor.execute('SELECT record FROM oncall_incidents WHERE dedup_key = %s AND NOT resolved', (record.get('dedup_key'),))
        row = cursor.fetchone()
        return row[0] if row else None

    def declare(self, record):
        record = new_record(record)
        self._ensure_schema()
        with self.cursor() as cursor:
            if not record.get('id'):
                # Serialise id generation: two declarations of one day must not pick the same number.
                cursor.execute('SELECT pg_advisory_xact_lock(%s)', (self.LOCK_IDS,))
                if record.get('dedup_key'):
                    existing = self._existing(cursor, record)
                    if existing:
                        return existing, False
                cursor.execute('SELECT id FROM oncall_incidents WHERE id LIKE %s', (id_prefix() + '%',))
                record['id'] = next_id([row[0] for row in cursor.fetchall()])
            cursor.execute("""INSERT INTO oncall_incidents (id, dedup_key, resolved, started_at, record)
                              VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING record""",
                           (check_id(record['id']), record.get('dedup_key'), not is_open(record), record['started_at'],
                            _jsonb(record)))
            row = cursor.fetchone()
            if row:
                return row[0], True
            existing = self._existing(cursor, record)
            if existing is None and record.get('dedup_key'):
                existing = self._existing(cursor, dict(record, id=None))
        if existing is None:
            raise RunbookError('%s: incident %s conflicts with an open incident of another id' % (self.target, record['id']))
        return existing, False

    def update(self, incident_id, mutate):
        self._ensure_schema()
        with self.cursor() as cursor:
            cursor.execute('SELECT record FROM oncall_incidents WHERE id = %s FOR UPDATE', (check_id(incident_id),))
            row = cursor.fetchone()
            if row is None:
                raise RunbookError('%s: no incident %s' % (self.target, incident_id))
            record = row[0]
            if mutate(record) is False:
                return record
            record['updated_at'] = now_iso()
            cursor.execute('UPDATE oncall_incidents SET record = %s, resolved = %s, dedup_key = %s WHERE id = %s',
                           (_jsonb(record), not is_open(record), record.get('dedup_key'), incident_id))
            return record

    def append_timeline(self, incident_id, entries):
        # One statement, no read: the callback calls this for every task.
        self._ensure_schema()
        with self.cursor() as cursor:
            cursor.execute("""UPDATE oncall_incidents
                              SET record = jsonb_set(jsonb_set(record, '{timeline}', coalesce(record->'timeline', '[]'::jsonb) || %s::jsonb),
                                                     '{updated_at}', to_jsonb(%s::text))
                              WHERE id = %s""", (json.dumps(list(entries), default=str), now_iso(), check_id(incident_id)))
            if cursor.rowcount == 0:
                raise RunbookError('%s: no incident %s' % (self.target, incident_id))

    def fix_attempt(self, attempt, max_fixes, window_seconds, dry_run=False):
        if dry_run and not self._has_schema():
            return breaker_decision([], max_fixes, window_seconds, attempt['fix'], attempt['target'], attempt['time'])
        self._ensure_schema()
        with self.cursor() as cursor:
            cursor.execute('SELECT pg_advisory_xact_lock(%s)', (self.LOCK_FIXES,))
            cursor.execute("""SELECT attempt FROM oncall_incident_fixes
                              WHERE fix = %s AND target = %s AND allowed AND at > %s::timestamptz - make_interval(secs => %s)""",
                           (attempt['fix'], attempt['target'], attempt['time'], window_seconds))
            attempts = [row[0] for row in cursor.fetchall()]
            allowed, reason, count = breaker_decision(attempts, max_fixes, window_seconds, attempt['fix'], attempt['target'], attempt['time'])
            if not dry_run:
                entry = dict(attempt, allowed=allowed, reason=reason)
                cursor.execute('INSERT INTO oncall_incident_fixes (fix, target, at, allowed, attempt) VALUES (%s, %s, %s, %s, %s)',
                               (attempt['fix'], attempt['target'], attempt['time'], allowed, _jsonb(entry)))
            return allowed, reason, count


def _jsonb(value):
    # Evidence may hold values json cannot encode (dates from a driver): store them as text, as the directory store does.
    return psycopg2.extras.Json(value, dumps=lambda data: json.dumps(data, default=str))


def open_store_from(store_path=None, store_dsn=None, connect_timeout=5):
    """A store from plain values (for plugins that are not modules): PostgreSQL when ``store_dsn`` is set."""
    store_path = store_path or os.environ.get('ONCALL_INCIDENT_STORE')
    store_dsn = store_dsn or os.environ.get('ONCALL_INCIDENT_DSN')
    if store_dsn:
        return PostgresStore(store_dsn, connect_timeout=connect_timeout)
    return DirectoryStore(store_path or DEFAULT_STORE_PATH)


def open_store(module):
    """The store named by the module's ``store_path``/``store_dsn`` options; fails one line if psycopg2 is missing."""
    if module.params.get('store_dsn') and psycopg2 is None:
        module.fail_json(msg=missing_required_lib('psycopg2 (pip install psycopg2-binary)') + ' for store_dsn', exception=PSYCOPG2_IMPORT_ERROR)
    try:
        return open_store_from(module.params.get('store_path'), module.params.get('store_dsn'))
    except RunbookError as exc:
        module.fail_json(msg=str(exc))


def copy_record(record):
    return copy.deepcopy(record)
