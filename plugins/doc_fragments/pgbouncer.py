# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # The PostgreSQL options, less db: the admin console is always the database "pgbouncer".
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host running PgBouncer.
      - When empty and O(login_unix_socket) is empty, the driver's default (the local socket) is used.
    type: str
    default: ''
    aliases: [ host ]
  port:
    description:
      - Port PgBouncer listens on (its C(listen_port)).
    type: int
    default: 6432
    aliases: [ login_port ]
  login_user:
    description:
      - User to log in to PgBouncer's admin console as.
      - It must be listed in PgBouncer's C(admin_users) for the commands of
        M(oncall.runbooks.pgbouncer_command), or in C(stats_users) for the C(SHOW) commands of
        M(oncall.runbooks.pgbouncer_info).
    type: str
    default: pgbouncer
    aliases: [ login ]
  login_password:
    description:
      - Password of O(login_user), as in PgBouncer's C(auth_file). Never shown in output.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of PgBouncer's Unix socket (its C(unix_socket_dir)), used instead of
        O(login_host) when set.
    type: str
    default: ''
    aliases: [ unix_socket ]
  ssl_mode:
    description:
      - How and whether to negotiate TLS with PgBouncer (libpq's C(sslmode)); PgBouncer
        offers TLS when C(client_tls_sslmode) is set.
    type: str
    default: prefer
    choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
  ca_cert:
    description:
      - File of certificate authorities that PgBouncer's certificate must be signed by.
      - Used with O(ssl_mode=verify-ca) and O(ssl_mode=verify-full).
    type: path
    aliases: [ ssl_rootcert ]
  connect_timeout:
    description:
      - Seconds that the whole connection attempt (TCP, TLS and authentication) may take,
        and that each console command may take once connected (C(PAUSE) has its own
        O(oncall.runbooks.pgbouncer_command#module:pause_timeout)).
      - A closed port, a wrong password or a PgBouncer that accepts and never answers fails
        the task within this time, with one line naming PgBouncer's address and the cause.
      - libpq waits at least 2 seconds; when O(login_host) resolves to several addresses,
        each is tried with this timeout.
    type: int
    default: 5
requirements:
  - psycopg2 (C(pip install psycopg2-binary)) on the host that runs the module
notes:
  - The modules connect to PgBouncer's admin console, the pseudo database C(pgbouncer);
    there is no option to choose another database.
  - All modules of the C(pgbouncer) action group share these options; set them once with
    C(module_defaults) for C(group/oncall.runbooks.pgbouncer). They are not those of the
    C(postgres) group, whose defaults point at PostgreSQL itself.
  - The admin console's own pseudo database C(pgbouncer) is never reported or acted on.
'''
