"""The lab's services: PostgreSQL, PgBouncer, Redis and a Docker engine, all on loopback."""

from __future__ import annotations

import glob
import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from .core import LabError, find_binary, free_port, new_secret, pid_alive, port_open, stop_pid, wait_for

# The two platforms of the seeds: an application role and database each, with the table
# their runbooks query.
APPS = {
    'linkflow': """
        CREATE TABLE IF NOT EXISTS workflow_executions (
            id bigserial PRIMARY KEY,
            workflow_id bigint NOT NULL,
            status text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            payload jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX IF NOT EXISTS workflow_executions_completed_at ON workflow_executions (completed_at);
        CREATE INDEX IF NOT EXISTS workflow_executions_status ON workflow_executions (status, started_at);
    """,
    'cloudflow': """
        CREATE TABLE IF NOT EXISTS executions (
            id bigserial PRIMARY KEY,
            workflow_id bigint NOT NULL,
            status text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            current_step integer NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS executions_status ON executions (status, started_at);
    """,
}

SEED_ROWS = {
    'linkflow': """
        INSERT INTO workflow_executions (workflow_id, status, started_at, completed_at)
        SELECT n % 7, 'completed', now() - interval '2 hours', now() - interval '1 hour' FROM generate_series(1, 20) AS n;
    """,
    'cloudflow': """
        INSERT INTO executions (workflow_id, status, started_at, finished_at, current_step)
        SELECT n % 5, 'succeeded', now() - interval '2 hours', now() - interval '1 hour', 3 FROM generate_series(1, 20) AS n;
    """,
}

COMPOSE_PROJECT = 'linkflow'
COMPOSE_SERVICES = ('api', 'worker', 'frontend', 'history', 'matching')
BASE_IMAGE = 'oncall-lab/busybox:1'
# A container that stops at once on SIGTERM instead of waiting out the engine's grace period.
IDLE_COMMAND = ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 1 & wait $!; done']
# Release images of the Compose project; 1.1.0 of api fails its health check (the bad-deploy scenario).
RELEASE_VERSION = '1.0.0'
BAD_RELEASE_VERSION = '1.1.0'
# Containers and images made from an older spec are recreated by ``up``.
SPEC_LABEL = 'oncall.lab.spec'
SPEC_VERSION = '2'
# Carried by the containers a scenario puts in place of a service's normal one.
SCENARIO_LABEL = 'oncall.lab.scenario'


def postgres_bindir():
    """PostgreSQL 15 or later: Debian keeps initdb and pg_ctl in /usr/lib/postgresql/N/bin."""
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=lambda p: int(p.split('/')[-2]), reverse=True)
    for directory in candidates + [os.path.dirname(find_binary('pg_ctl') or '/nonexistent/pg_ctl')]:
        if os.path.exists(os.path.join(directory, 'initdb')):
            return directory
    return None


class Service(object):
    name = ''

    def __init__(self, lab):
        self.lab = lab
        self.state = lab.section(self.name)

    runs_as_user = True

    @property
    def log(self):
        return self.lab.service_dir(self.name, for_user=self.runs_as_user) / (self.name + '.log')

    def running(self):
        return pid_alive(self.state.get('pid')) and port_open(self.state.get('port'))

    def endpoint(self):
        return '127.0.0.1:%s' % self.state.get('port')

    def describe(self):
        return {'name': self.name, 'running': self.running(), 'endpoint': self.endpoint(), 'pid': self.state.get('pid')}

    def stop(self):
        stop_pid(self.state.get('pid'))
        self.state.pop('pid', None)


