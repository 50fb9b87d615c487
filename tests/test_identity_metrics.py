"""The accuracy figures `tessera bench identity` reports, and the components they rest on, on worlds small enough to count by hand."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from orchestration.identity.metrics import pairwise_metrics


def test_recall_ceiling_counts_only_pairs_that_evidence_connects() -> None:
    con = duckdb.connect()
    # Person 1: a and b share an email; d is named like a but shares no identifier; c is a card seen
    # nowhere else. Person 2: e alone. The matcher put a and b together and everything else apart.
    con.execute(
        """
        create temp table eval_records as select * from (values
            ('a', 1, 'C1'), ('b', 1, 'C1'), ('c', 1, 'C2'), ('d', 1, 'C3'), ('e', 2, 'C4')
        ) as t(record_key, person_id, customer_id)
        """
    )
    con.execute(
        """
        create temp table eval_occurrences as select * from (values
            ('a', 'email', 'x@example.com'), ('b', 'email', 'x@example.com'),
            ('c', 'loyalty_card', 'LC1'), ('d', 'email', 'z@example.com'), ('e', 'email', 'w@example.com')
        ) as t(record_key, identifier_type, identifier_value)
        """
    )
    con.execute("create temp table eval_named as select * from (values ('a'), ('d')) as t(record_key)")

    metrics = pairwise_metrics(con)

    # 6 true pairs (person 1's four records), 1 predicted and correct.
    assert metrics["precision"] == 1.0
    assert metrics["recall"] == pytest.approx(1 / 6, abs=1e-6)
    # Identifiers reach only a-b: that pair is found.
    assert metrics["recall_reachable"] == 1.0
    # Names add d to a's group: a-b, a-d, b-d are evidence pairs (half of all); c stays out of reach.
    assert metrics["recall_ceiling"] == 0.5
    assert metrics["recall_evidence"] == pytest.approx(1 / 3, abs=1e-6)
    assert metrics["persons_split"] == 1


def test_false_merges_lower_precision_not_the_ceiling() -> None:
    con = duckdb.connect()
    con.execute(
        """
        create temp table eval_records as select * from (values
            ('a', 1, 'C1'), ('b', 1, 'C1'), ('e', 2, 'C1')
        ) as t(record_key, person_id, customer_id)
        """
    )
    con.execute(
        """
        create temp table eval_occurrences as select * from (values
            ('a', 'phone', '+441'), ('b', 'phone', '+441'), ('e', 'phone', '+441')
        ) as t(record_key, identifier_type, identifier_value)
        """
    )
    con.execute("create temp table eval_named as select 'x' as record_key where false")

    metrics = pairwise_metrics(con)

    # A shared household phone: 3 predicted pairs, 1 of them true.
    assert metrics["precision"] == pytest.approx(1 / 3, abs=1e-6)
    assert metrics["recall"] == 1.0
    assert metrics["recall_ceiling"] == 1.0
    assert metrics["customers_merging_persons"] == 1


def test_components_are_labelled_by_their_smallest_node() -> None:
    from orchestration.identity.graph import smallest_node_labels

    # Nodes 1-2-5 and 3-4 joined; 6 alone; node 0 is not linkable (not asked for).
    labels = smallest_node_labels(np.array([1, 2, 3, 4, 5, 6]), np.array([5, 3, 2]), np.array([2, 4, 1]))
    assert labels.tolist() == [1, 1, 3, 3, 1, 6]
    assert smallest_node_labels(np.array([], dtype=np.int64), np.array([]), np.array([])).tolist() == []
