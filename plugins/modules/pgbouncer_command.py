#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: pgbouncer_command
short_description: Pause, resume, reconnect or kill PgBouncer's databases, or reload its configuration
version_added: 0.1.0
description:
  - Runs one of PgBouncer's admin console commands, for one database or for every database
    PgBouncer serves, the way the runbooks do by hand on the console during a database
    failover, a restart of PostgreSQL or a flood of clients.
  - O(command=pause) (C(PAUSE db)) lets the transactions in flight finish, closes the server
    connections and makes new client queries wait, without errors, until C(RESUME). It blocks
    until every server connection is released, so it is bounded by O(pause_timeout).
  - O(command=resume) (C(RESUME db)) undoes a pause or a kill.
  - O(command=reconnect) (C(RECONNECT db)) closes every server connection once it is released,
    so that the next queries connect again (after a failover, or a change of C(host) in the
    configuration). Clients are not disconnected.
  - O(command=kill) (C(KILL db)) drops every client and server connection of the database at
    once. PgBouncer 1.18 then leaves the database paused (new clients wait until C(RESUME)),
    so the module resumes it afterwards unless O(resume_after_kill=false).
  - O(command=reload) (C(RELOAD)) re-reads PgBouncer's configuration file and its C(auth_file).
  - Computes a plan first, one action per database, and carries it out unless in check mode.
    A check-mode run returns exactly the actions of the real run, with C(done=false).
  - Idempotent where PgBouncer shows the state. Pausing a database that is already paused
    and resuming one that is not paused do nothing and report C(changed=false).
    O(command=reconnect), O(command=kill) and O(command=reload) always report a change,
    because nothing shows whether they are still needed.
author:
  - oncall.runbooks maintainers (@oncall-runbooks)
extends_documentation_fragment:
  - oncall.runbooks.pgbouncer
attributes:
  check_mode:
    support: full
    description: Reads PgBouncer's state and returns the actions the real run would carry out, changing nothing.
  diff_mode:
    support: none
    description: RV(actions) already say what changes; there is no file or object to compare.
options:
  command:
    description:
      - The console command to run.
    type: str
    required: true
    choices: [ pause, resume, reconnect, kill, reload ]
  database:
    description:
      - The PgBouncer database (a name in its C([databases]) section) to act on.
      - When omitted, every database that C(SHOW DATABASES) lists is acted on, one after the
        other, except the admin console itself.
      - A name that PgBouncer does not serve fails the task before anything is done, listing
        those it does.
      - Must be omitted for O(command=reload), which applies to the whole of PgBouncer.
    type: str
  pause_timeout:
    description:
      - How long C(PAUSE) may wait, per database, for the server connections to be released
        (transactions to finish, in transaction pooling).
      - When the time is up the task fails, naming the database. The database is then resumed,
        so that a pause that did not complete does not leave clients waiting.
      - A duration such as C(30s) or C(2m), or a number of seconds; more than zero.
    type: raw
    default: 30s
  resume_after_kill:
    description:
      - After O(command=kill), resume the database so that new clients are served again.
      - A database that was already paused before the kill stays paused.
    type: bool
    default: true
notes:
  - The O(login_user) must be one of PgBouncer's C(admin_users).
  - Databases are paused one by one with C(PAUSE db), so that C(SHOW DATABASES) shows them as
    paused and a second run knows there is nothing to do. A bare C(PAUSE) typed on the console
    (everything at once) is not visible that way in PgBouncer 1.18 and is not undone by
    O(command=resume); type C(RESUME) on the console for it.
seealso:
  - module: oncall.runbooks.pgbouncer_info
    description: See which pools have clients waiting and which databases are paused.
  - name: PgBouncer admin console commands
    description: What each command does, in PgBouncer's own words.
    link: https://www.pgbouncer.org/usage.html#process-controlling-commands
'''

EXAMPLES = r'''
- name: Pause the application's database before PostgreSQL's maintenance restart
  oncall.runbooks.pgbouncer_command:
    login_host: pgbouncer.internal
    login_user: pgbouncer_admin
    login_password: "{{ vault_pgbouncer_password }}"
    command: pause
    database: linkflow
    pause_timeout: 1m

