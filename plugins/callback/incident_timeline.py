# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: incident_timeline
type: notification
short_description: Record every task of a run in the open incident's timeline
version_added: 0.1.0
description:
  - Appends one timeline entry per task and host to an incident of the oncall.runbooks incident store
    (see M(oncall.runbooks.incident)), so that the post-incident report shows what was run, when, where and with what result.
  - "Each entry has: the time the result arrived (ISO 8601 UTC), C(kind: task), the host, the task name, the module,
    C(changed), C(failed), C(skipped), the status (ok, changed, failed, skipped or unreachable), the duration in seconds,
    whether the task ran in check mode, and a one-line C(summary): the module's own C(summary) line when it returns one,
    the message of a failure, or nothing."
  - Results marked C(no_log) are recorded as C(censored); nothing from them reaches the store.
  - The incident is the one named by O(incident_id), or else the newest open incident of the store, or else the one
    that a task of the run declares or joins with M(oncall.runbooks.incident) (its store path taken from that task).
    The tasks before that one, a runbook's diagnosis, are held (at most 2000 entries) and written once it is known.
    When the run never names an incident, the callback records nothing (it says so at C(-v)).
  - The store is first read when the first task has finished, so a run whose first task declares the incident is recorded from that task on.
  - Entries are written in one batch per task (when the next task starts) and at the end of the run, not once per host.
    A store that cannot be written to becomes one warning; the run itself is never stopped or failed by this plugin.
requirements:
  - enabled in C(callbacks_enabled), e.g. C(callbacks_enabled = oncall.runbooks.incident_timeline) in C(ansible.cfg)
  - for the PostgreSQL store, the Python library C(psycopg2) on the controller
options:
  incident_id:
    description:
      - The incident whose timeline is written, e.g. C(INC-20261122-0001).
      - When not set, the newest open (not resolved) incident of the store is used.
    type: str
    env:
      - name: ONCALL_INCIDENT_ID
    ini:
      - section: incident_timeline
        key: incident_id
  store_path:
    description:
      - The directory store of incidents, the same as the C(store_path) option of the incident modules.
      - When not set, the store's default directory under the user's home is used.
    type: path
    env:
      - name: ONCALL_INCIDENT_STORE
    ini:
      - section: incident_timeline
        key: store_path
  store_dsn:
    description:
      - A libpq connection string or URL of the PostgreSQL store; when set, it is used instead of O(store_path).
      - It may hold a password; it is never shown.
    type: str
    env:
      - name: ONCALL_INCIDENT_DSN
    ini:
      - section: incident_timeline
        key: store_dsn
notes:
  - A play with the variable C(incident_timeline_record=false) in its C(vars) is not recorded; C(playbooks/escalate.yml),
    which runs every minute on a schedule, uses it so that it does not fill the newest incident's timeline.
  - Set the same O(store_path) or O(store_dsn) (the same environment variables) as the incident modules use,
    e.g. in the AWX job template's environment, so that both write to the same store.
seealso:
  - module: oncall.runbooks.incident
  - module: oncall.runbooks.incident_report
