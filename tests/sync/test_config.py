"""Sync files are validated on load: a wrong key or type fails with the file, the key and the reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestration.sync.config import load_syncs
from orchestration.sync.destinations.hubspot import HubSpotSettings
from orchestration.sync.errors import SyncConfigError

VALID = """
syncs:
  - name: hubspot_contacts
    source:
      model: marts.sync_hubspot__contacts
      primary_key: customer_id
    destination:
      type: hubspot
      token_env: HUBSPOT_TOKEN
      id_property: email
    mode: upsert
    mapping:
      email: email
      firstname: first_name
    schedule: "0 * * * *"
    consent_purpose: email_marketing
    limits:
      max_remove_share: 0.1
  - name: meta_lapsed
    source: {model: audience_lapsed, primary_key: customer_id}
    destination: {type: meta_audience, access_token_env: META_TOKEN, audience_id: "238"}
    mode: audience
    mapping: {EMAIL: email, PHONE: phone}
    schedule: "@daily"
    consent_purpose: ads_personalisation
  - name: warehouse_copy
    source: {model: customers, primary_key: customer_id}
    destination: {type: files, directory: /tmp/out, format: csv}
    mode: mirror
    mapping: {email: email}
    schedule: "*/15 * * * 1-5"
    consent_purpose: null
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncs.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_file_loads_every_sync(tmp_path: Path) -> None:
    syncs = load_syncs(write(tmp_path, VALID))
    assert [s.name for s in syncs] == ["hubspot_contacts", "meta_lapsed", "warehouse_copy"]
    hubspot = syncs[0]
    assert isinstance(hubspot.destination, HubSpotSettings)
    assert hubspot.source.schema_and_table == ("marts", "sync_hubspot__contacts")
    assert hubspot.limits.max_remove_share == 0.1
    assert hubspot.consent_column == "has_consent_email_marketing"
    assert syncs[1].limits.max_remove_share == 0.2  # the default
    assert syncs[2].consent_column is None


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        (
            "      id_property: email",
            "      id_propertyy: email",
            "syncs[0].destination.id_propertyy",
            "unknown key",
        ),
        (
            "      token_env: HUBSPOT_TOKEN",
            "      token: pat-na1-secret",
            "syncs[0].destination.token",
            "unknown key",
        ),
        (
            "      token_env: HUBSPOT_TOKEN",
            "      token_env: pat-na1-secret",
            "syncs[0].destination.token_env",
            "pattern",
        ),
        ("    mode: upsert", "    mode: audience", "syncs[0].mode", "does not support mode 'audience'"),
        ("    mode: upsert", "    mode: sideways", "syncs[0].mode", "Input should be"),
        (
            "      max_remove_share: 0.1",
            "      max_remove_share: lots",
            "syncs[0].limits.max_remove_share",
            "number",
        ),
        ('    schedule: "0 * * * *"', '    schedule: "every hour"', "syncs[0].schedule", "cron"),
        (
            "      email: email\n      firstname",
            "      e_mail: email\n      firstname",
            "syncs[0].mapping",
            "email",
        ),
        ("      primary_key: customer_id", "      primary_key: 12", "syncs[0].source.primary_key", "string"),
        ("    consent_purpose: email_marketing\n", "", "syncs[0].consent_purpose", "Field required"),
        ("      type: hubspot", "      type: myspace", "syncs[0].destination", "tag"),
    ],
)
def test_a_wrong_key_or_type_names_file_key_and_reason(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    text = textwrap.dedent(VALID)
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(path)
    error = caught.value
    assert error.file == str(path)
    assert error.key == key
    assert reason in error.reason
    assert str(path) in str(error) and key in str(error)


def test_a_secret_value_is_never_echoed_in_the_error(tmp_path: Path) -> None:
    text = textwrap.dedent(VALID).replace("token_env: HUBSPOT_TOKEN", "token_env: pat-na1-SUPERSECRET")
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(write(tmp_path, text))
    assert "SUPERSECRET" not in str(caught.value)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    text = textwrap.dedent(VALID).replace("name: meta_lapsed", "name: hubspot_contacts")
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(write(tmp_path, text))
    assert caught.value.key == "syncs[1].name"


def test_the_file_needs_a_syncs_list(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(write(tmp_path, "hubspot: {}\n"))
    assert caught.value.key == "syncs"


def test_broken_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(write(tmp_path, "syncs:\n  - name: [unclosed\n"))
    assert "line" in caught.value.reason


def test_batch_size_cannot_exceed_the_api_limit(tmp_path: Path) -> None:
    text = textwrap.dedent(VALID).replace(
        "      id_property: email", "      id_property: email\n      batch_size: 101"
    )
    with pytest.raises(SyncConfigError) as caught:
        load_syncs(write(tmp_path, text))
    assert caught.value.key == "syncs[0].destination"
    assert "above the API's limit of 100" in caught.value.reason
