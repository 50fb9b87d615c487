"""Local stand-ins for the destination APIs, each enforcing its API's documented contract.

Every fake rejects wrong auth and wrong shapes, refuses oversize batches, can refuse chosen records one
by one (in the API's own per-record error format) or fail a whole batch, and records everything it
accepted so tests can check that nothing was lost and nothing duplicated. Transport faults (429 with
Retry-After, 5xx, slow responses, dropped connections) come from the `FaultSchedule` of the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import Counter
from typing import Any, Self

from orchestration.sync.localserver import FaultSchedule, LocalServer, Request, Response, RollingWindowLimiter

HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FakeApi:
    """Common parts: the server, auth failures, the record store and acceptance counts."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.accepted: Counter[str] = Counter()
        self.refuse: dict[str, str] = {}  # record identity -> per-record error
        self.poison: set[str] = set()  # record identities that make the whole batch invalid (400)
        self.batch_sizes: list[int] = []
        self.lock = threading.Lock()
        self.server: LocalServer | None = None

    def start(
        self, faults: FaultSchedule | None = None, limiter: RollingWindowLimiter | None = None, **kwargs: Any
    ) -> Self:
        self.server = LocalServer(self.handle, faults=faults, limiter=limiter, **kwargs).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def request_count(self, path_contains: str = "") -> int:
        assert self.server is not None
        return len(self.server.requests(path_contains))

    def handle(self, request: Request) -> Response:
        with self.lock:
            return self._handle(request)

    def _handle(self, request: Request) -> Response:
        raise NotImplementedError


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


# HubSpot ----------------------------------------------------------------------------------------------


class HubSpotFake(FakeApi):
    """crm/v3 objects batch endpoints for contacts: upsert/update/create by idProperty, archive by id."""

    MAX = 100

    def __init__(self, token: str = "pat-test-token") -> None:
        super().__init__()
        self.token = token
        self.ids: dict[str, str] = {}  # email -> hubspot id
        self._next_id = itertools.count(1001)
        self.whole_batch_400 = False  # refuse records by failing the batch (HubSpot does for bad values)

    def _handle(self, request: Request) -> Response:
        if bearer(request) != self.token:
            return Response(
                401, {"status": "error", "category": "INVALID_AUTHENTICATION", "message": "bad token"}
            )
        match = re.fullmatch(r"/crm/v3/objects/contacts/batch/(upsert|update|create|archive)", request.path)
        if request.method != "POST" or not match:
            return Response(404, {"status": "error", "message": "not found"})
        body = request.json()
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return Response(
                400, {"status": "error", "category": "VALIDATION_ERROR", "message": "inputs required"}
            )
        if len(inputs) > self.MAX:
            return Response(
                400, {"status": "error", "category": "VALIDATION_ERROR", "message": "max 100 inputs"}
            )
        self.batch_sizes.append(len(inputs))
        verb = match.group(1)
        if verb == "archive":
            for entry in inputs:
                for email, hs_id in list(self.ids.items()):
                    if hs_id == entry.get("id"):
                        self.store.pop(email, None)
            return Response(204)
        for entry in inputs:
            properties = entry.get("properties")
            if not isinstance(properties, dict) or any(not isinstance(v, str) for v in properties.values()):
                return Response(
                    400, {"status": "error", "category": "VALIDATION_ERROR", "message": "bad properties"}
                )
            if verb != "create" and (
                entry.get("idProperty") != "email" or not isinstance(entry.get("id"), str)
            ):
                return Response(
                    400, {"status": "error", "category": "VALIDATION_ERROR", "message": "id/idProperty"}
                )
            email = (entry.get("id") or properties.get("email", "")).lower()
            if email in self.poison or (self.whole_batch_400 and email in self.refuse):
                return Response(
                    400,
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": f"invalid value for {email}",
                    },
                )
        results, errors = [], []
        for entry in inputs:
            properties = entry["properties"]
            email = (entry.get("id") or properties.get("email", "")).lower()
            if email in self.refuse:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": self.refuse[email],
                        "context": {"ids": [entry.get("id") or email]},
                    }
                )
                continue
            if verb == "update" and email not in self.store:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "not found",
                        "context": {"ids": [email]},
                    }
                )
                continue
            new = email not in self.ids
            hs_id = self.ids.setdefault(email, str(next(self._next_id)))
            self.store[email] = {**self.store.get(email, {}), **properties}
            self.accepted[email] += 1
            results.append({"id": hs_id, "properties": {**properties, "hs_object_id": hs_id}, "new": new})
        status = 207 if errors else 200
        return Response(
            status, {"status": "COMPLETE", "results": results, "errors": errors, "numErrors": len(errors)}
        )


