"""The bot end to end over loopback: Telegram updates in, Bot API calls out, control calls
over gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .conftest import ADMIN, STRANGER, TRADER, VIEWER, Harness


async def test_status_answers_an_allowed_chat(harness: Harness) -> None:
    text = await harness.ask(VIEWER, "/status")
    assert "Tenant acme (paper, tier pro)" in text
    assert "HardStop: clear" in text
    assert "Venue kalshi: up, free $800.00" in text
    assert harness.control.last("Status").token == "tok-viewer"  # the chat's own token
    assert harness.telegram.unknown_methods == []
    record = harness.bot.operator.audit.records[-1]
    assert (record.actor, record.command, record.outcome) == (f"telegram:{VIEWER}", "status",
                                                              "accepted")


async def test_polling_start_calls_what_the_fake_implements(harness: Harness) -> None:
    await harness.telegram.wait_until(lambda: "getUpdates" in harness.telegram.methods())
    methods = harness.telegram.methods()
    assert methods[:2] == ["getMe", "setMyCommands"]
    assert "deleteWebhook" in methods and "getUpdates" in methods
    assert {c["command"] for c in harness.telegram.commands} >= {"status", "kill", "reset"}


async def test_unknown_chat_gets_nothing(harness: Harness) -> None:
    update = await harness.telegram.command(STRANGER, "/status")
    await harness.telegram.wait_consumed(update)
    # updates are handled in order: once a later one is answered, the stranger's was handled
    assert "Tenant acme" in await harness.ask(VIEWER, "/status")
    assert harness.telegram.sent_to(STRANGER) == []
    assert harness.control.methods() == ["Status"]  # the viewer's status only
    ignored = [r for r in harness.bot.operator.audit.records if r.outcome == "ignored"]
    assert [(r.actor, r.command) for r in ignored] == [(f"telegram:{STRANGER}", "status")]


async def test_a_stranger_replaying_a_confirmation_gets_nothing(harness: Harness) -> None:
    await harness.ask(ADMIN, "/kill drill")
    confirm = harness.telegram.sent_to(ADMIN)[-1]
    # the confirming button's data, sent from a chat not on the allow-list
    replayed = harness.telegram.in_chat(confirm, STRANGER)
    update = await harness.telegram.press(STRANGER, replayed, confirm.buttons[0][1])
    await harness.telegram.wait_consumed(update)
    await harness.ask(VIEWER, "/help")
    assert harness.telegram.callback_answers == []
    assert harness.telegram.edits == []
    assert "KillSwitch" not in harness.control.methods()


async def test_a_foreign_confirmation_does_nothing(harness: Harness) -> None:
    await harness.ask(ADMIN, "/kill drill")
    confirm = harness.telegram.sent_to(ADMIN)[-1]
    nonce = confirm.buttons[0][1]
    # another allowed chat with the admin chat's button data
    await harness.telegram.press(TRADER, harness.telegram.in_chat(confirm, TRADER), nonce)
    # another member of the admin chat (a group) than the one who asked
    await harness.telegram.press(ADMIN, confirm, nonce, user_id=4242)
    await harness.telegram.wait_until(lambda: len(harness.telegram.callback_answers) == 2)
    assert {a["text"] for a in harness.telegram.callback_answers} == {
        "Nothing to confirm: nothing done."}
    assert "KillSwitch" not in harness.control.methods()
    # the asker's own confirmation still works
    await harness.telegram.press(ADMIN, confirm, nonce)
    edit = await harness.telegram.wait_for_edit(ADMIN, confirm.message_id)
    assert edit.text.startswith("HardStop latched")


async def test_viewer_is_refused_kill_before_any_call(harness: Harness) -> None:
    text = await harness.ask(VIEWER, "/kill because")
    assert text == "Refused: /kill needs the admin role; this chat is viewer."
    assert harness.telegram.sent_to(VIEWER)[-1].buttons == []
    assert "KillSwitch" not in harness.control.methods()
    assert harness.bot.operator.audit.records[-1].outcome == "refused"


async def test_viewer_is_refused_pause(harness: Harness) -> None:
    assert (await harness.ask(VIEWER, "/pause")).startswith("Refused: /pause needs the trader")
    assert "SetPaused" not in harness.control.methods()


async def test_trader_pauses_and_resumes(harness: Harness) -> None:
    text = await harness.ask(TRADER, "/pause")
    assert text.startswith("Paused tenant acme.")
    assert "Trading: PAUSED" in text
    assert harness.control.paused
    call = harness.control.last("SetPaused")
    assert (call.method, call.token, call.request.reason) == ("SetPaused", "tok-trader",
                                                              f"telegram:{TRADER}")
    text = await harness.ask(TRADER, "/pause fed")
    assert text.startswith("Paused pair fed.") and "pair fed paused" in text
    assert (await harness.ask(TRADER, "/resume")).startswith("Resumed tenant acme.")
    assert not harness.control.paused and harness.control.paused_pairs == {"fed": f"telegram:{TRADER}"}


async def test_positions_and_sagas(harness: Harness) -> None:
    text = await harness.ask(VIEWER, "/positions")
    assert "kalshi FED-25DEC YES: 100 for $40.00" in text
    text = await harness.ask(VIEWER, "/sagas held")
    assert "acme:op-2 HELD pair fed: leg 2 rejected" in text
    assert "op-1" not in text
    assert harness.control.last("Sagas").request.state == "held"


async def test_kill_needs_confirmation_and_cancel_does_nothing(harness: Harness) -> None:
    text = await harness.ask(ADMIN, "/kill venue acting up")
    assert "LATCH THE HARDSTOP" in text and "Reason: venue acting up" in text
    confirmation = harness.telegram.sent_to(ADMIN)[-1]
    assert [label for label, _ in confirmation.buttons] == ["Confirm", "Cancel"]
    assert "KillSwitch" not in harness.control.methods()  # nothing yet

    await harness.telegram.press(ADMIN, confirmation, confirmation.buttons[1][1])
    edit = await harness.telegram.wait_for_edit(ADMIN, confirmation.message_id)
    assert edit.text.startswith("Canceled") and edit.buttons == []
    assert harness.telegram.callback_answers[-1]["text"] == "Canceled."
    assert "KillSwitch" not in harness.control.methods()
    # the canceled nonce is spent: its Confirm does nothing either
    answers = len(harness.telegram.callback_answers)
    await harness.telegram.press(ADMIN, confirmation, confirmation.buttons[0][1])
    await harness.telegram.wait_until(lambda: len(harness.telegram.callback_answers) > answers)
    assert harness.telegram.callback_answers[-1]["text"] == "Nothing to confirm: nothing done."
    assert "KillSwitch" not in harness.control.methods()
    outcomes = [r.outcome for r in harness.bot.operator.audit.records if r.actor.endswith(
        str(ADMIN))]
    assert outcomes == ["requested", "canceled", "refused"]


async def test_kill_confirmed_latches_and_the_alert_reaches_every_chat(
        harness: Harness) -> None:
    await harness.control.wait_subscribed()
    await harness.ask(ADMIN, "/kill drill")
    confirmation = harness.telegram.sent_to(ADMIN)[-1]
    before = {chat: len(harness.telegram.sent_to(chat)) for chat in (ADMIN, TRADER, VIEWER)}
    await harness.telegram.press(ADMIN, confirmation, confirmation.buttons[0][1])
    edit = await harness.telegram.wait_for_edit(ADMIN, confirmation.message_id)
    assert edit.text.startswith("HardStop latched: kill switch: drill")
    assert "Canceled 1 resting orders." in edit.text
    call = harness.control.last("KillSwitch")
    assert (call.method, call.token, call.request.reason) == ("KillSwitch", "tok-admin",
                                                              f"drill (telegram:{ADMIN})")
    for chat in (ADMIN, TRADER, VIEWER):
        alert = await harness.telegram.wait_for_message(chat, before[chat])
        assert alert.text.startswith("🚨 acme: hard_stop_latched (critical)")
    assert harness.bot.operator.audit.records[-1].outcome == "confirmed"


async def test_reset_with_confirmation(harness: Harness) -> None:
    harness.control.hard_stop_reason = "manual"
    assert (await harness.ask(ADMIN, "/reset")).startswith(
        "Usage: /reset [ack=failed_unwind,reconciliation] <reason>")
    await harness.ask(ADMIN, "/reset all clear")
    confirmation = harness.telegram.sent_to(ADMIN)[-1]
    await harness.telegram.press(ADMIN, confirmation, confirmation.buttons[0][1])
    edit = await harness.telegram.wait_for_edit(ADMIN, confirmation.message_id)
    assert edit.text.startswith("HardStop reset.") and "HardStop: clear" in edit.text
    assert harness.control.hard_stop_reason == ""


async def test_stale_confirmation_is_refused(start: Callable[..., Any]) -> None:
    async with start(confirm_ttl_s=0.05) as harness:
        await harness.ask(ADMIN, "/kill drill")
        confirmation = harness.telegram.sent_to(ADMIN)[-1]
        # Telegram delivers the press after the deadline: the bot's own clock decides.
        harness.bot.operator.clock = lambda: float("inf")
        await harness.telegram.press(ADMIN, confirmation, confirmation.buttons[0][1])
        edit = await harness.telegram.wait_for_edit(ADMIN, confirmation.message_id)
        assert edit.text.startswith("Expired: /kill was not confirmed in time")
        assert "KillSwitch" not in harness.control.methods()
        assert harness.bot.operator.audit.records[-1].outcome == "expired"


async def test_rate_limit_warns_once_then_ignores(start: Callable[..., Any]) -> None:
    async with start(rate_limit={"commands": 2, "per_s": 3600}) as harness:
        assert "Tenant acme" in await harness.ask(VIEWER, "/status")
        assert "Tenant acme" in await harness.ask(VIEWER, "/status")
        assert (await harness.ask(VIEWER, "/status")).startswith("Slow down: at most 2")
        silenced = await harness.telegram.command(VIEWER, "/status")
        await harness.telegram.wait_consumed(silenced)
        # another chat has its own bucket; its answer shows the silenced update was handled
        assert "Tenant acme" in await harness.ask(TRADER, "/status")
        assert len(harness.telegram.sent_to(VIEWER)) == 3
        assert harness.control.methods().count("Status") == 3
        limited = [r for r in harness.bot.operator.audit.records if r.outcome == "rate_limited"]
        assert len(limited) == 2


async def test_alerts_go_to_every_allowed_chat(harness: Harness) -> None:
    await harness.control.wait_subscribed()
    assert harness.control.last("Events").token == "tok-admin"
    harness.control.alert("saga_held", "acme:op-2 held: leg 2 rejected", saga_id="acme:op-2")
    harness.control.alert("low_balance", "kalshi spendable $9.00 under $10.00",
                          severity="warning", venue="kalshi")
    for chat in (ADMIN, TRADER, VIEWER):
        held = await harness.telegram.wait_for_message(chat, 0)
        low = await harness.telegram.wait_for_message(chat, 1)
        assert held.text == ("🚨 acme: saga_held (critical) saga acme:op-2\n"
                             "acme:op-2 held: leg 2 rejected")
        assert low.text.startswith("⚠️ acme: low_balance (warning) venue kalshi")
    assert harness.telegram.sent_to(STRANGER) == []
    assert harness.bot.events_received["acme"] == 2


async def test_alert_stream_reconnects_after_a_control_restart(harness: Harness) -> None:
    await harness.control.wait_subscribed(1)
    await harness.server.restart()
    await harness.control.wait_subscribed(2)
    harness.control.alert("venue_down", "polymarket unreachable", venue="polymarket")
    alert = await harness.telegram.wait_for_message(VIEWER, 0)
    assert alert.text.startswith("🚨 acme: venue_down (critical) venue polymarket")


async def test_control_errors_are_answered_and_audited(harness: Harness) -> None:
    await harness.server.stop()
    text = await harness.ask(VIEWER, "/status")
    assert text.startswith("Failed: /status: UNAVAILABLE")
    assert harness.bot.operator.audit.records[-1].outcome == "failed"


async def test_unknown_command_and_help(harness: Harness) -> None:
    assert (await harness.ask(VIEWER, "/frobnicate")).startswith("Unknown command /frobnicate")
    viewer_help = await harness.ask(VIEWER, "/start")
    assert "/status" in viewer_help and "/kill" not in viewer_help
    assert "/kill <reason>" in await harness.ask(ADMIN, "/help")
