# -*- coding: utf-8 -*-
# Copyright: (c) 2026, oncall.runbooks contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - Without O(kubeconfig) and O(host), the pod's service account is used when the module runs inside a
        cluster, and otherwise the default kubeconfig (E(KUBECONFIG) or C(~/.kube/config)).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use instead of its current context.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the API server, for example C(https://10.0.0.1:6443). Overrides the kubeconfig's server.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token to authenticate with. Overrides the kubeconfig's credentials. Never shown in output.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to check the API server's certificate. Defaults to what the kubeconfig says (checked unless
        it sets C(insecure-skip-tls-verify)).
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - File of certificate authorities to check the API server's certificate against.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate file to authenticate with.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Key file of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL to reach the API server through.
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  namespace:
    description:
      - The namespace to work in.
    type: str
    default: default
  request_timeout:
    description:
      - Seconds that each API request may take. A refused connection, an API server that never answers,
        and a 401 or 403 answer fail the task within this time, once (the client's own retries are off),
        with one line naming the server and the cause.
    type: int
    default: 10
requirements:
  - kubernetes >= 30.1.0 (the official Python client, C(pip install kubernetes)) on the host that runs the module
notes:
  - All modules of the C(k8s) action group share these options; set them once with
    C(module_defaults) for C(group/oncall.runbooks.k8s).
  - The options have the names and environment variables of the C(kubernetes.core) collection, so an
    inventory written for it works unchanged.
  - Lists are read page by page as raw JSON, without the client's model classes, which keeps thousands
    of pods fast.
'''
