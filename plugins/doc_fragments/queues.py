# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # The redis and postgres fragments document their options at the top level; a module that
    # talks to both nests them (their names collide: db, login_host, the port), so they are
    # documented again here, as suboptions. Keep the two in step with those fragments.
    DOCUMENTATION = r'''
options:
  redis:
    description:
      - How to reach the Redis server that holds the queues; the same options as the C(redis) action group's
        modules take at the top level. Needed for O(redis_queues).
      - Omit it to read no Redis queue.
    type: dict
    suboptions:
      login_host:
        description:
          - Host running Redis.
        type: str
        default: localhost
      login_port:
        description:
          - Port Redis listens on.
        type: int
        default: 6379
      login_user:
        description:
          - ACL user to authenticate as (Redis 6 and later). Without it, O(redis.login_password) authenticates the default user.
        type: str
      login_password:
        description:
          - Password (C(requirepass) or the ACL user's). Never shown in output.
        type: str
      tls:
        description:
          - Connect with TLS.
        type: bool
        default: false
      validate_certs:
        description:
          - With O(redis.tls=true), check the server's certificate.
        type: bool
        default: true
      ca_certs:
        description:
          - With O(redis.tls=true), file of certificate authorities to check the server's certificate against.
        type: str
      url:
        description:
          - The server as a URL (C(redis://user:password@host:port/db), C(rediss://...) for TLS, or
            C(unix:///path/to/socket)); used instead of O(redis.login_host), O(redis.login_port), O(redis.login_user),
            O(redis.login_password) and O(redis.tls) when set. Its password is never shown in output.
        type: str
      db:
        description:
          - Database number that holds the queues (the URL's, or 0, when omitted).
        type: int
      socket_timeout:
        description:
          - Seconds that connecting, and each command, may take. A dead or hung server fails the task
            within this time, once, with one line naming the server.
        type: float
        default: 5.0
  postgres:
    description:
      - How to reach the PostgreSQL database that holds the jobs table; the same options as the C(postgres)
        action group's modules take at the top level. Needed for O(table).
      - Omit it to read no table.
    type: dict
    suboptions:
      login_host:
        description:
          - Host running PostgreSQL.
          - When empty and O(postgres.login_unix_socket) is empty, the driver's default (the local socket) is used.
        type: str
        default: ''
        aliases: [ host ]
      port:
        description:
          - Port PostgreSQL listens on.
        type: int
        default: 5432
        aliases: [ login_port ]
      login_user:
        description:
          - Role to connect as.
        type: str
        default: postgres
        aliases: [ login ]
      login_password:
        description:
          - Password of O(postgres.login_user). Never shown in output.
        type: str
        default: ''
      login_unix_socket:
        description:
          - Directory of the local Unix socket, used instead of O(postgres.login_host) when set.
        type: str
        default: ''
        aliases: [ unix_socket ]
      db:
        description:
          - Database to connect to. Defaults to the database named like O(postgres.login_user).
        type: str
        default: ''
        aliases: [ login_db ]
      ssl_mode:
        description:
          - How and whether to negotiate TLS with the server (libpq's C(sslmode)).
        type: str
        default: prefer
        choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
      ca_cert:
        description:
          - File of certificate authorities that the server's certificate must be signed by.
          - Used with O(postgres.ssl_mode=verify-ca) and O(postgres.ssl_mode=verify-full).
        type: path
        aliases: [ ssl_rootcert ]
      connect_timeout:
        description:
          - Seconds that the whole connection attempt (TCP, TLS and authentication) may take.
          - A closed port, a wrong password or a server that accepts and never answers fails
            the task within this time, with one line naming the server and the cause.
          - libpq waits at least 2 seconds.
        type: int
        default: 5
requirements:
  - redis (the redis-py client, C(pip install redis)) on the host that runs the module, for O(redis)
  - psycopg2 (C(pip install psycopg2-binary)) on the host that runs the module, for O(postgres)
notes:
  - This module belongs to no action group. The C(redis) and C(postgres) groups' options would collide
    (C(db) is a number for Redis and a name for PostgreSQL, and both have a C(login_host)), so
    C(module_defaults) for those groups do not reach it; pass O(redis) and O(postgres) as dicts, for example
    from the same inventory variables that the group defaults use.
  - The module's own connections are named C(oncall.runbooks/<module>) (Redis C(CLIENT SETNAME),
    PostgreSQL C(application_name)) and are never a target of a fix.
'''
