# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment (meta/execution-environment.yml) covers every import of the collection's plugins.

No lab, no container engine and no network: the imports of plugins/ are read with ``ast`` and checked
against requirements.txt (both ways); ``ansible-builder create`` writes the build context of a copy of the
checkout with every socket refused; the collection copied into that context is loaded by ansible-core the
way the image's Containerfile lays it out; and an EE that installs the collection from Galaxy or git
(ansible-builder's introspection of installed collections) finds the same requirements.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
EE_FILE = REPO / 'meta' / 'execution-environment.yml'
BIN = Path(sys.executable).parent

# Top-level names that are not third-party libraries: ansible-core and the collection itself.
NOT_THIRD_PARTY = {'__future__', 'ansible', 'ansible_collections'}

# Import name -> distributions, for libraries that are not installed where the test runs
# (importlib.metadata.packages_distributions() answers for the installed ones).
KNOWN_DISTRIBUTIONS = {
    'psycopg2': ['psycopg2-binary', 'psycopg2'],
    'grpc': ['grpcio'],
    'grpc_health': ['grpcio-health-checking'],
    'grpc_reflection': ['grpcio-reflection'],
    'kubernetes': ['kubernetes'],
    'docker': ['docker'],
    'redis': ['redis'],
    'urllib3': ['urllib3'],
    'yaml': ['PyYAML'],
}

# Requirements that no plugin imports, each with the reason it is in requirements.txt anyway.
UNIMPORTED_REQUIREMENTS = {}

# A sitecustomize that refuses every network connection and name lookup of the process it is loaded
# in (and of its Python children: PYTHONPATH is inherited), and writes down each attempt. Unix sockets
# and lookups of numeric loopback addresses pass: neither leaves the machine.
NETWORK_GUARD = '''\
import os
import socket

_LOG = os.environ['NETWORK_GUARD_LOG']
_LOOPBACK = ('127.0.0.1', '::1')
_getaddrinfo = socket.getaddrinfo


def _refuse(what, detail):
    with open(_LOG, 'a') as log:
        log.write('%s %r\\n' % (what, detail))
    raise OSError('network use refused by the test: %s %r' % (what, detail))


def _connect(self, address):
    if self.family == getattr(socket, 'AF_UNIX', None):
        return _unix_connect(self, address)
    _refuse('connect', address)


def _connect_ex(self, address):
    _connect(self, address)
    return 0


def _guarded_getaddrinfo(host, *args, **kwargs):
    # Numeric loopback needs no resolver (ansible-core calls it at import time to test a patch of its own).
    if host in _LOOPBACK:
        return _getaddrinfo(host, *args, **kwargs)
    _refuse('getaddrinfo', host)


_unix_connect = socket.socket.connect
socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
'''


def third_party_imports(plugins_dir):
    """{top-level module name: [files importing it]} for every .py under plugins_dir.

    Every import statement counts, wherever it is: module level, functions, and the
    ``try: import x / except ImportError`` guards the modules use for optional libraries.
    """
    found = {}
    for path in sorted(Path(plugins_dir).rglob('*.py')):
        if '__pycache__' in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if top in sys.stdlib_module_names or top in NOT_THIRD_PARTY:
                    continue
                found.setdefault(top, [])
                relative = str(path.relative_to(plugins_dir))
                if relative not in found[top]:
                    found[top].append(relative)
    return found


def requirement_names(requirements_file):
    """{canonical distribution name: requirement line} of a pip requirements file."""
    names = {}
    for raw in Path(requirements_file).read_text(encoding='utf-8').splitlines():
        line = raw.split(' #', 1)[0].strip()
        if not line or line.startswith('#'):
            continue
        assert not line.startswith('-'), 'pip options are not expected in %s: %r' % (requirements_file, raw)
        names[canonicalize_name(Requirement(line).name)] = line
    return names


def distributions(import_name):
    """Canonical names of the distributions that provide a top-level import name."""
    installed = importlib.metadata.packages_distributions().get(import_name, [])
    return {canonicalize_name(name) for name in list(installed) + KNOWN_DISTRIBUTIONS.get(import_name, [])}


def uncovered_imports(plugins_dir, requirements_file):
    """Imports no requirement provides: {name: files}."""
    required = requirement_names(requirements_file)
    return {name: files for name, files in third_party_imports(plugins_dir).items()
            if not distributions(name) & set(required)}


def unimported_requirements(plugins_dir, requirements_file, allowed=None):
    """Requirements no plugin imports and no allow-list entry explains."""
    allowed = UNIMPORTED_REQUIREMENTS if allowed is None else allowed
    provided = set()
    for name in third_party_imports(plugins_dir):
        provided |= distributions(name)
    return sorted(name for name in requirement_names(requirements_file)
                  if name not in provided and name not in {canonicalize_name(a) for a in allowed})


def stage_checkout(destination):
    """A copy of what a checkout of the repository holds (what AWX's project sync or a CI job sees):
    tracked files and new files git does not ignore, symlinks kept; no .venv, .lab or .build."""
    destination.mkdir(parents=True)
    listing = subprocess.run(['git', '-C', str(REPO), 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                             capture_output=True, check=True).stdout.decode()
    for relative in filter(None, listing.split('\0')):
        source = REPO / relative
        target = destination / relative
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return destination


def offline_environment(tmp_path):
    """The environment of a child that must not use the network: sockets refused and logged,
    every proxy and package index pointed at a closed loopback port."""
    guard_dir = tmp_path / 'network-guard'
    guard_dir.mkdir(exist_ok=True)
    (guard_dir / 'sitecustomize.py').write_text(NETWORK_GUARD)
    log = tmp_path / 'network-attempts.log'
    (guard_dir / 'ansible.cfg').write_text('[defaults]\n')  # not the checkout's: no .build/collections link
    environment = {key: value for key, value in os.environ.items()
                   if not key.lower().endswith('_proxy') and not key.startswith(('ANSIBLE_', 'PIP_'))}
    closed = 'http://127.0.0.1:9'
    environment.update(
        PATH='%s:%s' % (BIN, os.environ.get('PATH', '')),
        PYTHONPATH=str(guard_dir),
        NETWORK_GUARD_LOG=str(log),
        PIP_INDEX_URL=closed + '/simple',
        PIP_NO_INDEX='1',
        http_proxy=closed, https_proxy=closed, HTTP_PROXY=closed, HTTPS_PROXY=closed, no_proxy='', NO_PROXY='',
        ANSIBLE_CONFIG=str(guard_dir / 'ansible.cfg'),
        ANSIBLE_GALAXY_SERVER='http://127.0.0.1:9/api/',
        HOME=str(tmp_path / 'home'),
    )
    return environment, log


def ee_definition():
    return yaml.safe_load(EE_FILE.read_text())


@pytest.fixture(scope='module')
def checkout(tmp_path_factory):
    return stage_checkout(tmp_path_factory.mktemp('checkout') / 'oncall.runbooks')


@pytest.fixture(scope='module')
def context(checkout, tmp_path_factory):
    """`ansible-builder create` of the checkout copy, offline: (context dir, process, network attempts log)."""
    work = tmp_path_factory.mktemp('ee')
    environment, log = offline_environment(work)
    context_dir = work / 'context'
    process = subprocess.run(
        [str(BIN / 'ansible-builder'), 'create', '-f', 'meta/execution-environment.yml', '-c', str(context_dir),
         '--output-filename', 'Containerfile', '-v', '3'],
        cwd=str(checkout), env=environment, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL)
    return context_dir, process, log


# ---------------------------------------------------------------- requirements.txt <-> imports


def test_every_third_party_import_of_the_plugins_is_a_requirement():
    imports = third_party_imports(REPO / 'plugins')
    # The scan sees the libraries the modules are known to use (a scan that finds nothing passes nothing).
    assert {'psycopg2', 'redis', 'kubernetes', 'docker', 'grpc'} <= set(imports), imports
    # Imports guarded by try/except ImportError count: grpc is only imported that way.
    assert imports['grpc'] == ['module_utils/grpc_probe.py']
    assert uncovered_imports(REPO / 'plugins', REPO / 'requirements.txt') == {}


def test_every_requirement_is_imported_by_a_plugin():
    assert unimported_requirements(REPO / 'plugins', REPO / 'requirements.txt') == []
    # The allow-list only explains requirements that are really there.
    assert set(UNIMPORTED_REQUIREMENTS) <= set(requirement_names(REPO / 'requirements.txt'))


def test_an_import_no_requirement_provides_is_reported(tmp_path):
    plugins = tmp_path / 'plugins'
    shutil.copytree(REPO / 'plugins', plugins, ignore=shutil.ignore_patterns('__pycache__'))
    (plugins / 'modules' / 'fake_probe.py').write_text(
        'from __future__ import annotations\n'
        'import json\n'
        'from ansible.module_utils.basic import AnsibleModule\n'
        'try:\n'
        '    import oncall_unknown_library.client\n'
        'except ImportError:\n'
        '    oncall_unknown_library = None\n'
        '\n'
        'def main():\n'
        '    from yaml import safe_load\n'
    )
    # An unknown library (guarded) and an installed one missing from requirements.txt (PyYAML), nothing else.
    assert uncovered_imports(plugins, REPO / 'requirements.txt') == {
        'oncall_unknown_library': ['modules/fake_probe.py'],
        'yaml': ['modules/fake_probe.py'],
    }


def test_a_requirement_nothing_imports_is_reported(tmp_path):
    requirements = tmp_path / 'requirements.txt'
    requirements.write_text((REPO / 'requirements.txt').read_text() + 'requests>=2.31  # nobody imports it\n')
    assert unimported_requirements(REPO / 'plugins', requirements) == ['requests']
    assert unimported_requirements(REPO / 'plugins', requirements, allowed={'requests': 'a reason'}) == []


def test_the_ee_pins_the_ansible_core_the_tests_run():
    dependencies = ee_definition()['dependencies']
    core = Requirement(dependencies['ansible_core']['package_pip'])
    runner = Requirement(dependencies['ansible_runner']['package_pip'])
    assert canonicalize_name(core.name) == 'ansible-core' and canonicalize_name(runner.name) == 'ansible-runner'
    installed = Version(importlib.metadata.version('ansible-core'))
    assert core.specifier.contains(installed), (str(core), str(installed))
    assert not core.specifier.contains(Version('%d.%d.0' % (installed.major, installed.minor + 1)))
    assert runner.specifier.contains(Version('2.4.0')) and not runner.specifier.contains(Version('2.5.0'))
    # No Galaxy collections: nothing to fetch at build time.
    assert 'galaxy' not in dependencies


# ---------------------------------------------------------------- ansible-builder create, offline


def test_the_network_guard_refuses_sockets(tmp_path):
    """The guard the build runs under does stop a child from reaching the network (else its silence proves nothing)."""
    environment, log = offline_environment(tmp_path)
    probes = {
        'getaddrinfo': 'import socket; socket.getaddrinfo("example.org", 443)',
        'connect': 'import socket; socket.create_connection(("127.0.0.1", 9), timeout=5)',
    }
    for what, code in probes.items():
        probe = subprocess.run([sys.executable, '-c', code], env=environment, capture_output=True, text=True,
                               timeout=60, check=False)
        assert probe.returncode != 0, what
        assert 'network use refused by the test: %s' % what in probe.stderr, probe.stderr
    assert [line.split()[0] for line in log.read_text().splitlines()] == ['getaddrinfo', 'connect']


def test_ansible_builder_creates_the_context_offline(context, checkout):
    context_dir, process, log = context
    assert process.returncode == 0, process.stdout + process.stderr
    assert not log.exists(), 'ansible-builder create used the network:\n%s' % log.read_text()
    build = context_dir / '_build'
    for name in ('requirements.txt', 'bindep.txt'):
        # Real files with the content of the collection root's (a copied symlink would dangle in the context).
        assert not (build / name).is_symlink() and (build / name).is_file(), name
        assert (build / name).read_text() == (REPO / name).read_text() == (REPO / 'meta' / name).read_text()
    assert not (build / 'requirements.yml').exists()  # no Galaxy requirements

    containerfile = (context_dir / 'Containerfile').read_text()
    definition = ee_definition()
    assert 'ARG EE_BASE_IMAGE="%s"' % definition['images']['base_image']['name'] in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', containerfile, re.M).group(1).split()
    assert refs == [definition['dependencies']['ansible_core']['package_pip'],
                    definition['dependencies']['ansible_runner']['package_pip']]
    assert '# Galaxy build stage' not in containerfile
    assert 'COPY _build/requirements.txt requirements.txt' in containerfile
    assert 'COPY _build/bindep.txt bindep.txt' in containerfile
    # The collection goes where ansible-core looks by default, after the dependencies.
    final_stage = containerfile.split('# Final build stage', 1)[1]
    assert 'COPY _build/collection/ /usr/share/ansible/collections/ansible_collections/oncall/runbooks/' in final_stage


def test_the_context_holds_the_collection(context, checkout):
    context_dir, process, _log = context
    assert process.returncode == 0, process.stdout + process.stderr
    collection = context_dir / '_build' / 'collection'
    expected = [path for top in ('plugins', 'roles', 'playbooks') for path in sorted((checkout / top).rglob('*'))
                if path.is_file()] + [checkout / 'galaxy.yml', checkout / 'meta' / 'runtime.yml']
    assert len(expected) > 50
    missing = [str(path.relative_to(checkout)) for path in expected if not (collection / path.relative_to(checkout)).is_file()]
    assert missing == []
    changed = [str(path.relative_to(checkout)) for path in expected
               if (collection / path.relative_to(checkout)).read_bytes() != path.read_bytes()]
    assert changed == []
    # Nothing of the development tree: no lab, tests, virtualenv or build output.
    top_level = ['LICENSE', 'LICENSES', 'README.md', 'galaxy.yml', 'meta', 'playbooks', 'plugins', 'roles']
    assert sorted(p.name for p in collection.iterdir()) == top_level


def test_ansible_core_loads_the_collection_as_the_image_lays_it_out(context, tmp_path):
    context_dir, process, _log = context
    assert process.returncode == 0, process.stdout + process.stderr
    collections = tmp_path / 'collections'
    (collections / 'ansible_collections' / 'oncall').mkdir(parents=True)
    shutil.copytree(context_dir / '_build' / 'collection', collections / 'ansible_collections' / 'oncall' / 'runbooks')
    environment = offline_environment(tmp_path)[0]
    environment['ANSIBLE_COLLECTIONS_PATH'] = str(collections)
    listing = subprocess.run([str(BIN / 'ansible-doc'), '-t', 'module', '-l', 'oncall.runbooks'], env=environment,
                             capture_output=True, text=True, timeout=120, check=False)
    assert listing.returncode == 0, listing.stderr
    listed = {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}
    modules = {'oncall.runbooks.' + path.stem for path in (REPO / 'plugins' / 'modules').glob('*.py')}
    assert modules and listed == modules
    # The Containerfile's own check (its last RUN of the collection) passes on this layout.
    check = next(step for step in ee_definition()['additional_build_steps']['append_final']
                 if step.startswith('RUN ansible-doc'))
    shell = subprocess.run(['bash', '-o', 'pipefail', '-c', check[len('RUN '):]], env=environment,
                           capture_output=True, text=True, timeout=120, check=False)
    assert shell.returncode == 0, shell.stderr


def test_an_ee_installing_the_collection_finds_its_requirements(checkout, tmp_path):
    """ansible-builder's introspection (what a downstream EE runs on the collections it installs from
    Galaxy or git) reads meta/execution-environment.yml from the collection root: same files."""
    environment, log = offline_environment(tmp_path)
    built = subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path)],
                           cwd=str(checkout), env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next(tmp_path.glob('oncall-runbooks-*.tar.gz'))
    collections = tmp_path / 'installed'
    environment['ANSIBLE_COLLECTIONS_PATH'] = str(collections)
    installed = subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(collections),
                                str(tarball)], env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    import ansible_builder
    introspect = Path(ansible_builder.__file__).parent / '_target_scripts' / 'introspect.py'
    found = subprocess.run([sys.executable, str(introspect), 'introspect', str(collections)], env=environment,
                           capture_output=True, text=True, timeout=120, check=False)
    assert found.returncode == 0, found.stdout + found.stderr
    data = yaml.safe_load(found.stdout)
    suffix = '  # from collection oncall.runbooks'
    assert [line[:-len(suffix)] for line in data['python']] == list(requirement_names(REPO / 'requirements.txt').values())
    bindep = [line for line in (REPO / 'bindep.txt').read_text().splitlines() if line.strip() and not line.startswith('#')]
    assert [line[:-len(suffix)] for line in data['system']] == bindep
    assert not log.exists(), log.read_text()
