"""The deployment settings only a cloud platform reads: where its account lives and how it names models.

Which provider may set which of them is the provider table's `settings`; a field set on a
deployment of another provider is refused at start-up, as the local engine's fields are.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PlatformFields(BaseModel):
    upstream_names: dict[str, str] = Field(
        default_factory=dict,
        description="Catalog model -> the platform's name for it: an Azure deployment name, a Vertex "
        "model or a Bedrock modelId. Unlisted models keep the platform's default id.",
    )
    api_version: str | None = Field(
        default=None,
        description="azure: use the older /openai/deployments/{name}/… form with this api-version; "
        "unset, the v1 API (/openai/v1/…).",
    )
    auth: Literal["api_key", "entra"] | None = Field(
        default=None,
        description="azure: the api-key header or Entra ID tokens; default: a key if set.",
    )
    project: str | None = Field(default=None, description="vertex: the Google Cloud project.")
    location: str | None = Field(
        default=None, description='vertex: a region such as "us-central1", or "global".'
    )
    credentials_file: str | None = Field(
        default=None,
        description="vertex: a service-account key JSON; unset, Application Default Credentials.",
    )
    region: str | None = Field(default=None, description='bedrock: the AWS region, e.g. "us-west-2".')
