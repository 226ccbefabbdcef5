# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one line that incident_timeline records for a result."""

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.callback.incident_timeline import MAX_SUMMARY, _one_line, _summary


@pytest.mark.parametrize('data, status, line', [
    ({'summary': 'terminated 3 of 4 idle sessions', 'msg': 'ignored'}, 'changed', 'terminated 3 of 4 idle sessions'),
    ({'msg': 'the database\n  is full'}, 'failed', 'the database is full'),
    ({'msg': 'host key'}, 'unreachable', 'host key'),
    ({'msg': 'All items completed'}, 'ok', ''),
    ({'skip_reason': 'Conditional result was False'}, 'skipped', 'Conditional result was False'),
    ({}, 'ok', ''),
])
def test_the_summary_line(data, status, line):
    assert _summary(data, status) == line


def test_long_lines_are_cut():
    line = _one_line('x' * 1000)
    assert len(line) == MAX_SUMMARY and line.endswith('...')