# Braze ------------------------------------------------------------------------------------------------


class BrazeFake(FakeApi):
    MAX_ATTRIBUTES = 75
    MAX_DELETE = 50

    def __init__(self, api_key: str = "braze-key") -> None:
        super().__init__()
        self.api_key = api_key

    def _handle(self, request: Request) -> Response:
        if bearer(request) != self.api_key:
            return Response(401, {"message": "Invalid API key"})
        body = request.json() if request.body else None
        if request.path == "/users/delete" and request.method == "POST":
            ids = (body or {}).get("external_ids")
            if not isinstance(ids, list) or len(ids) > self.MAX_DELETE:
                return Response(400, {"message": "external_ids must be a list of at most 50"})
            for external_id in ids:
                self.store.pop(external_id, None)
            return Response(202, {"deleted": len(ids), "message": "success"})
        if request.path != "/users/track" or request.method != "POST":
            return Response(404, {"message": "not found"})
        attributes = (body or {}).get("attributes")
        if not isinstance(attributes, list) or not attributes:
            return Response(400, {"message": "Valid data must be provided in the 'attributes' field."})
        if len(attributes) > self.MAX_ATTRIBUTES:
            return Response(400, {"message": "Too many attributes objects (max 75)"})
        self.batch_sizes.append(len(attributes))
        errors = []
        for index, attribute in enumerate(attributes):
            external_id = attribute.get("external_id") if isinstance(attribute, dict) else None
            if not external_id:
                errors.append(
                    {"type": "'external_id' is required", "input_array": "attributes", "index": index}
                )
                continue
            if external_id in self.refuse:
                errors.append({"type": self.refuse[external_id], "input_array": "attributes", "index": index})
                continue
            if attribute.get("_update_existing_only") and external_id not in self.store:
                errors.append({"type": "user does not exist", "input_array": "attributes", "index": index})
                continue
            fields = {k: v for k, v in attribute.items() if k not in ("external_id", "_update_existing_only")}
            self.store[external_id] = {**self.store.get(external_id, {}), **fields}
            self.accepted[external_id] += 1
        reply: dict[str, Any] = {"message": "success", "attributes_processed": len(attributes) - len(errors)}
        if errors:
            reply["errors"] = errors
        return Response(201, reply)


# Klaviyo ----------------------------------------------------------------------------------------------