- name: Connection options set once for every PgBouncer module
  module_defaults:
    group/oncall.runbooks.pgbouncer:
      login_host: pgbouncer.internal
      login_user: pgbouncer_admin
      login_password: "{{ vault_pgbouncer_password }}"
  block:
    - name: Resume every paused database
      oncall.runbooks.pgbouncer_command:
        command: resume

    - name: After a failover, make every pool connect to the new primary
      oncall.runbooks.pgbouncer_command:
        command: reconnect

    - name: Drop a stuck database's connections, and serve new clients at once
      oncall.runbooks.pgbouncer_command:
        command: kill
        database: linkflow
      register: killed

    - name: Re-read pgbouncer.ini and the auth_file
      oncall.runbooks.pgbouncer_command:
        command: reload
'''

RETURN = r'''
actions:
  description: One entry per database acted on (or, for O(command=reload), one for the configuration), in check mode too.
  returned: success, and when an action failed
  type: list
  elements: dict
  contains:
    target:
      description: What is acted on (C(database linkflow), C(configuration)).
      type: str
    action:
      description: The command (C(pause), C(resume), C(reconnect), C(kill), C(reload)).
      type: str
    reason:
      description: Why, and what it does to the clients.
      type: str
    done:
      description: Whether it was carried out; always false in check mode.
      type: bool
    database:
      description: The PgBouncer database, or null for O(command=reload).
      type: str
    resume_after:
      description: For O(command=kill), whether the database is resumed after the kill.
      type: bool
      returned: when O(command=kill)
    note:
      description: Why an action turned out to be unneeded when carried out (the state changed meanwhile).
      type: str
      returned: when an action was not needed after all
    error:
      description: Why the action failed, in one line. The task fails when any action does.
      type: str
      returned: when an action failed
  sample:
    - {target: database linkflow, action: pause, reason: "not paused; PAUSE waits for its 3 server connections", done: true, database: linkflow}
summary:
  description: One line for humans and the timeline.
  returned: success, and when an action failed
  type: str
  sample: "paused linkflow"
candidates:
  description: Number of actions planned.
  returned: success, and when an action failed
  type: int
  sample: 1
left_out:
  description: Always 0; there is no cap on the number of databases.
  returned: success, and when an action failed
  type: int
  sample: 0
command:
  description: The command that was run (or would have been, in check mode).
  returned: success, and when an action failed
  type: str
  sample: pause
unchanged:
  description: The databases that needed nothing (already paused for O(command=pause), not paused for O(command=resume)).
  returned: success, and when an action failed
  type: list
  elements: str
  sample: []
