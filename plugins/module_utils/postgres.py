# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connections for oncall.runbooks modules.

Option names follow community.postgresql so that playbooks and muscle memory carry
over; they are documented once in the ``oncall.runbooks.postgres`` doc fragment.
"""

from __future__ import annotations

import time
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError, format_bytes

try:
    import psycopg2
    import psycopg2.extras
    import psycopg2.sql
except ImportError:
    psycopg2 = sql = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
else:
    # For the modules that compose statements: imported here once, guarded, instead of in each of them.
    sql = psycopg2.sql
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


def connect(module, purpose, database=None, params=None):
    """Open an autocommit connection whose ``application_name`` marks it as ours.

    ``connect_timeout`` bounds the whole connection attempt (TCP, TLS and
    authentication), so a server that accepts and never answers fails in time.
    ``database`` overrides the ``db`` option (PgBouncer's console is always ``pgbouncer``);
    ``params`` are the connection options when they are not the module's own (a nested option).
    Raises the driver's exception; callers wrap it with ``failing_on_error``.
    """
    require_psycopg2(module)
    params = module.params if params is None else params
    if params['connect_timeout'] < 1:
        module.fail_json(msg='connect_timeout must be at least 1 second, got %s' % params['connect_timeout'])
    kwargs = dict(
        host=params['login_unix_socket'] or params['login_host'] or None,
        port=params['port'],
        user=params['login_user'],
        dbname=database or params.get('db') or None,
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


# --- sessions: what pg_activity_info reports and the kill modules act on ---------------

# Client backends only: replication senders, autovacuum and background workers are never
# listed here, so no fix can reach them.
SESSIONS_QUERY = """
SELECT a.pid, a.usename AS user, a.datname AS database, a.application_name AS application,
       CASE WHEN a.client_addr IS NULL THEN 'local' ELSE host(a.client_addr) || ':' || a.client_port END AS client,
       a.state, a.wait_event_type, a.wait_event, a.backend_start, a.state_change, a.query_start,
       EXTRACT(EPOCH FROM now() - a.state_change)::float AS state_seconds,
       EXTRACT(EPOCH FROM now() - a.query_start)::float AS query_seconds,
       EXTRACT(EPOCH FROM now() - a.xact_start)::float AS transaction_seconds,
       left(a.query, %(query_max_length)s) AS query,
       CASE WHEN %(with_blocking)s THEN pg_blocking_pids(a.pid) ELSE '{}'::int[] END AS blocked_by,
       coalesce(r.rolsuper, false) AS superuser,
       a.pid = pg_backend_pid() AS own
FROM pg_stat_activity AS a
LEFT JOIN pg_roles AS r ON r.oid = a.usesysid
WHERE a.backend_type = 'client backend'
"""


def fetch_sessions(connection, query_max_length=200, with_blocking=True):
    """Every client session, with ages in seconds and (``with_blocking``) the pids that block each one.

    pg_blocking_pids() inspects the lock manager for every session, which is slow with a
    thousand sessions; leave it out when no lock chain matters.
    """
    return fetch_all(connection, SESSIONS_QUERY, {'query_max_length': query_max_length, 'with_blocking': with_blocking})


def session_filter_argument_spec(cap_default=100):
    """Options that narrow which sessions a fix may touch, shared by the kill modules."""
    return dict(
        databases=dict(type='list', elements='str', default=[]),
        users=dict(type='list', elements='str', default=[]),
        applications=dict(type='list', elements='str', default=[]),
        exclude_users=dict(type='list', elements='str', default=[]),
        include_superusers=dict(type='bool', default=False),
        max_sessions=dict(type='int', default=cap_default),
    )


def session_excluded(row, params):
    """Why a session must be spared, or None. Our own sessions and superusers come first."""
    if row['own'] or (row['application'] or '').startswith(APPLICATION_NAME_PREFIX):
        return 'a session of oncall.runbooks'
    if row['superuser'] and not params['include_superusers']:
        return 'a superuser session (include_superusers is false)'
    if params['databases'] and row['database'] not in params['databases']:
        return 'database not in databases'
    if params['users'] and row['user'] not in params['users']:
        return 'user not in users'
    if params['applications'] and row['application'] not in params['applications']:
        return 'application not in applications'
    if row['user'] in params['exclude_users']:
        return 'user in exclude_users'
    return None


def session_details(row):
    """What an action says about its session, for humans and the timeline."""
    return dict(pid=row['pid'], user=row['user'], database=row['database'], application=row['application'],
                client=row['client'], state=row['state'])


def session_label(row):
    return 'pid %d (%s@%s%s)' % (row['pid'], row['user'], row['database'],
                                 ', ' + row['application'] if row['application'] else '')


# A signal reaches a session only if it is still the one that was planned: the same backend
# (pids are reused) and, when ``mark`` names a column (state_change for an idle spell,
# query_start for a query), still at the same moment of its life. One statement for all
# targets, so that a thousand sessions cost one round trip, not a thousand.
MATCHING_QUERY = """
SELECT a.pid{call} FROM pg_stat_activity AS a
JOIN unnest(%(pids)s::int[], %(starts)s::timestamptz[], %(marks)s::timestamptz[]) AS planned (pid, backend_start, mark)
  ON a.pid = planned.pid AND a.backend_start = planned.backend_start
WHERE ({mark} IS NULL OR {mark} = planned.mark) {condition}
"""


def matching_sessions(connection, rows, mark=None, condition='', function=None):
    """pids of the planned ``rows`` that still match; with ``function`` (pg_cancel_backend or
    pg_terminate_backend), those that were signalled.

    ``condition`` is a fixed SQL fragment over ``a`` (pg_stat_activity), never user input.
    """
    if not rows:
        return set()
    sql = psycopg2.sql
    call = sql.SQL(', {}(a.pid) AS signalled').format(sql.Identifier(function)) if function else sql.SQL('')
    query = sql.SQL(MATCHING_QUERY).format(call=call, condition=sql.SQL(condition),
                                           mark=sql.SQL('a.{}').format(sql.Identifier(mark)) if mark else sql.SQL('NULL'))
    args = dict(pids=[row['pid'] for row in rows], starts=[row['backend_start'] for row in rows],
                marks=[row[mark] if mark else None for row in rows])
    return set(row['pid'] for row in fetch_all(connection, query, args) if not function or row['signalled'])


def wait_for_exit(connection, rows, timeout):
    """Wait until the terminated backends are gone (their slots free); return those still there."""
    deadline = time.monotonic() + timeout
    remaining = matching_sessions(connection, rows)
    while remaining and time.monotonic() < deadline:
        time.sleep(0.02)
        remaining = matching_sessions(connection, [row for row in rows if row['pid'] in remaining])
    return remaining


# --- tables and columns named by the user ---------------------------------------------

TIME_TYPES = ('timestamp with time zone', 'timestamp without time zone', 'date')


def resolve_table(connection, name, option='table'):
    """Find a user-named table ("table" or "schema.table") without putting the name into SQL.

    The name is looked up as data (parameters), so quotes or SQL in it can do no harm; it
    is used as an identifier (psycopg2.sql.Identifier) only once it is known to exist.
    Returns (schema, table, oid); raises RunbookError naming ``option`` otherwise.
    """
    schema, dot, table = name.rpartition('.')
    query = """SELECT n.nspname AS schema, c.relname AS name, c.oid FROM pg_class AS c
               JOIN pg_namespace AS n ON n.oid = c.relnamespace
               WHERE c.relname = %s AND c.relkind IN ('r', 'p') AND {}"""
    if dot:
        rows = fetch_all(connection, query.format('n.nspname = %s'), (table, schema))
    else:
        rows = fetch_all(connection, query.format('n.nspname = ANY(current_schemas(false)) ORDER BY array_position(current_schemas(false), n.nspname)'),
                         (table,))
    if not rows:
        raise RunbookError('%s: no table %r in database %s' % (option, name, connection.info.dbname))
    return rows[0]['schema'], rows[0]['name'], rows[0]['oid']


def resolve_columns(connection, oid, columns, time_columns=()):
    """Check that each named column exists; ``columns`` maps option -> column name.

    The options in ``time_columns`` must name a timestamp or date column.
    Returns option -> the column's type (as ``format_type`` spells it).
    """
    rows = fetch_all(connection, """SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
                                    WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped""", (oid,))
    types = dict((row['attname'], row['type']) for row in rows)
    found = {}
    for option, column in columns.items():
        if column not in types:
            raise RunbookError('%s: no column %r in the table (it has: %s)' % (option, column, ', '.join(sorted(types))))
        found[option] = types[column]
    for option in time_columns:
        if found[option] not in TIME_TYPES:
            raise RunbookError('%s: the column is of type %s, not a timestamp or date' % (option, found[option]))
    return found


def fetch_cutoff(connection, seconds):
    """The server's now() less ``seconds``, fixed once so that what is counted is what is acted on."""
    return fetch_all(connection, 'SELECT now() - make_interval(secs => %s) AS cutoff', (seconds,))[0]['cutoff']


def equality_filters(filters, option='filters'):
    """``{column: value}`` as SQL ``AND column = value`` terms (identifiers quoted, values as parameters)."""
    sql = psycopg2.sql
    terms = [sql.SQL(' AND {} = {}').format(sql.Identifier(column), sql.Placeholder('filter_%d' % index))
             for index, column in enumerate(sorted(filters))]
    args = dict(('filter_%d' % index, filters[column]) for index, column in enumerate(sorted(filters)))
    return sql.Composed(terms), args


def set_timeouts(connection, **timeouts):
    """Session-level ``lock_timeout``/``statement_timeout`` (seconds): the server gives up in time."""
    sql = psycopg2.sql
    with connection.cursor() as cursor:
        for name, seconds in timeouts.items():
            cursor.execute(sql.SQL('SET {} = %s').format(sql.Identifier(name)), ('%dms' % int(seconds * 1000),))


# --- table statistics: what pg_storage_info reports and pg_vacuum acts on ----------------

# Every user table of the connected database with its size, live and dead tuples and last
# (auto)vacuum/analyze. Read from the statistics views and the catalog only: no table is
# scanned, so reading it is cheap and never blocks. Sizes are NULL for a table dropped
# meanwhile, hence coalesce. ``can_vacuum`` follows VACUUM's own rule (owner of the table or
# of the database, or superuser); VACUUM skips other tables with a mere warning.
TABLE_STATS_QUERY = """
SELECT s.relid, s.schemaname AS schema, s.relname AS name,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       coalesce(round(100.0 * s.n_dead_tup / nullif(s.n_live_tup + s.n_dead_tup, 0), 1), 0)::float AS dead_ratio,
       coalesce(pg_total_relation_size(s.relid), 0) AS total_bytes,
       coalesce(pg_table_size(s.relid), 0) AS table_bytes,
       coalesce(pg_indexes_size(s.relid), 0) AS index_bytes,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       coalesce((SELECT o.option_value::boolean FROM pg_options_to_table(c.reloptions) AS o
                 WHERE o.option_name = 'autovacuum_enabled'), true) AS autovacuum_enabled,
       pg_has_role(c.relowner, 'USAGE')
         OR pg_has_role((SELECT d.datdba FROM pg_database AS d WHERE d.datname = current_database()), 'USAGE') AS can_vacuum
FROM pg_stat_user_tables AS s
JOIN pg_class AS c ON c.oid = s.relid
"""

TABLE_TIMES = ('last_vacuum', 'last_autovacuum', 'last_analyze', 'last_autoanalyze')


def fetch_table_stats(connection, relids=None):
    """Every user table (or those of ``relids``) with sizes, tuples, dead ratio and vacuum times.

    Each row has ``table`` ("schema.name"), ``size`` (total, for humans) and ISO 8601 times.
    The dead-tuple counts are the statistics collector's: updated by each session when it
    goes idle or ends, and by VACUUM and ANALYZE at once.
    """
    query, args = TABLE_STATS_QUERY, None
    if relids is not None:
        query, args = query + ' WHERE s.relid = ANY(%s::oid[])', (list(relids),)
    rows = fetch_all(connection, query, args)
    for row in rows:
        row['table'] = '%s.%s' % (row['schema'], row['name'])
        row['size'] = format_bytes(row['total_bytes'])
        for key in TABLE_TIMES:
            row[key] = row[key].isoformat() if row[key] else None
    return rows


def is_bloated(row, min_dead_ratio, min_dead_tuples):
    """Dead ratio strictly over the percentage and at least that many dead tuples."""
    ratio_ok = min_dead_ratio is None or row['dead_ratio'] > min_dead_ratio
    return ratio_ok and row['dead_tuples'] >= (min_dead_tuples or 0)


def most_bloated_first(rows):
    return sorted(rows, key=lambda row: (-row['dead_tuples'], -row['dead_ratio'], row['table']))


def bloat_label(row):
    """The reason a human reads next to a table: "dead 35% (12000 dead tuples)"."""
    return 'dead %s%% (%d dead tuples)' % (('%.1f' % row['dead_ratio']).rstrip('0').rstrip('.'), row['dead_tuples'])


# --- PgBouncer's admin console: same options and driver, other defaults -----------------