'''

import time
from datetime import datetime, timezone

from ansible import context
from ansible.plugins.callback import CallbackBase

try:
    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    HAS_STORE = True
except ImportError:
    HAS_STORE = False

# A summary is one line of a table row in the report, not a log.
MAX_SUMMARY = 300
# Entries held while no incident is known yet (a runbook's diagnosis comes before its declaration).
MAX_HELD_ENTRIES = 2000
INCIDENT_ACTIONS = ('oncall.runbooks.incident', 'incident')
CENSORED = 'censored'


def _utc_now():
    return datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _one_line(value):
    text = ' '.join(str(value).split())
    return text if len(text) <= MAX_SUMMARY else text[:MAX_SUMMARY - 3] + '...'


def _result_data(result):
    # ansible-core 2.19 names it `result`; earlier versions only have `_result`.
    data = getattr(result, '_result', None)
    return data if isinstance(data, dict) else {}


def _summary(data, status):
    """The line a human reads for this result: the module's summary, or the failure's message."""
    if data.get('summary'):
        return _one_line(data['summary'])
    if status in ('failed', 'unreachable') and data.get('msg'):
        return _one_line(data['msg'])
    if status == 'skipped' and data.get('skip_reason'):
        return _one_line(data['skip_reason'])
    return ''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'oncall.runbooks.incident_timeline'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._store = None
        self._incident_id = None
        self._disabled = False
        self._pending = []
        self._started = {}
        self._play_recorded = True
        # No incident known yet: entries are held until a task of the run declares or joins one.
        self._waiting = False
        self._learned = None

    # --- the store -------------------------------------------------------------------

    def _give_up(self, message):
        """Stop recording for the rest of the run, saying why once."""
        self._disabled = True
        self._pending = []
        self._display.warning('incident_timeline: %s; this run is not recorded in the incident timeline' % message)

    def _connect(self):
        """Find the store and the incident once per run; None when there is nothing to record into."""
        if self._disabled or self._store is not None:
            return self._store
        if not HAS_STORE:
            self._disabled = True
            self._display.warning('incident_timeline: the oncall.runbooks incident store (module_utils/incident.py) cannot be imported')
            return None
        incident_id = self.get_option('incident_id')
        store_path = self.get_option('store_path')
        if not incident_id and self._learned:
            incident_id, store_path = self._learned[0], self._learned[1] or store_path
        try:
            store = open_store_from(store_path=store_path, store_dsn=self.get_option('store_dsn'))
            if incident_id:
                if store.get(incident_id) is None:
                    self._give_up('incident %s is not in the store' % incident_id)
                    return None
            else:
                open_incidents = store.open_incidents()
                if not open_incidents:
                    store.close()
                    if not self._waiting:
                        self._display.v('incident_timeline: no open incident and ONCALL_INCIDENT_ID not set; nothing recorded'
                                        ' unless a task declares one')
                    self._waiting = True
                    return None
                incident_id = open_incidents[0]['id']
        except Exception as exc:  # pylint: disable=broad-except
            self._give_up('the incident store failed: %s' % _one_line(exc))
            return None
        self._store, self._incident_id = store, incident_id
        self._display.v('incident_timeline: recording this run in %s' % incident_id)
        return store

    def _flush(self):
        if not self._pending or self._disabled:
            return
        store = None if self._waiting and not self._learned else self._connect()
        if store is None:
            # Held until a task names the incident; the oldest go first past the limit.
            del self._pending[:-MAX_HELD_ENTRIES]
            return
        entries, self._pending = self._pending, []
        try:
            store.append_timeline(self._incident_id, entries)
        except Exception as exc:  # pylint: disable=broad-except
            self._give_up('writing %d entries to %s failed: %s' % (len(entries), self._incident_id, _one_line(exc)))

    # --- one entry per result --------------------------------------------------------

    @staticmethod
    def _check_mode(task, result):
        fields = getattr(result, '_task_fields', None) or {}
        for value in (fields.get('check_mode'), getattr(task, 'check_mode', None)):
            if isinstance(value, bool):
                return value
        return bool(context.CLIARGS.get('check', False))

    def _record(self, result, status):
        if self._disabled or not self._play_recorded:
            return
        task = result._task
        host = result._host.get_name()
        started = self._started.pop((host, task._uuid), None)
        data = _result_data(result)
        censored = bool(data.get('_ansible_no_log')) or 'censored' in data or task.no_log is True
        entry = {
            'time': _utc_now(),
            'kind': 'task',
            'host': host,
            'task': task.get_name(),
            'module': getattr(task, 'resolved_action', None) or task.action,
            'status': status,
            'changed': bool(data.get('changed')) and status != 'skipped',
            'failed': status in ('failed', 'unreachable'),
            'skipped': status == 'skipped',
            'check_mode': self._check_mode(task, result),
            'duration': None if started is None else round(time.monotonic() - started, 3),
            'summary': CENSORED if censored else _summary(data, status),
        }
        if status == 'ok' and entry['changed']:
            entry['status'] = 'changed'
        self._pending.append(entry)
        if status == 'ok' and entry['module'] in INCIDENT_ACTIONS and not entry['check_mode']:
            self._learn(data)

    def _learn(self, data):
        """A task declared or joined an incident: record the run there from now on (held entries included)."""
        incident_id = (data.get('incident') or {}).get('id')
        if not incident_id or self.get_option('incident_id') or incident_id == self._incident_id:
            return
        module_args = (data.get('invocation') or {}).get('module_args') or {}
        self._learned = (incident_id, module_args.get('store_path'))
        if self._store is not None:
            # Recording into another open incident so far: this run's own incident wins from here on.
            self._store.close()
            self._store, self._incident_id = None, None

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_play_start(self, play):
        value = (getattr(play, 'vars', None) or {}).get('incident_timeline_record', True)
        # Only a literal value is read: play variables are not templated yet when a play starts.
        self._play_recorded = str(value).strip().lower() not in ('false', 'no', 'off', '0')

    # --- batches -----------------------------------------------------------------------

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()

    def v2_playbook_on_handler_task_start(self, task):
        self._flush()

    def v2_playbook_on_stats(self, stats):
        self._flush()
        if self._store is not None:
            try:
                self._store.close()
            except Exception:  # pylint: disable=broad-except
                pass  # the entries are written; a failing close loses nothing
            self._store = None
