# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""extensions/awx/assets.yml: what `awx import` reads, checked against awxkit's own import code, and every job
template's playbook run through ansible-runner the way AWX runs it, against the lab.

The structure tests read the file with awxkit's loader (as `awx import -f yaml` does) and compare each asset
with what awxkit's ApiV2.import_assets needs: the resource lists it imports, the natural keys of its page
classes, references that resolve to assets of the file, survey specs, workflow nodes and schedules.

The run tests need a healthy lab (no scenario injected): a runbook's real run fixes what it finds.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ansible_runner = pytest.importorskip('ansible_runner')
awxkit_api = pytest.importorskip('awxkit.api')
from awxkit import yaml_file  # noqa: E402
from awxkit.api import resources  # noqa: E402
from awxkit.api.pages import api as awx_api  # noqa: E402
from awxkit.api.pages import page as awx_page  # noqa: E402

# The receivers' fixtures (http_receiver).
pytest_plugins = ('notify_receivers',)

ASSETS = REPO / 'extensions' / 'awx' / 'assets.yml'
PLAYBOOKS = REPO / 'playbooks'
COLLECTIONS = REPO / '.build' / 'collections'

# What each asset type needs besides its natural key, for the POST that import_assets makes.
REQUIRED = {
    'organization': {'name'},
    'credential_type': {'name', 'kind', 'inputs', 'injectors'},
    'execution_environment': {'name', 'image'},
    'project': {'name', 'organization', 'scm_type', 'scm_url'},
    'inventory': {'name', 'organization'},
    'job_template': {'name', 'job_type', 'inventory', 'project', 'playbook', 'survey_enabled', 'extra_vars'},
    'workflow_job_template': {'name', 'organization'},
    'workflow_job_template_node': {'identifier'},
    'schedule': {'name', 'rrule', 'unified_job_template'},
}
SURVEY_TYPES = {'text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect'}
SURVEY_KEYS = {'question_name', 'question_description', 'required', 'type', 'variable', 'min', 'max', 'default', 'choices'}
# Values that would be secrets in plain text.
SECRET_PATTERNS = [
    r'hooks\.slack\.com/services/\w+/\w+/\w+',
    r'GenieKey\s+\S+',
    r'\b[0-9a-f]{32}\b',
    r'postgres(ql)?://[^/\s:]+:[^@\s]+@',
    r'xox[abp]-[0-9A-Za-z-]+',
]


def load_assets():
    # As `awx import -f yaml < assets.yml` reads it (awxkit.cli.resource.Import).
    with open(ASSETS) as stream:
        return yaml.load(stream, Loader=yaml_file.Loader)


ASSET_DATA = load_assets()
JOB_TEMPLATES = ASSET_DATA.get('job_templates', [])


def natural_key_fields(kind):
    """The natural key awxkit builds for an object of this type (its page class's NATURAL_KEY)."""
    endpoint = getattr(resources, kind)
    return getattr(awx_page.get_registered_page(endpoint.replace(r'\d+', '1')), 'NATURAL_KEY', None)


def walk_assets(data):
    """Every asset of the file, nested ones (workflow nodes, schedules) too, with its type."""
    for resource, assets in data.items():
        for asset in assets:
            yield asset
            for name, related in asset.get('related', {}).items():
                if isinstance(related, list):
                    for item in related:
                        if isinstance(item, dict) and 'natural_key' in item:
                            yield item


def references(value):
    """The natural keys that an asset's fields point at (dicts with a type), at any depth."""
    if isinstance(value, dict):
        if 'type' in value and ('name' in value or 'identifier' in value):
            yield value
            for nested in value.values():
                if isinstance(nested, dict):
                    yield from references(nested)
        else:
            for nested in value.values():
                yield from references(nested)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def freeze(value):
    return json.dumps(value, sort_keys=True)


def jt_named(name):
    matches = [item for item in JOB_TEMPLATES if item['name'] == name]
    assert len(matches) == 1, name
    return matches[0]


def jt_of_key(key):
    assert key['type'] == 'job_template'
    return jt_named(key['name'])


