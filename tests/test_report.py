"""The report renders what any corpus produces, not only what the sample does."""

from __future__ import annotations

from prep.pipeline.report import duplicates


def _dedup_stats(histogram: dict[str, int]) -> dict:
    counts = {"docs": 10, "bytes": 100}
    return {
        "stages": [
            {
                "name": "dedup",
                "in": counts,
                "kept": counts,
                "dropped": {"docs": 0, "bytes": 0},
                "rules": {"near_duplicate": {"docs": 40, "bytes": 4000}},
                "domains": {"web": {"dropped": {"docs": 40, "bytes": 4000}}},
                "metrics": {"fit": {"cluster_sizes": histogram}},
            }
        ]
    }


def test_duplicates_section_draws_binned_cluster_sizes_in_size_order():
    """Clusters of 9+ documents are counted in bins ("9-16", ...): a 1M-document run ended with
    `invalid literal for int(): '9-16'` when the report sorted them as integers."""
    html = duplicates(_dedup_stats({"17-32": 1, "2": 30, "9-16": 2, "3": 4, "129-256": 1}))
    assert "<h2>Duplicates</h2>" in html and "<img" in html
    assert "near_duplicate 40" in html