class PostgreSQL(Service):
    name = 'postgres'
    max_connections = 50
    reserved_connections = 3

    def running(self):
        return self.state.get('port') and port_open(self.state['port']) and pid_alive(self.pid())

    def pid(self):
        pidfile = Path(self.state.get('data', '/nonexistent')) / 'postmaster.pid'
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def describe(self):
        info = super().describe()
        info['pid'] = self.pid()
        return info

    def start(self):
        bindir = postgres_bindir()
        if not bindir:
            raise LabError('PostgreSQL 15 server binaries not found; install them with: apt-get install postgresql')
        state = self.state
        if 'port' not in state:
            state.update(port=free_port(), password=new_secret())
            state['apps'] = dict((app, new_secret()) for app in APPS)
        base = self.lab.service_dir('postgres')
        data = base / 'data'
        socket_dir = self.lab.service_dir('postgres-socket', short=True)
        state.update(data=str(data), socket_dir=str(socket_dir))
        first_start = not (data / 'PG_VERSION').exists()
        if first_start:
            pwfile = base / 'pwfile'
            self.lab.write_private(pwfile, state['password'] + '\n')
            self.lab.run([os.path.join(bindir, 'initdb'), '-D', str(data), '-U', 'postgres', '--pwfile', str(pwfile),
                          '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync'])
            pwfile.unlink()
            self.lab.write_private(data / 'lab.conf', self.config())
            with open(data / 'postgresql.conf', 'a') as handle:
                handle.write("\ninclude = 'lab.conf'\n")
        self.lab.run([os.path.join(bindir, 'pg_ctl'), '-D', str(data), '-l', str(self.log), '-w', '-t', '60',
                      '-o', '-p %d -k %s' % (state['port'], socket_dir), 'start'])
        if not state.get('bootstrapped'):
            self.bootstrap()
            state['bootstrapped'] = True

    def config(self):
        return '\n'.join([
            "listen_addresses = '127.0.0.1'",
            'max_connections = %d' % self.max_connections,
            'superuser_reserved_connections = %d' % self.reserved_connections,
            # A throwaway lab: durability is not worth the time.
            'fsync = off', 'synchronous_commit = off', 'full_page_writes = off',
            'shared_buffers = 64MB',
            "log_line_prefix = '%m [%p] %u@%d '",
            'log_connections = off',
            'autovacuum_naptime = 10s',
            '',
        ])

    def connect(self, dbname='postgres', user='postgres', password=None, **kwargs):
        import psycopg2
        kwargs.setdefault('connect_timeout', 5)
        connection = psycopg2.connect(host='127.0.0.1', port=self.state['port'], user=user, dbname=dbname,
                                      password=password or (self.state['password'] if user == 'postgres' else self.state['apps'][user]),
                                      **kwargs)
        connection.autocommit = True
        return connection

    def execute(self, sql, dbname='postgres', args=None):
        connection = self.connect(dbname)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def bootstrap(self):
        from psycopg2 import sql
        for app, password in self.state['apps'].items():
            if self.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', args=(app,)):
                continue
            self.execute(sql.SQL('CREATE ROLE {} LOGIN PASSWORD %s').format(sql.Identifier(app)), args=(password,))
            self.execute(sql.SQL('CREATE DATABASE {} OWNER {}').format(sql.Identifier(app), sql.Identifier(app)))
            self.create_schema(app, app)
            connection = self.connect(app, app)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(SEED_ROWS[app])
            finally:
                connection.close()

    def create_schema(self, app, dbname):
        """The app's tables in ``dbname``, owned by the app's role (tests use fresh databases)."""
        connection = self.connect(dbname, app)
        try:
            with connection.cursor() as cursor:
                cursor.execute(APPS[app])
        finally:
            connection.close()

    def set_max_connections(self, count):
        """Restart with another max_connections (benchmarks need a thousand sessions); None restores the lab's."""
        if count is None:
            self.execute('ALTER SYSTEM RESET max_connections')
        else:
            self.execute('ALTER SYSTEM SET max_connections = %d' % int(count))
        self.lab.run([os.path.join(postgres_bindir(), 'pg_ctl'), '-D', self.state['data'], '-l', str(self.log), '-w', '-t', '60',
                      '-m', 'fast', '-o', '-p %d -k %s' % (self.state['port'], self.state['socket_dir']), 'restart'])

    def stop(self):
        bindir = postgres_bindir()
        if self.pid() and bindir:
            try:
                self.lab.run([os.path.join(bindir, 'pg_ctl'), '-D', self.state['data'], '-m', 'immediate', '-w', 'stop'])
            except LabError:
                stop_pid(self.pid())


