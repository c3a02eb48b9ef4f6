"""A fake Vertex AI: Gemini's generateContent under a project and location, and Google's OAuth token endpoint.

`POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent` answers
as the Gemini API does (FakeGoogle builds the answer), after checking the project, location and
an `Authorization: Bearer` token this fake issued. `GET /v1beta1/publishers/google/models` is
Model Garden's `publishers.models.list` (paged by pageSize and pageToken), behind the same
bearer check. `POST /token` is the service-account flow google-auth speaks: a JWT-bearer grant
whose RS256 signature is checked with the test key's public half, and whose issuer, audience
(Google's token endpoint) and scope must be right. Faults reach the token endpoint only when
queued `.on("/token")`; `token_lifetime` under google-auth's refresh margin (3m45s) makes every
call fetch a fresh token, as when a token has just expired.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.google import FakeGoogle
from tests.fakes.server import FAULT, RECORDED, Fault, RecordedRequest, json_response

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CLIENT_EMAIL = "imagehub-test@test-project.iam.gserviceaccount.com"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
#: What publishers.models.list shows for Google in December 2026 (image and other models).
PUBLISHED = ("gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash", "gemini-3-pro")


def write_service_account(path: Path, token_uri: str, project: str) -> rsa.RSAPublicKey:
    """A service-account key JSON with a fresh RSA key; returns the public key to verify its grants."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info), encoding="utf-8")
    return key.public_key()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeVertex(FakeGoogle):
    """One project's Vertex AI; `public_key` verifies the service account's token grants."""

    def __init__(self, project: str, public_key: rsa.RSAPublicKey | None = None) -> None:
        super().__init__()
        self.project = project
        self.public_key = public_key
        self.tokens: set[str] = set()
        self.grants = 0
        self.token_lifetime = 3599
        self.published: list[str] = list(PUBLISHED)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)
        app.router.add_get("/v1beta1/publishers/{publisher}/models", self._publisher_models)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{target}", self._vertex
        )
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def _take_fault(self, path: str) -> Fault | None:
        if path != "/token":
            return super()._take_fault(path)
        with self._lock:  # the token endpoint takes only the faults aimed at it
            for i, fault in enumerate(self._faults):
                if fault.path == "/token":
                    return self._faults.pop(i)
        return None

    async def _token(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        form = {k: v[0] for k, v in parse_qs(recorded.raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return json_response({"error": "unsupported_grant_type"}, status=400)
        problem = self._check_assertion(form.get("assertion", ""))
        if problem is not None:
            return json_response({"error": "invalid_grant", "error_description": problem}, status=400)
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        self.grants += 1
        body = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return json_response(body)

    def _check_assertion(self, assertion: str) -> str | None:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header: dict[str, Any] = json.loads(_unb64(header_b64))
            claims: dict[str, Any] = json.loads(_unb64(claims_b64))
        except ValueError:
            return "Invalid JWT."
        if header.get("alg") != "RS256" or self.public_key is None:
            return "Invalid JWT signature algorithm."
        try:
            self.public_key.verify(
                _unb64(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return "Invalid JWT Signature."
        # google-auth addresses the grant to Google's token endpoint wherever token_uri points.
        if claims.get("iss") != CLIENT_EMAIL or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return "Invalid issuer or audience."
        if SCOPE not in str(claims.get("scope", "")).split():
            return "Invalid OAuth scope."
        if not int(claims.get("iat", 0)) - 300 <= time.time() <= int(claims.get("exp", 0)):
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        return None

    def _unauthenticated(self, recorded: RecordedRequest) -> web.Response | None:
        scheme, _, token = recorded.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token in self.tokens:
            return None
        return self._error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
        )

    async def _publisher_models(self, request: web.Request) -> web.StreamResponse:
        """publishers.models.list: `publisherModels[].name` = "publishers/google/models/<id>"."""
        if (denied := self._unauthenticated(request[RECORDED])) is not None:
            return denied
        if request.match_info["publisher"] != "google":
            return self._error(404, "Publisher not found.")
        size = max(1, min(int(request.query.get("pageSize") or 100), 100))
        start = int(request.query.get("pageToken") or 0)
        page = self.published[start : start + size]
        body: dict[str, Any] = {
            "publisherModels": [
                {"name": f"publishers/google/models/{name}", "versionId": "001", "launchStage": "GA"}
                for name in page
            ]
        }
        if start + size < len(self.published):
            body["nextPageToken"] = str(start + size)
        return json_response(body)

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        recorded: RecordedRequest = request[RECORDED]
        if (denied := self._unauthenticated(recorded)) is not None:
            return denied
        if request.match_info["project"] != self.project:
            return self._error(403, f"Permission denied on resource project {request.match_info['project']}.")
        model, sep, method = request.match_info["target"].rpartition(":")
        if not sep or method != "generateContent" or not isinstance(recorded.json, dict):
            return self._error(404, f"Requested entity was not found. ({request.path})")
        return self._generate_content(model, recorded.json, request.get(FAULT))


__all__ = ["CLIENT_EMAIL", "FakeVertex", "write_service_account"]
