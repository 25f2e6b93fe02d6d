"""The playground, quick-start and operator usage pages in a real browser, in each language:
an operator generates a code; a new user signs up, makes a playground key in one click and
is refused (402, shown in the page) with no money, redeems the code, and makes a streamed call
that shows as it arrives, with its usage and charge, and the balance drops; the quick-start
snippets carry the page's own address; the operator sets the channel's cost multiplier in
the channels page and the usage totals show the call by model, channel and user, with its
revenue, upstream cost and margin. A user's key form carries an address list, expiry, RPM,
concurrency and permissions to the stored key and back into the edit form. Screenshots at
375 and 1280 px, no sideways scrolling at either.

Skipped where chromium or the built console is missing, except under CI=true.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fakes.openai_upstream import Behaviour, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY
from surfaces.console.browser_kit import catalog, operator_sign_in, shoot, sign_up

LOCALES = {"en": "en-US", "zh": "zh-CN"}


def _dollars(text: str | None) -> float:
    match = re.search(r"\$(\d+\.\d+)", text or "")
    assert match, text
    return float(match.group(1))


def _operator(chromium: Any, gateway: Gateway, lang: str) -> Any:
    context = chromium.new_context(locale=LOCALES[lang])
    page = context.new_page()
    operator_sign_in(page, gateway.url, gateway.admin_key)
    return page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_new_user_calls_from_the_playground_and_the_operator_sees_it(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    upstream: FakeOpenAI,
    registration: None,
    artifacts: Path,
    lang: str,
) -> None:
    texts = catalog(lang)
    model = unique_model("play")
    channel_name = f"play channel {lang}"
    admin.create_channel(
        name=channel_name,
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[model],
        price={"input": 1000, "output": 1000},  # a call costs cents: the balance shows it
    )

    operator = _operator(chromium, gateway, lang)
    assert operator.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
    # What the channel costs upstream: half the list price; a wrong value shows the refusal.
    operator.click("#nav-channels")
    channel_row = f"#channels-table tr:has-text('{channel_name}')"
    operator.click(f"{channel_row} button.edit-cost")
    operator.fill("#channel-cost-form input[name=cost_multiplier]", "-1")
    operator.click("#channel-cost-form button[type=submit]")
    refused = operator.text_content("#channel-cost-form .error", timeout=10_000) or ""
    assert "'cost_multiplier' must be from 0 to 1000" in refused  # the server's message
    operator.fill("#channel-cost-form input[name=cost_multiplier]", "0.50")
    operator.click("#channel-cost-form button[type=submit]")
    operator.wait_for_selector(f"{channel_row} td.cost-multiplier:text-is('0.5')")
    operator.click("#nav-redemptions")
    operator.fill("#codes-form input[name=amount]", "3")
    operator.fill("#codes-form input[name=count]", "1")
    operator.click("#codes-form button[type=submit]")
    code = operator.input_value("#issued-codes textarea", timeout=10_000)
    # The totals across users, open before the user's calls: the range's button fetches
    # them again (below).
    operator.click("#nav-traffic")
    operator.wait_for_selector("#traffic-range")

    context = chromium.new_context(locale=LOCALES[lang])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    page = context.new_page()
    email = sign_up(page, gateway.url)

    # One click makes a key for the page; with no money the call is refused in the page.
    page.click("#nav-playground")
    assert page.text_content("#nav-playground") == texts["nav.playground"]
    page.click("#playground-new-key button[type=submit]")
    page.wait_for_selector(
        f"#playground-form select[name=model] option:text-is('{model}')", state="attached"
    )
    key = page.evaluate("sessionStorage.getItem('airelay.playground.key')")
    assert key.startswith("sk-")
    assert page.evaluate("JSON.stringify(localStorage)").find(key) == -1  # this tab only
    page.select_option("#playground-form select[name=model]", model)
    page.fill("#playground-form textarea[name=prompt]", "hello with no money")
    page.click("#playground-form button[type=submit]")
    refusal = page.text_content("#playground-form .error", timeout=10_000) or ""
    assert refusal.startswith("402:") and "Insufficient balance" in refusal
    shoot(page, artifacts, f"playground-refused-{lang}")

    page.click("#nav-topup")
    page.fill("#redeem-form input[name=code]", code)
    page.click("#redeem-form button[type=submit]")
    page.wait_for_selector("#redeem-result")

    # Streamed: the answer shows while it arrives, then the usage, the charge, the balance.
    page.click("#nav-playground")
    page.wait_for_selector("#play-balance:text-is('$3.0000')")
    page.select_option("#playground-form select[name=model]", model)
    page.fill("#playground-form textarea[name=system]", "Answer briefly.")
    page.fill("#playground-form input[name=temperature]", "0.3")
    page.fill("#playground-form input[name=max_tokens]", "50")
    page.fill("#playground-form textarea[name=prompt]", "ping from the browser")
    upstream.script(Behaviour.slow_stream(0.4))
    page.click("#playground-form button[type=submit]")
    page.wait_for_selector("#streaming:has-text('Hello!')", timeout=10_000)
    answer = "Hello! You said: ping from the browser"
    page.wait_for_selector(f"#transcript .assistant:text-is('{answer}')", timeout=20_000)
    sent = upstream.chat_requests[-1].body
    assert sent["stream"] is True and sent["temperature"] == 0.3 and sent["max_tokens"] == 50
    assert sent["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert sent["messages"][-1] == {"role": "user", "content": "ping from the browser"}
    page.wait_for_selector("#play-outcome:has-text('$')", timeout=20_000)
    outcome = page.text_content("#play-outcome")
    charged = _dollars(outcome)
    assert charged > 0
    page.wait_for_selector("#play-balance:not(:text-is('$3.0000'))", timeout=10_000)
    balance = _dollars(page.text_content("#play-balance"))
    assert 2.5 < balance <= 3 - charged + 1e-4  # (less while a hold is taken)
    shoot(page, artifacts, f"playground-{lang}")

    # A second turn, whole: the conversation so far goes with it.
    page.uncheck("#playground-form input[name=stream]")
    page.fill("#playground-form textarea[name=prompt]", "and again")
    page.click("#playground-form button[type=submit]")
    page.wait_for_selector("#transcript .assistant:text-is('Hello! You said: and again')")
    sent = upstream.chat_requests[-1].body
    assert not sent.get("stream") and "stream_options" not in sent
    assert [m["content"] for m in sent["messages"]] == [
        "Answer briefly.",
        "ping from the browser",
        answer,
        "and again",
    ]
    page.wait_for_selector("#play-outcome:has-text('$')", timeout=20_000)
    charged += _dollars(page.text_content("#play-outcome"))

    # A pasted key: a wrong one is refused in the page; a key limited to one model offers
    # only that model.
    page.click("#playground-forget")
    page.fill("#playground-key-form input[name=key]", "sk-not-a-key")
    page.click("#playground-key-form button[type=submit]")
    assert (page.text_content("#playground-error", timeout=10_000) or "").startswith("401")
    page.click("#playground-forget")
    me = page.request.get(f"{gateway.url}/console/api/me").json()
    limited = admin.create_token(me["user"]["id"], name="limited", models=[model])
    page.fill("#playground-key-form input[name=key]", limited["key"])
    page.click("#playground-key-form button[type=submit]")
    page.wait_for_selector("#playground-form")
    options = page.locator("#playground-form select[name=model] option").all_text_contents()
    assert options == [model]
    assert page.evaluate("sessionStorage.getItem('airelay.playground.key')") == limited["key"]

    # Quick start: the page's own address in each snippet, and a working copy button.
    page.click("#nav-quickstart")
    curl = page.text_content("#snippet-curl") or ""
    assert f"curl {gateway.url}/v1/chat/completions" in curl
    assert f'base_url="{gateway.url}/v1"' in (page.text_content("#snippet-python") or "")
    assert f'baseURL: "{gateway.url}/v1"' in (page.text_content("#snippet-node") or "")
    assert f"ANTHROPIC_BASE_URL={gateway.url} " in (page.text_content("#snippet-claude") or "")
    codex = page.text_content("#snippet-codex") or ""
    assert f'base_url = "{gateway.url}/v1"' in codex and 'wire_api = "responses"' in codex
    assert 'env_key = "AIRELAY_API_KEY"' in codex
    gemini = page.text_content("#snippet-gemini") or ""
    assert f"GOOGLE_GEMINI_BASE_URL={gateway.url}\n" in gemini and "GEMINI_API_KEY=" in gemini
    page.click("#copy-curl")
    page.wait_for_selector(f"#copy-curl:text-is('{texts['keys.copied']}')")
    assert page.evaluate("navigator.clipboard.readText()") == curl
    shoot(page, artifacts, f"quickstart-{lang}")
    page.click("#sign-out")
    page.wait_for_selector("#login-form")
    assert page.evaluate("sessionStorage.length") == 0  # the key left with the session
    context.close()

    # The operator's totals across users: the call, by model, channel and user.
    deadline = time.monotonic() + 20
    while _requests_of(admin, email) < 2:  # the usage rows are written in a batch
        assert time.monotonic() < deadline, "the calls' usage rows were never written"
        time.sleep(0.1)
    operator.click("#traffic-range button[type=submit]")  # the same range: fetched again
    row = f"#traffic-users tr:has-text('{email}')"
    operator.wait_for_selector(row, timeout=10_000)
    # Columns: name, requests, input, output, tokens, revenue, upstream cost, margin. The
    # user pays the list price; the channel costs half of it.
    half = pytest.approx(charged / 2, abs=2e-4)
    user_cells = operator.locator(f"{row} td").all_text_contents()
    assert user_cells[1] == "2" and _dollars(user_cells[5]) == pytest.approx(charged, abs=2e-4)
    assert (_dollars(user_cells[6]), _dollars(user_cells[7])) == (half, half)
    model_cells = operator.locator(f"#traffic-models tr:has-text('{model}') td")
    assert model_cells.all_text_contents()[1] == "2"
    assert _dollars(model_cells.all_text_contents()[5]) == pytest.approx(charged, abs=2e-4)
    assert _dollars(model_cells.all_text_contents()[6]) == half
    channel_cells = operator.locator(f"#traffic-channels tr:has-text('{channel_name}') td")
    assert int(channel_cells.all_text_contents()[1]) == 2
    assert _dollars(channel_cells.all_text_contents()[7]) == half
    assert operator.text_content("#traffic-revenue")
    assert _dollars(operator.text_content("#traffic-cost")) > 0
    assert operator.text_content("#traffic-margin")
    main = operator.text_content("main") or ""
    for name in ("traffic.revenue", "traffic.cost", "traffic.margin"):
        assert texts[name] in main
    shoot(operator, artifacts, f"operator-traffic-{lang}")
    operator.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_users_keys_catalogue_dashboard_usage_export_and_top_up_pages(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    upstream: FakeOpenAI,
    registration: None,
    artifacts: Path,
    lang: str,
) -> None:
    """The new key's secret copied with the shared copy button; the catalogue at the prices
    the user's group pays; the call's cost and cache columns in the usage log and its CSV
    export of every matching row; the month's spend and the per-day and per-model charts on
    the dashboard; the operator's top-up instructions (as text) where Stripe is not set up."""
    texts = catalog(lang)
    model = unique_model("user")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[model],
        price={"input": 1000, "output": 1000},  # a call costs cents: the pages show it
    )
    context = chromium.new_context(locale=LOCALES[lang], accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    page = context.new_page()
    sign_up(page, gateway.url)
    page.wait_for_selector("#month-spend:text-is('$0.0000')")
    user_id = page.request.get(f"{gateway.url}/console/api/me").json()["user"]["id"]
    assert admin.http.post("/v1/admin/topup", json={"user_id": user_id, "amount": 3}).is_success
    group = f"half-{lang}-{uuid.uuid4().hex[:6]}"
    settings = {"group_multipliers": {group: 0.5}}
    assert admin.http.patch("/v1/admin/settings", json=settings).is_success
    assert admin.http.patch(f"/v1/admin/users/{user_id}", json={"group": group}).is_success

    # The secret, once, with the shared copy button.
    page.click("#nav-keys")
    page.click("#create-key")
    page.fill("#create-key-form input[name=name]", "copied key")
    page.click("#create-key-form button[type=submit]")
    key = page.text_content("#new-key-secret", timeout=10_000) or ""
    page.click("#copy-key")
    page.wait_for_selector(f"#copy-key:text-is('{texts['keys.copied']}')")
    assert page.evaluate("navigator.clipboard.readText()") == key

    # The catalogue: the model, its endpoints, its prices at half the list price.
    page.click("#nav-catalog")
    assert page.text_content("#nav-catalog") == texts["nav.catalog"]
    row = f"#catalog-table tr[data-model='{model}']"
    page.wait_for_selector(row)
    assert "chat" in (page.text_content(f"{row} td:nth-child(2)") or "")
    assert page.text_content(f"{row} [data-price=input] dt") == texts["price.input"]
    assert page.text_content(f"{row} [data-price=input] dd") == "$500.00"
    assert page.text_content(f"{row} [data-price=cache_write_5m] dd") == "$625.00"
    assert "0.5" in (page.text_content("#catalog-multiplier") or "")
    shoot(page, artifacts, f"catalog-{lang}")

    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=20
    )
    request_id = raw.headers["x-request-id"]

    # The usage log: the call, its cost as billed, and the cache-write column.
    page.click("#nav-usage")
    call = f"#usage-table tr:has-text('{request_id}')"
    deadline = time.monotonic() + 10
    while not page.query_selector(call):
        assert time.monotonic() < deadline, "the call did not show in the usage page"
        page.click(".filters button[type=submit]")
        page.wait_for_timeout(300)
    billed = admin.http.get("/v1/admin/usage", params={"user_id": user_id}).json()["usage"]
    cost = next(r["cost"] for r in billed if r["request_id"] == request_id)
    assert cost > 0
    assert page.text_content(f"{call} td.cost") == f"${cost:.4f}"
    headers = page.locator("#usage-table th").all_text_contents()
    assert texts["usage.cache_write"] in headers
    shoot(page, artifacts, f"usage-{lang}")
    page.fill(".filters input[name=model]", model)
    page.click(".filters button[type=submit]")
    with page.expect_download() as download:
        page.click("#usage-csv")
    exported = Path(download.value.path()).read_text("utf-8")
    header, *lines = exported.strip().splitlines()
    assert "cache_write_tokens" in header.split(",")
    assert len(lines) == 1 and request_id in lines[0]

    # The dashboard: this month's spend, the per-day charts and cost by model.
    page.click("#nav-dashboard")
    spent = "#month-spend:has-text('$'):not(:text-is('$0.0000'))"
    page.wait_for_selector(spent, timeout=10_000)
    assert _dollars(page.text_content("#month-spend")) == pytest.approx(cost, abs=1e-4)
    for title in ("dash.requests_per_day", "dash.tokens_per_day", "dash.cost_per_day"):
        page.wait_for_selector(f"svg.chart[aria-label='{texts[title]}'] rect")
    assert page.locator("svg.chart").count() == 3
    page.wait_for_selector(f"#by-model-chart .rank-label:text-is('{model}')")
    shoot(page, artifacts, f"dashboard-charts-{lang}")

    # Top-up without Stripe: the fixed sentence, or the operator's instructions as text.
    page.click("#nav-topup")
    assert page.text_content("#topup-instructions") == texts["topup.no_stripe"]
    instructions = "Pay by bank transfer to ACME.\n<img src=x onerror=alert(1)>"

    def with_instructions(route: Any) -> None:
        config = route.fetch().json()
        route.fulfill(json={**config, "topup_instructions": instructions})

    page.route("**/console/api/config", with_instructions)
    page.reload()
    page.wait_for_selector("#topup-instructions")
    assert page.text_content("#topup-instructions") == instructions
    assert page.query_selector("#topup-instructions img") is None  # text, not markup
    context.close()