# --- what the runbooks read ------------------------------------------------------------------

def strip_comments(text):
    return '\n'.join(line for line in text.splitlines() if not line.lstrip().startswith('#'))


def playbook_sources(playbook, seen=None):
    """The playbook's text and that of what it loads: imported playbooks, vars files, the collection's roles it names."""
    seen = set() if seen is None else seen
    if playbook in seen:
        return []
    seen.add(playbook)
    text = strip_comments(playbook.read_text())
    texts = [text]
    for imported in re.findall(r'import_playbook:\s*(\S+)', text):
        texts += playbook_sources((playbook.parent / imported).resolve(), seen)
    for vars_file in re.findall(r'^\s*-\s*(vars/\S+\.yml)\s*$', text, re.M):
        texts.append(strip_comments((playbook.parent / vars_file).read_text()))
    roles = set(re.findall(r'oncall\.runbooks\.([a-z_]+)', text))
    # The incident role's runbook entry point runs the components that the playbook names.
    roles |= {name for name in re.findall(r"'([a-z]+)'", text) if (REPO / 'roles' / name).is_dir()}
    for role in sorted(roles):
        if (REPO / 'roles' / role).is_dir():
            for path in sorted((REPO / 'roles' / role).rglob('*.yml')) + sorted((REPO / 'roles' / role).rglob('*.j2')):
                texts.append(strip_comments(path.read_text()))
    return texts


def reads(playbook, variable):
    pattern = re.compile(r'(?<![\w.])%s(?!\w)' % re.escape(variable))
    return any(pattern.search(text) for text in playbook_sources(playbook))


# --- the file's structure --------------------------------------------------------------------

def test_the_file_has_only_what_awx_import_imports():
    assert isinstance(ASSET_DATA, dict) and ASSET_DATA
    unknown = set(ASSET_DATA) - set(awx_api.EXPORTABLE_RESOURCES)
    assert not unknown, 'awx import ignores %s' % sorted(unknown)
    for resource, assets in ASSET_DATA.items():
        assert isinstance(assets, list) and assets, resource


def test_every_asset_has_the_natural_key_awxkit_builds_and_its_required_fields():
    for asset in walk_assets(ASSET_DATA):
        key = asset['natural_key']
        kind = key['type']
        expected = natural_key_fields(kind)
        assert expected, 'awxkit has no natural key for %s' % kind
        assert set(key) == set(expected) | {'type'}, (kind, key)
        for field in expected:
            if field in asset:
                assert asset[field] == key[field], (kind, field)
        required = REQUIRED.get(kind, set())
        if kind == 'workflow_job_template_node':
            assert ('unified_job_template' in asset) != ('create_approval_template' in asset.get('related', {})), key
        missing = required - set(asset)
        assert not missing, '%s %s lacks %s' % (kind, asset.get('name', asset.get('identifier')), sorted(missing))
    names = [(asset['natural_key']['type'], freeze(asset['natural_key'])) for asset in walk_assets(ASSET_DATA)]
    assert len(names) == len(set(names)), 'two assets with one natural key'


def test_every_reference_resolves_to_an_asset_of_the_file():
    known = {freeze(asset['natural_key']) for asset in walk_assets(ASSET_DATA)}
    for asset in walk_assets(ASSET_DATA):
        fields = {key: value for key, value in asset.items() if key != 'natural_key'}
        for reference in references(fields):
            assert freeze(reference) in known, 'unresolved %s in %s' % (reference, asset['natural_key'])
        for reference in references(asset['natural_key']):
            if reference is not asset['natural_key']:
                assert freeze(reference) in known, 'unresolved %s in the key of %s' % (reference, asset['natural_key'])


def test_there_is_one_job_template_per_runbook_playbook():
    playbooks = sorted(path.name for path in PLAYBOOKS.glob('*.yml'))
    assert {'triage.yml', 'sev1-db.yml', 'audit.yml', 'escalate.yml'} <= set(playbooks)
    templated = sorted(Path(item['playbook']).name for item in JOB_TEMPLATES)
    assert templated == playbooks
    for item in JOB_TEMPLATES:
        assert (REPO / item['playbook']).is_file(), item['playbook']
        assert Path(item['playbook']).parent == Path('playbooks'), 'AWX runs playbooks relative to the project root'


