# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure rollout logic of module_utils/k8s.py: which revision a rollback goes to, and rollout states."""

from __future__ import annotations

import pytest

from ansible_collections.oncall.runbooks.plugins.module_utils.k8s import (
    choose_revision,
    current_revision,
    revision_template,
    rollout_state,
    same_template,
)
from ansible_collections.oncall.runbooks.plugins.module_utils.runbook import RunbookError


def template(image, **labels):
    labels.setdefault('app', 'web')
    return {'metadata': {'labels': labels}, 'spec': {'containers': [{'name': 'web', 'image': image}]}}


@pytest.mark.parametrize('numbers, current, expected', [
    ([1, 2, 3], 3, 2),
    # After a rollback from 3 to 2, revision 2 is renumbered 4 (2 is gone): the previous one is 3.
    ([1, 3, 4], 4, 3),
    # Rollbacks and the history limit leave gaps: 9 - 1 = 8 does not exist.
    ([2, 7, 9], 9, 7),
    # The current revision is not the highest (the controller has not renumbered yet): still the highest lower one.
    ([1, 2, 3, 6], 3, 2),
])
def test_previous_is_the_highest_revision_lower_than_the_current(numbers, current, expected):
    assert choose_revision(numbers, current) == expected
    assert choose_revision(numbers, current, 0) == expected


def test_previous_without_a_known_current_revision_is_below_the_highest():
    assert choose_revision([1, 4, 5], None) == 4


def test_explicit_revision_must_exist_and_the_error_lists_those_that_do():
    assert choose_revision([1, 4, 5], 5, 1) == 1
    with pytest.raises(RunbookError) as error:
        choose_revision([1, 4, 5], 5, 3, 'Deployment linkflow/linkflow-api')
    assert str(error.value) == 'to_revision: revision 3 of Deployment linkflow/linkflow-api does not exist; its revisions are 1, 4, 5'


def test_no_earlier_revision_is_one_line():
    with pytest.raises(RunbookError) as error:
        choose_revision([1], 1, None, 'Deployment ns/web')
    assert 'no revision before its current revision 1' in str(error.value) and '\n' not in str(error.value)


def test_revision_template_strips_what_kubectl_strips():
    stored = template('web:1', **{'pod-template-hash': '5d8f7c'})
    stored['metadata']['creationTimestamp'] = None
    stored['$patch'] = 'replace'
    cleaned = revision_template(stored)
    assert cleaned == template('web:1')
    assert stored['metadata']['labels']['pod-template-hash'] == '5d8f7c', 'the input is not modified'
    assert same_template(stored, template('web:1'))
    assert not same_template(stored, template('web:2'))


def test_current_revision_is_the_highest_revision_holding_the_template():
    revisions = [dict(revision=1, template=template('web:1')), dict(revision=3, template=template('web:2')),
                 dict(revision=4, template=template('web:1'))]
    workload = {'spec': {'template': template('web:1')}}
    assert current_revision(workload, revisions) == 4
    assert current_revision({'spec': {'template': template('web:9')}}, revisions) is None


def deployment(generation=2, observed=2, replicas=3, updated=3, ready=3, available=3, total=3, progressing=None):
    status = dict(observedGeneration=observed, replicas=total, updatedReplicas=updated, readyReplicas=ready, availableReplicas=available)
    if progressing:
        status['conditions'] = [dict(type='Progressing', status='False' if progressing == 'ProgressDeadlineExceeded' else 'True',
                                     reason=progressing, message='ReplicaSet "web-1" has timed out progressing.')]
    return dict(kind='Deployment', metadata=dict(generation=generation), spec=dict(replicas=replicas), status=status)


def test_deployment_complete():
    state = rollout_state(deployment(progressing='NewReplicaSetAvailable'))
    assert state['done'] and not state['stalled'] and not state['progressing'] and state['observed']
    assert state['message'] == 'complete: 3 of 3 updated and available'


@pytest.mark.parametrize('fields, message', [
    (dict(observed=1), 'waiting for the controller to see generation 2'),
    (dict(updated=1, available=1), '1 of 3 updated'),
    (dict(total=4), '1 old replicas pending termination'),
    (dict(available=2), '2 of 3 updated replicas available'),
])
def test_deployment_in_progress(fields, message):
    state = rollout_state(deployment(**fields))
    assert not state['done'] and not state['stalled']
    assert state['message'] == message
    assert state['progressing'] is state['observed']


def test_deployment_stalled_only_once_the_controller_saw_the_generation():
    stalled = rollout_state(deployment(updated=1, available=0, progressing='ProgressDeadlineExceeded'))
    assert stalled['stalled'] and not stalled['done'] and not stalled['progressing']
    assert stalled['message'].startswith('stalled: ReplicaSet "web-1" has timed out progressing')
    # A rollback bumps the generation: the old condition says nothing about the new template yet.
    unseen = rollout_state(deployment(generation=3, observed=2, progressing='ProgressDeadlineExceeded'))
    assert not unseen['stalled'] and unseen['message'] == 'waiting for the controller to see generation 3'


def test_statefulset_waits_for_the_update_revision():
    sts = dict(kind='StatefulSet', metadata=dict(generation=1), spec=dict(replicas=2),
               status=dict(observedGeneration=1, replicas=2, readyReplicas=2, updatedReplicas=1, availableReplicas=2,
                           currentRevision='db-1', updateRevision='db-2'))
    assert rollout_state(sts)['message'] == '1 of 2 updated'
    sts['status'].update(updatedReplicas=2, currentRevision='db-2')
    assert rollout_state(sts)['done']


def test_daemonset_counts_nodes():
    ds = dict(kind='DaemonSet', metadata=dict(generation=4), spec={},
              status=dict(observedGeneration=4, desiredNumberScheduled=3, currentNumberScheduled=3, updatedNumberScheduled=3,
                          numberReady=2, numberAvailable=2))
    state = rollout_state(ds)
    assert state['desired'] == 3 and state['message'] == '2 of 3 updated replicas available' and not state['done']
    ds['status'].update(numberReady=3, numberAvailable=3)
    assert rollout_state(ds)['done']
