"""The imagehub CLI: keys, first start, and generate against a running hub."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Keys
from tests.hub import Hub, cli
from tests.images import open_bytes


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = cli(data_dir, "keys", "create", "--name", "team-a")
    secret = created.stdout.strip()
    assert secret.startswith("ih-live-") and len(secret) > 40
    assert "shown only once" in created.stderr
    sandbox = cli(data_dir, "keys", "create", "--name", "ci", "--sandbox").stdout.strip()
    assert sandbox.startswith("ih-sbx-")

    listing = cli(data_dir, "keys", "list").stdout
    assert "team-a" in listing and "ci" in listing
    assert secret not in listing and sandbox not in listing, "secrets are never shown again"
    key_id = next(line.split()[0] for line in listing.splitlines() if line.endswith("team-a"))

    assert "Revoked" in cli(data_dir, "keys", "revoke", key_id).stdout
    assert "revoked" in next(
        line for line in cli(data_dir, "keys", "list").stdout.splitlines() if "team-a" in line
    )
    again = cli(data_dir, "keys", "revoke", key_id, check=False)
    assert again.returncode != 0 and "No active key" in again.stderr


def test_keys_list_when_empty(tmp_path: Path) -> None:
    assert "No keys yet" in cli(tmp_path / "data", "keys", "list").stdout


def test_first_start_prints_a_sandbox_key_once(tmp_path: Path) -> None:
    import httpx

    hub = Hub(tmp_path / "data").start()
    try:
        log = hub.log()
        secret = next(word for word in log.split() if word.startswith("ih-sbx-"))
        assert "curl " in log and f"Authorization: Bearer {secret}" in log
        response = httpx.post(
            f"{hub.url}/api/images/generations",
            headers={"Authorization": f"Bearer {secret}"},
            json={"prompt": "first start", "size": "256x256"},
        )
        assert response.status_code == 200
    finally:
        hub.stop()
    restarted = Hub(tmp_path / "data").start()
    try:
        assert "ih-sbx-" not in restarted.log(), "the key is printed only on the very first start"
    finally:
        restarted.stop()


def test_generate_writes_image_files(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli(
        hub.data_dir,
        "generate",
        "a robot reading",
        "--n",
        "2",
        "--size",
        "512x512",
        "--out",
        str(out),
        "--base-url",
        hub.url,
        env={"IMAGEHUB_API_KEY": keys.sandbox},
    )
    written = [Path(line) for line in result.stdout.split()]
    assert len(written) == 2
    for path in written:
        assert path.parent == out
        assert open_bytes(path.read_bytes()).size == (512, 512)
    assert "Generating 2 image(s)" in result.stderr


def test_generate_reports_errors_clearly(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    result = cli(
        hub.data_dir,
        "generate",
        "x",
        "--model",
        "dall-e-3",
        "--n",
        "2",
        "--base-url",
        hub.url,
        "--api-key",
        keys.sandbox,
        "--out",
        str(tmp_path),
        check=False,
    )
    assert result.returncode != 0
    assert "HTTP 400" in result.stderr and "n=1" in result.stderr
    assert not list(tmp_path.glob("*.png"))


def test_generate_when_hub_is_down(tmp_path: Path) -> None:
    result = cli(
        tmp_path, "generate", "x", "--base-url", "http://127.0.0.1:9", "--api-key", "ih-sbx-x", check=False
    )
    assert result.returncode != 0 and "Could not reach the hub" in result.stderr
