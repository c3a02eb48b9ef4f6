"""Vendors that answer with jobs to poll (BFL, fal, Replicate, DashScope), through a real hub."""

from __future__ import annotations

import asyncio
import base64
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import Fault
from tests.hangups import hang_up
from tests.images import decode_b64, tiny_png
from tests.vendors.conftest import VendorHub

#: provider -> (model pinned to it, the submission path, the poll path)
ASYNC = {
    "bfl": ("bfl/flux-2-pro", "/v1/flux-2-pro", "/v1/get_result"),
    "fal": ("fal/flux-2-pro", "/fal-ai/flux-2-pro", "/status"),
    "replicate": ("replicate/flux-2-pro", "/v1/models/", "/v1/predictions/job"),
    "dashscope": ("wan2.7-image", "/generation", "/api/v1/tasks/"),
}


def _posts(vendors: VendorHub, name: str, path: str) -> int:
    return sum(1 for r in vendors.fakes[name].requests_to(path) if r.method == "POST")


@pytest.mark.parametrize("name", list(ASYNC))
def test_flagship_answers_with_the_asked_size(vendors: VendorHub, name: str) -> None:
    model, submit, _ = ASYNC[name]
    size = "1440x816" if name != "dashscope" else "1280x720"
    result = vendors.sdk().images.generate(
        model=model, prompt="a harbour", size=size, response_format="b64_json"
    )
    assert result.data is not None and len(result.data) == 1
    width, height = (int(v) for v in size.split("x"))
    assert decode_b64(result.data[0].b64_json or "").size == (width, height)
    assert _posts(vendors, name, submit) == 1


def test_bfl_request_and_auth(vendors: VendorHub) -> None:
    fake = vendors.fakes["bfl"]
    vendors.sdk().images.generate(
        model="bfl/flux-2-pro",
        prompt="fox",
        size="832x1248",
        extra_body={"seed": 7, "safety_tolerance": 2, "prompt_upsampling": True, "output_format": "png"},
    )
    sent = fake.requests_to("/v1/flux-2-pro")[0]
    assert sent.headers["x-key"] == fake.api_key and "authorization" not in sent.headers
    assert sent.json == {
        "prompt": "fox",
        "width": 832,
        "height": 1248,
        "output_format": "png",
        "seed": 7,
        "safety_tolerance": 2,
        "prompt_upsampling": True,
    }


@pytest.mark.parametrize("name", ["bfl", "fal", "replicate", "dashscope"])
def test_a_job_needing_five_polls_answers_in_one_request(vendors: VendorHub, name: str) -> None:
    model, submit, poll = ASYNC[name]
    fake = vendors.fakes[name]
    fake.polls_needed = 5
    result = vendors.sdk().images.generate(model=model, prompt="patience", response_format="url")
    assert result.data is not None and httpx.get(result.data[0].url or "").status_code == 200
    assert _posts(vendors, name, submit) == 1
    assert len([r for r in fake.requests_to(poll) if r.method == "GET"]) == 5


def test_n_is_concurrent_jobs_where_a_job_makes_one_image(vendors: VendorHub) -> None:
    result = vendors.sdk().images.generate(model="bfl/flux-2-pro", prompt="three", n=3, response_format="url")
    assert result.data is not None and len(result.data) == 3
    assert len(vendors.fakes["bfl"].requests_to("/v1/flux-2-pro")) == 3


def test_fal_makes_n_images_in_one_job(vendors: VendorHub) -> None:
    fake = vendors.fakes["fal"]
    result = vendors.sdk().images.generate(
        model="fal/flux-2-pro", prompt="two", n=2, response_format="b64_json"
    )
    assert result.data is not None and len(result.data) == 2
    submissions = [r for r in fake.requests_to("/fal-ai/flux-2-pro") if r.method == "POST"]
    assert len(submissions) == 4 or len(submissions) == 2  # images_per_call 1: one job per image
    assert submissions[0].headers["authorization"] == f"Key {fake.api_key}"


