"""Issue 26 item 7: a transfer's progress line shows speed and time left on a terminal (rich), stays silent
elsewhere, and never reads another person's file name as markup or control characters."""

from __future__ import annotations

import io

from client.output import ByteProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_shows_speed_and_time_left_on_a_terminal() -> None:
    screen = Terminal()
    with ByteProgress("uploading [red]x[/] \x1b[2Jphoto.jpg", 4 << 20, file=screen, force=True) as progress:
        for _ in range(4):
            progress.add(1 << 20)
    text = screen.getvalue()
    assert "uploading [red]x[/]" in text and "\x1b[2J" not in text  # shown as written, the escape removed
    assert "4.0/4.0 MiB" in text and "/s" in text  # bytes done and a speed
    assert "0:00:00" in text  # time left


def test_nothing_is_printed_when_not_at_a_terminal() -> None:
    plain = io.StringIO()
    with ByteProgress("uploading photo.jpg", 1 << 20, file=plain) as progress:
        progress.add(1 << 20)
    assert plain.getvalue() == ""
