"""Resolving id hashes back to ids: the first lookup indexes the file, later ones use it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.analysis import request_ids
from harness.analysis.loading import hash_ids
from harness.analysis.request_ids import resolve_request_ids


def _write(path: Path, ids: list[str]) -> None:
    path.write_text(
        "".join(f'{{"t_start": {i}, "request_id": "{rid}"}}\n' for i, rid in enumerate(ids))
    )


def test_later_lookups_read_the_index_and_a_changed_file_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"req-{i:06d}" for i in range(50_000)]
    _write(tmp_path / "requests.jsonl", ids)
    request_ids._INDEX.clear()
    monkeypatch.setattr(request_ids, "_BLOCK", 64 << 10)
    hashes = hash_ids(np.array(ids, dtype=object))
    first = {int(hashes[i]): ids[i] for i in (0, 17, 49_999)}
    assert resolve_request_ids(tmp_path, first) == first
    index = request_ids._INDEX[(tmp_path / "requests.jsonl").resolve()]
    assert index.hashes.size == len(ids) and index.block_offset.size > 10
    later = {int(hashes[i]): ids[i] for i in (3, 25_000, 49_998)}
    assert resolve_request_ids(tmp_path, [*later, 12345]) == later
    # A rewritten file (another size) is indexed anew, not read through a stale index.
    _write(tmp_path / "requests.jsonl", ["other-1", *ids[:10]])
    other = int(hash_ids(np.array(["other-1"], dtype=object))[0])
    assert resolve_request_ids(tmp_path, [other, int(hashes[9])]) == {
        other: "other-1",
        int(hashes[9]): ids[9],
    }
