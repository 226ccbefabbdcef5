# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An Event-Driven Ansible source that receives Prometheus Alertmanager webhooks.

Alertmanager posts one JSON document per notification, holding a group of alerts. This source
puts ONE event per alert on the queue, so that rules can match, route and throttle each alert on
its own (``throttle: group_by_attributes: [event.alert.fingerprint]``):

    {"alert": {"status": "firing", "labels": {...}, "annotations": {...}, "startsAt": "...",
               "endsAt": "...", "generatorURL": "...", "fingerprint": "..."},
     "alertmanager": {"receiver": "...", "status": "...", "groupKey": "...", "groupLabels": {...},
                      "commonLabels": {...}, "commonAnnotations": {...}, "externalURL": "...",
                      "truncatedAlerts": 0, "version": "4"},
     "meta": {"endpoint": "alerts"}}

An alert without a fingerprint (Alertmanager always sends one) gets one made from its labels.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

DOCUMENTATION = r'''
---
short_description: Receive Prometheus Alertmanager webhooks, one event per alert.
description:
  - An HTTP server for Alertmanager's C(webhook_configs). Every POST must be Alertmanager's webhook JSON (version 4).
  - Each alert of the notification becomes an event C({alert, alertmanager, meta}); C(alert) is the alert as sent
    (status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint) and C(alertmanager) the
    notification's common fields.
  - Answers 200 with the number of events queued, 400 to a body that is not an Alertmanager notification (nothing is
    queued), 401 without the right bearer token.
options:
  host:
    description: The address to listen on.
    type: str
    default: 127.0.0.1
  port:
    description: The TCP port to listen on.
    type: int
    required: true
  token:
    description:
      - A bearer token that every request must carry (C(Authorization: Bearer TOKEN); Alertmanager's
        C(http_config.authorization.credentials)). Without it, requests are not authenticated.
    type: str
'''

EXAMPLES = r'''
- oncall.runbooks.alertmanager:
    host: 0.0.0.0
    port: 5001
    token: "{{ alertmanager_token }}"
'''

logger = logging.getLogger(__name__)

NOTIFICATION_FIELDS = ('receiver', 'status', 'groupKey', 'groupLabels', 'commonLabels', 'commonAnnotations',
                       'externalURL', 'truncatedAlerts', 'version')


class BadNotification(ValueError):
    """The body is not an Alertmanager webhook notification."""


def fingerprint_of(labels):
    """A stable fingerprint from the labels, for an alert that came without one."""
    text = '\xff'.join('%s\xfe%s' % (key, labels[key]) for key in sorted(labels))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def events_from(payload, endpoint=''):
    """The events of one notification: one per alert. Raises BadNotification."""
    if not isinstance(payload, dict):
        raise BadNotification('the body is not a JSON object')
    alerts = payload.get('alerts')
    if not isinstance(alerts, list):
        raise BadNotification('no "alerts" list: not an Alertmanager notification')
    common = dict((key, payload[key]) for key in NOTIFICATION_FIELDS if key in payload)
    events = []
    for number, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get('labels'), dict) or 'alertname' not in alert['labels']:
            raise BadNotification('alert %d has no labels.alertname' % number)
        if alert.get('status') not in ('firing', 'resolved'):
            raise BadNotification('alert %d: status must be firing or resolved' % number)
        alert = dict(alert)
        alert.setdefault('annotations', {})
        if not alert.get('fingerprint'):
            alert['fingerprint'] = fingerprint_of(alert['labels'])
        events.append({'alert': alert, 'alertmanager': common, 'meta': {'endpoint': endpoint}})
    return events


def authorized(header, token):
    if not token:
        return True
    scheme, given = ((header or '').split(' ', 1) + [''])[:2]
    return scheme == 'Bearer' and hmac.compare_digest(given.strip().encode('utf-8'), token.encode('utf-8'))


def make_app(queue, token=None):
    from aiohttp import web

    async def receive(request):
        if not authorized(request.headers.get('Authorization'), token):
            return web.json_response({'error': 'missing or wrong bearer token'}, status=401)
        try:
            events = events_from(json.loads(await request.text()), request.match_info.get('endpoint', ''))
        except ValueError as exc:  # json.JSONDecodeError and BadNotification
            return web.json_response({'error': str(exc)}, status=400)
        for event in events:
            await queue.put(event)
        logger.info('alertmanager: queued %d alert(s) from %s', len(events), request.remote)
        return web.json_response({'queued': len(events)})

    app = web.Application()
    app.router.add_post(r'/{endpoint:.*}', receive)
    return app


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    """The EDA source entry point: serve until cancelled."""
    from aiohttp import web

    if 'port' not in args:
        raise ValueError('alertmanager: the port option is required')
    runner = web.AppRunner(make_app(queue, args.get('token')))
    await runner.setup()
    site = web.TCPSite(runner, args.get('host', '127.0.0.1'), int(args['port']))
    await site.start()
    logger.info('alertmanager: listening on %s:%s', args.get('host', '127.0.0.1'), args['port'])
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == '__main__':
    # Try it by hand: python alertmanager.py PORT, then POST a notification to it.
    import sys

    class PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event))

    asyncio.run(main(PrintQueue(), {'port': int(sys.argv[1])}))