@pytest.mark.parametrize("name", ["fal", "replicate", "dashscope"])
def test_a_hang_up_cancels_the_upstream_job(vendors: VendorHub, name: str) -> None:
    model, submit, _ = ASYNC[name]
    fake = vendors.fakes[name]
    fake.polls_needed = 10_000  # never done while the client waits
    body = {"model": model, "prompt": "abandoned"}
    answered = asyncio.run(hang_up(vendors.hub.port, vendors.key, body, after=1.5))
    assert not answered
    for _ in range(100):
        if fake.cancelled:
            break
        time.sleep(0.1)
    assert len(fake.cancelled) == 1, f"{name}: the job was not cancelled"
    assert _posts(vendors, name, submit) == 1


@pytest.mark.parametrize("name", ["bfl", "replicate"])
def test_an_expired_result_url_is_a_new_job(vendors: VendorHub, name: str) -> None:
    model, submit, _ = ASYNC[name]
    fake = vendors.fakes[name]
    fake.expire_results = 1
    result = vendors.sdk().images.generate(model=model, prompt="late", response_format="b64_json")
    assert result.data is not None and result.data[0].b64_json
    assert _posts(vendors, name, submit) == 2, "the expired job's image is replaced by a new job's"


def test_an_expired_result_url_every_time_is_a_502(vendors: VendorHub) -> None:
    vendors.fakes["bfl"].expire_results = 100
    with pytest.raises(openai.APIStatusError) as caught:
        vendors.sdk().images.generate(model="bfl/flux-2-pro", prompt="always late")
    assert caught.value.status_code == 502


def test_a_result_on_an_undeclared_host_is_never_fetched(vendors: VendorHub) -> None:
    fake = vendors.fakes["fal"]
    fake.result_base = "http://127.0.0.1:9"  # another origin than the deployment's, not a fal host
    with pytest.raises(openai.APIStatusError) as caught:
        vendors.sdk().images.generate(model="fal/flux-2-pro", prompt="elsewhere")
    assert caught.value.status_code == 502
    assert not fake.requests_to("/results/")


def test_a_failed_poll_keeps_polling_the_same_job(vendors: VendorHub) -> None:
    fake = vendors.fakes["bfl"]
    fake.polls_needed = 3
    fake.enqueue(Fault.status(503).on("/v1/get_result"), Fault.reset().on("/v1/get_result"))
    result = vendors.sdk().images.generate(model="bfl/flux-2-pro", prompt="flaky", response_format="b64_json")
    assert result.data is not None and result.data[0].b64_json
    assert _posts(vendors, "bfl", "/v1/flux-2-pro") == 1, "no second job was paid for"


@pytest.mark.parametrize("name", list(ASYNC))
def test_moderation_is_content_policy_violation(vendors: VendorHub, name: str) -> None:
    model, submit, _ = ASYNC[name]
    vendors.fakes[name].enqueue(Fault.content_policy().on(submit))
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.generate(model=model, prompt="forbidden")
    assert caught.value.code == "content_policy_violation"
    assert _posts(vendors, name, submit) == 1, "a refusal is never retried"


def test_dashscope_sync_error_with_http_200(vendors: VendorHub) -> None:
    vendors.fakes["dashscope"].enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.generate(model="qwen-image-2.0", prompt="forbidden", size="1664x928")
    assert caught.value.code == "content_policy_violation"
    sent = vendors.fakes["dashscope"].last
    assert sent.json["parameters"]["size"] == "1664*928"
    assert "x-dashscope-async" not in sent.headers


@pytest.mark.parametrize("name", list(ASYNC))
def test_a_429_is_retried(vendors: VendorHub, name: str) -> None:
    model, submit, _ = ASYNC[name]
    vendors.fakes[name].enqueue(Fault.rate_limited(retry_after=0).on(submit))
    result = vendors.sdk().images.generate(model=model, prompt="busy")
    assert result.data is not None and len(result.data) == 1
    assert _posts(vendors, name, submit) == 2


