"""gRPC engine incidents: imported by lab.scenarios.load_all()."""

from __future__ import annotations

from .app_grpc import GrpcEngine
from .core import LabError, port_open, wait_for
from .scenarios import Scenario, scenario

MATCHING = 'linkflow.engine.v1.MatchingService'


@scenario
class GrpcNotServing(Scenario):
    name = 'grpc-not-serving'
    description = 'the engine\'s matching service reports NOT_SERVING through grpc.health.v1.Health; frontend and history still serve'

    def inject(self):
        GrpcEngine(self.lab).set({MATCHING: 'NOT_SERVING'})
        wait_for(self.present, 15, '%s to report NOT_SERVING' % MATCHING)

    def clear(self):
        GrpcEngine(self.lab).set({})
        wait_for(lambda: GrpcEngine(self.lab).check(MATCHING) == 'SERVING', 15, '%s to serve again' % MATCHING)

    def present(self):
        return GrpcEngine(self.lab).check(MATCHING) == 'NOT_SERVING'


@scenario
class GrpcDown(Scenario):
    name = 'grpc-down'
    description = 'the engine\'s gRPC server is stopped: its port refuses connections (clear starts it again on the same port)'

    def inject(self):
        engine = GrpcEngine(self.lab)
        engine.set(listening=False)
        wait_for(self.present, 15, 'the gRPC engine port %s to close' % engine.state.get('port'))

    def clear(self):
        engine = GrpcEngine(self.lab)
        engine.set(listening=True)
        try:
            wait_for(lambda: self.serving(engine), 10, 'the gRPC engine to listen again')
        except LabError:
            # The process itself died meanwhile: a new one, on the same port.
            engine.start()
            self.lab.save()
            wait_for(lambda: self.serving(engine), 15, 'the gRPC engine to serve again on port %s' % engine.state.get('port'))

    def serving(self, engine):
        return engine.check('') == 'SERVING'

    def present(self):
        return not port_open(GrpcEngine(self.lab).state.get('port'))
