# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.grpc_probe import (
    check_options,
    check_service_names,
    parse_target,
    read_pem_files,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError


def params(**overrides):
    values = dict(target='localhost:9090', services=[''], list_services=True, tls=False, validate_certs=True,
                  ca_path=None, client_cert=None, client_key=None, server_name=None, timeout=5.0)
    values.update(overrides)
    return values


@pytest.mark.parametrize('target, expected', [
    ('localhost:9090', ('localhost', 9090)),
    (' engine.internal:7233 ', ('engine.internal', 7233)),
    ('10.0.0.7:443', ('10.0.0.7', 443)),
    ('[::1]:9090', ('::1', 9090)),
    ('temporal-frontend_1:1', ('temporal-frontend_1', 1)),
])
def test_parse_target(target, expected):
    assert parse_target(target) == expected


@pytest.mark.parametrize('target, message', [
    ('localhost', "target: 'localhost' is not HOST:PORT"),
    ('', "target: '' is not HOST:PORT"),
    ('grpc://localhost:9090', "target: 'grpc://localhost:9090' is not HOST:PORT"),
    ('localhost:90a', "target: 'localhost:90a' is not HOST:PORT"),
    ('::1:9090', "target: '::1:9090' is not HOST:PORT"),
    ('-bad-:9090', "target: '-bad-:9090' is not HOST:PORT"),
    ('localhost:0', "target: port 0 of 'localhost:0' is not between 1 and 65535"),
    ('localhost:65536', "target: port 65536 of 'localhost:65536' is not between 1 and 65535"),
])
def test_parse_target_refuses(target, message):
    with pytest.raises(RunbookError, match='^' + message.replace('[', r'\[').replace('(', r'\(')):
        parse_target(target)


def test_service_names_keep_order_and_drop_duplicates():
    names = ['', 'linkflow.engine.v1.MatchingService', 'grpc.health.v1.Health', '', 'Plain', '_x.y_2']
    assert check_service_names(names) == ['', 'linkflow.engine.v1.MatchingService', 'grpc.health.v1.Health', 'Plain', '_x.y_2']
    assert check_service_names([None]) == ['']


@pytest.mark.parametrize('name', ['linkflow engine', 'linkflow..v1.X', '.leading', 'trailing.', '1st.Service', 'a/b', 'a.b-c'])
def test_service_names_refuse_what_is_not_dotted_identifiers(name):
    with pytest.raises(RunbookError, match="^services: %r is not a fully qualified service name" % name):
        check_service_names([name])


@pytest.mark.parametrize('overrides, message', [
    ({'timeout': 0}, 'timeout must be a number of seconds above 0, got 0'),
    ({'timeout': -1.5}, 'timeout must be a number of seconds above 0, got -1.5'),
    ({'ca_path': '/ca.pem', 'server_name': 'x'}, 'ca_path and server_name only apply with tls: true'),
    ({'tls': True, 'client_key': '/k.pem'}, 'client_cert and client_key go together'),
])
def test_options_refused_before_connecting(overrides, message):
    with pytest.raises(RunbookError) as caught:
        check_options(params(**overrides))
    assert str(caught.value) == message


def test_options_accepted():
    assert check_options(params(tls=True, ca_path='/ca.pem', client_cert='/c.pem', client_key='/k.pem', server_name='engine.lab')) == ('localhost', 9090)


def test_pem_files_are_read_before_connecting(tmp_path):
    ca = tmp_path / 'ca.pem'
    ca.write_bytes(b'-----BEGIN CERTIFICATE-----\n')
    assert read_pem_files(params(tls=True, ca_path=str(ca))) == {'ca_path': b'-----BEGIN CERTIFICATE-----\n', 'client_cert': None, 'client_key': None}
    with pytest.raises(RunbookError) as caught:
        read_pem_files(params(tls=True, client_cert=str(ca), client_key=str(tmp_path / 'missing.key')))
    assert str(caught.value) == 'client_key: cannot read %s: No such file or directory' % (tmp_path / 'missing.key')
