# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: writes every task result of a run, as Ansible shows it, to a JSON-lines file."""

from __future__ import annotations

DOCUMENTATION = r'''
name: capture_results
type: aggregate
short_description: Write task results to a JSON-lines file (tests only)
description:
  - Appends one JSON object per task result to the file named by E(CAPTURE_RESULTS_FILE),
    with the task name, host, status, duration in seconds and the result as Ansible would
    show it (no_log results stay censored).
requirements:
  - enabled in callbacks_enabled
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'capture_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._task_started = {}

    def v2_runner_on_start(self, host, task):
        self._task_started[(host.get_name(), task._uuid)] = time.monotonic()

    def _record(self, result, status):
        host = result._host.get_name()
        started = self._task_started.pop((host, result._task._uuid), None)
        entry = {
            'task': result._task.get_name(),
            'host': host,
            'status': status,
            'duration': None if started is None else time.monotonic() - started,
            'result': json.loads(self._dump_results(result._result, indent=0)),
        }
        # _dump_results drops the "failed" flag; tests read it the way a registered variable has it.
        entry['result']['failed'] = status == 'failed'
        with open(os.environ['CAPTURE_RESULTS_FILE'], 'a') as handle:
            handle.write(json.dumps(entry) + '\n')

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')
