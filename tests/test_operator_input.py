"""Every limit an operator can type, through the CLI and the admin API: refused clearly, nothing changed.

One rule per limit (accounts/limits.py) serves both: a bad value is a 400 in OpenAI's error shape
naming the field and its range, or exit status 2 with one line naming the option; never a
traceback, and never a stored value that breaks the key's requests later.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from imagehub.cli import main
from tests.billing_hub import BillingHub, billing_hub


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    with billing_hub(tmp_path_factory.mktemp("operator"), "sqlite") as hub:
        yield hub


def _run(billing: BillingHub, *args: str) -> tuple[int, str]:
    env = {"IMAGEHUB_DATA_DIR": str(billing.hub.data_dir), **billing.env}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def _still_works(billing: BillingHub, key_id: str, secret: str, before: dict[str, object]) -> None:
    assert billing.key(key_id) == before, "a refused change changes nothing"
    assert billing.sdk(secret).images.generate(model="dall-e-2", prompt="ok", size="256x256").data


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("rpm_limit", 0, "from 1 to 1,000,000"),
        ("rpm_limit", -3, "from 1 to 1,000,000"),
        ("concurrency_limit", 0, "from 1 to 100,000"),
        ("max_n", 11, "from 1 to 10"),
        ("budget_micros", -1, "from 0 to"),
        ("allowed_models", ["dall-e3"], "did you mean 'dall-e-3'?"),
        ("allowed_models", ["Gpt-Image-1"], "did you mean 'gpt-image-1'?"),
        ("allowed_models", [], "at least one model"),
        ("rpm_limit", "60", "expected an integer"),
    ],
)
def test_admin_api_refuses_a_bad_limit(billing: BillingHub, field: str, value: object, says: str) -> None:
    key_id, secret = billing.new_key()
    before = billing.key(key_id)
    response = billing.admin("PATCH", f"/api/admin/keys/{key_id}", {field: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field and error["type"] == "invalid_request_error"
    assert says in error["message"] and field in error["message"]
    _still_works(billing, key_id, secret, before)


def test_admin_api_refuses_bad_names_amounts_and_empty_updates(billing: BillingHub) -> None:
    for name in ("", "   ", "x" * 201):
        response = billing.admin("POST", "/api/admin/keys", {"name": name})
        assert response.status_code == 400 and response.json()["error"]["param"] == "name", response.text
    key_id, secret = billing.new_key()
    before = billing.key(key_id)
    for amount in (-5, 0):
        response = billing.admin("POST", f"/api/admin/keys/{key_id}/credits", {"amount_micros": amount})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "amount_micros"
    response = billing.admin("PATCH", f"/api/admin/keys/{key_id}", {})
    assert response.status_code == 400 and response.json()["error"]["code"] == "empty_update"
    response = billing.admin("POST", "/api/admin/keys", {"name": "bad", "rpm_limit": 0})
    assert response.status_code == 400 and response.json()["error"]["param"] == "rpm_limit"
    assert all(key["name"] != "bad" for key in billing.admin("GET", "/api/admin/keys").json()["data"])
    _still_works(billing, key_id, secret, before)


def test_model_names_are_stored_as_the_catalogs(billing: BillingHub) -> None:
    key_id, _ = billing.new_key()
    response = billing.admin(
        "PATCH", f"/api/admin/keys/{key_id}", {"allowed_models": ["openai/dall-e-3", "dall-e-3", "dall-e-2"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["allowed_models"] == ["dall-e-3", "dall-e-2"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--rpm", "0"), "--rpm: 0 is outside the allowed range"),
        (("--rpm", "-3"), "--rpm: -3 is outside the allowed range"),
        (("--concurrency", "0"), "--concurrency: 0 is outside"),
        (("--max-n", "11"), "--max-n: 11 is outside"),
        (("--rpm", "fast"), "--rpm: 'fast' is not a whole number or 'none'"),
        (
            ("--models", "dall-e3"),
            "--models: 'dall-e3' is not a model this hub knows; did you mean 'dall-e-3'?",
        ),
        (("--budget", "-1"), "--budget: amounts cannot be negative"),
        (("--budget", "ten"), "--budget: 'ten' is not an amount in USD"),
        ((), "nothing to change"),
    ],
)
def test_cli_update_refuses_with_one_line_and_exit_2(
    billing: BillingHub, args: tuple[str, ...], says: str
) -> None:
    key_id, secret = billing.new_key()
    before = billing.key(key_id)
    status, output = _run(billing, "keys", "update", key_id, *args)
    assert status == 2, output
    assert output.strip().splitlines() == [f"Error: {output.strip()[len('Error: ') :]}"], output
    assert says in output and "Traceback" not in output
    _still_works(billing, key_id, secret, before)


def test_cli_topup_create_and_usage_refuse_clearly(billing: BillingHub) -> None:
    key_id, _ = billing.new_key()
    for args, says in [
        (("keys", "topup", key_id, "-5"), "amounts cannot be negative (got -5)"),
        (("keys", "topup", key_id, "0"), "a top-up must be positive"),
        (("keys", "topup", key_id, "0.0000001"), "more than 6 decimal places"),
        (("keys", "create", "--name", ""), "--name: a key needs a name"),
        (("keys", "create", "--name", "  "), "--name: a key needs a name"),
        (("usage", "--start", "yesterday"), "--start: 'yesterday' is not an ISO date"),
        (("usage", "--start", "2026-11-02", "--end", "2026-11-01"), "--end: must be after --start"),
    ]:
        status, output = _run(billing, *args)
        assert status == 2 and says in output and len(output.strip().splitlines()) == 1, (args, output)
    assert billing.key(key_id).get("balance_micros") is None


def test_cli_accepts_good_values(billing: BillingHub) -> None:
    key_id, _ = billing.new_key()
    status, output = _run(billing, "keys", "update", key_id, "--rpm", "60", "--models", "openai/dall-e-3")
    assert status == 0, output
    assert "60 rpm" in output and "models dall-e-3" in output
    status, output = _run(billing, "keys", "topup", key_id, "2.5")
    assert status == 0 and "balance $2.5" in output
