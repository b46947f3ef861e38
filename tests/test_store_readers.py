"""One reader of install records, one rule for a package with two records (a crash
between an upgrade's commit and its cleanup): the newest install wins, for the store's
queries and for the planner's view alike."""

from __future__ import annotations

import json
from pathlib import Path

from mason.commands.query import installed_state
from mason.layout import RECORDS_DIR
from mason.store import Prefix
from upgradesupport import merge


def test_the_newest_install_wins_whatever_the_file_names(tmp_path: Path) -> None:
    root = tmp_path / "p"
    merge(root, "pkga", "10", {"bin/a": "10"})
    records = root / RECORDS_DIR
    older = json.loads((records / "pkga-10").read_bytes())
    older["package_version"] = "9"
    older["timings"] = {**older["timings"], "installed_at": 1.0}
    older["install_date"] = "2001-01-01T00:00:00+00:00"
    (records / "pkga-9").write_text(json.dumps(older))  # sorts after pkga-10
    prefix = Prefix(root)
    try:
        record = prefix.record("pkga")
        assert record is not None
        assert record.version == "10"
        assert prefix.records()["pkga"].version == "10"
    finally:
        prefix.close()
    assert installed_state(root)["pkga"].version == "10"
