# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Searching log lines for patterns, shared by the modules that read container and pod logs."""

from __future__ import annotations

import re


def compile_patterns(module, patterns):
    """The regular expressions of ``patterns`` compiled, in order; a bad one fails naming it, before anything runs."""
    compiled = []
    for pattern in patterns or []:
        if not pattern:
            module.fail_json(msg='patterns: an empty pattern would match every line')
        try:
            compiled.append((pattern, re.compile(pattern)))
        except re.error as exc:
            module.fail_json(msg='patterns: %r is not a regular expression: %s' % (pattern, exc))
    return compiled


def match_lines(compiled, lines, max_matches):
    """{pattern: {'count': n, 'lines': [first max_matches matching lines], 'truncated': bool}}.

    Every matching line is counted; only the first ``max_matches`` of each pattern are kept,
    so that a log full of one error does not flood the result.
    """
    result = {}
    for pattern, regex in compiled:
        count, kept = 0, []
        for line in lines:
            text = line['text'] if isinstance(line, dict) else line
            if regex.search(text):
                count += 1
                if len(kept) < max_matches:
                    kept.append(line)
        result[pattern] = {'count': count, 'lines': kept, 'truncated': count > len(kept)}
    return result
