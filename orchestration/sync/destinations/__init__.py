"""The ten destinations, and the config union that picks one by its `type` key."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from orchestration.sync.destinations.base import (
    Destination,
    DestinationSettings,
    Limits,
    Record,
    RecordResult,
)
from orchestration.sync.destinations.braze import BrazeSettings
from orchestration.sync.destinations.files import FilesSettings
from orchestration.sync.destinations.google import GoogleCustomerMatchSettings
from orchestration.sync.destinations.hubspot import HubSpotSettings
from orchestration.sync.destinations.klaviyo import KlaviyoSettings
from orchestration.sync.destinations.mailchimp import MailchimpSettings
from orchestration.sync.destinations.meta import MetaAudienceSettings
from orchestration.sync.destinations.postgres import PostgresSettings
from orchestration.sync.destinations.salesforce import SalesforceSettings
from orchestration.sync.destinations.webhook import WebhookSettings

DestinationConfig = Annotated[
    HubSpotSettings
    | BrazeSettings
    | KlaviyoSettings
    | MailchimpSettings
    | SalesforceSettings
    | MetaAudienceSettings
    | GoogleCustomerMatchSettings
    | WebhookSettings
    | PostgresSettings
    | FilesSettings,
    Field(discriminator="type"),
]

SETTINGS_TYPES: tuple[type[DestinationSettings], ...] = (
    HubSpotSettings,
    BrazeSettings,
    KlaviyoSettings,
    MailchimpSettings,
    SalesforceSettings,
    MetaAudienceSettings,
    GoogleCustomerMatchSettings,
    WebhookSettings,
    PostgresSettings,
    FilesSettings,
)
DESTINATION_TYPES: frozenset[str] = frozenset(
    get_args(settings.model_fields["type"].annotation)[0] for settings in SETTINGS_TYPES
)

__all__ = [
    "DESTINATION_TYPES",
    "SETTINGS_TYPES",
    "BrazeSettings",
    "Destination",
    "DestinationConfig",
    "DestinationSettings",
    "FilesSettings",
    "GoogleCustomerMatchSettings",
    "HubSpotSettings",
    "KlaviyoSettings",
    "Limits",
    "MailchimpSettings",
    "MetaAudienceSettings",
    "PostgresSettings",
    "Record",
    "RecordResult",
    "SalesforceSettings",
    "WebhookSettings",
]
