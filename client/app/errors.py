"""One place that turns the library's errors into what a page says, as `tessera` does for the terminal
(client/main.py): what went wrong, and whether it is a warning about the server (`security`)."""

from __future__ import annotations

from dataclasses import dataclass

from client.api import ApiError, HostileServerError, ServerUnreachableError
from client.attachments import UploadInterruptedError
from client.forms import FormError
from client.home import HomeError
from client.outbox import StaleIntakeError
from client.report.strings import N_
from client.session import KeyChangedError, RotationInterruptedError, UsageError
from keys.errors import (
    DirectoryError,
    KeystoreDamagedError,
    KeystoreError,
    KeystoreVersionError,
    ProofError,
    QuorumError,
    TesseraError,
    WrongPassphraseError,
)

KNOWN = (
    StaleIntakeError,
    ApiError,
    ServerUnreachableError,
    UploadInterruptedError,
    FormError,
    HomeError,
    UsageError,
    KeyChangedError,
    HostileServerError,
    TesseraError,
)

WRONG_PASSPHRASE = N_("Wrong passphrase. Try again (check the keyboard layout and Caps Lock).")
UNREACHABLE = N_("The server does not answer. Check your connection; intakes wait safely in the outbox.")
REFUSED = N_("The server refused: {detail}")
NOT_ACCEPTED = N_(
    "The server does not accept this account: it was revoked, or this device's clock is more than five minutes off."
)
TOO_MANY = N_("Too many requests; wait a minute and try again.")
SERVER_LIED = N_("The server lied: {detail}. Do not go on with this; tell your council and keep this message.")
DIRECTORY = N_("The key directory does not verify: {detail}. Do not seal or approve anything; tell your council.")
KEY_CHANGED = N_("Someone's keys changed: {detail}")
QUORUM = N_("Not enough approvals yet: {detail}.")
FORGED = N_("Refused what the server sent: {detail}.")
UPLOAD = N_("The upload stopped: {detail}. It resumes where it stopped when you send the outbox again.")
STALE = N_("Kept in your outbox, not sent; tell your council: {detail}")
ROTATION_INTERRUPTED = N_("A replacement of this device's keys did not finish: finish it first, on the page Your keys.")
PROBLEM = N_("{detail}")


@dataclass(frozen=True)
class Explained:
    message: str  # marked for translation, with {detail}
    detail: str  # the library's own sentence (English), shown as it is
    security: bool = False
    status: int = 400
    keys_link: bool = False  # the page links to Your keys (/account/keys), where the person can act


def explain(exc: BaseException) -> Explained:
    """What to show for `exc` (one of KNOWN)."""
    detail = str(exc)
    if isinstance(exc, WrongPassphraseError):
        return Explained(WRONG_PASSPHRASE, "", status=403)
    if isinstance(exc, KeystoreDamagedError | KeystoreVersionError | KeystoreError | HomeError):
        return Explained(PROBLEM, detail, status=500)
    if isinstance(exc, ServerUnreachableError):
        return Explained(UNREACHABLE, detail, status=502)
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return Explained(NOT_ACCEPTED, "", status=502)
        if exc.status == 429:
            return Explained(TOO_MANY, "", status=502)
        return Explained(REFUSED, exc.message, status=502)
    if isinstance(exc, KeyChangedError):
        return Explained(KEY_CHANGED, detail, security=True, status=409)
    if isinstance(exc, StaleIntakeError):
        return Explained(STALE, detail, security=True, status=409)
    if isinstance(exc, HostileServerError):
        return Explained(SERVER_LIED, detail, security=True, status=502)
    if isinstance(exc, DirectoryError):
        return Explained(DIRECTORY, detail, security=True, status=502)
    if isinstance(exc, QuorumError):
        return Explained(QUORUM, detail, status=409)
    if isinstance(exc, ProofError):
        return Explained(FORGED, detail, security=True, status=502)
    if isinstance(exc, UploadInterruptedError):
        return Explained(UPLOAD, detail, status=502)
    if isinstance(exc, RotationInterruptedError):
        return Explained(ROTATION_INTERRUPTED, "", status=409, keys_link=True)
    if isinstance(exc, FormError):
        return Explained(PROBLEM, "; ".join(exc.problems), status=400)
    return Explained(PROBLEM, detail, status=400)
