import os
import stat

import pytest

from sparselab._io import atomic_write


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "result.json"
    with atomic_write(target, "w") as fh:
        fh.write("first")
    with atomic_write(target, "w") as fh:
        fh.write("second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "ckpt.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target, "wb") as fh:
            fh.write(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.bin"]


def test_atomic_write_rejects_other_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_reading_the_umask_leaves_it_unchanged():
    from sparselab._io import _umask

    previous = os.umask(0o027)
    try:
        assert _umask() == 0o027
        assert os.umask(0o027) == 0o027  # still the value set before the read
    finally:
        os.umask(previous)
