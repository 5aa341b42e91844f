"""Sending intakes so that a live server cannot tell which helper sent which case (protocol doc §10.6).

An intake goes out without the helper's account: on a connection (with Tor, a circuit) of its own
(client/net.py `isolated`), the device first verifies the key directory as a read an anonymous submission token
admits (no account named), then sends the envelope as the case's own principal (`case:<id>`, signed with the
case's reply key, which nobody else holds) paying with that token, then the case's attachments on the same
connection. Nothing in these requests names the helper or comes from her account's connections, and the token
cannot be traced to the issuance that gave it to her. The tokens are fetched signed in, at `tessera sync`
(client/tokens.py), not right before a submission.

A token is bound to its intake (kept with it in the keystore) once it is taken, so a retry spends the same token
and the server recognises the retry. When the wallet is empty the device asks for more, signed in, and says that
this intake then follows a signed-in request (its timing can link it). When no token can be had (the period's
budget is spent, or the server publishes no token key), the intake stays sealed in the outbox unless the helper
allows it to go signed by her account (`--allow-linked`), which the server then links to her.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import aiohttp

from client.api import Api, ApiError, ServerUnreachableError
from client.attachments import flush_uploads
from client.home import Home
from client.i18n import _
from client.net import isolated
from client.outbox import StaleIntakeError, ready_to_send
from client.output import progress
from client.session import Session, UsageError
from client.tokens import take, top_up
from keys.council import EpochRecord
from keys.directory import DirectoryState
from keys.encoding import b64u_encode
from keys.envelope import reply_keys
from keys.errors import DirectoryError, EncodingError, ProofError
from keys.receipts import IntakeReceipt, envelope_digest, verify_receipt
from keys.requests import case_principal
from keys.tokens import Token
from keys.wire import from_wire, to_wire

BOUND = "intake_tokens"  # keystore section: case id -> the token bound to that intake


class NoTokenError(UsageError):
    """No anonymous submission token could be had; the intake stays sealed in the outbox."""


@dataclass(slots=True)
class Sent:
    receipt: IntakeReceipt
    uploads_done: int
    uploads_waiting: int
    linked: bool  # sent signed by the helper's account (--allow-linked)


def bound_token(home: Home, case_id: bytes) -> Token | None:
    wire = home.section(BOUND).get(b64u_encode(case_id))
    return None if wire is None else from_wire(Token, wire)


async def token_for(session: Session, home: Home, case_id: bytes | None = None) -> Token | None:
    """The token of this intake: the one bound to it, else one from the wallet, else one asked for now (signed in:
    said on stderr). Binds it to `case_id` when given. None when none can be had."""
    if case_id is not None and (held := bound_token(home, case_id)) is not None:
        return held
    now = int(time.time())
    token = take(home, now)
    if token is None:
        api = session.api(home)
        try:
            state = await session.directory(home, api)
            await top_up(api, home, state, now=now)
        except ApiError as exc:
            print(f"note: no submission tokens could be had ({exc.message}).", file=sys.stderr)
            return None
        token = take(home, now)
        if token is not None:
            print(
                "note: this device had no submission tokens left and asked for more just now, signed in; the server "
                "could link this intake to you by its timing. `tessera sync` keeps tokens ready.",
                file=sys.stderr,
            )
    if token is not None and case_id is not None:
        bind(home, case_id, token)
    return token


def bind(home: Home, case_id: bytes, token: Token) -> None:
    home.section(BOUND)[b64u_encode(case_id)] = to_wire(token)
    home.save()  # taken from the wallet and bound in one save: a token is never lost nor spent twice


async def anonymous_directory(session: Session, home: Home, http: aiohttp.ClientSession, token: Token) -> DirectoryState:
    """The key directory verified from this device's pin, read on an intake's own connection with its token."""
    return await session.directory(home, Api(session.api(home).base, http, token=token))


async def case_directory(session: Session, home: Home) -> DirectoryState:
    """The verified key directory for a command about a helper's own cases, read without naming her: on a
    connection of its own with a token this device gives up for that read. A token used for a read is never
    spent on an intake, so the read ties to nothing (it costs one of the period's tokens); the case requests
    after it, made as the case, then follow no request of her account. With no token left, read signed in (said
    on stderr). Anyone else's is read signed in."""
    if home.role != "helper":
        return await session.directory(home, session.api(home))
    now = int(time.time())
    token = take(home, now)
    if token is None:
        print(
            "note: no submission token left to read the key directory without your account, so it was read signed in; "
            "the server could tie the cases read next to you by their timing. `tessera sync` fetches tokens.",
            file=sys.stderr,
        )
        return await session.directory(home, session.api(home))
    home.save()  # given up before it is shown: never shown twice
    async with isolated(session.args.proxy) as http:
        return await anonymous_directory(session, home, http, token)


async def case_council(session: Session, home: Home) -> tuple[DirectoryState, EpochRecord]:
    """`case_directory` and its current council (`Session.council_state` for a command about one case)."""
    if home.role != "helper":
        return await session.council_state(home, session.api(home))
    state = await case_directory(session, home)
    if state.council is None:
        raise DirectoryError("the council has not held its key ceremony yet: nothing can be sealed to it")
    return state, state.council


async def send_sealed(
    session: Session,
    home: Home,
    case_id: bytes,
    sealed: bytes,
    *,
    http: aiohttp.ClientSession,
    token: Token | None,
    state: DirectoryState | None = None,
) -> Sent:
    """Send one sealed intake and then its attachments, all on `http`. With `token`: as the case's principal,
    after the directory verified on `http` (`state`, if the caller verified it there already). Without:
    signed by the helper's account (the caller allowed it). The outbox copy goes only on a verified receipt.
    Raises StaleIntakeError, ProofError, ApiError, ServerUnreachableError."""
    base = session.api(home).base
    reply = reply_keys(home.reply_secret, case_id)
    case_api = Api(base, http, keys=reply, principal=case_principal(case_id))
    if token is None:
        sender = session.api(home)
        state = state or await session.directory(home, sender)
    else:
        sender = case_api.with_token(token)
        state = state or await anonymous_directory(session, home, http, token)
    body = ready_to_send(home, case_id, sealed, state)
    try:
        answer = await sender.put_case(case_id, body)
    except ApiError as exc:
        if exc.status == 409:
            raise UsageError(f"the server holds a different intake under case id {b64u_encode(case_id)}") from exc
        raise
    receipt = check_receipt(answer, case_id=case_id, envelope_json=body, state=state)
    home.drop_outbox(case_id)
    home.section(BOUND).pop(b64u_encode(case_id), None)
    home.state.setdefault("cases", []).append(b64u_encode(case_id))
    home.section("receipts")[b64u_encode(case_id)] = {"day": receipt.day}
    home.save()
    done, waiting = await flush_uploads(case_api, home, state.server_key, case_id=case_id)
    return Sent(receipt, done, waiting, linked=token is None)


async def send_one(session: Session, home: Home, case_id: bytes, sealed: bytes, *, allow_linked: bool = False) -> Sent:
    """Send one intake of the outbox on a connection of its own, paying with its token (see the module)."""
    token = await token_for(session, home, case_id)
    if token is None and not allow_linked:
        raise NoTokenError(
            f"intake {b64u_encode(case_id)} stays sealed in your outbox: there is no submission token to send it "
            "without your account. Run `tessera sync` later (tokens come back each week), or send it signed by your "
            "account with `tessera outbox flush --allow-linked` (then the server knows it is yours)"
        )
    async with isolated(session.args.proxy) as http:
        return await send_sealed(session, home, case_id, sealed, http=http, token=token)


def check_receipt(answer: object, *, case_id: bytes, envelope_json: bytes, state: DirectoryState) -> IntakeReceipt:
    """The server's signed receipt in `answer`, checked: for this case id, for the digest of exactly the
    envelope bytes sent, signed by the server key of the verified key directory. Raises ProofError (the
    intake stays in the outbox). Shown by tests/hostile/test_cases.py,
    test_an_intake_is_kept_until_a_valid_receipt_names_it and
    test_a_server_signed_receipt_for_another_case_or_envelope_keeps_the_intake."""
    case = b64u_encode(case_id)
    kept = "the intake stays sealed in your outbox; `tessera outbox flush` sends it again"
    wire = answer.get("signed_receipt") if isinstance(answer, dict) else None
    if wire is None:
        raise ProofError(f"the server answered for case {case} without a signed receipt, so it may not have stored it; {kept}")
    if state.server_key is None:
        raise ProofError(f"the verified key directory names no server key to check the receipt for case {case}; {kept}")
    try:
        receipt = from_wire(IntakeReceipt, wire)
        verify_receipt(receipt, server_key=state.server_key, case_id=case_id, envelope_digest=envelope_digest(envelope_json))
    except (EncodingError, ProofError) as exc:
        raise ProofError(f"the server's receipt does not confirm case {case}: {exc}; {kept}") from exc
    return receipt


__all__ = [
    "Flushed",
    "NoTokenError",
    "Sent",
    "ServerUnreachableError",
    "case_council",
    "case_directory",
    "check_receipt",
    "flush",
    "flush_case_uploads",
    "send_one",
    "send_sealed",
    "token_for",
]


async def flush(session: Session, home: Home, *, allow_linked: bool = False) -> Flushed:
    """Send every outbox intake, each on a connection of its own paying with its token (client/submit.py), and
    its attachments after it. Idempotent: a retry spends the same token and gets the same receipt.

    An item leaves the outbox only after its signed receipt verified; else it stays and ProofError says why
    (exit 3). Each is first checked against the verified directory's current council (client/outbox.py):
    rewrapped on this device when the council changed but kept its key; kept, and StaleIntakeError raised after
    the others were sent, when the council re-keyed since it was sealed. Intakes with no token to pay stay (unless
    `allow_linked`): counted in `Flushed.no_token`."""
    items = list(home.outbox())
    result = Flushed()
    stale = []
    for n, (case_id, sealed) in enumerate(items, start=1):
        try:
            sent = await send_one(session, home, case_id, sealed, allow_linked=allow_linked)
        except StaleIntakeError as exc:
            stale.append(exc)
            continue
        except NoTokenError:
            result.no_token += 1
            continue
        except ServerUnreachableError:
            result.waiting = len(items) - result.sent - len(stale) - result.no_token
            return result
        result.sent += 1
        result.uploaded += sent.uploads_done
        result.uploads_waiting += sent.uploads_waiting
        result.linked += sent.linked
        progress(n, len(items), _("sending"))
    if stale:
        said = [str(e) for e in stale]
        raise StaleIntakeError(
            "\n".join([*said, _("sent {sent}; {kept} kept in the outbox, not sent.", sent=result.sent, kept=len(stale))]),
            tuple(c for e in stale for c in e.case_ids),
        )
    return result


@dataclass(slots=True)
class Flushed:
    sent: int = 0
    waiting: int = 0  # intakes not sent: the server stopped answering
    no_token: int = 0  # intakes kept: no submission token (and linked sending not allowed)
    linked: int = 0  # sent signed by the account (--allow-linked)
    uploaded: int = 0
    uploads_waiting: int = 0


async def flush_case_uploads(session: Session, home: Home) -> tuple[int, int]:
    """Resume the unfinished uploads of cases already sent, each as the case's principal on that case's own
    connections (never the account's: Api.as_principal with the session's Isolation), checked against the
    server key of the directory verified first."""
    if not any(True for _upload in home.pending_uploads()):
        return 0, 0
    state = await case_directory(session, home)
    return await flush_uploads(session.api(home), home, state.server_key)
