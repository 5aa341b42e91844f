"""Issue 22, the command line's part: `tessera` speaks Korean, Chinese, Japanese or English, the language from
`--lang` or else the system locale (the app's one function, client/i18n.py); its help, its errors and its
prompts come from the same catalogs as the app. Command and option names, ids and --json stay as they are."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from client.agenda import Agenda
from client.cliparser import wrap_columns
from client.i18n import LOCALE_DIR, N_, _, asked_for, from_environment, language, speaking
from client.main import build_parser, main
from client.output import display_width
from client.plan import CeremonyPlan, PlanMember
from tests.fastcli import command
from tests.support.app import PASSPHRASE, make_home

LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def _locale(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    """The machine's locale is `lang` (as a Korean or Japanese desktop sets it), nothing else asked for."""
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # --help and argparse's refusals
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _flat(text: str) -> str:
    """`text` without its whitespace: help is wrapped to the terminal, so a phrase may span two lines."""
    return "".join(text.split())


def _has(out: str, *phrases: str) -> bool:
    return all(_flat(p) in _flat(out) for p in phrases)


def test_lang_ko_gives_the_command_help_in_korean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = _run(capsys, "--lang", "ko", "--help")
    assert code == 0
    assert out.startswith("사용법: tessera ") and "\n옵션:\n" in out and "이 도움말을 보여 주고 끝냅니다" in out
    assert _has(out, "초대로 가입합니다", "사건 기록", "보내기를 기다리는 봉인된 접수서")  # join, intake, outbox
    assert _has(out, "메시지와 도움말의 언어")  # --lang itself
    # command and option names are not translated
    assert all(word in out for word in ("join", "intake", "outbox", "reveal", "--home", "--passphrase-file", "--lang"))
    code, out, _err = _run(capsys, "--lang", "ko", "intake", "submit", "--help")
    assert code == 0
    assert _has(out, "작성한 양식 파일", "보낼편지함에 봉인만 합니다") and "--offline" in out
    code, out, _err = _run(capsys, "--lang", "ko", "report", "--help")  # the report's words, from the same catalog
    assert code == 0 and _has(out, "사건 파일을 이 기기에서 읽고")


