# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and helpers of the PgBouncer tests (conftest.py belongs to everybody).

Import the fixtures into a test module to use them. Connection options come from the
``pgbouncer`` action group's module_defaults (conftest.py).
"""

from __future__ import annotations

import pytest

# The database the command tests pause and kill: nobody else's tests use it through PgBouncer.
SPARE_DATABASE = 'cloudflow'


def console(lab, what):
    """SHOW ``what`` on the admin console, directly (not through the collection), as dicts."""
    connection = lab.pgbouncer.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute('SHOW ' + what)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        connection.close()


def paused(lab):
    return sorted(row['name'] for row in console(lab, 'DATABASES') if row['paused'])


def resume(lab, names):
    connection = lab.pgbouncer.connect()
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute('RESUME "%s"' % name.replace('"', '""'))
    finally:
        connection.close()


@pytest.fixture
def keep_pgbouncer_running(lab):
    """Whatever a test pauses is resumed afterwards, so that the shared lab stays usable."""
    before = set(paused(lab))
    yield
    resume(lab, [name for name in paused(lab) if name not in before])


class AppClients(object):
    """Application clients connected through PgBouncer, closed at the end of the test."""

    def __init__(self, lab):
        self.lab = lab
        self.connections = []

    def open(self, database=SPARE_DATABASE, autocommit=True):
        connection = self.lab.pgbouncer.connect(database, database)
        connection.autocommit = autocommit
        self.connections.append(connection)
        return connection

    def close(self):
        for connection in self.connections:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already dropped by a KILL
                pass


@pytest.fixture
def app_clients(lab):
    clients = AppClients(lab)
    yield clients
    clients.close()
