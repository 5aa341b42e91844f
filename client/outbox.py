"""What an intake in the outbox must pass before it leaves the device: its case key goes only to members of the
current council of the key directory this device has just verified (never the server's word, never the copy cached
when it was sealed).

An intake sealed offline (or while the directory fetch did not answer) is sealed to the council this device
verified last. Before it is sent, its case key is wrapped again on this device (keys/envelope.py
`rewrap_envelope`; the signed case file, the identity and its header are unchanged):
- same council key (a membership change kept it): to the current council's active members, the epoch moved on;
- an earlier council key (a re-key happened since): to those members of the council it was sealed to who are
  active members of the current one, the epoch kept; a member removed for cause gets nothing. The identity header
  stays sealed to the old key: a server that is still switching the cases to the new key (protocol doc §6)
  accepts it and switches it with the rest, after that it refuses it (the intake stays in the outbox); either way
  the old key still needs k of its members, as every case sealed before the re-key does until switched;
- a council this device cannot verify, or none of its members left on the council: not sent, StaleIntakeError.
The identity cannot be sealed again from the outbox (the form is deleted once sealed, so a seized device holds no
identity in clear); `intake submit` seals again from the form when the council it sealed to turns out old.

Hostile tests: tests/hostile/test_review_outbox.py (a cut directory fetch made a helper seal to a retired council
and send the removed member its case key)."""

from __future__ import annotations

import hmac
import json

from client.home import Home
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_encode
from keys.envelope import IntakeEnvelope, open_case_file, reply_keys, rewrap_envelope, unwrap_case_key
from keys.errors import TesseraError
from keys.wire import decode_json, encode_json


class StaleIntakeError(Exception):
    """Intakes kept in the outbox because the council re-keyed since they were sealed (exit 3: tell the council);
    `case_ids` names them."""

    def __init__(self, message: str, case_ids: tuple[bytes, ...] = ()) -> None:
        super().__init__(message)
        self.case_ids = case_ids


def ready_to_send(home: Home, case_id: bytes, body: bytes, state: DirectoryState) -> bytes:
    """The outbox item `body` as it may be sent under the verified directory `state`: unchanged when its case key
    is wrapped exactly to the readers `readers_for` names; else rewrapped (and kept so in the outbox). Raises
    StaleIntakeError when no verified council member may read it."""
    envelope = decode_json(IntakeEnvelope, body)
    sealed_to, readers = readers_for(envelope, state)
    if sealed_to is None or not readers:
        raise StaleIntakeError(stale_message(home, case_id, envelope), (case_id,))
    if envelope.epoch == sealed_to.epoch and sorted(w.recipient for w in envelope.wraps) == sorted(readers):
        return body
    case_key = unwrap_case_key(reply_keys(home.reply_secret, case_id), case_id, envelope.reply_wrap)
    rewrapped = encode_json(rewrap_envelope(envelope, case_key, sealed_to, readers))
    home.put_outbox(case_id, rewrapped)  # what is sent is what stays until its receipt
    return rewrapped


def readers_for(envelope: IntakeEnvelope, state: DirectoryState) -> tuple[EpochRecord | None, list[bytes]]:
    """(the verified council record the envelope is to be sent under, the box keys its case key may be wrapped to):
    the current record and its active members for the current council key; for an earlier key, the record of the
    epoch it was sealed to and its members who are active members of the current council."""
    current = state.council
    if current is None:
        return None, []
    active = [m.box_key for m in state.active_members(current)]
    if hmac.compare_digest(envelope.kid, current.kid):
        return current, active
    earlier = state.council_at(envelope.epoch)
    if earlier is None or not hmac.compare_digest(earlier.kid, envelope.kid):
        return None, []
    return earlier, [m.box_key for m in earlier.members if m.box_key in active]


def stale_message(home: Home, case_id: bytes, envelope: IntakeEnvelope) -> str:
    """What the helper reads about an intake no verified council member may read: why it was not sent,
    and the case-file part she wrote (opened with her reply key) to fill in the form again."""
    case = b64u_encode(case_id)
    lines = [
        f"intake {case} was not sent: it is sealed to the council key of epoch {envelope.epoch}, and no member of "
        "that council is on the council this device has just verified (or that council is unknown here), so nobody "
        "who may read it could. It stays in your outbox. Its identity part cannot be sealed again from here (this "
        "device keeps no copy of it in clear): fill in the form again with `tessera intake new KIND` (the case part "
        f"you wrote is below), send it, then remove this one with `tessera outbox drop {case}`. Tell your council."
    ]
    try:
        case_key = unwrap_case_key(reply_keys(home.reply_secret, case_id), case_id, envelope.reply_wrap)
        data = json.loads(open_case_file(envelope, case_key).body)
        lines.append(f"  kind = {json.dumps(data.get('kind'), ensure_ascii=False)}")
        lines.append("  [case]")
        lines += [f"  {k} = {json.dumps(v, ensure_ascii=False)}" for k, v in dict(data.get("fields", {})).items()]
    except (TesseraError, ValueError, TypeError, AttributeError) as exc:  # said with the message, which stands
        lines.append(f"  (its case part does not open: {exc})")
    return "\n".join(lines)