def test_the_default_is_english_and_lang_wins_over_the_system_locale(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _err = _run(capsys, "--help")
    assert code == 0 and out.startswith("usage: tessera ") and _has(out, "join with an invite")  # tests/conftest.py
    _locale(monkeypatch, "ko_KR.UTF-8")
    code, out, _err = _run(capsys, "--help")
    assert code == 0 and _has(out, "초대로 가입합니다") and not _has(out, "join with an invite")
    code, out, _err = _run(capsys, "--lang", "en", "--help")
    assert code == 0 and _has(out, "join with an invite") and not _has(out, "초대로 가입합니다")
    code, out, _err = _run(capsys, "--lang=ja", "intake", "--help")
    assert code == 0 and out.startswith("使い方: ") and _has(out, "記入した書式を確認し")


def test_a_wrong_passphrase_in_japanese_under_a_japanese_locale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_home(tmp_path / "h")
    monkeypatch.setenv("TESSERA_PASSPHRASE", "not the right words at all")
    _locale(monkeypatch, "ja_JP.UTF-8")
    code, _out, err = _run(capsys, "--home", str(tmp_path / "h"), "whoami")
    assert code == 1
    assert err.startswith("tessera: パスフレーズが違います。") and "Caps Lock" in err
    assert "wrong passphrase" not in err


def test_an_unreachable_server_in_chinese_under_a_chinese_locale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_home(tmp_path / "h")  # its server is the discard port: nothing listens there
    monkeypatch.setenv("TESSERA_PASSPHRASE", PASSPHRASE)
    _locale(monkeypatch, "zh_CN.UTF-8")
    code, _out, err = _run(capsys, "--home", str(tmp_path / "h"), "sync")
    assert code == 1
    assert "无法连接服务器" in err and "发件箱" in err and "--proxy" in err
    assert "cannot reach http://127.0.0.1:9" in err  # the library's own words are quoted, not translated
    assert "Check the address" not in err


def test_an_unknown_lang_is_refused_saying_which_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--lang", "fr", "whoami")
    assert code == 2 and not out
    assert "--lang" in err and "'fr'" in err and all(f"'{lang}'" in err for lang in ("en", "ko", "zh_Hans", "ja"))


def test_a_usage_error_and_a_prompt_in_korean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_home(tmp_path / "h")
    monkeypatch.setenv("TESSERA_PASSPHRASE", PASSPHRASE)
    code, _out, err = _run(capsys, "--lang", "ko", "--home", str(tmp_path / "h"), "outbox", "drop", "nothing-here")
    assert code == 2
    assert "터미널이 아니어서 물어볼 수 없습니다" in err and "--yes" in err  # pytest's stdin is not a terminal
    code, _out, err = _run(capsys, "--lang", "ko", "--home", str(tmp_path / "h"), "outbox", "drop", "nothing-here", "--yes")
    assert code == 2 and "보낼편지함에 'nothing-here'(이)라는 것이 없습니다" in err
    code, out, _err = _run(capsys, "--lang", "ko", "--home", str(tmp_path / "h"), "outbox", "list")
    assert code == 0 and out.split()[:4] == ["항목", "종류", "사건", "내용"]


def test_the_language_is_asked_for_before_the_parser_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    _locale(monkeypatch, "ko_KR.UTF-8")
    assert asked_for(["--lang", "ja", "whoami"]) == "ja"
    assert asked_for(["--lang=zh_Hans", "whoami"]) == "zh_Hans"
    assert asked_for(["app", "--lang", "en"]) == "en"  # `tessera app --lang` speaks the app's language too
    assert asked_for(["--lang", "fr", "whoami"]) == "ko"  # unknown: the locale's, and the parser refuses it
    assert asked_for(["messages", "send", "CASE", "--text", "x", "--", "--lang", "ja"]) == "ko"
    assert asked_for(["whoami"]) == from_environment() == "ko"


def test_the_language_is_the_commands_own_and_english_outside_it() -> None:
    assert language() == "en" and _("sent.") == "sent."
    with speaking("ja"):
        assert _("sent.") == "送りました。"
        assert _("the server refused: {message}", message="gone") == "サーバーが拒否しました：gone"
        with speaking("klingon"):
            assert language() == "en"
    assert language() == "en"


def test_the_form_speaks_korean_and_still_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, form, _err = _run(capsys, "--lang", "ko", "intake", "new", "food")
    assert code == 0
    assert "# 따옴표 사이에 값을 채우세요." in form and "본인이 쓰는 이름" in form  # the app's words for the fields
    assert 'full_name = ""' in form and "[identity]" in form and "[case]" in form  # names stay as parsed
    filled = tmp_path / "form.toml"
    filled.write_text(form.replace("people = 0", 'people = "여섯"'), encoding="utf-8")
    code, _out, err = _run(capsys, "--lang", "ko", "intake", "submit", "--kind", "food", "--form", str(filled))
    assert code == 2
    assert "양식에 문제가 있습니다:" in err
    assert "  - people: 0 이상의 정수가 필요합니다" in err  # the app's translation of the same check
    assert "  - full_name: 필수 항목 (본인이 쓰는 이름" in err
    assert "expected" not in err and "required" not in err


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command line with a help of its own: (), ("intake",), ("intake", "submit"), ..."""
    found = [path]
    for action in parser._actions:  # argparse keeps a parser's subcommands only there
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


@pytest.mark.parametrize("lang", ["ko", "ja", "zh_Hans", "en"])
def test_no_line_of_help_is_wider_than_the_terminal(
    lang: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """argparse wraps by characters; a line of Hangul or kanji is two columns a character (client/cliparser.py)."""
    monkeypatch.setenv("COLUMNS", "80")
    with speaking(lang):
        commands = _commands(build_parser())
    assert len(commands) > 40
    for words in commands:
        code, out, _err = _run(capsys, "--lang", lang, *words, "--help")
        assert code == 0, words
        for line in out.splitlines():
            assert display_width(line) <= 80, (words, line)


def test_a_line_breaks_at_spaces_or_between_chinese_and_japanese_characters() -> None:
    assert wrap_columns("send everything in the outbox (safe to repeat)", 20) == [
        "send everything in",
        "the outbox (safe to",
        "repeat)",
    ]
    # Korean words, like English ones, are not cut; `outbox flush` stays one line's worth of columns
    assert wrap_columns("보낼편지함에 봉인만 합니다. 나중에 `outbox flush`로 보내세요", 24) == [
        "보낼편지함에 봉인만",
        "합니다. 나중에 `outbox",
        "flush`로 보내세요",
    ]
    # Japanese breaks between characters, never before 。、） or after （
    lines = wrap_columns("送信箱に封印するだけにします。後で送ってください（繰り返しても安全）", 16)
    assert "".join(lines) == "送信箱に封印するだけにします。後で送ってください（繰り返しても安全）"
    assert all(display_width(line) <= 16 for line in lines)
    assert not any(line[0] in "。、）" or line[-1] == "（" for line in lines)


def test_the_ceremony_plan_a_member_accepts_is_in_their_language_and_names_line_up() -> None:
    members = (
        PlanMember(1, "kim", "12345 67890", verified=True, me=True),
        PlanMember(2, "이순자", "23456 78901", verified=False, me=False),
        PlanMember(3, "lee", "34567 89012", verified=True, me=False),
    )
    plan = CeremonyPlan(kind="dkg", epoch=1, threshold=2, members=members, current=None)
    english = plan.describe()
    assert english[0] == "This is the council's first key ceremony: council epoch 1, 2 of 3 members to reveal."
    with speaking("ja"):
        lines = plan.describe(_)
    assert lines[0] == "これは委員会の最初の鍵の儀式です：委員会 第 1 期、身元開示には委員 3 人中 2 人が必要です。"
    assert lines[1] == "新しい委員会：" and lines[2].endswith("(あなた)") and lines[3].endswith("(直接会って検証していません)")
    assert "`tessera verify NAME`" in lines[-1] and "이순자" in lines[-1]
    # the safety numbers start in the same column, whatever script the names are in
    columns = {display_width(line[: line.index(m.safety_number)]) for line, m in zip(lines[2:5], members, strict=True)}
    assert columns == {28}  # "  " + index + "  " + 20 columns of name + " "
    assert plan.describe() == english  # the app shows and fingerprints the English lines


def test_a_tessera_process_speaks_its_locale_and_the_suite_english(tmp_path: Path) -> None:
    """A real process: its language comes from the environment it was started with (LANG), and the suite's
    processes get LANGUAGE=en (tests/conftest.py) whatever the machine's locale."""
    make_home(tmp_path / "h")
    base = {k: v for k, v in os.environ.items() if k not in LOCALE_VARIABLES and not k.startswith("TESSERA_")}
    base["TESSERA_PASSPHRASE"] = "not the right words at all"
    argv = command("--home", str(tmp_path / "h"), "whoami")
    chinese = subprocess.run(argv, env={**base, "LANG": "zh_CN.UTF-8"}, capture_output=True, text=True, check=False)
    assert chinese.returncode == 1 and chinese.stderr.startswith("tessera: 密码短语错误。"), chinese.stderr
    suite = subprocess.run(
        argv, env={**base, "LANG": "ko_KR.UTF-8", "LANGUAGE": os.environ["LANGUAGE"]}, capture_output=True, text=True, check=False
    )
    assert suite.returncode == 1 and suite.stderr.startswith("tessera: wrong passphrase."), suite.stderr


def test_todo_items_are_shown_in_the_language_and_given_to_scripts_in_english() -> None:
    agenda = Agenda()
    waiting = N_("{intakes} intake(s) and {uploads} attachment upload(s) wait in your outbox")
    agenda.add("outbox", waiting, "tessera outbox flush", intakes=2, uploads=1)
    item = agenda.items[0]
    english = "2 intake(s) and 1 attachment upload(s) wait in your outbox"
    assert item.to_json() == {"kind": "outbox", "text": english, "command": "tessera outbox flush"}
    with speaking("ko"):
        assert item.shown(_) == "보낼편지함에 접수서 2건과 첨부 파일 업로드 1건이 기다립니다"
        assert item.to_json()["text"] == item.text == english


def test_choosing_the_language_loads_no_babel_on_a_start_of_tessera() -> None:
    """Every start of `tessera` chooses a language; Babel (tens of milliseconds to import) is for the app and
    for a catalog never compiled (bench/cli.py measures the start)."""
    if not (LOCALE_DIR / "ja" / "LC_MESSAGES" / "tessera.mo").exists():
        pytest.skip("the catalogs are not compiled (`make test` compiles them); an uncompiled one needs Babel")
    probe = (
        "import sys; from client.i18n import from_environment, translations; from client.main import build_parser; "
        "lang = from_environment(); build_parser(); translations(lang).gettext('sent.'); "
        "print(lang, any(m == 'babel' or m.startswith('babel.') for m in sys.modules))"
    )
    env = {**{k: v for k, v in os.environ.items() if k not in LOCALE_VARIABLES}, "LANG": "ja_JP.UTF-8"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["ja", "False"]


def test_every_module_that_marks_messages_is_extracted() -> None:
    """A module that marks messages (`_(`, `N_(`, `pgettext(`) is in babel.cfg: else `make catalogs` drops its
    translations as obsolete and the user reads English (it happened when code moved into client/attaching.py)."""
    from babel.util import pathmatch

    root = Path(__file__).resolve().parents[2]
    lines = (root / "babel.cfg").read_text().splitlines()
    patterns = [line[len("[python: ") : -1] for line in lines if line.startswith("[python: ")]
    marked = []
    for path in sorted((root / "client").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "from client.i18n import" in text and any(f"{mark}(" in text for mark in (" _", "(_", " N_", "pgettext")):
            marked.append(path.relative_to(root).as_posix())
    assert marked, "found no module that marks messages: the scan is broken"
    missed = [m for m in marked if not any(pathmatch(p, m) for p in patterns)]
    assert not missed, f"not extracted by babel.cfg: {missed}"
