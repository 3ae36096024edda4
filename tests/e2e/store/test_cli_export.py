"""``wamcp export`` as a user runs it: every format, filters, one-line errors and exit code 2."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from wamcp.cli import app
from wamcp.store import ChatRow, MessageRow, Store, SyncState

pytestmark = pytest.mark.e2e

runner = CliRunner()

ALICE = "447700900123@s.whatsapp.net"
TEAM = "120363000000000000@g.us"
# 2024-03-31 00:30 UTC is 2024-03-31 00:30 GMT; 01:30 UTC is 02:30 BST (London changed clocks at 01:00 UTC).
T0 = 1_711_845_000_000


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "whatsapp.db"
    with Store.open(path) as store:
        store.upsert_chats([ChatRow(ALICE, "Alice", False, None), ChatRow(TEAM, "Team", True, None)])
        alice = [
            MessageRow(ALICE, "a1", T0, "447700900123", "Alice", False, "Hi,\nopen today?", None, None, "server"),
            MessageRow(ALICE, "a2", T0 + 3_600_000, None, None, True, "Yes!", None, None, "server"),
        ]
        store.save_page(ALICE, alice, state=SyncState(ALICE, cursor="done"))
        team = [MessageRow(TEAM, "t1", T0 + 60_000, "447700900999", "Bob", False, "", "image", "a.jpg", "server")]
        store.save_page(TEAM, team, state=SyncState(TEAM))
    return path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["export", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_export_each_tabular_format(db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "exports" / f"all.{fmt}"
    out.parent.mkdir()
    code, output = _run("--db", str(db), "--format", fmt, "--out", str(out))
    assert code == 0, output
    assert f"exported 3 message(s) as {fmt}" in output
    if fmt == "json":
        ids = [m["id"] for m in json.loads(out.read_text(encoding="utf-8"))]
    elif fmt == "jsonl":
        ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    elif fmt == "csv":
        with out.open(encoding="utf-8", newline="") as handle:
            ids = [row["id"] for row in csv.DictReader(handle)]
    else:
        ids = pq.read_table(out).column("id").to_pylist()
    assert ids == ["t1", "a1", "a2"]  # ordered by chat JID, then time


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet"])
def test_out_dash_writes_the_same_bytes_to_standard_output(
    db: Path, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    to_file = tmp_path / f"all.{fmt}"
    assert _run("--db", str(db), "--format", fmt, "--out", str(to_file))[0] == 0
    result = runner.invoke(app, ["export", "--db", str(db), "--format", fmt, "--out", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == to_file.read_bytes()  # the data alone: the summary line is on standard error
    assert "exported 3 message(s) as " + fmt + " to standard output" in result.stderr
    assert not (tmp_path / "-").exists()  # no file named "-" in the working directory


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_out_dev_stdout_writes_the_data_alone_into_the_pipe(db: Path, tmp_path: Path, fmt: str) -> None:
    # /dev/stdout is a link to the process's standard output, here a pipe: it was replaced by a temporary file's
    # rename (as root, /dev/stdout itself), and the summary line went into the data.
    import subprocess
    import sys

    wamcp = str(Path(sys.executable).parent / "wamcp")
    to_file = tmp_path / f"all.{fmt}"
    assert _run("--db", str(db), "--format", fmt, "--out", str(to_file))[0] == 0
    run = subprocess.run(
        [wamcp, "export", "--db", str(db), "--format", fmt, "--out", "/dev/stdout"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == to_file.read_bytes()
    assert b"exported 3 message(s)" in run.stderr
    assert Path("/dev/stdout").is_symlink()


def test_out_dash_is_refused_for_the_txt_export(db: Path) -> None:
    code, output = _run("--db", str(db), "--format", "txt", "--out", "-")
    assert code == 2
    assert "writes one file per chat into a directory" in output


def test_a_reader_that_stops_early_ends_the_export_quietly(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    rows = [
        MessageRow(ALICE, f"m{i}", T0 + i, "447700900123", "Alice", False, "hello " * 20, None, None, "server")
        for i in range(5000)
    ]
    with Store.open(db) as store:
        store.upsert_chats([ChatRow(ALICE, "Alice", False, None)])
        store.save_page(ALICE, rows, state=SyncState(ALICE))
    wamcp = str(Path(sys.executable).parent / "wamcp")
    # Like `wamcp export --out - | head -c 100`: the reader closes the pipe long before 700 kB have been written.
    with subprocess.Popen(
        [wamcp, "export", "--db", str(db), "--format", "jsonl", "--out", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        head = process.stdout.read(100)
        process.stdout.close()
        errors = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert head.startswith(b'{"chat_jid": ')
    assert code == 141
    assert errors == ""  # no traceback, no "Broken pipe" error line


def test_export_txt_in_the_business_timezone(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "chats"
    code, output = _run(
        "--db", str(db), "-f", "txt", "-o", str(out), "--timezone", "Europe/London", "--business-name", "Acme: Shop"
    )
    assert code == 0, output
    assert "2 chat file(s)" in output
    alice = (out / "WhatsApp Chat with Alice.txt").read_text(encoding="utf-8")
    assert alice == "31/03/2024, 00:30 - Alice: Hi,\nopen today?\n31/03/2024, 02:30 - Acme∶ Shop: Yes!\n"
    team = (out / "WhatsApp Chat with Team.txt").read_text(encoding="utf-8")
    assert team == "31/03/2024, 00:31 - Bob: <Media omitted>\n"


@pytest.mark.parametrize("given", ["+44 7700 900123", "447700900123", "447700900123@c.us"])
def test_export_chat_takes_a_phone_number_as_extract_does(db: Path, tmp_path: Path, given: str) -> None:
    out = tmp_path / "one.jsonl"
    code, output = _run("--db", str(db), "-f", "jsonl", "-o", str(out), "--chat", given)
    assert code == 0, output
    assert {json.loads(line)["chat_jid"] for line in out.read_text().splitlines()} == {ALICE}


def test_export_chat_without_country_code_is_a_usage_error(db: Path, tmp_path: Path) -> None:
    code, output = _run("--db", str(db), "-f", "jsonl", "-o", str(tmp_path / "x.jsonl"), "--chat", "07700 900123")
    assert code == 2
    assert "no country code" in output


def test_export_filters_by_chat_and_time(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    code, output = _run(
        "--db", str(db), "-f", "jsonl", "-o", str(out), "--chat", ALICE,
        "--since", "2024-03-31T00:31Z", "--until", "2024-03-31T03:00+01:00",
    )  # fmt: skip
    assert code == 0, output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a2"]
    # A naive --since is read in --timezone: London skipped 01:00-02:00 that day, so 02:00 local is 01:00 UTC.
    code, output = _run("--db", str(db), "-f", "jsonl", "-o", str(out), "--since", "2024-03-31 02:00",
                        "--timezone", "Europe/London")  # fmt: skip
    assert code == 0, output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a2"]
    code, output = _run("--db", str(db), "-f", "jsonl", "-o", str(out), "--since", "2024-03-31", "--timezone", "UTC")
    assert code == 0, output
    assert len(out.read_text().splitlines()) == 3
    # A bare --until date keeps that whole day (as `wamcp report` reads it): every message is on 2024-03-31.
    code, output = _run("--db", str(db), "-f", "jsonl", "-o", str(out), "--until", "2024-03-31", "--timezone", "UTC")
    assert code == 0, output
    assert len(out.read_text().splitlines()) == 3
    code, output = _run("--db", str(db), "-f", "jsonl", "-o", str(out), "--until", "2024-03-30", "--timezone", "UTC")
    assert code == 0, output
    assert out.read_text() == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "is not an ISO-8601 date"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--since", "2024-04-01", "--until", "2024-03-01"], "is not before --until"),
        (["--since", "0001-01-01"], "outside the years 1970-2199"),
        (["--until", "9999-12-31T23:59", "--timezone", "Asia/Tokyo"], "outside the years 1970-2199"),
        (["--chat", "nobody@s.whatsapp.net"], "no chat 'nobody@s.whatsapp.net' in store"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    code, output = _run("--db", str(db), "-o", str(tmp_path / "x.json"), *args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_bad_format_exits_2(db: Path, tmp_path: Path) -> None:
    code, output = _run("--db", str(db), "-o", str(tmp_path / "x"), "--format", "xml")
    assert code == 2
    assert "xml" in output


def test_missing_store_exits_2(tmp_path: Path) -> None:
    code, output = _run("--db", str(tmp_path / "nope.db"), "-o", str(tmp_path / "x.json"))
    assert code == 2
    assert "no store at" in output
    assert "Traceback" not in output


def test_corrupt_store_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00garbage, not a database" * 300)
    code, output = _run("--db", str(bad), "-o", str(tmp_path / "x.json"))
    assert code == 2
    assert "not a usable wamcp store" in output
    assert len(output.strip().splitlines()) == 1


def test_out_must_fit_the_format(db: Path, tmp_path: Path) -> None:
    code, output = _run("--db", str(db), "-o", str(tmp_path), "-f", "csv")
    assert code == 2
    assert "is a directory" in output
    afile = tmp_path / "file"
    afile.write_text("x")
    code, output = _run("--db", str(db), "-o", str(afile), "-f", "txt")
    assert code == 2
    assert "is a file" in output


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_out_in_a_missing_directory_exits_2_and_creates_nothing(db: Path, tmp_path: Path, fmt: str) -> None:
    missing = tmp_path / "missing"
    code, output = _run("--db", str(db), "-f", fmt, "-o", str(missing / "x"))
    assert code == 2
    assert f"directory {missing} does not exist" in output
    assert len(output.strip().splitlines()) == 1
    assert not missing.exists()


# An export that stops after its first message (its partial file written) until a line arrives on its stdin.
_PAUSED_EXPORT = textwrap.dedent(
    """
    import sys
    from wamcp.store import Store
    from wamcp.store.export import export

    db, fmt, out = sys.argv[1:]
    read = Store.iter_account_messages

    def paused(self, **filters):
        rows = read(self, **filters)
        yield next(rows)
        print("writing", flush=True)
        sys.stdin.readline()
        yield from rows

    Store.iter_account_messages = paused
    with Store.open(db, readonly=True) as store:
        export(store, fmt, out)
    """
)


def _start_paused_export(db: Path, fmt: str, out: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_EXPORT, str(db), fmt, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "writing\n"
    return process


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("fmt", ["jsonl", "txt"])
def test_the_next_export_removes_a_killed_exports_partial_file_but_not_a_running_ones(
    db: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / ("chats" if fmt == "txt" else "out.jsonl")
    beside = out if fmt == "txt" else tmp_path

    def partials() -> set[Path]:
        return set(beside.glob(".*.partial"))

    killed = _start_paused_export(db, fmt, out)
    killed.kill()  # SIGKILL, as the OOM killer does: no clean-up runs
    killed.communicate(timeout=60)
    stale = partials()
    assert len(stale) == 1
    running = _start_paused_export(db, fmt, out)
    live = partials() - stale
    assert len(live) == 1
    code, output = _run("--db", str(db), "-f", fmt, "-o", str(out))
    assert code == 0, output
    assert partials() == live
    running.communicate("go on\n", timeout=60)
    assert running.returncode == 0
    assert partials() == set()


def test_help_lists_every_option() -> None:
    result = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--db", "--format", "--out", "--chat", "--account", "--since", "--until", "--timezone"):
        assert option in result.output
    assert "--business-name" in result.output


def test_export_one_account_of_several(db: Path, tmp_path: Path) -> None:
    with Store.open(db) as store:
        sales = store.for_account("sales")
        sales.upsert_chats([ChatRow(ALICE, "Alice at sales", False, None)])
        row = MessageRow(ALICE, "a1", T0, "447700900123", "Alice", False, "to sales", None, None, "server")
        sales.save_page(ALICE, [row], state=SyncState(ALICE))
    out = tmp_path / "sales.jsonl"
    code, output = _run("--db", str(db), "--format", "jsonl", "--out", str(out), "--account", "sales")
    assert code == 0, output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["account"], r["chat_name"], r["content"]) for r in rows] == [("sales", "Alice at sales", "to sales")]
    code, output = _run("--db", str(db), "--format", "jsonl", "--out", str(out), "--account", "default")
    assert code == 0, output
    assert {json.loads(line)["account"] for line in out.read_text(encoding="utf-8").splitlines()} == {"default"}


def test_export_of_an_account_the_store_lacks_exits_2(db: Path, tmp_path: Path) -> None:
    code, output = _run("--db", str(db), "-o", str(tmp_path / "x.json"), "--account", "sale")
    assert code == 2
    assert "no account 'sale' in store" in output
    assert "(accounts: default)" in output
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(("fmt", "name"), [("csv", "whatsapp-export.csv"), ("txt", "whatsapp-export")])
def test_without_out_the_export_goes_beside_the_store_as_extract_export_puts_it(
    db: Path, tmp_path: Path, fmt: str, name: str
) -> None:
    code, output = _run("--db", str(db), "--format", fmt)

    assert code == 0, output
    out = tmp_path / name
    assert str(out) in output
    if fmt == "csv":
        with out.open(encoding="utf-8", newline="") as handle:
            assert [row["id"] for row in csv.DictReader(handle)] == ["t1", "a1", "a2"]
    else:
        files = sorted(path.name for path in out.iterdir())
        assert files == ["WhatsApp Chat with Alice.txt", "WhatsApp Chat with Team.txt"]
