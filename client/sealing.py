"""Sealing a filled-in intake on this device and keeping it in the encrypted outbox, with its attachments'
upload records: what `tessera intake submit` and the app's form do before they send.

Nothing is sent here: the outbox copy leaves only after the server's signed receipt (client/submit.py)."""

from __future__ import annotations

import json
from typing import Any

from client.attaching import prepare_all
from client.forms import Form, attachment_default
from client.home import Home
from client.i18n import _
from client.session import UsageError
from keys.attachments import new_attachment_id
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_decode, b64u_encode, canonical_json
from keys.envelope import IntakeEnvelope, new_case_id, open_case_file, reply_keys, seal_intake, unwrap_case_key
from keys.wire import decode_json, encode_json, from_wire


def seal_form(
    home: Home,
    form: Form,
    record: EpochRecord,
    plans: list[Any],
    *,
    attach_as: str | None = None,
    state: DirectoryState | None = None,
) -> bytes:
    """Seal `form` to the verified council `record` (from the verified directory, or the copy this device
    verified when last online), keep it in the outbox, and keep an upload record for each of `plans`
    (client/strip.py plans, sealed with the identity or the case file: `attach_as`, else the kind's default).
    With the verified directory (`state`), the case key goes to the record's active members only; without it the
    record is all this device knows (client/outbox.py wraps the key again before it is sent). Returns the new
    case id."""
    pin = home.state["pin"]
    case_id = new_case_id()
    attachment_ids = [new_attachment_id() for _ in plans]  # chosen first: the case file lists them
    envelope = seal_intake(
        case_id=case_id,
        case_file=canonical_json({"kind": form.kind, "schema": 1, "fields": dict(form.case)}),
        identity=canonical_json(dict(form.identity)),
        record=record,
        author=home.account,
        author_keys=home.keys,
        reply_secret=home.reply_secret,
        head_seq=int(pin["seq"]),
        head_hash=b64u_decode(pin["head"], length=32),
        attachment_ids=attachment_ids,
        readers=None if state is None else [m.box_key for m in state.active_members(record)],
    )
    home.put_outbox(case_id, encode_json(envelope))
    if plans:
        # sealed on this device a moment ago, never from the server: the plain opener is enough here
        case_key = unwrap_case_key(reply_keys(home.reply_secret, case_id), case_id, envelope.reply_wrap)
        signed = open_case_file(envelope, case_key)
        kind = attach_as or attachment_default(form.kind)
        prepare_all(home, case_id, case_key, signed.attachment_key, plans, kind, attachment_ids)
    return case_id


def outbox_summary(home: Home) -> list[dict[str, Any]]:
    """What waits in the outbox, read on this device: each sealed intake's case id and kind (opened with the
    helper's own reply key; the envelope never came from the server)."""
    out = []
    for case_id, body in home.outbox():
        envelope = decode_json(IntakeEnvelope, body)
        case_key = unwrap_case_key(reply_keys(home.reply_secret, case_id), case_id, envelope.reply_wrap)
        form = open_case_file(envelope, case_key)
        data = json.loads(form.body)
        out.append({"case_id": b64u_encode(case_id), "kind": data.get("kind"), "fields": data.get("fields", {})})
    return out


def cached_council(home: Home) -> EpochRecord:
    """The council record this device verified from its pinned head the last time it was online."""
    cached = home.state.get("council")
    if cached is None:
        raise UsageError(_("no verified council key on this device yet: connect to the server once before sealing offline"))
    return from_wire(EpochRecord, cached)