def test_a_user_makes_a_key_with_an_address_list_expiry_rpm_and_permissions(
    chromium: Any, gateway: Gateway, admin: Admin, registration: None, artifacts: Path
) -> None:
    """Every limit of the key form reaches the stored key, shows again in the edit form,
    and holds: a key for other addresses is refused from this one."""
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    sign_up(page, gateway.url)
    user_id = page.request.get(f"{gateway.url}/console/api/me").json()["user"]["id"]

    form = "#create-key-form"
    page.click("#nav-keys")
    page.click("#create-key")
    page.fill(f"{form} input[name=name]", "limited")
    for permission in ("embeddings", "images", "audio", "video"):
        page.uncheck(f"{form} input[name=perm-{permission}]")
    page.fill(f"{form} textarea[name=ip_allowlist]", "not an address")
    page.click(f"{form} button[type=submit]")
    assert "no address or network" in (page.text_content(f"{form} .error", timeout=10_000) or "")
    page.fill(f"{form} textarea[name=ip_allowlist]", "203.0.113.0/24\n2001:db8::1")
    page.fill(f"{form} input[name=expires_at]", "2099-12-31")
    page.fill(f"{form} input[name=rpm]", "12")
    page.fill(f"{form} input[name=max_concurrency]", "3")
    page.click(f"{form} button[type=submit]")
    key = page.text_content("#new-key-secret", timeout=10_000) or ""
    shoot(page, artifacts, "keys-limited")

    (token,) = [
        t
        for t in admin.http.get("/v1/admin/tokens", params={"user_id": user_id}).json()["tokens"]
        if t["name"] == "limited"
    ]
    assert token["permissions"] == ["chat", "rerank"]
    assert token["ip_allowlist"] == ["203.0.113.0/24", "2001:db8::1"]
    assert token["expires_at"] == "2099-12-31T00:00:00Z"
    assert (token["rpm"], token["max_concurrency"], token["tpm"]) == (12, 3, None)
    assert token["models"] is None and token["quota"] is None
    refused = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403, refused.text  # this address is not on its list

    # The edit form shows what is stored; cleared, the list lets any address in.
    page.click("#new-key button:text-is('Done')")
    page.click("#keys-table tr:has-text('limited') button:text-is('Edit')")
    edit = "#edit-key-form"
    assert page.input_value(f"{edit} textarea[name=ip_allowlist]") == (
        "203.0.113.0/24\n2001:db8::1"
    )
    assert page.input_value(f"{edit} input[name=expires_at]") == "2099-12-31"
    assert page.input_value(f"{edit} input[name=rpm]") == "12"
    assert not page.is_checked(f"{edit} input[name=perm-embeddings]")
    assert page.is_checked(f"{edit} input[name=perm-rerank]")
    page.fill(f"{edit} textarea[name=ip_allowlist]", "")
    page.fill(f"{edit} input[name=rpm]", "6")
    page.click(f"{edit} button[type=submit]")
    page.wait_for_selector(edit, state="detached")
    stored = admin.http.get(f"/v1/admin/tokens/{token['id']}").json()
    assert (stored["ip_allowlist"], stored["rpm"]) == (None, 6)
    assert stored["expires_at"] == "2099-12-31T00:00:00Z"
    allowed = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert allowed.status_code == 200, allowed.text
    context.close()


def _requests_of(admin: Admin, email: str) -> int:
    """The requests the operator's totals count for the user ``email``."""
    summary = admin.http.get("/v1/admin/usage/summary").json()
    return sum(row["requests"] for row in summary["by_user"] if row["email"] == email)