def test_job_types_and_launch_prompts():
    for item in JOB_TEMPLATES:
        assert item['job_type'] == ('check' if item['playbook'] == 'playbooks/audit.yml' else 'run'), item['name']
        assert isinstance(yaml.safe_load(item['extra_vars'] or '{}') or {}, dict), item['name']
    audit = jt_named('Runbook audit')
    assert audit['ask_job_type_on_launch'] is False, 'the audit must not be launched as a real run'


def survey_questions(item):
    survey = item['related'].get('survey_spec') or {}
    assert bool(survey.get('spec')) == bool(item['survey_enabled']), item['name']
    return survey.get('spec', [])


@pytest.mark.parametrize('item', JOB_TEMPLATES, ids=[item['name'] for item in JOB_TEMPLATES])
def test_surveys_are_valid_and_ask_what_the_playbook_reads(item):
    playbook = REPO / item['playbook']
    questions = survey_questions(item)
    variables = [question['variable'] for question in questions]
    assert len(variables) == len(set(variables))
    for question in questions:
        assert SURVEY_KEYS <= set(question), question
        assert question['type'] in SURVEY_TYPES, question
        assert re.match(r'^[a-z_][a-z0-9_]*$', question['variable']), question
        assert reads(playbook, question['variable']), '%s does not read %s' % (item['playbook'], question['variable'])
        default = question['default']
        if question['type'] in ('multiplechoice', 'multiselect'):
            choices = question['choices']
            assert isinstance(choices, list) and choices, question
            chosen = default.split('\n') if question['type'] == 'multiselect' and default else [default] if default else []
            assert set(chosen) <= set(choices), question
        elif question['type'] == 'integer' and default != '':
            assert isinstance(default, int) and question['min'] <= default <= question['max'], question
        elif question['type'] in ('text', 'textarea') and default:
            assert question['min'] <= len(default) <= question['max'], question
        if question['required']:
            assert default not in ('', None), 'a required question without a default stops a scheduled or workflow launch'
    hosts = [name for name in variables if name.endswith('_hosts')]
    if 'hosts: localhost' not in playbook.read_text():
        assert len(hosts) == 1 and re.search(r'^\s*hosts: "\{\{.*\b%s \| default' % hosts[0], playbook.read_text(), re.M), \
            '%s: the survey selects the target hosts' % item['name']
        assert item['ask_limit_on_launch'] is True


def test_severity_is_asked_where_a_runbook_declares():
    asked = 0
    for item in JOB_TEMPLATES:
        playbook = (REPO / item['playbook']).read_text()
        declared = re.search(r"incident_severity: \"\{\{ (\w+) \| default\('(\w+)'\) \}\}\"", playbook)
        if declared:
            questions = {question['variable']: question for question in survey_questions(item)}
            assert declared.group(1) in questions, item['name']
            assert questions[declared.group(1)]['default'] == declared.group(2), item['name']
            asked += 1
    assert asked >= 7


