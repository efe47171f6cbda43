"""Reading calls and commands: literals only, never evaluated."""

from __future__ import annotations

import datetime as dt

import pytest

from diracsh.shell.parser import (
    Call,
    Command,
    ParseError,
    has_secret,
    is_complete,
    literal_args,
    parse_line,
    redact,
    split_statements,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ping()", Call("ping", ())),
        (
            'echo({"a": [1, 2.5], "when": datetime(2024, 1, 2, 3, 4, 5)})',
            Call("echo", ({"a": [1, 2.5], "when": dt.datetime(2024, 1, 2, 3, 4, 5)},)),
        ),
        ("getJobStatus([12, 13])", Call("getJobStatus", ([12, 13],))),
        ("notif.ping()", Call("ping", (), "notif")),
        ("Demo/Files.listFiles()", Call("listFiles", (), "Demo/Files")),
        (
            "echo(b'\\x00\\xff', date(2024, 2, 29), (1, 2), None)",
            Call("echo", (b"\x00\xff", dt.date(2024, 2, 29), (1, 2), None)),
        ),
        ("echo(true, null)", Call("echo", (True, None))),
        ("  ", None),
        ("# a comment", None),
        (
            ".connect https://h:8443/A/B as b",
            Command("connect", ["https://h:8443/A/B", "as", "b"]),
        ),
        ("help", Command("help", [])),
        ("exit", Command("exit", [])),
    ],
    ids=[
        "no-args",
        "nested-datetime",
        "list",
        "alias",
        "alias-with-slash",
        "bytes-date-tuple",
        "json-words",
        "blank",
        "comment",
        "command",
        "bare-help",
        "bare-exit",
    ],
)
def test_parse_line(line: str, expected: object) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("getJobStatus(jobIDs=12)", "positional only"),
        ("echo(__import__('os').system('true'))", "cannot be used in arguments"),
        ("echo(open('/etc/passwd'))", "cannot be used in arguments"),
        ("echo(x)", "is not a literal value"),
        ("echo(1 +)", "cannot read the arguments"),
        ("echo(datetime(2024, 13, 1))", "not a valid datetime"),
        ("echo(*[1])", "*args is not possible"),
        ("just words", "not a call"),
    ],
    ids=["keyword", "import", "open", "name", "syntax", "bad-date", "star", "words"],
)
def test_parse_refusals_name_the_problem(line: str, fragment: str) -> None:
    with pytest.raises(ParseError) as refused:
        parse_line(line)
    assert fragment in str(refused.value)


def test_open_brackets_wait_for_more_lines() -> None:
    assert not is_complete('echo({"a": 1,')
    assert is_complete("echo('(')")  # a bracket inside a string does not count
    assert is_complete('echo({"a": 1,\n "b": 2})')


def test_pasted_block_splits_into_statements() -> None:
    block = 'ping()\necho({"a": 1,\n      "b": 2})\n.services\n'
    assert split_statements(block) == [
        "ping()",
        'echo({"a": 1,\n      "b": 2})',
        ".services",
    ]


def test_command_words_become_literals_where_they_read_as_one() -> None:
    assert literal_args(["12", "std.out", "[1, 2]", "name"]) == [
        12,
        "std.out",
        [1, 2],
        "name",
    ]


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ('{"a":', "'{' was never closed"),
        ("x=1", "invalid syntax"),
        ('__import__("os")', "__import__(...) cannot be used in arguments"),
        ("datetime(2024, 13, 1)", "month must be in 1..12"),
    ],
    ids=["open-dict", "assignment", "call", "bad-date"],
)
def test_a_broken_literal_is_an_error_not_a_string(word: str, reason: str) -> None:
    with pytest.raises(ParseError) as refused:
        literal_args(["12", word])
    assert str(refused.value).startswith(f"argument {word!r} is not a valid literal (")
    assert reason in str(refused.value)


def test_secrets_are_found_and_redacted() -> None:
    line = ".connect https://h/A/B as t --token SUPERSECRET123 --timeout abc"
    assert has_secret(line)
    assert redact(line) == ".connect https://h/A/B as t --token *** --timeout abc"
    jwt = 'echo("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")'
    assert redact(jwt) == 'echo("***")'
    assert not has_secret("getJobStatus(12)")


@pytest.mark.parametrize(
    "line",
    ["echo(1" + "+1" * 300_000 + ")", "echo(" + "-" * 200_000 + "1)"],
    ids=["long-sum", "deep-unary"],
)
def test_input_too_deep_for_python_is_refused_not_raised(line: str) -> None:
    assert is_complete(line)  # Enter must not raise: that would end the prompt
    with pytest.raises(ParseError) as refused:
        parse_line(line)
    assert str(refused.value) == (
        "cannot read the arguments: too deeply nested; pass a plain literal"
    )
