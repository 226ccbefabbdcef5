"""Where the lab lives, who runs it, and how its processes are started and stopped."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB_USER = 'oncall-lab'


class LabError(Exception):
    """A lab failure with a message that says what to do."""


def lab_root():
    return Path(os.environ.get('ONCALL_LAB_DIR', REPO / '.lab')).resolve()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def port_open(port, host='127.0.0.1', timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def new_secret():
    return secrets.token_urlsafe(18)


def pid_alive(pid):
    """True for a running process; a zombie that nobody reaped counts as dead."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return True


def stop_pid(pid, timeout=15.0, sig=signal.SIGTERM):
    """Signal a process (and its group when it leads one) and wait until it is gone."""
    if not pid_alive(pid):
        return
    try:
        os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def processes_running(argv_tail, environment):
    """pids of processes whose command line ends with ``argv_tail`` and whose environment holds
    ``environment`` (NAME=value): a scenario's holders, found even if the state file lost them."""
    tail = [part.encode() for part in argv_tail]
    wanted = environment.encode()
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if handle.read().split(b'\0')[-len(tail) - 1:-1] != tail:
                    continue
            with open('/proc/%s/environ' % entry, 'rb') as handle:
                if wanted in handle.read().split(b'\0'):
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def wait_for(predicate, timeout, what, log=None):
    """Poll ``predicate`` until it is true, or fail naming ``what`` with the log's last lines."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        time.sleep(0.2)
    detail = ' (%s)' % last_error if last_error else ''
    raise LabError('%s did not become ready within %ss%s%s' % (what, timeout, detail, log_tail(log)))


def log_tail(log, lines=15):
    if not log or not Path(log).exists():
        return ''
    text = Path(log).read_text(errors='replace').splitlines()[-lines:]
    return '\n--- last lines of %s ---\n%s' % (log, '\n'.join(text))


class Lab(object):
    """The lab's directory and state file; one instance per command."""

    def __init__(self, root=None):
        self.root = Path(root) if root else lab_root()
        self.state_file = self.root / 'state.json'
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    # --- state ---------------------------------------------------------------------
    def save(self):
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        tmp = self.state_file.with_suffix('.tmp')
        tmp.write_text(json.dumps(self.state, indent=2, sort_keys=True))
        os.chmod(tmp, 0o600)
        tmp.replace(self.state_file)

    def section(self, name):
        return self.state.setdefault(name, {})

    # --- places ----------------------------------------------------------------------
    @property
    def short_dir(self):
        """A short path for Unix sockets (their paths are limited to 107 bytes)."""
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:8]
        return Path('/tmp') / ('oncall-lab-' + digest)

    @property
    def data_dir(self):
        """Where unprivileged services keep their files: the lab dir when they can reach it."""
        if self.user_can_traverse(self.root):
            return self.root / 'data'
        return self.short_dir / 'data'

    def user_can_traverse(self, path):
        if os.geteuid() != 0:
            return True
        for parent in [Path(path)] + list(Path(path).parents):
            if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
                return False
        return True

    def service_dir(self, name, short=False, for_user=True):
        """A directory of its own for a service, owned by the user it runs as."""
        base = self.short_dir if short else self.data_dir
        path = base / name
        path.mkdir(parents=True, exist_ok=True)
        for parent in [path] + [p for p in path.parents if str(p).startswith(str(base))]:
            os.chmod(parent, 0o755)
        if for_user:
            self.give_to_user(path)
        return path

    # --- the unprivileged user ---------------------------------------------------------
    @property
    def run_as(self):
        """PostgreSQL and PgBouncer refuse to run as root: use a system user when we are root."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(LAB_USER)
        except KeyError:
            subprocess.run(['useradd', '--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent',
                            '--shell', '/usr/sbin/nologin', LAB_USER], check=True)
        return LAB_USER

    def give_to_user(self, path):
        user = self.run_as
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def write_private(self, path, text):
        """A file only the service's user may read (configs holding passwords)."""
        path = Path(path)
        path.write_text(text)
        os.chmod(path, 0o600)
        self.give_to_user(path)

    # --- processes ---------------------------------------------------------------------
    def spawn(self, argv, log, as_user=True, env=None, cwd=None):
        """Start a detached process that outlives this command; return its pid."""
        user = self.run_as if as_user else None
        log_handle = open(log, 'ab')
        if as_user:
            self.give_to_user(log)
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT,
                start_new_session=True, user=user, group=user, extra_groups=[] if user else None,
                env=env, cwd=cwd or '/')
        finally:
            log_handle.close()
        return process.pid

    def run(self, argv, as_user=True, timeout=120, env=None):
        user = self.run_as if as_user else None
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
                                user=user, group=user, extra_groups=[] if user else None, env=env, cwd='/')
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()[-2000:]
            raise LabError('%s failed (exit %d): %s' % (' '.join(argv[:2]), result.returncode, output))
        return result.stdout

    def remove(self):
        """Delete every file the lab made (after everything was stopped)."""
        for path in (self.short_dir, self.root):
            unmount_below(path)
            shutil.rmtree(path, ignore_errors=True)


def unmount_below(path):
    """Unmount whatever the Docker engine left mounted under ``path`` so that it can be deleted."""
    prefix = str(path).rstrip('/') + '/'
    try:
        mounts = [line.split()[1] for line in Path('/proc/mounts').read_text().splitlines()]
    except OSError:
        return
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(['umount', '-l', mount], capture_output=True, check=False)


def find_binary(name, extra_dirs=()):
    """A binary on PATH or in one of ``extra_dirs`` (PostgreSQL's live outside PATH on Debian)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return None


def python():
    return sys.executable