def test_the_approval_workflow():
    workflows = {item['name']: item for item in ASSET_DATA['workflow_job_templates']}
    workflow = workflows['Runbook with approval']
    nodes = {node['identifier']: node for node in workflow['related']['workflow_nodes']}
    for node in nodes.values():
        assert node['natural_key']['workflow_job_template'] == workflow['natural_key']
    edges = sorted((source, target['identifier']) for source, node in nodes.items() for target in node['related']['success_nodes'])
    assert edges == sorted([('diagnose', 'approve'), ('approve', 'mitigate'), ('mitigate', 'verify'), ('verify', 'report')])
    assert all(not node['related'].get('failure_nodes') and not node['related'].get('always_nodes') for node in nodes.values())
    for source, node in nodes.items():
        for target in node['related']['success_nodes']:
            assert target['workflow_job_template'] == workflow['natural_key'] and target['type'] == 'workflow_job_template_node'

    approval = nodes['approve']['related']['create_approval_template']
    assert 'unified_job_template' not in nodes['approve'] and approval['name'] and int(approval['timeout']) > 0

    diagnose, mitigate = nodes['diagnose'], nodes['mitigate']
    assert diagnose['unified_job_template'] == mitigate['unified_job_template']
    assert diagnose['job_type'] == 'check' and mitigate['job_type'] == 'run'
    assert mitigate['extra_data']['incident_approved_fixes'] == ['all']
    assert 'incident_approved_fixes' not in diagnose['extra_data']
    runbook = jt_of_key(mitigate['unified_job_template'])
    assert runbook['ask_job_type_on_launch'] and runbook['ask_variables_on_launch'], 'the nodes pass job_type and extra_data'
    # The runbook's own default severity is one whose remediation is `approve`.
    policy = yaml.safe_load((REPO / 'roles' / 'incident' / 'defaults' / 'main.yml').read_text())['incident_policy']
    severity = [question['default'] for question in survey_questions(runbook) if question['variable'].endswith('_severity')]
    assert severity and policy['severities'][severity[0]]['remediation'] == 'approve'

    verify = jt_of_key(nodes['verify']['unified_job_template'])
    assert verify['playbook'] == 'playbooks/triage.yml'
    report = jt_of_key(nodes['report']['unified_job_template'])
    assert report['playbook'] == 'playbooks/post-incident.yml'
    # The mitigating run hands its incident to the report node (set_stats), so post_incident_id may not be required.
    assert reads(REPO / runbook['playbook'], 'post_incident_id')
    assert not [question for question in survey_questions(report) if question['variable'] == 'post_incident_id' and question['required']]


def test_escalate_runs_every_minute():
    from dateutil import rrule
    escalate = [item for item in JOB_TEMPLATES if item['playbook'] == 'playbooks/escalate.yml'][0]
    schedules = escalate['related']['schedules']
    assert len(schedules) == 1
    schedule = schedules[0]
    assert schedule['enabled'] is True
    assert schedule['unified_job_template'] == escalate['natural_key'] == schedule['natural_key']['unified_job_template']
    rule = rrule.rrulestr(schedule['rrule'].replace(' RRULE:', '\nRRULE:'))
    first, second = rule[0], rule[1]
    assert second - first == timedelta(minutes=1)
    assert escalate['allow_simultaneous'] is False, 'overlapping escalation runs queue instead'


def test_credential_types_inject_only_their_own_secrets_and_the_runbooks_read_them():
    from jinja2 import Environment, meta
    environment = Environment()
    types = {item['name']: item for item in ASSET_DATA['credential_types']}
    assert len(types) == 4
    injected_vars, injected_env = set(), set()
    for name, item in types.items():
        assert item['kind'] in ('cloud', 'net'), 'custom credential types are cloud or net'
        fields = {field['id']: field for field in item['inputs']['fields']}
        assert set(item['inputs'].get('required', [])) <= set(fields)
        assert any(field.get('secret') for field in fields.values()), name
        for field_id, field in fields.items():
            if re.search(r'key|token|password|dsn|webhook', field_id):
                assert field.get('secret') is True, '%s.%s must be secret' % (name, field_id)
        assert set(item['injectors']) <= {'extra_vars', 'env', 'file'} and item['injectors']
        for kind, values in item['injectors'].items():
            for target, template in values.items():
                used = meta.find_undeclared_variables(environment.parse(template))
                assert used and used <= set(fields), '%s injects %s from %s' % (name, target, sorted(used))
                (injected_vars if kind == 'extra_vars' else injected_env).add(target)
    # The runbooks read each injected variable (the incident role builds incident_channels from them).
    incident_defaults = strip_comments((REPO / 'roles' / 'incident' / 'defaults' / 'main.yml').read_text())
    for variable in injected_vars:
        assert re.search(r'\b%s\b' % variable, incident_defaults), variable
    modules = (REPO / 'plugins' / 'module_utils' / 'incident.py').read_text()
    for variable in injected_env:
        assert "'%s'" % variable in modules, variable
    # No credential (with inputs) is in the file: secrets are entered in AWX only.
    assert 'credentials' not in ASSET_DATA


