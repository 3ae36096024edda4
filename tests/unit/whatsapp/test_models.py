"""The records (Message, Chat): the hand-written constructor behaves as the generated one would; dicts round-trip."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from wamcp.whatsapp.models import Chat, Message

WHEN = datetime(2025, 3, 28, 12, 53, 20, tzinfo=UTC)


def test_constructor_signature_is_the_fields_in_order_with_their_defaults() -> None:
    params = list(inspect.signature(Message).parameters.values())
    fields = dataclasses.fields(Message)
    assert [p.name for p in params] == [f.name for f in fields]
    for param, field in zip(params, fields, strict=True):
        expected = inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        assert param.default == expected, field.name


def test_every_field_is_set_and_the_record_stays_frozen() -> None:
    values: dict[str, Any] = {
        "id": "A1",
        "chat_jid": "1@s.whatsapp.net",
        "timestamp": WHEN,
        "sender": "Maria",
        "content": "hi",
        "is_from_me": False,
        "media_type": "image",
        "chat_name": "Maria",
        "sender_jid": "2@s.whatsapp.net",
        "id_source": "derived",
        "server_time": "2025-03-28 12:53:20",
    }
    message = Message(**values)
    assert dataclasses.asdict(message) == values
    assert Message(*values.values()) == message
    assert hash(Message(**values)) == hash(message)
    assert pickle.loads(pickle.dumps(message)) == message
    assert dataclasses.replace(message, content="bye").content == "bye"
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.content = "changed"  # type: ignore[misc]


def test_defaults_apply() -> None:
    message = Message(id="A1", chat_jid=None, timestamp=WHEN, sender="Me", content="", is_from_me=True)
    assert (message.media_type, message.chat_name, message.sender_jid, message.id_source, message.server_time) == (
        None,
        None,
        None,
        "server",
        None,
    )


def test_to_dict_and_from_dict_round_trip_chats_and_messages() -> None:
    berlin = timezone(timedelta(hours=2))
    message = Message(
        "m1", "447700900123@s.whatsapp.net", datetime(2025, 3, 28, 12, 53, 20, tzinfo=UTC), "Ana", "hi", False,
        "image", "Ana", "447700900123@s.whatsapp.net", "derived",
    )  # fmt: skip
    chat = Chat("120363000000000001@g.us", "Team", datetime(2025, 3, 28, 14, 0, tzinfo=berlin), "hi", "Ana", False)

    assert Message.from_dict(message.to_dict()) == message
    again = Chat.from_dict(chat.to_dict())
    assert again == chat
    assert again.is_group
    assert again.last_message_time is not None
    assert again.last_message_time.tzinfo == UTC  # the same instant, in UTC
    assert Chat.from_dict({"jid": "1@s.whatsapp.net", "name": None}) == Chat("1@s.whatsapp.net", None)
    with pytest.raises(ValueError, match="has no UTC offset"):
        Message.from_dict({**message.to_dict(), "timestamp": "2025-03-28T12:53:20"})