class PgBouncer(Service):
    name = 'pgbouncer'
    pool_size = 5

    def start(self):
        binary = find_binary('pgbouncer', ['/usr/sbin'])
        if not binary:
            raise LabError('pgbouncer not found; install it with: apt-get install pgbouncer')
        postgres = self.lab.section('postgres')
        state = self.state
        if 'port' not in state:
            state.update(port=free_port(), admin_user='pgbouncer_admin', admin_password=new_secret())
        base = self.lab.service_dir('pgbouncer')
        users = dict(postgres['apps'], postgres=postgres['password'])
        users[state['admin_user']] = state['admin_password']
        self.lab.write_private(base / 'userlist.txt', ''.join('"%s" "%s"\n' % item for item in sorted(users.items())))
        databases = ''.join('%s = host=127.0.0.1 port=%d dbname=%s\n' % (app, postgres['port'], app) for app in postgres['apps'])
        self.lab.write_private(base / 'pgbouncer.ini', '\n'.join([
            '[databases]', databases,
            '[pgbouncer]',
            'listen_addr = 127.0.0.1',
            'listen_port = %d' % state['port'],
            "unix_socket_dir = ''",
            'auth_type = scram-sha-256',
            'auth_file = %s' % (base / 'userlist.txt'),
            'admin_users = %s' % state['admin_user'],
            'stats_users = %s' % state['admin_user'],
            'pool_mode = transaction',
            # Small pools so that "clients waiting" is easy to reproduce.
            'default_pool_size = %d' % self.pool_size,
            'max_client_conn = 200',
            'server_connect_timeout = 5',
            # Idle server connections stay: their closing would free PostgreSQL slots at random
            # moments and make the pool-exhaustion scenario flaky.
            'server_idle_timeout = 0',
            'ignore_startup_parameters = extra_float_digits,options',
            '',
        ]))
        state['pid'] = self.lab.spawn([binary, str(base / 'pgbouncer.ini')], self.log)
        wait_for(self.answers, 30, 'PgBouncer on port %d' % state['port'], self.log)

    def connect(self, dbname='pgbouncer', user=None, password=None):
        import psycopg2
        user = user or self.state['admin_user']
        if password is None:
            password = self.state['admin_password'] if user == self.state['admin_user'] else self.lab.section('postgres')['apps'][user]
        connection = psycopg2.connect(host='127.0.0.1', port=self.state['port'], user=user, password=password,
                                      dbname=dbname, connect_timeout=5)
        # The admin console accepts no transactions.
        connection.autocommit = True
        return connection

    def answers(self):
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute('SHOW VERSION')
                return True
        finally:
            connection.close()


class Redis(Service):
    name = 'redis'
    maxmemory = '32mb'

    def start(self):
        binary = find_binary('redis-server', ['/usr/bin'])
        if not binary:
            raise LabError('redis-server not found; install it with: apt-get install redis-server')
        state = self.state
        if 'port' not in state:
            state.update(port=free_port(), password=new_secret())
        base = self.lab.service_dir('redis')
        self.lab.write_private(base / 'redis.conf', '\n'.join([
            'bind 127.0.0.1',
            'port %d' % state['port'],
            'protected-mode yes',
            'requirepass "%s"' % state['password'],
            # Small and without eviction, so that "OOM command not allowed" is easy to reproduce.
            'maxmemory %s' % self.maxmemory,
            'maxmemory-policy noeviction',
            'databases 16',
            'save ""',
            'appendonly no',
            'dir %s' % base,
            'daemonize no',
            '',
        ]))
        state['pid'] = self.lab.spawn([binary, str(base / 'redis.conf')], self.log)
        wait_for(lambda: self.client().ping(), 30, 'Redis on port %d' % state['port'], self.log)
        self.seed()

    def client(self, db=0, **kwargs):
        import redis
        kwargs.setdefault('socket_timeout', 5)
        return redis.Redis(host='127.0.0.1', port=self.state['port'], password=self.state['password'], db=db, **kwargs)

    def seed(self):
        """What the Laravel API keeps in its Redis besides cache: sessions and a queue."""
        client = self.client()
        if not client.exists('queues:default'):
            client.mset(dict(('linkflow_session:%04d' % n, 'user-%d' % n) for n in range(20)))
            client.rpush('queues:default', *['{"job":"SendWebhook","id":%d}' % n for n in range(5)])