def test_no_secret_in_plain_text(lab):
    text = ASSETS.read_text()
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text, re.I), pattern
    for secret in lab.secrets():
        assert secret not in text
    for item in JOB_TEMPLATES:
        extra = yaml.safe_load(item['extra_vars'] or '{}') or {}
        assert not [key for key in extra if re.search(r'password|token|key|webhook|dsn', key)], item['name']
        for question in survey_questions(item):
            if re.search(r'password|token|secret', question['variable']):
                assert question['type'] == 'password'


# --- running each job template as AWX does ----------------------------------------------------

def survey_extravars(item):
    """The extra vars AWX passes when a job template is launched with its survey's defaults."""
    values = yaml.safe_load(item['extra_vars'] or '{}') or {}
    for question in survey_questions(item):
        default = question['default']
        if default in ('', None):
            continue
        if question['type'] == 'multiselect':
            default = default.split('\n')
        elif question['type'] == 'integer':
            default = int(default)
        values[question['variable']] = default
    return values


def lab_state(lab):
    """What a check-mode run must leave as it was: the containers and their images, Redis's keys."""
    client = lab.docker.client()
    try:
        containers = sorted((item.id, item.image.id, item.status) for item in client.containers.list(all=True))
    finally:
        client.close()
    return {'containers': containers, 'redis_keys': lab.redis.client().dbsize()}


@pytest.fixture(scope='module')
def healthy_lab(lab):
    from lab import control
    from lab.core import Lab
    injected = control.status(Lab())['scenarios']
    if injected:
        pytest.fail('the job template runs need a healthy lab; injected now: %s' % ', '.join(injected))
    return lab


def run_as_awx(lab, item, tmp_path, extravars=None, envvars=None):
    """ansible-runner as AWX drives it: a private data dir with the project in it, the inventory, the job's extra
    vars, the job type, and the collection from the execution environment (here: this checkout's build)."""
    private = tmp_path / ('awx-%s' % uuid.uuid4().hex[:8])
    private.mkdir()
    (private / 'project').symlink_to(REPO, target_is_directory=True)
    values = survey_extravars(item)
    # The runner's own output directory exists after the first job: making it is no change to the platform.
    (tmp_path / 'reports').mkdir(mode=0o700, exist_ok=True)
    # The test's own incident store and report directory, instead of the lab inventory's.
    values.update(incident_report_dir=str(tmp_path / 'reports'), incident_store_path=str(tmp_path / 'incidents'))
    values.update(extravars or {})
    env = {'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS), 'ONCALL_INCIDENT_STORE': str(tmp_path / 'incidents'),
           'ONCALL_INCIDENT_DSN': '', 'ONCALL_INCIDENT_ID': '', 'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORCE_COLOR': '0'}
    env.update(envvars or {})
    cmdline = []
    if item['job_type'] == 'check':
        cmdline.append('--check')
    if item['diff_mode']:
        cmdline.append('--diff')
    runner = ansible_runner.run(private_data_dir=str(private), playbook=item['playbook'], inventory=str(lab.inventory),
                                extravars=values, envvars=env, cmdline=' '.join(cmdline) or None, quiet=True,
                                timeout=600)
    output = runner.stdout.read()
    return runner, output


def changed_tasks(runner):
    return [event['event_data'].get('task') for event in runner.events
            if event['event'] == 'runner_on_ok' and event['event_data'].get('res', {}).get('changed')]


@pytest.fixture
def awx_env(monkeypatch):
    # AWX runs the project's ansible.cfg from the project directory, not one named in the environment.
    monkeypatch.delenv('ANSIBLE_CONFIG', raising=False)
    if not (COLLECTIONS / 'ansible_collections' / 'oncall' / 'runbooks').exists():
        pytest.fail('run `make` first: the collection is linked into .build/collections')


