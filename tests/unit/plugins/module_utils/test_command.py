# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.command import (
    cap_output,
    command_argument_spec,
    command_argv,
    command_limits,
    exec_result,
    runs_in_check_mode,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError


class FakeModule(object):
    """Just what the helpers read: params (with the spec's defaults) and check_mode."""

    def __init__(self, check_mode=False, **params):
        self.params = dict((name, spec.get('default')) for name, spec in command_argument_spec().items())
        self.params.update(params)
        self.check_mode = check_mode


@pytest.mark.parametrize('params, argv', [
    ({'command': 'php artisan cache:clear'}, ['php', 'artisan', 'cache:clear']),
    ({'command': '''psql -Atc "select count(*) from pg_stat_activity"'''}, ['psql', '-Atc', 'select count(*) from pg_stat_activity']),
    ({'command': "sh -c 'echo $HOME; exit 3'"}, ['sh', '-c', 'echo $HOME; exit 3']),
    ({'argv': ['echo', 'a b', '$HOME']}, ['echo', 'a b', '$HOME']),
])
def test_command_argv(params, argv):
    assert command_argv(FakeModule(**params)) == argv


@pytest.mark.parametrize('params, message', [
    ({}, 'command: required (or argv)'),
    ({'command': '  '}, 'command: must not be empty'),
    ({'command': "echo 'open"}, 'command: cannot be split into arguments (No closing quotation)'),
    ({'argv': []}, 'argv: must not be empty'),
    ({'argv': ['']}, 'argv: must not be empty'),
    ({'command': 'true', 'argv': ['true']}, 'command and argv: give one of them, not both'),
])
def test_command_argv_refuses_bad_input_naming_the_option(params, message):
    with pytest.raises(RunbookError, match=message.replace('(', r'\(').replace(')', r'\)')):
        command_argv(FakeModule(**params))


def test_command_limits():
    assert command_limits(FakeModule()) == (60.0, 65536)
    assert command_limits(FakeModule(command_timeout='2m', max_output=10)) == (120.0, 10)
    for params, message in (({'command_timeout': 0}, 'command_timeout must be more than 0'),
                            ({'command_timeout': 'soon'}, 'command_timeout: .soon. is not a duration'),
                            ({'max_output': 0}, 'max_output must be a whole number')):
        with pytest.raises(RunbookError, match=message):
            command_limits(FakeModule(**params))


def test_cap_output_keeps_the_end():
    assert cap_output('short', 100) == ('short', 0)
    assert cap_output(b'0123456789', 4) == ('6789', 6)
    assert cap_output(None, 4) == ('', 0)
    # A character cut in half is replaced, never an error.
    text, cut = cap_output('aé', 1)
    assert cut == 2 and text == '\ufffd'


def test_exec_result_shape():
    result = exec_result(3, b'out\n', 'err\nmore\n', limit=100, argv=['sh', '-c', 'exit 3'], duration=0.12345)
    assert result == {
        'rc': 3, 'stdout': 'out\n', 'stderr': 'err\nmore\n', 'stdout_lines': ['out'], 'stderr_lines': ['err', 'more'],
        'output_truncated': False, 'truncated_bytes': 0, 'timed_out': False, 'ran': True,
        'argv': ['sh', '-c', 'exit 3'], 'cmd': "sh -c 'exit 3'", 'duration_seconds': 0.123,
    }
    assert exec_result(None, '', '', ran=False)['ran'] is False


def test_only_read_only_commands_run_in_check_mode():
    assert runs_in_check_mode(FakeModule()) is True
    assert runs_in_check_mode(FakeModule(check_mode=True)) is False
    assert runs_in_check_mode(FakeModule(check_mode=True, read_only=True)) is True