class KlaviyoFake(FakeApi):
    MAX_PROFILES = 10_000

    def __init__(self, api_key: str = "pk_test") -> None:
        super().__init__()
        self.api_key = api_key
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.polls_before_complete = 1
        self.error_page_size = 2

    def _error(self, status: int, detail: str) -> Response:
        return Response(
            status, {"errors": [{"status": status, "code": "invalid", "title": "Invalid", "detail": detail}]}
        )

    def _handle(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Klaviyo-API-Key {self.api_key}":
            return self._error(401, "Missing or invalid private key.")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", request.headers.get("revision", "")):
            return self._error(400, "revision header is required")
        if request.path == "/api/profile-bulk-import-jobs" and request.method == "POST":
            if "application/vnd.api+json" not in request.headers.get("content-type", ""):
                return self._error(415, "content-type must be application/vnd.api+json")
            return self._submit(request.json())
        match = re.fullmatch(r"/api/profile-bulk-import-jobs/([^/]+)(/import-errors)?", request.path)
        if request.method == "GET" and match and match.group(1) in self.jobs:
            job = self.jobs[match.group(1)]
            if match.group(2):
                return self._errors_page(match.group(1), int(request.query.get("page", ["0"])[0]))
            job["polls"] += 1
            status = "complete" if job["polls"] > self.polls_before_complete else "processing"
            attributes = {"status": status, "total_count": job["total"], "completed_count": job["total"]}
            attributes["failed_count"] = len(job["errors"]) if status == "complete" else 0
            return Response(
                200,
                {"data": {"type": "profile-bulk-import-job", "id": match.group(1), "attributes": attributes}},
            )
        return self._error(404, "not found")

    def _submit(self, body: Any) -> Response:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != "profile-bulk-import-job":
            return self._error(400, "data.type must be profile-bulk-import-job")
        profiles = ((data.get("attributes") or {}).get("profiles") or {}).get("data")
        if not isinstance(profiles, list) or not profiles:
            return self._error(400, "attributes.profiles.data is required")
        if len(profiles) > self.MAX_PROFILES:
            return self._error(413, "at most 10,000 profiles per job")
        for profile in profiles:
            attributes = profile.get("attributes") if isinstance(profile, dict) else None
            if profile.get("type") != "profile" or not isinstance(attributes, dict):
                return self._error(400, "each profile needs type 'profile' and attributes")
            if not any(attributes.get(k) for k in ("email", "phone_number", "external_id")):
                return self._error(400, "a profile needs an identifier")
        self.batch_sizes.append(len(profiles))
        job_id = f"job{next(self._ids)}"
        errors = []
        for index, profile in enumerate(profiles):
            attributes = profile["attributes"]
            email = str(attributes.get("email", "")).lower()
            if email in self.refuse:
                errors.append(
                    {
                        "type": "import-error",
                        "id": f"e{index}",
                        "attributes": {
                            "code": "invalid",
                            "title": "Invalid input",
                            "detail": self.refuse[email],
                            "source": {"pointer": f"/data/attributes/profiles/data/{index}/attributes/email"},
                            "original_payload": attributes,
                        },
                    }
                )
                continue
            self.store[email] = attributes
            self.accepted[email] += 1
        lists = [
            item["id"] for item in ((data.get("relationships") or {}).get("lists") or {}).get("data", [])
        ]
        self.jobs[job_id] = {"total": len(profiles), "errors": errors, "polls": 0, "lists": lists}
        return Response(
            202,
            {"data": {"type": "profile-bulk-import-job", "id": job_id, "attributes": {"status": "queued"}}},
        )

    def _errors_page(self, job_id: str, page: int) -> Response:
        errors = self.jobs[job_id]["errors"]
        size = self.error_page_size
        chunk = errors[page * size : (page + 1) * size]
        more = (page + 1) * size < len(errors)
        assert self.server is not None
        next_link = f"{self.server.url}/api/profile-bulk-import-jobs/{job_id}/import-errors?page={page + 1}"
        return Response(200, {"data": chunk, "links": {"next": next_link if more else None}})


# Mailchimp --------------------------------------------------------------------------------------------


class MailchimpFake(FakeApi):
    MAX_MEMBERS = 500

    def __init__(self, api_key: str = "0123456789abcdef-us6", list_id: str = "list123") -> None:
        super().__init__()
        self.api_key = api_key
        self.list_id = list_id
        self.deleted_hashes: list[str] = []

    def _handle(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        try:
            _, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            password = ""
        if not auth.startswith("Basic ") or password != self.api_key:
            return Response(401, {"title": "API Key Invalid", "status": 401, "detail": "bad key"})
        list_path = f"/3.0/lists/{self.list_id}"
        if request.method == "POST" and request.path == list_path:
            return self._batch(request.json())
        match = re.fullmatch(rf"{list_path}/members/([0-9a-f]{{32}})", request.path)
        if request.method == "DELETE" and match:
            subscriber_hash = match.group(1)
            for email in list(self.store):
                if hashlib.md5(email.encode()).hexdigest() == subscriber_hash:
                    del self.store[email]
                    self.deleted_hashes.append(subscriber_hash)
                    return Response(204)
            return Response(404, {"title": "Resource Not Found", "status": 404, "detail": "no such member"})
        return Response(404, {"title": "Resource Not Found", "status": 404, "detail": request.path})

    def _batch(self, body: Any) -> Response:
        members = body.get("members") if isinstance(body, dict) else None
        if not isinstance(members, list) or not members or not isinstance(body.get("update_existing"), bool):
            return Response(
                400, {"title": "Invalid Resource", "status": 400, "detail": "members and update_existing"}
            )
        if len(members) > self.MAX_MEMBERS:
            return Response(
                400, {"title": "Invalid Resource", "status": 400, "detail": "at most 500 members"}
            )
        self.batch_sizes.append(len(members))
        new: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for member in members:
            email = str(member.get("email_address", "")).lower()
            if not member.get("status_if_new") and not member.get("status"):
                return Response(
                    400, {"title": "Invalid Resource", "status": 400, "detail": "status_if_new required"}
                )
            if email in self.refuse:
                errors.append(
                    {
                        "email_address": member.get("email_address"),
                        "error": self.refuse[email],
                        "error_code": "ERROR_GENERIC",
                    }
                )
                continue
            record = {"id": hashlib.md5(email.encode()).hexdigest(), "email_address": email, **member}
            (updated if email in self.store else new).append(record)
            self.store[email] = member
            self.accepted[email] += 1
        return Response(
            200,
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
            },
        )


# Salesforce -------------------------------------------------------------------------------------------


class SalesforceFake(FakeApi):
    MAX_RECORDS = 200

    def __init__(
        self, token: str = "00D-session", sobject: str = "Contact", external_id: str = "Tessera_Id__c"
    ) -> None:
        super().__init__()
        self.token = token
        self.sobject = sobject
        self.external_id = external_id
        self.ids: dict[str, str] = {}
        self._next = itertools.count(1)

    def _handle(self, request: Request) -> Response:
        if bearer(request) != self.token:
            return Response(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
        base = "/services/data/v62.0/composite/sobjects"
        if request.method == "PATCH" and request.path == f"{base}/{self.sobject}/{self.external_id}":
            return self._upsert(request.json())
        if request.method == "DELETE" and request.path == base:
            ids = request.query.get("ids", [""])[0].split(",")
            if request.query.get("allOrNone") != ["false"] or len(ids) > self.MAX_RECORDS:
                return Response(400, [{"message": "bad delete", "errorCode": "INVALID_FIELD"}])
            results = []
            for record_id in ids:
                key = next((k for k, v in self.ids.items() if v == record_id), None)
                if key is not None and key in self.store:
                    del self.store[key]
                    results.append({"id": record_id, "success": True, "errors": []})
                else:
                    results.append(
                        {
                            "id": record_id,
                            "success": False,
                            "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "deleted"}],
                        }
                    )
            return Response(200, results)
        return Response(404, [{"message": "not found", "errorCode": "NOT_FOUND"}])

    def _upsert(self, body: Any) -> Response:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or body.get("allOrNone") is not False:
            return Response(
                400, [{"message": "records and allOrNone are required", "errorCode": "JSON_PARSER_ERROR"}]
            )
        if len(records) > self.MAX_RECORDS:
            return Response(400, [{"message": "more than 200 records", "errorCode": "EXCEEDED_ID_LIMIT"}])
        self.batch_sizes.append(len(records))
        results = []
        for record in records:
            if (record.get("attributes") or {}).get("type") != self.sobject or not record.get(
                self.external_id
            ):
                return Response(
                    400, [{"message": "attributes.type and the external id", "errorCode": "INVALID_INPUT"}]
                )
            key = str(record[self.external_id])
            if key in self.refuse:
                results.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                "message": self.refuse[key],
                                "fields": [],
                            }
                        ],
                    }
                )
                continue
            created = key not in self.ids
            record_id = self.ids.setdefault(key, f"003{next(self._next):015d}")
            self.store[key] = {k: v for k, v in record.items() if k != "attributes"}
            self.accepted[key] += 1
            results.append({"id": record_id, "success": True, "errors": [], "created": created})
        return Response(200, results)


