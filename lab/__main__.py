"""python -m lab up | down | status | inject SCENARIO | clear SCENARIO | check SCENARIO | scenarios"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .core import REPO, Lab, LabError


def ensure_dependencies():
    """Run under the project's virtualenv when this interpreter lacks the drivers."""
    try:
        import docker  # noqa: F401
        import psycopg2  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        venv_python = REPO / '.venv' / 'bin' / 'python'
        if venv_python.exists() and os.path.realpath(sys.executable) != os.path.realpath(venv_python):
            os.execv(str(venv_python), [str(venv_python), '-m', 'lab'] + sys.argv[1:])
        sys.exit('lab: %s; run "make venv" (or pip install -r requirements.txt) first' % exc)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab', description='Throwaway local services for oncall.runbooks.')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('up', help='start every service (idempotent) and write .lab/inventory.yml')
    sub.add_parser('down', help='stop everything and delete the lab')
    status = sub.add_parser('status', help='what runs where, and which scenarios are injected')
    status.add_argument('--json', action='store_true')
    sub.add_parser('scenarios', help='list the scenarios')
    for verb, text in (('inject', 'cause an incident'), ('clear', 'undo an incident'),
                       ('check', 'exit 0 if the incident is present, 1 if not')):
        command = sub.add_parser(verb, help=text)
        command.add_argument('scenario')
    args = parser.parse_args(argv)

    ensure_dependencies()
    from . import control
    try:
        if args.command == 'status':
            info = control.status(Lab())
            print(json.dumps(info, indent=2) if args.json else control.render_status(info))
            return 0 if info['up'] else 3
        return control.COMMANDS[args.command](Lab(), *([args.scenario] if hasattr(args, 'scenario') else []))
    except LabError as exc:
        print('lab: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