RUNBOOK_TEMPLATES = [item for item in JOB_TEMPLATES if item['playbook'] not in ('playbooks/post-incident.yml', 'playbooks/escalate.yml')]


# What the launcher passes besides the survey: the alert intake rulebook passes the resolved alert.
LAUNCH_VARS = {
    'playbooks/alert.yml': {'alert_runbook': 'sev1-db', 'alert': {
        'status': 'resolved', 'labels': {'alertname': 'PostgresConnectionPoolExhausted', 'severity': 'critical'},
        'annotations': {'summary': 'connection pool exhausted'}, 'startsAt': '2026-11-23T08:00:00Z',
        'endsAt': '2026-11-23T08:05:00Z', 'fingerprint': 'a1b2c3d4e5f60718'}},
}


@pytest.mark.parametrize('item', RUNBOOK_TEMPLATES, ids=[item['name'] for item in RUNBOOK_TEMPLATES])
def test_each_job_template_runs_through_ansible_runner(healthy_lab, awx_env, item, tmp_path):
    before = lab_state(healthy_lab)
    runner, output = run_as_awx(healthy_lab, item, tmp_path, extravars=LAUNCH_VARS.get(item['playbook']))
    assert runner.status == 'successful' and runner.rc == 0, output[-4000:]
    stats = runner.stats
    assert not stats.get('failures') and not stats.get('dark'), stats
    # The survey's target selection reached the play: every host of the lab's inventory ran.
    assert set(stats['ok']) == {'localhost'}
    # A healthy platform: nothing declared, nothing fixed.
    assert not list(tmp_path.glob('incidents/**/*.json')), 'the healthy lab declared an incident'
    for path in tmp_path.glob('reports/*-localhost-*.json'):
        record = json.loads(path.read_text())
        assert record.get('incident', '') == '' and not [fix for fix in record.get('fixes', []) if fix.get('changed')], path.name
    if item['job_type'] == 'check':
        assert '--check' in ' '.join(runner.config.command)
        assert lab_state(healthy_lab) == before, 'the check-mode job changed the lab'
        assert not changed_tasks(runner), changed_tasks(runner)
    for secret in healthy_lab.secrets():
        assert secret not in output


def ago(minutes):
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).strftime('%Y-%m-%dT%H:%M:%SZ')


def test_post_incident_runs_with_its_survey(lab, awx_env, tmp_path):
    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    store = open_store_from(store_path=str(tmp_path / 'incidents'))
    record, created = store.declare({'id': 'INC-20261123-0042', 'title': 'PostgreSQL connections exhausted', 'severity': 'SEV2',
                                     'started_at': ago(30)})
    assert created
    item = [template for template in JOB_TEMPLATES if template['playbook'] == 'playbooks/post-incident.yml'][0]
    launch = {'post_incident_id': record['id'], 'post_incident_root_cause': 'a leaking client'}
    runner, output = run_as_awx(lab, item, tmp_path, extravars=launch)
    assert runner.status == 'successful', output[-4000:]
    assert (tmp_path / 'reports' / ('%s.md' % record['id'])).is_file()
    assert store.get(record['id'])['root_cause'] == 'a leaking client'


