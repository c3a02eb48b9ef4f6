"""Google Vertex AI: the Gemini image models in a Google Cloud project, by OAuth tokens from google-auth."""
