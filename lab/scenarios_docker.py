"""Docker incidents on the lab's Compose project: imported by lab.scenarios.load_all().

Each scenario puts a container of its own in place of one service's normal container
(labelled ``oncall.lab.scenario``); clear() puts the normal one back, as ``up`` would.
present() looks at the engine directly, never through the collection.
"""

from __future__ import annotations

from .scenarios import Scenario, scenario, wait_until
from .services import BAD_RELEASE_VERSION, RELEASE_VERSION, SCENARIO_LABEL, Docker, oom_killed, release_tag, service_container_name

# Set on a redeployed container so that a rollback knows where to return (as docker_rollback does).
PREVIOUS_IMAGE_LABEL = 'oncall.runbooks.previous-image'


class ContainerScenario(Scenario):
    """Replace the normal container of ``service`` with the one ``create`` makes."""
    service = ''
    timeout = 60

    @property
    def docker(self):
        return Docker(self.lab)

    def client(self):
        return self.docker.client()

    def replace(self, **options):
        client = self.client()
        name = service_container_name(self.service)
        for container in client.containers.list(all=True, filters={'name': '^/%s$' % name}):
            container.remove(force=True)
        labels = dict(options.pop('extra_labels', {}), **{SCENARIO_LABEL: self.name})
        container = self.docker.create_service_container(client, self.service, extra_labels=labels, **options)
        container.start()
        return container

    def inspect(self):
        from docker.errors import NotFound
        try:
            return self.client().api.inspect_container(service_container_name(self.service))
        except NotFound:
            return None

    def ours(self, attrs):
        return attrs is not None and (attrs['Config'].get('Labels') or {}).get(SCENARIO_LABEL) == self.name

    def clear(self):
        client = self.client()
        self.docker.ensure_service(client, self.service, clear_scenario=True)

        def healthy():
            attrs = self.inspect()
            return attrs is not None and (attrs['State'].get('Health') or {}).get('Status') == 'healthy'
        wait_until(healthy, self.timeout, '%s healthy again after clearing %s' % (service_container_name(self.service), self.name))
        wait_until(lambda: not self.present(), 15, '%s to clear' % self.name)


@scenario
class ContainerOom(ContainerScenario):
    name = 'container-oom'
    description = 'the worker outgrows its 64m memory limit and is OOM-killed (restart policy "no", so it stays down)'
    service = 'worker'

    def inject(self):
        self.replace(command=['sh', '-c', 'echo "worker: loading the nightly batch into memory"; x=a; while :; do x=$x$x; done'],
                     restart_policy='no')
        wait_until(self.present, self.timeout, 'the worker to be OOM-killed')

    def present(self):
        attrs = self.inspect()
        return self.ours(attrs) and attrs['State']['Status'] == 'exited' and oom_killed(self.client(), attrs, wait=0)


@scenario
class ContainerRestartLoop(ContainerScenario):
    name = 'container-restart-loop'
    description = 'the frontend exits with code 3 a second after each start, and its restart policy keeps restarting it'
    service = 'frontend'
    restarts = 3

    def inject(self):
        self.replace(command=['sh', '-c', 'echo "frontend: cannot read /app/config/nginx.conf" >&2; sleep 1; exit 3'],
                     restart_policy='always')
        wait_until(self.present, self.timeout, 'the frontend to restart %d times' % self.restarts)

    def present(self):
        attrs = self.inspect()
        return self.ours(attrs) and attrs['RestartCount'] >= self.restarts


@scenario
class ContainerUnhealthy(ContainerScenario):
    name = 'container-unhealthy'
    description = 'history runs but fails its health check: it cannot reach its database'
    service = 'history'

    def inject(self):
        check = 'echo "history: selftest FAILED: database connection refused" >&2; exit 1'
        self.replace(healthcheck={'test': ['CMD-SHELL', check], 'interval': 1000000000, 'timeout': 2000000000, 'retries': 2})
        wait_until(self.present, self.timeout, 'history to turn unhealthy')

    def present(self):
        attrs = self.inspect()
        return self.ours(attrs) and (attrs['State'].get('Health') or {}).get('Status') == 'unhealthy'


@scenario
class BadDeploy(ContainerScenario):
    name = 'bad-deploy'
    description = 'api was moved to %s, whose health check fails; the previous image is recorded on it' % BAD_RELEASE_VERSION
    service = 'api'

    def inject(self):
        self.replace(image=release_tag('api', BAD_RELEASE_VERSION),
                     extra_labels={PREVIOUS_IMAGE_LABEL: release_tag('api', RELEASE_VERSION)})
        wait_until(self.present, self.timeout, 'api %s to turn unhealthy' % BAD_RELEASE_VERSION)

    def present(self):
        attrs = self.inspect()
        return (attrs is not None and attrs['Config']['Image'] == release_tag('api', BAD_RELEASE_VERSION)
                and (attrs['State'].get('Health') or {}).get('Status') == 'unhealthy')