# Meta -------------------------------------------------------------------------------------------------


class MetaFake(FakeApi):
    MAX_USERS = 10_000
    KNOWN = {"EMAIL", "PHONE", "FN", "LN", "COUNTRY", "EXTERN_ID"}

    def __init__(self, token: str = "EAAB-token", audience_id: str = "2384") -> None:
        super().__init__()
        self.token = token
        self.audience_id = audience_id
        self.members: dict[str, tuple[str, ...]] = {}  # first identifier -> row

    def _error(self, message: str, code: int = 100) -> Response:
        return Response(400, {"error": {"message": message, "type": "OAuthException", "code": code}})

    def _handle(self, request: Request) -> Response:
        if request.path != f"/v25.0/{self.audience_id}/users" or request.method not in ("POST", "DELETE"):
            return self._error("Unsupported request", 100)
        form = request.form()
        if form.get("access_token") != self.token:
            return Response(
                400,
                {"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}},
            )
        try:
            payload = json.loads(form["payload"])
        except (KeyError, ValueError):
            return self._error("payload must be JSON")
        schema, data = payload.get("schema"), payload.get("data")
        if not isinstance(schema, list) or not set(schema) <= self.KNOWN or not isinstance(data, list):
            return self._error("Invalid schema")
        if len(data) > self.MAX_USERS:
            return self._error("Too many users in one request (max 10000)")
        self.batch_sizes.append(len(data))
        invalid: dict[str, str] = {}
        for row in data:
            if not isinstance(row, list) or len(row) != len(schema):
                return self._error("each data row must match the schema")
            bad = [
                value
                for key, value in zip(schema, row, strict=True)
                if key != "EXTERN_ID" and value and not HEX64.match(value)
            ]
            refused = [value for value in row if value in self.refuse]
            if bad or refused:
                for value in bad + refused:
                    invalid[value] = "invalid"
                continue
            member = row[0]
            if request.method == "POST":
                self.members[member] = tuple(row)
                self.accepted[member] += 1
            else:
                self.members.pop(member, None)
        return Response(
            200,
            {
                "audience_id": self.audience_id,
                "session_id": str(time.time_ns()),
                "num_received": len(data),
                "num_invalid_entries": len(invalid),
                "invalid_entry_samples": invalid,
            },
        )


# Google -----------------------------------------------------------------------------------------------


class GoogleFake(FakeApi):
    MAX_IDENTIFIERS = 100_000

    def __init__(
        self,
        developer_token: str = "dev-token",
        access_token: str = "ya29.token",
        customer: str = "1234567890",
        user_list: str = "555",
    ) -> None:
        super().__init__()
        self.developer_token = developer_token
        self.access_token = access_token
        self.customer = customer
        self.user_list = user_list
        self.jobs: dict[str, list[dict[str, Any]]] = {}
        self.members: set[str] = set()
        self.runs = 0
        self._ids = itertools.count(1)

    def _error(self, status: int, message: str, code: str = "INVALID_ARGUMENT") -> Response:
        return Response(status, {"error": {"code": status, "message": message, "status": code}})

    def _handle(self, request: Request) -> Response:
        if bearer(request) != self.access_token:
            return self._error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
        if request.headers.get("developer-token") != self.developer_token:
            return self._error(401, "developer token invalid", "UNAUTHENTICATED")
        prefix = f"/v22/customers/{self.customer}/offlineUserDataJobs"
        body = request.json() if request.body else {}
        if request.method != "POST":
            return self._error(404, "not found", "NOT_FOUND")
        if request.path == f"{prefix}:create":
            job = (body or {}).get("job") or {}
            metadata = job.get("customerMatchUserListMetadata") or {}
            expected = f"customers/{self.customer}/userLists/{self.user_list}"
            if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or metadata.get("userList") != expected:
                return self._error(400, "job type and user list are required")
            job_id = str(next(self._ids))
            self.jobs[job_id] = []
            return Response(200, {"resourceName": f"customers/{self.customer}/offlineUserDataJobs/{job_id}"})
        match = re.fullmatch(rf"{prefix}/(\d+):(addOperations|run)", request.path)
        if not match or match.group(1) not in self.jobs:
            return self._error(404, "job not found", "NOT_FOUND")
        job_id, verb = match.groups()
        if verb == "run":
            self.runs += 1
            for operation in self.jobs[job_id]:
                for verb_name, user in operation.items():
                    identifiers = [next(iter(ident.values())) for ident in user["userIdentifiers"]]
                    first = identifiers[0]
                    if verb_name == "create":
                        self.members.add(first)
                        self.accepted[first] += 1
                    else:
                        self.members.discard(first)
            return Response(200, {"name": f"customers/{self.customer}/operations/{job_id}"})
        operations = (body or {}).get("operations")
        if not isinstance(operations, list) or not operations:
            return self._error(400, "operations are required")
        total = sum(len((next(iter(op.values())) or {}).get("userIdentifiers") or []) for op in operations)
        if total > self.MAX_IDENTIFIERS:
            return self._error(400, "too many user identifiers in one request")
        self.batch_sizes.append(len(operations))
        failures, kept = [], []
        for index, operation in enumerate(operations):
            if len(operation) != 1 or next(iter(operation)) not in ("create", "remove"):
                return self._error(400, "each operation needs exactly one of create/remove")
            identifiers = next(iter(operation.values())).get("userIdentifiers") or []
            values = []
            for identifier in identifiers:
                if len(identifier) != 1 or next(iter(identifier)) not in ("hashedEmail", "hashedPhoneNumber"):
                    return self._error(400, "unknown identifier")
                values.append(next(iter(identifier.values())))
            if not values or any(not HEX64.match(v) for v in values) or any(v in self.refuse for v in values):
                if not body.get("enablePartialFailure"):
                    return self._error(400, "invalid identifier")
                failures.append(
                    {
                        "errorCode": {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
                        "message": "The SHA256 encoded value is malformed.",
                        "location": {
                            "fieldPathElements": [
                                {"fieldName": "operations", "index": index},
                                {"fieldName": "create"},
                            ]
                        },
                    }
                )
                continue
            kept.append(operation)
        self.jobs[job_id].extend(kept)
        reply: dict[str, Any] = {}
        if failures:
            reply["partialFailureError"] = {
                "code": 3,
                "message": "Multiple errors in 'details'.",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                        "errors": failures,
                    }
                ],
            }
        return Response(200, reply)


