#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: redis_client_kill
short_description: End Redis client connections that sit idle, safely and with a cap
version_added: 0.1.0
description:
  - The runbooks' "kill idle Redis clients" during a "max number of clients reached" incident, done safely.
  - Ends client connections idle for longer than O(idle_longer_than), of the types in O(types),
    narrowed by O(users), O(addr_prefix) and O(names).
  - Never ends its own connection or any other connection of this collection (clients named
    C(oncall.runbooks/...)). Replica links and the master link are considered only when named in O(types).
  - Never ends a client waiting in a blocking command such as C(BLPOP) (flag C(b) in C(CLIENT LIST)),
    such as a queue worker waiting for jobs; Redis counts that wait as idle time.
  - At most O(max_clients) clients are ended in one run, the longest idle first; the summary says
    how many the cap left out.
  - Each client is ended by its id (C(CLIENT KILL ID)), never by its address, so a connection that
    reused the address of a planned one is never hit. Just before ending them, the module reads the
    planned clients again; a client that has sent a command since the plan was made, or that is
    gone, is left alone and reported with a note.
  - In check mode nothing is ended and RV(actions) lists exactly the clients a real run would end.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.redis
attributes:
  check_mode:
    support: full
    description: Plans and reports the same clients without ending them.
  diff_mode:
    support: none
    description: Connections have no before and after to show; RV(actions) lists them.
options:
  idle_longer_than:
    description:
      - Only clients that have sent no command for longer than this.
      - A duration such as C(30s), C(10m), C(1h), or a number of seconds. Redis reports idle time in whole seconds.
    type: raw
    default: 10m
  types:
    description:
      - Client types to consider, as C(CLIENT LIST TYPE) knows them.
      - C(replica) and C(master) are the replication links; they are ended only when named here.
    type: list
    elements: str
    choices: [ normal, pubsub, replica, master ]
    default: [ normal, pubsub ]
  users:
    description:
      - Only clients authenticated as one of these ACL users.
    type: list
    elements: str
  addr_prefix:
    description:
      - Only clients whose address starts with this, for example C(10.0.3.) for one subnet or C(10.0.3.7:) for one host.
    type: str
  names:
    description:
      - Only clients with one of these names, as set with C(CLIENT SETNAME).
    type: list
    elements: str
  max_clients:
    description:
      - At most this many clients are ended in one run, the longest idle first.
    type: int
    default: 100
notes:
  - A client that reconnects by itself, as most connection pools do, comes back as a new, fresh
    client; ending idle clients frees slots but does not fix a leak.
seealso:
  - module: oncall.runbooks.redis_info
    description: See how many clients there are, and of what kind, first.
'''

EXAMPLES = r'''
- name: Free client slots - end the workers' connections idle for more than 10 minutes
  oncall.runbooks.redis_client_kill:
    login_host: cache.internal
    login_password: "{{ vault_redis_password }}"
    names: [linkflow-worker]
    idle_longer_than: 10m
    max_clients: 50
  register: freed

- name: End idle clients of one subnet, including subscribers, for one ACL user
  oncall.runbooks.redis_client_kill:
    addr_prefix: "10.0.3."
    users: [linkflow]
    types: [normal, pubsub]
    idle_longer_than: 1h

- name: Audit - which clients would be ended right now?
  oncall.runbooks.redis_client_kill:
    idle_longer_than: 10m
  check_mode: true
  register: plan
'''

RETURN = r'''
summary:
  description: One line for humans and the incident timeline.
  returned: always
  type: str
  sample: killed 50 of 212 idle clients (max_clients 50 left 162 out)
actions:
  description: One entry per client planned, in the order acted on (the longest idle first).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: The client, for humans.
      type: str
      sample: client 42 127.0.0.1:51234 (name linkflow-worker, idle 37m)
    action:
      description: Always C(kill).
      type: str
    reason:
      description: Why it qualified.
      type: str
      sample: idle for 37m (> 10m)
    done:
      description: Whether it was ended (always false in check mode).
      type: bool
    note:
      description: Why a planned client was not ended (it sent a command since the plan was made, or was gone).
      type: str
      returned: when the client no longer qualified
    error:
      description: The server's error for this client.
      type: str
      returned: when ending it failed
    id:
      description: The client's id, unique for the server's lifetime.
      type: int
    addr:
      description: The client's address and port.
      type: str
    name:
      description: The client's name, empty when it set none.
      type: str
    user:
      description: The ACL user of the client.
      type: str
    idle:
      description: Seconds since the client's last command, when planned.
      type: int
    command:
      description: The client's last command.
      type: str
      sample: ping
    type:
      description: The client's type, one of O(types).
      type: str
