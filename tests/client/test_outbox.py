"""Issue 26 item 5: the outbox can no longer jam. An upload waits in the outbox as sealed chunks, so it resumes
without the original file (the tool tells people to delete originals) and from any directory; `outbox list`
shows what waits and `outbox drop` removes one item after saying what is lost.

Against the old code: a pending upload kept only a relative path to the original, so a flush after deleting the
original, or from another directory, failed with exit 2 on every later flush; there was no `outbox list` or
`outbox drop`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.attachments import PendingUpload
from tests.support.harness import FOOD, Org

RECEIPT = b"pharmacy receipt, 40 USD\n" * 40_000  # about 1 MiB: two chunks


def _offline_intake(org: Org, monkeypatch: pytest.MonkeyPatch, *names: str) -> str:
    """hana seals a food intake with attachments given by relative paths, offline, then deletes the files."""
    work = org.root / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    for name in names:
        (work / name).write_bytes(RECEIPT + name.encode())
    attach = [a for name in names for a in ("--attach", name)]
    form = org.write("food.toml", FOOD)
    out = org.ok("hana", "intake", "submit", "--kind", "food", "--form", str(form), "--offline", "--case-file", *attach)
    assert "originals are no longer needed" in out
    for name in names:
        (work / name).unlink()
    monkeypatch.chdir(org.root)
    return out.strip().splitlines()[-1]


def _items(org: Org) -> list[dict[str, object]]:
    return json.loads(org.ok("hana", "outbox", "list", "--json"))["items"]  # type: ignore[no-any-return]


def test_an_upload_resumes_without_the_original_and_from_another_directory(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _offline_intake(org, monkeypatch, "receipt.txt")
    items = _items(org)
    assert [(i["what"], i["case_id"]) for i in items] == [("intake", case), ("upload", case)]
    assert "1 attachment(s) wait with it" in str(items[0]["details"]) and "sealed copy" in str(items[1]["details"])
    assert "sent 1 intake(s) and 1 attachment(s)" in org.ok("hana", "outbox", "flush")
    assert _items(org) == []
    (row,) = json.loads(org.ok("kim", "cases", "attachments", case, "--json"))["attachments"]
    out = org.root / "back.txt"
    org.ok("kim", "cases", "fetch-attachment", case, str(row["attachment_id"]), "--out", str(out))
    assert out.read_bytes() == RECEIPT + b"receipt.txt"
    assert not list((org.home_path("hana") / "outbox" / "attachments").iterdir())  # the sealed copy is gone too


def test_dropping_an_intake_says_the_case_is_lost_and_takes_its_uploads(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _offline_intake(org, monkeypatch, "a.txt", "b.txt")
    refused = org.run("hana", "outbox", "drop", case)
    assert refused.code == 2 and "--yes" in refused.err and len(_items(org)) == 3
    dropped = org.ok("hana", "outbox", "drop", case, "--yes")
    assert "loses this case for good" in dropped and "2 attachment upload(s) go with it" in dropped
    assert _items(org) == [] and not list((org.home_path("hana") / "outbox" / "attachments").iterdir())
    missing = org.run("hana", "outbox", "drop", case, "--yes")
    assert missing.code == 2 and "outbox list" in missing.err


def test_dropping_one_upload_leaves_the_rest(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _offline_intake(org, monkeypatch, "a.txt", "b.txt")
    upload = next(i for i in _items(org) if i["what"] == "upload")
    dropped = org.ok("hana", "outbox", "drop", str(upload["item"]), "--yes")
    assert "listed as missing" in dropped
    assert "sent 1 intake(s) and 1 attachment(s)" in org.ok("hana", "outbox", "flush")
    shown = org.run("kim", "cases", "attachments", case, "--json")
    assert len(json.loads(shown.out)["attachments"]) == 1 and "missing" in shown.err


def test_an_upload_kept_by_an_earlier_version_names_the_original_it_needs(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _offline_intake(org, monkeypatch, "receipt.txt")
    home = org.home("hana")
    ((attachment_id, data),) = list(home.pending_uploads())
    old = PendingUpload.from_json(data)
    old.spooled, old.path = False, Path("receipt.txt")  # what an earlier version kept
    home.put_pending_upload(attachment_id, old.to_json())
    home.spool_path(attachment_id).unlink()
    stuck = org.run("hana", "outbox", "flush")
    assert stuck.code == 2 and "needs its original file at receipt.txt" in stuck.err and "outbox drop" in stuck.err
    org.ok("hana", "outbox", "drop", str(_items(org)[0]["item"]), "--yes")
    assert "empty" in org.ok("hana", "outbox", "flush")
    assert case
