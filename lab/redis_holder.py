"""A leaking Redis client pool: opens named connections, pings once, then leaves them idle.

Started by the redis-idle-clients scenario (``python -m lab.redis_holder``). It never
reconnects and never sends another command: a connection that a fix kills stays gone,
as it would once the leak is fixed. Credentials come from the environment so that they
never show in ``ps``.
"""

from __future__ import annotations

import os

import redis

from lab.holder import hold


def main():
    clients = []
    for number in range(int(os.environ['LAB_CLIENTS'])):
        client = redis.Redis(host='127.0.0.1', port=int(os.environ['LAB_REDIS_PORT']), password=os.environ['LAB_REDIS_PASSWORD'],
                             socket_timeout=5, socket_connect_timeout=5, single_connection_client=True)
        client.client_setname(os.environ['LAB_CLIENT_NAME'])
        client.ping()
        clients.append(client)  # referenced until the end: dropping it would close the connection
    hold({'clients': len(clients)})


if __name__ == '__main__':
    main()
