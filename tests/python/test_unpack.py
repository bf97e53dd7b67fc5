"""`lpa unpack-export`: Amplitude Export API zip -> amplitude/<date>/<file>.json.gz."""

from __future__ import annotations

import gzip
import logging
import zipfile
from pathlib import Path

import pytest

from llm_product_analytics.unpack import UnpackError, unpack_export


def _gz(text: str, mtime: int) -> bytes:
    # A fixed mtime and an unusual level: a recompressed copy would not be byte-identical.
    return gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=mtime)


MEMBERS = {
    "434735/434735_2026-07-20_9#0.json.gz": _gz('{"event_type": "a"}\n', 1),
    "434735/434735_2026-07-20_9#1.json.gz": _gz('{"event_type": "b"}\n', 2),
    "434735/434735_2026-07-21_0#0.json.gz": _gz('{"event_type": "c", "x": "ü"}\n', 3),
}


def _zip(path: Path, members: dict[str, bytes], extra_dirs: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in extra_dirs:
            archive.writestr(zipfile.ZipInfo(name), b"")  # trailing '/' = directory entry
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_layout_and_byte_identity(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    zip_path = _zip(
        tmp_path / "export.zip",
        {**MEMBERS, "434735/README.txt": b"not data"},
        extra_dirs=("434735/",),
    )
    out = tmp_path / "raw" / "amplitude"
    with caplog.at_level(logging.WARNING):
        written = unpack_export(zip_path, out)

    expected = sorted(out / name.split("_")[1] / name.split("/")[1] for name in MEMBERS)
    assert written == expected
    assert written == sorted(written)
    assert sorted(p for p in out.rglob("*") if p.is_file()) == expected
    assert {p.parent.name for p in written} == {"2026-07-20", "2026-07-21"}
    for name, data in MEMBERS.items():
        target = out / name.split("_")[1] / name.split("/")[1]
        assert target.read_bytes() == data  # not recompressed
    assert "README.txt" in caplog.text


def test_rerun_is_idempotent(tmp_path: Path) -> None:
    zip_path = _zip(tmp_path / "export.zip", MEMBERS)
    out = tmp_path / "amplitude"
    first = unpack_export(zip_path, out)
    before = {p: p.read_bytes() for p in first}
    second = unpack_export(zip_path, out)
    assert second == first
    assert {p: p.read_bytes() for p in second} == before
    assert sorted(p for p in out.rglob("*") if p.is_file()) == first  # no temp leftovers


@pytest.mark.parametrize(
    "bad_name",
    [
        "../434735_2026-07-20_9#0.json.gz",
        "434735/../../434735_2026-07-20_9#0.json.gz",
        "/tmp/434735_2026-07-20_9#0.json.gz",
        "..\\434735_2026-07-20_9#0.json.gz",
        "C:/434735_2026-07-20_9#0.json.gz",
    ],
)
def test_zip_slip_is_refused(tmp_path: Path, bad_name: str) -> None:
    zip_path = _zip(tmp_path / "evil.zip", {**MEMBERS, bad_name: _gz("{}\n", 4)})
    out = tmp_path / "out" / "amplitude"
    with pytest.raises(UnpackError, match="refusing to unpack"):
        unpack_export(zip_path, out)
    assert not out.exists()  # nothing written, not even the safe members
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip"]


def test_name_without_date_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    zip_path = _zip(tmp_path / "export.zip", {**MEMBERS, "434735/nodate.json.gz": _gz("{}\n", 5)})
    with caplog.at_level(logging.WARNING):
        written = unpack_export(zip_path, tmp_path / "out")
    assert len(written) == len(MEMBERS)
    assert "nodate.json.gz" in caplog.text


def test_two_members_on_one_target_are_refused(tmp_path: Path) -> None:
    zip_path = _zip(
        tmp_path / "export.zip",
        {"a/434735_2026-07-20_9#0.json.gz": _gz("1\n", 1), "b/434735_2026-07-20_9#0.json.gz": b""},
    )
    with pytest.raises(UnpackError, match="would both be written"):
        unpack_export(zip_path, tmp_path / "out")
