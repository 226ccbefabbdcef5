"""Offline stand-in for the get-pip script that ansible-test downloads.

ansible-test bootstraps pip into the virtual environments it creates by running a
get-pip script fetched from a host these machines cannot reach. This script does the
same job with the pip wheel that ships inside CPython's ensurepip, then lets that pip
install the version ansible-test asked for from the package index. `make` copies it to
~/.ansible/test/cache/get_pip_24_2.py.
"""

import glob
import os
import sys

import ensurepip


def pip_wheels():
    """The pip wheel that this Python's ensurepip would install, wherever the distribution keeps it."""
    here = os.path.join(os.path.dirname(ensurepip.__file__), '_bundled')
    found = []
    try:
        package = ensurepip._get_packages()['pip']  # pylint: disable=protected-access
        found.append(package.wheel_path or os.path.join(here, package.wheel_name))
    except (AttributeError, KeyError, TypeError):
        pass
    # Debian and Ubuntu keep the wheels outside the standard library (package python3-pip-whl).
    found += glob.glob(os.path.join(here, 'pip-*.whl')) + glob.glob('/usr/share/python-wheels/pip-*.whl')
    return [path for path in found if path and os.path.exists(path)]


def main():
    wheels = pip_wheels()
    if not wheels:
        sys.exit('no pip wheel found for ensurepip; install python3-venv (Debian) or a Python that bundles pip')
    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main

    # get-pip's own flags; pip does not know them.
    args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
    sys.exit(pip_main(['install', '--upgrade', '--force-reinstall'] + (args or ['pip'])))


if __name__ == '__main__':
    main()