paused_databases:
  description: The databases that C(SHOW DATABASES) shows paused at the end of the run.
  returned: success, and when an action failed but PgBouncer still answers
  type: list
  elements: str
  sample: [linkflow]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.oncall.runbooks.plugins.module_utils.pgbouncer import (
    ADMIN_DATABASE,
    check_known,
    Console,
    ConsoleTimeout,
    pgbouncer_argument_spec,
    pgbouncer_target,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import Plan, RunbookError, failing_on_error, format_duration, parse_duration

COMMANDS = ('pause', 'resume', 'reconnect', 'kill', 'reload')
PAST = dict(pause='paused', resume='resumed', reconnect='reconnected', kill='killed', reload='reloaded')


def check_input(params):
    """Everything that can be refused without asking PgBouncer."""
    pause_timeout = parse_duration(params['pause_timeout'], 'pause_timeout')
    if pause_timeout <= 0:
        raise RunbookError('pause_timeout must be more than zero, got %r' % params['pause_timeout'])
    if params['command'] == 'reload' and params['database'] is not None:
        raise RunbookError('database: reload re-reads the configuration of the whole of PgBouncer; omit database')
    if params['database'] == ADMIN_DATABASE:
        raise RunbookError('database: %r is the admin console itself; PgBouncer cannot %s it' % (ADMIN_DATABASE, params['command']))
    return pause_timeout


def build_plan(command, databases, database, resume_after_kill, target):
    """The actions for ``databases`` (SHOW DATABASES rows); returns (plan, unchanged names)."""
    plan = Plan()
    if command == 'reload':
        plan.add('configuration', 'reload', 're-reads the configuration file and auth_file; always a change', database=None)
        return plan, []
    check_known([database] if database is not None else [], [row['name'] for row in databases], 'database', target)
    unchanged = []
    for row in sorted(databases, key=lambda item: item['name']):
        name = row['name']
        if database is not None and name != database:
            continue
        servers = row.get('current_connections', 0)
        label = 'database %s' % name
        if command == 'pause':
            if row['paused']:
                unchanged.append(name)
                continue
            plan.add(label, command, 'not paused; PAUSE waits for its %d server connections, then new queries wait' % servers, database=name)
        elif command == 'resume':
            if not row['paused']:
                unchanged.append(name)
                continue
            plan.add(label, command, 'paused; its waiting clients are served again', database=name)
        elif command == 'reconnect':
            plan.add(label, command, 'closes its %d server connections once released; always a change' % servers, database=name)
        else:
            resume_after = resume_after_kill and not row['paused']
            reason = 'drops all its client and %d server connections at once; always a change' % servers
            if resume_after:
                reason += '; resumed afterwards'
            elif row['paused']:
                reason += '; left paused, as it was before'
            else:
                reason += '; left paused (KILL pauses it and resume_after_kill is false)'
            plan.add(label, command, reason, database=name, resume_after=resume_after)
    return plan, unchanged


def summarize(plan, command, unchanged, check_mode):
    """One line: what was (or would be) done, what needed nothing, what failed."""
    parts = []
    if plan:
        acted = plan.actions if check_mode else plan.done
        names = [entry['database'] or "PgBouncer's configuration" for entry in acted]
        parts.append('%s %s' % ('would ' + command if check_mode else PAST[command], ', '.join(names) or 'nothing'))
    else:
        parts.append('nothing to do')
    if unchanged:
        parts.append('%s %s' % ('already paused:' if command == 'pause' else 'not paused:', ', '.join(unchanged)))
    if plan.failed:
        parts.append('%d failed: %s' % (len(plan.failed), plan.failed[0]['error']))
    return '; '.join(parts)


def executor(console, pause_timeout):
    """Carry out one action on the console."""

    def execute(entry):
        command, database = entry['action'], entry['database']
        if command == 'pause':
            try:
                console.command('PAUSE', database, timeout=pause_timeout)
            except ConsoleTimeout:
                # A PAUSE cut short leaves the database paused with queries in flight: undo it.
                console.command('RESUME', database)
                raise RunbookError('PAUSE %s did not complete within %s: its server connections are still in use '
                                   '(transactions in flight); resumed it so that no client is left waiting'
                                   % (database, format_duration(pause_timeout)))
        elif command == 'resume':
            try:
                console.command('RESUME', database)
            except Exception as exc:  # pylint: disable=broad-except
                if 'is not paused' not in str(exc):
                    raise
                entry['note'] = 'no longer paused when the plan was carried out'
                return False
        elif command == 'kill':
            console.command('KILL', database)
            if entry['resume_after']:
                console.command('RESUME', database)
        else:
            console.command(command.upper(), database)
        return True

    return execute


def main():
    argument_spec = pgbouncer_argument_spec()
    argument_spec.update(
        command=dict(type='str', required=True, choices=list(COMMANDS)),
        database=dict(type='str'),
        pause_timeout=dict(type='raw', default='30s'),
        resume_after_kill=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    target = pgbouncer_target(params)

    with failing_on_error(module, target):
        pause_timeout = check_input(params)
        console = Console(module, 'pgbouncer_command')
        try:
            plan, unchanged = build_plan(params['command'], console.databases(), params['database'], params['resume_after_kill'], target)
            plan.carry_out(executor(console, pause_timeout), module.check_mode)
            try:
                paused = dict(paused_databases=[row['name'] for row in console.databases() if row['paused']])
            except Exception:  # pylint: disable=broad-except
                if not plan.failed:
                    raise
                paused = {}  # PgBouncer went away mid-run: the failed actions already say so
        finally:
            console.close()

    summary = summarize(plan, params['command'], unchanged, module.check_mode)
    result = plan.result(summary, module.check_mode, command=params['command'], unchanged=unchanged, **paused)
    if plan.failed:
        module.fail_json(msg='%s: %s' % (target, summary), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
