# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PgBouncer's admin console for oncall.runbooks modules.

The console speaks the PostgreSQL protocol but accepts only simple queries (no
parameters, no transactions), so database names are checked against SHOW DATABASES
and then quoted as identifiers. Every statement runs under a deadline.
"""

from __future__ import annotations

import decimal
import os
import socket
import threading

from ansible_collections.oncall.runbooks.plugins.module_utils.postgres import connect, postgres_argument_spec
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, format_duration

try:
    from psycopg2 import sql
except ImportError:  # reported by connect_admin_console through require_psycopg2
    sql = None

# The console's own pseudo database: listed by SHOW, never a target, never graded.
ADMIN_DATABASE = 'pgbouncer'


def pgbouncer_argument_spec():
    """Connection options of the PgBouncer modules: PostgreSQL's, without ``db`` (the console is always ``pgbouncer``)."""
    spec = postgres_argument_spec()
    del spec['db']
    spec['port']['default'] = 6432
    spec['login_user']['default'] = 'pgbouncer'
    return spec


def pgbouncer_target(params):
    """How failures name PgBouncer: host and port (or socket), never the password."""
    return 'PgBouncer at %s:%s' % (params['login_unix_socket'] or params['login_host'] or 'local socket', params['port'])


def connect_admin_console(module, purpose):
    """An autocommit connection to PgBouncer's admin console (it accepts no transactions)."""
    return connect(module, purpose, database=ADMIN_DATABASE)


class ConsoleTimeout(RunbookError):
    """A console statement that did not answer within its deadline."""


def _hang_up(connection, fired):
    """Shut the socket down under a blocked statement so that the driver returns at once.

    psycopg2 has no client-side query timeout, and PgBouncer's console ignores cancel
    requests (a blocked PAUSE keeps waiting), so the deadline is kept here.
    """
    fired.set()
    try:
        with socket.socket(fileno=os.dup(connection.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass  # the statement finished and the connection closed meanwhile


def _plain(value):
    """SHOW STATS counts arrive as Decimal; results are JSON."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class Console(object):
    """One admin console session, reopened when a deadline had to cut the previous one."""

    def __init__(self, module, purpose):
        self.module = module
        self.purpose = purpose
        self.target = pgbouncer_target(module.params)
        self.timeout = max(module.params['connect_timeout'], 1)
        self.connection = None

    def open(self):
        if self.connection is None or self.connection.closed:
            self.connection = connect_admin_console(self.module, self.purpose)
        return self.connection

    def close(self):
        if self.connection is not None and not self.connection.closed:
            self.connection.close()

    def run(self, statement, timeout=None):
        """Run one statement; rows as dicts for SHOW, None for a command.

        Raises ConsoleTimeout after ``timeout`` seconds (``connect_timeout`` by default:
        PgBouncer answers SHOW from memory, so a slower answer means it is hung).
        """
        timeout = timeout or self.timeout
        connection = self.open()
        text = statement.as_string(connection) if hasattr(statement, 'as_string') else statement
        fired = threading.Event()
        timer = threading.Timer(timeout, _hang_up, (connection, fired))
        timer.daemon = True
        timer.start()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                if cursor.description is None:
                    return None
                names = [column.name for column in cursor.description]
                return [dict(zip(names, (_plain(value) for value in row))) for row in cursor.fetchall()]
        except Exception:
            if fired.is_set():
                connection.close()
                raise ConsoleTimeout('%s: %s did not complete within %s' % (self.target, text, format_duration(timeout)))
            raise
        finally:
            timer.cancel()

    def show(self, what):
        """SHOW POOLS, STATS, DATABASES, LISTS, VERSION (``what`` is always a constant)."""
        return self.run('SHOW ' + what)

    def command(self, verb, database=None, timeout=None):
        """PAUSE, RESUME, KILL, RECONNECT, RELOAD, for one database (quoted) or none."""
        statement = sql.SQL(verb)
        if database is not None:
            statement = sql.SQL('{} {}').format(statement, sql.Identifier(database))
        return self.run(statement, timeout)

    def databases(self):
        """SHOW DATABASES without the console's own, with ``paused`` and ``disabled`` as booleans."""
        rows = [row for row in self.show('DATABASES') if row['name'] != ADMIN_DATABASE]
        for row in rows:
            for key in ('paused', 'disabled'):
                if key in row:
                    row[key] = bool(row[key])
        return rows


def check_known(names, known, option, target):
    """Fail on names PgBouncer does not serve, in one line that lists those it does."""
    unknown = [name for name in names if name not in known]
    if unknown:
        raise RunbookError('%s: no database %s in %s; it has: %s' % (
            option, ', '.join(repr(name) for name in unknown), target, ', '.join(sorted(known)) or 'none'))
