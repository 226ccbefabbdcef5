# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host running PostgreSQL.
      - When empty and O(login_unix_socket) is empty, the driver's default (the local socket) is used.
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
      - When every connection slot is taken, only a superuser still gets in (through
        C(superuser_reserved_connections)), so runbooks that must work during pool
        exhaustion connect as one.
    type: str
    default: postgres
    aliases: [ login ]
  login_password:
    description:
      - Password of O(login_user). Never shown in output.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the local Unix socket, used instead of O(login_host) when set.
    type: str
    default: ''
    aliases: [ unix_socket ]
  db:
    description:
      - Database to connect to. Defaults to the database named like O(login_user).
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
      - Used with O(ssl_mode=verify-ca) and O(ssl_mode=verify-full).
    type: path
    aliases: [ ssl_rootcert ]
  connect_timeout:
    description:
      - Seconds that the whole connection attempt (TCP, TLS and authentication) may take.
      - A closed port, a wrong password or a server that accepts and never answers fails
        the task within this time, with one line naming the server and the cause.
      - libpq waits at least 2 seconds; when O(login_host) resolves to several addresses,
        each is tried with this timeout.
    type: int
    default: 5
requirements:
  - psycopg2 (C(pip install psycopg2-binary)) on the host that runs the module
notes:
  - All modules of the C(postgres) action group share these options; set them once with
    C(module_defaults) for C(group/oncall.runbooks.postgres).
  - The module's own session is named C(oncall.runbooks/<module>) in C(application_name)
    and is never a target of a fix.
'''

    # Which sessions a fix may touch: shared by pg_idle_kill and pg_query_kill.
    SESSIONS = r'''
options:
  databases:
    description:
      - Only sessions connected to one of these databases. Empty means all databases.
    type: list
    elements: str
    default: []
  users:
    description:
      - Only sessions of these roles. Empty means all roles.
    type: list
    elements: str
    default: []
  applications:
    description:
      - Only sessions whose C(application_name) is one of these. Empty means all.
    type: list
    elements: str
    default: []
  exclude_users:
    description:
      - Never sessions of these roles, whatever the other filters say.
    type: list
    elements: str
    default: []
  include_superusers:
    description:
      - Also act on superusers' sessions. Off by default; a superuser's session is usually the
        person or tool trying to fix the incident.
    type: bool
    default: false
  max_sessions:
    description:
      - At most this many sessions are acted on in one run; the rest are counted in RV(left_out)
        and named in RV(summary). Must be at least 1.
    type: int
    default: 100
notes:
  - Only client backends are considered; replication senders, autovacuum and background workers
    can never be targets. Sessions of this collection (C(application_name) starting with
    C(oncall.runbooks)) are never targets.
'''