def test_escalate_sends_with_the_injected_credentials(lab, awx_env, tmp_path, pg_database, http_receiver):
    """The credential types' injectors, as AWX applies them: the Slack webhook as an extra var, the incident store's
    DSN in the environment. A due SEV1 step reaches the webhook; neither secret appears in the job's output."""
    types = {item['name']: item for item in ASSET_DATA['credential_types']}
    receiver = http_receiver()
    secret_path = '/services/T0AWX/B0AWX/%s' % uuid.uuid4().hex
    inputs = {'oncall.runbooks Slack': {'webhook_url': receiver.url + secret_path},
              'oncall.runbooks incident store': {'dsn': 'postgresql://linkflow:%s@%s:%s/%s' % (
                  lab.vars['postgres_app_password'], lab.vars['postgres_login_host'], lab.vars['postgres_port'], pg_database)}}
    from jinja2 import Environment
    extravars, envvars = {}, {}
    for name, values in inputs.items():
        injectors = types[name]['injectors']
        for target, template in injectors.get('extra_vars', {}).items():
            extravars[target] = Environment().from_string(template).render(**values)
        for target, template in injectors.get('env', {}).items():
            envvars[target] = Environment().from_string(template).render(**values)
    assert extravars == {'oncall_slack_webhook_url': receiver.url + secret_path}
    assert set(envvars) == {'ONCALL_INCIDENT_DSN'}

    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    store = open_store_from(store_dsn=envvars['ONCALL_INCIDENT_DSN'])
    record, created = store.declare({'id': 'INC-20261123-0043', 'title': 'API down', 'severity': 'SEV1', 'started_at': ago(1)})
    assert created

    item = [template for template in JOB_TEMPLATES if template['playbook'] == 'playbooks/escalate.yml'][0]
    runner, output = run_as_awx(lab, item, tmp_path, extravars=extravars, envvars=envvars)
    assert runner.status == 'successful', output[-4000:]
    # SEV1's on-call step (pagerduty, slack_incidents) is due at once: the Slack credential reaches it.
    assert [request['path'] for request in receiver.requests] == [secret_path]
    assert record['id'] in json.dumps(receiver.requests[0]['body'])
    assert [step['step'] for step in store.get(record['id'])['escalations']] == ['on-call']
    events = json.dumps(list(runner.events))
    for secret in (secret_path.rsplit('/', 1)[1], lab.vars['postgres_app_password']):
        assert secret not in output and secret not in events


def test_the_mitigating_run_hands_its_incident_to_the_report_node(lab, awx_env, tmp_path):
    """The workflow's report node gets post_incident_id from the mitigating job's artifacts (set_stats), as AWX
    passes a node's artifacts to the nodes after it as extra vars."""
    from ansible_collections.oncall.runbooks.plugins.module_utils.incident import open_store_from
    store = open_store_from(store_path=str(tmp_path / 'incidents'))
    record, created = store.declare({'id': 'INC-20261123-0044', 'title': 'slow queries', 'severity': 'SEV3', 'started_at': ago(10),
                                     'dedup_key': 'sev3-performance/localhost'})
    assert created
    # The end of a mitigating run that declared that incident: the incident role's close entry point.
    playbook = tmp_path / 'close.yml'
    playbook.write_text(yaml.safe_dump([{
        'name': 'close', 'hosts': 'localhost', 'gather_facts': False, 'roles': [{'role': 'oncall.runbooks.incident'}],
        'tasks': [{'name': 'close', 'ansible.builtin.include_role': {'name': 'oncall.runbooks.incident', 'tasks_from': 'close'},
                   'vars': {'incident_id': record['id'], 'incident_runbook': 'sev3-performance'}}]}]))
    private = tmp_path / 'mitigate'
    private.mkdir()
    runner = ansible_runner.run(private_data_dir=str(private), playbook=str(playbook), inventory=str(lab.inventory), quiet=True,
                                extravars={'incident_store_path': str(tmp_path / 'incidents'),
                                           'incident_report_dir': str(tmp_path / 'reports')},
                                envvars={'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS), 'ONCALL_INCIDENT_STORE': str(tmp_path / 'incidents')},
                                timeout=300)
    assert runner.status == 'successful', runner.stdout.read()[-3000:]
    stats = [event for event in runner.events if event['event'] == 'playbook_on_stats'][-1]
    artifacts = stats['event_data'].get('artifact_data')
    assert artifacts == {'post_incident_id': record['id']}

    report = [template for template in JOB_TEMPLATES if template['playbook'] == 'playbooks/post-incident.yml'][0]
    runner, output = run_as_awx(lab, report, tmp_path, extravars=artifacts)
    assert runner.status == 'successful', output[-3000:]
    assert (tmp_path / 'reports' / ('%s.md' % record['id'])).is_file()