class Docker(Service):
    name = 'docker'
    runs_as_user = False

    @property
    def host(self):
        return 'unix://%s' % (self.lab.short_dir / 'docker.sock')

    def endpoint(self):
        return self.host

    def running(self):
        return pid_alive(self.state.get('pid')) and self.answers()

    def answers(self):
        try:
            return bool(self.client(timeout=3).ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def client(self, timeout=30):
        import docker
        return docker.DockerClient(base_url=self.host, timeout=timeout)

    def start(self):
        binary = find_binary('dockerd', ['/usr/sbin', '/usr/bin'])
        if not binary:
            raise LabError('dockerd not found; install it with: apt-get install docker.io')
        if os.geteuid() != 0:
            raise LabError('the Docker engine needs root; run the lab as root')
        short = self.lab.short_dir
        exec_root = short / 'docker-exec'
        exec_root.mkdir(parents=True, exist_ok=True)
        data_root = self.lab.service_dir('docker', for_user=False) / 'engine'
        config = short / 'daemon.json'
        # Our own (empty) config: a system /etc/docker/daemon.json must not change the lab.
        config.write_text('{}\n')
        self.state['host'] = self.host
        self.state['pid'] = self.lab.spawn([
            binary, '--storage-driver=vfs', '--iptables=false', '--ip6tables=false', '--bridge=none',
            '--data-root', str(data_root), '--exec-root', str(exec_root), '--host', self.host,
            '--pidfile', str(short / 'docker.pid'), '--config-file', str(config)], self.log, as_user=False)
        wait_for(self.answers, 60, 'the Docker engine at %s' % self.host, self.log)
        self.provision()

    def provision(self):
        """The seed's Compose project: release images ``linkflow/<service>:1.0.0`` and one container each.

        Containers are labelled the way Compose labels them. A container made from an older
        spec (``oncall.lab.spec``) or from another image is recreated, so ``up`` stays idempotent
        and also puts back what a scenario or a rollback left behind.
        """
        client = self.client()
        self.build_images(client)
        for service in COMPOSE_SERVICES:
            self.ensure_service(client, service)

    def build_images(self, client):
        from docker.errors import ImageNotFound
        try:
            client.images.get(BASE_IMAGE)
        except ImageNotFound:
            import_busybox_image(client, BASE_IMAGE)
        wanted = [(service, RELEASE_VERSION, True) for service in COMPOSE_SERVICES] + [('api', BAD_RELEASE_VERSION, False)]
        for service, version, healthy in wanted:
            tag = release_tag(service, version)
            try:
                image = client.images.get(tag)
                if image.labels.get(SPEC_LABEL) == SPEC_VERSION:
                    continue
            except ImageNotFound:
                pass
            build_release_image(client, '%s/%s' % (COMPOSE_PROJECT, service), version, healthy=healthy,
                                labels={SPEC_LABEL: SPEC_VERSION})

    def ensure_service(self, client, service, clear_scenario=False):
        """The service's normal container, running; recreated when its spec or image is not the lab's.

        A container a scenario put in place is the injected incident: ``up`` leaves it alone
        (as it leaves every other scenario), only the scenario's clear() replaces it.
        """
        from docker.errors import NotFound
        name = service_container_name(service)
        image = client.images.get(release_tag(service, RELEASE_VERSION))
        try:
            container = client.containers.get(name)
        except NotFound:
            container = None
        if container is not None and SCENARIO_LABEL in container.labels and not clear_scenario:
            return container
        replaced = container is not None and (container.labels.get(SPEC_LABEL) != SPEC_VERSION or container.attrs['Image'] != image.id
                                              or SCENARIO_LABEL in container.labels)
        if replaced:
            container.remove(force=True)
            container = None
        if container is None:
            container = self.create_service_container(client, service)
        if container.status != 'running':
            container.start()
        return container

    def create_service_container(self, client, service, image=None, command=None, name=None, restart_policy='unless-stopped',
                                 extra_labels=None, **overrides):
        """A container of ``service`` with the lab's normal spec; scenarios change one thing of it."""
        labels = {
            'com.docker.compose.project': COMPOSE_PROJECT,
            'com.docker.compose.service': service,
            'com.docker.compose.container-number': '1',
            'com.docker.compose.oneoff': 'False',
            'oncall.lab': 'true',
            SPEC_LABEL: SPEC_VERSION,
        }
        labels.update(extra_labels or {})
        options = dict(name=name or service_container_name(service), network_mode='none', mem_limit='64m', memswap_limit='64m',
                       labels=labels, restart_policy={'Name': restart_policy})
        options.update(overrides)
        return client.containers.create(image or release_tag(service, RELEASE_VERSION), command, **options)

    def stop(self):
        pid = self.state.get('pid')
        if pid_alive(pid):
            try:
                for container in self.client(timeout=10).containers.list(filters={'label': 'oncall.lab'}):
                    container.kill()
            except Exception:  # noqa: BLE001 - the engine stops them anyway
                pass
        stop_pid(pid, timeout=30)
        self.state.pop('pid', None)


def oom_killed(client, attrs, wait=5.0):
    """Whether the engine says this stopped container was OOM-killed.

    ``State.OOMKilled`` is set only when the kernel's OOM notice reaches the engine before the
    exit does; on a busy host the exit can win and the flag stays false, while the ``oom`` event is
    still recorded. So an exit with 137 counts when an ``oom`` event followed the container's start
    (waiting up to ``wait`` seconds for that event to arrive).
    """
    state = attrs['State']
    if state.get('OOMKilled'):
        return True
    if state.get('Status') not in ('exited', 'dead') or state.get('ExitCode') != 137:
        return False
    deadline = time.monotonic() + wait
    while True:
        events = client.api.events(since=int(time.time()) - 600, until='%.9f' % time.time(), decode=True,
                                   filters={'type': 'container', 'event': 'oom', 'container': attrs['Id']})
        if any(True for event in events):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def release_tag(service, version):
    return '%s/%s:%s' % (COMPOSE_PROJECT, service, version)


def service_container_name(service):
    return '%s-%s' % (COMPOSE_PROJECT, service)


def build_release_image(client, repository, version, healthy=True, interval='3s', labels=None):
    """Build ``repository:version`` from the lab's busybox: ``/app/selftest`` and a HEALTHCHECK that runs it.

    The selftest exits 0, or (``healthy=False``) prints why it fails and exits 1: a release
    whose health check fails, as a bad deploy does. The command is an idle loop that stops at
    once on SIGTERM. No RUN step, so no network is needed. Returns the tag.
    """
    tag = '%s:%s' % (repository, version)
    if healthy:
        selftest = '#!/bin/sh\necho "selftest ok: %s"\nexit 0\n' % tag
    else:
        selftest = '#!/bin/sh\necho "selftest FAILED: %s cannot reach its dependencies" >&2\nexit 1\n' % tag
    lines = ['FROM %s' % BASE_IMAGE, 'COPY selftest /app/selftest', 'LABEL org.opencontainers.image.version="%s"' % version]
    lines += ['LABEL %s="%s"' % (key, value) for key, value in sorted((labels or {}).items())]
    lines += [
        'HEALTHCHECK --interval=%s --timeout=2s --retries=2 CMD ["/app/selftest"]' % interval,
        'CMD ["sh", "-c", "trap \\"exit 0\\" TERM INT; while :; do sleep 1 & wait $!; done"]',
        '',
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for name, text in (('Dockerfile', '\n'.join(lines)), ('selftest', selftest)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, forcerm=True)
    return tag


class KubeAPI(Service):
    """The emulated Kubernetes API (lab.kube) seeded with both seeds' namespaces; .lab/kubeconfig points at it."""
    name = 'kube'
    runs_as_user = False

    @property
    def kubeconfig(self):
        return self.lab.root / 'kubeconfig'

    def endpoint(self):
        return 'http://127.0.0.1:%s' % self.state.get('port')

    def start(self):
        from .kube import write_kubeconfig
        state = self.state
        if 'port' not in state:
            state.update(port=free_port(), token=new_secret())
        repository = Path(__file__).resolve().parents[1]
        base = self.lab.service_dir('kube')
        # The token goes through the environment: a command line is visible to every user.
        environment = dict(os.environ, PYTHONPATH=str(repository), KUBE_EMULATOR_TOKEN=state['token'])
        # Runs as the invoking user: the venv's interpreter usually lives where the lab's user cannot reach.
        state['pid'] = self.lab.spawn([sys.executable, '-m', 'lab.kube', 'serve', '--port', str(state['port']),
                                       '--state-dir', str(base / 'state')], self.log, as_user=False, env=environment,
                                      cwd=str(repository))
        wait_for(lambda: port_open(state['port']), 30, 'the Kubernetes API emulator on port %d' % state['port'], self.log)
        write_kubeconfig(self.endpoint(), state['token'], self.kubeconfig)


def import_busybox_image(client, tag):
    """``docker import`` of a root filesystem made of Debian's busybox-static: no registry needed."""
    busybox = find_binary('busybox', ['/bin', '/usr/bin'])
    if not busybox:
        raise LabError('busybox not found; install it with: apt-get install busybox-static')
    applets = subprocess.run([busybox, '--list'], capture_output=True, text=True, check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w') as tar:
        for directory in ('bin', 'tmp', 'etc', 'proc', 'sys', 'dev', 'root'):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777 if directory == 'tmp' else 0o755, time.time()
            tar.addfile(info)
        tar.add(busybox, 'bin/busybox')
        for applet in applets:
            if applet != 'busybox':
                link = tarfile.TarInfo('bin/' + applet)
                link.type, link.linkname, link.mode = tarfile.SYMTYPE, 'busybox', 0o777
                tar.addfile(link)
        for name, text in (('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'),
                           ('etc/group', 'root:x:0:\nnogroup:x:65534:\n')):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    repository, version = tag.rsplit(':', 1)
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=version, changes=['CMD ["/bin/sh"]'])
