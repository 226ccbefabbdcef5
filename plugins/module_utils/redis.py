# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis connections for oncall.runbooks modules.

Option names follow community.general's redis modules; they are documented once in the
``oncall.runbooks.redis`` doc fragment and set once per playbook with ``module_defaults``
for ``group/oncall.runbooks.redis``.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:
    redis = None
    REDIS_IMPORT_ERROR = traceback.format_exc()
else:
    REDIS_IMPORT_ERROR = None

# The modules' own connections carry this name so that fixes can recognise and spare them.
CLIENT_NAME_PREFIX = 'oncall.runbooks'


def redis_argument_spec():
    """Connection options shared by every Redis module."""
    return dict(
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int', default=6379),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        tls=dict(type='bool', default=False),
        validate_certs=dict(type='bool', default=True),
        ca_certs=dict(type='str'),
        url=dict(type='str', no_log=True),
        db=dict(type='int'),
        socket_timeout=dict(type='float', default=5.0),
    )


def redis_target(params):
    """How failures name the server: host and port (credentials of a URL are left out)."""
    if params['url']:
        parts = urlsplit(params['url'])
        return 'Redis at %s:%s' % (parts.hostname or 'localhost', parts.port or 6379)
    return 'Redis at %s:%s' % (params['login_host'], params['login_port'])


def check_connection_options(params):
    """Bad connection input fails before anything is touched."""
    if params['url'] and not params['url'].startswith(('redis://', 'rediss://', 'unix://')):
        raise RunbookError('url must start with redis://, rediss:// or unix://')
    if params['socket_timeout'] <= 0:
        raise RunbookError('socket_timeout must be more than 0 seconds, got %s' % params['socket_timeout'])
    if params['db'] is not None and params['db'] < 0:
        raise RunbookError('db must be 0 or more, got %d' % params['db'])


def connect(module, purpose, db=None, params=None):
    """A client named ``oncall.runbooks/<purpose>`` that has answered PING.

    ``params`` are the connection options when they are not the module's own (a nested
    ``redis`` option of a module that also talks to another service).

    Every command, and the connection itself, is bounded by ``socket_timeout``; redis-py's
    own retries are switched off, so a dead or hung server fails once, within the timeout.
    Raises the driver's exception; callers wrap it with ``failing_on_error``.
    """
    if redis is None:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMPORT_ERROR)
    params = module.params if params is None else params
    db = params['db'] if db is None else db
    options = dict(socket_timeout=params['socket_timeout'], socket_connect_timeout=params['socket_timeout'],
                   retry=Retry(NoBackoff(), 0), retry_on_timeout=False)
    if params['url']:
        client = redis.Redis.from_url(params['url'], db=db, **options) if db is not None else redis.Redis.from_url(params['url'], **options)
    else:
        options.update(host=params['login_host'], port=params['login_port'], username=params['login_user'],
                       password=params['login_password'], db=db or 0)
        if params['tls']:
            options.update(ssl=True, ssl_cert_reqs='required' if params['validate_certs'] else 'none', ssl_ca_certs=params['ca_certs'])
        client = redis.Redis(**options)
    client.client_setname('%s/%s' % (CLIENT_NAME_PREFIX, purpose))
    return client
