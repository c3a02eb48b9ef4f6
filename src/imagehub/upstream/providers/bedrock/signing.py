"""SigV4 signatures for Bedrock calls by botocore's own signer, with credentials from the AWS chain.

The chain (environment, shared config and SSO, web identity, container and instance roles) is
botocore's, so whatever the AWS CLI would use, the hub uses. Resolving and refreshing it may
block on the network, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from imagehub.upstream.providers.errors import DeploymentFault

SERVICE = "bedrock"


class Signer:
    """Signs one deployment's requests for its region; the credentials are never logged."""

    def __init__(self, region: str, label: str) -> None:
        self.region = region
        self._label = label
        self._credentials: Any = None

    def _frozen(self) -> Any:
        if self._credentials is None:
            # Imported here: botocore is the optional extra imagehub[bedrock].
            import botocore.session

            self._credentials = botocore.session.get_session().get_credentials()
        if self._credentials is None:
            return None
        return self._credentials.get_frozen_credentials()  # refreshes temporary credentials when due

    async def headers(
        self, url: str, body: bytes, headers: dict[str, str], method: str = "POST"
    ) -> dict[str, str]:
        """`headers` plus the SigV4 ones (Authorization, X-Amz-Date, X-Amz-Security-Token)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        try:
            credentials = await asyncio.to_thread(self._frozen)
        except Exception as exc:  # botocore's credential errors: a broken profile, a refused role
            raise DeploymentFault(
                f"{self._label} could not load AWS credentials ({type(exc).__name__})."
            ) from None
        if credentials is None:
            raise DeploymentFault(f"{self._label} found no AWS credentials in the standard chain.")
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials, SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())
