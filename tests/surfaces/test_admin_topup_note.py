"""A top-up's note (``description``) is the ledger entry's text, kept as given (markup
included: the console shows it as text); one longer than 500 characters is a 400 that
credits nothing."""

from __future__ import annotations

import uuid

from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok, table_dump


def test_the_note_is_the_ledger_entry_and_is_bounded(gateway: Gateway, admin: Admin) -> None:
    user = admin.create_user(balance=0)
    note = f"wire <b>#{uuid.uuid4().hex[:8]}</b> 银行转账"
    paid = ok(
        admin.http.post(
            "/v1/admin/topup", json={"user_id": user["id"], "amount": 3, "description": note}
        )
    )
    assert paid["new_balance"] == 3
    assert note in table_dump(gateway.settings.database_url, "transactions")

    for body in (
        {"description": "x" * 501},
        {"description": 7},
        {"payment_method": "y" * 101},
    ):
        expect_error(
            admin.http.post("/v1/admin/topup", json={"user_id": user["id"], "amount": 1, **body}),
            400,
        )
    assert ok(admin.http.get(f"/v1/admin/users/{user['id']}"))["balance"] == 3
    longest = ok(
        admin.http.post(
            "/v1/admin/topup",
            json={"user_id": user["id"], "amount": 1, "description": "n" * 500},
        )
    )
    assert longest["new_balance"] == 4
