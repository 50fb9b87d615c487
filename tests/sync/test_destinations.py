"""Each API destination against a local server that enforces that API's contract."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orchestration.sync.destinations.base import DestinationContext
from orchestration.sync.destinations.mailchimp import MailchimpSettings
from orchestration.sync.engine import run_sync
from orchestration.sync.http import HttpSession
from orchestration.sync.localserver import Fault, FaultSchedule
from orchestration.sync.normalise import normalise_email, sha256_hex
from tests.sync.conftest import Paths
from tests.sync.fakes import (
    BrazeFake,
    FakeApi,
    GoogleFake,
    HubSpotFake,
    KlaviyoFake,
    MailchimpFake,
    MetaFake,
    SalesforceFake,
)
from tests.sync.helpers import FakeClock, make_config, people, state_rows, write_warehouse


def email_key(row: dict[str, Any]) -> str:
    return row["email"].strip().lower()


def hashed_email(row: dict[str, Any]) -> str:
    return sha256_hex(normalise_email(row["email"]) or "")


@dataclass
class Case:
    """How to point one destination at its fake, and how the fake names a source row."""

    fake: Callable[[], FakeApi]
    destination: Callable[[str], dict[str, Any]]
    mapping: dict[str, str]
    mode: str
    env: dict[str, str]
    wrong_env: dict[str, str]
    identity: Callable[[dict[str, Any]], str]
    rows: int  # enough rows for more than one full batch
    max_batch: int


CASES = {
    "hubspot": Case(
        HubSpotFake,
        lambda url: {"type": "hubspot", "base_url": url, "token_env": "HUBSPOT_TOKEN"},
        {"email": "email", "firstname": "first_name", "score": "score"},
        "upsert",
        {"HUBSPOT_TOKEN": "pat-test-token"},
        {"HUBSPOT_TOKEN": "pat-wrong"},
        email_key,
        150,
        100,
    ),
    "braze": Case(
        BrazeFake,
        lambda url: {"type": "braze", "base_url": url, "api_key_env": "BRAZE_KEY"},
        {"email": "email", "first_name": "first_name"},
        "upsert",
        {"BRAZE_KEY": "braze-key"},
        {"BRAZE_KEY": "nope"},
        lambda row: row["customer_id"],
        100,
        75,
    ),
    "klaviyo": Case(
        KlaviyoFake,
        lambda url: {
            "type": "klaviyo",
            "base_url": url,
            "api_key_env": "KLAVIYO_KEY",
            "batch_size": 40,
            "list_id": "L1",
            "poll_seconds": 0.5,
        },
        {"email": "email", "first_name": "first_name", "loyalty_score": "score"},
        "upsert",
        {"KLAVIYO_KEY": "pk_test"},
        {"KLAVIYO_KEY": "pk_wrong"},
        email_key,
        90,
        40,
    ),
    "mailchimp": Case(
        MailchimpFake,
        lambda url: {
            "type": "mailchimp",
            "base_url": f"{url}/3.0",
            "api_key_env": "MC_KEY",
            "list_id": "list123",
        },
        {"email_address": "email", "FNAME": "first_name"},
        "audience",
        {"MC_KEY": "0123456789abcdef-us6"},
        {"MC_KEY": "wrong-us6"},
        email_key,
        600,
        500,
    ),
    "salesforce": Case(
        SalesforceFake,
        lambda url: {
            "type": "salesforce",
            "base_url": url,
            "access_token_env": "SF_TOKEN",
            "external_id_field": "Tessera_Id__c",
        },
        {"Tessera_Id__c": "customer_id", "Email": "email", "FirstName": "first_name"},
        "upsert",
        {"SF_TOKEN": "00D-session"},
        {"SF_TOKEN": "00D-wrong-9f8e"},
        lambda row: row["customer_id"],
        250,
        200,
    ),
    "meta": Case(
        MetaFake,
        lambda url: {
            "type": "meta_audience",
            "base_url": url,
            "access_token_env": "META_TOKEN",
            "audience_id": "2384",
            "batch_size": 60,
        },
        {"EMAIL": "email", "PHONE": "phone", "FN": "first_name"},
        "audience",
        {"META_TOKEN": "EAAB-token"},
        {"META_TOKEN": "EAAB-wrong-9f8e"},
        hashed_email,
        130,
        60,
    ),
    "google": Case(
        GoogleFake,
        lambda url: {
            "type": "google_customer_match",
            "base_url": url,
            "developer_token_env": "GADS_DEV",
            "access_token_env": "GADS_TOKEN",
            "customer_id": "1234567890",
            "user_list_id": "555",
            "batch_size": 50,
        },
        {"email": "email", "phone": "phone"},
        "audience",
        {"GADS_DEV": "dev-token", "GADS_TOKEN": "ya29.token"},
        {"GADS_DEV": "dev-token", "GADS_TOKEN": "ya29.wrong-9f8e"},
        hashed_email,
        120,
        50,
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Iterator[tuple[Case, FakeApi]]:
    spec = CASES[request.param]
    fake = spec.fake().start()
    try:
        yield spec, fake
    finally:
        fake.stop()


def members(fake: FakeApi) -> set[str]:
    if isinstance(fake, MetaFake | GoogleFake):
        return set(fake.members)
    return set(fake.store)


def config_for(spec: Case, fake: FakeApi, **kw: Any):
    return make_config(spec.destination(fake.url), mapping=spec.mapping, mode=kw.pop("mode", spec.mode), **kw)


def test_batches_fit_the_api_limit_and_an_unchanged_rerun_sends_nothing(
    case: tuple[Case, FakeApi], paths: Paths
) -> None:
    spec, fake = case
    rows = people(spec.rows)
    write_warehouse(paths.warehouse, rows)
    config = config_for(spec, fake)
    result = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert result.status == "success", result.error
    assert result.succeeded == spec.rows
    assert max(fake.batch_sizes) == spec.max_batch and sum(fake.batch_sizes) == spec.rows
    assert members(fake) == {spec.identity(row) for row in rows}
    assert set(fake.accepted.values()) == {1}
    before = fake.request_count()
    again = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert (again.status, again.requests, again.unchanged) == ("success", 0, spec.rows)
    assert fake.request_count() == before


def test_per_record_errors_are_read_and_refused_records_wait_for_changed_data(
    case: tuple[Case, FakeApi], paths: Paths
) -> None:
    """Each fake refuses a record with its API's validation error, which the destination classifies as
    permanent: the record is not sent again until its data changes, and the run is not partial."""
    spec, fake = case
    rows = people(12)
    write_warehouse(paths.warehouse, rows)
    bad = rows[5]
    fake.refuse[spec.identity(bad)] = "refused by the API"
    config = config_for(spec, fake)
    first = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert (first.status, first.succeeded, first.failed, first.rejected) == ("success", 11, 0, 1)
    state = state_rows(paths.state)
    assert state[bad["customer_id"]]["status"] == "rejected" and state[bad["customer_id"]]["last_error"]
    assert state[rows[0]["customer_id"]]["status"] == "synced"
    fake.refuse.clear()
    before = fake.request_count()
    unchanged = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert (unchanged.status, unchanged.requests, unchanged.skipped, unchanged.rejected) == (
        "success",
        0,
        1,
        1,
    )
    assert fake.request_count() == before
    bad["email"] = "Corrected.5@Example.com"  # a mapped field of every destination
    write_warehouse(paths.warehouse, rows)
    second = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert (second.status, second.sent, second.succeeded, second.rejected) == ("success", 1, 1, 0)
    assert members(fake) == {spec.identity(row) for row in rows}
    assert set(fake.accepted.values()) == {1}


def test_wrong_credentials_fail_the_run_without_losing_anything(
    case: tuple[Case, FakeApi], paths: Paths
) -> None:
    spec, fake = case
    write_warehouse(paths.warehouse, people(3))
    config = config_for(spec, fake)
    failed = run_sync(config, paths.warehouse, paths.state, env=spec.wrong_env, clock=FakeClock())
    assert failed.status == "failed"
    assert members(fake) == set()
    for secret in spec.wrong_env.values():
        assert secret not in (failed.error or "")
    fixed = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert fixed.status == "success" and fixed.recovered == 3


def test_429_and_5xx_are_retried(case: tuple[Case, FakeApi], paths: Paths) -> None:
    spec, fake = case
    fake.stop()
    fake.start(FaultSchedule({1: Fault("status", 429, retry_after=3), 2: Fault("status", 500)}))
    write_warehouse(paths.warehouse, people(5))
    clock = FakeClock()
    result = run_sync(config_for(spec, fake), paths.warehouse, paths.state, env=spec.env, clock=clock)
    assert result.status == "success", result.error
    assert sum(clock.sleeps) >= 3
    assert set(fake.accepted.values()) == {1} and len(fake.accepted) == 5


# Contract details, one destination at a time ------------------------------------------------------------


@pytest.fixture
def hubspot() -> Iterator[HubSpotFake]:
    fake = HubSpotFake()
    fake.start()
    yield fake
    fake.stop()


def test_hubspot_mirror_archives_by_the_ids_hubspot_returned(hubspot: HubSpotFake, paths: Paths) -> None:
    spec = CASES["hubspot"]
    rows = people(10)
    write_warehouse(paths.warehouse, rows)
    config = config_for(spec, hubspot, mode="mirror")
    run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert state_rows(paths.state)["c00004"]["destination_id"] == hubspot.ids["person.4@example.com"]
    write_warehouse(paths.warehouse, rows[:4] + rows[5:])
    result = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
    assert (result.removes, result.succeeded) == (1, 1)
    assert "person.4@example.com" not in hubspot.store and len(hubspot.store) == 9


def test_hubspot_whole_batch_400_is_split_to_the_bad_record(hubspot: HubSpotFake, paths: Paths) -> None:
    spec = CASES["hubspot"]
    write_warehouse(paths.warehouse, people(8))
    hubspot.whole_batch_400 = True
    hubspot.refuse["person.6@example.com"] = "bad value"
    result = run_sync(
        config_for(spec, hubspot), paths.warehouse, paths.state, env=spec.env, clock=FakeClock()
    )
    # Refused alone as invalid: a permanent rejection, not sent again until its data changes.
    assert (result.succeeded, result.failed, result.rejected, result.status) == (7, 0, 1, "success")
    assert "invalid value" in state_rows(paths.state)["c00006"]["last_error"]


def test_hubspot_update_mode_does_not_create(hubspot: HubSpotFake, paths: Paths) -> None:
    spec = CASES["hubspot"]
    write_warehouse(paths.warehouse, people(3))
    hubspot.store["person.0@example.com"] = {}
    result = run_sync(
        config_for(spec, hubspot, mode="update"),
        paths.warehouse,
        paths.state,
        env=spec.env,
        clock=FakeClock(),
    )
    assert (result.succeeded, result.failed) == (1, 2)
    assert set(hubspot.store) == {"person.0@example.com"}


def test_braze_update_only_flag_and_deletes(paths: Paths) -> None:
    spec = CASES["braze"]
    fake = BrazeFake().start()
    try:
        rows = people(60)
        write_warehouse(paths.warehouse, rows)
        fake.store["c00000"] = {}
        update = config_for(spec, fake, mode="update", name="braze_update")
        result = run_sync(update, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert (result.succeeded, result.failed) == (1, 59)
        mirror = config_for(spec, fake, mode="mirror", name="braze_mirror", limits={"max_remove_share": 1})
        run_sync(mirror, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        write_warehouse(paths.warehouse, rows[:3])
        removed = run_sync(mirror, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert removed.removes == 57 and removed.requests == 2  # /users/delete takes 50 ids
        assert set(fake.store) == {"c00000", "c00001", "c00002"}
    finally:
        fake.stop()


def test_klaviyo_waits_for_the_job_and_pages_through_import_errors(paths: Paths) -> None:
    spec = CASES["klaviyo"]
    fake = KlaviyoFake().start()
    try:
        rows = people(10)
        write_warehouse(paths.warehouse, rows)
        for i in (1, 4, 8):
            fake.refuse[email_key(rows[i])] = "invalid email domain"
        clock = FakeClock()
        result = run_sync(config_for(spec, fake), paths.warehouse, paths.state, env=spec.env, clock=clock)
        assert (result.succeeded, result.rejected) == (7, 3)  # import errors are validation failures
        assert clock.sleeps.count(0.5) >= 1  # polled the job before reading errors
        assert fake.request_count("import-errors") == 2  # two pages of errors
        assert next(iter(fake.jobs.values()))["lists"] == ["L1"]
        assert fake.store[email_key(rows[0])]["properties"] == {"loyalty_score": 0}
    finally:
        fake.stop()


def test_mailchimp_removes_members_by_subscriber_hash(paths: Paths) -> None:
    spec = CASES["mailchimp"]
    fake = MailchimpFake().start()
    try:
        rows = people(10)
        write_warehouse(paths.warehouse, rows)
        config = config_for(spec, fake)
        run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        rows[2]["has_consent_email_marketing"] = False
        write_warehouse(paths.warehouse, rows)
        result = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert result.removes == 1
        assert fake.deleted_hashes == [hashlib.md5(b"person.2@example.com").hexdigest()]
    finally:
        fake.stop()


def test_mailchimp_finds_the_data_centre_in_the_key() -> None:
    settings = MailchimpSettings(type="mailchimp", api_key_env="MC_KEY", list_id="abc")
    http = HttpSession(None)
    ctx = DestinationContext(
        "s", "upsert", {"email_address": "email"}, {"MC_KEY": "k-us21"}, FakeClock(), http=http
    )
    try:
        destination = settings.build(ctx)
        assert destination._list_url == "https://us21.api.mailchimp.com/3.0/lists/abc"  # type: ignore[attr-defined]
    finally:
        http.close()


def test_salesforce_mirror_deletes_by_record_id(paths: Paths) -> None:
    spec = CASES["salesforce"]
    fake = SalesforceFake().start()
    try:
        rows = people(5)
        write_warehouse(paths.warehouse, rows)
        config = config_for(spec, fake, mode="mirror", limits={"max_remove_share": 1})
        run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert state_rows(paths.state)["c00001"]["destination_id"] == fake.ids["c00001"]
        write_warehouse(paths.warehouse, rows[2:])
        result = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert (result.removes, result.succeeded) == (2, 2)
        assert set(fake.store) == {"c00002", "c00003", "c00004"}
    finally:
        fake.stop()


def test_meta_hashes_normalised_identifiers_and_replaces_changed_ones(paths: Paths) -> None:
    spec = CASES["meta"]
    fake = MetaFake().start()
    try:
        rows = people(4)
        rows[1]["first_name"] = " Zoë-Ann "
        write_warehouse(paths.warehouse, rows)
        config = config_for(spec, fake)
        run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        row = fake.members[hashed_email(rows[1])]
        assert row == (
            sha256_hex("person.1@example.com"),  # from "Person.1@Example.com "
            sha256_hex("14155550001"),  # from "+1 415 555 0001": digits with country code, no +
            sha256_hex("zoëann"),
        )
        old = hashed_email(rows[1])
        rows[1]["email"] = "moved@example.com"
        write_warehouse(paths.warehouse, rows)
        result = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert result.changes == 1
        assert old not in fake.members and sha256_hex("moved@example.com") in fake.members
    finally:
        fake.stop()


def test_meta_throttling_error_is_retried(paths: Paths) -> None:
    spec = CASES["meta"]
    throttled = Fault("status", 400, body={"error": {"message": "too many calls", "code": 80003}})
    fake = MetaFake().start(FaultSchedule({1: throttled}))
    try:
        write_warehouse(paths.warehouse, people(3))
        result = run_sync(
            config_for(spec, fake), paths.warehouse, paths.state, env=spec.env, clock=FakeClock()
        )
        assert result.status == "success" and result.requests == 2
    finally:
        fake.stop()


def test_google_runs_one_job_per_batch_and_maps_partial_failures(paths: Paths) -> None:
    spec = CASES["google"]
    fake = GoogleFake().start()
    try:
        rows = people(6)
        write_warehouse(paths.warehouse, rows)
        fake.refuse[hashed_email(rows[3])] = "bad"
        result = run_sync(
            config_for(spec, fake), paths.warehouse, paths.state, env=spec.env, clock=FakeClock()
        )
        # create, addOperations, run; INVALID_SHA256_FORMAT is final for that data
        assert (result.succeeded, result.rejected, result.requests) == (5, 1, 3)
        assert fake.runs == 1
        assert "malformed" in state_rows(paths.state)["c00003"]["last_error"]
        # Phones go as E.164 before hashing.
        assert hashed_email(rows[0]) in fake.members
    finally:
        fake.stop()


# The fakes themselves must be able to say no -------------------------------------------------------------


def test_the_fakes_refuse_wrong_auth_and_oversize_batches() -> None:
    checks: list[tuple[FakeApi, str, str, dict[str, Any], dict[str, str], dict[str, str]]] = []
    hub = HubSpotFake().start()
    big = {"inputs": [{"idProperty": "email", "id": f"{i}@x.io", "properties": {}} for i in range(101)]}
    checks.append(
        (
            hub,
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            big,
            {"Authorization": "Bearer pat-test-token"},
            {"Authorization": "Bearer x"},
        )
    )
    braze = BrazeFake().start()
    checks.append(
        (
            braze,
            "POST",
            "/users/track",
            {"attributes": [{"external_id": str(i)} for i in range(76)]},
            {"Authorization": "Bearer braze-key"},
            {"Authorization": "Bearer x"},
        )
    )
    sf = SalesforceFake().start()
    records = [{"attributes": {"type": "Contact"}, "Tessera_Id__c": str(i)} for i in range(201)]
    checks.append(
        (
            sf,
            "PATCH",
            "/services/data/v62.0/composite/sobjects/Contact/Tessera_Id__c",
            {"allOrNone": False, "records": records},
            {"Authorization": "Bearer 00D-session"},
            {"Authorization": "Bearer x"},
        )
    )
    mc = MailchimpFake().start()
    good = "Basic " + base64.b64encode(b"any:0123456789abcdef-us6").decode()
    members_ = [{"email_address": f"{i}@x.io", "status_if_new": "subscribed"} for i in range(501)]
    checks.append(
        (
            mc,
            "POST",
            "/3.0/lists/list123",
            {"members": members_, "update_existing": True},
            {"Authorization": good},
            {"Authorization": "Basic eDp5"},
        )
    )
    try:
        for fake, method, path, body, right, wrong in checks:
            assert httpx.request(method, fake.url + path, json=body, headers=wrong).status_code == 401
            assert httpx.request(method, fake.url + path, json=body, headers=right).status_code == 400
    finally:
        for fake, *_ in checks:
            fake.stop()


def test_meta_keeps_the_old_identifiers_until_their_removal_is_confirmed(paths: Paths) -> None:
    spec = CASES["meta"]
    fake = MetaFake().start()
    try:
        rows = people(3)
        write_warehouse(paths.warehouse, rows)
        config = config_for(spec, fake)
        run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        old = hashed_email(rows[1])
        rows[1]["email"] = "moved@example.com"
        write_warehouse(paths.warehouse, rows)
        fake.refuse[old] = "invalid"  # the removal of the old identifiers fails
        blocked = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert (blocked.changes, blocked.failed) == (1, 2)  # the removal, and the add it holds back
        assert sha256_hex("moved@example.com") not in fake.members
        assert state_rows(paths.state)["c00001"]["payload_hash"] is not None  # still the old version
        fake.refuse.clear()
        fixed = run_sync(config, paths.warehouse, paths.state, env=spec.env, clock=FakeClock())
        assert (fixed.status, fixed.succeeded) == ("success", 2)
        assert old not in fake.members and sha256_hex("moved@example.com") in fake.members
    finally:
        fake.stop()
