# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.oncall.runbooks.plugins.filter.duration import duration_seconds


@pytest.mark.parametrize('value, seconds', [('90s', 90), ('10m', 600), ('1h30m', 5400), ('2d', 172800), (45, 45), ('0', 0)])
def test_durations_read_as_the_modules_read_them(value, seconds):
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize('value', ['-5m', 'soon', '', None, True])
def test_a_bad_duration_fails_naming_the_variable(value):
    with pytest.raises(AnsibleFilterError, match='^docker_rollback_window: '):
        duration_seconds(value, 'docker_rollback_window')