killed:
  description: How many clients were ended (0 in check mode).
  returned: always
  type: int
  sample: 50
candidates:
  description: How many clients qualified, including those the cap left out.
  returned: always
  type: int
  sample: 212
left_out:
  description: How many qualifying clients the cap left out.
  returned: always
  type: int
  sample: 162
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.redis import (
    CLIENT_NAME_PREFIX,
    check_connection_options,
    connect,
    redis_argument_spec,
    redis_target,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import (
    Plan,
    check_cap,
    failing_on_error,
    format_duration,
    parse_duration,
    plan_summary,
)

CLIENT_TYPES = ['normal', 'pubsub', 'replica', 'master']


def client_label(row):
    detail = 'idle %s' % format_duration(row['idle'])
    if row['name']:
        detail = 'name %s, %s' % (row['name'], detail)
    return 'client %s %s (%s)' % (row['id'], row['addr'], detail)


def normalise(row, client_type):
    """A CLIENT LIST entry with the fields the plan uses, typed."""
    return dict(id=int(row['id']), addr=row.get('addr', ''), name=row.get('name', ''), user=row.get('user', ''),
                idle=int(row.get('idle', 0)), command=row.get('cmd', ''), type=client_type, flags=row.get('flags', ''))


def fetch_clients(client, types):
    """Every client of the given types, each tagged with its type (CLIENT LIST TYPE knows it best)."""
    rows = []
    for client_type in types:
        rows.extend(normalise(row, client_type) for row in client.client_list(_type=client_type))
    return rows


def spared(row, own_id):
    """Our own connection, the collection's other clients, and clients waiting in a blocking command."""
    return row['id'] == own_id or row['name'].startswith(CLIENT_NAME_PREFIX) or 'b' in row['flags']


def qualifies(row, params, idle_longer_than, own_id):
    if spared(row, own_id) or row['idle'] <= idle_longer_than:
        return False
    if params['users'] and row['user'] not in params['users']:
        return False
    if params['addr_prefix'] and not row['addr'].startswith(params['addr_prefix']):
        return False
    if params['names'] and row['name'] not in params['names']:
        return False
    return True


def plan_kills(rows, params, idle_longer_than, own_id):
    idle = [row for row in rows if qualifies(row, params, idle_longer_than, own_id)]
    plan = Plan(limit=params['max_clients'])
    # Longest idle first; the oldest id breaks ties so that the order is stable between runs.
    for row in sorted(idle, key=lambda item: (-item['idle'], item['id'])):
        details = dict((key, value) for key, value in row.items() if key != 'flags')
        plan.add(client_label(row), 'kill',
                 'idle for %s (> %s)' % (format_duration(row['idle']), format_duration(idle_longer_than)), **details)
    return plan.cap()


def killer(client, current):
    """``execute`` for Plan.carry_out: end one planned client by id unless it moved on."""
    def execute(entry):
        now = current.get(entry['id'])
        if now is None:
            entry['note'] = 'gone since the plan was made'
            return False
        if now['idle'] < entry['idle']:
            entry['note'] = 'sent a command since the plan was made (idle %s now)' % format_duration(now['idle'])
            return False
        if not client.client_kill_filter(_id=str(entry['id'])):
            entry['note'] = 'gone since the plan was made'
            return False
        return True
    return execute


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(
        idle_longer_than=dict(type='raw', default='10m'),
        types=dict(type='list', elements='str', default=['normal', 'pubsub'], choices=CLIENT_TYPES),
        users=dict(type='list', elements='str'),
        addr_prefix=dict(type='str'),
        names=dict(type='list', elements='str'),
        max_clients=dict(type='int', default=100),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    with failing_on_error(module, redis_target(params)):
        idle_longer_than = parse_duration(params['idle_longer_than'], 'idle_longer_than')
        check_cap(params['max_clients'], 'max_clients')
        check_connection_options(params)

        client = connect(module, 'redis_client_kill')
        try:
            own_id = client.client_id()
            plan = plan_kills(fetch_clients(client, params['types']), params, idle_longer_than, own_id)
            current = {}
            if plan and not module.check_mode:
                ids = [entry['id'] for entry in plan.actions]
                current = dict((row['id'], row) for row in
                               (normalise(row, '') for row in client.client_list(client_id=ids)))
            plan.carry_out(killer(client, current), module.check_mode)
        finally:
            client.close()

    summary = plan_summary(plan, ('kill', 'killed'), 'idle clients', module.check_mode, 'max_clients')
    module.exit_json(**plan.result(summary, module.check_mode, killed=len(plan.done)))


if __name__ == '__main__':
    main()
