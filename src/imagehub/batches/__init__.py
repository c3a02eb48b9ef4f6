"""OpenAI's Batch API for image requests, and the Files API it needs (purpose "batch").

Owns the `batch_files` and `batches` tables: uploads, line-by-line validation at submission
(bad lines go to the error file, the batch goes on), one image job per valid line (batch
priority, reserved as it starts), request_counts, cancel, finalizing the output and error files
once every line ended, the `batch.completed` event, and sweeping batches past their window.

Sits above jobs: imports jobs, webhooks, service.validation, accounts, catalog, schema,
observability, config and errors; never the API or app.
"""
