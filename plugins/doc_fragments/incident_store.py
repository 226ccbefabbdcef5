# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  store_path:
    description:
      - The directory of the incident store, one JSON file per incident, written atomically under an exclusive file lock.
      - Created (mode 0700) on the first write. Not used when O(store_dsn) is set.
      - If not set, the environment variable E(ONCALL_INCIDENT_STORE), else C(~/.local/share/oncall.runbooks/incidents)
        (expanded on the managed host).
    type: path
  store_dsn:
    description:
      - A PostgreSQL connection string (libpq key=value DSN or C(postgresql://) URL). When set, incidents are kept in the
        table C(oncall_incidents) of that database (created on the first write) instead of O(store_path), so that several
        runners (for example AWX nodes) share one store.
      - If not set, the environment variable E(ONCALL_INCIDENT_DSN). Never shown in output.
      - Needs the Python library psycopg2 on the managed host.
    type: str
requirements:
  - psycopg2 (only with O(store_dsn))
'''
