# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  docker_host:
    description:
      - The Docker engine's address, C(unix:///path/to/docker.sock) or C(tcp://host:port).
      - When not given, the value of the environment variable E(DOCKER_HOST) is used, and without it
        C(unix:///var/run/docker.sock).
    type: str
    aliases: [docker_url]
  tls:
    description:
      - Talk to a C(tcp://) engine over TLS without checking its certificate (see O(validate_certs)).
    type: bool
    default: false
  validate_certs:
    description:
      - Talk over TLS and check the engine's certificate against O(ca_path).
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description:
      - File of certificate authorities to check the engine's certificate against.
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description:
      - Client certificate file for an engine that asks for one.
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description:
      - Key file of O(client_cert).
    type: path
    aliases: [tls_client_key, key_path]
  timeout:
    description:
      - Seconds that each request to the engine may take. An engine that is down, a socket that does
        not exist or an engine that never answers fails the task within this time, with one line naming
        O(docker_host) and the cause.
    type: int
    default: 30
requirements:
  - docker (the Docker SDK for Python) 7.1.0 or later, C(pip install docker), on the host that runs the module
notes:
  - All modules of the C(docker) action group share these options; set them once with C(module_defaults)
    for C(group/oncall.runbooks.docker).
  - No Compose binary is needed; the services of a Compose project are found by the labels Compose puts
    on its containers, C(com.docker.compose.project) and C(com.docker.compose.service).
'''

    SELECTION = r'''
options:
  project:
    description:
      - The Compose project whose containers to work on (label C(com.docker.compose.project)).
        One-off containers of C(docker compose run) are left out.
      - An unknown project fails with the list of the projects the engine has.
      - One of O(project) and O(containers) is required, not both.
    type: str
  services:
    description:
      - With O(project), only these services (label C(com.docker.compose.service)). All services when omitted.
      - An unknown service fails with the list of the project's services, before anything is touched.
    type: list
    elements: str
  containers:
    description:
      - Containers by name or ID (at least 4 characters of it), instead of O(project).
      - An unknown container fails with the list of the containers the engine has.
    type: list
    elements: str
'''