# Webhook ----------------------------------------------------------------------------------------------


def verify_standard_webhook(
    secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300
) -> bool:
    """The receiving side of the Standard Webhooks spec, written independently of the sender."""
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not timestamp or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (part.partition(",") for part in signatures.split())
    )


class WebhookFake(FakeApi):
    """A receiver that verifies signatures and, like real receivers, drops repeats by `webhook-id`."""

    def __init__(self, secret: str, max_records: int = 1000) -> None:
        super().__init__()
        self.secret = secret
        self.max_records = max_records
        self.seen: dict[str, Response] = {}
        self.redeliveries = 0
        self.deliveries: list[dict[str, Any]] = []

    def _handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/hook":
            return Response(404, {"message": "not found"})
        if not verify_standard_webhook(self.secret, request.headers, request.body):
            return Response(401, {"message": "bad signature"})
        msg_id = request.headers["webhook-id"]
        if msg_id in self.seen:
            self.redeliveries += 1
            return self.seen[msg_id]
        body = request.json()
        records = ((body or {}).get("data") or {}).get("records")
        operation = ((body or {}).get("data") or {}).get("operation")
        if not isinstance(records, list) or not records or body.get("type") != f"sync.{operation}":
            return Response(400, {"message": "data.records and type are required"})
        if len(records) > self.max_records:
            return Response(413, {"message": "too many records"})
        if any(record.get("key") in self.poison for record in records):
            return Response(400, {"message": "invalid record in batch"})
        self.batch_sizes.append(len(records))
        errors = []
        for record in records:
            key = record["key"]
            if key in self.refuse:
                errors.append({"key": key, "message": self.refuse[key]})
                continue
            if operation in ("delete", "remove"):
                self.store.pop(key, None)
            else:
                self.store[key] = record["fields"]
            self.accepted[key] += 1
        self.deliveries.append({"id": msg_id, "operation": operation, "keys": [r["key"] for r in records]})
        response = Response(200, {"errors": errors} if errors else {"ok": True})
        self.seen[msg_id] = response
        return response
