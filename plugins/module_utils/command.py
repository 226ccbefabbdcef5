# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a command inside something (a container, a pod): the options and the result.

``container_exec`` and ``k8s_exec`` share the way a command is given (``command``, a
string split like a shell would, or ``argv``, a list), whether it is a read-only diagnostic
that may run in check mode, how long it may run, how much of its output is kept, and the
shape of the result, so that a playbook can move from Docker to Kubernetes unchanged.
"""

from __future__ import annotations

import shlex

from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import parse_duration, RunbookError

# Output beyond this is cut: a runaway command must not fill the controller's memory or the timeline.
DEFAULT_MAX_OUTPUT = 65536

COMMAND_MUTUALLY_EXCLUSIVE = [('command', 'argv')]
COMMAND_REQUIRED_ONE_OF = [('command', 'argv')]


def command_argument_spec():
    """The options of every exec-like module (connection and target options come from the domain)."""
    return dict(
        command=dict(type='str'),
        argv=dict(type='list', elements='str'),
        read_only=dict(type='bool', default=False),
        allow_failure=dict(type='bool', default=False),
        command_timeout=dict(type='raw', default='60s'),
        max_output=dict(type='int', default=DEFAULT_MAX_OUTPUT),
    )


def command_argv(module):
    """The command as a list of arguments, from O(command) (shell-split, no shell run) or O(argv).

    Raises RunbookError naming the option for an empty or unreadable command.
    """
    params = module.params
    if params.get('command') is not None and params.get('argv') is not None:
        raise RunbookError('command and argv: give one of them, not both')
    if params.get('argv') is not None:
        argv = [str(item) for item in params['argv']]
        if not argv or not argv[0].strip():
            raise RunbookError('argv: must not be empty; the first item is the program to run')
        return argv
    if params.get('command') is None:
        raise RunbookError('command: required (or argv); the command to run')
    try:
        argv = shlex.split(params['command'])
    except ValueError as exc:
        raise RunbookError('command: cannot be split into arguments (%s): %r' % (exc, params['command']))
    if not argv:
        raise RunbookError('command: must not be empty')
    return argv


def command_limits(module):
    """(timeout in seconds, max_output in bytes), validated: bad input fails before anything runs."""
    params = module.params
    timeout = parse_duration(params['command_timeout'], 'command_timeout')
    if timeout <= 0:
        raise RunbookError('command_timeout must be more than 0, got %r' % params['command_timeout'])
    limit = params['max_output']
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise RunbookError('max_output must be a whole number of bytes of at least 1, got %r' % limit)
    return timeout, limit


def runs_in_check_mode(module):
    """Only a command marked O(read_only) runs in check mode; any other is only reported."""
    return not module.check_mode or bool(module.params.get('read_only'))


def cap_output(text, limit):
    """Keep the last ``limit`` bytes of ``text`` (bytes or str): (text, bytes cut).

    The end is kept because that is where a failing command says why.
    """
    if text is None:
        return '', 0
    data = text if isinstance(text, bytes) else str(text).encode('utf-8', 'replace')
    cut = max(len(data) - limit, 0)
    if cut:
        data = data[cut:]
    # A multi-byte character split at the cut is replaced, not an error.
    return data.decode('utf-8', 'replace'), cut


def quoted(argv):
    """The command as one line a human can paste into a shell."""
    return ' '.join(shlex.quote(item) for item in argv)


def exec_result(rc, stdout, stderr, limit=DEFAULT_MAX_OUTPUT, argv=None, timed_out=False, duration=None, ran=True):
    """The result of running a command: rc, stdout, stderr and their lines, output capped at ``limit`` bytes each.

    ``ran=False`` is the check-mode report of a command that was not run (rc is None).
    """
    out, out_cut = cap_output(stdout, limit)
    err, err_cut = cap_output(stderr, limit)
    result = dict(
        rc=rc,
        stdout=out,
        stderr=err,
        stdout_lines=out.splitlines(),
        stderr_lines=err.splitlines(),
        output_truncated=bool(out_cut or err_cut),
        truncated_bytes=out_cut + err_cut,
        timed_out=bool(timed_out),
        ran=bool(ran),
    )
    if argv is not None:
        result['argv'] = list(argv)
        result['cmd'] = quoted(argv)
    if duration is not None:
        result['duration_seconds'] = round(duration, 3)
    return result


def finish(module, result, target, timeout=None):
    """Exit with ``result``: a timeout always fails, a non-zero rc fails unless O(allow_failure)."""
    if result.get('timed_out'):
        if 'killed' not in result:
            fate = ''
        elif result['killed']:
            fate = ' and was killed'
        else:
            fate = ' and could not be killed: it may still be running'
        module.fail_json(msg='%s: %s did not finish within %s%s' % (
            target, result.get('cmd', 'the command'), ('%gs' % timeout) if timeout is not None else 'the timeout', fate), **result)
    if result.get('ran') and result.get('rc') not in (0, None) and not module.params.get('allow_failure'):
        last = (result['stderr_lines'] or result['stdout_lines'] or [''])[-1].strip()
        said = (': ' + last[:300]) if last else ''
        module.fail_json(msg='%s: %s exited with rc %s%s' % (target, result.get('cmd', 'the command'), result['rc'], said), **result)
    # Ansible counts any result with a non-zero rc as failed unless told otherwise.
    module.exit_json(failed=False, **result)
