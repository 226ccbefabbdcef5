# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
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
      - ACL user to authenticate as (Redis 6 and later). Without it, O(login_password) authenticates the default user.
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
      - With O(tls=true), check the server's certificate.
    type: bool
    default: true
  ca_certs:
    description:
      - With O(tls=true), file of certificate authorities to check the server's certificate against.
    type: str
  url:
    description:
      - The server as a URL (C(redis://user:password@host:port/db), C(rediss://...) for TLS, or
        C(unix:///path/to/socket)); used instead of O(login_host), O(login_port), O(login_user),
        O(login_password) and O(tls) when set. Its password is never shown in output.
    type: str
  db:
    description:
      - Database number to use (the URL's, or 0, when omitted).
    type: int
  socket_timeout:
    description:
      - Seconds that connecting, and each command, may take. A dead or hung server fails the task
        within this time, once (the client's own retries are off), with one line naming the server.
    type: float
    default: 5.0
requirements:
  - redis (the redis-py client, C(pip install redis)) on the host that runs the module
notes:
  - All modules of the C(redis) action group share these options; set them once with
    C(module_defaults) for C(group/oncall.runbooks.redis).
  - The module's own connection is named C(oncall.runbooks/<module>) (C(CLIENT SETNAME)) and is never a target of a fix.
'''