def test_streaming_gets_emulated_events(vendors: VendorHub) -> None:
    vendors.fakes["replicate"].polls_needed = 2
    events = list(
        vendors.sdk().images.generate(
            model="replicate/flux-2-pro", prompt="stream", stream=True, response_format="b64_json", n=2
        )
    )
    assert [e.type for e in events] == ["image_generation.completed"] * 2
    assert decode_b64(events[0].b64_json).size == (1024, 1024)


@pytest.mark.parametrize(
    ("model", "size", "cost"),
    [
        ("bfl/flux-2-pro", "1024x1024", 30_000),  # one megapixel: $0.03
        ("bfl/flux-2-pro", "2048x2048", 75_000),  # four: $0.03 + 3 x $0.015
        ("fal/flux-2-pro", "1440x816", 45_000),  # fal's own table: 1.12 MP is two started megapixels
        ("bfl/flux-2-max", "2048x2048", 160_000),  # $0.07 + 3 x $0.03
        ("bfl/flux-2-klein-4b", "1024x1024", 14_000),
    ],
)
def test_cost_per_megapixel(vendors: VendorHub, model: str, size: str, cost: int) -> None:
    raw = vendors.sdk().images.with_raw_response.generate(model=model, prompt="priced", size=size)
    assert int(raw.headers["x-imagehub-cost-micros"]) == cost


@pytest.mark.parametrize(
    ("model", "path", "field"),
    [
        ("bfl/flux-2-pro", "/v1/flux-2-pro", "input_image_2"),
        ("fal/flux-2-pro", "/fal-ai/flux-2-pro/edit", "image_urls"),
        ("replicate/flux-2-pro", "/v1/models/", "input_images"),
    ],
)
def test_flux_edits_send_the_source_images(vendors: VendorHub, model: str, path: str, field: str) -> None:
    name = model.split("/")[0]
    sources = [tiny_png(colour=(200, 30, 30)), tiny_png(colour=(30, 30, 200))]
    result = vendors.sdk().images.edit(
        model=model,
        image=[("a.png", sources[0], "image/png"), ("b.png", sources[1], "image/png")],
        prompt="merge",
    )
    assert result.data is not None and len(result.data) == 1
    sent = next(r for r in vendors.fakes[name].requests_to(path) if r.method == "POST")
    value = sent.json.get(field) if field != "input_images" else sent.json["input"][field]
    encoded = base64.b64encode(sources[1]).decode()
    if field == "input_image_2":
        assert value == encoded and sent.json["input_image"] == base64.b64encode(sources[0]).decode()
    else:
        assert value == [f"data:image/png;base64,{base64.b64encode(s).decode()}" for s in sources]


def _threads(pid: int) -> int:
    """Threads of a process and its children (the hub's supervisor and its worker), from /proc."""
    total = int(
        next(
            line
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Threads:")
        ).split()[1]
    )
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += _threads(int(child))
    return total


def test_jobs_in_flight_are_sleeping_tasks_not_threads(vendors: VendorHub) -> None:
    fake = vendors.fakes["bfl"]
    fake.polls_needed = 10_000
    assert vendors.hub.process is not None
    before = _threads(vendors.hub.process.pid)
    jobs = 40
    with ThreadPoolExecutor(jobs) as pool:
        calls = [
            pool.submit(vendors.sdk().images.generate, model="bfl/flux-2-pro", prompt=f"job {i}")
            for i in range(jobs)
        ]
        for _ in range(300):
            if len(fake.requests_to("/v1/flux-2-pro")) == jobs:
                break
            time.sleep(0.1)
        assert len(fake.requests_to("/v1/flux-2-pro")) == jobs
        during = _threads(vendors.hub.process.pid)
        fake.finish_all()
        assert all(len(call.result().data or []) == 1 for call in calls)
    assert during - before < jobs // 2, f"{during - before} more threads for {jobs} jobs in flight"
