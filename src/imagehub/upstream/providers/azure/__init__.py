"""Azure OpenAI: OpenAI's image models on an Azure resource, by api-key or Microsoft Entra ID."""
