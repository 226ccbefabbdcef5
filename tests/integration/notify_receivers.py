# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local stand-ins for Slack, PagerDuty, Opsgenie, Teams, webhooks and an SMTP server, for incident_notify's tests.

They record what they receive, so that tests can compare it with each service's documented format;
an HTTP receiver can answer an error status N times, or hang without answering.
"""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class HttpReceiver(object):
    """An HTTP server on 127.0.0.1 that records every request and answers ``status``.

    ``fail_times`` requests are first answered with ``fail_status``; with ``hang`` no request is ever answered.
    """

    def __init__(self, status=202, fail_times=0, fail_status=500, hang=False):
        self.status, self.fail_times, self.fail_status, self.hang = status, fail_times, fail_status, hang
        self.requests = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(dict(method='POST', path=self.path, headers=dict(self.headers.items()),
                                                  body=json.loads(raw.decode('utf-8')) if raw else None))
                    failing = receiver.fail_times > 0
                    if failing:
                        receiver.fail_times -= 1
                if receiver.hang:
                    receiver.stopping.wait(120)
                    return
                status = receiver.fail_status if failing else receiver.status
                answer = json.dumps({'status': 'success' if status < 400 else 'error', 'message': 'recorded'}).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server.server_address[1]

    def stop(self):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver(object):
    """Just enough SMTP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT) to receive and record messages.

    Python 3.11 deprecates ``smtpd`` and aiosmtpd is not installed here; the protocol part a
    client needs is a dozen lines.
    """

    def __init__(self):
        self.messages = []
        self.logins = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write((line + '\r\n').encode())
                self.wfile.flush()

            def handle(self):
                self.reply('220 localhost test SMTP')
                envelope = dict(sender=None, recipients=[])
                while True:
                    line = self.rfile.readline().decode('utf-8', 'replace').rstrip('\r\n')
                    if not line:
                        return
                    verb = line.split(' ', 1)[0].upper()
                    if verb == 'EHLO':
                        self.reply('250-localhost')
                        self.reply('250 AUTH PLAIN')
                    elif verb == 'HELO':
                        self.reply('250 localhost')
                    elif verb == 'AUTH':
                        parts = line.split(' ')
                        credentials = base64.b64decode(parts[2]).decode().split('\0') if len(parts) > 2 else []
                        receiver.logins.append(credentials[1:])
                        self.reply('235 2.7.0 Authentication successful')
                    elif verb == 'MAIL':
                        envelope['sender'] = line.split(':', 1)[1].strip()
                        self.reply('250 OK')
                    elif verb == 'RCPT':
                        envelope['recipients'].append(line.split(':', 1)[1].strip())
                        self.reply('250 OK')
                    elif verb == 'DATA':
                        self.reply('354 End data with <CR><LF>.<CR><LF>')
                        data = []
                        while True:
                            chunk = self.rfile.readline()
                            if not chunk or chunk.rstrip(b'\r\n') == b'.':
                                break
                            # Dot-stuffing: a line that starts with a dot was sent with two.
                            data.append(chunk[1:] if chunk.startswith(b'..') else chunk)
                        raw = b''.join(data)
                        receiver.messages.append(dict(envelope, raw=raw, data=raw.decode('utf-8', 'replace')))
                        envelope = dict(sender=None, recipients=[])
                        self.reply('250 OK queued')
                    elif verb == 'QUIT':
                        self.reply('221 Bye')
                        return
                    else:
                        self.reply('250 OK')

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_receiver():
    """A factory of HTTP receivers: ``http_receiver(status=202, fail_times=0, fail_status=500, hang=False)``."""
    started = []

    def start(**behaviour):
        receiver = HttpReceiver(**behaviour)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def smtp_receiver():
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()
