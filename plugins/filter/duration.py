# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations read in roles exactly as the modules read them (module_utils/runbook.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, parse_duration


def duration_seconds(value, option='duration'):
    """Seconds in a duration such as 90s, 10m, 1h30m, 2d or a plain number of seconds."""
    try:
        return parse_duration(value, option)
    except RunbookError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):

    def filters(self):
        return {'duration_seconds': duration_seconds}
