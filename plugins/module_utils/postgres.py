# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connections for oncall.runbooks modules.

Option names follow community.postgresql so that playbooks and muscle memory carry
over; they are documented once in the ``oncall.runbooks.postgres`` doc fragment.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg2
    import psycopg2.extras
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG2_IMPORT_ERROR = None

SSL_MODES = ['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']

# The modules' own sessions carry this prefix so that fixes can recognise and spare them.
APPLICATION_NAME_PREFIX = 'oncall.runbooks'


def postgres_argument_spec():
    """Connection options shared by every PostgreSQL module."""
    return dict(
        login_host=dict(type='str', default='', aliases=['host']),
        port=dict(type='int', default=5432, aliases=['login_port']),
        login_user=dict(type='str', default='postgres', aliases=['login']),
        login_password=dict(type='str', default='', no_log=True),
        login_unix_socket=dict(type='str', default='', aliases=['unix_socket']),
        db=dict(type='str', default='', aliases=['login_db']),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
        connect_timeout=dict(type='int', default=5),
    )


def postgres_target(params):
    """How failures name the server: host and port (or socket) and database, never the password."""
    where = params['login_unix_socket'] or params['login_host'] or 'local socket'
    location = '%s:%s' % (where, params['port'])
    return 'PostgreSQL at %s/%s' % (location, params['db'] or params['login_user'])


def require_psycopg2(module):
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib('psycopg2 (pip install psycopg2-binary)'), exception=PSYCOPG2_IMPORT_ERROR)


def connect(module, purpose):
    """Open an autocommit connection whose ``application_name`` marks it as ours.

    ``connect_timeout`` bounds the whole connection attempt (TCP, TLS and
    authentication), so a server that accepts and never answers fails in time.
    Raises the driver's exception; callers wrap it with ``failing_on_error``.
    """
    require_psycopg2(module)
    params = module.params
    if params['connect_timeout'] < 1:
        module.fail_json(msg='connect_timeout must be at least 1 second, got %s' % params['connect_timeout'])
    kwargs = dict(
        host=params['login_unix_socket'] or params['login_host'] or None,
        port=params['port'],
        user=params['login_user'],
        dbname=params['db'] or None,
        sslmode=params['ssl_mode'],
        # libpq treats values below 2 as 2 seconds.
        connect_timeout=max(params['connect_timeout'], 2),
        application_name='%s/%s' % (APPLICATION_NAME_PREFIX, purpose),
        # Notice a peer that vanished mid-session instead of waiting for TCP's default hours.
        keepalives=1,
        keepalives_idle=max(params['connect_timeout'], 1),
        keepalives_interval=1,
        keepalives_count=3,
    )
    if params['login_password']:
        kwargs['password'] = params['login_password']
    if params['ca_cert']:
        kwargs['sslrootcert'] = params['ca_cert']
    connection = psycopg2.connect(**kwargs)
    connection.autocommit = True
    return connection


def fetch_all(connection, query, args=None):
    """Run a read-only query and return its rows as dicts."""
    with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        cursor.execute(query, args)
        return [dict(row) for row in cursor.fetchall()]


def fetch_settings(connection, names):
    """Current values of server settings, as text, keyed by name."""
    rows = fetch_all(connection, 'SELECT name, setting FROM pg_settings WHERE name = ANY(%s)', (list(names),))
    return dict((row['name'], row['setting']) for row in rows)
