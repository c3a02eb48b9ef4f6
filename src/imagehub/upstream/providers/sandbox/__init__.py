"""The sandbox: deterministic images drawn locally for sandbox keys, at no cost and no upstream."""
