"""The provider table: every upstream API the hub speaks, one row each.

A row says where the API lives, which environment variables configure one deployment of it
without a file, which catalog family its models belong to, and which class adapts it. The class
is named as `module:Class` and imported only when a deployment uses it, so an optional extra
(torch for `local`, a cloud SDK) loads only where it is configured. Adding a provider is one
module under `providers/` and one row here; nothing else branches on the provider's name.
The table names its adapters instead of importing them, because the adapters import
`deployments`, which reads this table to validate configuration.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Requirement:
    """A platform setting a deployment cannot work without, checked when the configuration loads.

    `variables` may give it instead of the deployment's own field. Where a credentials file may
    name it (`key_file`: the field and variable naming that file, `key_file_field`: the JSON
    field), a named file must; with no file at all, the platform's default credential chain
    (Application Default Credentials) may still find it, so it is left to the first call.
    """

    setting: str
    variables: tuple[str, ...] = ()
    key_file: tuple[str, str] | None = None
    key_file_field: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    name: str  # what `provider = "…"` says in a deployment
    adapter: str  # "module:Class", imported on first use
    base_url: str | None = None  # the public API's address; None: a deployment must give base_url
    # Set alone, it configures a deployment serving all the family's models: the API key, or on
    # clouds that sign requests with their own credential chain, the project or region.
    key_env: str | None = None
    base_url_env: str | None = None  # overrides base_url for that deployment (and alone configures one)
    family: str | None = None  # the catalog's `providers` value of the models it serves; default: name
    settings: frozenset[str] = frozenset()  # the platform fields of a deployment only this API reads
    keyless: bool = False  # authenticates by the platform's own credential chain, never an API key
    polls: bool = False  # answers with jobs to poll: `poll_seconds` caps the wait between polls
    # A file's deployment with neither api_key nor api_key_env reads key_env (the vendors' custom).
    # Off for openai and google, whose file deployments often point at other servers that must
    # not receive the OpenAI or Gemini key.
    key_env_default: bool = False
    required: tuple[Requirement, ...] = ()  # settings without which no call can be made

    @property
    def models_family(self) -> str:
        return self.family or self.name

    def load_adapter(self) -> object:
        """The adapter class, importing its module now (and the optional extra it needs)."""
        module, _, attribute = self.adapter.partition(":")
        return getattr(importlib.import_module(module), attribute)


_PACKAGE = "imagehub.upstream.providers"


def _vendor(name: str, adapter: str, base_url: str, key_env: str, *, polls: bool = False) -> ProviderEntry:
    """An image vendor's row: its adapter module under providers/, and its customary key variable."""
    return ProviderEntry(name, f"{_PACKAGE}.{adapter}", base_url, key_env, polls=polls, key_env_default=True)


PROVIDERS: dict[str, ProviderEntry] = {
    entry.name: entry
    for entry in (
        ProviderEntry(
            "openai",
            f"{_PACKAGE}.openai.provider:OpenAIProvider",
            base_url="https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            base_url_env="OPENAI_BASE_URL",
        ),
        ProviderEntry(
            "google",
            f"{_PACKAGE}.google:GoogleProvider",
            base_url="https://generativelanguage.googleapis.com/v1beta",
            key_env="GEMINI_API_KEY",
            base_url_env="GEMINI_BASE_URL",
        ),
        # The clouds: each needs its extra (imagehub[azure], [vertex], [bedrock] or [clouds]).
        # Azure OpenAI: the endpoint has no default; with no key, Entra ID tokens (azure-identity).
        ProviderEntry(
            "azure",
            f"{_PACKAGE}.azure.provider:AzureOpenAIProvider",
            key_env="AZURE_OPENAI_API_KEY",
            base_url_env="AZURE_OPENAI_ENDPOINT",
            settings=frozenset({"api_version", "auth", "upstream_names"}),
        ),
        # Vertex AI: the address follows the location; the credential is google-auth's (ADC or a key file).
        ProviderEntry(
            "vertex",
            f"{_PACKAGE}.vertex.provider:VertexProvider",
            key_env="GOOGLE_CLOUD_PROJECT",
            base_url_env="GOOGLE_VERTEX_BASE_URL",
            keyless=True,
            settings=frozenset({"project", "location", "credentials_file", "upstream_names"}),
            required=(
                Requirement(
                    "project",
                    ("GOOGLE_CLOUD_PROJECT",),
                    key_file=("credentials_file", "GOOGLE_APPLICATION_CREDENTIALS"),
                    key_file_field="project_id",
                ),
            ),
        ),
        # Bedrock: the address follows the region; requests are SigV4-signed from the AWS chain.
        ProviderEntry(
            "bedrock",
            f"{_PACKAGE}.bedrock.provider:BedrockProvider",
            key_env="AWS_REGION",
            base_url_env="AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            keyless=True,
            settings=frozenset({"region", "upstream_names"}),
            required=(Requirement("region", ("AWS_REGION", "AWS_DEFAULT_REGION")),),
        ),
        # Image vendors (docs/image-vendors.md): declared adapters over providers/declared.py.
        _vendor("bfl", "bfl:BFLProvider", "https://api.bfl.ai/v1", "BFL_API_KEY", polls=True),
        _vendor("stability", "stability:StabilityProvider", "https://api.stability.ai", "STABILITY_API_KEY"),
        _vendor("ideogram", "ideogram:IdeogramProvider", "https://api.ideogram.ai", "IDEOGRAM_API_KEY"),
        _vendor(
            "recraft", "recraft:RecraftProvider", "https://external.api.recraft.ai/v1", "RECRAFT_API_TOKEN"
        ),
        _vendor("xai", "xai:XAIProvider", "https://api.x.ai/v1", "XAI_API_KEY"),
        _vendor(
            "seedream",
            "seedream:SeedreamProvider",
            "https://ark.ap-southeast.bytepluses.com/api/v3",
            "ARK_API_KEY",
        ),
        _vendor(
            "dashscope",
            "dashscope:DashScopeProvider",
            "https://dashscope-intl.aliyuncs.com/api/v1",
            "DASHSCOPE_API_KEY",
            polls=True,
        ),
        _vendor("fal", "fal:FalProvider", "https://queue.fal.run", "FAL_KEY", polls=True),
        _vendor(
            "replicate",
            "replicate:ReplicateProvider",
            "https://api.replicate.com/v1",
            "REPLICATE_API_TOKEN",
            polls=True,
        ),
        # Torch and diffusers load only when a local model is configured.
        ProviderEntry("local", f"{_PACKAGE}.local.provider:LocalProvider"),
        # Engines serve the catalog's local models from their own processes.
        ProviderEntry("engine", f"{_PACKAGE}.engine.provider:EngineProvider", family="local"),
    )
}
