"""The Python client's flow (scripts/api-contract python).

Runs against DAAS_URL with the client openapi-python-client generated from the served
/openapi.json (package `daas_client`, on PYTHONPATH): log in, an object's whole life (create,
list with and without a filter, get, update, trash, restore, purge), a user, a group, an
access token and a call made with it, and a lifecycle task (a transition asked twice with
one Idempotency-Key, read back, listed). Exits non-zero naming the step that failed.
"""

import os
import sys
import uuid

from daas_client import AuthenticatedClient, Client
from daas_client.api.auth import (
    auth_create_access_token,
    auth_create_group,
    auth_create_user,
    auth_me,
    auth_token,
)
from daas_client.api.db import (
    db_create_object,
    db_delete_object,
    db_get_object,
    db_list_objects,
    db_list_trashed_objects,
    db_purge_object,
    db_restore_object,
    db_update_object,
)
from daas_client.api.phases import phases_task, phases_tasks, phases_transition
from daas_client.models import (
    Credentials,
    DaasObject,
    DaasObjectPatch,
    NewAccessToken,
    NewDaasObject,
    NewGroup,
    NewTransition,
    NewUser,
    Task,
    TaskState,
    Transition,
)

BASE = os.environ["DAAS_URL"]
TAG = f"flow-py-{uuid.uuid4().hex[:8]}"


def call(step, status, response):
    """The parsed answer of `response`, which must have `status`."""
    if response.status_code != status:
        raise AssertionError(f"{step}: HTTP {int(response.status_code)}, expected {status}: {response.content[:300]!r}")
    return response.parsed


def check(step, ok, detail=""):
    if not ok:
        raise AssertionError(f"{step}: {detail}")


def ids(page):
    return [o.id for o in page.items]


def main():
    anon = Client(base_url=BASE, raise_on_unexpected_status=True)
    token = call("log in", 200, auth_token.sync_detailed(
        client=anon, body=Credentials(username=os.environ["DAAS_USER"], password=os.environ["DAAS_PASSWORD"]))).token
    api = AuthenticatedClient(base_url=BASE, token=token, raise_on_unexpected_status=True)
    print("ok: log in")

    created = call("create an object", 201, db_create_object.sync_detailed(
        client=api, body=NewDaasObject(os_type=TAG, hw_cpus=1)))
    check("create an object", isinstance(created, DaasObject) and created.os_type == TAG, repr(created))
    oid = created.id
    print(f"ok: create an object ({oid})")

    page = call("list with a filter", 200, db_list_objects.sync_detailed(client=api, filter_=[f"os_type:{TAG}"]))
    check("list with a filter", ids(page) == [oid], f"{ids(page)}")
    print("ok: list with a filter")

    seen, cursor = [], None
    while True:  # every page, without a filter
        kwargs = {"cursor": cursor} if cursor else {}
        page = call("list without a filter", 200, db_list_objects.sync_detailed(client=api, limit=500, **kwargs))
        seen += ids(page)
        cursor = page.next_cursor
        if not cursor:
            break
    check("list without a filter", oid in seen, f"{oid} not among {len(seen)} objects")
    print(f"ok: list without a filter ({len(seen)} objects)")

    got = call("get", 200, db_get_object.sync_detailed(id=oid, client=api))
    check("get", got.id == oid and got.hw_cpus == 1, repr(got))
    print("ok: get")

    updated = call("update", 200, db_update_object.sync_detailed(id=oid, client=api, body=DaasObjectPatch(hw_cpus=2)))
    check("update", updated.hw_cpus == 2 and updated.os_type == TAG, repr(updated))
    print("ok: update")

    call("trash", 204, db_delete_object.sync_detailed(id=oid, client=api))
    call("get a trashed object", 404, db_get_object.sync_detailed(id=oid, client=api))
    trash = call("list the trash", 200, db_list_trashed_objects.sync_detailed(client=api, filter_=[f"os_type:{TAG}"]))
    check("list the trash", ids(trash) == [oid], f"{ids(trash)}")
    print("ok: trash")

    call("restore", 204, db_restore_object.sync_detailed(id=oid, client=api))
    call("get a restored object", 200, db_get_object.sync_detailed(id=oid, client=api))
    print("ok: restore")

    call("trash again", 204, db_delete_object.sync_detailed(id=oid, client=api))
    call("purge", 204, db_purge_object.sync_detailed(id=oid, client=api))
    trash = call("list the trash after purge", 200, db_list_trashed_objects.sync_detailed(client=api, filter_=[f"os_type:{TAG}"]))
    check("purge", ids(trash) == [], f"{ids(trash)}")
    print("ok: purge")

    user = call("create a user", 201, auth_create_user.sync_detailed(
        client=api, body=NewUser(name=TAG, password="a long flow passphrase")))
    check("create a user", user.name == TAG and user.id, repr(user))
    print(f"ok: create a user ({user.id})")

    group = call("create a group", 201, auth_create_group.sync_detailed(client=api, body=NewGroup(name=TAG)))
    check("create a group", group.name == TAG, repr(group))
    print(f"ok: create a group ({group.id})")

    created_token = call("create an access token", 201, auth_create_access_token.sync_detailed(
        client=api, body=NewAccessToken(description=TAG)))
    check("create an access token", created_token.access_token.description == TAG, repr(created_token))
    print(f"ok: create an access token ({created_token.access_token.id})")

    with_token = AuthenticatedClient(base_url=BASE, token=created_token.token, raise_on_unexpected_status=True)
    me = call("use the access token", 200, auth_me.sync_detailed(client=with_token))
    check("use the access token", me.name == os.environ["DAAS_USER"] and me.via == "access_token", repr(me))
    call("list with the access token", 200, db_list_objects.sync_detailed(client=with_token, limit=1))
    print("ok: use the access token")

    # A transition of the demo's shared base image: 202 with the task; the same key
    # answers the same task. (The contract's site runs no engine: the task then fails,
    # which is a state like any other here.)
    body = NewTransition(transition=Transition.CLONE_TEMPLATE, id_user=TAG)
    task = call("ask a transition", 202, phases_transition.sync_detailed(
        id="demo-desktop-base", client=api, body=body, idempotency_key=TAG))
    check("ask a transition", isinstance(task, Task) and task.kind == "clone_template", repr(task))
    again = call("ask it again", 202, phases_transition.sync_detailed(
        id="demo-desktop-base", client=api, body=body, idempotency_key=TAG))
    check("ask it again", again.id == task.id, f"{again.id} != {task.id}")
    got = call("read the task", 200, phases_task.sync_detailed(id=task.id, client=api))
    check("read the task", got.id == task.id and isinstance(got.state, TaskState), repr(got))
    listed = call("list the tasks", 200, phases_tasks.sync_detailed(client=api, limit=1000))
    check("list the tasks", task.id in [t.id for t in listed], f"{task.id} not listed")
    print(f"ok: a lifecycle task ({task.id}, {got.state.value})")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        print(f"FAILED: python flow: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print("python flow: every step passed")
